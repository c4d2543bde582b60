// What of an snnconv SNN graph NIR can express (docs/nir.md, "Export"). NIR has Affine/Linear, Conv, Flatten,
// SumPool and unsigned IF/LIF neurons with a hard reset; it has no primitive for LayerNorm, softmax, products
// of two activations, or for the converter's ST-BIF neuron (signed spikes, a bounded spike count, a soft reset
// by the threshold, a membrane starting at half the threshold, a bias injected once): written as NIR's IF it
// would compute something else, so it is listed, not approximated.
#pragma once

#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv::nir_export {

struct Inexpressible {
  std::string node;  // graph node name
  std::string op;    // op name
  std::string why;   // what NIR lacks for it
};

// Every node of `g` with no NIR equivalent, in graph order (empty: the graph could be written node for node).
std::vector<Inexpressible> inexpressible_nodes(const Graph& g);

// UnsupportedError listing every such node (at most 40 by name, then the count per op), naming `file`.
[[noreturn]] void refuse(const std::vector<Inexpressible>& nodes, const std::string& file);

}  // namespace snnconv::nir_export
