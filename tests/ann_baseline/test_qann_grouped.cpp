// Grouped (block-wise) weight steps: the reference FakeQuant / dequantization of the block layout, and the
// integer QANN's grouped Linear (qann.hpp) against the dense float evaluation of the same graph.
#include <doctest/doctest.h>

#include <cstring>

#include "engine_test_util.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv {
namespace {

using test::random_f32;

// x [rows, K] -> FakeQuant (signed 8 bit, step s_in) -> Linear(W levels, grouped steps, bias). The weight is
// stored as `dtype` (f32 levels for run_qann, i8 for the dense engine's dequantization at plan time).
Graph grouped_linear_graph(std::int64_t rows, std::int64_t k, std::int64_t n, std::int64_t group, DType dtype,
                           float s_in) {
  Graph g;
  g.stage = Stage::quantized;
  const ValueId x = test::input(g, "x", DType::f32, {rows, k});
  const auto xq = test::node(g, OpKind::FakeQuant, {x}, NoAttrs{}, 1, "x_q");
  QuantParams aq;
  aq.bits = 8;
  aq.n_min = -128;
  aq.n_max = 127;
  aq.scale = {s_in};
  g.value(xq[0]).quant = aq;
  std::vector<std::int8_t> levels(static_cast<std::size_t>(k * n));
  for (std::size_t i = 0; i < levels.size(); ++i) levels[i] = static_cast<std::int8_t>(static_cast<int>(i * 5 % 15) - 7);
  const Tensor lv = Tensor::from_vector<std::int8_t>({k, n}, levels);
  const ValueId w = g.add_constant("w", dtype == DType::f32 ? lv.cast(DType::f32) : lv);
  QuantParams wq;
  wq.bits = 4;
  wq.n_min = -7;
  wq.n_max = 7;
  wq.axis = 0;
  wq.group_size = static_cast<int>(group);
  for (std::int64_t i = 0; i < (k / group) * n; ++i) wq.scale.push_back(0.01f + 0.003f * static_cast<float>(i % 11));
  g.value(w).quant = wq;
  const ValueId b = g.add_constant("b", random_f32({n}, 5));
  const auto y = test::node(g, OpKind::Linear, {xq[0], w, b}, LinearAttrs{}, 1, "fc");
  g.set_outputs(y);
  return g;
}

}  // namespace

TEST_SUITE("unit") {

TEST_CASE("reference FakeQuant with block steps: a group along axis 0 at every column") {
  // [4, 2], axis 0, groups of 2 rows: scale [2][2] = {1, 0.5; 0.25, 2}; x = 1.4 everywhere.
  // rows 0-1: col 0 s=1 -> floor(1.9)=1 -> 1; col 1 s=0.5 -> floor(3.3)=3 -> 1.5
  // rows 2-3: col 0 s=0.25 -> floor(6.1)=6 -> 1.5; col 1 s=2 -> floor(1.2)=1 -> 2
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {4, 2});
  const auto y = test::node(g, OpKind::FakeQuant, {x});
  QuantParams qp;
  qp.scale = {1.0f, 0.5f, 0.25f, 2.0f};
  qp.axis = 0;
  qp.group_size = 2;
  g.value(y[0]).quant = qp;
  g.set_outputs(y);
  const std::vector<Tensor> in{Tensor::from_vector<float>({4, 2}, std::vector<float>(8, 1.4f))};
  const auto out = ann::Engine(g, {.reference_only = true}).run(in);
  const std::vector<float> want{1, 1.5f, 1, 1.5f, 1.5f, 2, 1.5f, 2};
  CHECK(out[0].to_f32() == want);
}

