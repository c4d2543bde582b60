// The MSE clip search (converter/quantize.hpp): the multi-lane error sums are bit-identical to the one-step
// reference, and choose_step picks what the one-candidate-at-a-time search picks.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv {
namespace {

// The search as it was written before the lanes: the whole range first, then 96 clips from 100% down to 5%,
// the smallest error wins, ties to the wider clip.
float reference_mse_step(const PointStats& st, std::int32_t n_min, std::int32_t n_max) {
  const float range = n_min < 0 ? std::max(-st.min, st.max) : std::max(st.max, 0.0f);
  if (!(range > 0.0f) || n_max <= 0) return 1.0f;
  constexpr int kCandidates = 96;
  float best = range / static_cast<float>(n_max);
  double best_err = quant_mse(st.values, best, n_min, n_max);
  for (int i = kCandidates - 1; i >= 0; --i) {
    const float c = range * (0.05f + 0.95f * static_cast<float>(i) / static_cast<float>(kCandidates));
    const float s = c / static_cast<float>(n_max);
    const double e = quant_mse(st.values, s, n_min, n_max);
    if (e < best_err) {
      best_err = e;
      best = s;
    }
  }
  return best;
}

PointStats stats_of(std::vector<float> values) {
  PointStats st;
  st.min = INFINITY;
  st.max = -INFINITY;
  for (float x : values) {
    st.min = std::min(st.min, x);
    st.max = std::max(st.max, x);
  }
  st.values = std::move(values);
  return st;
}

std::vector<PointStats> distributions() {
  std::mt19937 rng(7);
  std::vector<PointStats> out;
  std::normal_distribution<float> normal(0.3f, 1.7f);
  std::student_t_distribution<float> heavy(2.0f);
  std::vector<float> a, b, c, d;
  for (int i = 0; i < 20000; ++i) {
    const float z = normal(rng);
    a.push_back(z);
    b.push_back(std::max(z, 0.0f));  // a ReLU output
    c.push_back(heavy(rng) * 0.05f);  // heavy tails: the search clips hard
    d.push_back(std::floor(z * 4.0f) / 4.0f);  // values on a grid: many exact ties between candidates
  }
  out.push_back(stats_of(a));
  out.push_back(stats_of(b));
  out.push_back(stats_of(c));
  out.push_back(stats_of(d));
  out.push_back(stats_of({0.5f, 0.5f, 0.5f}));
  return out;
}

// Every lane of a W-step pass against quant_mse at that step, bit for bit; the number of sums compared.
template <int W, typename Lanes> int compare_lanes(Lanes lanes_of, float spread) {
  int compared = 0;
  for (const PointStats& st : distributions()) {
    for (auto [lo, hi] : {std::pair{-8, 7}, std::pair{0, 15}, std::pair{-128, 127}, std::pair{0, 3}}) {
      float steps[W];
      for (int l = 0; l < W; ++l) steps[l] = (0.01f + spread * static_cast<float>(l)) / static_cast<float>(hi);
      double lanes[W];
      lanes_of(st.values, steps, lo, hi, lanes);
      for (int l = 0; l < W; ++l) {
        const double ref = quant_mse(st.values, steps[l], lo, hi);
        CHECK(std::memcmp(&ref, &lanes[l], sizeof ref) == 0);
        ++compared;
      }
    }
  }
  return compared;
}

TEST_CASE("quant_mse_lanes: every lane's sum equals quant_mse's, bit for bit") {
  CHECK(compare_lanes<kMseLanes>(quant_mse_lanes, 0.37f) == 5 * 4 * kMseLanes);
}

TEST_CASE("quant_mse_lanes16 (AVX-512): every lane's sum equals quant_mse's, bit for bit") {
  if (detected_isa() < Isa::avx512) return;  // no AVX-512 on this CPU: the 8-lane pass above is the one that runs
  CHECK(compare_lanes<kMseLanesWide>(quant_mse_lanes16, 0.23f) == 5 * 4 * kMseLanesWide);
}

TEST_CASE("choose_step with clip mse: the same step as the one-at-a-time search") {
  QuantizeOptions o;
  o.clip = ClipMethod::mse;
  int clipped = 0;
  for (const PointStats& st : distributions()) {
    for (auto [lo, hi] : {std::pair{-8, 7}, std::pair{0, 15}, std::pair{-2, 1}, std::pair{-32768, 32767}}) {
      const float got = choose_step(st, lo, hi, o);
      const float want = reference_mse_step(st, lo, hi);
      CHECK(std::memcmp(&got, &want, sizeof got) == 0);
      const float range = lo < 0 ? std::max(-st.min, st.max) : std::max(st.max, 0.0f);
      if (got < range / static_cast<float>(hi)) ++clipped;
    }
  }
  CHECK(clipped > 0);  // the search does clip somewhere: the comparison covers more than the first candidate
}

}  // namespace
}  // namespace snnconv
