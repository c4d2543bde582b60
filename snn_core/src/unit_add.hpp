// Residual Add of two populations: a current s_a * q_a + s_b * q_b (ann::sum_value) that a quantization point
// (a neuron) follows. It keeps no state: it marks the elements whose operands had events.
#pragma once

namespace snnconv::snn {

struct AddParams {
  int a = -1, b = -1, out = -1;
  float s_a = 1.0f, s_b = 1.0f;
};

}  // namespace snnconv::snn
