// The planner's fusion of the integer-form export's quantization points (plan_levels.cpp, kernels_levels.cpp):
// the fused step writes exactly the bytes of the unfused chain (the engine without plan rewrites, and the
// reference kernels), on random inputs and on the edges (ties at .5, values beyond the clamp, -0.0, huge
// magnitudes, infinities, NaN), 1 and 2 threads; chains that differ from the export's pattern are not fused.
#include <doctest/doctest.h>

#include <cmath>
#include <iterator>
#include <limits>
#include <string>

#include "engine_test_util.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv {
namespace {

struct ChainCase {
  DType q_type;
  float step, lo, hi, unit;
  std::int32_t zero;
  bool floor;                // the Less / Cast / Sub correction (the export writes it for signed levels)
  bool q_is_output = false;  // q is also a graph output
  bool leak_clamp = false;   // the Min output is also a graph output: not the pattern, must stay unfused
};

ValueId scalar(Graph& g, const std::string& name, float v) {
  return g.add_constant(name, Tensor::scalar<float>(v));
}

// x -> the export's chain -> q; outputs Cast<f32>(q), DequantizeLinear(q) (and q, the clamp when asked).
Graph chain_graph(const ChainCase& c, const Shape& shape) {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, shape);
  const ValueId s = scalar(g, "s", c.step);
  const ValueId r = test::node(g, OpKind::Div, {x, s})[0];
  const ValueId v = test::node(g, OpKind::Add, {r, scalar(g, "half", 0.5f)})[0];
  const ValueId cl = test::node(g, OpKind::Max, {v, scalar(g, "lo", c.lo)})[0];
  const ValueId cm = test::node(g, OpKind::Min, {cl, scalar(g, "hi", c.hi)})[0];
  const ValueId ti = test::node(g, OpKind::Cast, {cm}, CastAttrs{DType::i32})[0];
  ValueId t = test::node(g, OpKind::Cast, {ti}, CastAttrs{DType::f32})[0];
  if (c.floor) {
    const ValueId below = test::node(g, OpKind::Less, {cm, t})[0];
    const ValueId bf = test::node(g, OpKind::Cast, {below}, CastAttrs{DType::f32})[0];
    t = test::node(g, OpKind::Sub, {t, bf})[0];
  }
  const ValueId zero = c.q_type == DType::i8
                           ? g.add_constant("zero", Tensor::scalar<std::int8_t>(static_cast<std::int8_t>(c.zero)))
                           : g.add_constant("zero", Tensor::scalar<std::uint8_t>(static_cast<std::uint8_t>(c.zero)));
  const ValueId q =
      test::node(g, OpKind::QuantizeLinear, {t, scalar(g, "unit", c.unit), zero}, AxisAttrs{1}, 1, "quant")[0];
  const ValueId levels = test::node(g, OpKind::Cast, {q}, CastAttrs{DType::f32})[0];
  const ValueId deq = test::node(g, OpKind::DequantizeLinear, {q, s, zero}, AxisAttrs{1})[0];
  std::vector<ValueId> outs{levels, deq};
  if (c.q_is_output) outs.push_back(q);
  if (c.leak_clamp) outs.push_back(cm);
  g.set_outputs(outs);
  return g;
}

// Random values over twice the clamp range, then the edges at the front (not a multiple of 8 elements long, so
// the scalar tail runs too).
Tensor chain_input(const ChainCase& c, const Shape& shape) {
  const float span = std::max(std::fabs(c.lo), std::fabs(c.hi)) * c.step * 2.0f;
  Tensor x = test::random_f32(shape, 7, -span, span);
  float* p = x.data<float>();
  const float inf = std::numeric_limits<float>::infinity();
  const float edges[] = {0.0f,
                         -0.0f,
                         inf,
                         -inf,
                         std::numeric_limits<float>::quiet_NaN(),
                         3e38f,
                         -3e38f,
                         1e-30f,
                         -1e-30f,
                         c.lo * c.step,
                         c.hi * c.step,
                         (c.lo - 5.0f) * c.step,
                         (c.hi + 5.0f) * c.step};
  std::int64_t i = 0;
  for (float e : edges) p[i++] = e;
  for (int k = -140; k <= 140; ++k) {  // ties: (k + 1/2) steps and their neighbours
    const float tie = (static_cast<float>(k) + 0.5f) * c.step;
    p[i++] = tie;
    p[i++] = std::nextafter(tie, -inf);
    p[i++] = std::nextafter(tie, inf);
    p[i++] = -tie;
  }
  return x;
}

