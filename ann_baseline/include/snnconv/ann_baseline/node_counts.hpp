// Ledger counts of one dense forward pass of a node (MACs by operand width, dense/nonlinear ops, bytes per
// memory class), from the graph's static shapes. The dense engine's plan uses it; the SNN engine uses it
// for the nodes it runs densely (its input prologue). Rules: docs/architecture.md, "ANN engine".
#pragma once

#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"

namespace snnconv::ann {

Counters node_counts(const Graph& g, NodeId id);

}  // namespace snnconv::ann
