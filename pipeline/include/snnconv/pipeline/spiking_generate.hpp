// Token generation on the quantized model: on the SNN (prefill of the prompt, then one extend() per
// generated token, every earlier position's accumulated state kept) or on the QANN integer reference
// (run_qann on the growing window). `snnconv generate --engine snn|qann` runs it (docs/spiking.md,
// "Generation on the SNN").
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/core/ledger.hpp"

namespace snnconv::pipeline {

struct SpikingGenerateOptions {
  SpikingEngine engine = SpikingEngine::snn;
  snn::FireMode mode = snn::FireMode::strict;
  int max_steps = 4096;
  int threads = 1;
  int max_tokens = 16;
  ann::SamplingOptions sampling;  // temperature 0: greedy (argmax, lowest id on ties)
  // SNN only: for every generated token also re-simulate the whole window so far from rest (a prefill of
  // the same length) to price what incremental decoding saves. Costs a full run per token.
  bool resimulate = false;
  // SNN only: also run the QANN on the same window for every token and count next-token logits that differ
  // in any bit.
  bool check_exact = false;
  // SNN only: record the greedy token of the new row as read at every step of each call (the SNN read at
  // fewer steps, as a draft would read it; issue 8). Costs a read-out per step.
  bool early_read = false;
  // Called after every token with the tokens so far and max_tokens (a progress display); when generation stops
  // early at the window's end, called once more with (tokens, tokens).
  std::function<void(std::int64_t done, std::int64_t total)> on_token;
};

// What one simulation (the prompt's prefill, or one generated token's extend) did.
struct DecodeStepStats {
  std::int64_t length = 0;  // live positions after it
  std::int64_t token = -1;  // the token chosen from its last row of logits
  int steps = 0;            // SNN: steps to quiescence (max_steps when not quiescent)
  bool quiescent = true;
  Counters work;            // SNN: the ledger of this call alone (summed over nodes)
  Counters resimulated;     // SNN with resimulate: a from-rest prefill of the same window
  int resimulated_steps = 0;
  double seconds = 0.0;              // wall time of the call (SNN: the simulation; QANN: run_qann)
  double resimulated_seconds = 0.0;  // wall time of the re-simulation
  std::vector<std::int64_t> argmax_by_step;  // early_read: argmax of the last live row at the end of step t+1
};

struct SpikingGenerateResult {
  std::vector<std::int64_t> tokens;    // generated (prompt excluded)
  DecodeStepStats prefill;             // the prompt; its token is tokens[0]
  std::vector<DecodeStepStats> steps;  // one per later token (steps[k].token == tokens[k + 1])
  std::int64_t window = 0;             // the graph's sequence length T (generation stops at it)
  std::int64_t logit_mismatches = -1;  // check_exact: next-token logits differing from the QANN's (bits)
  Ledger ledger;                       // SNN: every call summed (rows: SNN graph nodes)
  double seconds = 0.0;                // SNN or QANN simulation time (the QANN check and resimulation excluded)
};

// Generates up to max_tokens tokens after `prompt` (token ids of the model's vocabulary) with the
// quantized language model `m`, stopping early at the window's last position. UsageError for an empty
// prompt, a prompt that does not fit the window, or bad options; UnsupportedError for a model that is not a
// batch-1 causal decoder.
// early_read: the share of generated tokens (prefill included) whose row, read at the end of step k (or at
// quiescence when the call ended earlier), already gives the final greedy token; [k-1] for k = 1..max steps.
std::vector<double> early_read_agreement(const SpikingGenerateResult& r);

SpikingGenerateResult generate_spiking(const QuantizedModel& m, std::span<const std::int64_t> prompt,
                                       const SpikingGenerateOptions& options);

// Greedy speculative decoding on the SNN (issue 8: a draft may be "the target's SNN read at fewer steps").
// The draft is a second engine on the same SNN whose every call stops after draft_steps steps (it continues
// from its non-quiescent state in the next call); it proposes gamma tokens one position at a time. The
// target (the SNN at quiescence) checks them in one extend() of gamma + 1 positions; the longest prefix
// equal to its own greedy tokens plus its next token is emitted. Rejected positions are dropped with
// Engine::rollback() (the target then re-extends the accepted ones), so the output equals the target's own
// greedy output, which equals the QANN's.
struct SpikingSpeculativeOptions {
  snn::FireMode mode = snn::FireMode::strict;
  int max_steps = 4096;  // target calls
  int draft_steps = 8;   // draft calls (>= 1)
  int gamma = 4;         // draft tokens per round (>= 1)
  int threads = 1;
  int max_tokens = 16;
};

struct SpikingSpeculativeResult {
  std::vector<std::int64_t> tokens;
  std::int64_t window = 0;
  std::int64_t rounds = 0, proposed = 0, accepted = 0;
  std::int64_t target_calls = 0, target_steps = 0;  // every target prefill/extend (redos after a rejection too)
  std::int64_t draft_calls = 0, draft_steps = 0;
  Counters target_work, draft_work;
  double seconds = 0.0;
};

SpikingSpeculativeResult speculative_generate_spiking(const QuantizedModel& m, std::span<const std::int64_t> prompt,
                                                      const SpikingSpeculativeOptions& options);

}  // namespace snnconv::pipeline
