// The IR's text form, used by `snnconv inspect --ir`, golden tests and error messages.
#pragma once

#include <string>

#include "snnconv/core/graph.hpp"

namespace snnconv {

struct DumpOptions {
  bool show_constants = false;  // print small constant values inline (<= 8 elements)
};

std::string to_text(const Graph& g, const DumpOptions& options = {});
std::string node_to_text(const Graph& g, NodeId id);

}  // namespace snnconv