TEST_CASE("grouped_linear_value sums the groups in order and one group gives linear_value's bits") {
  const std::int64_t acc[3] = {7, -3, 100000};
  const float s_w[3] = {0.5f, 0.25f, 1e-3f};
  // (0.5*0.5)*7 = 1.75; + (0.5*0.25)*-3 = -0.375 -> 1.375; + (0.5*1e-3)*100000 = 50 -> 51.375; + 0.125
  CHECK(ann::grouped_linear_value(acc, s_w, 3, 1, 0.5f, 0.125f) == doctest::Approx(51.5f).epsilon(1e-6));
  for (std::int64_t a : {0L, 1L, -17L, 123456789L}) {
    const float one = ann::grouped_linear_value(&a, s_w + 2, 1, 1, 0.37f, -0.2f);
    const float lin = ann::linear_value(a, 0.37f, s_w[2], -0.2f);
    CHECK(std::memcmp(&one, &lin, sizeof(float)) == 0);
  }
}

TEST_CASE("run_qann of a grouped Linear equals the dense FakeQuant evaluation and the grouped formula") {
  for (std::int64_t group : {4, 8, 16}) {
    CAPTURE(group);
    const Graph q = grouped_linear_graph(6, 32, 10, group, DType::f32, 0.02f);
    const Graph d = grouped_linear_graph(6, 32, 10, group, DType::i8, 0.02f);
    const ann::IntWeights iw = ann::int_weights(q.value(q.node(NodeId(1)).inputs[1]), "fc");
    CHECK(iw.groups == 32 / group);
    CHECK(iw.group_rows == group);
    CHECK(iw.step.size() == static_cast<std::size_t>((32 / group) * 10));
    const std::vector<Tensor> in{random_f32({6, 32}, 11)};
    const Tensor got = ann::run_qann(q, in).outputs.at(0);
    // The dense engine dequantizes the i8 weight with the block steps (plan time) and runs the reference
    // FakeQuant and Linear in float: equal up to float rounding of a 32-term dot product.
    const Tensor want = ann::Engine(d, {.reference_only = true}).run(in).at(0);
    CHECK(test::max_rel_error(got, want) <= 2e-5f);
    // The grouped formula by hand (integer partial sums, groups summed in order), bit for bit.
    const std::vector<float> xs = in[0].to_f32(), gy = got.to_f32(), bias = q.value(q.node(NodeId(1)).inputs[2]).constant->to_f32();
    int mismatches = 0;
    for (std::int64_t r = 0; r < 6; ++r)
      for (std::int64_t j = 0; j < 10; ++j) {
        float y = 0.0f;
        for (std::int64_t gi = 0; gi < iw.groups; ++gi) {
          std::int64_t acc = 0;
          for (std::int64_t kk = gi * group; kk < (gi + 1) * group; ++kk) {
            const auto lvl = static_cast<std::int64_t>(
                std::clamp(std::floor(xs[static_cast<std::size_t>(r * 32 + kk)] / 0.02f + 0.5f), -128.0f, 127.0f));
            acc += lvl * iw.w[static_cast<std::size_t>(kk * 10 + j)];
          }
          const float term = (0.02f * iw.step[static_cast<std::size_t>(gi * 10 + j)]) * static_cast<float>(acc);
          y = gi == 0 ? term : y + term;
        }
        y = y + bias[static_cast<std::size_t>(j)];
        mismatches += std::memcmp(&y, &gy[static_cast<std::size_t>(r * 10 + j)], sizeof(float)) != 0;
      }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("int_weights refuses groups that do not divide K or a wrong step count and names the weight") {
  Graph q = grouped_linear_graph(2, 32, 10, 8, DType::f32, 0.02f);
  Value& w = q.value(q.node(NodeId(1)).inputs[1]);
  w.quant->group_size = 5;
  CHECK_THROWS_WITH_AS(ann::int_weights(w, "node 'fc'"), doctest::Contains("divide K = 32"), UnsupportedError);
  w.quant->group_size = 8;
  w.quant->scale.pop_back();
  CHECK_THROWS_WITH_AS(ann::int_weights(w, "node 'fc'"), doctest::Contains("'w' has 39 steps"), UnsupportedError);
}

}  // TEST_SUITE

}  // namespace snnconv
