// NIR files (HDF5, the layout the nir Python package writes: /version, /node/type = "NIRGraph",
// /node/nodes/NAME/{type, PARAM...}, /node/edges = [E, 2] strings). docs/nir.md.
#pragma once

#include <filesystem>
#include <string>

#include "snnconv/core/nir_graph.hpp"

namespace snnconv::datasets {

// IoError when missing or unreadable; ParseError (naming the object) for a file that is not HDF5, is
// truncated, or breaks the layout (no /node, a node without a type, edges not [E, 2] strings, a parameter of
// strings); UnsupportedError listing every node whose type this tool does not simulate (nested graphs too);
// GraphError when an edge names a node that does not exist.
nir::Graph read_nir_file(const std::filesystem::path& path);

// Written atomically (core/atomic_output.hpp), in the layout above, each parameter with the element type and
// shape it holds. UsageError for an edge naming a missing node.
void write_nir_file(const std::filesystem::path& path, const nir::Graph& graph);
// The bytes write_nir_file writes (built in memory and read back).
std::string nir_file_image(const std::filesystem::path& path, const nir::Graph& graph);

// Whether a file is HDF5 with a /node/type of "NIRGraph". Never throws.
bool is_nir_file(const std::filesystem::path& path);

}  // namespace snnconv::datasets
