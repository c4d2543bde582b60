// Entry functions of the fuzz harnesses: one per reader of outside bytes. Each takes the raw bytes a
// fuzzer (or a committed regression input) supplies and runs them through the same code path the CLI
// uses. The contract every harness checks: the input is either accepted or refused with a snnconv::Error;
// anything else (a crash, a sanitizer report, a leak, another exception) is a bug.
//
// The libFuzzer mains (fuzz_main.cpp) and the ctest replay of tests/data/fuzz/ (replay.cpp) both call
// these, so a regression input replays exactly what the fuzzer ran.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace snnconv::fuzz {

enum class Outcome { accepted, rejected };

// ONNX model file -> onnx_import::import_onnx (read_onnx, bind dims, fold constants, verify), then
// fuse_graph (what `snnconv run` runs).
Outcome onnx_entry(std::span<const std::uint8_t> bytes);
// HDF5 dataset file -> datasets::DatasetReader: open/validate, then what `snnconv run` reads (first
// batch of each classification split, documents of a language-model split, strings and attributes).
Outcome h5_entry(std::span<const std::uint8_t> bytes);
// Structure-aware: the bytes choose a dataset file's contents, written as well-formed HDF5
// (h5_builder.hpp), then read as h5_entry reads.
Outcome h5_layout_entry(std::span<const std::uint8_t> bytes);
// Hardware profile JSON -> hw::parse_profile and the typed view of its kind.
Outcome profile_entry(std::span<const std::uint8_t> bytes);
// Two idx files -> datasets::read_idx_split (the fashion-mnist importer's parser). Input layout:
// 4 bytes little-endian length L of the image file, then L bytes of image file, then the label file
// (each raw or gzip-compressed), as tools/fuzz/make_idx_seeds.py writes them.
Outcome idx_entry(std::span<const std::uint8_t> bytes);

// The SNN model file reader (datasets/model_file.hpp): the bytes as a file, read back and verified.
Outcome snn_model_entry(std::span<const std::uint8_t> bytes);

// Model outputs (logits, labels, sampling options chosen by the bytes; NaN, Inf, extremes and ties
// included) through every metric, softmax and sort that reads model outputs (tools/fuzz/metrics_entry.cpp).
// An accepted input must also give results in their ranges.
Outcome metrics_entry(std::span<const std::uint8_t> bytes);

// The message of the snnconv::Error that refused the last input (empty after an accepted one).
const std::string& last_refusal();
// Records the outcome of an entry that catches its own errors (rejected when `refused`, with `message`).
Outcome outcome_of(bool refused, const std::string& message);

struct Harness {
  std::string_view name;  // the NAME of tools/fuzz/run.sh and of tests/data/fuzz/NAME/
  Outcome (*entry)(std::span<const std::uint8_t>);
};
const std::vector<Harness>& harnesses();

// Writes `bytes` to a fixed file in a per-process scratch folder (/dev/shm when present) and returns its
// path; `name` is the file's name there. The folder is removed at exit.
std::string scratch_file(std::string_view name, std::span<const std::uint8_t> bytes);

}  // namespace snnconv::fuzz
