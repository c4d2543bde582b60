// The `metrics` harness: model outputs as a fuzzer makes them (NaN, Inf, huge, tiny, many ties) through every
// function that turns outputs into a number or an order: argmax, the two-class probability and the ROC AUC,
// the cross entropy, the cascades' self-test scores and their quantile, the sampling distribution, and the
// finite check. Beyond the usual contract (accepted, or refused with a snnconv::Error), an accepted input must
// give a result in its range; a violation aborts, which the fuzzer reports. A hang is caught by the fuzzer's
// timeout (the ROC AUC tie loop used to spin forever on a NaN).
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "entries.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/cascade/cascade.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/pipeline/metrics.hpp"

namespace snnconv::fuzz {
namespace {

// Reads the bytes as a stream of small decisions; zeros past the end.
class Reader {
public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  std::uint8_t byte() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  bool done() const { return pos_ >= bytes_.size(); }
  // One value: a special (NaN, +-Inf, +-0, extremes, a denormal) or a small number on a coarse grid (ties).
  float value() {
    const std::uint8_t a = byte(), b = byte();
    constexpr float kInf = std::numeric_limits<float>::infinity();
    static const float specials[] = {std::numeric_limits<float>::quiet_NaN(), kInf, -kInf, 0.0f, -0.0f, 3e38f, -3e38f,
                                     1e-45f, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()};
    constexpr std::uint8_t kSpecials = sizeof(specials) / sizeof(specials[0]);
    if (a < kSpecials) return specials[a];
    return std::ldexp(static_cast<float>(static_cast<std::int8_t>(b)), static_cast<int>(a % 48) - 24);
  }

private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

void require(bool ok) {
  if (!ok) std::abort();  // an accepted input gave a result outside its range: a finding
}

bool in_unit(double x) { return x >= 0.0 && x <= 1.0; }

}  // namespace

Outcome metrics_entry(std::span<const std::uint8_t> bytes) {
  Reader r(bytes);
  const std::int64_t classes = 1 + r.byte() % 8;
  const std::int64_t rows = r.byte() % 64;
  std::vector<float> logits(static_cast<std::size_t>(rows * classes));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(rows));
  for (float& v : logits) v = r.value();
  for (std::int64_t& l : labels) l = static_cast<std::int64_t>(r.byte() % (classes + 2)) - 1;  // -1 .. classes
  ann::SamplingOptions sampling;
  sampling.temperature = r.value();
  sampling.top_k = r.byte() % 10;
  sampling.top_p = static_cast<float>(r.byte()) / 200.0f;  // (0, 1.275]: above 1 is refused
  sampling.seed = r.byte();
  const double q = static_cast<double>(r.byte()) / 255.0;

  // Each family on its own: one refusal must not hide what the others do with the same outputs.
  bool refused = false;
  std::string first_refusal;
  auto run = [&](auto&& body) {
    try {
      body();
    } catch (const snnconv::Error& e) {
      if (!refused) first_refusal = e.what();
      refused = true;
    }
  };
  const std::span<const float> all(logits);
  run([&] { require_finite_output(all, {rows, classes}, OutputSite{"logits", "the fuzzed batch", ""}); });
  run([&] {  // evaluate(): argmax per row, the two-class probability, the ROC AUC
    std::vector<float> score;
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto row = all.subspan(static_cast<std::size_t>(i * classes), static_cast<std::size_t>(classes));
      const std::int64_t k = pipeline::argmax_row(row);
      require(k >= 0 && k < classes);
      if (classes == 2) {
        const float p = pipeline::two_class_probability(row[0], row[1]);
        require(std::isnan(p) || in_unit(p));
        score.push_back(p);
      }
    }
    if (classes != 2) score.assign(logits.begin(), logits.begin() + std::min<std::ptrdiff_t>(rows, logits.size()));
    const double auc = pipeline::roc_auc(score, std::span<const std::int64_t>(labels).first(score.size()));
    require(std::isnan(auc) || in_unit(auc));
  });
  run([&] {  // bits per byte: -log softmax of the target (+inf when finite logits 1e38 apart overflow the float
            // difference: the true value is that large)
    const double nats = pipeline::cross_entropy_nats(all, classes, labels);
    if (!first_non_finite(all)) require(!std::isnan(nats) && nats >= -1e-9);
  });
  run([&] {  // the cascades' self-tests
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto row = all.subspan(static_cast<std::size_t>(i * classes), static_cast<std::size_t>(classes));
      require(in_unit(cascade::max_prob_score(row)));
      require(in_unit(cascade::margin_score(row)));
      require(in_unit(cascade::entropy_score(row)));
      const auto other = all.subspan(static_cast<std::size_t>(((i + 1) % rows) * classes), static_cast<std::size_t>(classes));
      require(in_unit(cascade::temporal_score(other, row)));
    }
    std::vector<double> probs;  // token probabilities as the generator stage makes them: in [0, 1], or NaN
    for (float v : logits) probs.push_back(1.0 / (1.0 + std::exp(-static_cast<double>(v))));
    require(in_unit(cascade::quantile_score(probs, q)));
  });
  run([&] {  // generation: the distribution a token is drawn from, and the draw
    if (rows == 0) return;
    const auto row = all.first(static_cast<std::size_t>(classes));
    const std::vector<double> dist = ann::sampling_distribution(row, sampling);
    double sum = 0.0;
    for (double p : dist) {
      require(p >= 0.0 && std::isfinite(p));
      sum += p;
    }
    require(std::fabs(sum - 1.0) < 1e-6);
    std::mt19937_64 rng(sampling.seed);
    const std::int64_t t = ann::sample_token(row, sampling, rng);
    require(t >= 0 && t < classes && dist[static_cast<std::size_t>(t)] > 0.0);
  });
  return outcome_of(refused, first_refusal);
}

}  // namespace snnconv::fuzz
