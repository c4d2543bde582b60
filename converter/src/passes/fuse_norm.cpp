// LayerNorm from its decomposed chain (torch below opset 17) and exact GELU from its Erf chain.
#include <cmath>

#include "fuse_detail.hpp"

namespace snnconv::fuse {
namespace {

// ReduceMean over the last axis only, keeping it (what torch writes for LayerNorm(normalized_shape=[C])).
bool reduces_last_axis(const Graph& g, const Node& n) {
  const auto& at = std::get<ReduceAttrs>(n.attrs);
  if (!at.keepdims || at.axes.size() != 1 || n.inputs.size() != 1) return false;
  const int rank = g.value(n.inputs[0]).type.rank();
  return at.axes[0] == -1 || at.axes[0] == rank - 1;
}

// A constant that is one value per channel: shape [C] or [1, ..., 1, C].
bool per_channel(const Tensor* t, std::int64_t channels) {
  if (t == nullptr || t->dtype() != DType::f32 || t->numel() != channels || t->rank() < 1) return false;
  return t->shape().back() == channels;
}

// The common tail of both GELU forms: `sum` (1 + erf(...) or 1 + tanh(...)) times x and times 0.5, in either
// order: (x * sum) * 0.5 or (x * 0.5) * sum. Appends the matched Muls to `chain`; returns the GELU's output.
std::optional<ValueId> match_gelu_tail(const View& view, ValueId x, ValueId sum, std::vector<NodeId>& chain) {
  const NodeId mul1_id = view.sole_consumer(sum);
  if (!mul1_id.valid() || view.node(mul1_id).kind != OpKind::Mul) return std::nullopt;
  const ValueId partner = view.other_input(view.node(mul1_id), sum);
  chain.push_back(mul1_id);
  if (partner == x) {  // (x * sum) * 0.5
    const ValueId prod = view.node(mul1_id).outputs[0];
    const NodeId half_id = view.sole_consumer(prod);
    if (!half_id.valid() || view.node(half_id).kind != OpKind::Mul) return std::nullopt;
    const auto half = view.scalar(view.other_input(view.node(half_id), prod));
    if (!half || *half != 0.5f) return std::nullopt;
    chain.push_back(half_id);
    return view.node(half_id).outputs[0];
  }
  // (x * 0.5) * sum
  const NodeId half_id = view.producer(partner, OpKind::Mul);
  if (!half_id.valid() || view.sole_consumer(partner) != mul1_id) return std::nullopt;
  const Node& h = view.node(half_id);
  const bool x_first = h.inputs[0] == x;
  if (!x_first && h.inputs[1] != x) return std::nullopt;
  const auto half = view.scalar(h.inputs[x_first ? 1 : 0]);
  if (!half || *half != 0.5f) return std::nullopt;
  chain.push_back(half_id);
  return view.node(mul1_id).outputs[0];
}

}  // namespace

// m = ReduceMean(x); d = x - m; v = ReduceMean(d ^ 2); y = d / sqrt(v + eps) [* gamma] [+ beta]
std::optional<Rewrite> match_layer_norm(Graph& g, const View& view, NodeId anchor) {
  const Node& mean = view.node(anchor);
  if (!reduces_last_axis(g, mean)) return std::nullopt;
  const ValueId x = mean.inputs[0];
  const TensorType& xt = g.value(x).type;
  if (xt.rank() < 1 || !xt.dims.back().is_known()) return std::nullopt;
  const std::int64_t channels = xt.dims.back().value;

  const NodeId sub_id = view.sole_consumer(mean.outputs[0]);
  if (!sub_id.valid()) return std::nullopt;
  const Node& sub = view.node(sub_id);
  if (sub.kind != OpKind::Sub || sub.inputs[0] != x || sub.inputs[1] != mean.outputs[0]) return std::nullopt;
  const ValueId d = sub.outputs[0];

  // d feeds exactly the Pow and the Div of the chain.
  NodeId pow_id, div_id;
  for (NodeId c : view.readers(d)) {
    const Node& n = view.node(c);
    if (n.kind == OpKind::Pow && n.inputs[0] == d) pow_id = c;
    if (n.kind == OpKind::Div && n.inputs[0] == d) div_id = c;
  }
  if (!pow_id.valid() || !div_id.valid() || !view.read_only_by(d, {pow_id, div_id})) return std::nullopt;
  const auto two = view.scalar(view.node(pow_id).inputs[1]);
  if (!two || *two != 2.0f) return std::nullopt;

  const NodeId var_id = view.sole_consumer(view.node(pow_id).outputs[0]);
  if (!var_id.valid() || view.node(var_id).kind != OpKind::ReduceMean || !reduces_last_axis(g, view.node(var_id)))
    return std::nullopt;
  const NodeId add_eps_id = view.sole_consumer(view.node(var_id).outputs[0]);
  if (!add_eps_id.valid() || view.node(add_eps_id).kind != OpKind::Add) return std::nullopt;
  const auto eps = view.scalar(view.other_input(view.node(add_eps_id), view.node(var_id).outputs[0]));
  if (!eps || !(*eps >= 0.0f)) return std::nullopt;
  const NodeId sqrt_id = view.sole_consumer(view.node(add_eps_id).outputs[0]);
  if (!sqrt_id.valid() || view.node(sqrt_id).kind != OpKind::Sqrt) return std::nullopt;
  if (view.sole_consumer(view.node(sqrt_id).outputs[0]) != div_id || view.node(div_id).inputs[1] != view.node(sqrt_id).outputs[0])
    return std::nullopt;

  std::vector<NodeId> chain{anchor, sub_id, pow_id, var_id, add_eps_id, sqrt_id, div_id};
  ValueId out = view.node(div_id).outputs[0];
  ValueId gamma, beta;
  // Optional affine part: * gamma, then + beta, each a per-channel constant.
  if (NodeId mul_id = view.sole_consumer(out); mul_id.valid() && view.node(mul_id).kind == OpKind::Mul) {
    const ValueId w = view.other_input(view.node(mul_id), out);
    if (per_channel(view.constant(w), channels)) {
      gamma = w;
      chain.push_back(mul_id);
      out = view.node(mul_id).outputs[0];
    }
  }
  if (NodeId add_id = view.sole_consumer(out); add_id.valid() && view.node(add_id).kind == OpKind::Add) {
    const ValueId b = view.other_input(view.node(add_id), out);
    if (per_channel(view.constant(b), channels)) {
      beta = b;
      chain.push_back(add_id);
      out = view.node(add_id).outputs[0];
    }
  }
  auto as_vector = [&](ValueId v, const std::string& suffix) {
    Tensor t = view.constant(v)->reshaped({channels});
    return g.add_constant(g.value(out).name + suffix, std::move(t));
  };
  // LayerNormalization requires a scale; without the affine Mul it is all ones.
  gamma = gamma.valid() ? as_vector(gamma, ".scale")
                        : g.add_constant(g.value(out).name + ".scale",
                                         Tensor::from_vector<float>({channels}, std::vector<float>(channels, 1.0f)));
  if (beta.valid()) beta = as_vector(beta, ".bias");

  Node ln;
  ln.kind = OpKind::LayerNorm;
  ln.name = view.node(chain.back()).name.empty() ? mean.name : view.node(chain.back()).name;
  ln.attrs = LayerNormAttrs{-1, *eps};
  ln.inputs = {x, gamma};
  if (beta.valid()) ln.inputs.push_back(beta);
  ln.outputs = {out};
  return Rewrite{{std::move(ln)}, chain};
}

// y = x * 0.5 * (1 + erf(x / sqrt(2))) in the orders torch writes: Div (or Mul by 1/sqrt 2), Erf, Add 1,
// then Mul by x and Mul by 0.5 in either order.
std::optional<Rewrite> match_gelu(Graph& g, const View& view, NodeId anchor) {
  const Node& erf = view.node(anchor);
  const ValueId scaled = erf.inputs[0];
  ValueId x;
  NodeId pre_id = view.producer(scaled, OpKind::Div);
  if (pre_id.valid()) {
    const auto c = view.scalar(view.node(pre_id).inputs[1]);
    if (!c || !near(*c, std::sqrt(2.0f), 1e-5f)) return std::nullopt;
    x = view.node(pre_id).inputs[0];
  } else if ((pre_id = view.producer(scaled, OpKind::Mul)).valid()) {
    const Node& m = view.node(pre_id);
    for (int i = 0; i < 2 && !x.valid(); ++i) {
      const auto c = view.scalar(m.inputs[static_cast<std::size_t>(i)]);
      if (c && near(*c, 1.0f / std::sqrt(2.0f), 1e-5f)) x = m.inputs[static_cast<std::size_t>(1 - i)];
    }
  }
  if (!x.valid() || view.sole_consumer(scaled) != anchor) return std::nullopt;

  const NodeId add_id = view.sole_consumer(erf.outputs[0]);
  if (!add_id.valid() || view.node(add_id).kind != OpKind::Add) return std::nullopt;
  const auto one = view.scalar(view.other_input(view.node(add_id), erf.outputs[0]));
  if (!one || *one != 1.0f) return std::nullopt;
  const ValueId one_plus = view.node(add_id).outputs[0];

  std::vector<NodeId> chain{pre_id, anchor, add_id};
  const std::optional<ValueId> out = match_gelu_tail(view, x, one_plus, chain);
  if (!out) return std::nullopt;
  Node gelu;
  gelu.kind = OpKind::Gelu;
  gelu.name = erf.name;
  gelu.attrs = GeluAttrs{false};
  gelu.inputs = {x};
  gelu.outputs = {*out};
  (void)g;
  return Rewrite{{std::move(gelu)}, chain};
}

// The operand of `n` (a binary node) other than `v`, or invalid; `n` must have kind k.
namespace {
ValueId partner_of(const View& view, NodeId id, OpKind k, ValueId v) {
  if (!id.valid() || view.node(id).kind != k) return {};
  return view.other_input(view.node(id), v);
}
bool scalar_near(const View& view, ValueId v, float want) {
  const auto c = view.scalar(v);
  return c && near(*c, want, 1e-5f);
}
}  // namespace

// y = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) (GELU's tanh form, torch's approximate='tanh' and
// GPT-2's gelu_new) in the orders torch writes: x^3 as Mul(x, Mul(x, x)) or Pow(x, 3), each constant on either
// side of its Mul / Add, then Mul by x and Mul by 0.5 in either order.
std::optional<Rewrite> match_gelu_tanh(Graph& g, const View& view, NodeId anchor) {
  const Node& th = view.node(anchor);
  // u = c1 * a1, c1 = sqrt(2 / pi)
  const ValueId u = th.inputs[0];
  const NodeId u_id = view.producer(u, OpKind::Mul);
  if (!u_id.valid() || view.sole_consumer(u) != anchor) return std::nullopt;
  const Node& un = view.node(u_id);
  ValueId a1;
  for (int i = 0; i < 2 && !a1.valid(); ++i)
    if (scalar_near(view, un.inputs[static_cast<std::size_t>(i)], 0.7978845608f)) a1 = un.inputs[static_cast<std::size_t>(1 - i)];
  if (!a1.valid() || view.sole_consumer(a1) != u_id) return std::nullopt;
  // a1 = x + c2 * cube, c2 = 0.044715; cube = x * (x * x) or Pow(x, 3)
  const NodeId a1_id = view.producer(a1, OpKind::Add);
  if (!a1_id.valid()) return std::nullopt;
  std::vector<NodeId> chain;
  ValueId x;
  for (int i = 0; i < 2 && !x.valid(); ++i) {
    const ValueId m3 = view.node(a1_id).inputs[static_cast<std::size_t>(i)];
    const ValueId cand = view.node(a1_id).inputs[static_cast<std::size_t>(1 - i)];
    const NodeId m3_id = view.producer(m3, OpKind::Mul);
    if (!m3_id.valid() || view.sole_consumer(m3) != a1_id) continue;
    const Node& m3n = view.node(m3_id);
    ValueId cube;
    for (int j = 0; j < 2 && !cube.valid(); ++j)
      if (scalar_near(view, m3n.inputs[static_cast<std::size_t>(j)], 0.044715f)) cube = m3n.inputs[static_cast<std::size_t>(1 - j)];
    if (!cube.valid() || view.sole_consumer(cube) != m3_id) continue;
    if (const NodeId pw = view.producer(cube, OpKind::Pow); pw.valid()) {
      if (view.node(pw).inputs[0] != cand || !scalar_near(view, view.node(pw).inputs[1], 3.0f)) continue;
      chain = {pw, m3_id};
    } else {
      const ValueId sq = partner_of(view, view.producer(cube, OpKind::Mul), OpKind::Mul, cand);
      const NodeId sq_id = view.producer(sq, OpKind::Mul);
      if (!sq.valid() || !sq_id.valid() || view.sole_consumer(sq) != view.producer(cube, OpKind::Mul)) continue;
      if (view.node(sq_id).inputs[0] != cand || view.node(sq_id).inputs[1] != cand) continue;
      chain = {sq_id, view.producer(cube, OpKind::Mul), m3_id};
    }
    x = cand;
  }
  if (!x.valid()) return std::nullopt;
  chain.insert(chain.end(), {a1_id, u_id, anchor});
  // a2 = 1 + t
  const NodeId a2_id = view.sole_consumer(th.outputs[0]);
  if (!a2_id.valid() || view.node(a2_id).kind != OpKind::Add) return std::nullopt;
  const auto one = view.scalar(view.other_input(view.node(a2_id), th.outputs[0]));
  if (!one || *one != 1.0f) return std::nullopt;
  const ValueId a2 = view.node(a2_id).outputs[0];
  chain.push_back(a2_id);
  // then * x and * 0.5, in either order
  const std::optional<ValueId> out = match_gelu_tail(view, x, a2, chain);
  if (!out) return std::nullopt;
  Node gelu;
  gelu.kind = OpKind::Gelu;
  gelu.name = th.name;
  gelu.attrs = GeluAttrs{true};
  gelu.inputs = {x};
  gelu.outputs = {*out};
  (void)g;
  return Rewrite{{std::move(gelu)}, chain};
}

}  // namespace snnconv::fuse
