#include "snnconv/converter/nir_export.hpp"

#include <fmt/format.h>

#include <map>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/op.hpp"

namespace snnconv::nir_export {

namespace {

// Why an op has no NIR equivalent; empty when NIR has one (Affine, Conv2d, Flatten, SumPool2d, Scale), when
// it is written as a composition of NIR nodes (the ST-BIF neuron), or when it is bookkeeping that the NIR
// graph's edges replace (Identity, Reshape to the same data).
std::string why_not(const Node& n) {
  switch (n.kind) {
    case OpKind::SynapseLinear:
    case OpKind::Linear:
    case OpKind::Gemm:
    case OpKind::SynapseConv:
    case OpKind::Conv:
    case OpKind::Flatten:
    case OpKind::Reshape:
    case OpKind::Identity: return "";
    case OpKind::SpikeNeuron: {
      // Written as Integrator/Threshold/Scale nodes (nir_stbif.cpp): one threshold per level boundary needs
      // a level that never falls as the input grows.
      const Activation a = std::get<NeuronAttrs>(n.attrs).target;
      if (a == Activation::none || a == Activation::relu) return "";
      return "ST-BIF neuron with a folded " + std::string(activation_name(a)) +
             ": its level is not monotone in the input, so no threshold per level boundary writes it";
    }
    case OpKind::DiffUnit: return "differential unit (LayerNorm, softmax, RMSNorm or rotary on accumulated inputs)";
    case OpKind::SpikeMatMul: return "product of two spiking operands";
    case OpKind::LayerNorm: return "LayerNorm";
    case OpKind::Softmax: return "softmax";
    case OpKind::Mul:
    case OpKind::MatMul: return "product of two activations";
    case OpKind::Add: return "sum of two activations (NIR sums edges into one node; no standalone add node here)";
    default: return "no NIR primitive";
  }
}

}  // namespace

std::vector<Inexpressible> inexpressible_nodes(const Graph& g) {
  std::vector<Inexpressible> out;
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    std::string why = why_not(n);
    if (!why.empty()) out.push_back({n.name, std::string(op_name(n.kind)), std::move(why)});
  }
  return out;
}

void refuse(const std::vector<Inexpressible>& nodes, const std::string& file) {
  // Grouped by op and reason, in order of first appearance: a root cause stays beside the nodes it took along.
  std::vector<std::pair<std::string, std::string>> keys;
  std::map<std::pair<std::string, std::string>, std::size_t> count;
  for (const Inexpressible& n : nodes)
    if (count[{n.op, n.why}]++ == 0) keys.emplace_back(n.op, n.why);
  std::string text = fmt::format("{} nodes have no NIR equivalent:", nodes.size());
  for (const auto& k : keys) text += fmt::format("\n  {} x {}: {}", count[k], k.first, k.second);
  text += "\n  nodes:";
  for (std::size_t i = 0; i < nodes.size() && i < 40; ++i) text += (i ? ", " : " ") + nodes[i].node;
  if (nodes.size() > 40) text += fmt::format(", ... ({} more)", nodes.size() - 40);
  throw UnsupportedError(text, ErrorContext{file, {}, {}, {}});
}

}  // namespace snnconv::nir_export
