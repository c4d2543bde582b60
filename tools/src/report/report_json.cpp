// report.json: every figure of a pipeline run (schema: docs/report-schema.md, tools/report.schema.json).
#include <algorithm>
#include <cmath>

#include "report/cascade_report.hpp"
#include "report/report.hpp"

namespace snnconv::report {

using nlohmann::json;

namespace {

// JSON has no Inf/NaN: such a figure becomes null.
json num(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json counters_json(const Counters& c) {
  json macs = json::object(), acs = json::object();
  for (std::size_t w = 0; w < kWidthSlots; ++w) {
    if (c.macs[w] != 0) macs[std::to_string(w)] = c.macs[w];
    if (c.acs[w] != 0) acs[std::to_string(w)] = c.acs[w];
  }
  json read = json::object(), written = json::object();
  for (std::size_t m = 0; m < kMemClassCount; ++m) {
    const std::string name(mem_class_name(static_cast<MemClass>(m)));
    read[name] = c.bytes_read[m];
    written[name] = c.bytes_written[m];
  }
  return {{"macs_by_width", macs},
          {"acs_by_width", acs},
          {"macs", c.total_macs()},
          {"acs", c.total_acs()},
          {"neuron_updates", c.neuron_updates},
          {"spikes_pos", c.spikes_pos},
          {"spikes_neg", c.spikes_neg},
          {"burst_events", c.burst_events},
          {"dense_ops", c.dense_ops},
          {"nonlinear_ops", c.nonlinear_ops},
          {"bytes_read", read},
          {"bytes_written", written},
          {"timesteps", c.timesteps}};
}

json ledger_json(const Ledger& l) {
  json layers = json::array();
  for (std::size_t i = 0; i < l.per_node.size(); ++i) {
    json row = counters_json(l.per_node[i]);
    row["name"] = i < l.node_names.size() ? l.node_names[i] : "";
    row["op"] = i < l.node_ops.size() ? std::string(op_name(l.node_ops[i])) : "";
    layers.push_back(std::move(row));
  }
  return {{"samples", l.samples},
          {"tokens", l.tokens},
          {"steps", hw::ledger_steps(l)},
          {"total", counters_json(l.total())},
          {"layers", std::move(layers)}};
}

json breakdown_json(const hw::EnergyBreakdown& e) {
  return {{"compute", num(e.compute_pj)}, {"sram", num(e.sram_pj)},     {"dram", num(e.dram_pj)},
          {"noc", num(e.noc_pj)},         {"static", num(e.static_pj)}, {"total", num(e.total_pj())}};
}

json mapping_json(const hw::Mapping& m) {
  std::int64_t spilled_synapses = 0, spilled_neurons = 0;
  for (const auto& l : m.layers) {
    spilled_synapses += l.synapse_bytes_spilled;
    spilled_neurons += l.neurons_spilled;
  }
  return {{"fits", m.fits},
          {"shortfall", m.shortfall},
          {"shortfall_cores", m.shortfall_cores},
          {"shortfall_neurons", m.shortfall_neurons},
          {"shortfall_synapse_bytes", m.shortfall_synapse_bytes},
          {"cores_used", m.cores_used},
          {"layers", m.layers.size()},
          {"synapse_bytes_spilled", spilled_synapses},
          {"neurons_spilled", spilled_neurons}};
}

}  // namespace

json price_json(const hw::ProfilePrice& p) {
  const hw::PriceResult& r = p.result;
  const double per = r.samples > 0 ? 1.0 / static_cast<double>(r.samples) : 0.0;
  json layers = json::array();
  for (const hw::LayerEnergy& l : r.per_layer)
    layers.push_back({{"name", l.name},
                      {"op", std::string(op_name(l.op))},
                      {"energy_pj", breakdown_json(l.energy)},
                      {"sram_bytes", num(l.sram_bytes)},
                      {"dram_bytes", num(l.dram_bytes)},
                      {"hops", num(l.hops)},
                      {"hops_x", num(l.hops_x)},
                      {"hops_y", num(l.hops_y)}});
  json j = {
      {"profile", p.profile},
      {"kind", p.kind},
      {"fits", r.fits},
      {"shortfall", r.shortfall},
      {"mapping", p.mapping ? mapping_json(*p.mapping) : json(nullptr)},
      {"samples", r.samples},
      {"tokens", r.tokens},
      {"spikes", r.spikes},
      {"total_pj", breakdown_json(r.total)},
      // No per-unit figure for a model that does not fit: a zero must not read as a price.
      {"per_inference_pj", r.fits && r.samples > 0 ? breakdown_json(r.total.scaled(per)) : json(nullptr)},
      {"per_token_pj",
       r.fits && r.tokens > 0 ? breakdown_json(r.total.scaled(1.0 / static_cast<double>(r.tokens))) : json(nullptr)},
      {"energy_per_spike_pj", r.spikes > 0 ? num(r.energy_per_spike_pj()) : json(nullptr)},
      {"latency_s", num(r.latency_s)},
      {"latency_per_inference_s", num(r.latency_per_inference_s())},
      {"bytes", {{"sram", num(r.sram_bytes)}, {"dram", num(r.dram_bytes)}}},
      {"bytes_per_inference", {{"sram", num(r.sram_bytes * per)}, {"dram", num(r.dram_bytes * per)}}},
      {"layers", std::move(layers)},
      {"notes", r.notes}};
  return j;
}

namespace {

json profile_json(const hw::Profile& p) {
  json constants = json::object();
  for (const auto& [key, c] : p.constants) {
    json cj = {{"value", c.value},           {"unit", c.unit},
               {"source", c.source},         {"verified", c.verified},
               {"assumption", c.assumption}};
    if (!c.node.empty()) cj["node"] = c.node;
    if (!c.note.empty()) cj["note"] = c.note;
    constants[key] = std::move(cj);
  }
  return {{"name", p.name},
          {"kind", std::string(hw::profile_kind_name(p.kind))},
          {"description", p.description},
          {"file", p.file},
          {"constants", std::move(constants)}};
}

json snn_json(const cascade::SnnSection& s) {
  json steps = json::array();
  for (const auto& p : s.metric_vs_step) steps.push_back({{"step", p.step}, {"value", num(p.value)}});
  json layers = json::array();
  for (const auto& l : s.layers)
    layers.push_back({{"name", l.name},
                      {"neurons", l.neurons},
                      {"spikes", l.spikes},
                      {"spikes_per_inference", num(l.spikes_per_inference)},
                      {"firing_rate", num(l.firing_rate)}});
  const bool scored = !s.metric.empty();
  return {{"mode", s.mode},
          {"metric", {{"name", scored ? json(s.metric) : json(nullptr)},
                      {"qann_value", scored ? num(s.qann_value) : json(nullptr)},
                      {"snn_value", scored ? num(s.snn_value) : json(nullptr)}}},
          {"data", s.data},
          {"calibration",
           {{"source", s.calibration_source}, {"description", s.calibration_description}, {"samples", s.calibration_samples}}},
          {"samples", s.samples},
          {"activation_bits", s.activation_bits},
          {"max_steps", s.max_steps},
          {"mean_steps", num(s.mean_steps)},
          {"max_steps_used", s.max_steps_used},
          {"not_quiescent", s.not_quiescent},
          {"seconds", num(s.seconds)},
          {"metric_vs_step", std::move(steps)},
          {"layers", std::move(layers)},
          {"notes", s.notes},
          {"ledger", ledger_json(s.ledger)}};
}

json sensitivity_json(const cascade::PipelineResult& r) {
  std::vector<std::string> subjects = r.sensitivity_subjects;
  if (subjects.empty()) {
    subjects.push_back("ann");
    if (r.snn) subjects.push_back("snn");
  }
  const auto snn_at = static_cast<std::size_t>(std::find(subjects.begin(), subjects.end(), "snn") - subjects.begin());
  auto per_subject = [&](const std::vector<double>& e, const std::vector<bool>& fits) {
    json j = json::object();
    for (std::size_t i = 0; i < subjects.size(); ++i)
      j[subjects[i]] = {{"energy_per_inference_pj", i < e.size() ? num(e[i]) : json(nullptr)},
                        {"fits", i < fits.size() && fits[i]}};
    return j;
  };
  // ANN (as exported) / SNN, the ratio of schema version 1.
  auto ratio = [&](const std::vector<double>& e, const std::vector<bool>& fits) -> json {
    if (snn_at >= subjects.size() || snn_at >= e.size() || !fits[0] || !fits[snn_at] || e[snn_at] == 0) return nullptr;
    return num(e[0] / e[snn_at]);
  };
  json rows = json::array();
  for (const hw::SensitivityRow& row : r.sensitivity) {
    json points = json::array();
    for (const hw::SensitivityPoint& p : row.points) {
      json pj = {{"factor", p.factor}, {"value", num(p.value)}, {"valid", p.valid}, {"status", p.status}};
      pj.update(per_subject(p.energy_per_inference_pj, p.fits));
      pj["ratio"] = p.valid ? ratio(p.energy_per_inference_pj, p.fits) : json(nullptr);
      points.push_back(std::move(pj));
    }
    json base = per_subject(row.base_energy_per_inference_pj, row.base_fits);
    base["ratio"] = ratio(row.base_energy_per_inference_pj, row.base_fits);
    rows.push_back({{"profile", row.profile},
                    {"constant", row.key},
                    {"unit", row.unit},
                    {"base_value", num(row.base_value)},
                    {"verified", row.verified},
                    {"base", std::move(base)},
                    {"points", std::move(points)}});
  }
  return {{"factors", r.sensitivity_factors}, {"subjects", subjects}, {"rows", std::move(rows)}};
}

// The SNN early-read cascade: the `snnconv cascade` object (cascade_json) of the calibration profile, plus the
// chosen plan priced on every profile.
json cascade_section_json(const cascade::EarlyReadResult& e) {
  json j;
  j["kind"] = "snn_early_read";
  j["calibration_profile"] = e.calibration_profile;
  j["result"] = cascade_json(e.cascade);
  j["profiles"] = json::array();
  for (const auto& p : e.profiles) {
    json pj{{"profile", p.profile}, {"kind", p.kind}, {"fits", p.fits}};
    pj["cascade_energy_per_inference_pj"] = p.fits ? num(p.cascade_pj) : json(nullptr);
    pj["quiescence_energy_per_inference_pj"] = p.fits ? num(p.quiescence_pj) : json(nullptr);
    pj["saving"] = p.fits ? num(p.saving) : json(nullptr);
    json st = json::array();
    for (double v : p.stage_pj) st.push_back(num(v));
    pj["stage_energy_per_inference_pj"] = st;
    j["profiles"].push_back(std::move(pj));
  }
  return j;
}

json counts_per_inference(const Ledger& l) {
  const Counters t = l.total();
  const double n = static_cast<double>(std::max<std::uint64_t>(l.samples, 1));
  auto d = [&](std::uint64_t v) { return num(static_cast<double>(v) / n); };
  json read = json::object(), written = json::object();
  for (std::size_t m = 0; m < kMemClassCount; ++m) {
    const std::string name(mem_class_name(static_cast<MemClass>(m)));
    read[name] = d(t.bytes_read[m]);
    written[name] = d(t.bytes_written[m]);
  }
  return {{"macs", d(t.total_macs())},
          {"synaptic_ops", d(t.total_acs())},
          {"neuron_updates", d(t.neuron_updates)},
          {"spikes", d(t.spikes())},
          {"burst_events", d(t.burst_events)},
          {"dense_ops", d(t.dense_ops)},
          {"nonlinear_ops", d(t.nonlinear_ops)},
          {"steps", num(static_cast<double>(hw::ledger_steps(l)) / n)},
          {"bytes_read", read},
          {"bytes_written", written}};
}

// The ops table: per subject, what one inference counts (docs/report-schema.md, `ops`).
json ops_json(const cascade::PipelineResult& r) {
  json out = json::array();
  for (const cascade::AnnBaseline& b : r.baselines)
    out.push_back({{"subject", b.subject}, {"label", b.label + " ANN"},
                   {"per_inference", counts_per_inference(b.subject == "ann" ? r.ann.ledger : b.ledger)}});
  if (r.baselines.empty()) out.push_back({{"subject", "ann"}, {"label", "ANN"}, {"per_inference", counts_per_inference(r.ann.ledger)}});
  if (r.snn) out.push_back({{"subject", "snn"}, {"label", "SNN"}, {"per_inference", counts_per_inference(r.snn->ledger)}});
  return out;
}

json baselines_json(const cascade::PipelineResult& r) {
  json out = json::array();
  for (const cascade::AnnBaseline& b : r.baselines)
    out.push_back({{"subject", b.subject},
                   {"label", b.label},
                   {"weight_bits", b.weight_bits},
                   {"act_bits", b.act_bits},
                   {"snn_bits", b.snn_bits},
                   {"metric", std::isfinite(b.value) && r.snn ? json{{"name", r.snn->metric}, {"value", b.value}}
                                                               : json(nullptr)},
                   {"samples", b.samples},
                   {"ledger", b.subject == "ann" ? json(nullptr) : ledger_json(b.ledger)}});
  return out;
}

json numbers(const std::vector<double>& v) {
  json out = json::array();
  for (double x : v) out.push_back(num(x));
  return out;
}

json finding_json(const cascade::Finding& f) {
  json causes = json::array();
  for (const cascade::Cause& c : f.causes)
    causes.push_back({{"term", c.term}, {"snn_pj", num(c.snn_pj)}, {"ann_pj", num(c.ann_pj)},
                      {"snn_count", num(c.snn_count)}, {"ann_count", num(c.ann_count)}});
  json assumptions = json::array();
  for (const cascade::AssumptionImpact& a : f.assumptions)
    assumptions.push_back({{"profile", a.profile}, {"constant", a.constant}, {"unit", a.unit}, {"value", num(a.value)},
                           {"status", a.assumption ? "assumption" : "unverified"}, {"factors", a.factors},
                           {"changes", numbers(a.changes)}});
  json be = nullptr;
  if (f.activity) {
    json rows = json::array();
    for (const cascade::BreakEvenRow& b : f.break_even)
      rows.push_back({{"baseline", b.baseline}, {"ann_pj", num(b.point.ann_pj)}, {"rate", num(b.point.rate)},
                      {"rate_per_step", num(b.point.rate / f.activity->steps)}, {"steps", num(b.point.steps)},
                      {"formula_rate", num(b.point.formula_rate)}, {"formula_steps", num(b.point.formula_steps)},
                      {"unbounded_rate", std::isinf(b.point.rate)}, {"unbounded_steps", std::isinf(b.point.steps)}});
    const hw::ActivityModel& m = *f.activity;
    be = {{"rate", num(m.rate)},         {"steps", num(m.steps)},           {"fixed_pj", num(m.fixed_pj)},
          {"spike_pj", num(m.spike_pj)}, {"step_pj", num(m.step_pj)},       {"per_rate_pj", num(m.per_rate_pj())},
          {"per_step_pj", num(m.per_step_pj())}, {"baselines", std::move(rows)}};
  }
  json blocks = json::array();
  for (const cascade::BlockEnergy& b : f.blocks)
    blocks.push_back({{"block", b.block}, {"snn_pj", num(b.snn_pj)}, {"ann_pj", num(b.ann_pj)}});
  return {{"snn_profile", f.snn_profile},
          {"ann_profile", f.ann_profile},
          {"kind", f.kind},
          {"compared", f.compared},
          {"why_not", f.why_not},
          {"baseline", f.compared ? json(f.baseline) : json(nullptr)},
          {"basis", f.compared ? json(f.basis) : json(nullptr)},
          {"snn_energy_per_inference_pj", f.compared ? num(f.snn_pj) : json(nullptr)},
          {"ann_energy_per_inference_pj", f.compared ? num(f.ann_pj) : json(nullptr)},
          {"ratio", f.compared ? num(f.ratio) : json(nullptr)},
          {"snn_value", f.compared ? num(f.snn_value) : json(nullptr)},
          {"ann_value", f.compared ? num(f.ann_value) : json(nullptr)},
          {"equal_bits_ann_energy_per_inference_pj", f.compared ? num(f.equal_bits_ann_pj) : json(nullptr)},
          {"steps", f.compared ? num(f.steps) : json(nullptr)},
          {"causes", std::move(causes)},
          {"assumptions", std::move(assumptions)},
          {"break_even", std::move(be)},
          {"blocks", std::move(blocks)}};
}

json findings_json(const cascade::Findings& f) {
  json profiles = json::array();
  for (const cascade::Finding& p : f.profiles) profiles.push_back(finding_json(p));
  return {{"metric", f.metric},
          {"higher_is_better", f.higher_is_better},
          {"threshold", f.threshold},
          {"profiles", std::move(profiles)},
          {"across", f.across ? finding_json(*f.across) : json(nullptr)}};
}

}  // namespace

json report_json(const cascade::PipelineResult& r) {
  json j;
  j["schema"] = "snnconv-report";
  j["schema_version"] = kSchemaVersion;
  j["generator"] = r.generator;
  const cascade::ModelSummary& m = r.model;
  j["model"] = {{"file", m.file},
                {"name", m.name},
                {"opset", m.opset},
                {"task", m.task},
                {"task_source", m.task_source},
                {"bound_dims", m.bound_dims},
                {"params", m.params},
                {"param_bytes", m.param_bytes},
                {"macs_per_inference", m.macs_per_inference},
                {"nodes_imported", m.nodes_imported},
                {"nodes_fused", m.nodes_fused},
                {"fusions", m.fusions}};
  j["stages"] = json::array();
  for (const auto& s : r.stages)
    j["stages"].push_back({{"name", s.name}, {"status", s.status}, {"seconds", num(s.seconds)}, {"note", s.note}});
  const cascade::AnnSection& a = r.ann;
  j["ann"] = {{"evaluated", a.evaluated},
              {"not_evaluated_reason", a.not_evaluated_reason},
              {"data", a.data},
              {"split", a.split},
              {"task", a.task},
              {"metric", a.evaluated ? json{{"name", a.metric}, {"value", num(a.value)}} : json(nullptr)},
              {"samples", a.samples},
              {"batch", a.batch},
              {"seconds", num(a.seconds)},
              {"samples_per_s", num(a.samples_per_s)},
              {"ledger", ledger_json(a.ledger)}};
  j["snn"] = r.snn ? snn_json(*r.snn) : json(nullptr);
  j["profiles"] = json::array();
  for (const auto& p : r.profiles) j["profiles"].push_back(profile_json(p));
  json ann_prices = json::array(), snn_prices = json::array();
  for (const auto& p : r.ann_prices) ann_prices.push_back(price_json(p));
  for (const auto& p : r.snn_prices) snn_prices.push_back(price_json(p));
  j["pricing"] = {{"ann", std::move(ann_prices)}, {"snn", std::move(snn_prices)}};
  for (const cascade::AnnBaseline& b : r.baselines) {
    if (b.subject == "ann") continue;
    json prices = json::array();
    for (const auto& p : b.prices) prices.push_back(price_json(p));
    j["pricing"][b.subject] = std::move(prices);
  }
  j["baselines"] = baselines_json(r);
  j["ops"] = ops_json(r);
  j["findings"] = findings_json(r.findings);
  j["comparisons"] = json::array();
  for (const auto& c : r.comparisons)
    j["comparisons"].push_back({{"ann_profile", c.ann_profile},
                                {"snn_profile", c.snn_profile},
                                {"ann_energy_per_inference_pj", num(c.ann_energy_per_inference_pj)},
                                {"snn_energy_per_inference_pj", num(c.snn_energy_per_inference_pj)},
                                {"ratio", c.fits ? num(c.ratio) : json(nullptr)},
                                {"fits", c.fits}});
  j["sensitivity"] = sensitivity_json(r);
  j["cascade"] = r.snn && r.snn->cascade ? cascade_section_json(*r.snn->cascade) : json(nullptr);
  j["user_cascade"] = r.user_cascade ? cascade_json(*r.user_cascade) : json(nullptr);
  j["speculative"] = json(nullptr);
  if (r.speculative) {
    const auto& sp = *r.speculative;
    j["speculative"] = {{"draft", sp.draft}, {"data", sp.data}, {"split", sp.split}, {"prompts", sp.prompts},
                        {"prompt_tokens", sp.prompt_tokens}, {"max_tokens", sp.max_tokens}, {"gamma", sp.gamma},
                        {"mode", "greedy"}, {"emitted", sp.emitted}, {"target_passes", sp.target_passes},
                        {"draft_passes", sp.draft_passes}, {"alpha", num(sp.alpha)},
                        {"tokens_per_target_pass", num(sp.tokens_per_target_pass)},
                        {"expected_tokens_per_pass", num(sp.expected_tokens_per_pass)},
                        {"target_only_seconds", num(sp.target_only_seconds)},
                        {"speculative_seconds", num(sp.speculative_seconds)}, {"speedup", num(sp.speedup)},
                        {"identical", sp.identical}};
  }
  j["notes"] = r.notes;
  return j;
}

json compare_json(const std::vector<json>& reports) {
  return {{"schema", "snnconv-compare"}, {"schema_version", kSchemaVersion}, {"reports", reports}};
}

}  // namespace snnconv::report
