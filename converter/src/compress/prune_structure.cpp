// Finding prunable units in a fused graph and the shrinking / masking primitives (prune.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "snnconv/converter/prune.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/shape_inference.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv::prune {
namespace {

using Consumers = std::vector<std::vector<NodeId>>;

NodeId producer_of(const Graph& g, ValueId v, OpKind kind) {
  if (!v.valid()) return {};
  const NodeId p = g.value(v).producer;
  if (!p.valid() || g.node(p).kind != kind) return {};
  return p;
}

NodeId sole_consumer(const Graph& g, const Consumers& c, ValueId v) {
  const auto& list = c[v.index];
  if (list.size() != 1) return {};
  for (ValueId o : g.outputs())
    if (o == v) return {};
  return list[0];
}

bool is_linear_with_constants(const Graph& g, NodeId n) {
  if (!n.valid() || g.node(n).kind != OpKind::Linear) return false;
  const Node& node = g.node(n);
  if (!g.is_constant(node.inputs.at(1))) return false;
  if (node.inputs.size() > 2 && node.inputs[2].valid() && !g.is_constant(node.inputs[2])) return false;
  return g.value(node.inputs[1]).constant->rank() == 2;
}

std::vector<std::int64_t> shape_of(const Graph& g, NodeId reshape) {
  const ValueId s = g.node(reshape).inputs.at(1);
  if (!g.is_constant(s)) return {};
  return g.value(s).constant->to_i64();
}

// q/k/v operand of an attention node: Transpose (heads from axis 2 to 1) <- Reshape [.., H, D] <- Linear.
struct Operand {
  NodeId linear, reshape;
  std::int64_t heads = 0, dim = 0;
};
std::optional<Operand> attention_operand(const Graph& g, const Consumers& c, ValueId v) {
  const NodeId tr = producer_of(g, v, OpKind::Transpose);
  if (!tr.valid()) return std::nullopt;
  const auto& perm = std::get<TransposeAttrs>(g.node(tr).attrs).perm;
  if (perm.size() != 4 || perm[0] != 0 || perm[1] != 2) return std::nullopt;
  const ValueId r_out = g.node(tr).inputs[0];
  if (sole_consumer(g, c, r_out) != tr) return std::nullopt;
  const NodeId rs = producer_of(g, r_out, OpKind::Reshape);
  if (!rs.valid()) return std::nullopt;
  const std::vector<std::int64_t> shape = shape_of(g, rs);
  const TensorType& t = g.value(r_out).type;
  if (shape.size() != 4 || !t.is_static() || shape[2] != t.dims[2].value) return std::nullopt;
  const ValueId l_out = g.node(rs).inputs[0];
  if (sole_consumer(g, c, l_out) != rs) return std::nullopt;
  const NodeId lin = producer_of(g, l_out, OpKind::Linear);
  if (!is_linear_with_constants(g, lin)) return std::nullopt;
  if (std::get<LinearAttrs>(g.node(lin).attrs).activation != Activation::none) return std::nullopt;
  return Operand{lin, rs, t.dims[2].value, t.dims[3].value};
}

std::optional<AttentionUnit> attention_unit(const Graph& g, const Consumers& c, NodeId att) {
  const Node& a = g.node(att);
  if (a.inputs.size() > 3 && a.inputs[3].valid()) {
    // A mask input broadcast over heads is fine; one with a head axis would need slicing.
    const TensorType& mt = g.value(a.inputs[3]).type;
    if (mt.rank() == 4 && !(mt.dims[1].is_known() && mt.dims[1].value == 1)) return std::nullopt;
  }
  const auto q = attention_operand(g, c, a.inputs[0]);
  const auto k = attention_operand(g, c, a.inputs[1]);
  const auto v = attention_operand(g, c, a.inputs[2]);
  if (!q || !k || !v || q->heads != k->heads || q->heads != v->heads) return std::nullopt;
  // Output: Transpose (heads back to axis 2) -> Reshape [.., H*D] -> Linear proj.
  const NodeId tr = sole_consumer(g, c, a.outputs[0]);
  if (!tr.valid() || g.node(tr).kind != OpKind::Transpose) return std::nullopt;
  const auto& perm = std::get<TransposeAttrs>(g.node(tr).attrs).perm;
  if (perm.size() != 4 || perm[0] != 0 || perm[2] != 1 || perm[3] != 3) return std::nullopt;
  const NodeId rs = sole_consumer(g, c, g.node(tr).outputs[0]);
  if (!rs.valid() || g.node(rs).kind != OpKind::Reshape) return std::nullopt;
  const std::vector<std::int64_t> shape = shape_of(g, rs);
  if (shape.empty() || (shape.back() != v->heads * v->dim && shape.back() != -1)) return std::nullopt;
  const NodeId proj = sole_consumer(g, c, g.node(rs).outputs[0]);
  if (!is_linear_with_constants(g, proj) || g.node(proj).inputs[0] != g.node(rs).outputs[0]) return std::nullopt;
  if (g.value(g.node(proj).inputs[1]).constant->dim(0) != v->heads * v->dim) return std::nullopt;
  AttentionUnit u;
  u.attention = att;
  u.q = q->linear;
  u.k = k->linear;
  u.v = v->linear;
  u.proj = proj;
  u.q_reshape = q->reshape;
  u.k_reshape = k->reshape;
  u.v_reshape = v->reshape;
  u.out_reshape = rs;
  u.heads = v->heads;
  u.head_dim = v->dim;
  return u;
}

// The residual Add reading `branch` (the output of a proj/down Linear) and some other value: its node.
NodeId residual_add(const Graph& g, const Consumers& c, ValueId branch) {
  const NodeId add = sole_consumer(g, c, branch);
  if (!add.valid() || g.node(add).kind != OpKind::Add || g.node(add).inputs.size() != 2) return {};
  const TensorType& a = g.value(g.node(add).inputs[0]).type;
  const TensorType& b = g.value(g.node(add).inputs[1]).type;
  if (!(a == b)) return {};
  return add;
}

// Kept indices of 0..n-1 after removing the sorted `removed`.
std::vector<std::int64_t> kept(std::int64_t n, const std::vector<std::int64_t>& removed, const char* what) {
  for (std::size_t i = 0; i < removed.size(); ++i)
    if (removed[i] < 0 || removed[i] >= n || (i > 0 && removed[i] <= removed[i - 1]))
      throw UsageError(fmt::format("{} indices must be sorted, unique and below {}", what, n));
  if (static_cast<std::int64_t>(removed.size()) >= n)
    throw UsageError(fmt::format("cannot remove all {} {}", n, what));
  std::vector<std::int64_t> k;
  std::size_t r = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (r < removed.size() && removed[r] == i) {
      ++r;
      continue;
    }
    k.push_back(i);
  }
  return k;
}

