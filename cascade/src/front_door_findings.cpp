// find(): what a priced front-door result concludes (findings.hpp). Every figure here is a price, a count or a
// metric the result already holds; this file only picks, subtracts and sorts them, and solves the break-even
// points on the pricing functions.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "snnconv/cascade/front_door.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/neuromorphic_hw/break_even.hpp"

namespace snnconv::cascade {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double per(double total, std::uint64_t samples) {
  return samples > 0 ? total / static_cast<double>(samples) : kNaN;
}

// a is at least as good as b (both finite).
bool at_least(double a, double b, bool higher_is_better) {
  const double eps = 1e-12 * std::max(1.0, std::fabs(b));
  return higher_is_better ? a >= b - eps : a <= b + eps;
}

// Per-inference counts of a ledger that the causes quote.
struct Counts {
  double weight_ops = 0, updates = 0, dense = 0, nonlinear = 0, packets = 0;
};
Counts counts_of(const Ledger& l) {
  const Counters t = l.total();
  const auto n = std::max<std::uint64_t>(l.samples, 1);
  Counts c;
  c.weight_ops = per(static_cast<double>(t.total_macs() + t.total_acs()), n);
  c.updates = per(static_cast<double>(t.neuron_updates), n);
  c.dense = per(static_cast<double>(t.dense_ops), n);
  c.nonlinear = per(static_cast<double>(t.nonlinear_ops), n);
  c.packets = per(static_cast<double>(t.burst_events > 0 ? t.burst_events : t.spikes()), n);
  return c;
}

// Every energy term of the two prices, per inference, the largest contribution to the difference in the
// direction of the result first.
std::vector<Cause> causes_of(const hw::PriceResult& snn, const Counts& sc, const hw::PriceResult& ann,
                             const Counts& ac) {
  const auto sn = snn.samples, an = ann.samples;
  const hw::ComputeTerms& s = snn.compute_terms;
  const hw::ComputeTerms& a = ann.compute_terms;
  std::vector<Cause> out{
      {"weight_ops", per(s.mac_pj + s.synaptic_pj, sn), per(a.mac_pj + a.synaptic_pj, an), sc.weight_ops, ac.weight_ops},
      {"neuron_updates", per(s.neuron_pj, sn), per(a.neuron_pj, an), sc.updates, ac.updates},
      {"dense_ops", per(s.dense_pj, sn), per(a.dense_pj, an), sc.dense, ac.dense},
      {"nonlinear_ops", per(s.nonlinear_pj, sn), per(a.nonlinear_pj, an), sc.nonlinear, ac.nonlinear},
      {"noc", per(snn.total.noc_pj, sn), per(ann.total.noc_pj, an), sc.packets, ac.packets},
      {"sram", per(snn.total.sram_pj, sn), per(ann.total.sram_pj, an), per(snn.sram_bytes, sn), per(ann.sram_bytes, an)},
      {"dram", per(snn.total.dram_pj, sn), per(ann.total.dram_pj, an), per(snn.dram_bytes, sn), per(ann.dram_bytes, an)},
      {"static", per(snn.total.static_pj, sn), per(ann.total.static_pj, an), snn.latency_per_inference_s(),
       ann.latency_per_inference_s()},
  };
  const double direction = snn.energy_per_inference_pj() >= ann.energy_per_inference_pj() ? 1.0 : -1.0;
  std::stable_sort(out.begin(), out.end(),
                   [&](const Cause& x, const Cause& y) { return direction * x.delta_pj() > direction * y.delta_pj(); });
  return out;
}

// The block of a node path: "/blocks.0/attn/q/MatMul" -> "blocks.0"; a name without a path -> "(other)".
std::string block_of(const std::string& name) {
  if (name.size() < 2 || name[0] != '/') return "(other)";
  const std::size_t second = name.find('/', 1);
  return second == std::string::npos ? "(other)" : name.substr(1, second - 1);
}

std::vector<BlockEnergy> blocks_of(const hw::PriceResult& snn, const hw::PriceResult& ann) {
  std::vector<BlockEnergy> out;
  auto at = [&](const std::string& b) -> BlockEnergy& {
    for (BlockEnergy& e : out)
      if (e.block == b) return e;
    out.push_back(BlockEnergy{b, 0, 0});
    return out.back();
  };
  for (const hw::LayerEnergy& l : snn.per_layer) at(block_of(l.name)).snn_pj += per(l.energy.total_pj(), snn.samples);
  for (const hw::LayerEnergy& l : ann.per_layer) at(block_of(l.name)).ann_pj += per(l.energy.total_pj(), ann.samples);
  out.erase(std::remove_if(out.begin(), out.end(), [](const BlockEnergy& e) { return e.snn_pj == 0 && e.ann_pj == 0; }),
            out.end());
  return out;
}

// The baseline compared with on price column i: the cheapest that fits and is at least as accurate as the SNN
// (ties: the more accurate); none that accurate: the most accurate; no accuracy known: the SNN's own bits.
const AnnBaseline* choose(const std::vector<AnnBaseline>& baselines, std::size_t i, double snn_value, bool higher,
                          std::string& basis) {
  std::vector<const AnnBaseline*> fit;
  for (const AnnBaseline& b : baselines)
    if (i < b.prices.size() && b.prices[i].result.fits) fit.push_back(&b);
  if (fit.empty()) return nullptr;
  auto energy = [&](const AnnBaseline* b) { return b->prices[i].result.energy_per_inference_pj(); };
  const bool scored = std::isfinite(snn_value) && std::any_of(fit.begin(), fit.end(), [](const AnnBaseline* b) {
                        return std::isfinite(b->value);
                      });
  if (!scored) {
    basis = "equal_bits";
    for (const AnnBaseline* b : fit)
      if (b->snn_bits) return b;
    basis = "not_scored";
    return fit.front();
  }
  std::vector<const AnnBaseline*> reach;
  for (const AnnBaseline* b : fit)
    if (std::isfinite(b->value) && at_least(b->value, snn_value, higher)) reach.push_back(b);
  if (reach.empty()) {
    basis = "most_accurate";
    const AnnBaseline* best = nullptr;
    for (const AnnBaseline* b : fit)
      if (std::isfinite(b->value) && (!best || !at_least(best->value, b->value, higher))) best = b;
    return best;
  }
  basis = "equal_accuracy";
  const AnnBaseline* best = reach.front();
  for (const AnnBaseline* b : reach) {
    const double e = energy(b), eb = energy(best);
    const bool tie = std::fabs(e - eb) <= 1e-9 * std::max(std::fabs(e), std::fabs(eb));
    if ((!tie && e < eb) || (tie && !at_least(best->value, b->value, higher))) best = b;
  }
  return best;
}

Finding compare(const PipelineResult& r, const std::vector<AnnBaseline>& baselines, const hw::ProfilePrice& snn,
                const AnnBaseline& b, std::size_t ann_column, const std::string& basis) {
  const hw::ProfilePrice& ann = b.prices[ann_column];
  Finding f;
  f.snn_profile = snn.profile;
  f.ann_profile = ann.profile;
  f.kind = snn.profile == ann.profile ? snn.kind : "across";
  f.compared = true;
  f.baseline = b.subject;
  f.basis = basis;
  f.snn_pj = snn.result.energy_per_inference_pj();
  f.ann_pj = ann.result.energy_per_inference_pj();
  f.ratio = f.ann_pj > 0 ? f.snn_pj / f.ann_pj : kNaN;
  f.snn_value = r.snn->snn_value;
  f.ann_value = b.value;
  f.steps = r.snn->mean_steps;
  f.equal_bits_ann_pj = kNaN;
  for (const AnnBaseline& q : baselines)
    if (q.snn_bits && ann_column < q.prices.size() && q.prices[ann_column].result.fits)
      f.equal_bits_ann_pj = q.prices[ann_column].result.energy_per_inference_pj();
  const Ledger& ann_ledger = b.subject == "ann" ? r.ann.ledger : b.ledger;
  f.causes = causes_of(snn.result, counts_of(r.snn->ledger), ann.result, counts_of(ann_ledger));
  if (f.kind != "across") f.blocks = blocks_of(snn.result, ann.result);
  return f;
}

// Flagged constants of `profile` whose scaling moves SNN / baseline by more than the threshold.
std::vector<AssumptionImpact> assumptions_of(const PipelineResult& r, const Finding& f, double threshold) {
  std::vector<AssumptionImpact> out;
  const auto& subj = r.sensitivity_subjects;
  const auto si = std::find(subj.begin(), subj.end(), "snn") - subj.begin();
  const auto ai = std::find(subj.begin(), subj.end(), f.baseline) - subj.begin();
  if (static_cast<std::size_t>(si) >= subj.size() || static_cast<std::size_t>(ai) >= subj.size()) return out;
  const hw::Profile* profile = nullptr;
  for (const hw::Profile& p : r.profiles)
    if (p.name == f.snn_profile) profile = &p;
  for (const hw::SensitivityRow& row : r.sensitivity) {
    if (row.profile != f.snn_profile) continue;
    const hw::Constant* c = nullptr;
    if (profile) {
      const auto it = profile->constants.find(row.key);
      if (it != profile->constants.end()) c = &it->second;
    }
    const bool assumption = c && c->assumption;
    if (!(assumption || !row.verified)) continue;
    auto ratio = [&](const std::vector<double>& e, const std::vector<bool>& fits) {
      const auto s = static_cast<std::size_t>(si), a = static_cast<std::size_t>(ai);
      return s < e.size() && a < e.size() && fits[s] && fits[a] && e[a] > 0 ? e[s] / e[a] : kNaN;
    };
    const double base = ratio(row.base_energy_per_inference_pj, row.base_fits);
    AssumptionImpact imp{f.snn_profile, row.key, row.unit, row.base_value, assumption, {}, {}};
    double largest = 0;
    for (const hw::SensitivityPoint& p : row.points) {
      const double v = p.valid ? ratio(p.energy_per_inference_pj, p.fits) : kNaN;
      const double change = std::isfinite(v) && std::isfinite(base) && base > 0 ? v / base - 1.0 : kNaN;
      imp.factors.push_back(p.factor);
      imp.changes.push_back(change);
      if (std::isfinite(change)) largest = std::max(largest, std::fabs(change));
    }
    if (largest > threshold) out.push_back(std::move(imp));
  }
  std::stable_sort(out.begin(), out.end(), [](const AssumptionImpact& x, const AssumptionImpact& y) {
    auto big = [](const AssumptionImpact& a) {
      double m = 0;
      for (double c : a.changes)
        if (std::isfinite(c)) m = std::max(m, std::fabs(c));
      return m;
    };
    return big(x) > big(y);
  });
  return out;
}

// The ops profile behind the compute-only column (its two convention constants), if bundled.
std::optional<hw::Profile> ops_profile(const PipelineOptions& o) {
  const std::filesystem::path dir = o.profiles_dir.empty() ? hw::default_profiles_dir() : o.profiles_dir;
  for (const std::string& n : hw::list_profiles(dir)) {
    hw::Profile p = hw::find_profile(n, dir);
    if (p.kind == hw::ProfileKind::ops) return p;
  }
  return std::nullopt;
}

std::string snn_missing(const PipelineResult& r) {
  for (const StageRecord& s : r.stages)
    if ((s.name == "compress" || s.name == "snn") && s.status != "done")
      return s.note.empty() ? "the SNN stage did not run" : s.note;
  return "the SNN stage did not run";
}

}  // namespace

