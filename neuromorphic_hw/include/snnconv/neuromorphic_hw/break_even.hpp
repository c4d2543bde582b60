// Break-even analysis: at what activity would the SNN cost what a dense ANN costs on the same hardware?
// The SNN's energy per inference as a function of its firing rate r (spikes per neuron per inference) and its
// timesteps T (docs/energy-model.md, "Break-even"):
//
//   E(r, T) = E_fixed + a * r + b * T,     a = E_spike / r0,   b = E_step / T0
//
// measured at the run's own point (r0, T0) by pricing the ledger with its event-driven counters scaled (E_spike:
// synaptic ops, the neuron updates and differential-unit work the spikes trigger, packets, hops, the core time
// they take) and with its step counters scaled (E_step: barriers, spilled state re-read every step, a dense
// array's pass per step); E_fixed is the rest (the dense input prologue). The break-even rate at the measured
// steps and the break-even steps at the measured rate solve E = E_ANN on the pricing functions themselves.
#pragma once

#include <cstdint>
#include <vector>

#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::hw {

// The ledger with every counter of the event-driven rows (PricingSubject::event_driven) but `timesteps` times
// `spike_factor`, and every row's `timesteps` times `step_factor` (rounded to whole counts).
Ledger scale_activity(const Ledger& ledger, const std::vector<bool>& event_driven, double spike_factor,
                      double step_factor);

struct ActivityModel {
  bool fits = true;       // false: the SNN does not fit the profile; nothing below is priced
  double rate = 0;        // r0: spikes per neuron per inference, measured
  double steps = 0;       // T0: timesteps per inference (mean over samples), measured
  double fixed_pj = 0;    // E_fixed, per inference
  double spike_pj = 0;    // E_spike at r0, per inference
  double step_pj = 0;     // E_step at T0, per inference
  double per_rate_pj() const { return rate > 0 ? spike_pj / rate : 0.0; }   // a
  double per_step_pj() const { return steps > 0 ? step_pj / steps : 0.0; }  // b
  // The linear model at (r, T); equals the priced energy at (r0, T0).
  double energy_pj(double r, double t) const { return fixed_pj + per_rate_pj() * r + per_step_pj() * t; }
};

// Prices the SNN subject at (r0, T0), (2 r0, T0) and (r0, 2 T0) on `profile`: E_spike and E_step are the
// differences, E_fixed the remainder. Throws UsageError when the subject has no neurons or no spikes.
ActivityModel activity_model(const PricingSubject& snn, const Profile& profile, const PricingOptions& options = {});

struct BreakEven {
  double ann_pj = 0;  // the dense baseline's energy per inference
  // r*: the firing rate (spikes per neuron per inference) at which the SNN at its measured steps costs ann_pj.
  // NaN: none, the SNN costs more even with no spikes; +inf: spikes cost nothing on this profile.
  double rate = 0;
  // T*: the timesteps at which the SNN at its measured rate costs ann_pj. NaN: none (more even at one step);
  // +inf: steps cost nothing on this profile and the SNN is cheaper at its rate.
  double steps = 0;
  double formula_rate = 0, formula_steps = 0;  // the same from the linear model (equal where pricing is linear)
};

// Solves E(r, T0) = ann_pj and E(r0, T) = ann_pj by bisection on the pricing functions (the energy rises with
// both), starting from the linear model's solution.
BreakEven break_even(const PricingSubject& snn, const Profile& profile, const ActivityModel& model, double ann_pj,
                     const PricingOptions& options = {});

}  // namespace snnconv::hw