// Replaces input `slot` of node `n` by a new constant `t` named after the old one.
void set_constant_input(Graph& g, NodeId n, std::size_t slot, Tensor t) {
  const ValueId old = g.node(n).inputs.at(slot);
  const std::string name = g.value(old).name + ".pruned." + g.node(n).name;
  const ValueId id = g.add_constant(name, std::move(t));
  g.node(n).inputs[slot] = id;
}

// Columns `cols` (groups of `group` starting at index*group) of a [K, N] weight; and the bias entries.
void keep_output_columns(Graph& g, NodeId lin, const std::vector<std::int64_t>& cols) {
  const Tensor& w = *g.value(g.node(lin).inputs[1]).constant;
  const std::int64_t k = w.dim(0), n = w.dim(1), m = static_cast<std::int64_t>(cols.size());
  Tensor nw(DType::f32, {k, m});
  const float* src = w.data<float>();
  float* dst = nw.data<float>();
  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t j = 0; j < m; ++j) dst[r * m + j] = src[r * n + cols[static_cast<std::size_t>(j)]];
  set_constant_input(g, lin, 1, std::move(nw));
  const Node& node = g.node(lin);
  if (node.inputs.size() > 2 && node.inputs[2].valid()) {
    const Tensor& b = *g.value(node.inputs[2]).constant;
    Tensor nb(DType::f32, {m});
    for (std::int64_t j = 0; j < m; ++j) nb.data<float>()[j] = b.data<float>()[cols[static_cast<std::size_t>(j)]];
    set_constant_input(g, lin, 2, std::move(nb));
  }
}

void keep_input_rows(Graph& g, NodeId lin, const std::vector<std::int64_t>& rows) {
  const Tensor& w = *g.value(g.node(lin).inputs[1]).constant;
  const std::int64_t n = w.dim(1), m = static_cast<std::int64_t>(rows.size());
  Tensor nw(DType::f32, {m, n});
  for (std::int64_t r = 0; r < m; ++r)
    std::copy_n(w.data<float>() + rows[static_cast<std::size_t>(r)] * n, n, nw.data<float>() + r * n);
  set_constant_input(g, lin, 1, std::move(nw));
}

void zero_input_rows(Graph& g, NodeId lin, const std::vector<std::int64_t>& rows) {
  Tensor w = *g.value(g.node(lin).inputs[1]).constant;
  const std::int64_t n = w.dim(1);
  for (std::int64_t r : rows) std::fill_n(w.data<float>() + r * n, n, 0.0f);
  set_constant_input(g, lin, 1, std::move(w));
}

void set_shape_entry(Graph& g, NodeId reshape, std::size_t index, std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> shape = shape_of(g, reshape);
  if (shape.at(index) == -1) return;
  if (shape[index] != from)
    throw UnsupportedError(fmt::format("Reshape '{}': shape entry {} is {}, expected {}", g.node(reshape).name, index,
                                       shape[index], from));
  shape[index] = to;
  set_constant_input(g, reshape, 1, Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(shape.size())}, shape));
}

