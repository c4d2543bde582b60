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

// Every counter of a row (the model-parallel JSON compares whole ledgers between rank counts).
nlohmann::json full_counters_json(const Counters& c) {
  nlohmann::json j = counters_json(c);
  nlohmann::json acs = nlohmann::json::object();
  for (std::size_t w = 0; w < kWidthSlots; ++w)
    if (c.acs[w] != 0) acs[std::to_string(w)] = c.acs[w];
  j["acs_by_width"] = acs;
  j["neuron_updates"] = c.neuron_updates;
  j["spikes_pos"] = c.spikes_pos;
  j["spikes_neg"] = c.spikes_neg;
  j["burst_events"] = c.burst_events;
  j["timesteps"] = c.timesteps;
  j["link_events"] = c.link_events;
  j["link_bytes"] = c.link_bytes;
  return j;
}

nlohmann::json partition_json(const pipeline::PartitionReport& p, const Ledger& ledger) {
  const snn::Placement& pl = p.placement;
  nlohmann::json j;
  j["method"] = pl.method;
  j["ranks"] = pl.ranks;
  j["units_per_rank"] = pl.units;
  j["work_per_rank"] = pl.work;
  j["state_bytes_per_sample_per_rank"] = pl.state_bytes_per_sample;
  j["state_bytes_per_sample_one_rank"] = pl.whole_state_bytes_per_sample;
  j["cut_populations"] = pl.cut_values;
  j["bytes_sent_per_rank"] = p.bytes_sent;
  std::uint64_t sent = 0;
  for (std::uint64_t b : p.bytes_sent) sent += b;
  j["bytes_sent"] = sent;
  const Counters t = ledger.total();
  j["ledger_link_events"] = t.link_events;
  j["ledger_link_bytes"] = t.link_bytes;
  j["sample_steps"] = p.sample_steps;
  j["bytes_per_sample_step"] = p.sample_steps > 0 ? static_cast<double>(sent) / static_cast<double>(p.sample_steps) : 0.0;
  nlohmann::json per_step = nlohmann::json::array();
  for (const Counters& c : ledger.per_step) per_step.push_back(c.link_bytes);
  j["link_bytes_by_step"] = per_step;
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t i = 0; i < ledger.per_node.size(); ++i) {
    nlohmann::json row = full_counters_json(ledger.per_node[i]);
    row["name"] = ledger.node_names[i];
    row["rank"] = i < pl.node_rank.size() ? pl.node_rank[i] : 0;
    rows.push_back(std::move(row));
  }
  j["ledger"] = std::move(rows);
  nlohmann::json steps = nlohmann::json::array();
  for (const Counters& c : ledger.per_step) steps.push_back(full_counters_json(c));
  j["ledger_by_step"] = std::move(steps);
  return j;
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
    if (r.partition) j["partition"] = partition_json(*r.partition, r.ledger);
  }
  return j;
}

}  // namespace snnconv::cli
