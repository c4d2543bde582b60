// The SNN stage of the pipeline: quantization (QANN) of the fused graph it is given, spiking conversion and the
// SNN run. It appends its StageRecords (compress, convert, snn) and returns the SnnSection; price_pipeline and
// the report writers take it from there (docs/report-schema.md, the `snn` object).
#include "snnconv/cascade/front_door.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

#include "snnconv/cascade/early_read.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::cascade {
using namespace snnconv::pipeline;  // the stages a cascade and the front door run

namespace {
// The SNN run of the stage (after quantization and conversion): its records and its section.
SnnSection run_snn(const PipelineOptions& options, QuantizedModel& m, const QuantizeModelOptions& qo,
                   std::chrono::steady_clock::time_point t0, std::vector<StageRecord>& stages,
                   const std::function<void(std::int64_t, std::int64_t)>& tick);
}  // namespace

std::optional<SnnSection> run_snn_stage(const PipelineOptions& options, const ModelSource& source,
                                        const Graph& fused_ann, std::vector<StageRecord>& stages,
                                        const std::function<void(std::int64_t, std::int64_t)>& tick) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  if (!options.snn) {
    stages.push_back(StageRecord{"compress", "skipped", 0.0, "--no-snn"});
    stages.push_back(StageRecord{"convert", "skipped", 0.0, "--no-snn"});
    stages.push_back(StageRecord{"snn", "skipped", 0.0, "--no-snn"});
    return std::nullopt;
  }
  if (options.snn_mode != "strict" && options.snn_mode != "burst")
    throw UsageError("SNN mode must be strict or burst, got '" + options.snn_mode + "'");
  auto t0 = Clock::now();
  QuantizeModelOptions qo;
  qo.model = options.model;
  qo.calib_samples = options.calib_samples;
  qo.synthetic_calibration = true;  // without data the report still quantizes and converts, and says so
  qo.quant.weight_bits = options.weight_bits;
  qo.quant.act_bits = options.act_bits;
  qo.quant.threads = options.threads;  // calibration's float passes (identical for any count)
  QuantizedModel m;
  try {
    // Calibrated once on the fused graph as given (jointly by the ranks of a data-parallel run; an error on one
    // rank reaches every rank).
    m = quantize_jointly(options.comm, qo, [&] { return prepare_model(source, fused_ann, qo); });
  } catch (const UsageError&) {  // data that does not fit the model is the user's to fix: exit 2, no report
    throw;
  } catch (const Error& e) {
    // A task or an op the quantizer cannot express yet (not implemented), or a failure: non-finite calibration
    // activations, a limit. The ANN report stands without the SNN.
    const bool failed = !dynamic_cast<const UnsupportedError*>(&e);
    stages.push_back(StageRecord{"compress", "not_available", since(t0), (failed ? "failed: " : "") + std::string(e.what())});
    stages.push_back(StageRecord{"convert", "not_available", 0.0, "needs the QANN"});
    stages.push_back(StageRecord{"snn", "not_available", 0.0,
                                 failed ? "needs the spiking graph; compress failed: " + std::string(e.what())
                                        : "needs the spiking graph"});
    return std::nullopt;
  }
  stages.push_back(StageRecord{"compress", "done", since(t0),
                               fmt::format("W{}A{} post-training quantization, {} points, calibrated on {}",
                                           options.weight_bits, options.act_bits, m.points.size(),
                                           m.calibration_description)});
  stages.push_back(StageRecord{"convert", "done", 0.0, fmt::format("{} SNN nodes", m.snn.num_nodes())});
  t0 = Clock::now();
  try {
    return run_snn(options, m, qo, t0, stages, tick);
  } catch (const Error& e) {  // a numeric error, a limit, ...: the SNN is not available, the ANN report stands
    if (distributed(options.comm)) throw;  // raised on one rank: the others cannot follow, the job ends
    stages.push_back(StageRecord{"snn", "not_available", since(t0), std::string("failed: ") + e.what()});
  } catch (const std::bad_alloc&) {
    if (distributed(options.comm)) throw;
    stages.push_back(StageRecord{"snn", "not_available", since(t0), "failed: out of memory"});
  }
  return std::nullopt;
}

