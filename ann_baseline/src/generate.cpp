// Greedy and sampled generation. Sampling is reproducible: the candidates are ordered by (probability desc,
// id asc) for the cut-offs, and the only randomness is one uniform draw per token from the caller's engine.
#include "snnconv/ann_baseline/generate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <numeric>

#include "snnconv/core/error.hpp"

namespace snnconv::ann {

void require_finite_logits(std::span<const float> logits) {
  bool any = false;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (std::isnan(v) || v == std::numeric_limits<float>::infinity())
      throw NumericError("the next-token logits are " + std::string(std::isnan(v) ? "nan" : "+inf") + " at token id " +
                         std::to_string(i) + ": no token can be chosen from them");
    any = any || std::isfinite(v);
  }
  if (!logits.empty() && !any) throw NumericError("every next-token logit is -inf: no token can be chosen from them");
}

namespace {
void check_options(std::span<const float> logits, const SamplingOptions& o) {
  if (logits.empty()) throw UsageError("sampling: empty logits");
  require_finite_logits(logits);
  if (!std::isfinite(o.temperature)) throw UsageError("sampling temperature must be a finite number");
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) throw UsageError("top-p must be in (0, 1]");
  if (o.top_k < 0) throw UsageError("top-k must be >= 0");
}

std::int64_t argmax(std::span<const float> logits) {
  return std::distance(logits.begin(), std::max_element(logits.begin(), logits.end()));
}
}  // namespace

std::vector<double> sampling_distribution(std::span<const float> logits, const SamplingOptions& o) {
  check_options(logits, o);
  std::vector<double> dist(logits.size(), 0.0);
  if (o.temperature <= 0.0f) {
    dist[static_cast<std::size_t>(argmax(logits))] = 1.0;
    return dist;
  }
  std::vector<std::int64_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](std::int64_t a, std::int64_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
  });
  std::size_t keep = ids.size();
  if (o.top_k > 0) keep = std::min(keep, static_cast<std::size_t>(o.top_k));
  // Softmax of logits / T over the kept candidates, in double for a stable cumulative sum.
  const double top = logits[static_cast<std::size_t>(ids[0])];
  std::vector<double> p(keep);
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    p[i] = std::exp((logits[static_cast<std::size_t>(ids[i])] - top) / o.temperature);
    sum += p[i];
  }
  if (o.top_p < 1.0f) {
    double cum = 0.0;
    std::size_t cut = keep;
    for (std::size_t i = 0; i < keep; ++i) {
      cum += p[i] / sum;
      if (cum >= o.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    sum = std::accumulate(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep), 0.0);
  }
  for (std::size_t i = 0; i < keep; ++i) dist[static_cast<std::size_t>(ids[i])] = p[i] / sum;
  return dist;
}

std::int64_t sample_from(std::span<const double> distribution, std::mt19937_64& rng) {
  if (distribution.empty()) throw UsageError("sample_from: empty distribution");
  const double total = std::accumulate(distribution.begin(), distribution.end(), 0.0);
  if (!(total > 0.0) || !std::isfinite(total)) throw NumericError("sample_from: the distribution has no mass");
  const double r = std::uniform_real_distribution<double>(0.0, total)(rng);
  double cum = 0.0;
  std::int64_t last = 0;
  for (std::size_t i = 0; i < distribution.size(); ++i) {
    if (distribution[i] <= 0.0) continue;
    cum += distribution[i];
    last = static_cast<std::int64_t>(i);
    if (r < cum) return last;
  }
  return last;  // r rounded up to the total: the last token with mass
}

std::int64_t sample_token(std::span<const float> logits, const SamplingOptions& o, std::mt19937_64& rng) {
  check_options(logits, o);
  if (o.temperature <= 0.0f) return argmax(logits);
  const std::vector<double> dist = sampling_distribution(logits, o);
  return sample_from(dist, rng);
}

std::vector<std::int64_t> generate(DecodeSession& session, std::span<const std::int64_t> prompt,
                                   const GenerateOptions& options) {
  if (prompt.empty()) throw UsageError("generate: the prompt is empty");
  std::mt19937_64 rng(options.sampling.seed);
  const auto n = static_cast<std::int64_t>(prompt.size());
  Tensor logits = session.prefill(
      Tensor::from_vector<std::int64_t>({1, n}, std::vector<std::int64_t>(prompt.begin(), prompt.end())));
  std::vector<std::int64_t> out;
  const std::int64_t limit = session.max_positions();
  while (static_cast<int>(out.size()) < options.max_tokens) {
    // The last position's logits predict the next token.
    const std::int64_t vocab = logits.dim(2);
    const std::span<const float> row(logits.data<float>() + (logits.dim(1) - 1) * vocab,
                                     static_cast<std::size_t>(vocab));
    const std::int64_t next = sample_token(row, options.sampling, rng);
    out.push_back(next);
    if (next == options.stop_token || static_cast<int>(out.size()) == options.max_tokens) break;
    if (limit > 0 && session.length() >= limit) break;  // no position left for the token just emitted
    logits = session.step(next);
  }
  return out;
}

}  // namespace snnconv::ann
