// The early-read cascade of an SNN classifier (the report's `cascade` section; docs/cascades.md, "In the
// report"): stage k reads the SNN's output after steps[k] timesteps and answers when its self-test passes,
// else the sample escalates; the last stage is the same run at quiescence. Escalating continues the run, so
// a sample answered at stage k pays the energy of its first steps[k] steps (of the whole run when it is
// quiescent earlier). Everything comes from one SNN run (run_spiking's on_read hook, spiking.hpp): no stage
// runs twice. Calibration and evaluation are those of `snnconv cascade` (calibrate_plan, evaluate_plan).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snnconv/cascade/cascade.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/communicator.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/core/tensor.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"

namespace snnconv::cascade {

struct EarlyReadOptions {
  std::vector<int> steps = {8, 12, 16};      // the early stages' read steps, ascending, each >= 2; at most 4
  SelfTest self_test = SelfTest::temporal;   // max_prob, margin, entropy or temporal (read at half the steps)
  double calib_fraction = 0.5;               // the first part of the samples calibrates, the rest evaluates
  double tolerance = 0.005;                  // as CascadeOptions::tolerance
  double z = 0.0;                            // as CascadeOptions::z
};

// UsageError on steps that are not ascending, < 2 or more than 4, a self-test that is not a classifier's, or a
// calibration fraction outside (0, 1).
void check_early_read_options(const EarlyReadOptions& o);

// The chosen plan priced on one profile, on the evaluation samples.
struct EarlyReadProfile {
  std::string profile, kind;
  bool fits = true;  // false: the SNN does not fit the profile (no figures)
  double cascade_pj = 0.0, quiescence_pj = 0.0;  // mean energy per inference
  double saving = 0.0;                           // 1 - cascade / quiescence
  std::vector<double> stage_pj;                  // each stage alone (the run read at its step)
};

struct EarlyReadResult {
  CascadeResult cascade;            // calibrated and evaluated with the costs of `calibration_profile`
  std::string calibration_profile;  // the first neuromorphic profile the SNN fits, else the first it fits
  std::vector<EarlyReadProfile> profiles;
};

// Collects the reads of one SNN run and builds the cascade from them:
//   EarlyReadRecorder rec(snn_graph, options, profiles);
//   run options: read_steps = rec.read_steps(), on_read = [&](auto... a) { rec.on_read(a...); }
//   EarlyReadResult r = rec.finish(labels, base_stage, split);
class EarlyReadRecorder {
 public:
  // UsageError on steps that are not ascending, < 2, more than 4, or a self-test that is not a classifier's.
  EarlyReadRecorder(const Graph& snn, EarlyReadOptions options, std::vector<hw::Profile> profiles,
                    hw::PricingOptions pricing = {});
  EarlyReadRecorder(const EarlyReadRecorder&) = delete;
  EarlyReadRecorder& operator=(const EarlyReadRecorder&) = delete;
  const std::vector<int>& read_steps() const { return reads_; }
  void on_read(std::int64_t sample, int step, bool final, const Tensor& output, const Ledger& own);
  // Data parallel (a run_spiking of `count` samples sharded over comm's ranks, each calling on_read for its shard
  // shard_of(count, rank, size)): rank 0 receives every other rank's reads and costs, after which its recorder
  // holds what one process would. No-op for one process.
  void gather(Communicator* comm, std::size_t count);
  // labels[i]: the class of sample i. `base` names the SNN stage (model, bits, mode); stage k gets its steps;
  // `split` names the rows in the result. UsageError when fewer than two samples calibrate or evaluate, or
  // when the SNN fits none of the profiles.
  EarlyReadResult finish(const std::vector<std::int64_t>& labels, const StageSpec& base, const std::string& split) const;

 private:
  struct SampleReads {
    std::vector<std::vector<float>> logits;   // per read step (reads_), then the final read
    std::vector<std::vector<double>> cost;    // per stage (steps, then quiescence): per profile, pJ (< 0: no fit)
    bool done = false;
  };
  const Graph& snn_;
  EarlyReadOptions o_;
  std::vector<hw::Profile> profiles_;
  hw::PricingOptions pricing_;
  std::vector<int> reads_;  // steps and (temporal) their halves, ascending, unique
  std::vector<SampleReads> samples_;
  Ledger scratch_;               // the ledger being priced (subject_ refers to it)
  hw::PricingSubject subject_;   // the SNN graph's shapes, built once
  std::vector<double> price(const Ledger& own);
};

}  // namespace snnconv::cascade
