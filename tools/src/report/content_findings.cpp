// The report's conclusion, from report.json `findings`, `baselines` and `ops` (for content.cpp and the
// terminal): the headline sentences, the flagged constants that could change them, the like-for-like baselines
// table, the ops table and the break-even section. The terminal prints headline_lines() and assumption_lines()
// verbatim, so it and report.md say the same thing.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "report/content.hpp"

namespace snnconv::report {
namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double num(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j.at(key).is_number() ? j.at(key).get<double>() : kNaN;
}
std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j.at(key).is_string() ? j.at(key).get<std::string>() : std::string();
}
const json& field(const json& j, const char* key) {
  static const json null;
  return j.is_object() && j.contains(key) ? j.at(key) : null;
}

std::string signed_energy(double pj) {
  return (pj > 0 ? "+" : "") + format_energy_pj(pj);
}

// The words of one cause: what the two sides count, and what it adds or saves per inference.
std::string cause_text(const json& c, double steps, bool across) {
  const std::string term = str(c, "term");
  const double s = num(c, "snn_count"), a = num(c, "ann_count");
  std::string what;
  if (term == "weight_ops") {
    // With the mean energy of one op on each side: 5x the ops can still be cheaper.
    auto each = [](double pj, double n) { return n > 0 ? " at " + format_energy_pj(pj / n) : std::string(); };
    what = fmt::format("{} synaptic ops{} against {} MACs{}", format_count(s), each(num(c, "snn_pj"), s),
                       format_count(a), each(num(c, "ann_pj"), a));
    if (a > 0 && s > 0) what += fmt::format(" ({} as many)", format_ratio(s / a));
    if (std::isfinite(steps)) what += fmt::format(" over {} steps", format_count(steps));
  } else if (term == "neuron_updates") {
    what = format_count(s) + " neuron updates" + (a > 0 ? " against " + format_count(a) : std::string(", none in the ANN"));
  } else if (term == "dense_ops") {
    what = fmt::format("{} elementwise ops (differential units, residuals) against {}", format_count(s), format_count(a));
  } else if (term == "nonlinear_ops") {
    what = fmt::format("{} nonlinear ops (exp, divide, square root) against {}", format_count(s), format_count(a));
  } else if (term == "noc") {
    what = format_count(s) + " spike packets on the mesh";
  } else if (term == "sram" || term == "dram") {
    what = fmt::format("{} of {} traffic against {}", format_bytes(s), term == "sram" ? "SRAM" : "DRAM", format_bytes(a));
  } else if (term == "static") {
    what = fmt::format("{} against {} of latency at {} static power", format_seconds(s), format_seconds(a),
                       across ? "each chip's" : "the chip's");
  } else {
    what = term;
  }
  return fmt::format("{} ({})", what, signed_energy(num(c, "snn_pj") - num(c, "ann_pj")));
}

std::string where(const json& f) {
  const std::string kind = str(f, "kind");
  if (kind == "compute-only") return "Under the compute-only convention (4.6 pJ per MAC, 0.9 pJ per synaptic op)";
  if (kind == "across")
    return fmt::format("Across hardware (the SNN on {}, the ANN on {})", str(f, "snn_profile"), str(f, "ann_profile"));
  return "On " + str(f, "snn_profile");
}

std::string accuracy_text(const json& r, const json& f) {
  const std::string metric = str(r["findings"], "metric");
  const double s = num(f, "snn_value"), a = num(f, "ann_value");
  const std::string basis = str(f, "basis");
  if (basis == "equal_bits")
    return "at equal bits (" + (metric.empty() ? std::string("not scored") : metric + " not scored") + ")";
  if (basis == "not_scored" || !std::isfinite(s) || !std::isfinite(a))
    return "(" + (metric.empty() ? std::string("accuracy") : metric) + " not compared: not scored on the same samples)";
  if (basis == "most_accurate")
    return fmt::format("although no ANN baseline reaches the SNN's {} ({} against {})", metric, metric_text(metric, s),
                       metric_text(metric, a));
  if (metric_text(metric, s) == metric_text(metric, a)) return fmt::format("at equal {} ({})", metric, metric_text(metric, a));
  return fmt::format("with the ANN more accurate ({} {} against the SNN's {})", metric, metric_text(metric, a),
                     metric_text(metric, s));
}

