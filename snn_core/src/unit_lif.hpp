// NIR's LIF neuron: tau dv/dt = (v_leak - v) + r I; a spike when v > v_threshold, then v = v_reset.
// Both discretisations take the form v' = v_leak + (v - v_leak) a + b I:
//   Euler: a = 1 - dt/tau, b = r dt/tau;   exact: a = exp(-dt/tau), b = r (1 - a).
#pragma once

#include "unit_leaky_common.hpp"

namespace snnconv::snn::leaky {

struct LifParams {
  std::vector<double> a, b, v_leak, v_threshold, v_reset;  // per neuron, computed once for one dt
};
struct LifState {
  std::vector<double> v;
};

LifParams lif_params(const nir::Node& node, std::int64_t n, double dt_s, Method method);
LifState lif_state(const LifParams& p);
// One step: input current in[n] -> spikes out[n] (0 or 1). Returns the spike count.
std::uint64_t lif_step(const LifParams& p, LifState& s, const double* in, double* out);

}  // namespace snnconv::snn::leaky
