#include "unit_lif.hpp"

#include <utility>

namespace snnconv::snn::leaky {

LifParams lif_params(const nir::Node& node, std::int64_t n, double dt_s, Method method) {
  const double zero = 0;
  LeakFactors f = leak_factors(node, n, dt_s, method);
  LifParams p;
  p.a = std::move(f.a);
  p.b = std::move(f.b);
  p.v_leak = per_neuron(node, "v_leak", n, &zero);
  p.v_threshold = per_neuron(node, "v_threshold", n);
  p.v_reset = per_neuron(node, "v_reset", n, &zero);
  return p;
}

LifState lif_state(const LifParams& p) { return LifState{p.v_leak}; }

std::uint64_t lif_step(const LifParams& p, LifState& s, const double* in, double* out) {
  std::uint64_t spikes = 0;
  const std::size_t n = s.v.size();
  for (std::size_t i = 0; i < n; ++i) {
    double v = p.v_leak[i] + (s.v[i] - p.v_leak[i]) * p.a[i] + p.b[i] * in[i];
    const bool fire = v > p.v_threshold[i];
    out[i] = fire ? 1.0 : 0.0;
    if (fire) v = p.v_reset[i];
    spikes += fire;
    s.v[i] = v;
  }
  return spikes;
}

}  // namespace snnconv::snn::leaky
