// The scoring functions of evaluate() and run_spiking() on the inputs that used to hang or mislead: ties,
// NaN, Inf, one class only. Each must terminate, and NaN has to be refused rather than ranked.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>

#include "snnconv/core/error.hpp"
#include "snnconv/pipeline/metrics.hpp"

using namespace snnconv;
using namespace snnconv::pipeline;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::nanf("");

// The ROC AUC by its definition: P(score of a positive > score of a negative) + P(tie) / 2, over all pairs.
double auc_by_pairs(const std::vector<float>& s, const std::vector<std::int64_t>& l) {
  double wins = 0.0, pairs = 0.0;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = 0; j < s.size(); ++j)
      if (l[i] == 1 && l[j] != 1) {
        pairs += 1.0;
        wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
  return wins / pairs;
}
}  // namespace

TEST_SUITE("unit") {
TEST_CASE("roc_auc equals the pairwise definition, ties and infinities included") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> s(1 + rng() % 40);
    std::vector<std::int64_t> l(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
      const unsigned r = rng() % 12;
      s[i] = r == 0 ? kInf : r == 1 ? -kInf : static_cast<float>(rng() % 5) * 0.25f;  // many ties
      l[i] = static_cast<std::int64_t>(rng() % 2);
    }
    l[0] = 1;
    if (s.size() > 1) l[1] = 0;
    const double auc = roc_auc(s, l);
    if (s.size() == 1) {
      CHECK(std::isnan(auc));  // one class absent
    } else {
      CHECK(auc == doctest::Approx(auc_by_pairs(s, l)).epsilon(1e-12));
    }
  }
}

TEST_CASE("roc_auc refuses a NaN score instead of looping on it") {
  // Before: the tie loop `while (score[j] == score[i]) ++j` never advanced on a NaN (100% CPU, forever).
  const std::vector<float> s{0.2f, kNan, 0.9f};
  const std::vector<std::int64_t> l{0, 1, 1};
  try {
    (void)roc_auc(s, l);
    FAIL("roc_auc accepted a NaN score");
  } catch (const NumericError& e) {
    CHECK(std::string(e.what()).find("score of sample 1 is nan") != std::string::npos);
  }
  CHECK_THROWS_AS(roc_auc(std::vector<float>{0.1f}, std::vector<std::int64_t>{1, 0}), UsageError);
}

TEST_CASE("argmax_row: first on ties, never a NaN unless all are") {
  CHECK(argmax_row(std::vector<float>{1, 3, 3, 2}) == 1);
  CHECK(argmax_row(std::vector<float>{kNan, 1, 2}) == 2);
  CHECK(argmax_row(std::vector<float>{0, kNan, -1}) == 0);
  CHECK(argmax_row(std::vector<float>{kNan, kNan}) == 0);
  CHECK(argmax_row(std::vector<float>{-kInf, kInf, 5}) == 1);
}

TEST_CASE("two_class_probability is torch.softmax in f32, saturating at 1") {
  CHECK(two_class_probability(0.0f, 0.0f) == 0.5f);
  CHECK(two_class_probability(-100.0f, 100.0f) == 1.0f);
  CHECK(two_class_probability(1.0f, 2.0f) == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
}

TEST_CASE("cross_entropy_nats: the log-softmax of the target, skipped and bad targets") {
  const std::vector<float> logits{0.0f, std::log(3.0f), 5.0f, 5.0f};  // two rows of two
  const double nats = cross_entropy_nats(logits, 2, std::vector<std::int64_t>{1, -1});
  CHECK(nats == doctest::Approx(-std::log(0.75)));
  CHECK(cross_entropy_nats(logits, 2, std::vector<std::int64_t>{0, 0}) ==
        doctest::Approx(-std::log(0.25) + std::log(2.0)));
  CHECK_THROWS_AS(cross_entropy_nats(logits, 2, std::vector<std::int64_t>{2, 0}), UsageError);
  CHECK_THROWS_AS(cross_entropy_nats(logits, 2, std::vector<std::int64_t>{0, 0, 0}), UsageError);
}
}
