// Operator fusion (imported -> canonical) and the decoder preparation used by KV-cache decoding.
#pragma once

#include <map>
#include <set>
#include <string>

#include "snnconv/core/graph.hpp"

namespace snnconv {

// How often each rewrite rule fired. Names are the rule names of docs/fusion.md.
struct FuseStats {
  std::map<std::string, int> per_pattern;  // "layer_norm", "gelu", "linear", "gemm_linear", "attention", ...
  int total() const;
};

// Rewrites the chains torch exports into the canonical fused ops (LayerNorm, Gelu, Linear, Attention),
// rule by rule to a fixed point (docs/fusion.md), removes dead leftovers, infers shapes and verifies the
// result at Stage::canonical. A chain is fused only when every intermediate value has its single consumer
// inside the chain (and is no graph output), so no value anybody else reads disappears.
// Throws GraphError when the fused graph is not legal at the canonical stage (an op with no canonical form
// is left, e.g. an unfolded Shape), naming the node.
FuseStats fuse_graph(Graph& g);
// The same with the rules named in `skip` left out (tests compare a fused op with the chain it replaces).
FuseStats fuse_graph(Graph& g, const std::set<std::string>& skip);

// Makes token positions an explicit graph input so a causal decoder can run on a window of new tokens: the
// position table's Slice [0:seq] (or Gather by the constant 0..seq-1) becomes Gather(table, positions) with a
// new input `positions` (i64 [seq]) appended to the graph inputs. Throws UnsupportedError when the graph
// has no such position lookup (or more than one), or no Attention node is causal (call after fuse_graph).
// Records the table length as metadata["snnconv.max_positions"].
void prepare_decoder(Graph& g);

}  // namespace snnconv
