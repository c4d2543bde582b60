// `snnconv compress`: the compression pipeline of one model on its dataset (docs/compression.md).
//
// Order: import and fuse (prepare_model) -> structural pruning of the float model (heads, MLP channels,
// blocks) -> bias correction of what pruning changed -> bit allocation (uniform, or mixed precision under a
// budget from measured sensitivities) -> quantization with the allocated bits -> spiking conversion. Each
// step is a library function of converter/ (layer 3); this file only chains them on real data and keeps
// what the compression report needs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "snnconv/pipeline/compress_mixed.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace snnconv::pipeline {

struct CompressOptions {
  QuantizeModelOptions quant;  // model, data, calibration, uniform bits and clip method

  // Mixed precision (0 / empty: uniform quant.weight_bits and quant.act_bits).
  double budget_wbits = 0.0;        // mean bits per weight
  std::int64_t budget_bytes = 0;    // total weight bytes
  std::string cost_file;            // per-layer costs (JSON)
  double budget_act_bits = 0.0;     // mean activation bits over quantization points
  std::vector<int> candidate_bits{2, 3, 4, 6, 8};
  std::vector<int> candidate_act_bits{3, 4, 5, 6, 8};
  std::int64_t sensitivity_samples = 8;  // first N calibration samples for the sensitivity measurement

  // Score the float model and the compressed QANN on the first N test samples (0: not scored).
  std::int64_t eval_samples = 0;

  // Structural pruning of the float model before quantization.
  double prune_heads = 0.0;  // fraction of attention heads removed, [0, 1)
  double prune_mlp = 0.0;    // fraction of MLP hidden channels removed, [0, 1)
  int prune_blocks = 0;      // whole blocks removed
  bool bias_correction = false;
};

// What the compression report shows for one weight-bearing unit (Linear node).
struct UnitReport {
  std::string name;
  std::int64_t params = 0;
  int weight_bits = 0;
  std::map<int, double> sensitivity;  // bits -> KL divergence of the output when only this unit is quantized
};

struct CompressResult {
  QuantizedModel model;                  // canonical (pruned), qann, snn
  std::int64_t params_before = 0, params_after = 0;
  double weight_bytes = 0.0;             // sum over Linear weights of params * bits / 8
  std::int64_t step_bytes = 0;           // the weights' f32 steps: N per Linear, (K/G)*N grouped
  std::int64_t weight_group = 0;         // quant.quant.weight_group (0: per output channel)
  std::vector<UnitReport> units;
  std::map<std::string, int> act_bits;   // quantization point -> bits
  std::vector<std::string> pruned;       // what pruning removed, one line per unit (head, channels, block)
  MixedPrecisionReport mixed;            // sensitivities and allocation at every level (budgets only)
  AccuracyReport accuracy;               // eval_samples > 0
};

// Runs the pipeline. UsageError for options out of range (a budget below the smallest candidate bits, a
// pruning fraction outside [0, 1)), ShapeError when the calibration data does not fit the model.
CompressResult compress_model(const CompressOptions& options);

}  // namespace snnconv::pipeline
