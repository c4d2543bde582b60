#include "unit_if.hpp"

namespace snnconv::snn::leaky {

IfParams if_params(const nir::Node& node, std::int64_t n, double dt_s) {
  const double zero = 0;
  IfParams p;
  p.b = per_neuron(node, "r", n);
  for (double& b : p.b) b *= dt_s;
  p.v_threshold = per_neuron(node, "v_threshold", n);
  p.v_reset = per_neuron(node, "v_reset", n, &zero);
  return p;
}

IfState if_state(const IfParams& p) { return IfState{std::vector<double>(p.b.size(), 0.0)}; }

std::uint64_t if_step(const IfParams& p, IfState& s, const double* in, double* out) {
  std::uint64_t spikes = 0;
  const std::size_t n = s.v.size();
  for (std::size_t i = 0; i < n; ++i) {
    double v = s.v[i] + p.b[i] * in[i];
    const bool fire = v > p.v_threshold[i];
    out[i] = fire ? 1.0 : 0.0;
    if (fire) v = p.v_reset[i];
    spikes += fire;
    s.v[i] = v;
  }
  return spikes;
}

ThresholdParams threshold_params(const nir::Node& node, std::int64_t n) {
  return ThresholdParams{per_neuron(node, "threshold", n)};
}

std::uint64_t threshold_step(const ThresholdParams& p, const double* in, double* out) {
  std::uint64_t spikes = 0;
  for (std::size_t i = 0; i < p.threshold.size(); ++i) {
    const bool fire = in[i] > p.threshold[i];
    out[i] = fire ? 1.0 : 0.0;
    spikes += fire;
  }
  return spikes;
}

}  // namespace snnconv::snn::leaky
