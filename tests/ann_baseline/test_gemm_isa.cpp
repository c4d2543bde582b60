// The packed GEMM (snnconv/ann_baseline/gemm.hpp) per instruction set: against a double-precision product, and
// AVX-512 against AVX2 bit for bit (each element is the same FMA chain over k in both). The AVX-512 cases need
// the CPU to have it; ctest `ann_kernels_avx512` runs them and reports "skipped" (code 77) elsewhere.
#include <doctest/doctest.h>

#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine_test_util.hpp"
#include "snnconv/ann_baseline/gemm.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv {
namespace {

struct Case {
  std::int64_t m, k, n;
  Activation act;
  bool bias, residual;
};

// The cases cover short row tiles (every remainder of 6 and 12), partial panels, k across several blocks of 256
// (both sides of kInPlaceMaxK), k = 0 and 1, and every epilogue.
std::vector<Case> cases() {
  std::vector<Case> out;
  for (std::int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 23, 50})
    for (std::int64_t n : {1, 16, 33, 70}) out.push_back({m, 37, n, Activation::none, true, false});
  // k up to kInPlaceMaxK reads the rows of x in place; above, the packed-A tiles over blocks of 256.
  for (std::int64_t k : {0, 1, 255, 256, 600, 1024, 1100}) out.push_back({19, k, 45, Activation::relu, true, true});
  out.push_back({40, 1300, 70, Activation::gelu, true, true});
  out.push_back({64, 96, 130, Activation::gelu, true, false});
  out.push_back({3, 96, 300, Activation::gelu, true, true});
  out.push_back({8, 700, 530, Activation::relu, true, true});
  out.push_back({30, 64, 48, Activation::gelu_tanh, false, true});
  out.push_back({130, 300, 200, Activation::relu, false, false});
  out.push_back({197, 300, 96, Activation::none, true, true});   // row blocks cut evenly (197 tokens)
  out.push_back({197, 1100, 64, Activation::gelu, true, false});  // the same above kInPlaceMaxK
  out.push_back({1100, 300, 300, Activation::gelu, true, true});  // x and y above 2 MiB: the streaming kernels
  return out;
}

std::vector<float> run(const Case& c, Isa isa, int threads, const Tensor& x, const Tensor& w, const Tensor& b,
                       const Tensor& r) {
  const ann::gemm::PackedF32 p = ann::gemm::pack_f32(w.data<float>(), c.k, c.n, false, isa);
  CHECK(p.panel == ann::gemm::panel_width(isa));
  std::vector<float> y(static_cast<std::size_t>(c.m * c.n), -7.0f);
  tbb::task_arena arena(threads);
  arena.execute([&] {
    ann::gemm::multiply_f32(x.data<float>(), c.m, p, c.bias ? b.data<float>() : nullptr, c.act, y.data(),
                            c.residual ? r.data<float>() : nullptr);
  });
  return y;
}

double reference(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r, std::int64_t i,
                 std::int64_t j) {
  double acc = 0.0;
  for (std::int64_t p = 0; p < c.k; ++p) acc += double{x.data<float>()[i * c.k + p]} * w.data<float>()[p * c.n + j];
  if (c.bias) acc += b.data<float>()[j];
  if (c.act == Activation::relu) acc = acc < 0 ? 0 : acc;
  if (c.act == Activation::gelu) acc = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
  if (c.act == Activation::gelu_tanh)
    acc = 0.5 * acc * (1.0 + std::tanh(0.7978845608028654 * (acc + 0.044715 * acc * acc * acc)));
  if (c.residual) acc += r.data<float>()[i * c.n + j];
  return acc;
}

void check_isa(Isa isa) {
  std::uint32_t seed = 1;
  for (const Case& c : cases()) {
    CAPTURE(c.m);
    CAPTURE(c.k);
    CAPTURE(c.n);
    const Tensor x = test::random_f32({c.m, std::max<std::int64_t>(c.k, 1)}, seed++);
    const Tensor w = test::random_f32({std::max<std::int64_t>(c.k, 1), c.n}, seed++);
    const Tensor b = test::random_f32({c.n}, seed++);
    const Tensor r = test::random_f32({c.m, c.n}, seed++);
    const std::vector<float> y1 = run(c, isa, 1, x, w, b, r);
    const std::vector<float> y2 = run(c, isa, 2, x, w, b, r);
    CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)) == 0);
    double worst = 0.0;
    for (std::int64_t i = 0; i < c.m; ++i)
      for (std::int64_t j = 0; j < c.n; ++j) {
        const double want = reference(c, x, w, b, r, i, j);
        worst = std::max(worst, std::abs(y1[static_cast<std::size_t>(i * c.n + j)] - want) / (1.0 + std::abs(want)));
      }
    CHECK(worst < 1e-5 * std::max(1.0, static_cast<double>(c.k) / 256.0));  // a dot product of k terms: error ~ k eps
    if (isa != Isa::avx2) {  // the same bits as the baseline kernel
      const std::vector<float> base = run(c, Isa::avx2, 1, x, w, b, r);
      CHECK(std::memcmp(y1.data(), base.data(), y1.size() * sizeof(float)) == 0);
    }
  }
}

// Row invariance: a row's result does not depend on how many rows share the call (the small-window kernel for
// up to 8 rows, the tiled one above): what makes speculative verification reproduce single steps.
void check_row_invariance(Isa isa) {
  const std::int64_t k = 300, n = 530, m = 30;
  const Tensor x = test::random_f32({m, k}, 91), w = test::random_f32({k, n}, 92), b = test::random_f32({n}, 93);
  const ann::gemm::PackedF32 p = ann::gemm::pack_f32(w.data<float>(), k, n, false, isa);
  for (Activation act : {Activation::none, Activation::gelu, Activation::gelu_tanh}) {
    std::vector<float> all(static_cast<std::size_t>(m * n));
    ann::gemm::multiply_f32(x.data<float>(), m, p, b.data<float>(), act, all.data());
    for (std::int64_t rows : {1, 2, 3, 5, 6, 7, 8, 9, 13}) {
      for (std::int64_t r0 : {std::int64_t{0}, std::int64_t{11}}) {
        std::vector<float> part(static_cast<std::size_t>(rows * n));
        ann::gemm::multiply_f32(x.data<float>() + r0 * k, rows, p, b.data<float>(), act, part.data());
        CAPTURE(rows);
        CAPTURE(r0);
        CHECK(std::memcmp(part.data(), all.data() + r0 * n, part.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_SUITE("unit") {

TEST_CASE("packed GEMM is row-invariant (AVX2): a row's bits do not depend on the rows beside it") {
  check_row_invariance(Isa::avx2);
}

TEST_CASE("packed GEMM is row-invariant (AVX-512)") {
  if (detected_isa() < Isa::avx512) {
    MESSAGE("skipped: this CPU has no AVX-512 (ctest ann_kernels_avx512 reports the skip)");
    return;
  }
  check_row_invariance(Isa::avx512);
}

TEST_CASE("packed GEMM, AVX2 micro-kernel: against double, 1 and 2 threads bit-identical") { check_isa(Isa::avx2); }

TEST_CASE("packed GEMM, AVX-512 micro-kernel: against double and bit-identical to AVX2 (needs AVX-512)") {
  if (detected_isa() < Isa::avx512) {
    MESSAGE("skipped: this CPU has no AVX-512 (ctest ann_kernels_avx512 reports the skip)");
    return;
  }
  check_isa(Isa::avx512);
}

}  // TEST_SUITE

}  // namespace
}  // namespace snnconv
