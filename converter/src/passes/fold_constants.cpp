// Constant folding of the imported graph: torch exports compute shapes, masks and position tables with
// chains of small ops; once dims are bound they are all constants, and the canonical stage forbids
// shape-only ops.
#include <algorithm>

#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/converter/passes.hpp"
#include "snnconv/core/shape_inference.hpp"
#include "snnconv/core/stats.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv {
namespace {

bool contains(const std::vector<ValueId>& ids, ValueId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Q/DQ pairs on weights carry the model's quantization (scales, zero points) that the QDQ importer reads;
// folding them would leave plain dequantized floats behind.
bool keeps_quantization(OpKind kind) {
  return kind == OpKind::QuantizeLinear || kind == OpKind::DequantizeLinear;
}

// A node reading one of the model's weights (a float initializer with more than one element, see
// is_parameter) is never folded: the result would replace the weights by a tensor derived at the bound dims
// (a position table sliced to `seq`, a cls token expanded to `batch`), changing what is counted, quantized
// and priced downstream. Constants made by folding itself are not weights.
bool reads_weight(const Node& n, const std::vector<bool>& is_weight) {
  for (ValueId in : n.inputs)
    if (in.valid() && is_weight[in.index]) return true;
  return false;
}

bool all_inputs_constant(const Graph& g, const Node& n) {
  bool any = false;
  for (ValueId in : n.inputs) {
    if (!in.valid()) continue;
    if (!g.is_constant(in)) return false;
    any = true;
  }
  return any;
}

// ReduceSum-13 axes that became constant move into ReduceAttrs (attrs.hpp keeps axes there).
void move_axes_into_attrs(Graph& g, Node& n) {
  if (n.kind != OpKind::ReduceSum || n.inputs.size() < 2 || !g.is_constant(n.inputs[1])) return;
  std::get<ReduceAttrs>(n.attrs).axes = g.value(n.inputs[1]).constant->to_i64();
  n.inputs.resize(1);
}

void make_constant(Graph& g, ValueId id, Tensor t) {
  Value& v = g.value(id);
  v.type = TensorType::of(t.dtype(), t.shape());
  v.constant = std::move(t);
  v.producer = NodeId{};
}

// Identity: its uses read its input instead. A graph output keeps its ONNX name (callers find outputs by
// name), so the input takes over the name; an Identity between two interface values stays.
bool remove_identity(Graph& g, const Node& n) {
  const ValueId in = n.inputs.at(0);
  const ValueId out = n.outputs.at(0);
  if (!in.valid()) return false;
  if (contains(g.outputs(), out)) {
    if (contains(g.inputs(), in) || contains(g.outputs(), in)) return false;
    std::swap(g.value(in).name, g.value(out).name);
  }
  g.replace_uses(out, in);
  return true;
}

// Evaluates an all-constant node; false when it stays (too large, or no reference kernel).
bool fold_node(Graph& g, NodeId id, const std::vector<TensorType>& types, const FoldOptions& options,
               FoldStats& stats) {
  for (const TensorType& t : types) {
    if (!t.is_static()) return false;
    if (checked_numel(t.static_shape(), "folded value") > options.max_folded_elements) {
      ++stats.skipped_too_large;
      return false;
    }
  }
  const Node& n = g.node(id);
  std::vector<const Tensor*> inputs;
  for (ValueId in : n.inputs) inputs.push_back(in.valid() ? &*g.value(in).constant : nullptr);
  std::vector<Tensor> outputs;
  try {
    outputs = ann::evaluate_reference(g, id, inputs);
  } catch (const UnsupportedError&) {
    ++stats.skipped_no_kernel;  // the node stays; a later stage reports it if it must go
    return false;
  }
  if (outputs.size() != n.outputs.size())
    throw Error("reference kernel returned " + std::to_string(outputs.size()) + " outputs, expected " +
                    std::to_string(n.outputs.size()),
                g.context(id));
  for (std::size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].dtype() != types[i].dtype || outputs[i].shape() != types[i].static_shape())
      throw Error("reference kernel and shape inference disagree on output '" + g.value(n.outputs[i]).name +
                      "': " + std::string(dtype_name(outputs[i].dtype())) + shape_to_string(outputs[i].shape()) +
                      " vs " + type_to_string(types[i]),
                  g.context(id));
  const std::vector<ValueId> outs = n.outputs;
  for (std::size_t i = 0; i < outs.size(); ++i) make_constant(g, outs[i], std::move(outputs[i]));
  return true;
}

// Rebuilds the graph without the dropped nodes. Every value stays (same ids), so folded constants keep
// their names; remove_dead then sweeps what no output needs unless the caller keeps it.
void rebuild(Graph& g, const std::vector<NodeId>& order, const std::vector<bool>& drop) {
  Graph out;
  out.name = g.name;
  out.opset = g.opset;
  out.stage = g.stage;
  out.source_file = g.source_file;
  out.metadata = g.metadata;
  for (const Value& v : g.values()) {
    Value copy = v;
    copy.producer = NodeId{};
    out.add_value(std::move(copy));
  }
  for (NodeId id : order)
    if (!drop[id.index]) out.add_node(g.node(id));
  out.set_inputs(g.inputs());
  out.set_outputs(g.outputs());
  g = std::move(out);
}

}  // namespace

FoldStats fold_constants(Graph& g, const FoldOptions& options) {
  FoldStats stats;
  const std::vector<NodeId> order = g.topological_order();
  std::vector<bool> drop(g.num_nodes(), false);
  std::vector<bool> is_weight(g.num_values(), false);  // folding adds no values: ids stay valid
  for (std::size_t i = 0; i < g.num_values(); ++i) is_weight[i] = is_parameter(g.values()[i]);
  for (NodeId id : order) {
    move_axes_into_attrs(g, g.node(id));
    const std::vector<TensorType> types = infer_node(g, id);
    const Node& n = g.node(id);
    for (std::size_t i = 0; i < types.size() && i < n.outputs.size(); ++i) g.value(n.outputs[i]).type = types[i];

    if (n.kind == OpKind::Identity) {
      if (remove_identity(g, n)) {
        drop[id.index] = true;
        ++stats.removed_identities;
      }
      continue;
    }
    if (n.kind == OpKind::Shape && !g.is_constant(n.inputs.at(0)) && g.value(n.inputs[0]).type.is_static()) {
      Shape dims = g.value(n.inputs[0]).type.static_shape();
      make_constant(g, n.outputs.at(0),
                    Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(dims.size())}, dims));
      drop[id.index] = true;
      ++stats.folded_shapes;
      continue;
    }
    if (keeps_quantization(n.kind) || !all_inputs_constant(g, n) || reads_weight(n, is_weight)) continue;
    if (fold_node(g, id, types, options, stats)) {
      drop[id.index] = true;
      ++stats.folded_nodes;
    }
  }
  rebuild(g, order, drop);
  if (!options.keep_dead) {
    const std::size_t before = g.num_nodes();
    g.remove_dead();
    stats.removed_dead = before - g.num_nodes();
  }
  infer_shapes(g);
  verify(g, Stage::imported);
  return stats;
}

}  // namespace snnconv
