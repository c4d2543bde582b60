// Structural and stage rules of the IR. Throws GraphError naming the first broken rule's node/value.
#pragma once

#include "snnconv/core/graph.hpp"

namespace snnconv {

// Checks: ids in range; every node input produced, a graph input or a constant; no cycle; arity and attrs
// alternative match the op table; every op legal at `stage`; at `quantized` and later, every input of a
// weight-bearing op and every operand of a bilinear op is a quantized value; at `spiking`, every neuron's
// output value carries QuantParams.
void verify(const Graph& g, Stage stage);
inline void verify(const Graph& g) { verify(g, g.stage); }

}  // namespace snnconv

namespace snnconv {

// Throws NumericError when a floating-point constant holds NaN or Inf, naming the value and the first node
// (in topological order) that reads it.
void check_finite_constants(const Graph& g);

}  // namespace snnconv
