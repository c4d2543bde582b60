// The model file: graphs of the IR (a QANN and its SNN) with their weights, quantization parameters and
// metadata in one HDF5 file that h5py reads (docs/spiking.md, "Model file"). Built in memory, read back, and
// written atomically (core/atomic_output.hpp); a malformed file is a ParseError naming the object at fault,
// every graph read back passes verify() at its stage, and its constants check_finite_constants().
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv::datasets {

struct ModelFile {
  std::map<std::string, std::string> metadata;           // root attributes (task, data, bits, ...)
  std::vector<std::pair<std::string, Graph>> graphs;     // group name -> graph, in file order
  const Graph* find(const std::string& name) const;
};

// UsageError for a graph with symbolic dims or a constant of a dtype HDF5 cannot store here (f16).
// Written atomically (core/atomic_output.hpp): IoError with the OS's words when the disk is full.
void write_model_file(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata,
                      const std::vector<std::pair<std::string, const Graph*>>& graphs);
// The bytes write_model_file writes, built in memory and read back (for a command that commits several
// outputs together); `path` names the file in messages.
std::string model_file_image(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata,
                             const std::vector<std::pair<std::string, const Graph*>>& graphs);
ModelFile read_model_file(const std::filesystem::path& path);

// Whether a file starts like an HDF5 file written by write_model_file (format attribute "snnconv-model");
// false for anything else (ONNX files included). Never throws.
bool is_model_file(const std::filesystem::path& path);

}  // namespace snnconv::datasets
