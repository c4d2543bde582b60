// The structure-aware half of the HDF5 fuzzing (harness `h5_layout`): the fuzzer's bytes choose a dataset
// file's *contents* — root attributes, split groups, dataset names, element types, shapes, values and
// attributes, each sometimes right, sometimes wrong in type or value — and this writes them as a
// well-formed HDF5 file. The raw-bytes harness `h5` reaches libhdf5's own parser, which on Debian 12
// (1.10.8) is not memory-safe on crafted files and stops every run early (docs/reliability.md); this one
// reaches the layout validation and the reads of datasets/ that sit behind it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace snnconv::fuzz {

// Writes the file described by `bytes` to `path` (truncating it). Never throws for any input.
void build_h5_file(std::span<const std::uint8_t> bytes, const std::string& path);

}  // namespace snnconv::fuzz
