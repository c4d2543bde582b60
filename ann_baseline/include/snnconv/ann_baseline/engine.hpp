// The dense ANN engine: a Plan (topological order, buffer lifetimes, kernel choice per node) built once
// from a const Graph, then run on concrete inputs. The engine never mutates the IR.
#pragma once

#include <cstdint>
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
  // Refuse a plan whose memory (MemoryPlan::total) is above this many bytes: LimitError naming the sizes,
  // thrown by the constructor before any pass allocates its buffers. 0: no limit.
  std::uint64_t max_memory_bytes = 0;
  // Benchmarks only: accumulate each node's time (Engine::node_seconds): with threads == 1 the thread's CPU time
  // (steady on a loaded machine), else wall-clock time.
  bool time_nodes = false;
  // The planner's rewrites (nodes of constants computed at plan time, Transposes folded into attention,
  // views, residual Adds folded into Linear, packed weights). The KV-cache decoder runs every step with its
  // own kernels and turns them off.
  bool plan_rewrites = true;
};

// What one engine holds while it runs, from the plan's static shapes (docs/reliability.md, "Limits").
struct MemoryPlan {
  std::uint64_t constant_bytes = 0;    // the graph's constants (weights), held by the graph
  std::uint64_t converted_bytes = 0;   // constants the plan converted (quantized weights dequantized to f32)
  std::uint64_t input_bytes = 0;       // the inputs of one pass
  std::uint64_t activation_bytes = 0;  // peak of live and pooled intermediate buffers over repeated passes
  std::string peak_node;               // the node at which activations peak
  bool exact = true;  // false when some intermediate shape is not static: activation_bytes is then a lower bound
  std::uint64_t total() const { return constant_bytes + converted_bytes + input_bytes + activation_bytes; }
  // "weights 1.2 MiB + converted 0 B + inputs 3.1 KiB + activations 40 MiB (peak at node X) = 41.2 MiB"
  std::string describe() const;
};

// "1.5 GiB", "512 B": binary units, for messages.
std::string format_bytes(std::uint64_t bytes);

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
  // The same pass, writing the outputs into `outputs`: tensors left there by the previous call (same dtype and
  // shape) are reused as the output buffers, so repeated passes allocate nothing (a 50,257-way language-model
  // head writes 25 MB per 128 tokens; a fresh buffer costs its page faults every pass).
  void run_into(std::span<const Tensor> inputs, std::vector<Tensor>& outputs, Ledger* ledger = nullptr);

  const Graph& graph() const;
  // The plan's memory (what max_memory_bytes is checked against).
  const MemoryPlan& memory() const;
  // Bytes of the buffers the executor keeps between passes for reuse (bounded by memory().activation_bytes).
  std::uint64_t pooled_bytes() const;
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
