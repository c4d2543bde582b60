// prune_prepared (prune_model.hpp): pruning and bias correction of a prepared model on its calibration data.
#include "snnconv/pipeline/prune_model.hpp"

#include <fmt/format.h>

#include "snnconv/converter/prune.hpp"

namespace snnconv::pipeline {

PruneStep prune_structure(QuantizedModel& m, const QuantizeModelOptions& quant, const PruneModelOptions& o) {
  prune::units_removed(o.heads, 2);  // range checks before any work
  prune::units_removed(o.mlp, 2);
  PruneStep step;
  const bool structural = o.heads > 0.0 || o.mlp > 0.0 || o.blocks > 0;
  if (!structural && !o.bias_correction) return step;
  step.original = m.canonical;
  if (structural) {
    const std::vector<std::vector<Tensor>> calib = calibration_inputs(m, quant);
    const prune::Structure s = prune::find_structure(m.canonical);
    const prune::Importance imp = prune::measure_importance(m.canonical, s, calib);
    step.mapping = prune::prune_graph(m.canonical, s, imp, {o.heads, o.mlp, o.blocks, o.bias_correction});
    step.lines = step.mapping.pruned;
  }
  return step;
}

void correct_pruned_biases(QuantizedModel& m, const QuantizeModelOptions& quant, const PruneModelOptions& o,
                           PruneStep& step) {
  if (!o.bias_correction) return;
  const std::vector<std::vector<Tensor>> calib = calibration_inputs(m, quant);
  if (o.correct_weight_quantization)
    prune::fake_quantize_weights(m.canonical, quant.quant.weight_bits, quant.quant.weight_bits_of,
                                 quant.quant.weight_group, quant.quant.weight_group_of);
  const auto changes = prune::correct_biases(m.canonical, step.original, step.mapping, calib);
  double max_change = 0.0;
  for (const auto& [name, c] : changes) max_change = std::max(max_change, c);
  step.lines.push_back(fmt::format("bias correction: {} Linear biases set to the unpruned float model's mean "
                                   "pre-activation output over {} calibration samples{} (largest mean |change| {:.4g})",
                                   changes.size(), calib.size(),
                                   o.correct_weight_quantization ? ", weights rounded to their quantized values first" : "",
                                   max_change));
}

std::vector<std::string> prune_prepared(QuantizedModel& m, const QuantizeModelOptions& quant,
                                        const PruneModelOptions& o) {
  PruneStep step = prune_structure(m, quant, o);
  correct_pruned_biases(m, quant, o, step);
  return step.lines;
}

}  // namespace snnconv::pipeline
