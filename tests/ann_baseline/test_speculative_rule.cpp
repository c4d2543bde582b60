// The parts of speculative decoding that need no model: the sampling distribution shared by sample_token
// and the verifier, the rejection rule (its output follows the target's distribution: chi-square test over
// 40,000 seeded trials, and a deliberately wrong rule fails the same test) and the expectation formulas.
#include <doctest/doctest.h>

#include <numeric>
#include <random>

#include "chi_square.hpp"
#include "snnconv/ann_baseline/speculative.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv {
namespace {

std::vector<float> random_logits(std::size_t v, std::uint64_t seed, float spread) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, spread);
  std::vector<float> x(v);
  for (float& f : x) f = n(rng);
  return x;
}

// Draws `trials` tokens by proposing x ~ q and emitting `rule(p, q, x)`, then tests them against p.
template <typename Rule>
test::ChiSquare first_token_test(const std::vector<double>& p, const std::vector<double>& q, int trials, Rule rule) {
  std::mt19937_64 rng(20240601);
  std::vector<std::int64_t> counts(p.size(), 0);
  for (int t = 0; t < trials; ++t) {
    const std::int64_t x = ann::sample_from(q, rng);
    ++counts[static_cast<std::size_t>(rule(p, q, x, rng))];
  }
  return test::chi_square(counts, p);
}

std::int64_t rejection_rule(const std::vector<double>& p, const std::vector<double>& q, std::int64_t x,
                            std::mt19937_64& rng) {
  return ann::verify_proposal(p, q, x, rng).token;
}

