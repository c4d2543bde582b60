// Pearson's chi-square goodness-of-fit test for sampled categorical data, used to check that a sampler
// follows a given distribution. Categories with an expected count below 5 are pooled into one (and
// dropped if even the pool stays below 5), the usual validity rule for the chi-square approximation.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace snnconv::test {

struct ChiSquare {
  double statistic = 0.0;
  int degrees_of_freedom = 0;  // categories after pooling, minus one
};

// counts[i]: observed draws of category i; probabilities[i]: its probability (summing to 1). A draw of a
// category of probability 0 makes the statistic infinite. When the pooled categories still expect fewer
// than 5 draws, the pool joins the kept category with the smallest expectation.
inline ChiSquare chi_square(const std::vector<std::int64_t>& counts, const std::vector<double>& probabilities) {
  std::int64_t n = 0;
  for (std::int64_t c : counts) n += c;
  std::vector<double> observed, expected;
  double pool_observed = 0.0, pool_expected = 0.0;
  ChiSquare r;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double e = probabilities[i] * static_cast<double>(n);
    if (probabilities[i] <= 0.0 && counts[i] > 0) r.statistic = INFINITY;
    if (e >= 5.0) {
      observed.push_back(static_cast<double>(counts[i]));
      expected.push_back(e);
    } else {
      pool_observed += static_cast<double>(counts[i]);
      pool_expected += e;
    }
  }
  if (pool_expected >= 5.0) {
    observed.push_back(pool_observed);
    expected.push_back(pool_expected);
  } else if (!expected.empty()) {
    std::size_t smallest = 0;
    for (std::size_t i = 1; i < expected.size(); ++i)
      if (expected[i] < expected[smallest]) smallest = i;
    observed[smallest] += pool_observed;
    expected[smallest] += pool_expected;
  }
  for (std::size_t i = 0; i < observed.size(); ++i)
    r.statistic += (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
  r.degrees_of_freedom = static_cast<int>(observed.size()) - 1;
  return r;
}

// The q-quantile of the chi-square distribution with k degrees of freedom by the Wilson-Hilferty
// approximation k (1 - 2/(9k) + z_q sqrt(2/(9k)))^3 (within ~1% for k >= 3 at q = 0.999); z_q is the
// standard normal quantile (3.0902323 for q = 0.999).
inline double chi_square_quantile(int k, double z_q) {
  const double a = 2.0 / (9.0 * k);
  const double c = 1.0 - a + z_q * std::sqrt(a);
  return k * c * c * c;
}

inline constexpr double kZ999 = 3.0902323061678132;

}  // namespace snnconv::test