std::string finding_line(const json& r, const json& f) {
  if (!f.value("compared", false)) {
    std::string ann;
    for (const auto& p : r["pricing"]["ann"])
      if (str(p, "profile") == str(f, "ann_profile") && p.value("fits", false))
        ann = fmt::format(" the fp32 ANN uses {} per inference;", format_energy_pj(num(p["per_inference_pj"], "total")));
    // Without an SNN the reason is said once, on its own line (headline_lines).
    const std::string why = r["snn"].is_null() ? std::string("no SNN to compare with") : str(f, "why_not");
    return fmt::format("{}{} {}.", where(f), ann, why);
  }
  const std::string base = subject_label(r, str(f, "baseline"));
  const double ratio = num(f, "ratio");
  const std::string snn = format_energy_pj(num(f, "snn_energy_per_inference_pj"));
  const std::string ann = format_energy_pj(num(f, "ann_energy_per_inference_pj"));
  std::string line = where(f) + " ";
  if (std::fabs(ratio - 1.0) < 0.005)
    line += fmt::format("the SNN and the {} cost the same ({} per inference)", base, snn);
  else if (ratio > 1)
    line += fmt::format("the ANN is cheaper: the SNN uses {} the energy of the {} ({} against {} per inference)",
                        format_ratio(ratio), base, snn, ann);
  else
    line += fmt::format("the SNN is cheaper: the {} uses {} the energy of the SNN ({} against {} per inference)", base,
                        format_ratio(1.0 / ratio), ann, snn);
  line += " " + accuracy_text(r, f) + ".";
  // The two terms that contribute most to the difference, in its direction.
  std::vector<std::string> causes;
  const double sign = ratio >= 1 ? 1.0 : -1.0;
  for (const auto& c : f["causes"]) {
    const double d = num(c, "snn_pj") - num(c, "ann_pj");
    if (causes.size() < 2 && sign * d > 0) causes.push_back(cause_text(c, num(f, "steps"), str(f, "kind") == "across"));
  }
  if (!causes.empty())
    line += fmt::format(" Largest cause{}: {}.", causes.size() > 1 ? "s" : "",
                        causes.size() > 1 ? causes[0] + "; " + causes[1] : causes[0]);
  return line;
}

std::string change_text(double c) {
  return std::isfinite(c) ? fmt::format("{:+.0f}%", 100.0 * c) : "n/a";
}

std::string rate_text(const json& b, const char* key, const char* unbounded) {
  if (b.value(unbounded, false)) return "any";
  const double v = num(b, key);
  return std::isfinite(v) ? format_count(v) : "none";
}

}  // namespace

std::string metric_text(const std::string& metric, double v) {
  if (!std::isfinite(v)) return "n/a";
  if (metric == "accuracy" || metric == "exact_match") return fmt::format("{:.2f}%", 100.0 * v);
  return fmt::format("{:.4f}", v);
}

std::string subject_label(const json& r, const std::string& subject) {
  if (subject == "snn") return "SNN";
  for (const auto& b : field(r, "baselines"))
    if (str(b, "subject") == subject) return str(b, "label") + " ANN";
  return subject == "ann" ? "fp32 ANN" : subject;
}

std::vector<std::string> headline_lines(const json& r) {
  std::vector<std::string> out;
  const json& f = field(r, "findings");
  std::vector<const json*> order;
  for (const auto& p : field(f, "profiles"))
    if (str(p, "kind") != "compute-only") order.push_back(&p);
  for (const auto& p : field(f, "profiles"))
    if (str(p, "kind") == "compute-only") order.push_back(&p);
  for (const json* p : order) out.push_back(finding_line(r, *p));
  if (field(f, "across").is_object()) out.push_back(finding_line(r, f["across"]));
  if (r["snn"].is_null()) {
    std::string why = "the SNN stage did not run";
    for (const auto& st : field(r, "stages"))
      if ((str(st, "name") == "compress" || str(st, "name") == "snn") && str(st, "status") != "done") {
        why = str(st, "note");
        break;
      }
    out.push_back("No SNN: " + why + ".");
  }
  return out;
}

std::vector<std::string> assumption_lines(const json& r) {
  std::vector<std::string> out;
  const json& f = field(r, "findings");
  for (const auto& p : field(f, "profiles"))
    for (const auto& a : field(p, "assumptions")) {
      std::string moves;
      for (std::size_t i = 0; i < a["factors"].size() && i < a["changes"].size(); ++i)
        moves += fmt::format("{}{} at x{:g}", moves.empty() ? "" : ", ",
                             change_text(a["changes"][i].is_number() ? a["changes"][i].get<double>() : kNaN),
                             a["factors"][i].get<double>());
      out.push_back(fmt::format("{} {} = {} {} ({}): the SNN/{} energy ratio moves {}", str(a, "profile"),
                                str(a, "constant"), format_count(num(a, "value")), str(a, "unit"), str(a, "status"),
                                subject_label(r, str(p, "baseline")), moves));
    }
  return out;
}