namespace {

SnnSection run_snn(const PipelineOptions& options, QuantizedModel& m, const QuantizeModelOptions& qo,
                   std::chrono::steady_clock::time_point t0, std::vector<StageRecord>& stages,
                   const std::function<void(std::int64_t, std::int64_t)>& tick) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const std::int64_t limit = options.samples < 0 ? options.snn_samples
                             : options.snn_samples < 0 ? options.samples
                                                       : std::min(options.samples, options.snn_samples);
  // The test samples, or synthetic ones (another seed than the calibration's) when there is no data.
  const bool synthetic = m.data.empty();
  const RowSet rows = synthetic ? synthetic_rows(source_of(m), limit < 0 ? 200 : limit, 2)
                                : load_rows(source_of(m), m.data, RowRequest{options.split, limit, 0});
  const std::vector<Sample> samples = group_samples(m, rows);
  const std::int64_t batch_rows = samples.empty() ? 1 : samples.front().inputs.at(0).dim(0);
  SpikingRunOptions qrun;
  qrun.engine = SpikingEngine::qann;
  qrun.on_sample = tick;
  qrun.comm = options.comm;
  const SpikingRunResult q = run_spiking(m, samples, qrun);
  SpikingRunOptions srun;
  srun.mode = options.snn_mode == "burst" ? snn::FireMode::burst : snn::FireMode::strict;
  srun.max_steps = options.max_steps;
  srun.threads = std::max(1, options.threads);
  srun.curve = rows.scored();  // accuracy vs steps needs labels
  srun.on_sample = tick;
  std::unique_ptr<EarlyReadRecorder> early;
  std::string cascade_status = !options.cascade                ? "skipped: --no-cascade"
                               : m.task != "classification"      ? "skipped: not a classifier"
                               : rows.labels.empty()             ? "skipped: the samples have no labels"
                               : batch_rows != 1                 ? "skipped: the export's static batch is not 1"
                                                                 : "";
  if (cascade_status.empty()) {
    const std::filesystem::path dir = options.profiles_dir.empty() ? hw::default_profiles_dir() : options.profiles_dir;
    std::vector<hw::Profile> profiles;
    for (const std::string& n : options.profiles.empty() ? default_profile_names(dir) : options.profiles)
      profiles.push_back(hw::find_profile(n, dir));
    early = std::make_unique<EarlyReadRecorder>(m.snn, options.early_read, std::move(profiles), options.pricing);
    srun.read_steps = early->read_steps();
    srun.on_read = [&](std::int64_t i, int step, bool final, const Tensor& out, const Ledger& own) {
      early->on_read(i, step, final, out, own);
    };
  }
  srun.comm = options.comm;
  const SpikingRunResult r = run_spiking(m, samples, srun);
  if (early) early->gather(options.comm, samples.size());
  SnnSection s;
  if (!r.root) {  // another rank of a data-parallel run: what the baselines need to shard the same samples
    for (const Sample& smp : samples) s.samples += smp.rows;
    s.mode = options.snn_mode;
    s.activation_bits = options.act_bits;
    s.weight_bits = options.weight_bits;
    return s;
  }
  if (early) {
    std::vector<std::int64_t> labels;
    for (const Sample& smp : samples) labels.push_back(smp.label);
    StageSpec base;
    base.model = options.model;
    base.engine = StageEngine::snn;
    base.weight_bits = options.weight_bits;
    base.act_bits = options.act_bits;
    base.mode = options.snn_mode;
    try {
      s.cascade = early->finish(labels, base, options.split);
      s.cascade->cascade.data = m.data;
      cascade_status = "done";
    } catch (const UsageError& e) {  // too few samples, or the SNN fits no profile
      cascade_status = std::string("failed: ") + e.what();
    }
  }
  s.cascade_status = cascade_status;
  if (cascade_status.rfind("failed", 0) == 0) s.notes.push_back("the early-read cascade was not made: " + cascade_status.substr(8));
  s.mode = options.snn_mode;
  s.metric = r.metric;
  s.data = rows.description;
  s.calibration_source = m.calibration_split == "synthetic" ? "synthetic" : m.calibration_split == "npz" ? "npz" : "hdf5";
  s.calibration_description = m.calibration_description;
  s.calibration_samples = m.calibration_samples;
  s.qann_value = q.value;
  s.snn_value = r.value;
  s.samples = r.samples;
  s.activation_bits = options.act_bits;
  s.max_steps = options.max_steps;
  s.mean_steps = r.mean_steps;
  s.max_steps_used = r.max_steps;
  s.not_quiescent = r.not_quiescent;
  s.seconds = r.seconds;
  for (std::size_t t = 0; t < r.curve.size(); ++t) s.metric_vs_step.push_back({static_cast<int>(t + 1), r.curve[t]});
  const double n = std::max<double>(1.0, static_cast<double>(r.samples));
  for (const LayerSpikes& l : r.layers) {
    SnnLayerStats st;
    st.name = l.name;
    st.neurons = l.neurons;
    st.spikes = static_cast<std::uint64_t>(std::llround(l.spikes_per_inference * n));
    st.spikes_per_inference = l.spikes_per_inference;
    st.firing_rate = l.rate_per_neuron_step;
    s.layers.push_back(std::move(st));
  }
  s.notes.push_back(fmt::format("W{}A{} post-training quantization (clip {}), calibrated on {}; the QANN and the SNN "
                                "run on {} samples: {}",
                                options.weight_bits, options.act_bits, clip_method_name(qo.quant.clip),
                                m.calibration_description, r.samples, rows.description));
  if (batch_rows > 1)
    s.notes.push_back(fmt::format("the export fixes the batch at {}: samples run {} at a time, the last group padded "
                                  "by repeating its last sample (padded outputs discarded, their work counted)",
                                  batch_rows, batch_rows));
  s.graph = std::move(m.snn);
  s.qann = std::move(m.qann);
  s.weight_bits = options.weight_bits;
  s.ledger = r.ledger;
  stages.push_back(StageRecord{"snn", "done", since(t0),
                               r.metric.empty()
                                   ? fmt::format("not scored (no labels) on {} samples, mean {:.1f} steps", r.samples,
                                                 r.mean_steps)
                                   : fmt::format("{} {:.4f} (QANN {:.4f}) on {} samples, mean {:.1f} steps", r.metric,
                                                 r.value, q.value, r.samples, r.mean_steps)});
  return s;
}

}  // namespace

}  // namespace snnconv::cascade