void check_chain(const ChainCase& c, bool expect_fused) {
  const Shape shape{5, 41, 333};  // 68,265 elements: parallel chunks and a scalar tail
  const Graph g = chain_graph(c, shape);
  const std::vector<Tensor> in{chain_input(c, shape)};
  ann::Engine fused1(g, {.threads = 1});
  ann::Engine fused2(g, {.threads = 2});
  ann::Engine unfused(g, {.threads = 1, .plan_rewrites = false});
  ann::Engine ref(g, {.threads = 1, .reference_only = true});
  std::size_t quant = 0, folded = 0;
  const auto names = fused1.kernel_names();
  for (std::size_t i = 0; i < g.num_nodes(); ++i) {
    if (g.node(NodeId(static_cast<std::uint32_t>(i))).name == "quant") quant = i;
    folded += names[i] == "folded_into_level_point";
  }
  if (expect_fused) {
    CHECK(names[quant] == "level_point");
    CHECK(folded == (c.floor ? 11u : 8u));  // every other node of the chain, the Cast<f32> and the DequantizeLinear
  } else {
    CHECK(names[quant] != "level_point");
    CHECK(folded == 0);
  }
  CHECK(unfused.kernel_names()[quant] != "level_point");
  const auto a = fused1.run(in), b = fused2.run(in), u = unfused.run(in), r = ref.run(in);
  REQUIRE(a.size() == r.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].identical(b[i]));
    CHECK(a[i].identical(u[i]));
    CHECK(a[i].identical(r[i]));
  }
}

TEST_CASE("fused quantization point: signed levels with the floor correction, bit for bit") {
  check_chain({DType::i8, 0.0173f, -128.0f, 127.0f, 1.0f, 0, true}, true);
  check_chain({DType::i8, 0.25f, -7.0f, 7.0f, 1.0f, 0, true, true}, true);  // 4-bit levels, q read too
}

TEST_CASE("fused quantization point: unsigned levels (truncation only), bit for bit") {
  check_chain({DType::u8, 0.0041f, 0.0f, 255.0f, 1.0f, 0, false}, true);
  check_chain({DType::u8, 0.5f, 0.0f, 15.0f, 1.0f, 0, false, true}, true);
}

TEST_CASE("fused quantization point: any constants compute as their nodes do") {
  // A QuantizeLinear step other than 1 (its division rounds half to even) and a non-zero zero point saturating.
  check_chain({DType::i8, 0.031f, -100.0f, 100.0f, 2.0f, 5, true}, true);
  check_chain({DType::u8, 0.031f, -20.0f, 300.0f, 3.0f, 7, false}, true);
}

TEST_CASE("fused quantization point, AVX-512: the 16-lane loop and its masked tail bit for bit (needs AVX-512)") {
  // The other cases run whichever loop active_isa() picks: this one says which, so that ctest ann_kernels_avx512
  // lists it; ann_baseline_isa_avx2 runs every case on the AVX2 loop.
  if (active_isa() < Isa::avx512) {
    MESSAGE("skipped: this CPU has no AVX-512 (ctest ann_kernels_avx512 reports the skip)");
    return;
  }
  check_chain({DType::i8, 0.0173f, -128.0f, 127.0f, 1.0f, 0, true}, true);
  check_chain({DType::u8, 0.031f, -20.0f, 300.0f, 3.0f, 7, false, true}, true);
}

TEST_CASE("fused quantization point: a chain that differs from the pattern stays unfused") {
  check_chain({DType::i8, 0.0173f, -128.0f, 127.0f, 1.0f, 0, true, false, true}, false);
}

