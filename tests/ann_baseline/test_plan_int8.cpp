// The planner's W8A8 path (plan_int8.cpp): which Linears take the int8 kernel, and that what they compute is the
// QANN's Linear (ann::linear_value on the exact integer sum) bit for bit, 1 and 2 threads, whichever ISA runs
// (ctest ann_baseline_isa_avx2 runs this file again with the dispatch capped to AVX2).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "engine_test_util.hpp"
#include "snnconv/ann_baseline/qann.hpp"

namespace snnconv {
namespace {

using test::max_rel_error;
using test::random_f32;

bool is_int8_kernel(const std::string& name) { return name == "int8_vnni" || name == "int8_avx2"; }

std::int64_t differing(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::int64_t d = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) d += std::memcmp(a.data<float>() + i, b.data<float>() + i, 4) != 0;
  return d;
}

struct PointCase {
  std::int32_t n_min, n_max, zero_point;
  bool relu;
  bool dequantized_weight;  // f32 constant of s_w * q (a QDQ import) instead of int8 levels with QuantParams
};

// x [2, 9, K] -> FakeQuant(step s, [n_min, n_max], zero point) -> Linear(W levels [K, N], steps s_w[N], bias).
void check_point_linear(const PointCase& pc) {
  const std::int64_t k = 37, n = 70;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> wd(-127, 127);
  std::uniform_real_distribution<float> sd(0.002f, 0.02f), bd(-1.0f, 1.0f);
  std::vector<std::int8_t> w(static_cast<std::size_t>(k * n));
  for (auto& v : w) v = static_cast<std::int8_t>(wd(rng));
  std::vector<float> s_w(static_cast<std::size_t>(n)), bias(static_cast<std::size_t>(n));
  for (auto& v : s_w) v = std::ldexp(1.0f, -7 - static_cast<int>(rng() % 3));  // W / s_w exact for the import case
  for (auto& v : bias) v = bd(rng);
  const float s_in = 0.0173f;

  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {2, 9, k});
  const ValueId fq = test::node(g, OpKind::FakeQuant, {x})[0];
  QuantParams aq;
  aq.n_min = pc.n_min;
  aq.n_max = pc.n_max;
  aq.scale = {s_in};
  aq.zero_point = {pc.zero_point};
  g.value(fq).quant = aq;
  QuantParams wq;
  wq.n_min = -127;
  wq.n_max = 127;
  wq.scale = s_w;
  wq.zero_point.assign(static_cast<std::size_t>(n), 0);
  wq.axis = 1;
  ValueId wv;
  if (pc.dequantized_weight) {
    std::vector<float> deq(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) deq[i] = s_w[i % static_cast<std::size_t>(n)] * static_cast<float>(w[i]);
    wv = g.add_constant("w", Tensor::from_vector<float>({k, n}, deq));
  } else {
    wv = g.add_constant("w", Tensor::from_vector<std::int8_t>({k, n}, w));
  }
  g.value(wv).quant = wq;
  const ValueId bv = g.add_constant("b", Tensor::from_vector<float>({n}, bias));
  const ValueId y = test::node(g, OpKind::Linear, {fq, wv, bv},
                               LinearAttrs{pc.relu ? Activation::relu : Activation::none})[0];
  g.set_outputs({y});

  // Inputs over the whole level range and beyond it (clamped), with exact ties (k + 1/2 steps).
  Tensor in = random_f32({2, 9, k}, 11, -3.0f, 3.0f);
  for (std::int64_t i = 0; i < 40; ++i) in.data<float>()[i] = (static_cast<float>(i) - 20.5f) * s_in;

  const std::vector<Tensor> ins{in};
  ann::Engine e1(g, {.threads = 1});
  ann::Engine e2(g, {.threads = 2});
  ann::Engine ref(g, {.threads = 1, .reference_only = true});
  const std::vector<std::string> names = e1.kernel_names();
  CHECK(is_int8_kernel(names.at(1)));
  CHECK(names.at(0) == "folded_into_int8_linear");  // the point's only reader quantizes by itself
  const Tensor got = e1.run(ins).at(0);
  CHECK(got.identical(e2.run(ins).at(0)));

