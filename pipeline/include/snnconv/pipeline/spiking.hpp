// The quantize -> convert -> simulate path on a real model and data: what `snnconv run --engine qann|snn`
// and the report run. Lives in pipeline (layer 4) because it joins the importer and quantizer (converter),
// the datasets, the QANN reference (ann_baseline) and the SNN engine (snn_core).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/communicator.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/datasets/recording_file.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/pipeline/model_source.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv::pipeline {

// A model bound at batch 1 (a static-batch export: its own batch; sequence length from --seq, snnconv.max_seq or
// the export), fused, with the data it is scored on and where its calibration samples came from.
struct QuantizedModel {
  std::string model, data, task;
  std::string calib_data;  // the file calibrated on ("" for synthetic inputs)
  Graph canonical;  // batch 1 (or the export's static batch), fused
  Graph qann;       // Stage::quantized
  Graph snn;        // Stage::spiking
  // The uniform bits and clipping it was quantized with (quantize_model: its options; a model file: what the
  // file records), so that what a command prints comes from the model, not from flags it ignored.
  int weight_bits = 0, weight_group = 0, act_bits = 0;
  std::string clip;
  std::string bits_label() const;  // "W8A4", "W4A4 g32"
  std::vector<QuantPoint> points;
  std::vector<std::string> linears;
  std::int64_t calibration_samples = 0;
  std::string calibration_split;        // the HDF5 split; "npz" (the file's first rows) or "synthetic"
  std::string calibration_description;  // one line for reports, e.g. "the first 64 samples of x.npz (also scored)"
  // Quantization points a QDQ file brought with its own steps (FakeQuants of the canonical graph): the QANN
  // keeps them; only `points` (those the file lacks) are calibrated, and with none, nothing is.
  std::int64_t file_points = 0;
};

struct QuantizeModelOptions {
  std::string model;                // ONNX file
  std::string data;                 // .h5 dataset or .npz; empty: the model's snnconv.data
  std::string calib_data;           // .h5 or .npz to calibrate on; empty: `data`
  std::string calib_split;          // HDF5: empty: "train" when the dataset has it, else "val"
  std::int64_t calib_samples = 64;  // first N samples (classification) or windows (language model)
  std::int64_t seq = 0;             // language model window; 0: the model's snnconv.max_seq
  std::string task;                 // override the model's task (model_source.hpp)
  // With no data at all (no --data, --calib-data or snnconv.data): calibrate on calib_samples synthetic inputs
  // (model_data.hpp) instead of refusing. The front door sets it; the commands do not.
  bool synthetic_calibration = false;
  // Rows already in memory to calibrate on (the Python module's arrays, rows_from_arrays); when set they win over
  // calib_data and data, and their first calib_samples rows are used.
  std::shared_ptr<const RowSet> calib_rows;
  QuantizeOptions quant;
};

// Reads, binds, fuses, builds the QANN skeleton, calibrates, quantizes and converts to spiking. Calibration
// samples: --calib-data, else the data file (an .npz: its first calib_samples rows, also scored; an HDF5
// dataset: its calibration split), else synthetic inputs when allowed. UsageError when there is none.
QuantizedModel quantize_model(const QuantizeModelOptions& options);

// quantize_model in two stages, so that compression (compress.hpp) can change the float model in between:
// prepare_model reads, binds and fuses (m.canonical) and picks the calibration data (qann and snn stay empty);
// quantize_prepared builds the QANN of m.canonical, calibrates, quantizes and converts.
QuantizedModel prepare_model(const QuantizeModelOptions& options);
// prepare_model on a model already read and its fused graph bound at batch 1 (the front door's): no file parse.
QuantizedModel prepare_model(const ModelSource& source, Graph canonical, const QuantizeModelOptions& options);
void quantize_prepared(QuantizedModel& m, const QuantizeModelOptions& options);
// The graph inputs of the first calib_samples samples of m's calibration split.
std::vector<std::vector<Tensor>> calibration_inputs(const QuantizedModel& m, const QuantizeModelOptions& options);

// The SNN model file (`snnconv convert --out model.snn.h5`): the QANN and the SNN graphs with weights,
// thresholds and count bounds, plus where they came from (docs/spiking.md, "Model file"). Reloading gives
// a QuantizedModel without the float graph; samples and runs work as after quantize_model. The data path
// is stored as given; `data` overrides it on load when not empty.
void save_quantized_model(const QuantizedModel& m, const QuantizeModelOptions& options, const std::string& path);
// The bytes save_quantized_model writes (built in memory and read back), for a command that commits the
// model file together with other outputs (core/atomic_output.hpp).
std::string quantized_model_image(const QuantizedModel& m, const QuantizeModelOptions& options, const std::string& path);
QuantizedModel load_quantized_model(const std::string& path, const std::string& data = "");

