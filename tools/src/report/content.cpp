// report.json -> sections of tables and plot references for people (rendered by report_md.cpp / report_html.cpp).
#include "report/content.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace snnconv::report {

using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kTopLayers = 12;
const std::vector<std::string> kComponents{"compute", "sram", "dram", "noc", "static"};
const std::vector<std::string> kComponentTitles{"Compute", "SRAM", "DRAM", "NoC", "Static"};

double num(const json& j) {
  return j.is_number() ? j.get<double>() : kNaN;
}
double num(const json& j, const char* key) {
  return j.is_object() && j.contains(key) ? num(j.at(key)) : kNaN;
}
std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j.at(key).is_string() ? j.at(key).get<std::string>() : std::string();
}

std::string percent_change(double base, double v) {
  if (!std::isfinite(base) || !std::isfinite(v) || base == 0) return "n/a";
  const double c = 100.0 * (v / base - 1.0);
  if (std::fabs(c) < 0.05) return "0%";
  return fmt::format("{:+.1f}%", c);
}

std::string factor_text(double f) {
  return fmt::format("x{:g}", f);
}

const json& prices(const json& r, const std::string& subject) {
  static const json empty = json::array();
  if (!r.contains("pricing") || !r["pricing"].contains(subject)) return empty;
  return r["pricing"][subject];
}

bool has_snn(const json& r) {
  return r.contains("snn") && r["snn"].is_object();
}

// Why a stage did not run (its note), or its status.
std::string stage_note(const json& r, const std::string& name) {
  for (const auto& s : r["stages"])
    if (str(s, "name") == name) return str(s, "note").empty() ? str(s, "status") : str(s, "note");
  return "not run";
}

// A profile constant in its unit, with the SI style of every other figure.
std::string quantity_text(double v, const std::string& unit) {
  if (unit == "pJ") return format_energy_pj(v);
  if (unit == "pJ/byte") return format_energy_pj(v) + "/B";
  if (unit == "ns") return format_seconds(v * 1e-9);
  if (unit == "bytes") return format_bytes(v);
  if (unit == "bytes/s") return si_format(v, "B/s");
  if (unit == "count") return format_count(v);
  return si_format(v, unit);  // W, Hz
}

// "verified", "unverified" (cited, not checked against the primary source) or "assumption".
std::string status_text(const json& constant) {
  if (constant.value("assumption", false)) return "assumption";
  return constant.value("verified", true) ? "verified" : "unverified";
}

// The energy of a price per inference, or its shortfall.
std::string energy_cell(const json& p, const char* component = "total") {
  if (!p.value("fits", true)) return "does not fit";
  return format_energy_pj(num(p["per_inference_pj"], component));
}