Table baselines_table(const json& r) {
  Table t{"baselines", "Like-for-like: energy per inference of each ANN baseline and the SNN", {}, {}, {}, {}};
  t.header = {"Model", "Bits", "Metric (SNN's samples)"};
  t.numeric = {false, false, true};
  const json& pricing = r["pricing"];
  std::vector<std::string> profiles;
  for (const auto& p : pricing["ann"]) profiles.push_back(str(p, "profile"));
  for (const auto& p : profiles) {
    t.header.push_back(p);
    t.numeric.push_back(true);
  }
  const std::string metric = str(r["findings"], "metric");
  auto row_of = [&](const std::string& subject, const std::string& bits, double value) {
    std::vector<std::string> row{subject_label(r, subject), bits, metric_text(metric, value)};
    for (const auto& p : field(pricing, subject.c_str())) {
      if (!p.value("fits", true)) {
        row.push_back("does not fit");
        continue;
      }
      row.push_back(format_energy_pj(num(p["per_inference_pj"], "total")));
    }
    t.rows.push_back(std::move(row));
  };
  for (const auto& b : field(r, "baselines")) {
    const int wb = b.value("weight_bits", 32), ab = b.value("act_bits", 32);
    const std::string bits = wb >= 32 ? "fp32" : ab > 0 ? fmt::format("W{}A{}", wb, ab) : fmt::format("W{}, mixed A", wb);
    row_of(str(b, "subject"), bits + (b.value("snn_bits", false) ? " (the SNN's)" : ""), num(field(b, "metric"), "value"));
  }
  if (r["snn"].is_object()) {
    const json& sn = r["snn"];
    row_of("snn", fmt::format("{} mode", str(sn, "mode")), num(sn["metric"], "snn_value"));
    t.note = fmt::format("Every metric on the SNN's {} samples (the ANN section's {} is on {}). The dense baselines "
                         "run on the dense engine's counts (the quantized ones at their own widths); compared at equal "
                         "accuracy: the cheapest baseline at least as accurate as the SNN.",
                         sn.value("samples", 0), metric, r["ann"].value("samples", 0));
  }
  return t;
}

Table ops_table(const json& r) {
  Table t{"ops", "Operations and bytes per inference", {"Count"}, {}, {false}, {}};
  const json& ops = field(r, "ops");
  for (const auto& o : ops) {
    t.header.push_back(str(o, "label"));
    t.numeric.push_back(true);
  }
  auto row = [&](const std::string& name, auto get) {
    std::vector<std::string> cells{name};
    for (const auto& o : ops) cells.push_back(get(o["per_inference"]));
    t.rows.push_back(std::move(cells));
  };
  auto count = [&](const char* key) { return [key](const json& p) { return format_count(num(p, key)); }; };
  row("MACs", count("macs"));
  row("synaptic ops", count("synaptic_ops"));
  row("neuron updates", count("neuron_updates"));
  row("spikes", count("spikes"));
  row("timesteps", count("steps"));
  row("elementwise ops", count("dense_ops"));
  row("nonlinear ops", count("nonlinear_ops"));
  if (!ops.empty())
    for (const auto& [cls, v] : ops[0]["per_inference"]["bytes_read"].items()) {
      (void)v;
      row("bytes read: " + cls, [&cls](const json& p) { return format_bytes(num(p["bytes_read"], cls.c_str())); });
      row("bytes written: " + cls, [&cls](const json& p) { return format_bytes(num(p["bytes_written"], cls.c_str())); });
    }
  t.note = "As the engines counted them (the dense baselines: the dense engine's counts of their graphs at batch 1). "
           "The hardware models price their own SRAM/DRAM traffic from these and the shapes (Bytes moved per memory "
           "level).";
  return t;
}