// Data parallel (docs/scaling.md): quantize_prepared spread over the ranks of `comm`. Every rank runs `prepare`
// (prepare_model, or the caller's fused graph) and calibrates its contiguous shard of the calibration samples;
// each point's kept values go to the rank that owns it (contiguous runs of points of about equal search work),
// which merges the shards in rank order (the statistics of one process, bit for bit) and chooses its points'
// steps; rank 0 sends every step to every rank, and every rank applies them, quantizes the weights and converts itself (the same graphs everywhere). When a rank
// throws an snnconv::Error before the steps are chosen, every rank throws the first failing rank's error (same
// class, message and context), so all ranks take the same path (the report lists the stage as not available).
// One process (comm null or of size 1): prepare() then quantize_prepared.
QuantizedModel quantize_jointly(Communicator* comm, const QuantizeModelOptions& options,
                                const std::function<QuantizedModel()>& prepare);

// One run of the quantized graph: `rows` samples (one unless the export fixes a larger batch B: then B rows, the
// last group padded by repeating its last row). inputs: one tensor per graph input; labels: classification, per
// real row (empty when the data has none); next: language model and vqa, the token each position of each real
// row predicts (-1: none), rows x T. label: the first row's label (-1 when none), for single-row callers.
struct Sample {
  std::vector<Tensor> inputs;
  std::int64_t label = -1;
  std::vector<std::int64_t> next;
  std::int64_t rows = 1;
  std::vector<std::int64_t> labels;
};
// The samples of `split` (an .npz has none: its rows) of m's data, at most `limit` (< 0: all), grouped as the
// graph's batch dim says.
std::vector<Sample> load_samples(const QuantizedModel& m, const std::string& split, std::int64_t limit);
// The same from rows already loaded (model_data.hpp) for m's graph.
std::vector<Sample> group_samples(const QuantizedModel& m, const RowSet& rows);
// A view of m as a model source (its bound graph, task, window, batch) for load_rows.
ModelSource source_of(const QuantizedModel& m);

// The score of a sample's real rows from the logits (first graph output): classification, rows right; language
// model, nats and scored positions; vqa, rows whose every answer position is right. count: rows or positions.
struct SampleScore {
  double value = 0.0;
  double count = 0.0;
};
// NumericError naming `site` when the scored rows of `logits` hold a NaN or an Inf (core/finite.hpp).
SampleScore score_sample(const std::string& task, const Tensor& logits, const Sample& s, const OutputSite& site = {});
// "accuracy", "bits_per_byte", "exact_match", or "" when the samples carry no labels or targets.
std::string metric_of(const std::string& task, const std::vector<Sample>& samples);
// The metric from summed scores: the mean (accuracy, exact match) or bits per scored byte.
double finish_metric(const std::string& metric, const SampleScore& total);

enum class SpikingEngine : std::uint8_t { qann, snn };

