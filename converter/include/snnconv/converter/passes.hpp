// Graph passes on the imported IR.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv {

// Binds every symbolic dim of the graph inputs. `requested` wins (a name no input has is a UsageError
// naming it, a size < 1 or above kMaxDim too); a symbol named `seq` binds to metadata["snnconv.max_seq"]
// when the model records one; every other symbol binds to 1. Records the bindings as
// metadata["snnconv.bound_dims"] = "batch=1,seq=128" (first-seen order) and returns them in that order.
std::vector<std::pair<std::string, std::int64_t>> bind_model_dims(Graph& g,
                                                                  const std::map<std::string, std::int64_t>& requested);

struct FoldOptions {
  bool keep_dead = false;  // keep nodes/values no output depends on (folded constants stay addressable)
  // Folded constants above this many elements are not materialised: the node stays (a broadcast mask can
  // be huge while its inputs are tiny).
  std::int64_t max_folded_elements = std::int64_t{64} << 20;
};

struct FoldStats {
  int folded_nodes = 0;   // nodes evaluated with the reference kernels and replaced by constants
  int folded_shapes = 0;  // Shape nodes of statically shaped values
  int removed_identities = 0;
  int skipped_too_large = 0;     // all-constant nodes left in place by max_folded_elements
  int skipped_no_kernel = 0;     // all-constant nodes whose reference kernel is unsupported
  std::size_t removed_dead = 0;  // nodes removed because no graph output depends on them
};

// Constant folding after dims are bound: walks the nodes in topological order inferring output types,
// turns Shape of a static value into a constant, evaluates nodes whose inputs are all constants with
// ann::evaluate_reference, drops Identity, then removes dead nodes (unless keep_dead) and runs
// infer_shapes + verify at Stage::imported.
FoldStats fold_constants(Graph& g, const FoldOptions& options = {});

}  // namespace snnconv
