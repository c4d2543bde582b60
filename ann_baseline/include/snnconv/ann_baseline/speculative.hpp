// Speculative decoding (Leviathan, Kalman & Matias, ICML 2023; Chen et al. 2023): a small draft model
// proposes K tokens one by one, the target checks all of them in ONE forward pass over its KV cache (a
// window of the pending token plus the K proposals), and both caches roll back (truncate) past the first
// rejected proposal. Greedy mode emits exactly the target's greedy tokens; sampling mode emits tokens
// distributed exactly as the target's (transformed) distribution. docs/speculative.md.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "snnconv/ann_baseline/decode.hpp"
#include "snnconv/ann_baseline/generate.hpp"

namespace snnconv::ann {

struct SpeculativeOptions {
  int max_tokens = 64;
  SamplingOptions sampling;      // temperature <= 0: greedy; the same transform for draft and target
  std::int64_t stop_token = -1;  // generation ends after emitting it (-1: never)
  int gamma = 4;                 // proposals per round (K >= 1); with gamma_auto the first round's K
  bool gamma_auto = false;       // adapt K from the running acceptance rate (rule below)
  int gamma_max = 8;             // upper bound of the adaptive K
  // Adaptive rule: after each round the per-token acceptance estimate is updated for every checked
  // proposal (a <- a + (o - a) / 16, o = 1 accepted, 0 rejected; a starts at 0.7, clamped to [0, 0.99]),
  // and the next K is the one in [1, gamma_max] that maximises the expected speedup
  // (1 - a^(K+1)) / ((1 - a) (K c + 1)) with c = cost_ratio: the cost of one more proposal relative to one
  // target step, i.e. a draft step plus the extra width it adds to the verification window. The default is
  // what bench_speculative measured for code_gpt / code_gpt_draft on the dense engine on a 2-core EPYC
  // (draft step 0.25 step + 0.45 step per extra verified token; docs/speculative.md).
  double cost_ratio = 0.7;
};

struct SpeculativeStats {
  std::int64_t emitted = 0;                   // tokens returned
  std::int64_t rounds = 0;                    // draft-then-verify rounds (= target passes)
  std::int64_t proposed = 0;                  // draft tokens proposed
  std::int64_t accepted = 0;                  // proposals accepted
  std::int64_t rejected = 0;                  // rounds that ended at a rejected proposal
  std::int64_t target_passes = 0;             // target forward calls (the first one also holds the prompt)
  std::int64_t draft_passes = 0;              // draft forward calls
  double target_seconds = 0.0;                // wall-clock inside target calls
  double draft_seconds = 0.0;                 // wall-clock inside draft calls
  std::vector<std::int64_t> rounds_by_gamma;  // [K] = rounds that proposed K tokens (K = 0: limits left no room)

  // Per-token acceptance rate: accepted / (accepted + rejected), i.e. of the proposals the target checked
  // (proposals after a rejection are never checked). The alpha of Leviathan et al.; 0 when none checked.
  double alpha() const;
  // accepted / proposed (counts the unchecked proposals after a rejection as not accepted).
  double acceptance_fraction() const;
  double tokens_per_target_pass() const;  // emitted / target_passes
  double mean_gamma() const;              // mean K over rounds
  // The expectation (1 - alpha^(K+1)) / (1 - alpha) averaged over the rounds' K, with the measured alpha.
  double expected_tokens_per_pass() const;
};

struct SpeculativeResult {
  std::vector<std::int64_t> tokens;  // generated tokens (prompt excluded)
  SpeculativeStats stats;
};

// Leviathan et al. eq. (1): expected tokens per target pass with K proposals at acceptance rate alpha,
// (1 - alpha^(K+1)) / (1 - alpha); K + 1 at alpha = 1.
double expected_tokens_per_pass(double alpha, double gamma);
// Expected wall-clock speedup over target-only decoding when a draft token costs c target steps and the
// verification pass costs one step: (1 - alpha^(K+1)) / ((1 - alpha) (K c + 1)).
double expected_speedup(double alpha, double gamma, double cost_ratio);

// The rejection rule for one proposal x ~ q checked against p (dense distributions over the same
// vocabulary): accept with probability min(1, p(x) / q(x)); on rejection emit a draw from
// norm(max(0, p - q)). The emitted token is then distributed exactly as p. Uses one uniform draw, plus one
// more on rejection. UsageError when sizes differ or q(x) = 0.
struct Verdict {
  bool accepted = false;
  std::int64_t token = -1;  // x when accepted, else the residual draw
};
Verdict verify_proposal(std::span<const double> p, std::span<const double> q, std::int64_t x, std::mt19937_64& rng);

// Generates up to max_tokens tokens after `prompt` (batch 1) with `target`, proposals from `draft`. Both
// sessions must hold the same number of positions (normally none); the prompt is appended to both. Stops
// after the stop token or when the target has no position left, exactly as generate() does, so greedy
// speculative output equals generate()'s output on the target. UsageError when the vocabulary sizes
// differ, gamma < 1, gamma_max < gamma (auto), the prompt is empty or the sampling options are invalid.
SpeculativeResult speculative_generate(DecodeSession& target, DecodeSession& draft,
                                       std::span<const std::int64_t> prompt, const SpeculativeOptions& options);

}  // namespace snnconv::ann
