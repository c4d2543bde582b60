// cascade.json / cascade.md writers.
#include "report/cascade_report.hpp"
#include "report/report.hpp"

#include <fmt/format.h>

#include <cmath>

namespace snnconv::report {
namespace {

nlohmann::json plan_json(const cascade::Plan& p) {
  nlohmann::json j;
  j["stages"] = nlohmann::json::array();
  for (int s : p.stages) j["stages"].push_back(s + 1);
  j["thresholds"] = nlohmann::json::array();
  for (double t : p.thresholds) j["thresholds"].push_back(t);
  return j;
}

nlohmann::json result_json(const cascade::PlanResult& r) {
  nlohmann::json j;
  j["accuracy"] = r.accuracy;
  j["cost_pj"] = r.cost_pj;
  j["loss"] = r.loss;
  j["loss_se"] = r.loss_se;
  j["reached"] = r.reached;
  j["escalated"] = r.escalated;
  j["answered"] = r.answered;
  return j;
}

std::string pct(double x) { return fmt::format("{:.2f}%", 100.0 * x); }

std::string stages_text(const nlohmann::json& plan) {
  std::string s;
  const auto& st = plan["stages"];
  for (std::size_t i = 0; i < st.size(); ++i) {
    if (!s.empty()) s += " → ";
    s += fmt::format("{}", st[i].get<int>());
    if (i < plan["thresholds"].size()) s += fmt::format(" (θ {:.4f})", plan["thresholds"][i].get<double>());
  }
  return s;
}

}  // namespace

nlohmann::json cascade_json(const cascade::CascadeResult& r) {
  nlohmann::json j;
  j["schema"] = "snnconv-cascade";
  j["schema_version"] = 1;
  j["task"] = r.task;
  j["data"] = r.data;
  j["metric"] = r.metric;
  j["self_test"] = std::string(cascade::self_test_name(r.self_test));
  j["calibration_rows"] = r.calib_split;
  j["evaluation_rows"] = r.eval_split;
  j["calibration_samples"] = r.calib_samples;
  j["evaluation_samples"] = r.eval_samples;
  j["tolerance"] = r.tolerance;
  j["z"] = r.z;
  j["calibrated"] = r.calibrated;
  j["stages"] = nlohmann::json::array();
  for (const cascade::StageReport& s : r.stages) {
    nlohmann::json e;
    e["spec"] = s.spec.text;
    e["model"] = s.spec.model;
    e["engine"] = std::string(cascade::engine_name(s.spec.engine));
    if (s.spec.engine != cascade::StageEngine::ann) {
      e["weight_bits"] = s.spec.weight_bits;
      e["act_bits"] = s.spec.act_bits;
    }
    if (s.spec.engine == cascade::StageEngine::snn) {
      e["steps"] = s.spec.steps;
      e["mode"] = s.spec.mode;
    }
    e["candidates"] = s.spec.candidates;
    e["profile"] = s.profile;
    e["cost_pj"] = s.cost_pj;
    e["calibration_accuracy"] = s.calib_accuracy;
    e["evaluation_accuracy"] = s.eval_accuracy;
    e["seconds"] = s.seconds;
    e["note"] = s.note;
    j["stages"].push_back(e);
  }
  nlohmann::json chosen;
  chosen["plan"] = plan_json(r.chosen.plan);
  chosen["calibration"] = result_json(r.chosen.calibration);
  chosen["evaluation"] = result_json(r.eval);
  chosen["target_accuracy"] = r.chosen.target_accuracy;
  chosen["plans_tried"] = r.chosen.plans_tried;
  j["chosen"] = chosen;
  j["largest"] = {{"accuracy", r.largest_eval_accuracy}, {"cost_pj", r.largest_eval_cost_pj}};
  j["saving"] = r.saving;
  j["accuracy_change"] = r.eval.accuracy - r.largest_eval_accuracy;
  j["front"] = nlohmann::json::array();
  for (std::size_t i = 0; i < r.chosen.front.size(); ++i) {
    nlohmann::json e;
    e["plan"] = plan_json(r.chosen.front[i].first);
    e["calibration"] = result_json(r.chosen.front[i].second);
    if (i < r.front_eval.size()) e["evaluation"] = result_json(r.front_eval[i]);
    j["front"].push_back(e);
  }
  j["notes"] = r.notes;
  return j;
}

std::string cascade_markdown(const nlohmann::json& j) {
  std::string md;
  const std::string metric = j["metric"].get<std::string>();
  md += fmt::format("# Cascade on {} ({})\n\n", j["data"].get<std::string>(), j["task"].get<std::string>());
  md += fmt::format("Self-test `{}`; thresholds {} on rows `{}` ({} samples), evaluated on rows `{}` ({} samples); "
                    "tolerance {:.2f} points of {} (plus {:.3g} standard errors of the loss).\n\n",
                    j["self_test"].get<std::string>(), j["calibrated"].get<bool>() ? "calibrated" : "given",
                    j["calibration_rows"].get<std::string>(), j["calibration_samples"].get<std::int64_t>(),
                    j["evaluation_rows"].get<std::string>(), j["evaluation_samples"].get<std::int64_t>(),
                    100.0 * j["tolerance"].get<double>(), metric, j["z"].get<double>());
  md += "## Stages\n\n| # | stage | profile | cost per sample | " + metric + " (calibration) | " + metric +
        " (evaluation) | seconds |\n|---|---|---|---:|---:|---:|---:|\n";
  int k = 1;
  for (const auto& s : j["stages"])
    md += fmt::format("| {} | `{}` | {} | {} | {} | {} | {:.1f} |\n", k++, s["spec"].get<std::string>(),
                      s["profile"].get<std::string>(), format_energy_pj(s["cost_pj"].get<double>()),
                      pct(s["calibration_accuracy"].get<double>()), pct(s["evaluation_accuracy"].get<double>()),
                      s["seconds"].get<double>());
  const auto& c = j["chosen"];
  const auto& ev = c["evaluation"];
  md += fmt::format("\n## Chosen plan\n\nStages {}.\n\n", stages_text(c["plan"]));
  md += fmt::format("| | {} | cost per sample |\n|---|---:|---:|\n", metric);
  md += fmt::format("| cascade, calibration rows | {} | {} |\n", pct(c["calibration"]["accuracy"].get<double>()),
                    format_energy_pj(c["calibration"]["cost_pj"].get<double>()));
  md += fmt::format("| cascade, evaluation rows | **{}** | **{}** |\n", pct(ev["accuracy"].get<double>()),
                    format_energy_pj(ev["cost_pj"].get<double>()));
  md += fmt::format("| largest stage alone, evaluation rows | {} | {} |\n\n",
                    pct(j["largest"]["accuracy"].get<double>()), format_energy_pj(j["largest"]["cost_pj"].get<double>()));
  md += fmt::format("Saving against the largest stage alone: **{}** of its energy, at {:+.2f} points of {}.\n\n",
                    pct(j["saving"].get<double>()), 100.0 * j["accuracy_change"].get<double>(), metric);
  md += "Per stage on the evaluation rows (fraction of all samples that ran it, escalated of those that ran it, "
        "answered of all):\n\n| stage | ran | escalated | answered |\n|---|---:|---:|---:|\n";
  for (std::size_t i = 0; i < ev["reached"].size(); ++i)
    md += fmt::format("| {} | {} | {} | {} |\n", i + 1, pct(ev["reached"][i].get<double>()),
                      pct(ev["escalated"][i].get<double>()), pct(ev["answered"][i].get<double>()));
  md += fmt::format("\n## Accuracy-cost Pareto front ({} plans tried on the calibration rows)\n\n",
                    c["plans_tried"].get<std::int64_t>());
  md += "| plan | " + metric + " (cal.) | cost (cal.) | " + metric + " (eval.) | cost (eval.) |\n|---|---:|---:|---:|---:|\n";
  for (const auto& f : j["front"])
    md += fmt::format("| {} | {} | {} | {} | {} |\n", stages_text(f["plan"]), pct(f["calibration"]["accuracy"].get<double>()),
                      format_energy_pj(f["calibration"]["cost_pj"].get<double>()), pct(f["evaluation"]["accuracy"].get<double>()),
                      format_energy_pj(f["evaluation"]["cost_pj"].get<double>()));
  md += "\n## Notes\n\n";
  for (const auto& n : j["notes"]) md += "- " + n.get<std::string>() + "\n";
  for (const auto& s : j["stages"])
    if (!s["note"].get<std::string>().empty()) md += "- `" + s["spec"].get<std::string>() + "`: " + s["note"].get<std::string>() + "\n";
  return md;
}

}  // namespace snnconv::report
