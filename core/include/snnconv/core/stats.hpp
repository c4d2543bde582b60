// Static figures of a graph: parameters, bytes and MACs per node from its (bound) shapes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv {

struct NodeStats {
  NodeId node;
  std::int64_t params = 0;  // elements of the parameter constants this node reads (counted at first use)
  std::int64_t macs = 0;    // multiply-accumulates of MatMul/Gemm/Conv/Linear/Attention per forward pass
};

struct GraphStats {
  std::int64_t params = 0;        // floating-point constants with more than one element (see docs/cli.md)
  std::int64_t param_bytes = 0;   // their storage bytes (int8/int4 weights count their packed width)
  std::int64_t macs = 0;          // -1 when some shape needed for MACs is unknown
  std::map<std::string, int> op_histogram;
  std::vector<NodeStats> per_node;  // in topological order
};

// MACs of one node, or -1 when its shapes are not known.
std::int64_t node_macs(const Graph& g, const Node& n);
// True when a constant counts as a parameter (floating point, more than one element).
bool is_parameter(const Value& v);
GraphStats compute_stats(const Graph& g);

}  // namespace snnconv
