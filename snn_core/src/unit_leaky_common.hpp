// What the NIR neuron units (unit_lif, unit_cuba_lif, unit_li, unit_if, unit_threshold) share: a parameter
// of a population broadcast to one value per neuron, and the discretisation of NIR's continuous time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snnconv/core/nir_graph.hpp"

namespace snnconv::snn::leaky {

// Forward Euler (what Norse, snnTorch and Sinabs step), or the exact solution of the linear ODE over one
// step with the input held constant during the step (zero-order hold).
enum class Method : std::uint8_t { euler, exact };

// Parameter `name` of `node` as one double per neuron: a stored array of n values, or of one value
// (broadcast). `fallback` is used when the parameter is absent and optional (v_reset, w_in); a required
// parameter that is absent, or one whose size is neither 1 nor n, is a GraphError / ShapeError naming both.
std::vector<double> per_neuron(const nir::Node& node, const std::string& name, std::int64_t n,
                               const double* fallback = nullptr);

// The one-step leak of tau dv/dt = (v_leak - v) + r I in the form v' = v_leak + (v - v_leak) a + b I, per neuron
// from the node's tau and r (LIF and LI): Euler a = 1 - dt/tau, b = r dt/tau; exact a = exp(-dt/tau), b = r (1 - a).
struct LeakFactors {
  std::vector<double> a, b;
};
LeakFactors leak_factors(const nir::Node& node, std::int64_t n, double dt_s, Method method);

}  // namespace snnconv::snn::leaky
