// The naive reference kernel of every non-spiking op: the definition every optimised kernel and the
// constant folder are tested against. Written for clarity, not speed.
#pragma once

#include <span>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann {

// Evaluates node `id` of `g` on concrete inputs (inputs[i] == nullptr for an absent optional input).
// Output dtypes and shapes follow ONNX semantics; a FakeQuant reads its output value's QuantParams.
// Throws ShapeError / UnsupportedError with the node's context on bad input.
std::vector<Tensor> evaluate_reference(const Graph& g, NodeId id, std::span<const Tensor* const> inputs);

}  // namespace snnconv::ann
