#include "unit_li.hpp"

#include <utility>

namespace snnconv::snn::leaky {

LiParams li_params(const nir::Node& node, std::int64_t n, double dt_s, Method method) {
  const double zero = 0;
  LeakFactors f = leak_factors(node, n, dt_s, method);
  LiParams p;
  p.a = std::move(f.a);
  p.b = std::move(f.b);
  p.v_leak = per_neuron(node, "v_leak", n, &zero);
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