// ---- LayerNorm and Softmax on levels, per row (the export's layer_norm_integer / softmax_integer) ----------

ValueId row_sum(Graph& g, ValueId x) {
  return test::node(g, OpKind::ReduceSum, {x}, ReduceAttrs{{-1}, true})[0];
}

// levels f32 [.., n] -> the export's LayerNorm on levels (16 nodes) -> f32.
Graph layer_norm_graph(const Shape& shape, std::int64_t cols, bool beta, bool leak_sum) {
  Graph g;
  const std::int64_t n = shape.back();
  const ValueId x = test::input(g, "levels", DType::f32, shape);
  const ValueId qi = test::node(g, OpKind::Cast, {x}, CastAttrs{DType::i64})[0];
  const ValueId c = g.add_constant("cols", Tensor::scalar<std::int64_t>(cols));
  const ValueId s1 = row_sum(g, qi);
  const ValueId s2 = row_sum(g, test::node(g, OpKind::Mul, {qi, qi})[0]);
  const ValueId d = test::node(g, OpKind::Sub, {test::node(g, OpKind::Mul, {qi, c})[0], s1})[0];
  const ValueId v =
      test::node(g, OpKind::Sub, {test::node(g, OpKind::Mul, {s2, c})[0], test::node(g, OpKind::Mul, {s1, s1})[0]})[0];
  const ValueId vf = test::node(g, OpKind::Cast, {v}, CastAttrs{DType::f32})[0];
  const ValueId den = test::node(g, OpKind::Sqrt, {test::node(g, OpKind::Add, {vf, scalar(g, "eps", 0.37f)})[0]})[0];
  const ValueId df = test::node(g, OpKind::Cast, {d}, CastAttrs{DType::f32})[0];
  const ValueId norm = test::node(g, OpKind::Div, {df, den})[0];
  const Tensor gam = test::random_f32({n}, 21, 0.5f, 1.5f), bet = test::random_f32({n}, 22, -0.5f, 0.5f);
  ValueId y = test::node(g, OpKind::Mul, {norm, g.add_constant("gamma", gam)}, NoAttrs{}, 1, "gamma_mul")[0];
  if (beta) y = test::node(g, OpKind::Add, {y, g.add_constant("beta", bet)}, NoAttrs{}, 1, "beta_add")[0];
  std::vector<ValueId> outs{y};
  if (leak_sum) outs.push_back(s1);
  g.set_outputs(outs);
  return g;
}

// levels f32 [.., n] -> the export's Softmax on levels (no mask) -> f32.
Graph softmax_graph(const Shape& shape, std::int64_t table_size) {
  Graph g;
  const ValueId x = test::input(g, "levels", DType::f32, shape);
  const ValueId qi = test::node(g, OpKind::Cast, {x}, CastAttrs{DType::i64})[0];
  std::vector<std::int64_t> table(static_cast<std::size_t>(table_size));
  for (std::int64_t k = 0; k < table_size; ++k)
    table[static_cast<std::size_t>(k)] =
        static_cast<std::int64_t>(std::llround(1073741824.0 * std::exp(-0.05 * double(k))));
  const ValueId tab = g.add_constant("table", Tensor::from_vector<std::int64_t>({table_size}, table));
  const ValueId top = test::node(g, OpKind::ReduceMax, {qi}, ReduceAttrs{{-1}, true})[0];
  const ValueId k = test::node(g, OpKind::Sub, {top, qi})[0];
  const ValueId w = test::node(g, OpKind::Gather, {tab, k}, AxisAttrs{0})[0];
  const ValueId sum = row_sum(g, w);
  const ValueId y = test::node(g, OpKind::Div,
                               {test::node(g, OpKind::Cast, {w}, CastAttrs{DType::f32})[0],
                                test::node(g, OpKind::Cast, {sum}, CastAttrs{DType::f32})[0]},
                               NoAttrs{}, 1, "probs")[0];
  g.set_outputs({y});
  return g;
}

