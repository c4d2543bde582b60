// Llama / Qwen style patterns as torch exports them:
//  - RMSNorm: x * rsqrt(mean(x^2, -1) + eps) [* weight]  (Pow 2, ReduceMean, Add eps, Sqrt, Div 1 / . or
//    Div x / ., Mul x, Mul weight) -> RMSNorm(x, weight);
//  - SiLU after a Linear: Mul(a, Sigmoid(a)) with a a Linear's output -> the Linear's activation `silu`
//    (SwiGLU's gate; its product with the up projection stays a Mul of two activations);
//  - rotary embeddings: x * cos + rotate_half(x) * sin, rotate_half = Concat(Neg(x[..., h:]), x[..., :h]) on
//    the last axis, cos/sin constant (or computed from constants: the buffers sliced to the window)
//    -> Rotary(x, cos, sin).
#include "fuse_detail.hpp"

namespace snnconv::fuse {
namespace {

bool last_axis_only(const Graph& g, const ReduceAttrs& r, ValueId x) {
  const int rank = g.value(x).type.rank();
  return r.axes.size() == 1 && (r.axes[0] == -1 || r.axes[0] == rank - 1) && r.keepdims;
}

// [begin, end) of the last axis a Slice keeps (step 1, constant bounds); nullopt otherwise.
std::optional<std::pair<std::int64_t, std::int64_t>> last_axis_slice(const Graph& g, const View& view, NodeId id) {
  const Node& n = view.node(id);
  const int rank = g.value(n.inputs[0]).type.rank();
  const auto& dims = g.value(n.inputs[0]).type.dims;
  if (rank < 1 || !dims.back().is_known() || n.inputs.size() < 3) return std::nullopt;
  const std::int64_t dim = dims.back().value;
  const Tensor* st = view.constant(n.inputs[1]);
  const Tensor* en = view.constant(n.inputs[2]);
  if (st == nullptr || en == nullptr || st->numel() != 1 || en->numel() != 1) return std::nullopt;
  if (n.inputs.size() > 3 && n.inputs[3].valid()) {
    const Tensor* ax = view.constant(n.inputs[3]);
    if (ax == nullptr || ax->numel() != 1) return std::nullopt;
    const std::int64_t a = ax->to_i64()[0];
    if (a != -1 && a != rank - 1) return std::nullopt;
  }
  if (n.inputs.size() > 4 && n.inputs[4].valid()) {
    const Tensor* sp = view.constant(n.inputs[4]);
    if (sp == nullptr || sp->numel() != 1 || sp->to_i64()[0] != 1) return std::nullopt;
  }
  auto clamp = [&](std::int64_t v) { return std::min(std::max<std::int64_t>(v < 0 ? v + dim : v, 0), dim); };
  return std::make_pair(clamp(st->to_i64()[0]), clamp(en->to_i64()[0]));
}

}  // namespace

std::optional<Rewrite> match_rms_norm(Graph& g, const View& view, NodeId anchor) {
  const Node& rm = view.node(anchor);
  const NodeId pow_id = view.producer(rm.inputs[0], OpKind::Pow);
  if (!pow_id.valid() || view.sole_consumer(rm.inputs[0]) != anchor) return std::nullopt;
  const Node& pw = view.node(pow_id);
  const ValueId x = pw.inputs[0];
  if (auto e = view.scalar(pw.inputs[1]); !e || *e != 2.0f) return std::nullopt;
  if (!last_axis_only(g, std::get<ReduceAttrs>(rm.attrs), x)) return std::nullopt;
  std::vector<NodeId> chain{pow_id, anchor};
  const NodeId add_id = view.sole_consumer(rm.outputs[0]);
  if (!add_id.valid() || view.node(add_id).kind != OpKind::Add) return std::nullopt;
  const auto eps = view.scalar(view.other_input(view.node(add_id), rm.outputs[0]));
  if (!eps || *eps < 0.0f) return std::nullopt;
  chain.push_back(add_id);
  const NodeId sq_id = view.sole_consumer(view.node(add_id).outputs[0]);
  if (!sq_id.valid() || view.node(sq_id).kind != OpKind::Sqrt) return std::nullopt;
  chain.push_back(sq_id);
  const ValueId root = view.node(sq_id).outputs[0];
  const NodeId div_id = view.sole_consumer(root);
  if (!div_id.valid() || view.node(div_id).kind != OpKind::Div || view.node(div_id).inputs[1] != root) return std::nullopt;
  const Node& dv = view.node(div_id);
  chain.push_back(div_id);
  ValueId y;
  if (dv.inputs[0] == x) {  // x / rms
    y = dv.outputs[0];
  } else if (auto one = view.scalar(dv.inputs[0]); one && *one == 1.0f) {  // x * (1 / rms)
    const NodeId mul_id = view.sole_consumer(dv.outputs[0]);
    if (!mul_id.valid() || view.node(mul_id).kind != OpKind::Mul || view.other_input(view.node(mul_id), dv.outputs[0]) != x)
      return std::nullopt;
    chain.push_back(mul_id);
    y = view.node(mul_id).outputs[0];
  } else {
    return std::nullopt;
  }
  const auto& dims = g.value(x).type.dims;
  if (dims.empty() || !dims.back().is_known()) return std::nullopt;
  const std::int64_t cols = dims.back().value;
  ValueId gamma;
  if (const NodeId mg = view.sole_consumer(y); mg.valid() && view.node(mg).kind == OpKind::Mul) {
    const ValueId w = view.other_input(view.node(mg), y);
    const Tensor* t = view.constant(w);
    if (t != nullptr && t->dtype() == DType::f32 && t->numel() == cols && t->shape().back() == cols) {
      gamma = g.add_constant(g.value(w).name + ".vector", t->reshaped({cols}));
      chain.push_back(mg);
      y = view.node(mg).outputs[0];
    }
  }
  if (!gamma.valid())
    gamma = g.add_constant(g.value(x).name + ".rms_ones", Tensor::from_vector<float>({cols}, std::vector<float>(static_cast<std::size_t>(cols), 1.0f)));
  Node n;
  n.kind = OpKind::RMSNorm;
  n.name = rm.name;
  n.attrs = LayerNormAttrs{-1, *eps};
  n.inputs = {x, gamma};
  n.outputs = {y};
  return Rewrite{{std::move(n)}, chain};
}

std::optional<Rewrite> match_silu(Graph& g, const View& view, NodeId anchor) {
  const Node& sig = view.node(anchor);
  const ValueId a = sig.inputs[0];
  const NodeId mul_id = view.sole_consumer(sig.outputs[0]);
  if (!mul_id.valid() || view.node(mul_id).kind != OpKind::Mul || view.other_input(view.node(mul_id), sig.outputs[0]) != a)
    return std::nullopt;
  const NodeId lin_id = view.producer(a, OpKind::Linear);
  if (!lin_id.valid() || !view.read_only_by(a, {anchor, mul_id})) return std::nullopt;
  Node lin = view.node(lin_id);
  if (std::get<LinearAttrs>(lin.attrs).activation != Activation::none) return std::nullopt;
  (void)g;
  lin.attrs = LinearAttrs{Activation::silu};
  lin.outputs = {view.node(mul_id).outputs[0]};
  return Rewrite{{std::move(lin)}, {lin_id, anchor, mul_id}};
}

std::optional<Rewrite> match_rotary(Graph& g, const View& view, NodeId anchor) {
  const Node& add = view.node(anchor);
  // Add(Mul(x, cos), Mul(rotate_half(x), sin)) in either order.
  for (int side = 0; side < 2; ++side) {
    const ValueId m1 = add.inputs[static_cast<std::size_t>(side)], m2 = add.inputs[static_cast<std::size_t>(1 - side)];
    const NodeId mul1 = view.producer(m1, OpKind::Mul), mul2 = view.producer(m2, OpKind::Mul);
    if (!mul1.valid() || !mul2.valid() || view.sole_consumer(m1) != anchor || view.sole_consumer(m2) != anchor) continue;
    for (int s2 = 0; s2 < 2; ++s2) {
      const ValueId rot = view.node(mul2).inputs[static_cast<std::size_t>(s2)];
      const ValueId sin_v = view.node(mul2).inputs[static_cast<std::size_t>(1 - s2)];
      const NodeId cat_id = view.producer(rot, OpKind::Concat);
      if (!cat_id.valid() || view.sole_consumer(rot) != mul2) continue;
      const Node& cat = view.node(cat_id);
      if (cat.inputs.size() != 2) continue;
      const int rank = g.value(rot).type.rank();
      const std::int64_t cax = std::get<AxisAttrs>(cat.attrs).axis;
      if (cax != -1 && cax != rank - 1) continue;
      const NodeId neg_id = view.producer(cat.inputs[0], OpKind::Neg);
      const NodeId lo_id = view.producer(cat.inputs[1], OpKind::Slice);
      if (!neg_id.valid() || !lo_id.valid() || view.sole_consumer(cat.inputs[0]) != cat_id ||
          view.sole_consumer(cat.inputs[1]) != cat_id)
        continue;
      const NodeId hi_id = view.producer(view.node(neg_id).inputs[0], OpKind::Slice);
      if (!hi_id.valid() || view.sole_consumer(view.node(neg_id).inputs[0]) != neg_id) continue;
      const ValueId x = view.node(lo_id).inputs[0];
      if (view.node(hi_id).inputs[0] != x) continue;
      const auto& dims = g.value(x).type.dims;
      if (dims.empty() || !dims.back().is_known() || dims.back().value % 2 != 0) continue;
      const std::int64_t d = dims.back().value, h = d / 2;
      const auto lo = last_axis_slice(g, view, lo_id), hi = last_axis_slice(g, view, hi_id);
      if (!lo || !hi || *lo != std::make_pair<std::int64_t, std::int64_t>(0, std::int64_t{h}) ||
          *hi != std::make_pair<std::int64_t, std::int64_t>(std::int64_t{h}, std::int64_t{d}))
        continue;
      // The Mul of x by cos.
      const Node& mx = view.node(mul1);
      const ValueId cos_v = view.other_input(mx, x);
      if (!cos_v.valid()) continue;
      const auto cos_t = constant_value(g, cos_v), sin_t = constant_value(g, sin_v);
      if (!cos_t || !sin_t || cos_t->dtype() != DType::f32 || sin_t->dtype() != DType::f32 ||
          cos_t->shape() != sin_t->shape() || cos_t->rank() < 1 || cos_t->shape().back() != d)
        continue;
      Node n;
      n.kind = OpKind::Rotary;
      n.name = add.name;
      n.inputs = {x, g.add_constant(g.value(cos_v).name + ".cos", *cos_t), g.add_constant(g.value(sin_v).name + ".sin", *sin_t)};
      n.outputs = {add.outputs[0]};
      return Rewrite{{std::move(n)}, {anchor, mul1, mul2, cat_id, neg_id, lo_id, hi_id}};
    }
  }
  return std::nullopt;
}

}  // namespace snnconv::fuse