Section summary_section(const json& r) {
  Section s{"summary", "Summary", {}, {}, {}, {}};
  // The finding itself is the report's lead paragraph (lead_paragraph), above the contents.
  if (has_snn(r)) {
    const std::vector<std::string> flagged = assumption_lines(r);
    std::string text = fmt::format(
        "Flagged constants (assumptions, or figures not checked against their primary source) that move a "
        "comparison above by more than {:.0f}% when halved or doubled:",
        100.0 * num(r["findings"], "threshold"));
    if (flagged.empty()) text += " none.";
    for (const std::string& line : flagged) text += "\n" + line;
    s.paragraphs.push_back(text);
  }
  const json& m = r["model"];
  std::string fusions;
  for (const auto& [k, v] : m["fusions"].items())
    if (v.get<int>() > 0) fusions += fmt::format("{}{} {}", fusions.empty() ? "" : ", ", k, v.get<int>());
  s.paragraphs.push_back(fmt::format(
      "Model {} (opset {}, task {}): {} parameters ({}), {} MACs per inference; {} nodes imported, {} after "
      "fusion ({}).",
      str(m, "file"), m.value("opset", 0), str(m, "task").empty() ? "unknown" : str(m, "task"),
      format_count(num(m, "params")), format_bytes(num(m, "param_bytes")), format_count(num(m, "macs_per_inference")),
      m.value("nodes_imported", 0), m.value("nodes_fused", 0), fusions.empty() ? "none" : fusions));
  const json& a = r["ann"];
  if (a.value("evaluated", false))
    s.paragraphs.push_back(fmt::format(
        "ANN (dense engine, as exported): {} {} on {} samples of {} ({} samples/s in the engine).",
        str(a["metric"], "name"), metric_text(str(a["metric"], "name"), num(a["metric"], "value")),
        a.value("samples", 0),
        // An .npz has no splits: its rows are the samples.
        str(a, "data").ends_with(".npz") ? str(a, "data") : fmt::format("split '{}' of {}", str(a, "split"), str(a, "data")),
        format_count(num(a, "samples_per_s"))));
  else
    s.paragraphs.push_back("ANN: not scored (" + str(a, "not_evaluated_reason") +
                           "); energies are for one static inference.");
  if (has_snn(r)) {
    const json& sn = r["snn"];
    const bool scored = sn["metric"]["name"].is_string();
    if (scored)
      s.paragraphs.push_back(fmt::format("SNN ({} mode): {} {} (QANN {}) on {} samples, mean {} steps to quiescence.",
                                         str(sn, "mode"), str(sn["metric"], "name"),
                                         metric_text(str(sn["metric"], "name"), num(sn["metric"], "snn_value")),
                                         metric_text(str(sn["metric"], "name"), num(sn["metric"], "qann_value")),
                                         sn.value("samples", 0), format_count(num(sn, "mean_steps"))));
    else
      s.paragraphs.push_back(fmt::format("SNN ({} mode): not scored (the samples carry no labels) on {} samples, mean "
                                         "{} steps to quiescence.",
                                         str(sn, "mode"), sn.value("samples", 0), format_count(num(sn, "mean_steps"))));
    if (sn.contains("calibration")) {
      const json& c = sn["calibration"];
      if (str(c, "source") == "synthetic")
        s.paragraphs.push_back("No data was given: the model was quantized and converted on synthetic calibration "
                               "inputs (" + str(c, "description") + "), and the SNN ran on synthetic samples. Accuracy "
                               "is not measured; spike counts and energies are for those inputs. Give --data FILE.npz "
                               "for figures on your data.");
      else
        s.paragraphs.push_back("Calibrated on " + str(c, "description") + "; the QANN and the SNN ran on " +
                               str(sn, "data") + ".");
    }
  } else {
    s.paragraphs.push_back("SNN: not run (" + stage_note(r, "snn") + ").");
  }
  // Per profile: who is cheaper, against which baseline.
  Table t{"summary-table",
          "Energy per inference, the SNN against the cheapest ANN baseline at least as accurate",
          {"Profile", "Kind", "Compared with", "ANN", "SNN", "Result", "Fits on chip"},
          {},
          {false, false, false, true, true, false, false},
          {}};
  const json& ap = prices(r, "ann");
  const json& sp = prices(r, "snn");
  for (std::size_t i = 0; i < ap.size(); ++i) {
    const json& p = ap[i];
    const std::string profile = str(p, "profile");
    const json* f = nullptr;
    for (const auto& x : r["findings"]["profiles"])
      if (str(x, "snn_profile") == profile) f = &x;
    std::string fits = p.value("fits", true) ? "yes" : "no: " + str(p, "shortfall");
    if (i < sp.size() && !sp[i].value("fits", true)) fits += "; SNN no: " + str(sp[i], "shortfall");
    if (f && f->value("compared", false)) {
      const double ratio = num(*f, "ratio");
      const std::string result = std::fabs(ratio - 1.0) < 0.005 ? "equal"
                                 : ratio > 1                    ? "ANN cheaper, " + format_ratio(ratio)
                                                                : "SNN cheaper, " + format_ratio(1.0 / ratio);
      t.rows.push_back({profile, str(p, "kind"), subject_label(r, str(*f, "baseline")),
                        format_energy_pj(num(*f, "ann_energy_per_inference_pj")),
                        format_energy_pj(num(*f, "snn_energy_per_inference_pj")), result,
                        str(p, "kind") == "compute-only" ? "-" : fits});
    } else {
      t.rows.push_back({profile, str(p, "kind"), "fp32 ANN", energy_cell(p), i < sp.size() ? energy_cell(sp[i]) : "-",
                        f ? str(*f, "why_not") : "no SNN", str(p, "kind") == "compute-only" ? "-" : fits});
    }
  }
  t.note =
      "compute-only: the E_MAC = 4.6 pJ / E_AC = 0.9 pJ convention of Spikformer-style papers (no memory, no "
      "neuron updates, no static power), shown beside the full models.";
  s.tables.push_back(std::move(t));
  if (has_snn(r)) s.tables.push_back(baselines_table(r));
  s.tables.push_back(ops_table(r));
  return s;
}

