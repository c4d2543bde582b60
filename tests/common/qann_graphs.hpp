// Small hand-built QANN graphs (Stage::quantized) for the spiking conversion tests, with seeded random
// integer weights and quantization steps calibrated on a few random inputs (run_qann of the partial graph).
#pragma once

#include <algorithm>
#include <cmath>
#include <random>

#include "graph_builder.hpp"
#include "snnconv/ann_baseline/qann.hpp"

namespace snnconv::test {

struct QannBuilder {
  Graph g;
  std::mt19937_64 rng;
  int act_bits;
  ValueId input;
  std::vector<Tensor> calib;  // calibration inputs
  int counter = 0;

  QannBuilder(std::uint64_t seed, int bits, const Shape& in_shape) : rng(seed), act_bits(bits) {
    g.stage = Stage::quantized;
    input = test::input(g, "x", DType::f32, in_shape);
    for (int i = 0; i < 6; ++i) calib.push_back(random_input(in_shape));
  }

  Tensor random_input(const Shape& shape) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    Tensor t(DType::f32, shape);
    for (float& v : t.span<float>()) v = d(rng);
    return t;
  }

  // max |x| of value `v` over the calibration inputs (the partial graph's output is set to v).
  float absmax(ValueId v) {
    g.set_outputs({v});
    float m = 0.0f;
    for (const Tensor& x : calib) {
      const auto r = ann::run_qann(g, std::span<const Tensor>(&x, 1));
      for (float f : r.outputs[0].span<float>()) m = std::max(m, std::abs(f));
    }
    return m;
  }

  // A quantization point on `x` with `signed_levels` ? [-2^(b-1), 2^(b-1)-1] : [0, 2^b-1], step calibrated
  // (or `fixed_step` when > 0).
  ValueId fake_quant(ValueId x, bool signed_levels, const std::string& name, float fixed_step = 0.0f) {
    QuantParams qp;
    qp.bits = act_bits;
    qp.n_min = signed_levels ? -(1 << (act_bits - 1)) : 0;
    qp.n_max = signed_levels ? (1 << (act_bits - 1)) - 1 : (1 << act_bits) - 1;
    const float m = fixed_step > 0.0f ? 0.0f : absmax(x);
    qp.scale = {fixed_step > 0.0f ? fixed_step : m > 0.0f ? m / static_cast<float>(qp.n_max) : 1.0f};
    const ValueId y = node(g, OpKind::FakeQuant, {x}, NoAttrs{}, 1, name)[0];
    g.value(y).quant = qp;
    return y;
  }

  // Integer weight levels (4 bit symmetric) with one step per output channel; `gain` scales the steps.
  ValueId linear(ValueId x, std::int64_t k, std::int64_t n, const std::string& name, float gain = 1.0f,
                 Activation act = Activation::none, bool with_bias = true) {
    std::uniform_int_distribution<int> wd(-7, 7);
    std::uniform_real_distribution<float> sd(0.5f, 1.5f);
    std::normal_distribution<float> bd(0.0f, 0.2f);
    std::vector<float> w(static_cast<std::size_t>(k * n)), b(static_cast<std::size_t>(n));
    for (float& v : w) v = static_cast<float>(wd(rng));
    QuantParams wq;
    wq.bits = 4;
    wq.n_min = -7;
    wq.n_max = 7;
    wq.axis = 1;
    for (std::int64_t j = 0; j < n; ++j) wq.scale.push_back(gain * sd(rng) / (4.0f * std::sqrt(static_cast<float>(k))));
    for (float& v : b) v = bd(rng);
    const ValueId wv = g.add_constant(name + ".W", Tensor::from_vector<float>({k, n}, w));
    g.value(wv).quant = wq;
    std::vector<ValueId> ins{x, wv};
    if (with_bias) ins.push_back(g.add_constant(name + ".b", Tensor::from_vector<float>({n}, b)));
    return node(g, OpKind::Linear, ins, LinearAttrs{act}, 1, name)[0];
  }

  ValueId layer_norm(ValueId x, std::int64_t d, const std::string& name) {
    std::uniform_real_distribution<float> gd(0.5f, 1.5f);
    std::normal_distribution<float> bd(0.0f, 0.1f);
    std::vector<float> gamma(static_cast<std::size_t>(d)), beta(static_cast<std::size_t>(d));
    for (float& v : gamma) v = gd(rng);
    for (float& v : beta) v = bd(rng);
    const ValueId gv = g.add_constant(name + ".gamma", Tensor::from_vector<float>({d}, gamma));
    const ValueId bv = g.add_constant(name + ".beta", Tensor::from_vector<float>({d}, beta));
    return node(g, OpKind::LayerNorm, {x, gv, bv}, LayerNormAttrs{-1, 1e-5f}, 1, name)[0];
  }
};