struct SpikingRunOptions {
  SpikingEngine engine = SpikingEngine::snn;
  snn::FireMode mode = snn::FireMode::strict;
  int max_steps = 4096;
  int threads = 1;  // 0: every core (snn::EngineOptions::threads); results do not depend on it
  // SNN only: samples per layer-synchronous pass and thread shard (snn::Engine::run_batch), and the engine's
  // memory limit (0: none): state that would not fit is refused before allocation naming the figure.
  int batch = 64;
  std::uint64_t max_memory_bytes = 0;
  bool curve = false;        // metric as read at every step (accuracy vs timesteps)
  bool check_exact = false;  // SNN only: also run the QANN and count mismatching output bits
  // SNN only: record per-step spike counts of every population for the first record_samples samples (and
  // event rasters of the populations named in `raster`) to this HDF5 file (datasets/recording_file.hpp).
  std::string record_path;
  std::vector<std::string> raster;
  std::int64_t record_samples = 16;
  // SNN only: the same recording kept in SpikingRunResult::recording (the Python module's run(record=True)),
  // with or without record_path.
  bool keep_recording = false;
  // SNN only, per-sample reads (the report's early-read cascade, early_read.hpp): on_read is called at the end
  // of every step listed in read_steps that the sample reaches, and once more at its last step with final =
  // true, with the first graph output as read then and the sample's own ledger so far (the run ledger still
  // sums every sample). Sample indices are positions in `samples`.
  std::vector<int> read_steps;
  std::function<void(std::int64_t sample, int step, bool final, const Tensor& output, const Ledger& own)> on_read;
  bool keep_outputs = false;  // SpikingRunResult::outputs: every graph output, one row per real sample row
  // Called after every sample with the samples done so far and the total (a progress display).
  std::function<void(std::int64_t done, std::int64_t total)> on_sample;
  // Data parallel (docs/scaling.md): with more than one rank, each rank runs the contiguous shard
  // shard_of(samples, rank, size) and sends its per-sample outputs, steps, curve readings and its ledger to
  // rank 0, which scores every sample in order and merges the ledgers in rank order: rank 0's result is
  // bit-identical to one process for any rank count. The other ranks return with `SpikingRunResult::root`
  // false and nothing else filled. Every rank must hold the same model and samples. Not with record_path or
  // keep_recording (UsageError). on_read runs on the rank that simulates the sample (global sample indices): the
  // caller gathers what it recorded (the report's early-read cascade: EarlyReadRecorder::gather). on_sample runs
  // on rank 0 only, once the shards are back.
  Communicator* comm = nullptr;
  // Model parallel (docs/scaling.md, "Model-parallel SNN"), SNN only: with partition_ranks K >= 1 the network
  // is split over comm's K ranks (K must equal the rank count) and every rank runs every sample in step with
  // the others, exchanging the events that cross ranks. partition_groups empty: units balanced by synaptic work
  // (snn::Engine::place_by_work); else a group (chip) per SNN graph node, group g on rank g mod K
  // (place_by_groups, method "chips"). Rank 0's result equals one process's; the others return root = false.
  // Not with recordings or per-sample reads (UsageError).
  int partition_ranks = 0;
  std::vector<int> partition_groups;
};

// What a model-parallel run placed where and exchanged (SpikingRunResult::partition).
struct PartitionReport {
  snn::Placement placement;
  std::vector<std::uint64_t> bytes_sent;  // per rank: bytes of events it sent to other ranks (the communicator's count)
  std::uint64_t sample_steps = 0;         // steps simulated, summed over samples
};

struct LayerSpikes {
  std::string name;       // population (quantization point) name
  std::int64_t neurons = 0;
  double spikes_per_inference = 0.0;
  double rate_per_neuron_step = 0.0;  // spikes / (neurons * mean steps)
};

struct SpikingRunResult {
  std::string metric;  // "accuracy", "bits_per_byte", "exact_match", or "" without labels
  double value = 0.0;
  std::int64_t samples = 0;  // real rows run (padding rows of a static batch not counted)
  double mean_steps = 0.0;
  int max_steps = 0;
  std::int64_t not_quiescent = 0;
  std::int64_t output_mismatches = -1;  // check_exact: output floats differing in any bit from the QANN
  std::vector<double> curve;            // curve[t-1]: metric read at step t (held at the final value after a sample ends)
  double spikes_per_inference = 0.0;
  double synaptic_ops_per_inference = 0.0;
  std::vector<LayerSpikes> layers;
  Ledger ledger;  // SNN: summed over samples (rows: SNN graph nodes; samples counts every row computed); QANN: empty
  double seconds = 0.0;      // the whole run (with check_exact: the QANN runs too)
  double snn_seconds = 0.0;  // SNN: engine set-up and simulation alone
  int threads = 1;           // SNN: the engine's resolved thread count
  std::vector<std::string> output_names;  // keep_outputs
  std::vector<Tensor> outputs;            // keep_outputs: per graph output, [rows, ...]
  bool root = true;                       // false on the ranks other than 0 of a data-parallel run
  datasets::RecordingFile recording;      // keep_recording: what record_path receives
  std::optional<PartitionReport> partition;  // partition_ranks >= 1
};

// `--partition chips`: the chip of every SNN graph node on a board of the profile's chips (-1: a node the
// mapping does not place, which follows its neighbours), by the neuromorphic mapper's greedy rule.
struct ChipGroups {
  std::vector<int> node_chip;
  int chips = 1;
  std::int64_t cores = 0, cores_per_chip = 0;
};
ChipGroups chip_groups(const Graph& snn, const hw::Profile& profile);

SpikingRunResult run_spiking(const QuantizedModel& m, const std::vector<Sample>& samples, const SpikingRunOptions& o);

}  // namespace snnconv::pipeline
