// An snnconv SNN graph as NIR (docs/nir.md, "Export"). NIR has Affine/Linear, Conv, Flatten, SumPool, Scale,
// Integrator, Threshold and unsigned IF/LIF neurons with a hard reset; it has no primitive for LayerNorm,
// softmax, products of two activations or residual adds of populations. The converter's ST-BIF neuron
// (signed spikes, a bounded spike count, a soft reset by the threshold, a membrane starting at half the
// threshold, a bias injected once) has no single NIR node either; it is written exactly as a composition of
// Integrator, Threshold and Scale nodes (nir_stbif.cpp): per population one Threshold per level boundary on
// the exact integer accumulator, a count Integrator and a recurrent edge that compares the count with the
// level reached, so a NIR simulator stepping with dt = 1 (forward Euler) fires the engine's spikes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/nir_graph.hpp"

namespace snnconv::nir_export {

struct Inexpressible {
  std::string node;  // graph node name
  std::string op;    // op name
  std::string why;   // what NIR lacks for it
};

// Every node of `g` with no NIR equivalent, in graph order (empty: the graph could be written node for node).
// A SpikeNeuron is expressible (as the composition above) when its folded nonlinearity is monotone (none,
// ReLU); the structural conditions (what feeds it, one row per synaptic layer) are checked by to_nir.
std::vector<Inexpressible> inexpressible_nodes(const Graph& g);

// UnsupportedError listing every such node (at most 40 by name, then the count per op), naming `file`.
[[noreturn]] void refuse(const std::vector<Inexpressible>& nodes, const std::string& file);

struct NirExport {
  nir::Graph graph;
  std::int64_t populations = 0;      // ST-BIF populations written
  std::int64_t synaptic_layers = 0;  // SynapseLinear (and the prologue Linear)
  std::int64_t threshold_nodes = 0;  // level boundaries written as Threshold nodes
  // Upper bound of the steps after which the exported network is quiescent: along every path the sum of the
  // populations' level counts (n_max - n_min); run the NIR graph at least this long with dt = 1.
  std::int64_t settle_steps = 0;
  std::string readout;  // the read-out's integer accumulator (an Integrator node), empty for a population output
  std::int64_t input_features = 0, outputs = 0;
};

// The spiking graph `snn` (stage spiking, batch 1) as one NIR graph: the input held at every step (a
// constant current), the prologue Linear as an Affine, every SynapseLinear as a Linear of its integer
// weight levels into an Integrator, every ST-BIF population as the composition above, a read-out Linear's
// current as Affine(diag(s_in * s_w), b) on its integer accumulator. UnsupportedError (via refuse) listing
// every node it cannot write, with the reason (`file` names the model in it).
NirExport to_nir(const Graph& snn, const std::string& file);

// A tensor crossing between a written NIR subgraph and the rest of the SNN.
struct NirCut {
  std::string direction;           // "in" (an Input node of the subgraph) or "out" (an Output node)
  std::string value;               // the SNN graph's value name
  std::string kind;                // "current" (its value at every step) or "spikes" (signed: +1, 0, -1 per step)
  std::string node;                // the NIR Input / Output node
  Shape shape;                     // NIR shape: [C], or [C, R] for R rows of C channels (channel-major)
  std::vector<std::string> other;  // the node(s) on the other side: the producer (in) or the readers (out)
};

struct NirSubgraph {
  std::vector<std::string> nodes;  // SNN graph nodes written, in graph order
  std::vector<NirCut> cuts;
  NirExport nir;
};

// The maximal subgraphs of `snn` that NIR expresses (connected SynapseLinear / ST-BIF nodes), each as its own
// NIR graph with one Input per value entering it and one Output per value leaving it. Token-wise layers over
// R rows ([1, R, C]) are written channel-major as [C, R], a Linear as a Conv1d of kernel 1.
std::vector<NirSubgraph> to_nir_subgraphs(const Graph& snn, const std::string& file);

}  // namespace snnconv::nir_export
