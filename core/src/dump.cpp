#include "snnconv/core/dump.hpp"

#include <fmt/format.h>

namespace snnconv {

namespace {
std::string value_ref(const Graph& g, ValueId v) {
  if (!v.valid()) return "_";
  return "%" + g.value(v).name;
}

std::string quant_text(const QuantParams& q) {
  std::string s = fmt::format(" q[{}b {}..{}", q.bits, q.n_min, q.n_max);
  if (q.per_tensor()) s += fmt::format(" s={:.6g}", q.scale.empty() ? 0.0f : q.scale[0]);
  else s += fmt::format(" axis={} scales={}", q.axis, q.scale.size());
  if (q.group_size > 0) s += fmt::format(" group={}", q.group_size);
  return s + "]";
}

std::string small_constant(const Tensor& t) {
  if (t.numel() > 8) return {};
  std::string s = " = {";
  const auto v = t.to_f32();
  for (std::size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{:g}", i ? "," : "", v[i]);
  return s + "}";
}
}  // namespace

std::string node_to_text(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  std::string s;
  for (std::size_t i = 0; i < n.outputs.size(); ++i) s += (i ? ", " : "") + value_ref(g, n.outputs[i]);
  s += " = " + std::string(op_name(n.kind));
  const std::string a = attrs_to_string(n.attrs);
  if (!a.empty()) s += "<" + a + ">";
  s += "(";
  for (std::size_t i = 0; i < n.inputs.size(); ++i) s += (i ? ", " : "") + value_ref(g, n.inputs[i]);
  s += ") :";
  for (ValueId o : n.outputs)
    if (o.valid()) {
      s += " " + type_to_string(g.value(o).type);
      if (g.value(o).quant) s += quant_text(*g.value(o).quant);
    }
  if (!n.name.empty()) s += "  # " + n.name;
  return s;
}

std::string to_text(const Graph& g, const DumpOptions& options) {
  std::string s = fmt::format("graph \"{}\" stage={} opset={}\n", g.name, stage_name(g.stage), g.opset);
  for (ValueId v : g.inputs()) s += "input " + value_ref(g, v) + " : " + type_to_string(g.value(v).type) + "\n";
  for (std::size_t i = 0; i < g.num_values(); ++i) {
    const Value& v = g.value(ValueId(static_cast<std::uint32_t>(i)));
    if (!v.constant) continue;
    s += "const %" + v.name + " : " + type_to_string(v.type);
    if (v.quant) s += quant_text(*v.quant);
    if (options.show_constants) s += small_constant(*v.constant);
    s += "\n";
  }
  for (NodeId id : g.topological_order()) s += node_to_text(g, id) + "\n";
  for (ValueId v : g.outputs()) s += "output " + value_ref(g, v) + " : " + type_to_string(g.value(v).type) + "\n";
  return s;
}

}  // namespace snnconv
