#include "snnconv/core/nir_graph.hpp"

#include <array>

namespace snnconv::nir {

namespace {
constexpr std::array<std::string_view, static_cast<std::size_t>(NodeType::Count)> kNames = {
    "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d",
    "IF", "LIF", "CubaLIF", "LI", "Integrator", "Threshold"};
}  // namespace

std::string_view node_type_name(NodeType t) { return kNames[static_cast<std::size_t>(t)]; }

std::optional<NodeType> parse_node_type(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<NodeType>(i);
  return std::nullopt;
}

bool is_spiking(NodeType t) {
  return t == NodeType::IF || t == NodeType::LIF || t == NodeType::CubaLIF || t == NodeType::Threshold;
}
bool is_neuron(NodeType t) { return is_spiking(t) || t == NodeType::LI || t == NodeType::Integrator; }
bool is_synaptic(NodeType t) {
  return t == NodeType::Affine || t == NodeType::Linear || t == NodeType::Conv1d || t == NodeType::Conv2d;
}

const Param* Node::find(std::string_view param) const {
  for (const Param& p : params)
    if (p.name == param) return &p;
  return nullptr;
}

const Param& Node::require(std::string_view param) const {
  if (const Param* p = find(param)) return *p;
  throw GraphError("NIR node '" + name + "' (" + std::string(node_type_name(type)) + ") has no parameter '" +
                       std::string(param) + "'",
                   ErrorContext{{}, name, std::string(node_type_name(type)), std::string(param)});
}

const Node* Graph::find(std::string_view name) const {
  for (const Node& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

std::int64_t parameter_count(const Graph& g) {
  std::int64_t count = 0;
  for (const Node& n : g.nodes)
    for (const Param& p : n.params)
      if (p.type != ParamType::i64) count += p.numel();
  return count;
}

}  // namespace snnconv::nir
