// The pruning step of `snnconv compress` (compress.hpp) on a prepared model: structural pruning of the
// float graph m.canonical (converter/prune.hpp) measured on the model's calibration samples, then bias
// correction against the unpruned graph. Also used by tools/bench/bench_prune.cpp.
#pragma once

#include <string>
#include <vector>

#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/prune.hpp"

namespace snnconv::pipeline {

struct PruneModelOptions {
  double heads = 0.0;   // fraction of heads removed per attention unit, [0, 1)
  double mlp = 0.0;     // fraction of hidden channels removed per MLP, [0, 1)
  int blocks = 0;       // whole blocks removed
  bool bias_correction = false;
  // With bias_correction: also correct the mean shift of weight quantization at the bits quantize_prepared
  // will use (quant.quant.weight_bits / weight_bits_of): the weights of m.canonical are fake-quantized
  // first, so the correction sees both pruning and weight rounding. The float graph then holds quantized
  // weights (quantize_prepared maps them to the same integers).
  bool correct_weight_quantization = true;
};

// The two halves of prune_prepared, for callers that choose the bits in between (compress_model: pruning,
// then the mixed-precision allocation on the pruned graph, then bias correction at the allocated bits).
struct PruneStep {
  Graph original;              // m.canonical before pruning: the reference of bias correction
  prune::PruneResult mapping;  // kept units of the pruned graph
  std::vector<std::string> lines;
};
PruneStep prune_structure(QuantizedModel& m, const QuantizeModelOptions& quant, const PruneModelOptions& options);
void correct_pruned_biases(QuantizedModel& m, const QuantizeModelOptions& quant, const PruneModelOptions& options,
                           PruneStep& step);

// Prunes m.canonical in place (between prepare_model and quantize_prepared); returns the report lines
// (pruned units, removed blocks, bias corrections). Calibration samples: calibration_inputs(m, quant).
std::vector<std::string> prune_prepared(QuantizedModel& m, const QuantizeModelOptions& quant,
                                        const PruneModelOptions& options);

}  // namespace snnconv::pipeline
