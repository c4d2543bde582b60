#include "unit_leaky_common.hpp"

#include <fmt/format.h>

#include <cmath>

namespace snnconv::snn::leaky {

LeakFactors leak_factors(const nir::Node& node, std::int64_t n, double dt_s, Method method) {
  const std::vector<double> tau = per_neuron(node, "tau", n);
  const std::vector<double> r = per_neuron(node, "r", n);
  LeakFactors f;
  f.a.resize(tau.size());
  f.b.resize(tau.size());
  for (std::size_t i = 0; i < tau.size(); ++i) {
    const double x = dt_s / tau[i];
    f.a[i] = method == Method::euler ? 1 - x : std::exp(-x);
    f.b[i] = method == Method::euler ? r[i] * x : r[i] * (1 - f.a[i]);
  }
  return f;
}

std::vector<double> per_neuron(const nir::Node& node, const std::string& name, std::int64_t n, const double* fallback) {
  const nir::Param* p = node.find(name);
  if (!p) {
    if (fallback) return std::vector<double>(static_cast<std::size_t>(n), *fallback);
    (void)node.require(name);  // throws the GraphError naming the parameter
  }
  if (p->numel() == n) return p->values;
  if (p->numel() == 1) return std::vector<double>(static_cast<std::size_t>(n), p->values[0]);
  throw ShapeError(fmt::format("NIR node '{}': parameter '{}' has {} values {} for a population of {} neurons",
                               node.name, name, p->numel(), shape_to_string(p->shape), n),
                   ErrorContext{{}, node.name, std::string(nir::node_type_name(node.type)), name});
}

}  // namespace snnconv::snn::leaky
