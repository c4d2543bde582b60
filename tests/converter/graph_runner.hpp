// A tiny interpreter for the converter's tests: every node through ann::evaluate_reference in topological
// order. It is the definition of what a graph computes, independent of the Engine.
#pragma once

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/core/graph.hpp"

namespace snnconv::test {

// Runs `g` on inputs named like its graph inputs; returns the graph outputs in order.
inline std::vector<Tensor> run_graph(const Graph& g, const std::map<std::string, Tensor>& inputs) {
  std::vector<std::optional<Tensor>> env(g.num_values());
  for (ValueId v : g.inputs()) {
    const auto it = inputs.find(g.value(v).name);
    if (it == inputs.end()) throw Error("run_graph: no tensor for input '" + g.value(v).name + "'");
    env[v.index] = it->second;
  }
  auto get = [&](ValueId v) -> const Tensor* {
    if (!v.valid()) return nullptr;
    if (g.value(v).constant) return &*g.value(v).constant;
    if (!env[v.index]) throw Error("run_graph: value '" + g.value(v).name + "' used before it is computed");
    return &*env[v.index];
  };
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    std::vector<const Tensor*> ins;
    for (ValueId v : n.inputs) ins.push_back(get(v));
    std::vector<Tensor> outs = ann::evaluate_reference(g, id, ins);
    for (std::size_t i = 0; i < outs.size() && i < n.outputs.size(); ++i)
      if (n.outputs[i].valid()) env[n.outputs[i].index] = std::move(outs[i]);
  }
  std::vector<Tensor> out;
  for (ValueId v : g.outputs()) out.push_back(*get(v));
  return out;
}

// Largest |a - b| / (1 + |b|) over two float tensors of equal shape (infinite when shapes differ).
inline double max_rel_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return 1e30;
  const auto x = a.to_f32();
  const auto y = b.to_f32();
  double worst = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = std::abs(static_cast<double>(x[i]) - y[i]) / (1.0 + std::abs(static_cast<double>(y[i])));
    if (!(d <= worst)) worst = d;  // NaN sticks
  }
  return worst;
}

}  // namespace snnconv::test