std::vector<std::int64_t> head_columns(const AttentionUnit& a, const std::vector<std::int64_t>& heads) {
  std::vector<std::int64_t> cols;
  for (std::int64_t h : heads)
    for (std::int64_t d = 0; d < a.head_dim; ++d) cols.push_back(h * a.head_dim + d);
  return cols;
}

}  // namespace

Structure find_structure(const Graph& g) {
  Structure s;
  const Consumers c = g.consumers();
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    if (n.kind == OpKind::Attention) {
      if (auto u = attention_unit(g, c, id)) s.attention.push_back(*u);
    } else if (n.kind == OpKind::Linear && is_linear_with_constants(g, id) &&
               std::get<LinearAttrs>(n.attrs).activation != Activation::none) {
      const NodeId down = sole_consumer(g, c, n.outputs[0]);
      if (!is_linear_with_constants(g, down) || g.node(down).inputs[0] != n.outputs[0]) continue;
      const std::int64_t ch = g.value(n.inputs[1]).constant->dim(1);
      if (g.value(g.node(down).inputs[1]).constant->dim(0) != ch || ch < 2) continue;
      s.mlp.push_back(MlpUnit{id, down, ch});
    }
  }
  for (std::size_t i = 0; i < s.attention.size(); ++i) {
    const NodeId add1 = residual_add(g, c, g.node(s.attention[i].proj).outputs[0]);
    if (!add1.valid()) continue;
    const Node& a1 = g.node(add1);
    BlockUnit b;
    b.attention = static_cast<int>(i);
    b.input = a1.inputs[0] == g.node(s.attention[i].proj).outputs[0] ? a1.inputs[1] : a1.inputs[0];
    b.output = a1.outputs[0];
    for (std::size_t m = 0; m < s.mlp.size(); ++m) {
      const NodeId add2 = residual_add(g, c, g.node(s.mlp[m].down).outputs[0]);
      if (!add2.valid()) continue;
      const Node& a2 = g.node(add2);
      if (a2.inputs[0] == b.output || a2.inputs[1] == b.output) {
        b.mlp = static_cast<int>(m);
        b.output = a2.outputs[0];
        break;
      }
    }
    s.blocks.push_back(b);
  }
  return s;
}

std::int64_t units_removed(double fraction, std::int64_t n) {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw UsageError(fmt::format("pruning fraction {} is outside [0, 1)", fraction));
  const auto r = static_cast<std::int64_t>(std::floor(fraction * static_cast<double>(n) + 1e-9));
  return std::clamp<std::int64_t>(r, 0, std::max<std::int64_t>(n - 1, 0));
}

void remove_heads(Graph& g, const AttentionUnit& a, const std::vector<std::int64_t>& heads) {
  if (heads.empty()) return;
  const std::vector<std::int64_t> keep_h = kept(a.heads, heads, "heads");
  const std::int64_t h2 = static_cast<std::int64_t>(keep_h.size());
  const std::vector<std::int64_t> cols = head_columns(a, keep_h);
  for (NodeId lin : {a.q, a.k, a.v}) keep_output_columns(g, lin, cols);
  keep_input_rows(g, a.proj, cols);
  for (NodeId rs : {a.q_reshape, a.k_reshape, a.v_reshape}) set_shape_entry(g, rs, 2, a.heads, h2);
  const std::size_t last = shape_of(g, a.out_reshape).size() - 1;
  set_shape_entry(g, a.out_reshape, last, a.heads * a.head_dim, h2 * a.head_dim);
  g.remove_dead();  // drops the replaced constants; value ids change, node ids do not (no node became dead)
  infer_shapes(g);
  verify(g, g.stage);
}

void remove_channels(Graph& g, const MlpUnit& m, const std::vector<std::int64_t>& channels) {
  if (channels.empty()) return;
  const std::vector<std::int64_t> keep_c = kept(m.channels, channels, "channels");
  keep_output_columns(g, m.up, keep_c);
  keep_input_rows(g, m.down, keep_c);
  g.remove_dead();
  infer_shapes(g);
  verify(g, g.stage);
}

void remove_block(Graph& g, const BlockUnit& b) {
  g.replace_uses(b.output, b.input);
  g.remove_dead();
  infer_shapes(g);
  verify(g, g.stage);
}

void mask_heads(Graph& g, const AttentionUnit& a, const std::vector<std::int64_t>& heads) {
  kept(a.heads, heads, "heads");
  zero_input_rows(g, a.proj, head_columns(a, heads));
  g.remove_dead();
}

void mask_channels(Graph& g, const MlpUnit& m, const std::vector<std::int64_t>& channels) {
  kept(m.channels, channels, "channels");
  zero_input_rows(g, m.down, channels);
  g.remove_dead();
}

std::int64_t count_params(const Graph& g) {
  std::int64_t n = 0;
  for (const Value& v : g.values())
    if (v.constant && v.constant->dtype() == DType::f32) n += v.constant->numel();
  return n;
}

}  // namespace snnconv::prune
