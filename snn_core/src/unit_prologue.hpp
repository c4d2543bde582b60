// The dense prologue: a node whose inputs are graph inputs, constants or other prologue outputs (a patch
// embedding, a token and position lookup) runs once, at step 1, with the reference kernel (or, for a patch-embedding Conv, its ordered fast form
// computing the same floats), per sample; its
// output is the current of the first neuron population (direct input encoding). Priced by the dense
// engine's rules (ann::node_counts).
#pragma once

#include <optional>
#include <vector>

#include "prologue_conv.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::snn {

struct PrologueParams {
  NodeId node;
  int out = -1;
  Counters counts;  // one sample's dense work
  std::optional<OrderedConv> conv;  // a Conv the ordered fast form covers (the same floats as the reference)
  // Data movement and Concat of f32 values (a ViT's patch tokens transposed and joined to the class token): an
  // index map computed once from the reference kernel; output element i copies element src_elem[i] of data
  // input src_input[i] (empty: input 0). The same bits as the reference kernel's copy, without its per-sample
  // index arithmetic and allocations.
  std::vector<std::int32_t> src_elem;
  std::vector<std::uint8_t> src_input;
  std::vector<std::size_t> data_inputs;  // the node's operands the map reads
  // An f32 Add (a position embedding added to the tokens): out[i] = a[add_a[i]] + b[add_b[i]], the broadcast
  // folded into two index maps (empty: the operand has the output's shape), the reference's one rounding.
  bool add_f32 = false;
  std::vector<std::int32_t> add_a, add_b;
  // Every input constant: the output computed once, at plan time.
  std::optional<Tensor> once;
};

struct PrologueState {
  std::vector<Tensor> out;  // per sample
};

}  // namespace snnconv::snn
