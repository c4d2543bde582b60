#include "unit_cuba_lif.hpp"

#include <cmath>

namespace snnconv::snn::leaky {

CubaLifParams cuba_lif_params(const nir::Node& node, std::int64_t n, double dt_s, Method method) {
  const double zero = 0, one = 1;
  const std::vector<double> tau_syn = per_neuron(node, "tau_syn", n);
  const std::vector<double> tau_mem = per_neuron(node, "tau_mem", n);
  CubaLifParams p;
  p.method = method;
  p.r = per_neuron(node, "r", n);
  p.w_in = per_neuron(node, "w_in", n, &one);
  p.v_leak = per_neuron(node, "v_leak", n, &zero);
  p.v_threshold = per_neuron(node, "v_threshold", n);
  p.v_reset = per_neuron(node, "v_reset", n, &zero);
  const std::size_t count = static_cast<std::size_t>(n);
  p.syn_a.resize(count);
  p.syn_b.resize(count);
  p.mem_a.resize(count);
  p.mem_b.resize(count);
  p.c.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const double xs = dt_s / tau_syn[i], xm = dt_s / tau_mem[i];
    if (method == Method::euler) {
      p.syn_a[i] = 1 - xs;
      p.syn_b[i] = p.w_in[i] * xs;
      p.mem_a[i] = 1 - xm;
      p.mem_b[i] = p.r[i] * xm;
    } else {
      const double as = std::exp(-xs), am = std::exp(-xm);
      p.syn_a[i] = as;
      p.syn_b[i] = p.w_in[i] * (1 - as);
      p.mem_a[i] = am;
      p.mem_b[i] = p.r[i] * (1 - am);  // times I_inf
      const double rel = std::abs(tau_syn[i] - tau_mem[i]) / tau_mem[i];
      p.c[i] = rel < 1e-9 ? xm * am : tau_syn[i] * (as - am) / (tau_syn[i] - tau_mem[i]);
    }
  }
  return p;
}

CubaLifState cuba_lif_state(const CubaLifParams& p) {
  return CubaLifState{std::vector<double>(p.v_leak.size(), 0.0), p.v_leak};
}

std::uint64_t cuba_lif_step(const CubaLifParams& p, CubaLifState& s, const double* in, double* out) {
  std::uint64_t spikes = 0;
  const std::size_t n = s.v.size();
  const bool euler = p.method == Method::euler;
  for (std::size_t i = 0; i < n; ++i) {
    const double i_old = s.i_syn[i];
    const double i_new = i_old * p.syn_a[i] + p.syn_b[i] * in[i];
    double v;
    if (euler) {
      v = p.v_leak[i] + (s.v[i] - p.v_leak[i]) * p.mem_a[i] + p.mem_b[i] * i_new;
    } else {
      const double i_inf = p.w_in[i] * in[i];
      v = p.v_leak[i] + (s.v[i] - p.v_leak[i]) * p.mem_a[i] + p.mem_b[i] * i_inf + p.r[i] * (i_old - i_inf) * p.c[i];
    }
    const bool fire = v > p.v_threshold[i];
    out[i] = fire ? 1.0 : 0.0;
    if (fire) v = p.v_reset[i];
    spikes += fire;
    s.i_syn[i] = i_new;
    s.v[i] = v;
  }
  return spikes;
}

}  // namespace snnconv::snn::leaky
