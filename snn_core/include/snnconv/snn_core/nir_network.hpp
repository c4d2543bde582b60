// A NIR graph (core/nir_graph.hpp) made runnable: shapes resolved, recurrent edges found, NIR's
// continuous-time neurons discretised with a step dt, and a step loop that is event-driven where the inputs
// are spikes (a synaptic layer visits the weight rows of the non-zero inputs only). The ledger has one row
// per NIR node and counts what neuromorphic hardware would do (docs/nir.md, "Simulation").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "snnconv/core/ledger.hpp"
#include "snnconv/core/nir_graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::snn {

enum class NirMethod : std::uint8_t { euler, exact };

struct NirOptions {
  double dt_s = 1e-4;                   // simulation step in seconds (NIR's time constants are seconds)
  NirMethod method = NirMethod::euler;  // forward Euler (as Norse, snnTorch, Sinabs step) or exact exponential
};

struct NirNodeInfo {
  std::string name;
  nir::NodeType type = nir::NodeType::Input;
  Shape input_shape;   // what arrives (the sum of the incoming edges); [] for Input
  Shape output_shape;  // what it emits each step
  std::vector<std::size_t> sources;       // forward edges in (node indices)
  std::vector<std::size_t> back_sources;  // recurrent edges in: the source's output of the previous step
  std::int64_t synapses = 0;              // weights of a synaptic node (Affine, Linear, Conv)
};

// What a run can record besides the outputs: the membrane voltage (LIF, CubaLIF, IF, LI, Integrator) of
// one node, per step, for the first sample.
struct NirProbe {
  std::string node;
  std::vector<double> voltage;  // [T * numel], filled by run
};

class NirNetwork {
public:
  // Validates the graph (one Input, one Output, edges, parameters, shapes): GraphError for a structural
  // fault, ShapeError for shapes that do not fit (naming the node and both shapes), UnsupportedError for
  // what the simulator cannot run (several inputs or outputs, a string padding).
  NirNetwork(nir::Graph graph, NirOptions options);
  ~NirNetwork();
  NirNetwork(NirNetwork&&) noexcept;
  NirNetwork& operator=(NirNetwork&&) noexcept;

  const nir::Graph& graph() const;
  const NirOptions& options() const;
  const std::vector<NirNodeInfo>& nodes() const;  // parallel to graph().nodes
  const std::vector<std::size_t>& order() const;  // execution order within a step
  const Shape& input_shape() const;
  const Shape& output_shape() const;
  // Spiking and stateful neurons per inference (outputs of neuron nodes).
  std::int64_t neurons() const;

  // A ledger with one zeroed row per NIR node (names, op kinds: synaptic nodes as SynapseLinear /
  // SynapseConv, neuron nodes as SpikeNeuron).
  Ledger make_ledger() const;

  // input: [B, T, *input_shape] (or [T, *input_shape] for one sample), any numeric dtype (cast to f32);
  // returns [B, T, *output_shape] (or [T, ...]) f32, the Output node's value at every step. Samples start from
  // the rest state. ShapeError when the input does not fit; NumericError for a non-finite input.
  Tensor run(const Tensor& input, Ledger* ledger = nullptr, NirProbe* probe = nullptr) const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace snnconv::snn
