// The quantize -> convert -> simulate path on a real model and dataset: what `snnconv run --engine qann|snn`
// and the report run. Lives in cascade (layer 4) because it joins the importer and quantizer (converter),
// the datasets, the QANN reference (ann_baseline) and the SNN engine (snn_core).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv::pipeline {

// A model imported at batch 1 (sequence length from --seq or snnconv.max_seq), fused, with the dataset it
// is scored on and the calibration samples taken from the calibration split.
struct QuantizedModel {
  std::string model, data, task;
  Graph canonical;  // batch 1, fused
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
  std::string calibration_split;
};

struct QuantizeModelOptions {
  std::string model;                // ONNX file
  std::string data;                 // dataset; empty: the model's snnconv.data
  std::string calib_split;          // empty: "train" when the dataset has it, else "val"
  std::int64_t calib_samples = 64;  // first N samples (classification) or windows (language model)
  std::int64_t seq = 0;             // language model window; 0: the model's snnconv.max_seq
  QuantizeOptions quant;
};

// Imports, fuses, builds the QANN skeleton, calibrates on the calibration split, quantizes and converts to
// spiking. Classification and language-model datasets are supported; other tasks are an UnsupportedError.
QuantizedModel quantize_model(const QuantizeModelOptions& options);

// quantize_model in two stages, so that compression (compress.hpp) can change the float model in between:
// prepare_model imports and fuses (m.canonical) and picks the calibration split (qann and snn stay empty);
// quantize_prepared builds the QANN of m.canonical, calibrates, quantizes and converts.
QuantizedModel prepare_model(const QuantizeModelOptions& options);
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

// The test-split inputs of sample i (one tensor per graph input) and its label, for classification; for a
// language model the window's tokens and, as label, -1.
struct Sample {
  std::vector<Tensor> inputs;
  std::int64_t label = -1;
  std::vector<std::int64_t> next;  // language model: the bytes each position predicts (-1: none)
};
std::vector<Sample> load_samples(const QuantizedModel& m, const std::string& split, std::int64_t limit);

enum class SpikingEngine : std::uint8_t { qann, snn };

struct SpikingRunOptions {
  SpikingEngine engine = SpikingEngine::snn;
  snn::FireMode mode = snn::FireMode::strict;
  int max_steps = 4096;
  int threads = 1;
  bool curve = false;        // metric as read at every step (accuracy vs timesteps)
  bool check_exact = false;  // SNN only: also run the QANN and count mismatching output bits
  // SNN only: record per-step spike counts of every population for the first record_samples samples (and
  // event rasters of the populations named in `raster`) to this HDF5 file (datasets/recording_file.hpp).
  std::string record_path;
  std::vector<std::string> raster;
  std::int64_t record_samples = 16;
  // SNN only, per-sample reads (the report's early-read cascade, early_read.hpp): on_read is called at the end
  // of every step listed in read_steps that the sample reaches, and once more at its last step with final =
  // true, with the first graph output as read then and the sample's own ledger so far (the run ledger still
  // sums every sample). Sample indices are positions in `samples`.
  std::vector<int> read_steps;
  std::function<void(std::int64_t sample, int step, bool final, const Tensor& output, const Ledger& own)> on_read;
  // Called after every sample with the samples done so far and the total (a progress display).
  std::function<void(std::int64_t done, std::int64_t total)> on_sample;
};

struct LayerSpikes {
  std::string name;       // population (quantization point) name
  std::int64_t neurons = 0;
  double spikes_per_inference = 0.0;
  double rate_per_neuron_step = 0.0;  // spikes / (neurons * mean steps)
};

struct SpikingRunResult {
  std::string metric;  // "accuracy" or "bits_per_byte"
  double value = 0.0;
  std::int64_t samples = 0;
  double mean_steps = 0.0;
  int max_steps = 0;
  std::int64_t not_quiescent = 0;
  std::int64_t output_mismatches = -1;  // check_exact: output floats differing in any bit from the QANN
  std::vector<double> curve;            // curve[t-1]: metric read at step t (held at the final value after a sample ends)
  double spikes_per_inference = 0.0;
  double synaptic_ops_per_inference = 0.0;
  std::vector<LayerSpikes> layers;
  Ledger ledger;  // SNN: summed over samples (rows: SNN graph nodes); QANN: empty
  double seconds = 0.0;
};

SpikingRunResult run_spiking(const QuantizedModel& m, const std::vector<Sample>& samples, const SpikingRunOptions& o);

}  // namespace snnconv::pipeline
