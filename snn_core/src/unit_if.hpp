// NIR's IF neuron: dv/dt = r I; a spike when v > v_threshold, then v = v_reset (0 when absent). Euler and
// exact agree: v' = v + r dt I. And NIR's Threshold: out = 1 when I > threshold (no state).
// Sinabs writes its per-step IAF (v += I) as IF with r = 1: run such files with dt = 1 (docs/nir.md).
#pragma once

#include "unit_leaky_common.hpp"

namespace snnconv::snn::leaky {

struct IfParams {
  std::vector<double> b, v_threshold, v_reset;
};
struct IfState {
  std::vector<double> v;
};

IfParams if_params(const nir::Node& node, std::int64_t n, double dt_s);
IfState if_state(const IfParams& p);
std::uint64_t if_step(const IfParams& p, IfState& s, const double* in, double* out);

struct ThresholdParams {
  std::vector<double> threshold;
};
ThresholdParams threshold_params(const nir::Node& node, std::int64_t n);
std::uint64_t threshold_step(const ThresholdParams& p, const double* in, double* out);

}  // namespace snnconv::snn::leaky
