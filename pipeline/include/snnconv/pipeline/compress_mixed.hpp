// Mixed-precision step of `snnconv compress` (compress.hpp, docs/compression.md "Mixed precision"): measure
// the sensitivity of every unit of the hierarchy on calibration data, allocate bits per Linear weight (and
// per quantization point) with the exact knapsack of converter/mixed_precision.hpp, and score the model
// before and after.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "snnconv/pipeline/spiking.hpp"

namespace snnconv::pipeline {

struct CompressOptions;

// One unit of the hierarchy in the report.
struct HierarchyReport {
  std::string name;
  std::string level;                  // model, block, sublayer, tensor
  std::int64_t params = 0;            // weight elements (activation units: elements of the point)
  std::vector<std::string> members;   // Linears or quantization points
  double mean_bits = 0.0;             // allocated bits, params-weighted mean over the members
  double allocated_sensitivity = 0.0; // sum of the members' tensor-level sensitivities at their allocated bits
  std::map<int, double> sensitivity;  // bits -> KL (nats) when only this unit is quantized at those bits
};

struct MixedPrecisionReport {
  bool weights = false, activations = false;
  std::string weight_budget;            // the budget as given, e.g. "--budget-wbits 4.5"
  double weight_budget_cost = 0.0;      // the budget in cost units (bits, or the cost file's unit)
  double weight_cost = 0.0;             // cost of the allocation in the same unit
  double weight_predicted_kl = 0.0;     // sum of tensor sensitivities at the allocation
  double weight_measured_kl = 0.0;      // KL with every tensor at its allocated bits at once
  bool weight_exact = true;             // the knapsack was solved exactly (no cost rounding)
  std::vector<HierarchyReport> weight_units;  // coarse to fine
  double act_budget_bits = 0.0, act_mean_bits = 0.0, act_predicted_kl = 0.0;
  std::vector<HierarchyReport> act_units;     // one per quantization point
  std::int64_t sensitivity_samples = 0;
  double seconds = 0.0;
};

// Measures and allocates as `o` asks (budget_wbits, budget_bytes, cost_file, budget_act_bits) and writes
// the allocation into quant.quant.weight_bits_of / act_bits_of. m: prepare_model's result (canonical float
// graph, calibration split). UsageError for an impossible budget (naming it and the smallest possible),
// for more than one weight budget, or a bad cost file; ShapeError when calibration data do not fit.
MixedPrecisionReport allocate_mixed_precision(const QuantizedModel& m, const CompressOptions& o,
                                              QuantizeModelOptions& quant);

// Metric of the float model and of the compressed QANN on the first `samples` test samples (windows).
struct AccuracyReport {
  std::string metric;  // accuracy or bits_per_byte
  std::string split;
  std::int64_t samples = 0;
  double float_value = NAN, compressed_value = NAN;
};
AccuracyReport evaluate_compression(const QuantizedModel& m, const CompressOptions& o);

}  // namespace snnconv::pipeline
