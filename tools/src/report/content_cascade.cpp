// The report's cascade section (the SNN early-read cascade, report.json `cascade`), for content.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report/content.hpp"

namespace snnconv::report {
namespace {

using nlohmann::json;

double val(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j.at(key).is_number() ? j.at(key).get<double>() : std::nan("");
}
std::string pct(double x) { return std::isfinite(x) ? fmt::format("{:.2f}%", 100.0 * x) : "n/a"; }
std::string energy(double pj) { return std::isfinite(pj) ? format_energy_pj(pj) : "-"; }

std::string stage_name(const json& stage) {
  const int steps = stage.value("steps", 0);
  return steps > 0 ? fmt::format("step {}", steps) : "quiescence";
}

// Early-read stages by their step; a user's (numbered) by their number in the stage table.
std::string plan_text(const json& plan, const json& stages, bool numbered = false) {
  std::string s;
  const auto& st = plan["stages"];
  for (std::size_t i = 0; i < st.size(); ++i) {
    if (!s.empty()) s += " → ";
    const auto k = static_cast<std::size_t>(st[i].get<int>() - 1);
    s += k < stages.size() && !numbered ? stage_name(stages[k]) : fmt::format("stage {}", k + 1);
    if (i < plan["thresholds"].size() && plan["thresholds"][i].is_number())
      s += fmt::format(" (θ {:.3f})", plan["thresholds"][i].get<double>());
  }
  return s;
}

}  // namespace

Section cascade_section(const json& r, const Plots& plots) {
  Section s{"cascade", "Cascade: the SNN read early, escalating to quiescence", {}, {}, {}, {}};
  if (!r.contains("cascade") || !r["cascade"].is_object()) {
    s.paragraphs.push_back("No cascade: it is built from the SNN run of a classifier (see the notes).");
    return s;
  }
  const json& c = r["cascade"];
  const json& res = c["result"];
  const json& stages = res["stages"];
  const json& ev = res["chosen"]["evaluation"];
  s.paragraphs.push_back(fmt::format(
      "Stages are the one SNN run of this report read at a few steps, then at quiescence; a read answers when its "
      "self-test `{}` passes its threshold, else the sample escalates and the run continues (it pays only the extra "
      "steps). Thresholds are calibrated on samples {} ({}) to the cheapest plan within {:.2f} points of quiescence "
      "(z = {:.3g}), with the energies of {}, and evaluated on samples {} ({}).",
      res.value("self_test", ""), res.value("calibration_rows", ""), res.value("calibration_samples", 0),
      100.0 * val(res, "tolerance"), val(res, "z"), c.value("calibration_profile", ""), res.value("evaluation_rows", ""),
      res.value("evaluation_samples", 0)));
  s.paragraphs.push_back(fmt::format(
      "Chosen plan: {}. On the evaluation samples: accuracy {} against {} at quiescence ({:+.2f} points), {} against "
      "{} per inference on {}: saving {}.",
      plan_text(res["chosen"]["plan"], stages), pct(val(ev, "accuracy")), pct(val(res["largest"], "accuracy")),
      100.0 * val(res, "accuracy_change"), energy(val(ev, "cost_pj")), energy(val(res["largest"], "cost_pj")),
      c.value("calibration_profile", ""), pct(val(res, "saving"))));

  Table st{"cascade-stages", "Stages (each alone; energy on " + c.value("calibration_profile", "") + ", all samples)",
           {"Stage", "Energy / inference", "Accuracy (calibration)", "Accuracy (evaluation)", "Ran (eval.)",
            "Escalated (of those that ran)", "Answered (eval.)"},
           {}, {false, true, true, true, true, true, true}, {}};
  for (std::size_t k = 0; k < stages.size(); ++k) {
    auto at = [&](const char* key) { return k < ev[key].size() ? ev[key][k].get<double>() : std::nan(""); };
    st.rows.push_back({stage_name(stages[k]), energy(val(stages[k], "cost_pj")),
                       pct(val(stages[k], "calibration_accuracy")), pct(val(stages[k], "evaluation_accuracy")),
                       pct(at("reached")), pct(at("escalated")), pct(at("answered"))});
  }
  s.tables.push_back(std::move(st));

  Table pr{"cascade-profiles", "The chosen plan on every profile (evaluation samples)",
           {"Profile", "Cascade / inference", "Quiescence / inference", "Saving"}, {}, {false, true, true, true},
           "saving = 1 - cascade / quiescence; a sample pays its own ledger up to the step it is answered at"};
  for (const auto& p : c["profiles"])
    pr.rows.push_back(p.value("fits", false)
                          ? std::vector<std::string>{p.value("profile", ""), energy(val(p, "cascade_energy_per_inference_pj")),
                                                     energy(val(p, "quiescence_energy_per_inference_pj")), pct(val(p, "saving"))}
                          : std::vector<std::string>{p.value("profile", ""), "does not fit", "-", "-"});
  s.tables.push_back(std::move(pr));

  Table fr{"cascade-front",
           fmt::format("Accuracy-energy Pareto front ({} plans tried on the calibration samples)",
                       res["chosen"].value("plans_tried", 0)),
           {"Plan", "Accuracy (cal.)", "Energy (cal.)", "Accuracy (eval.)", "Energy (eval.)"}, {},
           {false, true, true, true, true}, {}};
  for (const auto& f : res["front"])
    fr.rows.push_back({plan_text(f["plan"], stages), pct(val(f["calibration"], "accuracy")),
                       energy(val(f["calibration"], "cost_pj")), pct(val(f["evaluation"], "accuracy")),
                       energy(val(f["evaluation"], "cost_pj"))});
  s.tables.push_back(std::move(fr));
  if (std::count(plots.names.begin(), plots.names.end(), "cascade_front")) s.plots.push_back("cascade_front");
  return s;
}

Section speculative_section(const json& r) {
  Section s{"speculative", "Speculative decoding with a draft (--draft)", {}, {}, {}, {}};
  const json& sp = r["speculative"];
  s.paragraphs.push_back(fmt::format(
      "Greedy decoding of {} prompts ({} tokens each, slices of split '{}' of {}) for up to {} tokens, target-only "
      "and with draft {} proposing K = {} tokens per round; the speculative output {} the target-only output.",
      sp.value("prompts", 0), sp.value("prompt_tokens", 0), sp.value("split", ""), sp.value("data", ""),
      sp.value("max_tokens", 0), sp.value("draft", ""), sp.value("gamma", 0),
      sp.value("identical", false) ? "equals" : "DIFFERS FROM"));
  Table t{"speculative-stats", "Speculative against target-only decoding (one run each, wall clock)",
          {"Acceptance α", "Tokens per target pass", "Expected (Leviathan et al.)", "Target passes", "Draft passes",
           "Target-only s", "Speculative s", "Speedup"},
          {}, {true, true, true, true, true, true, true, true},
          "expected = (1 - α^(K+1)) / (1 - α) with the measured α; the speedup is below it by the draft's own cost"};
  t.rows.push_back({fmt::format("{:.3f}", val(sp, "alpha")), fmt::format("{:.2f}", val(sp, "tokens_per_target_pass")),
                    fmt::format("{:.2f}", val(sp, "expected_tokens_per_pass")), fmt::format("{}", sp.value("target_passes", 0)),
                    fmt::format("{}", sp.value("draft_passes", 0)), fmt::format("{:.3f}", val(sp, "target_only_seconds")),
                    fmt::format("{:.3f}", val(sp, "speculative_seconds")), fmt::format("{:.2f}x", val(sp, "speedup"))});
  s.tables.push_back(std::move(t));
  return s;
}

Section user_cascade_section(const json& r) {
  Section s{"user-cascade", "Cascade of the given stages (--cascade-stages)", {}, {}, {}, {}};
  const json& res = r["user_cascade"];
  const json& stages = res["stages"];
  const json& ev = res["chosen"]["evaluation"];
  s.paragraphs.push_back(fmt::format(
      "Self-test `{}`; thresholds calibrated on rows {} ({} samples) within {:.2f} points of the last stage, evaluated "
      "on rows {} ({} samples). Chosen plan: {}. {} {} against {} for the last stage alone, {} against {} per "
      "sample: saving {}.",
      res.value("self_test", ""), res.value("calibration_rows", ""), res.value("calibration_samples", 0),
      100.0 * val(res, "tolerance"), res.value("evaluation_rows", ""), res.value("evaluation_samples", 0),
      plan_text(res["chosen"]["plan"], stages, true), res.value("metric", ""), pct(val(ev, "accuracy")),
      pct(val(res["largest"], "accuracy")), energy(val(ev, "cost_pj")), energy(val(res["largest"], "cost_pj")),
      pct(val(res, "saving"))));
  Table st{"user-cascade-stages", "Stages (each alone)",
           {"#", "Stage", "Profile", "Energy / sample", "Metric (calibration)", "Metric (evaluation)", "Ran (eval.)",
            "Escalated", "Answered"},
           {}, {true, false, false, true, true, true, true, true, true}, {}};
  for (std::size_t k = 0; k < stages.size(); ++k) {
    auto at = [&](const char* key) { return k < ev[key].size() ? ev[key][k].get<double>() : std::nan(""); };
    st.rows.push_back({fmt::format("{}", k + 1), stages[k].value("spec", ""), stages[k].value("profile", ""),
                       energy(val(stages[k], "cost_pj")), pct(val(stages[k], "calibration_accuracy")),
                       pct(val(stages[k], "evaluation_accuracy")), pct(at("reached")), pct(at("escalated")),
                       pct(at("answered"))});
  }
  s.tables.push_back(std::move(st));
  Table fr{"user-cascade-front", "Pareto front (calibration rows; each plan also on the evaluation rows)",
           {"Plan", "Metric (cal.)", "Energy (cal.)", "Metric (eval.)", "Energy (eval.)"}, {},
           {false, true, true, true, true}, {}};
  for (const auto& f : res["front"])
    fr.rows.push_back({plan_text(f["plan"], stages, true), pct(val(f["calibration"], "accuracy")),
                       energy(val(f["calibration"], "cost_pj")), pct(val(f["evaluation"], "accuracy")),
                       energy(val(f["evaluation"], "cost_pj"))});
  s.tables.push_back(std::move(fr));
  return s;
}

}  // namespace snnconv::report
