#include "snnconv/neuromorphic_hw/break_even.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "snnconv/core/error.hpp"

namespace snnconv::hw {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::uint64_t scaled(std::uint64_t v, double f) {
  return static_cast<std::uint64_t>(std::llround(static_cast<double>(v) * f));
}

Counters scale_counters(const Counters& c, double f) {
  Counters out = c;
  for (std::size_t w = 0; w < kWidthSlots; ++w) {
    out.macs[w] = scaled(c.macs[w], f);
    out.acs[w] = scaled(c.acs[w], f);
  }
  out.neuron_updates = scaled(c.neuron_updates, f);
  out.spikes_pos = scaled(c.spikes_pos, f);
  out.spikes_neg = scaled(c.spikes_neg, f);
  out.burst_events = scaled(c.burst_events, f);
  out.dense_ops = scaled(c.dense_ops, f);
  out.nonlinear_ops = scaled(c.nonlinear_ops, f);
  out.link_events = scaled(c.link_events, f);
  out.link_bytes = scaled(c.link_bytes, f);
  for (std::size_t m = 0; m < kMemClassCount; ++m) {
    out.bytes_read[m] = scaled(c.bytes_read[m], f);
    out.bytes_written[m] = scaled(c.bytes_written[m], f);
  }
  return out;
}

// The subject's energy per inference with its activity scaled; NaN when it does not fit. The ledger is first
// taken kRepeat times (every count and the sample count multiplied: the same per-inference figures), so that
// rounding a scaled count to a whole number moves the price by no more than 0.5 / kRepeat of a count.
constexpr std::uint64_t kRepeat = 1024;

double priced(const PricingSubject& snn, const Profile& profile, const PricingOptions& options, double spike_factor,
              double step_factor) {
  Ledger repeated = scale_activity(*snn.ledger, std::vector<bool>(snn.ledger->per_node.size(), true),
                                   static_cast<double>(kRepeat), static_cast<double>(kRepeat));
  repeated.samples *= kRepeat;
  repeated.tokens *= kRepeat;
  const Ledger l = scale_activity(repeated, snn.event_driven, spike_factor, step_factor);
  PricingSubject s = snn;
  s.ledger = &l;
  const ProfilePrice p = price_on_profile(s, profile, options);
  return p.result.fits ? p.result.energy_per_inference_pj() : kNaN;
}

// The factor x >= lo at which f(x) = target, f non-decreasing: NaN when f(lo) > target, +inf when f never reaches
// it. `guess` seeds the bracket.
template <typename F> double solve(F f, double lo, double target, double guess) {
  const double f_lo = f(lo);
  if (!(f_lo <= target)) return kNaN;
  double hi = std::isfinite(guess) && guess > lo ? guess : lo + 1.0;
  int doublings = 0;
  while (f(hi) < target) {
    lo = hi;
    hi *= 2.0;
    if (++doublings > 60) return kInf;  // 2^60 times the measured activity: the energy does not depend on it
  }
  for (int i = 0; i < 80 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) < target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

Ledger scale_activity(const Ledger& ledger, const std::vector<bool>& event_driven, double spike_factor,
                      double step_factor) {
  Ledger out = ledger;
  for (std::size_t i = 0; i < out.per_node.size(); ++i) {
    Counters& c = out.per_node[i];
    const std::uint64_t steps = c.timesteps;
    if (i < event_driven.size() && event_driven[i]) c = scale_counters(c, spike_factor);
    c.timesteps = scaled(steps, step_factor);
  }
  return out;
}

ActivityModel activity_model(const PricingSubject& snn, const Profile& profile, const PricingOptions& options) {
  const Ledger& l = *snn.ledger;
  if (snn.neurons <= 0) throw UsageError("break-even analysis needs a spiking subject (no spiking neurons)");
  const double samples = static_cast<double>(std::max<std::uint64_t>(l.samples, 1));
  ActivityModel m;
  m.rate = static_cast<double>(l.total().spikes()) / samples / static_cast<double>(snn.neurons);
  m.steps = static_cast<double>(ledger_steps(l)) / samples;
  if (!(m.rate > 0) || !(m.steps > 0)) throw UsageError("break-even analysis needs a run with spikes and timesteps");
  const double base = priced(snn, profile, options, 1.0, 1.0);
  if (std::isnan(base)) {
    m.fits = false;
    return m;
  }
  m.spike_pj = priced(snn, profile, options, 2.0, 1.0) - base;
  m.step_pj = priced(snn, profile, options, 1.0, 2.0) - base;
  m.fixed_pj = base - m.spike_pj - m.step_pj;
  return m;
}

BreakEven break_even(const PricingSubject& snn, const Profile& profile, const ActivityModel& m, double ann_pj,
                     const PricingOptions& options) {
  BreakEven b;
  b.ann_pj = ann_pj;
  if (!m.fits) {
    b.rate = b.steps = b.formula_rate = b.formula_steps = kNaN;
    return b;
  }
  // The linear model: r* = (E_ANN - E_fixed - b T0) / a and T* = (E_ANN - E_fixed - a r0) / b.
  auto linear = [](double numerator, double slope) {
    if (slope > 0) return numerator >= 0 ? numerator / slope : kNaN;
    return numerator >= 0 ? kInf : kNaN;
  };
  b.formula_rate = linear(ann_pj - m.fixed_pj - m.per_step_pj() * m.steps, m.per_rate_pj());
  b.formula_steps = linear(ann_pj - m.fixed_pj - m.per_rate_pj() * m.rate, m.per_step_pj());
  if (!std::isnan(b.formula_steps) && b.formula_steps < 1.0) b.formula_steps = kNaN;  // not even one step
  // The same on the pricing functions, in factors of the measured activity.
  // The rate starts at a millionth of the measured one, not at zero: with no spike at all a dense array skips the
  // spiking layers entirely, a price the SNN cannot reach by firing less.
  const double rate_factor = solve([&](double f) { return priced(snn, profile, options, f, 1.0); }, 1e-6, ann_pj,
                                   b.formula_rate / m.rate);
  const double step_factor = solve([&](double f) { return priced(snn, profile, options, 1.0, f); }, 1.0 / m.steps,
                                   ann_pj, b.formula_steps / m.steps);
  b.rate = rate_factor * m.rate;
  b.steps = step_factor * m.steps;
  return b;
}

}  // namespace snnconv::hw
