// Spike recordings of SNN runs as HDF5 (`snnconv run --engine snn --record FILE.h5 [--raster NAMES]`),
// readable with h5py. Layout (docs/spiking.md, "Recordings"):
//   /populations [L] strings, /neurons [L] i64, /raster_names [R] strings; root attributes from `metadata`
//   /samples/<k>/ attribute index (row of the split), steps
//     spikes_pos, spikes_neg [T, L] u64: +1 / -1 spikes of each population at each step
//     raster/<r> [E, 3] i32: (step, neuron, delta) of every event of population raster_names[r]
// Written to a temporary name and renamed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace snnconv::datasets {

struct RecordingFile {
  std::map<std::string, std::string> metadata;
  std::vector<std::string> populations;
  std::vector<std::int64_t> neurons;
  std::vector<std::string> raster_names;
  struct Sample {
    std::int64_t index = 0;
    int steps = 0;
    std::vector<std::vector<std::uint64_t>> spikes_pos, spikes_neg;  // [T][L]
    std::vector<std::vector<std::int32_t>> raster;                   // per raster name: flat (step, neuron, delta)
  };
  std::vector<Sample> samples;
};

void write_recording_file(const std::filesystem::path& path, const RecordingFile& rec);

}  // namespace snnconv::datasets