TEST_SUITE("unit") {
  TEST_CASE("speculative: sampling_distribution is what sample_token draws from") {
    const std::vector<float> logits = random_logits(256, 7, 2.0f);
    const ann::SamplingOptions o{0.8f, 40, 0.9f, 0};
    const std::vector<double> p = ann::sampling_distribution(logits, o);
    CHECK(std::accumulate(p.begin(), p.end(), 0.0) == doctest::Approx(1.0).epsilon(1e-12));
    const auto kept = std::count_if(p.begin(), p.end(), [](double v) { return v > 0.0; });
    CHECK(kept <= 40);
    CHECK(kept >= 1);
    // Greedy: one-hot at the argmax, the lowest id on ties.
    const std::vector<float> tie{1.0f, 3.0f, 3.0f, 0.0f};
    CHECK(ann::sampling_distribution(tie, {}) == std::vector<double>{0.0, 1.0, 0.0, 0.0});
    std::mt19937_64 rng(1);
    CHECK(ann::sample_token(tie, {}, rng) == 1);
    // Same seed, same draw: sample_token is sample_from(sampling_distribution).
    std::mt19937_64 a(99), b(99);
    for (int i = 0; i < 100; ++i) CHECK(ann::sample_token(logits, o, a) == ann::sample_from(p, b));
    CHECK_THROWS_AS(ann::sampling_distribution(logits, {1.0f, 0, 0.0f, 0}), UsageError);
    CHECK_THROWS_AS(ann::sampling_distribution(logits, {1.0f, -1, 1.0f, 0}), UsageError);
  }

  TEST_CASE("speculative: the rejection rule emits the target's distribution (chi-square)") {
    // Target and draft distributions after the same temperature / top-k / top-p transform, from related
    // logits (the draft is a noisy copy), so acceptances, rejections and tokens outside the draft's
    // top-k all occur.
    const std::vector<float> target_logits = random_logits(256, 11, 1.5f);
    std::vector<float> draft_logits = target_logits;
    const std::vector<float> noise = random_logits(256, 12, 1.0f);
    for (std::size_t i = 0; i < draft_logits.size(); ++i) draft_logits[i] += noise[i];
    const ann::SamplingOptions o{0.9f, 30, 0.95f, 0};
    const std::vector<double> p = ann::sampling_distribution(target_logits, o);
    const std::vector<double> q = ann::sampling_distribution(draft_logits, o);
    double overlap = 0.0;  // sum min(p, q): the acceptance probability of one proposal
    for (std::size_t i = 0; i < p.size(); ++i) overlap += std::min(p[i], q[i]);
    MESSAGE("acceptance probability sum min(p, q) = " << overlap);
    REQUIRE(overlap > 0.2);
    REQUIRE(overlap < 0.9);

    const int trials = 40000;
    const test::ChiSquare good = first_token_test(p, q, trials, rejection_rule);
    const double limit = test::chi_square_quantile(good.degrees_of_freedom, test::kZ999);
    MESSAGE("rejection rule: chi2 = " << good.statistic << ", df = " << good.degrees_of_freedom
                                      << ", 0.999 quantile = " << limit);
    REQUIRE(good.degrees_of_freedom >= 5);
    CHECK(good.statistic < limit);

    // A wrong rule must fail the same test: always accepting emits q, not p.
    const test::ChiSquare always = first_token_test(
        p, q, trials,
        [](const std::vector<double>&, const std::vector<double>&, std::int64_t x, std::mt19937_64&) { return x; });
    MESSAGE("always-accept rule: chi2 = " << always.statistic);
    CHECK(always.statistic > test::chi_square_quantile(always.degrees_of_freedom, test::kZ999));
    // Subtler: the right acceptance test but the correction drawn from p instead of norm(max(0, p - q)).
    const test::ChiSquare from_p = first_token_test(
        p, q, trials,
        [](const std::vector<double>& pp, const std::vector<double>& qq, std::int64_t x, std::mt19937_64& rng) {
          const ann::Verdict v = ann::verify_proposal(pp, qq, x, rng);
          return v.accepted ? x : ann::sample_from(pp, rng);
        });
    MESSAGE("resample-from-p rule: chi2 = " << from_p.statistic);
    CHECK(from_p.statistic > test::chi_square_quantile(from_p.degrees_of_freedom, test::kZ999));
  }

  TEST_CASE("speculative: verify_proposal accepts when p(x) >= q(x) and refuses bad input") {
    std::mt19937_64 rng(3);
    const std::vector<double> p{0.5, 0.5, 0.0}, q{0.25, 0.25, 0.5};
    for (int i = 0; i < 50; ++i) CHECK(ann::verify_proposal(p, q, 0, rng).accepted);
    // p(2) = 0: never accepted, and the correction comes from max(0, p - q), i.e. tokens 0 or 1.
    for (int i = 0; i < 50; ++i) {
      const ann::Verdict v = ann::verify_proposal(p, q, 2, rng);
      CHECK_FALSE(v.accepted);
      CHECK(v.token < 2);
    }
    CHECK_THROWS_AS(ann::verify_proposal(p, std::vector<double>{1.0, 0.0}, 0, rng), UsageError);
    CHECK_THROWS_AS(ann::verify_proposal(p, std::vector<double>{0.0, 1.0, 0.0}, 0, rng), UsageError);
  }

  TEST_CASE("speculative: Leviathan expectation and speedup formulas") {
    CHECK(ann::expected_tokens_per_pass(0.0, 4) == doctest::Approx(1.0));
    CHECK(ann::expected_tokens_per_pass(1.0, 4) == doctest::Approx(5.0));
    CHECK(ann::expected_tokens_per_pass(0.5, 3) == doctest::Approx(1.875));
    CHECK(ann::expected_tokens_per_pass(0.999999, 4) == doctest::Approx(5.0).epsilon(1e-4));
    CHECK(ann::expected_speedup(0.8, 4, 0.1) == doctest::Approx((1 - std::pow(0.8, 5)) / (0.2 * 1.4)));
    ann::SpeculativeStats s;
    s.proposed = 40;
    s.accepted = 30;
    s.rejected = 8;
    s.rounds = 10;
    s.rounds_by_gamma = {0, 0, 0, 0, 10};
    s.emitted = 38;
    s.target_passes = 10;
    CHECK(s.alpha() == doctest::Approx(30.0 / 38.0));
    CHECK(s.acceptance_fraction() == doctest::Approx(0.75));
    CHECK(s.tokens_per_target_pass() == doctest::Approx(3.8));
    CHECK(s.mean_gamma() == doctest::Approx(4.0));
    CHECK(s.expected_tokens_per_pass() == doctest::Approx(ann::expected_tokens_per_pass(30.0 / 38.0, 4)));
  }
}

}  // namespace
}  // namespace snnconv