Findings find(const PipelineResult& r, const PipelineOptions& o, double threshold) {
  Findings out;
  out.threshold = threshold;
  out.metric = r.snn ? r.snn->metric : (r.ann.evaluated ? r.ann.metric : "");
  out.higher_is_better = out.metric != "bits_per_byte";
  const std::size_t columns = r.ann_prices.size();
  if (!r.snn) {
    for (const hw::ProfilePrice& p : r.ann_prices) {
      Finding f;
      f.snn_profile = f.ann_profile = p.profile;
      f.kind = p.kind;
      f.why_not = "no SNN: " + snn_missing(r);
      out.profiles.push_back(std::move(f));
    }
    return out;
  }
  // Without run_baselines (a caller pricing its own SNN run), the ANN section is the one baseline.
  std::vector<AnnBaseline> fallback;
  if (r.baselines.empty()) {
    AnnBaseline fp32;
    fp32.label = "fp32";
    fp32.subject = "ann";
    fp32.value = r.ann.evaluated ? r.ann.value : kNaN;
    fp32.samples = r.ann.samples;
    fp32.prices = r.ann_prices;
    fallback.push_back(std::move(fp32));
  }
  const std::vector<AnnBaseline>& baselines = r.baselines.empty() ? fallback : r.baselines;
  const hw::PricingSubject snn_subject = hw::make_pricing_subject("snn", r.snn->graph, r.snn->ledger);
  const std::optional<hw::Profile> ops = ops_profile(o);
  for (std::size_t i = 0; i < columns && i < r.snn_prices.size(); ++i) {
    const hw::ProfilePrice& sp = r.snn_prices[i];
    Finding f;
    std::string basis;
    const AnnBaseline* b = choose(baselines, i, r.snn->snn_value, out.higher_is_better, basis);
    if (!sp.result.fits || !b) {
      f.snn_profile = f.ann_profile = sp.profile;
      f.kind = sp.kind;
      // The shortfall starts with "does not fit on PROFILE: "; the sentence already names the profile.
      std::string shortfall = sp.result.shortfall;
      const std::string lead = "does not fit on " + sp.profile + ": ";
      if (shortfall.rfind(lead, 0) == 0) shortfall = shortfall.substr(lead.size());
      f.why_not = !sp.result.fits ? "the SNN does not fit: " + shortfall : "no ANN baseline fits";
      out.profiles.push_back(std::move(f));
      continue;
    }
    f = compare(r, baselines, sp, *b, i, basis);
    f.assumptions = assumptions_of(r, f, threshold);
    // Break-even on the profile the column was priced with (compute-only: the ops profile's convention).
    const hw::Profile* profile = i == 0 ? (ops ? &*ops : nullptr) : &r.profiles[i - 1];
    if (profile) {
      hw::ActivityModel m = hw::activity_model(snn_subject, *profile, o.pricing);
      if (m.fits) {
        for (const AnnBaseline& base : baselines)
          if (i < base.prices.size() && base.prices[i].result.fits)
            f.break_even.push_back(BreakEvenRow{base.subject, hw::break_even(snn_subject, *profile, m,
                                                                             base.prices[i].result.energy_per_inference_pj(),
                                                                             o.pricing)});
        f.activity = m;
      }
    }
    out.profiles.push_back(std::move(f));
  }
  // Across hardware: the cheapest SNN on a neuromorphic chip against the baseline on the cheapest dense one.
  std::size_t best_snn = columns, best_ann = columns;
  const AnnBaseline* best_b = nullptr;
  std::string best_basis;
  for (std::size_t i = 1; i < columns && i < r.snn_prices.size(); ++i) {
    const hw::ProfilePrice& sp = r.snn_prices[i];
    if (sp.kind == "neuromorphic" && sp.result.fits &&
        (best_snn == columns ||
         sp.result.energy_per_inference_pj() < r.snn_prices[best_snn].result.energy_per_inference_pj()))
      best_snn = i;
    if (sp.kind != "dense") continue;
    std::string basis;
    const AnnBaseline* b = choose(baselines, i, r.snn->snn_value, out.higher_is_better, basis);
    if (b && (!best_b || b->prices[i].result.energy_per_inference_pj() <
                             best_b->prices[best_ann].result.energy_per_inference_pj())) {
      best_b = b;
      best_ann = i;
      best_basis = basis;
    }
  }
  if (best_snn < columns && best_b)
    out.across = compare(r, baselines, r.snn_prices[best_snn], *best_b, best_ann, best_basis);
  return out;
}

}  // namespace snnconv::cascade
