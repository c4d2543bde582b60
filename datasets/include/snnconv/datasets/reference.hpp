// Reference files: tensors dumped from the PyTorch reference (or by an engine) to compare engines
// against. Layout: groups `/inputs` and `/outputs`, each holding one dataset per tensor (f32, i64, i32,
// u8, i8; float16/float64 are read as f32). Names may contain '/': h5py turns them into nested groups,
// which are read back as the joined name ("blocks.0/attn/out").
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "snnconv/core/tensor.hpp"

namespace snnconv::datasets {

struct ReferenceData {
  std::map<std::string, Tensor> inputs;
  std::map<std::string, Tensor> outputs;
};

// IoError when the file cannot be opened; ParseError (naming file and dataset) for a missing group or a
// dataset of an unsupported type.
ReferenceData read_reference_file(const std::filesystem::path& path);

// Writes through a temporary name and a rename, like every output of the product.
void write_reference_file(const std::filesystem::path& path, const ReferenceData& data);

}  // namespace snnconv::datasets
