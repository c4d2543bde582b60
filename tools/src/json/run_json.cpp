// The run JSON builders (run_json.hpp), moved out of cmd_run.cpp so that the Python module calls the same code.
#include "json/run_json.hpp"

namespace snnconv::cli {

nlohmann::json counters_json(const Counters& c) {
  nlohmann::json macs = nlohmann::json::object();
  for (std::size_t w = 0; w < kWidthSlots; ++w)
    if (c.macs[w] != 0) macs[std::to_string(w)] = c.macs[w];
  nlohmann::json read = nlohmann::json::object(), written = nlohmann::json::object();
  for (std::size_t m = 0; m < kMemClassCount; ++m) {
    const std::string name(mem_class_name(static_cast<MemClass>(m)));
    if (c.bytes_read[m] != 0) read[name] = c.bytes_read[m];
    if (c.bytes_written[m] != 0) written[name] = c.bytes_written[m];
  }
  return {{"macs_by_width", macs}, {"dense_ops", c.dense_ops}, {"nonlinear_ops", c.nonlinear_ops},
          {"bytes_read", read},    {"bytes_written", written}};
}

nlohmann::json ann_run_json(const pipeline::EvalResult& r, const std::string& split) {
  nlohmann::json j;
  j["model"] = r.model;
  j["data"] = r.data;
  j["split"] = split;
  j["task"] = r.task;
  j["engine"] = "ann";
  j["samples"] = r.samples;
  j["metric"] = r.metric.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"name", r.metric}, {"value", r.value}};
  j["metrics"] = nlohmann::json::object();
  for (const auto& [name, value] : r.extra) j["metrics"][name] = value;
  j["seconds"] = r.seconds;
  j["samples_per_s"] = r.samples_per_s;
  j["ledger_samples"] = r.ledger.samples;
  j["total"] = counters_json(r.ledger.total());
  j["layers"] = nlohmann::json::array();
  for (std::size_t i = 0; i < r.ledger.per_node.size(); ++i) {
    nlohmann::json row = counters_json(r.ledger.per_node[i]);
    row["name"] = r.ledger.node_names[i];
    row["op"] = std::string(op_name(r.ledger.node_ops[i]));
    row["kernel"] = i < r.kernels.size() ? r.kernels[i] : "reference";
    j["layers"].push_back(std::move(row));
  }
  return j;
}

nlohmann::json spiking_run_json(const pipeline::QuantizedModel& m, const pipeline::SpikingRunResult& r,
                                const SpikingRunEcho& echo) {
  const bool snn = echo.engine == "snn";
  nlohmann::json j;
  j["model"] = m.model;
  j["data"] = m.data;
  j["split"] = echo.split;
  j["task"] = m.task;
  j["engine"] = echo.engine;
  j["weight_bits"] = m.weight_bits;  // the model's, not the flags': a model file keeps its own
  j["weight_group"] = m.weight_group;
  j["act_bits"] = m.act_bits;
  j["clip"] = m.clip;
  j["calibration_samples"] = m.calibration_samples;
  j["calibration_split"] = m.calibration_split;
  j["calibration"] = m.calibration_description;
  j["samples"] = r.samples;
  j["metric"] = r.metric.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"name", r.metric}, {"value", r.value}};
  j["seconds"] = r.seconds;
  if (snn) {
    j["snn_seconds"] = r.snn_seconds;
    j["threads"] = r.threads;
    j["mode"] = echo.mode;
    j["max_steps"] = echo.max_steps;
    j["steps"] = {{"mean", r.mean_steps}, {"max", r.max_steps}, {"not_quiescent", r.not_quiescent}};
    j["spikes_per_inference"] = r.spikes_per_inference;
    j["synaptic_ops_per_inference"] = r.synaptic_ops_per_inference;
    if (echo.check_exact) j["output_mismatches_vs_qann"] = r.output_mismatches;
    if (echo.curve) j["metric_by_step"] = r.curve;
    j["total"] = counters_json(r.ledger.total());
    j["layers"] = nlohmann::json::array();
    for (const pipeline::LayerSpikes& l : r.layers)
      j["layers"].push_back({{"name", l.name},
                             {"neurons", l.neurons},
                             {"spikes_per_inference", l.spikes_per_inference},
                             {"rate_per_neuron_step", l.rate_per_neuron_step}});
  }
  return j;
}

}  // namespace snnconv::cli
