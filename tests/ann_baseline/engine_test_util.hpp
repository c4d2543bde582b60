// Helpers for the engine tests: random tensors and the check every fast kernel must pass — the engine with
// fast kernels agrees with the engine running the reference kernels, and is bit-identical for 1 and 2
// threads.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../../ann_baseline/src/gemm_packed.hpp"
#include "graph_builder.hpp"
#include "snnconv/ann_baseline/engine.hpp"

namespace snnconv::test {

// The kernel a Linear / MatMul with constant weights gets: the packed micro-kernel where the build has
// AVX2/FMA, Eigen otherwise.
inline std::string weight_gemm_kernel() { return ann::kernels::packed_gemm_available() ? "packed_gemm" : "eigen_gemm"; }

inline Tensor random_f32(const Shape& s, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DType::f32, s);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

inline float max_rel_error(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == DType::f32);
  float worst = 0.0f;
  const float* a = got.data<float>();
  const float* b = want.data<float>();
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::isnan(a[i]) || std::isnan(b[i])) return std::numeric_limits<float>::infinity();  // one NaN only
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      if (a[i] != b[i]) return std::numeric_limits<float>::infinity();
      continue;
    }
    worst = std::max(worst, std::fabs(a[i] - b[i]) / (1.0f + std::fabs(b[i])));
  }
  return worst;
}

// Runs `g` with fast kernels (1 and 2 threads) and with reference kernels only. Checks that node
// `node_index` got the kernel `kernel` (a fast one), that fast and reference agree within `tol` relative,
// and that 1 and 2 threads give identical bytes.
inline void check_fast_kernel(const Graph& g, const std::vector<Tensor>& inputs, const std::string& kernel,
                              float tol = 1e-5f, std::size_t node_index = 0) {
  ann::Engine fast1(g, {.threads = 1});
  ann::Engine fast2(g, {.threads = 2});
  ann::Engine ref(g, {.threads = 1, .reference_only = true});
  CHECK(fast1.kernel_names().at(node_index) == kernel);
  CHECK(ref.kernel_names().at(node_index) == "reference");
  const auto a = fast1.run(inputs);
  const auto b = fast2.run(inputs);
  const auto r = ref.run(inputs);
  REQUIRE(a.size() == r.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].identical(b[i]));
    CHECK(max_rel_error(a[i], r[i]) <= tol);
  }
}

}  // namespace snnconv::test