Section break_even_section(const json& r, const Plots& plots) {
  Section s{"break-even", "Break-even: at what firing rate and how many steps the SNN would cost what the ANN does",
            {}, {}, {}, {}};
  const json& f = field(r, "findings");
  bool any = false;
  for (const auto& p : field(f, "profiles")) any = any || field(p, "break_even").is_object();
  if (!any) {
    s.paragraphs.push_back(r["snn"].is_object() ? "No profile holds the SNN: no break-even point."
                                                : "No SNN: no break-even analysis.");
    return s;
  }
  s.paragraphs.push_back(
      "The SNN's energy per inference as a function of its firing rate r (spikes per neuron per inference) and its "
      "timesteps T: E(r, T) = E_fixed + a r + b T, measured at the run's own point (r0, T0) by pricing its counts "
      "with the spike-driven ones doubled (synaptic ops, the neuron updates and differential-unit work they "
      "trigger, packets, hops, their core time) and with the steps doubled (barriers, spilled state, a dense "
      "array's pass per step). The break-even rate r* at the measured steps and the break-even steps T* at the "
      "measured rate solve E = E_ANN on the pricing model itself (docs/energy-model.md, \"Break-even\"). \"none\": the "
      "SNN costs more even with no spikes (or at one step); \"any\": that quantity costs nothing on the profile.");
  for (const auto& p : field(f, "profiles")) {
    const json& be = field(p, "break_even");
    if (!be.is_object()) continue;
    const std::string profile = str(p, "snn_profile");
    Table t{"break-even-" + profile,
            fmt::format("{}: measured r0 = {} spikes per neuron per inference ({} per step), T0 = {} steps; "
                        "E_fixed {}, a = {} per unit of r, b = {} per step",
                        profile, format_count(num(be, "rate")), format_count(num(be, "rate") / num(be, "steps")),
                        format_count(num(be, "steps")), format_energy_pj(num(be, "fixed_pj")),
                        format_energy_pj(num(be, "per_rate_pj")), format_energy_pj(num(be, "per_step_pj"))),
            {"Against", "ANN energy", "r* at T0", "r* per step", "r* of r0", "T* at r0"},
            {},
            {false, true, true, true, true, true},
            {}};
    for (const auto& b : be["baselines"]) {
      const double rate = num(b, "rate");
      t.rows.push_back({subject_label(r, str(b, "baseline")), format_energy_pj(num(b, "ann_pj")),
                        rate_text(b, "rate", "unbounded_rate"), rate_text(b, "rate_per_step", "unbounded_rate"),
                        b.value("unbounded_rate", false) ? "any"
                        : std::isfinite(rate) ? fmt::format("{:.1f}%", 100.0 * rate / num(be, "rate"))
                                              : "none",
                        rate_text(b, "steps", "unbounded_steps")});
    }
    s.tables.push_back(std::move(t));
  }
  // Per block: which parts of the model win and which lose, against the baseline of each profile's headline.
  std::vector<std::string> blocks;
  std::vector<const json*> cols;
  for (const auto& p : field(f, "profiles")) {
    if (!p.value("compared", false)) continue;
    cols.push_back(&p);
    for (const auto& b : p["blocks"])
      if (std::find(blocks.begin(), blocks.end(), str(b, "block")) == blocks.end()) blocks.push_back(str(b, "block"));
  }
  Table bt{"blocks", "Per block: which side is cheaper (dynamic energy per inference, against each profile's baseline)",
           {"Block"}, {}, {false}, {}};
  for (const json* p : cols) {
    bt.header.push_back(fmt::format("{} (vs {})", str(*p, "snn_profile"), subject_label(r, str(*p, "baseline"))));
    bt.numeric.push_back(true);
  }
  for (const auto& name : blocks) {
    std::vector<std::string> row{name};
    for (const json* p : cols) {
      std::string cell = "-";
      for (const auto& b : (*p)["blocks"]) {
        if (str(b, "block") != name) continue;
        const double sn = num(b, "snn_pj"), an = num(b, "ann_pj");
        if (an <= 0 && sn > 0) cell = "SNN only: " + format_energy_pj(sn);
        else if (sn <= 0 && an > 0) cell = "ANN only: " + format_energy_pj(an);
        else if (std::fabs(sn / an - 1.0) < 0.005) cell = "equal";
        else if (sn > an) cell = "ANN cheaper " + format_ratio(sn / an);
        else cell = "SNN cheaper " + format_ratio(an / sn);
      }
      row.push_back(cell);
    }
    bt.rows.push_back(std::move(row));
  }
  bt.note = "Blocks are the first component of the node paths (\"blocks.0\"); nodes without one form \"(other)\". "
            "Static energy is a whole-run term and is left out here.";
  if (!blocks.empty()) s.tables.push_back(std::move(bt));
  if (std::count(plots.names.begin(), plots.names.end(), "break_even")) s.plots.push_back("break_even");
  return s;
}

}  // namespace snnconv::report
