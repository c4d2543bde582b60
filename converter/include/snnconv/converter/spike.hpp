// Spiking conversion: a quantized ANN (Stage::quantized) becomes an SNN (Stage::spiking) whose accumulated
// output at quiescence equals the QANN's output exactly (DESIGN.md section 4, docs/spiking.md).
#pragma once

#include "snnconv/core/graph.hpp"

namespace snnconv {

// Rewrites, value names kept so QANN and SNN quantization points can be compared by name:
//   FakeQuant (with a folded Relu/Gelu or Linear activation before it) -> SpikeNeuron, QuantParams on its
//       output = threshold s and count bounds n_min/n_max, NeuronAttrs.target = the folded nonlinearity
//   Linear (input = a quantization point's output) -> SynapseLinear (activation moves to the neuron)
//   LayerNorm / Softmax (last axis, quantized input) -> DiffUnit
//   MatMul of two quantization points' outputs       -> SpikeMatMul
//   Add of two quantization points' outputs, Reshape and Transpose of one -> kept (events pass through)
// Throws GraphError (not quantized where it must be: wrong stage, an operand that is not a quantization
// point's output) or UnsupportedError (an op the converter cannot express), naming the node and value.
// The result passes verify(result, Stage::spiking).
Graph convert_to_spiking(const Graph& qann);

}  // namespace snnconv
