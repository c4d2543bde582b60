// The report's optional experiments, run after the pipeline on its model and data (what `snnconv report
// --draft` and `--cascade-stages` ask for): greedy speculative decoding measured against target-only decoding,
// and a user-given cascade on the report's own samples. Library code so the CLI stays a thin wrapper.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "snnconv/cascade/cascade.hpp"
#include "snnconv/cascade/front_door.hpp"

namespace snnconv::cascade {

struct SpeculativeExperimentOptions {
  std::string draft;         // draft decoder (ONNX); empty: no experiment
  int gamma = 4;             // proposals per round
  int prompts = 8;           // prompts: evenly spaced slices of the split's token stream
  int prompt_tokens = 32;    // tokens per prompt
  int max_tokens = 64;       // tokens generated per prompt
};

// Greedy target-only decoding and greedy speculative decoding on the same prompts, side by side (wall clock,
// one run each; docs/speculative.md). `target` is the report's model, `data`/`split` its token stream.
// UsageError for non-positive counts, a dataset that is not a language-model token stream, or one too short.
PipelineResult::Speculative measure_speculative(const std::string& target, const std::string& data,
                                                const std::string& split, int threads,
                                                const SpeculativeExperimentOptions& options);

struct UserCascadeOptions {
  std::vector<StageSpec> stages;
  SelfTest self_test = SelfTest::temporal;
  double tolerance = 0.005;  // accuracy (fraction) the plan may lose against the last stage
  std::int64_t calib_samples = 64;
  int threads = 1;
  std::string split = "test";
};

// The rows a user cascade runs on: the SNN's samples of `r` (else the first 200 the ANN scored), at least 4.
std::int64_t user_cascade_rows(const PipelineResult& r);
// The profile it is priced on: the first neuromorphic profile of `r` (else its first, else loihi).
std::string user_cascade_profile(const PipelineResult& r);

// run_cascade on those rows of the report's split: the first half calibrates the thresholds, the second
// half evaluates, priced on user_cascade_profile(r).
CascadeResult run_user_cascade(const PipelineResult& r, const UserCascadeOptions& options);

}  // namespace snnconv::cascade
