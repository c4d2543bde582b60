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
};

struct PrologueState {
  std::vector<Tensor> out;  // per sample
};

}  // namespace snnconv::snn
