// NIR's LI (leaky integrator, no spikes): tau dv/dt = (v_leak - v) + r I, output v; and Integrator:
// dv/dt = r I, output v. An Integrator is an LI with a = 1 and b = r dt (exact and Euler agree).
#pragma once

#include "unit_leaky_common.hpp"

namespace snnconv::snn::leaky {

struct LiParams {
  std::vector<double> a, b, v_leak;
};
struct LiState {
  std::vector<double> v;
};

LiParams li_params(const nir::Node& node, std::int64_t n, double dt_s, Method method);
LiParams integrator_params(const nir::Node& node, std::int64_t n, double dt_s);
LiState li_state(const LiParams& p);
// One step: out[i] = the new membrane voltage.
void li_step(const LiParams& p, LiState& s, const double* in, double* out);

}  // namespace snnconv::snn::leaky
