#include "unit_li.hpp"

#include <cmath>

namespace snnconv::snn::leaky {

LiParams li_params(const nir::Node& node, std::int64_t n, double dt_s, Method method) {
  const double zero = 0;
  const std::vector<double> tau = per_neuron(node, "tau", n);
  const std::vector<double> r = per_neuron(node, "r", n);
  LiParams p;
  p.v_leak = per_neuron(node, "v_leak", n, &zero);
  p.a.resize(tau.size());
  p.b.resize(tau.size());
  for (std::size_t i = 0; i < tau.size(); ++i) {
    const double x = dt_s / tau[i];
    p.a[i] = method == Method::euler ? 1 - x : std::exp(-x);
    p.b[i] = method == Method::euler ? r[i] * x : r[i] * (1 - p.a[i]);
  }
  return p;
}

LiParams integrator_params(const nir::Node& node, std::int64_t n, double dt_s) {
  LiParams p;
  p.b = per_neuron(node, "r", n);
  for (double& b : p.b) b *= dt_s;
  p.a.assign(p.b.size(), 1.0);
  p.v_leak.assign(p.b.size(), 0.0);
  return p;
}

LiState li_state(const LiParams& p) { return LiState{p.v_leak}; }

void li_step(const LiParams& p, LiState& s, const double* in, double* out) {
  const std::size_t n = s.v.size();
  for (std::size_t i = 0; i < n; ++i) {
    s.v[i] = p.v_leak[i] + (s.v[i] - p.v_leak[i]) * p.a[i] + p.b[i] * in[i];
    out[i] = s.v[i];
  }
}

}  // namespace snnconv::snn::leaky
