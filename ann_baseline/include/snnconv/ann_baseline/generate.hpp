// Token generation on a DecodeSession: greedy, or temperature / top-k / top-p sampling with a seeded
// std::mt19937_64 (same seed, same tokens).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "snnconv/ann_baseline/decode.hpp"

namespace snnconv::ann {

struct SamplingOptions {
  float temperature = 0.0f;  // <= 0: greedy (argmax, lowest id on ties)
  int top_k = 0;             // > 0: keep the k most likely tokens
  float top_p = 1.0f;        // < 1: keep the smallest set whose probability reaches top_p
  std::uint64_t seed = 0;
};

// NumericError naming the first token id whose logit is NaN or +Inf, or when every logit is -Inf: such a row
// has no argmax or distribution (a NaN breaks the ordering the cut-offs sort by). -Inf alone is a masked
// token. sampling_distribution, sample_token and speculative decoding call it on every row they read.
void require_finite_logits(std::span<const float> logits);

// The distribution sample_token draws from, dense over the vocabulary (size = logits.size(), sums to 1):
// greedy (temperature <= 0) is one-hot at the argmax (lowest id on ties); otherwise softmax(logits / T)
// restricted to the top-k candidates, then to the smallest prefix (ordered by probability desc, id asc)
// whose mass reaches top_p, renormalised. Speculative sampling compares the draft's and the target's
// distributions through this one definition. UsageError on bad options (temperature NaN, top_p outside
// (0,1], top_k < 0) or empty logits.
std::vector<double> sampling_distribution(std::span<const float> logits, const SamplingOptions& options);

// One draw from a dense distribution (weights >= 0, any positive sum): one uniform double from `rng`,
// inverted through the cumulative sum in id order.
std::int64_t sample_from(std::span<const double> distribution, std::mt19937_64& rng);

// Picks the next token from one row of logits: the argmax when greedy (no randomness consumed), else
// sample_from(sampling_distribution(logits, options)).
std::int64_t sample_token(std::span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng);

struct GenerateOptions {
  int max_tokens = 64;
  SamplingOptions sampling;
  std::int64_t stop_token = -1;  // generation ends after emitting it (-1: never)
};

// Prefills `prompt` (batch 1) and generates up to max_tokens tokens, stopping early at the stop token or at
// the model's last position. Returns the generated tokens (prompt excluded).
std::vector<std::int64_t> generate(DecodeSession& session, std::span<const std::int64_t> prompt,
                                   const GenerateOptions& options);

}  // namespace snnconv::ann