// (a) Linear -> FakeQuant(ReLU) -> Linear -> FakeQuant on x [rows, 12].
inline Graph make_qann_mlp(std::uint64_t seed, int bits, std::vector<Tensor>* samples = nullptr, int num_samples = 0) {
  const Shape shape{3, 12};
  QannBuilder b(seed, bits, shape);
  const ValueId xq = b.fake_quant(b.input, true, "x_q");
  const ValueId h = b.linear(xq, 12, 16, "fc1");
  const ValueId hr = node(b.g, OpKind::Relu, {h}, NoAttrs{}, 1, "relu1")[0];
  const ValueId hq = b.fake_quant(hr, false, "h_q");
  const ValueId y = b.linear(hq, 16, 8, "fc2");
  const ValueId yq = b.fake_quant(y, true, "y_q");
  b.g.set_outputs({yq});
  if (samples)
    for (int i = 0; i < num_samples; ++i) samples->push_back(b.random_input(shape));
  return std::move(b.g);
}

// (b) A pre-LN transformer block on x [T=5, D=8], one head: LN, Q/K/V Linear, Q.K^T (1/sqrt(D) folded into
// the steps of Q's weights), Softmax, P.V, output Linear, residual Add; then LN, Linear -> GELU, Linear,
// residual Add, and a Reshape to [1, T, D].
inline Graph make_qann_block(std::uint64_t seed, int bits, std::vector<Tensor>* samples = nullptr,
                             int num_samples = 0) {
  constexpr std::int64_t t = 5, d = 8, hidden = 16;
  const Shape shape{t, d};
  QannBuilder b(seed, bits, shape);
  Graph& g = b.g;
  const ValueId xq = b.fake_quant(b.input, true, "x_q");
  const ValueId ln1 = b.fake_quant(b.layer_norm(xq, d, "ln1"), true, "ln1_q");
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  const ValueId qq = b.fake_quant(b.linear(ln1, d, d, "wq", inv_sqrt_d), true, "q_q");
  const ValueId kq = b.fake_quant(b.linear(ln1, d, d, "wk"), true, "k_q");
  const ValueId vq = b.fake_quant(b.linear(ln1, d, d, "wv"), true, "v_q");
  const ValueId kt = node(g, OpKind::Transpose, {kq}, TransposeAttrs{{1, 0}}, 1, "k_t")[0];
  g.value(kt).quant = g.value(kq).quant;
  const ValueId sq = b.fake_quant(node(g, OpKind::MatMul, {qq, kt}, NoAttrs{}, 1, "scores")[0], true, "scores_q");
  const ValueId pq = b.fake_quant(node(g, OpKind::Softmax, {sq}, SoftmaxAttrs{-1}, 1, "softmax")[0], false, "p_q");
  const ValueId oq = b.fake_quant(node(g, OpKind::MatMul, {pq, vq}, NoAttrs{}, 1, "pv")[0], true, "pv_q");
  const ValueId projq = b.fake_quant(b.linear(oq, d, d, "wo"), true, "proj_q");
  const ValueId r1 = b.fake_quant(node(g, OpKind::Add, {xq, projq}, NoAttrs{}, 1, "res1")[0], true, "res1_q");
  const ValueId ln2 = b.fake_quant(b.layer_norm(r1, d, "ln2"), true, "ln2_q");
  const ValueId h = b.linear(ln2, d, hidden, "fc1");
  const ValueId hg = node(g, OpKind::Gelu, {h}, GeluAttrs{}, 1, "gelu")[0];
  const ValueId hq = b.fake_quant(hg, true, "h_q");  // GELU dips below 0: signed levels
  const ValueId mq = b.fake_quant(b.linear(hq, hidden, d, "fc2"), true, "mlp_q");
  const ValueId r2 = b.fake_quant(node(g, OpKind::Add, {r1, mq}, NoAttrs{}, 1, "res2")[0], true, "out_q");
  const ValueId shape_c = ints(g, "out_shape", {1, t, d});
  const ValueId out = node(g, OpKind::Reshape, {r2, shape_c}, ReshapeAttrs{}, 1, "out")[0];
  g.value(out).quant = g.value(r2).quant;
  g.set_outputs({out});
  if (samples)
    for (int i = 0; i < num_samples; ++i) samples->push_back(b.random_input(shape));
  return std::move(g);
}

// Turns every Linear weight whose K is a multiple of `group` into a grouped weight (QuantParams axis 0,
// group_size `group`, steps [K/G][N]): same integer levels, step s_w[g][j] = s_w[j] * a seeded factor in
// [0.5, 1.5], so each group of rows has its own step. Returns the number of weights changed.
inline int group_weights(Graph& g, std::int64_t group, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> fd(0.5f, 1.5f);
  int changed = 0;
  for (const Node& n : g.nodes()) {
    if (n.kind != OpKind::Linear) continue;
    Value& w = g.value(n.inputs[1]);
    const std::int64_t k = w.constant->dim(0), nn = w.constant->dim(1);
    if (!w.quant || w.quant->group_size > 0 || k % group != 0 || k == group) continue;
    QuantParams qp = *w.quant;
    qp.axis = 0;
    qp.group_size = static_cast<int>(group);
    qp.scale.clear();
    for (std::int64_t gi = 0; gi < k / group; ++gi)
      for (std::int64_t j = 0; j < nn; ++j)
        qp.scale.push_back(w.quant->scale[w.quant->per_tensor() ? 0 : static_cast<std::size_t>(j)] * fd(rng));
    w.quant = qp;
    ++changed;
  }
  return changed;
}

}  // namespace snnconv::test
