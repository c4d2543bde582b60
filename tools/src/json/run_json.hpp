// The JSON of a run (`snnconv run --json`, and the dict the Python module's run() returns): one builder, so the
// CLI and the module can never disagree on a field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "snnconv/core/ledger.hpp"
#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace snnconv::cli {

// One ledger row: MACs by operand width, dense and nonlinear ops, bytes read and written per memory class (zero
// entries left out).
nlohmann::json counters_json(const Counters& c);

// A dense (ann) run: model, data, split, task, metric, the ledger total and per layer (name, op, kernel).
nlohmann::json ann_run_json(const pipeline::EvalResult& r, const std::string& split);

// What the spiking and QANN runs were asked (the JSON echoes them).
struct SpikingRunEcho {
  std::string split, engine, mode;
  int max_steps = 0;
  bool check_exact = false, curve = false;
};

// A qann or snn run: the model's quantization, the metric and, for snn, steps, spikes, the ledger and the layers.
nlohmann::json spiking_run_json(const pipeline::QuantizedModel& m, const pipeline::SpikingRunResult& r,
                                const SpikingRunEcho& echo);

}  // namespace snnconv::cli
