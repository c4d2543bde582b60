#include "snnconv/core/verifier.hpp"

#include <algorithm>
#include <cmath>
#include <variant>
#include <vector>

namespace snnconv {

namespace {
[[noreturn]] void fail(const Graph& g, NodeId id, const std::string& msg) { throw GraphError(msg, g.context(id)); }

bool is_quantized_value(const Graph& g, ValueId v) {
  if (!v.valid()) return true;
  const Value& val = g.value(v);
  if (val.quant) return true;
  // Integer tensors (token ids, indices) need no quantization point.
  return !is_float(val.type.dtype);
}

// Values that depend on a quantized value (a quantization point's output or a quantized input): the region
// the QANN's integer semantics cover. Outside it lies the real-valued input prologue (patch or token
// embeddings), where a weight-bearing op may run in float. Fixed point over the nodes (no order needed).
std::vector<bool> quantized_region(const Graph& g) {
  std::vector<bool> r(g.num_values(), false);
  for (std::size_t i = 0; i < g.num_values(); ++i) {
    const Value& v = g.value(ValueId(static_cast<std::uint32_t>(i)));
    r[i] = v.quant.has_value() && !v.constant;
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (const Node& n : g.nodes()) {
      bool any = false;
      for (ValueId in : n.inputs) any = any || (in.valid() && in.index < r.size() && r[in.index]);
      if (!any) continue;
      for (ValueId o : n.outputs)
        if (o.valid() && o.index < r.size() && !r[o.index]) r[o.index] = changed = true;
    }
  }
  return r;
}
}  // namespace

void verify(const Graph& g, Stage stage) {
  for (ValueId v : g.inputs())
    if (!v.valid() || v.index >= g.num_values()) throw GraphError("graph input id out of range");
  for (ValueId v : g.outputs())
    if (!v.valid() || v.index >= g.num_values()) throw GraphError("graph output id out of range");
  const std::vector<bool> region = stage == Stage::quantized ? quantized_region(g) : std::vector<bool>{};
  for (std::size_t i = 0; i < g.num_nodes(); ++i) {
    const NodeId id(static_cast<std::uint32_t>(i));
    const Node& n = g.node(id);
    const OpInfo& info = op_info(n.kind);
    const auto ni = static_cast<int>(n.inputs.size());
    if (ni < info.min_inputs || ni > info.max_inputs)
      fail(g, id, "has " + std::to_string(ni) + " inputs; " + std::string(info.name) + " takes " +
                      std::to_string(info.min_inputs) + ".." + std::to_string(info.max_inputs));
    for (int k = 0; k < info.min_inputs; ++k)
      if (!n.inputs[static_cast<std::size_t>(k)].valid()) fail(g, id, "required input " + std::to_string(k) + " is absent");
    const auto no = static_cast<int>(n.outputs.size());
    if (info.num_outputs >= 0 && (no < info.min_outputs || no > info.num_outputs))
      fail(g, id, "has " + std::to_string(no) + " outputs; " + std::string(info.name) + " has " +
                      (info.min_outputs == info.num_outputs ? std::to_string(info.num_outputs)
                                                            : std::to_string(info.min_outputs) + ".." +
                                                                  std::to_string(info.num_outputs)));
    if (n.attrs.index() != info.attrs_index) fail(g, id, "carries the wrong attribute struct");
    for (ValueId o : n.outputs)
      if (o.valid() && (o.index >= g.num_values() || g.value(o).producer != id))
        fail(g, id, "output value is not recorded as produced by this node");
    if (!op_legal_at(n.kind, stage))
      fail(g, id, std::string(info.name) + " is not legal at stage '" + std::string(stage_name(stage)) + "'");
    if (stage == Stage::quantized) {
      const bool in_region = std::any_of(n.inputs.begin(), n.inputs.end(), [&](ValueId v) {
        return v.valid() && v.index < region.size() && region[v.index];
      });
      const bool weight_op = has_flag(n.kind, kWeightBearing) && !g.is_constant(n.inputs[0]) && in_region;
      const bool product = n.kind == OpKind::Attention ||
                           (n.kind == OpKind::MatMul && !g.is_constant(n.inputs[0]) && !g.is_constant(n.inputs[1]));
      if (weight_op || product) {
        const std::size_t operands = n.kind == OpKind::Attention ? 3 : (product ? 2 : 1);
        for (std::size_t k = 0; k < operands; ++k)
          if (!g.is_constant(n.inputs[k]) && !is_quantized_value(g, n.inputs[k])) {
            ErrorContext c = g.context(id);
            c.value = g.value(n.inputs[k]).name;
            throw GraphError("operand " + std::to_string(k) + " is not quantized (a quantization point is missing)", c);
          }
      }
    }
    if (stage == Stage::spiking && n.kind == OpKind::SpikeNeuron && !g.value(n.outputs[0]).quant)
      fail(g, id, "spiking neuron output carries no threshold / count bounds");
  }
  (void)g.topological_order();  // dangling inputs and cycles
}

}  // namespace snnconv

namespace snnconv {

void check_finite_constants(const Graph& g) {
  // NaN is never legitimate. Inf is, in masks and fill values: Where(mask, scores, -inf), an additive causal
  // mask of 0 and -inf, a -inf scalar to clamp with. Those constants hold nothing but zeros and infinities.
  // So Inf is refused wherever a weight is read (weight-bearing ops, LayerNorm scale/bias), and in any other
  // constant that holds Inf beside a nonzero finite number: an embedding table, a positional table, a
  // per-feature scale or bias, a class token with a corrupt entry (which would turn every output it reaches
  // into Inf or NaN).
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    const bool reads_weights = has_flag(n.kind, kWeightBearing) || n.kind == OpKind::LayerNorm;
    for (ValueId in : n.inputs) {
      if (!in.valid() || !g.is_constant(in)) continue;
      const Tensor& t = *g.value(in).constant;
      if (!is_float(t.dtype()) || t.all_finite()) continue;
      bool nan = false, nonzero_finite = false;
      std::int64_t first_inf = -1, first_nan = -1;
      const std::vector<float> v = t.to_f32();
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (std::isnan(v[i])) {
          nan = true;
          if (first_nan < 0) first_nan = static_cast<std::int64_t>(i);
        } else if (std::isinf(v[i])) {
          if (first_inf < 0) first_inf = static_cast<std::int64_t>(i);
        } else if (v[i] != 0.0f) {
          nonzero_finite = true;
        }
      }
      if (!nan && !reads_weights && !nonzero_finite) continue;  // a mask or a fill value
      ErrorContext c = g.context(id);
      c.value = g.value(in).name;
      if (nan)
        throw NumericError("constant holds NaN at element " + std::to_string(first_nan) + " (first read by this node)", c);
      throw NumericError("constant holds Inf at element " + std::to_string(first_inf) +
                             (reads_weights ? " of a weight"
                                           : " among nonzero finite values: a corrupt weight or table (an embedding, "
                                             "a bias), not a mask") +
                             " (first read by this node)",
                         c);
    }
  }
}

}  // namespace snnconv