// Integer levels in [lo, hi], with a few rows (the first ones) off the byte grid: fractions, -0, NaN, beyond 2^15.
Tensor level_input(const Shape& shape, int lo, int hi, bool odd_rows) {
  Tensor x = test::random_f32(shape, 13, static_cast<float>(lo), static_cast<float>(hi) + 0.999f);
  for (float& v : x.span<float>()) v = std::floor(v);
  if (odd_rows) {
    float* p = x.data<float>();
    const float odd[] = {-0.0f, 2.5f, -3.75f, std::numeric_limits<float>::quiet_NaN(), 40000.0f, -70000.5f, 1e12f};
    for (std::size_t i = 0; i < std::size(odd); ++i) p[i * 3] = odd[i];
  }
  return x;
}

void check_rows(const Graph& g, const Tensor& in, const std::string& kernel, std::size_t folded_expected) {
  ann::Engine fused1(g, {.threads = 1});
  ann::Engine fused2(g, {.threads = 2});
  ann::Engine unfused(g, {.threads = 1, .plan_rewrites = false});
  ann::Engine ref(g, {.threads = 1, .reference_only = true});
  const auto names = fused1.kernel_names();
  std::size_t fused = 0, folded = 0;
  for (const auto& nm : names) {
    fused += nm == kernel;
    folded += nm == "folded_into_row_unit";
  }
  CHECK(fused == (kernel.empty() ? 0u : 1u));
  CHECK(folded == folded_expected);
  const std::vector<Tensor> inputs{in};
  const auto a = fused1.run(inputs), b = fused2.run(inputs), u = unfused.run(inputs), r = ref.run(inputs);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].identical(b[i]));
    CHECK(a[i].identical(u[i]));
    CHECK(a[i].identical(r[i]));
  }
}

TEST_CASE("fused LayerNorm on levels equals its 16 nodes bit for bit") {
  const Shape shape{6, 97, 130};  // 75,660 elements: parallel chunks
  check_rows(layer_norm_graph(shape, 130, true, false), level_input(shape, -128, 127, false), "layer_norm_levels", 15);
  check_rows(layer_norm_graph(shape, 130, false, false), level_input(shape, 0, 255, true), "layer_norm_levels", 14);
  // A factor beyond the int32 path, rows off the grid: the general path.
  check_rows(layer_norm_graph(shape, 1 << 20, true, false), level_input(shape, -128, 127, true), "layer_norm_levels",
             15);
  // The row sum is also an output: not the pattern.
  check_rows(layer_norm_graph(shape, 130, true, true), level_input(shape, -128, 127, false), "", 0);
}

TEST_CASE("fused Softmax on levels equals its nodes bit for bit, and fails as Gather on an index beyond the table") {
  const Shape shape{64, 4, 17, 17};
  check_rows(softmax_graph(shape, 256), level_input(shape, -128, 127, false), "softmax_levels", 7);
  check_rows(softmax_graph(shape, 256), level_input(shape, 0, 255, false), "softmax_levels", 7);
  // Rows off the grid, within the table.
  Tensor odd = level_input(shape, -100, 100, false);
  odd.data<float>()[0] = -0.0f;
  odd.data<float>()[1] = 2.75f;
  odd.data<float>()[2] = std::numeric_limits<float>::quiet_NaN();
  check_rows(softmax_graph(shape, 256), odd, "softmax_levels", 7);
  // A row spanning more than the table: both plans fail with Gather's error.
  const Graph g = softmax_graph(shape, 16);
  const std::vector<Tensor> in{level_input(shape, -128, 127, false)};
  ann::Engine fused(g, {.threads = 1});
  ann::Engine unfused(g, {.threads = 1, .plan_rewrites = false});
  CHECK_THROWS_WITH_AS(fused.run(in), doctest::Contains("out of range for dim 16"), ShapeError);
  CHECK_THROWS_WITH_AS(unfused.run(in), doctest::Contains("out of range for dim 16"), ShapeError);
}

}  // namespace
}  // namespace snnconv
