// The dense ANN engine: a Plan (topological order, buffer lifetimes, kernel choice per node) built once
// from a const Graph, then run on concrete inputs. The engine never mutates the IR.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann {

struct EngineOptions {
  int threads = 0;             // 0: every core; results are bit-identical for any count
  bool reference_only = false;  // run every node with its reference kernel (the definition)
  bool fill_ledger = true;
  bool check_finite = false;   // stop at the first node producing NaN/Inf, naming it (NumericError)
  bool time_nodes = false;     // benchmarks only: accumulate each node's wall time (Engine::node_seconds)
};

class Engine {
public:
  Engine(const Graph& graph, EngineOptions options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Runs one forward pass. `inputs` follow graph.inputs() order and must match their static types
  // (ShapeError naming the input otherwise). Adds this pass's counts to `ledger` when given (a ledger made
  // by Ledger::for_graph of the same graph).
  std::vector<Tensor> run(std::span<const Tensor> inputs, Ledger* ledger = nullptr);

  const Graph& graph() const;
  // Kernel chosen for each node ("reference", "eigen_gemm", "online_attention", ...), for inspect/bench.
  std::vector<std::string> kernel_names() const;
  // With EngineOptions::time_nodes: seconds spent in each node (index = node index) summed over every run
  // so far; zeros otherwise. A node the plan runs as a view (no kernel, no copy) stays at zero.
  std::vector<double> node_seconds() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace snnconv::ann