Section stages_section(const json& r) {
  Section s{"stages", "Pipeline stages", {}, {}, {}, {}};
  Table t{"stages", "Stages", {"Stage", "Status", "Seconds", "Note"}, {}, {false, false, true, false}, {}};
  for (const auto& st : r["stages"])
    t.rows.push_back({str(st, "name"), str(st, "status"), fmt::format("{:.2f}", num(st, "seconds")), str(st, "note")});
  s.tables.push_back(std::move(t));
  return s;
}

Table energy_table(const json& r, const std::string& subject) {
  const json& ps = prices(r, subject);
  Table t{"energy-" + subject, subject_label(r, subject) + " energy per inference", {}, {}, {}, {}};
  t.header = {"Profile"};
  t.header.insert(t.header.end(), kComponentTitles.begin(), kComponentTitles.end());
  t.header.insert(t.header.end(), {"Total", "Latency", "Per spike", "Per token"});
  t.numeric = std::vector<bool>(t.header.size(), true);
  t.numeric[0] = false;
  for (const auto& p : ps) {
    std::vector<std::string> row{str(p, "profile")};
    if (!p.value("fits", true)) {
      row.push_back("does not fit: " + str(p, "shortfall"));
      while (row.size() < t.header.size()) row.push_back("-");
    } else {
      for (const auto& c : kComponents) row.push_back(format_energy_pj(num(p["per_inference_pj"], c.c_str())));
      row.push_back(format_energy_pj(num(p["per_inference_pj"], "total")));
      const double lat = num(p, "latency_per_inference_s");
      row.push_back(str(p, "kind") == "compute-only" ? "-" : format_seconds(lat));
      row.push_back(p["energy_per_spike_pj"].is_number() ? format_energy_pj(num(p, "energy_per_spike_pj")) : "-");
      row.push_back(p["per_token_pj"].is_object() ? format_energy_pj(num(p["per_token_pj"], "total")) : "-");
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

Section energy_section(const json& r, const Plots& plots) {
  Section s{"energy", "Energy by component", {}, {}, {}, {}};
  s.paragraphs.push_back(
      "Energy per inference split into compute (MACs, synaptic ops, neuron updates, elementwise and nonlinear "
      "units), SRAM, DRAM, network-on-chip (spike packets and mesh hops) and static (leakage x latency). "
      "Formulas and constants: docs/energy-model.md; every constant's source is listed at the end.");
  s.tables.push_back(energy_table(r, "ann"));
  for (const auto& b : r.value("baselines", json::array()))
    if (str(b, "subject") != "ann") s.tables.push_back(energy_table(r, str(b, "subject")));
  if (has_snn(r)) s.tables.push_back(energy_table(r, "snn"));
  if (std::count(plots.names.begin(), plots.names.end(), "energy_breakdown")) s.plots.push_back("energy_breakdown");
  return s;
}

Section bytes_section(const json& r) {
  Section s{"bytes", "Bytes moved per memory level", {}, {}, {}, {}};
  Table t{"bytes",
          "Bytes per inference by memory level",
          {"Subject", "Profile", "SRAM", "DRAM"},
          {},
          {false, false, true, true},
          {}};
  for (const std::string subject : {"ann", "snn"})
    for (const auto& p : prices(r, subject)) {
      if (str(p, "kind") == "compute-only") continue;
      if (!p.value("fits", true)) {
        t.rows.push_back({subject, str(p, "profile"), "does not fit", "-"});
        continue;
      }
      t.rows.push_back({subject, str(p, "profile"), format_bytes(num(p["bytes_per_inference"], "sram")),
                        format_bytes(num(p["bytes_per_inference"], "dram"))});
    }
  t.note =
      "Neuromorphic chips: SRAM = synapse memory read by synaptic events (priced inside E_syn), DRAM = "
      "spilled synapses and membrane state. Dense accelerators: tiled GEMM and attention traffic.";
  s.tables.push_back(std::move(t));
  Table l{
      "ledger-bytes",
      "Bytes the engines moved per inference, by memory class (ledger)",
      {"Memory class"},
      {},
      {false},
      fmt::format("As counted by the engines during the run (the ANN at batch {}: a weight is read once per batch); "
                  "the hardware models above price their own traffic from the shapes.",
                  r["ann"].value("batch", 1))};
  std::vector<std::string> subjects{"ann"};
  if (has_snn(r)) subjects.push_back("snn");
  for (const auto& sub : subjects) {
    l.header.insert(l.header.end(), {sub + " read", sub + " written"});
    l.numeric.insert(l.numeric.end(), {true, true});
  }
  for (const auto& [cls, v] : r["ann"]["ledger"]["total"]["bytes_read"].items()) {
    std::vector<std::string> row{cls};
    for (const auto& sub : subjects) {
      const json& led = sub == "ann" ? r["ann"]["ledger"] : r["snn"]["ledger"];
      const double per = std::max(1.0, num(led, "samples"));
      row.push_back(format_bytes(num(led["total"]["bytes_read"], cls.c_str()) / per));
      row.push_back(format_bytes(num(led["total"]["bytes_written"], cls.c_str()) / per));
    }
    l.rows.push_back(std::move(row));
  }
  s.tables.push_back(std::move(l));
  return s;
}

Section mapping_section(const json& r) {
  Section s{"mapping", "Mapping on neuromorphic chips", {}, {}, {}, {}};
  Table t{"mapping",
          "Does the model fit?",
          {"Subject", "Profile", "Fits", "Cores used", "Synapse bytes spilled", "Neurons spilled", "Shortfall"},
          {},
          {false, false, false, true, true, true, false},
          {}};
  for (const std::string subject : {"ann", "snn"})
    for (const auto& p : prices(r, subject)) {
      if (!p["mapping"].is_object()) continue;
      const json& m = p["mapping"];
      t.rows.push_back({subject, str(p, "profile"), m.value("fits", false) ? "yes" : "NO",
                        format_count(num(m, "cores_used")), format_bytes(num(m, "synapse_bytes_spilled")),
                        format_count(num(m, "neurons_spilled")),
                        str(m, "shortfall").empty() ? "-" : str(m, "shortfall")});
    }
  t.note =
      "A model that does not fit is reported with its shortfall and not priced on that chip (never silently "
      "mapped). Synapses beyond a core's memory are re-read from DRAM every timestep (priced).";
  if (t.rows.empty())
    s.paragraphs.push_back("No neuromorphic profile was priced.");
  else
    s.tables.push_back(std::move(t));
  return s;
}

Section layers_section(const json& r, const Plots& plots) {
  Section s{"layers", "Energy per layer", {}, {}, {}, {}};
  s.paragraphs.push_back(
      fmt::format("The {} most expensive layers per profile, per inference; report.json holds every "
                  "ledger row.",
                  kTopLayers));
  for (const std::string subject : {"ann", "snn"}) {
    for (const auto& p : prices(r, subject)) {
      if (!p.value("fits", true)) continue;
      const std::string profile = str(p, "profile");
      const double per = std::max(1.0, num(p, "samples"));
      std::vector<const json*> rows;
      for (const auto& l : p["layers"])
        if (num(l["energy_pj"], "total") > 0) rows.push_back(&l);
      std::stable_sort(rows.begin(), rows.end(), [](const json* a, const json* b) {
        return num((*a)["energy_pj"], "total") > num((*b)["energy_pj"], "total");
      });
      double all = 0;
      for (const json* l : rows) all += num((*l)["energy_pj"], "total");
      Table t{"layers-" + subject + "-" + profile,
              fmt::format("{} on {}", subject_label(r, subject), profile),
              {"Layer", "Op", "Compute", "SRAM", "DRAM", "NoC", "Total", "Share"},
              {},
              {false, false, true, true, true, true, true, true},
              {}};
      double shown = 0;
      for (std::size_t i = 0; i < rows.size() && i < kTopLayers; ++i) {
        const json& l = *rows[i];
        const json& e = l["energy_pj"];
        shown += num(e, "total");
        t.rows.push_back({str(l, "name"), str(l, "op"), format_energy_pj(num(e, "compute") / per),
                          format_energy_pj(num(e, "sram") / per), format_energy_pj(num(e, "dram") / per),
                          format_energy_pj(num(e, "noc") / per), format_energy_pj(num(e, "total") / per),
                          fmt::format("{:.1f}%", all > 0 ? 100.0 * num(e, "total") / all : 0.0)});
      }
      if (rows.size() > kTopLayers)
        t.rows.push_back({fmt::format("({} other layers)", rows.size() - kTopLayers), "", "", "", "", "",
                          format_energy_pj((all - shown) / per),
                          fmt::format("{:.1f}%", all > 0 ? 100.0 * (all - shown) / all : 0.0)});
      const double st = num(p["per_inference_pj"], "static");
      if (st > 0)
        t.note = "Static energy (" + format_energy_pj(st) + " per inference) is a whole-run term, not per layer.";
      s.tables.push_back(std::move(t));
    }
  }
  if (std::count(plots.names.begin(), plots.names.end(), "energy_per_layer")) s.plots.push_back("energy_per_layer");
  return s;
}

// "ANN cheaper, 7.13x" / "SNN cheaper, 1.21x": the direction in words, the ratio always >= 1.
std::string verdict(double ann_pj, double snn_pj) {
  if (!(ann_pj > 0) || !(snn_pj > 0)) return "n/a";
  if (std::fabs(snn_pj / ann_pj - 1.0) < 0.005) return "equal";
  return snn_pj > ann_pj ? "ANN cheaper, " + format_ratio(snn_pj / ann_pj) : "SNN cheaper, " + format_ratio(ann_pj / snn_pj);
}

Section comparison_section(const json& r, const Plots& plots) {
  Section s{"ann-vs-snn", "ANN vs SNN", {}, {}, {}, {}};
  if (!has_snn(r)) {
    s.paragraphs.push_back("No SNN (" + stage_note(r, "snn") + "): no comparison.");
    return s;
  }
  s.paragraphs.push_back(
      "The ANN as exported (fp32) on every profile against the SNN on the same profile, and the ANN on each dense "
      "accelerator against the SNN on each neuromorphic chip. The summary compares against the cheapest baseline at "
      "least as accurate as the SNN instead.");
  Table t{"comparisons", "fp32 ANN and SNN energy per inference", {"ANN on", "SNN on", "ANN", "SNN", "Result"}, {},
          {false, false, true, true, false}, {}};
  for (const auto& c : r["comparisons"])
    t.rows.push_back({str(c, "ann_profile"), str(c, "snn_profile"),
                      c.value("fits", true) ? format_energy_pj(num(c, "ann_energy_per_inference_pj")) : "-",
                      c.value("fits", true) ? format_energy_pj(num(c, "snn_energy_per_inference_pj")) : "-",
                      c["ratio"].is_number() ? verdict(num(c, "ann_energy_per_inference_pj"),
                                                       num(c, "snn_energy_per_inference_pj"))
                                             : "does not fit"});
  s.tables.push_back(std::move(t));
  if (std::count(plots.names.begin(), plots.names.end(), "ann_vs_snn")) s.plots.push_back("ann_vs_snn");
  return s;
}

Section snn_section(const json& r, const Plots& plots) {
  Section s{"snn", "Spiking network: accuracy vs steps, firing rates", {}, {}, {}, {}};
  if (!has_snn(r)) {
    s.paragraphs.push_back("Not available yet (" + stage_note(r, "snn") + ").");
    return s;
  }
  const json& sn = r["snn"];
  const std::string metric = str(sn["metric"], "name");
  s.paragraphs.push_back(
      fmt::format("{} mode, {} samples, step limit {}, mean {:.1f} and at most {} steps to "
                  "quiescence; {} samples not quiescent at the limit.",
                  str(sn, "mode"), sn.value("samples", 0), sn.value("max_steps", 0), num(sn, "mean_steps"),
                  sn.value("max_steps_used", 0), sn.value("not_quiescent", 0)));
  if (!metric.empty()) {
    Table steps{"snn-steps", metric + " of the accumulated output read at step T", {"Step", metric}, {}, {true, true},
                {}};
    for (const auto& p : sn["metric_vs_step"])
      steps.rows.push_back({fmt::format("{}", p.value("step", 0)), metric_text(metric, num(p, "value"))});
    s.tables.push_back(std::move(steps));
  }
  Table layers{"snn-layers", "Spikes per population",   {"Population", "Neurons", "Spikes / inference", "Firing rate"},
               {},           {false, true, true, true}, "firing rate = spikes / (neurons x timesteps), per sample"};
  for (const auto& l : sn["layers"])
    layers.rows.push_back({str(l, "name"), format_count(num(l, "neurons")),
                           format_count(num(l, "spikes_per_inference")), format_count(num(l, "firing_rate"))});
  s.tables.push_back(std::move(layers));
  for (const char* n : {"accuracy_vs_step", "firing_rates"})
    if (std::count(plots.names.begin(), plots.names.end(), n)) s.plots.push_back(n);
  return s;
}

Section sensitivity_section(const json& r, const Plots& plots) {
  Section s{"sensitivity", "Sensitivity to each constant", {}, {}, {}, {}};
  const json& sens = r["sensitivity"];
  std::vector<double> factors;
  for (const auto& f : sens["factors"]) factors.push_back(f.get<double>());
  // The table shows the ANN as exported and the SNN (report.json holds every baseline too).
  std::vector<std::string> subjects;
  for (const auto& x : sens["subjects"])
    if (x == "ann" || x == "snn") subjects.push_back(x.get<std::string>());
  if (factors.empty() || sens["rows"].empty()) {
    s.paragraphs.push_back("No sensitivity table was computed.");
    return s;
  }
  const bool ratio = subjects.size() > 1;
  s.paragraphs.push_back(
      std::string("How the energy per inference") + (ratio ? " and the SNN/ANN energy ratio move" : " moves") +
      " when one constant is scaled and all others are fixed. A scaled value that is not a legal profile (half of a "
      "count of 1, more cores than the mesh holds) is marked invalid; a chip that no longer holds the model is "
      "marked as not fitting.");
  Table t{"sensitivity",
          "Change against the profile's own constants",
          {"Profile", "Constant", "Value", "Status"},
          {},
          {false, false, true, false},
          {}};
  for (const auto& sub : subjects)
    for (double f : factors) {
      t.header.push_back(fmt::format("{} {}", sub == "ann" ? "ANN" : "SNN", factor_text(f)));
      t.numeric.push_back(true);
    }
  if (ratio)
    for (double f : factors) {
      t.header.push_back("SNN/ANN " + factor_text(f));
      t.numeric.push_back(true);
    }
  // SNN / ANN energy at a point (NaN when either does not fit).
  auto snn_over_ann = [](const json& at) {
    const json& a = at["ann"];
    const json& n = at["snn"];
    if (!a.value("fits", false) || !n.value("fits", false)) return std::numeric_limits<double>::quiet_NaN();
    return num(n, "energy_per_inference_pj") / num(a, "energy_per_inference_pj");
  };
  // The status of a constant, from the profiles priced (the compute-only convention's are verified).
  auto status_of = [&](const json& row) -> std::string {
    for (const auto& p : r["profiles"])
      if (str(p, "name") == str(row, "profile") && p["constants"].contains(str(row, "constant")))
        return status_text(p["constants"][str(row, "constant")]);
    return row.value("verified", true) ? "verified" : "unverified";
  };
  // Impact: the largest relative change of the headline figure (the ratio when there is an SNN).
  auto impact = [&](const json& row) {
    double best = 0;
    for (const auto& p : row["points"]) {
      const double base = ratio ? snn_over_ann(row["base"]) : num(row["base"]["ann"], "energy_per_inference_pj");
      const double v = ratio ? snn_over_ann(p) : num(p["ann"], "energy_per_inference_pj");
      if (std::isfinite(base) && std::isfinite(v) && base != 0 && p.value("valid", false))
        best = std::max(best, std::fabs(v / base - 1.0));
    }
    return best;
  };
  std::vector<const json*> rows;
  for (const auto& row : sens["rows"]) rows.push_back(&row);
  std::vector<std::string> order;
  for (const auto* row : rows)
    if (std::find(order.begin(), order.end(), str(*row, "profile")) == order.end())
      order.push_back(str(*row, "profile"));
  std::stable_sort(rows.begin(), rows.end(), [&](const json* a, const json* b) {
    const auto pa = std::find(order.begin(), order.end(), str(*a, "profile"));
    const auto pb = std::find(order.begin(), order.end(), str(*b, "profile"));
    if (pa != pb) return pa < pb;
    return impact(*a) > impact(*b);
  });
  auto cell = [&](const json& base, const json& p, const std::string& sub) -> std::string {
    if (!p.value("valid", false)) return "invalid";
    if (!p[sub].value("fits", false)) return "does not fit";
    if (!base[sub].value("fits", false)) return "fits";
    return percent_change(num(base[sub], "energy_per_inference_pj"), num(p[sub], "energy_per_inference_pj"));
  };
  for (const json* rowp : rows) {
    const json& row = *rowp;
    std::vector<std::string> cells{str(row, "profile"), str(row, "constant"),
                                   quantity_text(num(row, "base_value"), str(row, "unit")),
                                   status_of(row)};
    for (const auto& sub : subjects)
      for (const auto& p : row["points"]) cells.push_back(cell(row["base"], p, sub));
    if (ratio)
      for (const auto& p : row["points"])
        cells.push_back(p.value("valid", false) ? percent_change(snn_over_ann(row["base"]), snn_over_ann(p))
                                                : "invalid");
    t.rows.push_back(std::move(cells));
  }
  t.note = "Invalid points: " +
           std::to_string(std::count_if(sens["rows"].begin(), sens["rows"].end(),
                                        [](const json& row) {
                                          return std::any_of(row["points"].begin(), row["points"].end(),
                                                             [](const json& p) { return !p.value("valid", false); });
                                        })) +
           " constants have a scaled value that is not a legal profile (see report.json for the reason).";
  s.tables.push_back(std::move(t));
  if (std::count(plots.names.begin(), plots.names.end(), "sensitivity")) s.plots.push_back("sensitivity");
  return s;
}

Section profiles_section(const json& r) {
  Section s{"profiles", "Hardware profiles and the sources of their constants", {}, {}, {}, {}};
  for (const auto& p : r["profiles"]) {
    Table t{"profile-" + str(p, "name"),
            fmt::format("{} ({})", str(p, "name"), str(p, "kind")),
            {"Constant", "Value", "Node", "Status", "Source"},
            {},
            {false, true, false, false, false},
            str(p, "description")};
    for (const auto& [k, c] : p["constants"].items())
      t.rows.push_back({k, quantity_text(num(c, "value"), str(c, "unit")), str(c, "node"), status_text(c),
                        str(c, "source")});
    s.tables.push_back(std::move(t));
  }
  return s;
}

Section notes_section(const json& r, const Plots& plots) {
  Section s{"notes", "Notes and assumptions", {}, {}, {}, {}};
  std::set<std::string> seen;
  auto add = [&](const std::string& n) {
    if (!n.empty() && seen.insert(n).second) s.bullets.push_back(n);
  };
  for (const auto& n : r["notes"]) add(n.get<std::string>());
  // A pricing note once per profile and text, with the models it applies to.
  std::vector<std::pair<std::string, std::string>> keys;  // (profile, note) in first-seen order
  std::map<std::pair<std::string, std::string>, std::string> who;
  for (const auto& [subject, ps] : r["pricing"].items())
    for (const auto& p : ps)
      for (const auto& n : p["notes"]) {
        const auto key = std::make_pair(str(p, "profile"), n.get<std::string>());
        if (!who.count(key)) keys.push_back(key);
        std::string& w = who[key];
        w += (w.empty() ? "" : ", ") + subject_label(r, subject);
      }
  for (const auto& key : keys) add(fmt::format("{} ({}): {}", key.first, who[key], key.second));
  if (has_snn(r))
    for (const auto& n : r["snn"]["notes"]) add("snn: " + n.get<std::string>());
  add("plots: " + plots.status);
  return s;
}

}  // namespace

std::string lead_paragraph(const json& r) {
  std::string lead;
  for (const std::string& line : headline_lines(r)) lead += (lead.empty() ? "" : "\n") + line;
  return lead;
}

std::string report_title(const json& r) {
  return "snnconv report: " + str(r["model"], "name");
}

std::vector<Section> report_sections(const json& r, const Plots& plots) {
  std::vector<Section> out{summary_section(r), stages_section(r), break_even_section(r, plots),
                           energy_section(r, plots), comparison_section(r, plots), mapping_section(r),
                           bytes_section(r), layers_section(r, plots), snn_section(r, plots),
                           cascade_section(r, plots)};
  if (r.contains("user_cascade") && r["user_cascade"].is_object()) out.push_back(user_cascade_section(r));
  if (r.contains("speculative") && r["speculative"].is_object()) out.push_back(speculative_section(r));
  out.push_back(sensitivity_section(r, plots));
  out.push_back(profiles_section(r));
  out.push_back(notes_section(r, plots));
  return out;
}

std::vector<Section> compare_sections(const json& c) {
  const json& reports = c["reports"];
  std::vector<std::string> profiles;
  for (const auto& rep : reports)
    for (const auto& p : prices(rep, "ann"))
      if (std::find(profiles.begin(), profiles.end(), str(p, "profile")) == profiles.end())
        profiles.push_back(str(p, "profile"));
  Section models{"models", "Models", {}, {}, {}, {}};
  Table mt{"compare-models",
           "Models side by side",
           {"Model", "Task", "Parameters", "MACs / inference", "Samples", "ANN metric", "SNN metric"},
           {},
           {false, false, true, true, true, true, true},
           {}};
  for (const auto& rep : reports) {
    const json& a = rep["ann"];
    const std::string metric = a["metric"].is_object() ? str(a["metric"], "name") : "";
    std::string snn = "not available";
    if (has_snn(rep)) snn = metric_text(str(rep["snn"]["metric"], "name"), num(rep["snn"]["metric"], "snn_value"));
    mt.rows.push_back(
        {str(rep["model"], "file"), str(rep["model"], "task"), format_count(num(rep["model"], "params")),
         format_count(num(rep["model"], "macs_per_inference")), fmt::format("{}", a.value("samples", 0)),
         a["metric"].is_object() ? metric + " " + metric_text(metric, num(a["metric"], "value")) : "not scored", snn});
  }
  models.tables.push_back(std::move(mt));

  Section energy{"energy", "Energy per inference", {}, {}, {}, {}};
  for (const std::string subject : {"ann", "snn"}) {
    bool any = false;
    for (const auto& rep : reports) any = any || !prices(rep, subject).empty();
    if (!any) {
      if (subject == "snn") energy.paragraphs.push_back("SNN: not available for any model yet.");
      continue;
    }
    Table t{"compare-energy-" + subject, subject == "ann" ? "ANN" : "SNN", {"Model"}, {}, {false}, {}};
    for (const auto& p : profiles) {
      t.header.push_back(p);
      t.numeric.push_back(true);
    }
    for (const auto& rep : reports) {
      std::vector<std::string> row{str(rep["model"], "name")};
      for (const auto& prof : profiles) {
        std::string cell = "-";
        for (const auto& p : prices(rep, subject))
          if (str(p, "profile") == prof) cell = energy_cell(p);
        row.push_back(cell);
      }
      t.rows.push_back(std::move(row));
    }
    energy.tables.push_back(std::move(t));
  }
  Section ratios{"ratios", "Which side is cheaper", {}, {}, {}, {}};
  Table rt{"compare-ratios",
           "fp32 ANN against SNN, energy per inference",
           {"Model", "ANN on", "SNN on", "Result"},
           {},
           {false, false, false, false},
           {}};
  Table hl{"compare-findings", "The finding of each report", {"Model", "Finding"}, {}, {false, false}, {}};
  for (const auto& rep : reports)
    for (const std::string& line : headline_lines(rep)) hl.rows.push_back({str(rep["model"], "name"), line});
  for (const auto& rep : reports)
    for (const auto& cmp : rep["comparisons"])
      rt.rows.push_back({str(rep["model"], "name"), str(cmp, "ann_profile"), str(cmp, "snn_profile"),
                         cmp["ratio"].is_number() ? verdict(num(cmp, "ann_energy_per_inference_pj"),
                                                            num(cmp, "snn_energy_per_inference_pj"))
                                                  : "does not fit"});
  if (!hl.rows.empty()) ratios.tables.push_back(std::move(hl));
  if (rt.rows.empty())
    ratios.paragraphs.push_back("No SNN section in any report: no comparison.");
  else
    ratios.tables.push_back(std::move(rt));
  Section fits{"mapping", "Mapping", {}, {}, {}, {}};
  Table ft{"compare-mapping", "Neuromorphic fit", {"Model", "Subject", "Profile", "Fits", "Shortfall"}, {}, {}, {}};
  ft.numeric = std::vector<bool>(ft.header.size(), false);
  for (const auto& rep : reports)
    for (const std::string subject : {"ann", "snn"})
      for (const auto& p : prices(rep, subject))
        if (p["mapping"].is_object())
          ft.rows.push_back({str(rep["model"], "name"), subject, str(p, "profile"),
                             p.value("fits", true) ? "yes" : "NO",
                             str(p, "shortfall").empty() ? "-" : str(p, "shortfall")});
  fits.tables.push_back(std::move(ft));
  return {models, energy, ratios, fits};
}

}  // namespace snnconv::report
