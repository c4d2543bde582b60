// The mixed-precision options and report sections of `snnconv compress` (compress_mixed_cli.hpp).
#include "compress_mixed_cli.hpp"

#include <fmt/format.h>

namespace snnconv::cli {

void add_mixed_precision_options(CLI::App& cmd, pipeline::CompressOptions& c) {
  cmd.add_option("--budget-wbits", c.budget_wbits,
                 "Mixed precision: mean bits per Linear weight; bits per weight tensor chosen to minimise the summed "
                 "KL sensitivity (exact knapsack)");
  cmd.add_option("--budget-bytes", c.budget_bytes, "Mixed precision: total Linear weight bytes (params * bits / 8)");
  cmd.add_option("--cost-file", c.cost_file,
                 "Mixed precision: JSON {\"budget\": B, \"costs\": {LINEAR: cost per weight bit | {BITS: cost}}} "
                 "(docs/compression.md)");
  cmd.add_option("--budget-act-bits", c.budget_act_bits,
                 "Mixed precision: mean activation bits over the quantization points (sets the SNN's timesteps)");
  cmd.add_option("--candidate-bits", c.candidate_bits, "Weight bits the allocation chooses from (2..8)")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--candidate-act-bits", c.candidate_act_bits, "Activation bits the allocation chooses from")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--sensitivity-samples", c.sensitivity_samples,
                 "Calibration samples (first N) the sensitivities are measured on")
      ->capture_default_str();
  cmd.add_option("--eval", c.eval_samples,
                 "Score the float model and the compressed QANN on the first N test samples (windows); 0: no")
      ->capture_default_str();
}

namespace {

nlohmann::json units_json(const std::vector<pipeline::HierarchyReport>& units) {
  nlohmann::json a = nlohmann::json::array();
  for (const pipeline::HierarchyReport& h : units) {
    nlohmann::json s = nlohmann::json::object();
    for (const auto& [bits, kl] : h.sensitivity) s[std::to_string(bits)] = kl;
    a.push_back({{"name", h.name},
                 {"level", h.level},
                 {"params", h.params},
                 {"members", h.members},
                 {"bits", h.mean_bits},
                 {"allocated_sensitivity", h.allocated_sensitivity},
                 {"sensitivity", s}});
  }
  return a;
}

std::string sens_cells(const std::map<int, double>& s) {
  std::string out;
  for (const auto& [bits, kl] : s) out += fmt::format(" {:.3g} |", kl);
  return out;
}

std::string sens_header(const std::map<int, double>& s) {
  std::string h, rule;
  for (const auto& kv : s) {
    h += fmt::format(" KL@{} |", kv.first);
    rule += "---:|";
  }
  return h + "\n" + rule;
}

}  // namespace

nlohmann::json mixed_precision_json(const pipeline::CompressResult& r) {
  const pipeline::MixedPrecisionReport& m = r.mixed;
  if (!m.weights && !m.activations) return nullptr;
  nlohmann::json j;
  j["sensitivity_samples"] = m.sensitivity_samples;
  j["sensitivity_metric"] = "KL(float || unit quantized), nats per output row";
  if (m.weights) {
    j["weights"] = {{"budget", m.weight_budget},
                    {"budget_cost", m.weight_budget_cost},
                    {"cost", m.weight_cost},
                    {"predicted_kl", m.weight_predicted_kl},
                    {"measured_kl", m.weight_measured_kl},
                    {"exact", m.weight_exact},
                    {"units", units_json(m.weight_units)}};
  }
  if (m.activations) {
    j["activations"] = {{"budget_mean_bits", m.act_budget_bits},
                        {"mean_bits", m.act_mean_bits},
                        {"predicted_kl", m.act_predicted_kl},
                        {"units", units_json(m.act_units)}};
  }
  return j;
}

nlohmann::json accuracy_json(const pipeline::CompressResult& r) {
  const pipeline::AccuracyReport& a = r.accuracy;
  if (a.samples == 0) return nullptr;
  return {{"metric", a.metric}, {"split", a.split}, {"samples", a.samples}, {"float", a.float_value},
          {"compressed_qann", a.compressed_value}};
}

std::string mixed_precision_markdown(const pipeline::CompressResult& r) {
  std::string md;
  const pipeline::AccuracyReport& a = r.accuracy;
  if (a.samples > 0)
    md += fmt::format("\n## Accuracy\n\n{} on the first {} samples of '{}': float {:.4f}, compressed (QANN) {:.4f}\n",
                      a.metric, a.samples, a.split, a.float_value, a.compressed_value);
  const pipeline::MixedPrecisionReport& m = r.mixed;
  if (m.weights && !m.weight_units.empty()) {
    md += fmt::format(
        "\n## Mixed-precision weights\n\nBudget {} (cost {:.0f}; allocation costs {:.0f}), solved {}; "
        "sensitivity = KL(float || only this unit quantized) in nats per output row on {} calibration samples; "
        "predicted total KL {:.4g} (sum over tensors), measured with every tensor at its bits at once {:.4g}\n\n",
        m.weight_budget, m.weight_budget_cost, m.weight_cost, m.weight_exact ? "exactly" : "on a rounded cost grid",
        m.sensitivity_samples, m.weight_predicted_kl, m.weight_measured_kl);
    const std::string head = sens_header(m.weight_units.front().sensitivity);
    const auto nl = head.find('\n');
    md += "| unit | level | params | bits |" + head.substr(0, nl) + "\n|---|---|---:|---:|" + head.substr(nl + 1) + "\n";
    for (const pipeline::HierarchyReport& h : m.weight_units)
      md += fmt::format("| {} | {} | {} | {:.2f} |{}\n", h.name, h.level, h.params, h.mean_bits, sens_cells(h.sensitivity));
  }
  if (m.activations && !m.act_units.empty()) {
    md += fmt::format("\n## Mixed-precision activations\n\nBudget: mean {} bits over {} quantization points; "
                      "allocated mean {:.3f}; predicted total KL {:.4g}\n\n",
                      m.act_budget_bits, m.act_units.size(), m.act_mean_bits, m.act_predicted_kl);
    const std::string head = sens_header(m.act_units.front().sensitivity);
    const auto nl = head.find('\n');
    md += "| point | elements | bits |" + head.substr(0, nl) + "\n|---|---:|---:|" + head.substr(nl + 1) + "\n";
    for (const pipeline::HierarchyReport& h : m.act_units)
      md += fmt::format("| {} | {} | {:.0f} |{}\n", h.name, h.params, h.mean_bits, sens_cells(h.sensitivity));
  }
  return md;
}

}  // namespace snnconv::cli
