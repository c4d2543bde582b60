// NIR's CubaLIF neuron: tau_syn dI/dt = -I + w_in x;  tau_mem dv/dt = (v_leak - v) + r I; a spike when
// v > v_threshold, then v = v_reset.
//   Euler (snnTorch's Synaptic order: the current first, the voltage from the new current):
//     I' = I (1 - dt/tau_syn) + w_in x dt/tau_syn;  v' = v_leak + (v - v_leak)(1 - dt/tau_mem) + r I' dt/tau_mem
//   exact (x held over the step, I_inf = w_in x, as = exp(-dt/tau_syn), am = exp(-dt/tau_mem)):
//     I' = I_inf + (I - I_inf) as
//     v' = v_leak + (v - v_leak) am + r (I_inf (1 - am) + (I - I_inf) c),
//     c = tau_syn (as - am) / (tau_syn - tau_mem), or (dt / tau) am when the two are equal.
#pragma once

#include "unit_leaky_common.hpp"

namespace snnconv::snn::leaky {

struct CubaLifParams {
  Method method = Method::euler;
  std::vector<double> syn_a, syn_b;  // I' = I syn_a + syn_b x
  std::vector<double> mem_a, mem_b;  // Euler: v' = v_leak + (v - v_leak) mem_a + mem_b I'
  std::vector<double> w_in, r, c;
  std::vector<double> v_leak, v_threshold, v_reset;
};
struct CubaLifState {
  std::vector<double> i_syn, v;
};

CubaLifParams cuba_lif_params(const nir::Node& node, std::int64_t n, double dt_s, Method method);
CubaLifState cuba_lif_state(const CubaLifParams& p);
std::uint64_t cuba_lif_step(const CubaLifParams& p, CubaLifState& s, const double* in, double* out);

}  // namespace snnconv::snn::leaky
