// Small-to-large cascades (`snnconv cascade`, docs/cascades.md): stages ordered by cost answer in turn; a
// stage's answer is kept when its self-test score reaches the stage's threshold, else the sample escalates
// to the next stage; the last stage always answers. Thresholds are calibrated on one split to the cheapest
// plan whose accuracy is within a tolerance of the last (largest) stage's, and evaluated on another.
//
// The pure part (scores, plan evaluation, calibration, Pareto front) works on per-sample outcomes and is
// what the tests construct by hand; run_cascade() produces those outcomes by running the stages.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace snnconv {
class Communicator;  // core/communicator.hpp
}

namespace snnconv::cascade {

// ---- stages ------------------------------------------------------------------------------------------

enum class StageEngine : std::uint8_t { ann, qann, snn };

// One stage: `MODEL[:key=value]...` (docs/cascades.md). Keys: engine=ann|qann|snn (default ann),
// w=BITS (qann/snn weight bits, default 8), act=BITS (qann/snn activation bits, default 4), steps=T (snn:
// read out after T steps; 0 or absent: at quiescence), mode=strict|burst (snn), hw=PROFILE (price on this
// profile instead of the cascade's), k=N (execution self-test: candidates, default 1), temp=T (sampling
// temperature of candidates 2..k, default 0.8).
struct StageSpec {
  std::string text;  // as given
  std::string model;
  StageEngine engine = StageEngine::ann;
  int weight_bits = 8;
  int act_bits = 4;
  int steps = 0;
  std::string mode = "strict";
  std::string profile;  // empty: the cascade's profile
  int candidates = 1;
  double temperature = 0.8;
};

std::string_view engine_name(StageEngine e);
// UsageError naming the stage text and the key on a malformed spec.
StageSpec parse_stage_spec(const std::string& text);
// Comma-separated stages.
std::vector<StageSpec> parse_stage_list(const std::string& text);

// True when stage `b` is the SNN of stage `a` read later: same model, SNN engine, bits and mode, more steps
// (0 = quiescence counts as the most). Escalating from `a` to `b` then continues the same run, so `b` costs
// only its extra steps.
bool continues(const StageSpec& a, const StageSpec& b);

// ---- self-tests ----------------------------------------------------------------------------------------

// Every score is in [0, 1], higher = more confident, so every threshold is in [0, 1]:
//   max_prob        the largest softmax probability (classification)
//   margin          largest minus second largest probability (classification)
//   entropy         1 - H(p) / ln(C) (classification)
//   token_quantile  the q-quantile (--quantile, default 0.1) of the generated tokens' probabilities, not their
//                   product (no length bias) (program synthesis)
//   temporal        SNN stages: the max probability at the read-out when the prediction read at half the
//                   steps equals it, else 0 (classification)
//   execution       the best fraction of the prompt's input/output examples a candidate reproduces, over the
//                   stage's k candidates (program synthesis on synth_code)
enum class SelfTest : std::uint8_t { max_prob, margin, entropy, token_quantile, temporal, execution };
std::string_view self_test_name(SelfTest t);
SelfTest parse_self_test(const std::string& text);  // UsageError listing the choices

double max_prob_score(std::span<const float> logits);
double margin_score(std::span<const float> logits);
double entropy_score(std::span<const float> logits);
double temporal_score(std::span<const float> half_logits, std::span<const float> final_logits);
// The q-quantile (linear interpolation, as numpy's default) of the probabilities; 0 when empty.
double quantile_score(std::vector<double> probabilities, double q);

// UsageError when the self-test does not fit the task ("classification" or "program_synthesis") or a stage
// (temporal on a stage that is not an SNN; execution or token_quantile on a classifier; the classification
// tests on a generator). The last stage is never tested, so it may be anything.
void check_self_test(SelfTest test, const std::string& task, const std::vector<StageSpec>& stages);

// ---- plans ---------------------------------------------------------------------------------------------

struct SampleOutcome {
  double score = 0.0;    // self-test score in [0, 1]
  bool correct = false;  // the stage's answer is right (accuracy / pass@1)
  double cost_pj = 0.0;  // energy of this stage on this sample, run from scratch
};

struct StageOutcomes {
  std::vector<SampleOutcome> samples;
  bool continues_previous = false;  // continues(stage i-1, stage i): after stage i-1 (or an earlier stage of an
                                    // unbroken chain of continuations) it costs only the difference
};

// The stages a plan uses (indices, ascending, ending with the last stage) and the threshold of each but the
// last: a sample is answered at the first used stage whose score >= its threshold.
struct Plan {
  std::vector<int> stages;
  std::vector<double> thresholds;
};

struct PlanResult {
  double accuracy = 0.0;
  double cost_pj = 0.0;                  // mean per sample
  std::vector<double> reached;           // per stage of the cascade: fraction of samples that ran it
  std::vector<double> escalated;         // per stage: fraction of the samples that ran it and escalated
  std::vector<double> answered;          // per stage: fraction of all samples answered there
  // Paired against the last stage alone on the same samples: d_i = last right - plan right (-1, 0 or 1);
  // loss = mean(d) (accuracy points lost, as a fraction), loss_se = its standard error sd(d) / sqrt(n).
  double loss = 0.0, loss_se = 0.0;
};

// UsageError when the plan does not fit the outcomes (sizes, order, last stage, thresholds outside [0, 1]).
PlanResult evaluate_plan(const std::vector<StageOutcomes>& stages, const Plan& plan);

struct CalibratedPlan {
  Plan plan;
  PlanResult calibration;           // on the calibration outcomes
  double target_accuracy = 0.0;     // the last stage's accuracy minus the tolerance
  bool qualifies = true;            // false only when nothing but the last stage alone qualifies (it always does)
  std::vector<std::pair<Plan, PlanResult>> front;  // accuracy-cost Pareto front of every plan tried, by cost
  std::int64_t plans_tried = 0;
};

// Tries every subset of the stages that ends with the last one, and for each the thresholds on a grid of
// the calibration scores' quantiles (101 per stage for two stages, 41 for three, 13 for four or five; 0 and
// "never" included), and returns the cheapest plan whose loss against the last stage, plus z standard errors,
// is at most the tolerance: loss + z * loss_se <= tolerance (z = 0: accuracy >= last stage's - tolerance;
// z = 1.645: the loss bound holds with 95% one-sided confidence under the normal approximation). Ties: the
// more accurate, then the fewer stages. `tolerance` is a fraction (0.005 = half a point).
CalibratedPlan calibrate_plan(const std::vector<StageOutcomes>& stages, double tolerance, double z = 0.0);

// ---- running -------------------------------------------------------------------------------------------

struct CascadeOptions {
  std::vector<StageSpec> stages;
  SelfTest self_test = SelfTest::max_prob;
  double quantile = 0.1;             // token_quantile
  std::string data;                  // dataset; empty: the first stage's model metadata snnconv.data
  std::string calib_split = "val";   // NAME or NAME:BEGIN:END (rows [BEGIN, END))
  std::string eval_split = "test";   // the same syntax; must not overlap the calibration rows
  double tolerance = 0.005;          // fraction of accuracy (0.005 = 0.5 points)
  double z = 0.0;                    // calibration confidence: standard errors of the loss added (calibrate_plan)
  std::vector<double> thresholds;    // given: no calibration (one per stage but the last, each in [0, 1])
  std::string profile = "loihi";     // hardware profile the stages are priced on (a stage's hw= overrides)
  std::int64_t calib_samples = 64;   // quantization calibration samples (qann/snn; train split, else val)
  int max_tokens = 16;               // program synthesis: bytes generated per candidate at most
  int threads = 1;
  std::function<void(const std::string& line)> progress;  // optional
  // Data parallel (docs/scaling.md), classifiers: each stage's calibration and evaluation rows are sharded over
  // the ranks (one contiguous shard of the rows in order), each stage's model is quantized once on rank 0 and
  // broadcast; rank 0 gathers every row's logits and own price and finishes as one process (its result is the
  // one-process result, timings aside); the other ranks return with CascadeResult::root false. Program synthesis
  // is refused (UsageError).
  Communicator* comm = nullptr;
};

struct StageReport {
  StageSpec spec;
  std::string profile;
  double cost_pj = 0.0;              // mean energy per sample run from scratch (calibration and evaluation rows)
  double calib_accuracy = 0.0, eval_accuracy = 0.0;  // the stage alone
  double seconds = 0.0;
  std::string note;
};

struct CascadeResult {
  bool root = true;                  // false on the ranks other than 0 of a data-parallel run (nothing else filled)
  std::string task, data, metric;    // metric: "accuracy" or "pass@1"
  std::string calib_split, eval_split;
  std::int64_t calib_samples = 0, eval_samples = 0;
  SelfTest self_test = SelfTest::max_prob;
  double tolerance = 0.0, z = 0.0;
  bool calibrated = true;            // false: --thresholds were given
  std::vector<StageReport> stages;
  CalibratedPlan chosen;             // its front/plan; `calibration` holds the calibration-split figures
  PlanResult eval;                   // the chosen plan on the evaluation split
  double largest_eval_cost_pj = 0.0, largest_eval_accuracy = 0.0;
  double saving = 0.0;               // 1 - eval.cost / largest cost
  std::vector<PlanResult> front_eval;  // the calibration front's plans on the evaluation split, same order
  std::vector<std::string> notes;
};

CascadeResult run_cascade(const CascadeOptions& options);

}  // namespace snnconv::cascade
