// The whole job behind `snnconv model.onnx`: import, fuse, [compress, convert, run the SNN], run the ANN on
// test data, price every ledger on the chosen hardware profiles, and vary each constant by 2x. The result
// holds every figure the report shows; the writers (tools/src/report) only format it.
//
// The model is read once (pipeline::ModelSource): the ANN stage binds graphs from it, the SNN stage
// (`run_snn_stage`, cascade/src/front_door_snn.cpp) quantizes the fused batch-1 graph it is given. Without any
// data the SNN stage calibrates and runs on synthetic inputs and the report says so.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "snnconv/cascade/early_read.hpp"
#include "snnconv/cascade/findings.hpp"
#include "snnconv/core/communicator.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"
#include "snnconv/pipeline/model_source.hpp"

namespace snnconv::cascade {

// Progress of a long run, for a terminal display. `done`/`total` count work units within the stage
// (samples), 0/0 when the stage has no such count; `finished` is set once per stage at its end.
struct PipelineProgress {
  std::string stage;
  int index = 0;  // 1-based stage number
  int count = 0;  // stages in the run
  std::int64_t done = 0, total = 0;
  double seconds = 0;  // since the stage started
  bool finished = false;
  std::string status;  // at the end: "done", "not_available", "skipped"
};

struct PipelineOptions {
  std::string model;       // ONNX file
  std::string data;        // .h5 dataset or .npz; empty: the model's snnconv.data metadata (none: synthetic inputs)
  std::string calib_data;  // .h5 or .npz to calibrate on; empty: the data (an .npz: its first calib_samples rows)
  std::string task;        // override the model's task: classification | language_model | vqa
  std::int64_t seq = 0;    // sequence window; 0: snnconv.max_seq, else the export's, else the data's
  std::string split = "test";
  std::int64_t samples = 1000;         // test samples (language models: windows) to run; < 0: the whole split
  std::int64_t batch = 64;             // samples per forward pass of the ANN evaluation
  int threads = 0;                     // 0: every core (results do not depend on it)
  std::vector<std::string> profiles;   // names or paths; empty: every bundled neuromorphic and dense profile
  std::filesystem::path profiles_dir;  // empty: hw::default_profiles_dir()
  hw::PricingOptions pricing;
  std::vector<double> sensitivity_factors = {0.5, 2.0};   // empty: no sensitivity table
  // The SNN stage: post-training quantization at these bits (calibrated on the first calib_samples of the
  // train split, else val), conversion, and the SNN run on the first snn_samples test samples.
  bool snn = true;
  int weight_bits = 8;
  int act_bits = 4;
  std::int64_t calib_samples = 64;
  std::int64_t snn_samples = 200;
  std::string snn_mode = "strict";  // or "burst"
  int max_steps = 4096;
  // The early-read cascade of a classifier's SNN (early_read.hpp), from the same run: stages read at
  // early_read.steps then at quiescence, priced per sample on every profile.
  bool cascade = true;
  EarlyReadOptions early_read;
  std::function<void(const PipelineProgress&)> progress;  // optional
  // Data parallel (docs/scaling.md): with more than one rank, the ANN evaluation, the QANN and SNN runs (with the
  // early-read cascade) and the baselines shard their samples over the ranks; calibration runs once on rank 0 and
  // is broadcast. Rank 0's result is the one-process result (timings aside); the other ranks return after the
  // baselines with PipelineResult::root false. A stage that fails on any rank ends the job (one process would
  // list it as not available), except the failures of the calibration, which every rank reproduces.
  Communicator* comm = nullptr;
};

struct StageRecord {
  std::string name;    // import, fuse, compress, convert, snn, ann, price, sensitivity
  std::string status;  // "done", "not_available" (not implemented yet, or failed: note "failed: ERROR"),
                       // "skipped" (does not apply)
  double seconds = 0;
  std::string note;
};

struct ModelSummary {
  std::string file;
  std::string name;  // file stem
  int opset = 0;
  std::string task;         // snnconv.task metadata, else the dataset's task, else inferred from the graph, else ""
  std::string task_source;  // "--task", "metadata", "dataset", "inferred" or ""
  std::string bound_dims;  // the dims the pricing graph was bound to (batch 1)
  std::int64_t params = 0, param_bytes = 0;
  std::int64_t macs_per_inference = 0;  // at the bound dims
  std::int64_t nodes_imported = 0, nodes_fused = 0;
  std::map<std::string, int> fusions;  // per pattern
};

struct AnnSection {
  // false: the dataset's task is not scored yet (vqa, program_synthesis) or no dataset was found; the ledger
  // is then one static pass of the engine on zero inputs (the dense engine's counts depend on shapes only).
  bool evaluated = false;
  std::string not_evaluated_reason;
  std::string data, split, task;
  std::string metric;  // "accuracy" or "bits_per_byte"
  double value = 0;
  std::int64_t samples = 0;
  std::int64_t batch = 0;  // samples per forward pass of the evaluation
  double seconds = 0, samples_per_s = 0;
  Graph graph;    // fused, batch 1: its nodes are the ledger's rows and give the shapes for pricing
  Ledger ledger;  // summed over every sample run (ledger.samples); tokens = windows x seq for language models
};

// ---- the SNN section (filled by run_snn_stage) --------------------------------------------------------

struct SnnStepPoint {
  int step = 0;      // read-out after this many timesteps
  double value = 0;  // the metric of the accumulated output read at that step
};

struct SnnLayerStats {
  std::string name;          // the SpikeNeuron population (value or node name)
  std::int64_t neurons = 0;  // per inference
  std::uint64_t spikes = 0;  // +1 and -1 events over all samples
  double spikes_per_inference = 0;
  double firing_rate = 0;  // spikes / (neurons x timesteps simulated), per sample, averaged over samples
};

struct SnnSection {
  std::string mode;       // "strict" (one +-1 spike per neuron per step) or "burst" (multi-bit events)
  std::string metric;     // as the ANN's; "" when the samples carry no labels (synthetic inputs, an unlabelled .npz)
  std::string data;       // what the QANN and SNN ran on (one line)
  std::string calibration_source;       // "hdf5", "npz" or "synthetic"
  std::string calibration_description;  // one line
  std::int64_t calibration_samples = 0;
  double qann_value = 0;  // the quantized ANN on the same samples
  double snn_value = 0;   // the SNN's accumulated output at the end of the run
  std::int64_t samples = 0;
  int activation_bits = 0;  // 0: mixed (see notes)
  int max_steps = 0;        // the step limit of the run
  double mean_steps = 0;    // mean steps to quiescence over samples (the limit when not quiescent)
  int max_steps_used = 0;
  std::int64_t not_quiescent = 0;  // samples stopped at the limit
  double seconds = 0;
  std::vector<SnnStepPoint> metric_vs_step;
  std::vector<SnnLayerStats> layers;
  std::vector<std::string> notes;
  std::optional<EarlyReadResult> cascade;  // classifiers, unless PipelineOptions::cascade is false
  std::string cascade_status = "skipped";  // "done", "skipped" (not a classifier, or off) or "failed: why"
  Graph graph;    // Stage::spiking, batch 1: its nodes are the ledger's rows
  Ledger ledger;  // summed over samples; per node timesteps; per_step when recorded
  Graph qann;     // Stage::quantized, batch 1: the QANN the SNN was converted from (the equal-bits baseline)
  int weight_bits = 0;
};

// One ANN/SNN ratio: the ANN priced on `ann_profile` against the SNN on `snn_profile` (same profile, or an
// ANN on a dense accelerator against the SNN on a neuromorphic chip).
struct Comparison {
  std::string ann_profile, snn_profile;
  double ann_energy_per_inference_pj = 0, snn_energy_per_inference_pj = 0;
  double ratio = 0;  // ANN / SNN; 0 when either does not fit
  bool fits = true;
};

struct PipelineResult {
  bool root = true;       // false on the ranks other than 0 of a data-parallel run (nothing after the baselines filled)
  std::string generator;  // "snnconv 0.1.0"
  ModelSummary model;
  std::vector<StageRecord> stages;
  AnnSection ann;
  std::optional<SnnSection> snn;
  std::vector<hw::Profile> profiles;            // in the order priced
  std::vector<hw::ProfilePrice> ann_prices;     // [0] the compute-only convention, then one per profile
  std::vector<hw::ProfilePrice> snn_prices;     // the same columns for the SNN; empty without an SNN
  std::vector<Comparison> comparisons;          // empty without an SNN
  std::vector<hw::SensitivityRow> sensitivity;   // energies per subject, in sensitivity_subjects order
  std::vector<double> sensitivity_factors;
  std::vector<std::string> sensitivity_subjects;  // "ann", the quantized baselines, "snn"
  // Like-for-like dense baselines (fp32 = the `ann` section, W8A8, the QANN at the SNN's bits), each scored on the
  // SNN's samples and priced on every profile; empty without an SNN.
  std::vector<AnnBaseline> baselines;
  Findings findings;  // the conclusion: per profile, which side is cheaper and why (find())
  // A cascade of the user's stages (`snnconv report --cascade-stages`), run by the caller with run_cascade.
  std::optional<CascadeResult> user_cascade;
  // Greedy speculative decoding with a draft (`snnconv report --draft`), run by the caller (ann::speculative_generate).
  struct Speculative {
    std::string draft, data, split;
    std::int64_t prompts = 0, prompt_tokens = 0, max_tokens = 0;
    int gamma = 0;
    std::int64_t emitted = 0, target_passes = 0, draft_passes = 0;
    double alpha = 0, tokens_per_target_pass = 0, expected_tokens_per_pass = 0;
    double target_only_seconds = 0, speculative_seconds = 0, speedup = 0;  // wall clock, one run each
    bool identical = false;  // the speculative output equals target-only greedy decoding on every prompt
  };
  std::optional<Speculative> speculative;
  std::vector<std::string> notes;
};

// Runs every stage. Throws what the stages throw (UsageError for bad options or a missing dataset,
// UnsupportedError for an unsupported model, ...), except that a NumericError of the ANN evaluation and any
// error of the SNN stage are recorded in that stage (not_available, note "failed: ...") and the run goes on.
PipelineResult run_pipeline(const PipelineOptions& options);

// The SNN stage (cascade/src/front_door_snn.cpp): quantize the fused graph `fused_ann` (bound at batch 1, read
// from `source`), convert it to a spiking graph, run the QANN and the SNN on the first test samples (synthetic
// ones without data). Appends its records (compress, convert, snn) to `stages`; returns nothing when skipped or
// when the model cannot be quantized (the records say why). `tick` (optional) is called after every sample of
// the QANN and SNN runs with (done, total) of that run, for a progress display.
std::optional<SnnSection> run_snn_stage(const PipelineOptions& options, const pipeline::ModelSource& source,
                                        const Graph& fused_ann, std::vector<StageRecord>& stages,
                                        const std::function<void(std::int64_t, std::int64_t)>& tick = {});

// Prices what `r` holds (r.ann, and r.snn when set) on the options' profiles: fills r.profiles,
// r.ann_prices, r.snn_prices, r.comparisons, r.sensitivity. Public so a caller holding its own SNN run
// (or a test) can price it exactly as the pipeline does.
void price_pipeline(PipelineResult& r, const PipelineOptions& options);

// The dense baselines of an SNN run (cascade/src/front_door_baselines.cpp): fp32 (the ANN section's ledger,
// scored again on the SNN's samples), W8A8 (quantized and run on the QANN engine on the SNN's samples), and the
// QANN the SNN was converted from; the quantized ones' ledgers are the dense engine's counts of their graphs.
// Appends a `baselines` StageRecord; does nothing without r.snn.
void run_baselines(const PipelineOptions& options, const pipeline::ModelSource& source, PipelineResult& r);

// The findings of a priced result (cascade/src/front_door_findings.cpp): per profile the comparison at equal
// accuracy with its causes, the flagged constants that move it by more than `threshold` under the sensitivity
// factors, break-even rate and steps against every baseline, and the per-block energies.
Findings find(const PipelineResult& r, const PipelineOptions& options, double threshold = 0.25);

// The profiles priced when none are named: every bundled profile of kind neuromorphic or dense, by name.
std::vector<std::string> default_profile_names(const std::filesystem::path& dir);

}  // namespace snnconv::cascade
