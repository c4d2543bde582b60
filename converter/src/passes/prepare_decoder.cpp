// Explicit positions for KV-cache decoding: a decoder exported for a full sequence reads its position table
// as table[0:seq]; a decode step for new tokens at positions T..T+n-1 needs table[positions] instead.
#include <algorithm>

#include "snnconv/converter/fuse.hpp"
#include "snnconv/core/shape_inference.hpp"
#include "snnconv/core/stats.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv {
namespace {

struct PositionLookup {
  NodeId node;
  ValueId table;
  std::int64_t axis = 0;
  std::int64_t length = 0;
};

// Slice(table, [0], [n], [axis], [1]) of a weight table.
std::optional<PositionLookup> as_slice_lookup(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (n.kind != OpKind::Slice || !is_parameter(g.value(n.inputs[0])) || !g.value(n.inputs[0]).constant) return std::nullopt;
  for (std::size_t i = 1; i < n.inputs.size(); ++i)
    if (n.inputs[i].valid() && !g.is_constant(n.inputs[i])) return std::nullopt;
  const auto starts = g.value(n.inputs[1]).constant->to_i64();
  const auto ends = g.value(n.inputs[2]).constant->to_i64();
  const int rank = g.value(n.inputs[0]).type.rank();
  std::vector<std::int64_t> axes;
  if (n.inputs.size() > 3 && n.inputs[3].valid()) axes = g.value(n.inputs[3]).constant->to_i64();
  else for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
  if (n.inputs.size() > 4 && n.inputs[4].valid()) {
    const auto steps = g.value(n.inputs[4]).constant->to_i64();
    if (std::any_of(steps.begin(), steps.end(), [](std::int64_t s) { return s != 1; })) return std::nullopt;
  }
  if (starts.size() != 1 || ends.size() != 1 || axes.size() != 1 || starts[0] != 0) return std::nullopt;
  const std::int64_t axis = axes[0] < 0 ? axes[0] + rank : axes[0];
  const std::int64_t dim = g.value(n.inputs[0]).type.dims.at(static_cast<std::size_t>(axis)).value;
  return PositionLookup{id, n.inputs[0], axis, std::min(ends[0], dim)};
}

// Gather(table, constant 0..n-1 of any shape) of a weight table.
std::optional<PositionLookup> as_gather_lookup(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (n.kind != OpKind::Gather || !is_parameter(g.value(n.inputs[0])) || !g.value(n.inputs[0]).constant ||
      !g.is_constant(n.inputs[1]))
    return std::nullopt;
  const auto idx = g.value(n.inputs[1]).constant->to_i64();
  for (std::size_t i = 0; i < idx.size(); ++i)
    if (idx[i] != static_cast<std::int64_t>(i)) return std::nullopt;
  const int rank = g.value(n.inputs[0]).type.rank();
  std::int64_t axis = std::get<AxisAttrs>(n.attrs).axis;
  if (axis < 0) axis += rank;
  if (idx.empty()) return std::nullopt;
  return PositionLookup{id, n.inputs[0], axis, static_cast<std::int64_t>(idx.size())};
}

}  // namespace

void prepare_decoder(Graph& g) {
  bool causal = false;
  for (const Node& n : g.nodes())
    if (n.kind == OpKind::Attention) causal |= std::get<AttentionAttrs>(n.attrs).causal;
  if (!causal)
    throw UnsupportedError("prepare_decoder: the model has no causal Attention node (is it a decoder, and was "
                           "it fused first?)",
                           {g.source_file, {}, {}, {}});
  if (std::find_if(g.inputs().begin(), g.inputs().end(), [&](ValueId v) { return g.value(v).name == "positions"; }) !=
      g.inputs().end())
    return;  // already prepared
  std::vector<PositionLookup> found;
  for (std::uint32_t i = 0; i < g.num_nodes(); ++i) {
    if (auto s = as_slice_lookup(g, NodeId(i))) found.push_back(*s);
    else if (auto t = as_gather_lookup(g, NodeId(i))) found.push_back(*t);
  }
  if (found.size() != 1)
    throw UnsupportedError("prepare_decoder: expected exactly one position-table lookup (Slice [0:seq] or Gather "
                           "by 0..seq-1 of a weight table), found " + std::to_string(found.size()),
                           {g.source_file, {}, {}, {}});
  const PositionLookup p = found[0];
  Value pos;
  pos.name = "positions";
  pos.type = TensorType::of(DType::i64, {p.length});
  const ValueId positions = g.add_value(std::move(pos));
  std::vector<ValueId> inputs = g.inputs();
  inputs.push_back(positions);
  g.set_inputs(std::move(inputs));
  Node& n = g.node(p.node);
  n.kind = OpKind::Gather;
  n.attrs = AxisAttrs{p.axis};
  n.inputs = {p.table, positions};
  g.remove_dead();
  infer_shapes(g);
  verify(g);
  // The table's length bounds how far a decode session can go.
  g.metadata["snnconv.max_positions"] =
      std::to_string(g.value(p.table).type.dims.at(static_cast<std::size_t>(p.axis)).value);
}

}  // namespace snnconv
