// The QANN's own definitions of its floating-point units (qann.hpp): LayerNorm and Softmax on integer levels,
// the rational erf of its GELU. They must stay close to the float functions they stand for (the bounds below)
// and be independent of summation order (permuting a row permutes the output exactly).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "snnconv/ann_baseline/qann.hpp"

namespace snnconv {
namespace {

std::vector<std::int32_t> random_levels(std::mt19937& rng, std::int64_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<std::int32_t> q(static_cast<std::size_t>(n));
  for (auto& v : q) v = d(rng);
  return q;
}

TEST_SUITE("unit") {
  TEST_CASE("QANN LayerNorm on levels matches LayerNorm of s*q in double and is permutation-exact") {
    std::mt19937 rng(7);
    double worst = 0.0;
    for (int trial = 0; trial < 200; ++trial) {
      const std::int64_t cols = 8 + trial % 120;
      const float s = 0.001f * static_cast<float>(1 + trial % 37);
      const auto q = random_levels(rng, cols, -128, 127);
      std::vector<float> gamma(static_cast<std::size_t>(cols)), beta(gamma.size());
      for (std::size_t j = 0; j < gamma.size(); ++j) {
        gamma[j] = 0.5f + 0.01f * static_cast<float>(j % 50);
        beta[j] = -0.2f + 0.003f * static_cast<float>(j % 90);
      }
      std::vector<float> y(gamma.size());
      const float eps = 1e-5f;
      ann::whole_vector_row(DiffUnitAttrs::Fn::layer_norm, q.data(), s, cols, eps, gamma.data(), beta.data(), y.data());
      double mean = 0.0, var = 0.0;
      for (auto v : q) mean += double(s) * v;
      mean /= double(cols);
      for (auto v : q) var += (double(s) * v - mean) * (double(s) * v - mean);
      var /= double(cols);
      for (std::size_t j = 0; j < y.size(); ++j) {
        const double ref = (double(s) * q[j] - mean) / std::sqrt(var + eps) * gamma[j] + beta[j];
        worst = std::max(worst, std::abs(ref - double(y[j])));
      }
      // Reversing the row reverses the output bit for bit (integer sums: no order dependence).
      std::vector<std::int32_t> rq(q.rbegin(), q.rend());
      std::vector<float> rg(gamma.rbegin(), gamma.rend()), rb(beta.rbegin(), beta.rend()), ry(y.size());
      ann::whole_vector_row(DiffUnitAttrs::Fn::layer_norm, rq.data(), s, cols, eps, rg.data(), rb.data(), ry.data());
      REQUIRE(std::equal(y.begin(), y.end(), ry.rbegin()));
    }
    MESSAGE("QANN LayerNorm: max |error| vs double " << worst);
    CHECK(worst < 2e-6);
  }

  TEST_CASE("QANN Softmax on levels matches softmax of s*q in double, causal rows ignore hidden columns") {
    std::mt19937 rng(11);
    double worst = 0.0;
    for (int trial = 0; trial < 200; ++trial) {
      const std::int64_t cols = 4 + trial % 60;
      const float s = 0.01f + 0.005f * static_cast<float>(trial % 40);
      const auto q = random_levels(rng, cols, -128, 127);
      const std::int64_t valid = trial % 3 == 0 ? 1 + trial % cols : -1;
      const std::int64_t n = valid < 0 ? cols : valid;
      std::vector<float> y(static_cast<std::size_t>(cols));
      ann::whole_vector_row(DiffUnitAttrs::Fn::softmax, q.data(), s, cols, 0.0f, nullptr, nullptr, y.data(), valid);
      const int top = *std::max_element(q.begin(), q.begin() + n);
      double sum = 0.0;
      for (std::int64_t j = 0; j < n; ++j) sum += std::exp(double(s) * (q[std::size_t(j)] - top));
      for (std::int64_t j = 0; j < cols; ++j) {
        const double ref = j < n ? std::exp(double(s) * (q[std::size_t(j)] - top)) / sum : 0.0;
        worst = std::max(worst, std::abs(ref - double(y[std::size_t(j)])));
      }
      // The hidden columns take no part: changing them changes nothing.
      if (valid >= 0 && valid < cols) {
        auto q2 = q;
        for (std::int64_t j = valid; j < cols; ++j) q2[std::size_t(j)] = 127;
        std::vector<float> y2(y.size());
        ann::whole_vector_row(DiffUnitAttrs::Fn::softmax, q2.data(), s, cols, 0.0f, nullptr, nullptr, y2.data(), valid);
        REQUIRE(y2 == y);
      }
    }
    MESSAGE("QANN softmax: max |error| vs double " << worst);
    CHECK(worst < 5e-7);
    // The weight table: exp(-s*k) at 2^23, so k = 0 is exactly 2^23.
    CHECK(ann::softmax_weight(0, 0.3f) == (std::int64_t{1} << ann::kSoftmaxFracBits));
    CHECK(ann::softmax_weight(1000, 0.3f) == 0);
  }

  TEST_CASE("QANN erf and GELU stay within 5e-7 of libm's") {
    double worst_erf = 0.0, worst_gelu = 0.0;
    for (int i = -600000; i <= 600000; ++i) {
      const float x = static_cast<float>(i) * 1e-5f;
      worst_erf = std::max(worst_erf, std::abs(double(ann::qann_erf(x)) - std::erf(double(x))));
      const double g = 0.5 * double(x) * (1.0 + std::erf(double(x) / std::sqrt(2.0)));
      worst_gelu = std::max(worst_gelu, std::abs(double(ann::qann_gelu(x)) - g) / std::max(1.0, std::abs(double(x))));
    }
    MESSAGE("qann_erf max |error| " << worst_erf << ", qann_gelu max |error| / max(1, |x|) " << worst_gelu);
    CHECK(worst_erf < 5e-7);
    CHECK(worst_gelu < 5e-7);
    CHECK(ann::qann_erf(0.0f) == 0.0f);
    CHECK(ann::qann_erf(-1.5f) == -ann::qann_erf(1.5f));
  }
}

}  // namespace
}  // namespace snnconv