  // The QANN's definition: level q = clamp(floor(x/s + 1/2) + zp, n_min, n_max) - zp, exact integer sum, then
  // linear_value (and the ReLU the Linear carries).
  Tensor want(DType::f32, got.shape());
  const float* xp = in.data<float>();
  for (std::int64_t r = 0; r < 18; ++r)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int64_t acc = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        const float v = std::clamp(std::floor(xp[r * k + i] / s_in + 0.5f) + static_cast<float>(pc.zero_point),
                                   static_cast<float>(pc.n_min), static_cast<float>(pc.n_max));
        acc += (static_cast<std::int64_t>(v) - pc.zero_point) * w[static_cast<std::size_t>(i * n + j)];
      }
      float yv = ann::linear_value(acc, s_in, s_w[static_cast<std::size_t>(j)], bias[static_cast<std::size_t>(j)]);
      if (pc.relu) yv = yv < 0.0f ? 0.0f : yv;
      want.data<float>()[r * n + j] = yv;
    }
  CHECK(differing(got, want) == 0);
  // The float path (reference kernels: dequantized levels times dequantized weights) agrees to rounding.
  CHECK(max_rel_error(got, ref.run(ins).at(0)) <= 1e-5f);
}

TEST_SUITE("unit") {

TEST_CASE("W8A8 plan: a quantization point feeding a Linear with int8 weights computes the QANN's Linear") {
  SUBCASE("u8 levels, ReLU") { check_point_linear({0, 255, 0, true, false}); }
  SUBCASE("s8 levels") { check_point_linear({-128, 127, 0, false, false}); }
  SUBCASE("u8 storage with zero point 128 (levels -128..127)") { check_point_linear({0, 255, 128, false, false}); }
  SUBCASE("4-bit levels, s8 storage") { check_point_linear({-8, 7, 0, false, false}); }
  SUBCASE("QDQ import: f32 dequantized weight carrying its steps") { check_point_linear({-128, 127, 0, false, true}); }
}

TEST_CASE("W8A8 plan: the integer-form export's Linear (Cast of u8 levels, Mul by steps, Add bias) folds into one") {
  const std::int64_t k = 33, n = 20;
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> wd(-127, 127), qd(0, 255);
  std::vector<float> w(static_cast<std::size_t>(k * n)), step(static_cast<std::size_t>(n)), bias(static_cast<std::size_t>(n));
  for (auto& v : w) v = static_cast<float>(wd(rng));
  for (std::size_t j = 0; j < step.size(); ++j) {
    step[j] = 0.01f * static_cast<float>(j + 1) / 7.0f;
    bias[j] = static_cast<float>(j) / 3.0f - 2.0f;
  }
  Graph g;
  const ValueId q = test::input(g, "q", DType::u8, {2, 7, k});
  const ValueId lv = test::node(g, OpKind::Cast, {q}, CastAttrs{DType::f32})[0];
  const ValueId acc = test::node(g, OpKind::Linear, {lv, g.add_constant("w", Tensor::from_vector<float>({k, n}, w))}, LinearAttrs{})[0];
  const ValueId sc = test::node(g, OpKind::Mul, {acc, g.add_constant("step", Tensor::from_vector<float>({n}, step))})[0];
  const ValueId y = test::node(g, OpKind::Add, {sc, g.add_constant("bias", Tensor::from_vector<float>({n}, bias))})[0];
  g.set_outputs({y});
  std::vector<std::uint8_t> levels(static_cast<std::size_t>(2 * 7 * k));
  for (auto& v : levels) v = static_cast<std::uint8_t>(qd(rng));
  const Tensor in = Tensor::from_vector<std::uint8_t>({2, 7, k}, levels);

  const std::vector<Tensor> ins{in};
  ann::Engine e1(g, {.threads = 1});
  ann::Engine e2(g, {.threads = 2});
  ann::Engine ref(g, {.threads = 1, .reference_only = true});
  const std::vector<std::string> names = e1.kernel_names();
  CHECK(names.at(0) == "folded_into_int8_linear");  // Cast
  CHECK(is_int8_kernel(names.at(1)));
  CHECK(names.at(2) == "folded_into_int8_linear");  // Mul
  CHECK(names.at(3) == "folded_into_int8_linear");  // Add
  const Tensor got = e1.run(ins).at(0);
  CHECK(got.identical(e2.run(ins).at(0)));
  // Sums of at most 33 * 255 * 127 < 2^24: the f32 reference computes them exactly, so every bit agrees.
  CHECK(differing(got, ref.run(ins).at(0)) == 0);
}

TEST_CASE("W8A8 plan: Linears outside the pattern stay on the f32 path") {
  // Weights that are not integer levels: the packed f32 GEMM.
  Graph g;
  const ValueId q = test::input(g, "q", DType::i8, {3, 16});
  const ValueId lv = test::node(g, OpKind::Cast, {q}, CastAttrs{DType::f32})[0];
  const ValueId y = test::node(g, OpKind::Linear, {lv, g.add_constant("w", random_f32({16, 8}, 3))}, LinearAttrs{})[0];
  g.set_outputs({y});
  ann::Engine e(g, {.threads = 1});
  CHECK(e.kernel_names().at(1) == test::weight_gemm_kernel());
}

}  // TEST_SUITE

}  // namespace
}  // namespace snnconv
