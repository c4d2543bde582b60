// Data movement of spikes (Reshape, Transpose, Gather, Slice, Squeeze, Unsqueeze, Flatten, Expand, Identity)
// and Concat of populations: events forwarded through index maps computed once from the reference kernels.
// A same-order movement (Reshape and friends) shares its source's counts and events and does nothing per step.
#pragma once

#include <cstdint>
#include <vector>

namespace snnconv::snn {

struct MovementParams {
  int in = -1, out = -1;
  bool same_order = false;              // output element i is input element i (storage shared)
  std::vector<std::int64_t> fan_begin;  // otherwise: input i goes to fan[fan_begin[i] .. fan_begin[i+1])
  std::vector<std::int32_t> fan;
  std::vector<std::int32_t> dest;       // when every input goes to at most one output: its output, or -1
  std::int64_t n_in = 0, n_out = 0;     // per sample
};

struct ConcatParams {
  std::vector<int> ins;
  int out = -1;
  std::vector<std::vector<std::int32_t>> dest;  // dest[k][i]: output index of element i of input k
};

}  // namespace snnconv::snn
