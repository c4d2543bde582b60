// Running a model on a dataset split and scoring it: what `snnconv run` does. Lives in cascade (layer 4)
// because it joins the importer (converter), the datasets and the engines, which are siblings below.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "snnconv/core/ledger.hpp"

namespace snnconv::cascade {

struct EvalOptions {
  std::string model;           // ONNX file
  std::string data;            // dataset file; empty: the model's metadata `snnconv.data` (relative to it)
  std::string split = "test";
  std::int64_t limit = -1;     // samples (classification) or windows (language_model); < 0: all
  std::int64_t batch = 64;
  std::int64_t seq = 0;        // language_model window; 0: the model's snnconv.max_seq
  int threads = 0;             // 0: every core
  bool reference_only = false;
  bool fuse = true;            // run the fused (canonical) graph: Linear, Attention, LayerNorm, Gelu
  std::map<std::string, std::int64_t> dims;  // extra symbolic dims (batch and seq are set from the above)
  std::function<void(std::int64_t done, std::int64_t total)> progress;  // optional: after every batch
};

struct EvalResult {
  std::string task;            // dataset task name
  std::string model;
  std::string data;            // dataset file actually used
  std::int64_t samples = 0;    // classification samples or language-model windows scored
  std::string metric;          // "accuracy" or "bits_per_byte"
  double value = 0.0;
  double seconds = 0.0;        // engine time only (no import, no disk reads)
  double samples_per_s = 0.0;
  std::vector<std::string> kernels;  // kernel per node of the full-batch graph
  Ledger ledger;                     // summed over every pass (rows = nodes of the full-batch graph)
};

// Imports the model with `batch` bound to the batch size and runs it over the split.
// Classification: accuracy of argmax(logits) against `labels`. The last partial batch runs on a second
// import bound to the remainder when the batch dim is symbolic; a model with a fixed batch gets the last
// batch zero-padded and the padded rows ignored (the ledger then counts them: they were computed).
// language_model: bits per byte over non-overlapping windows of `seq` bytes of the split's token stream
// (documents concatenated; each window predicts its bytes 2..seq from the ones before).
// vqa and program_synthesis are not scored yet (UnsupportedError).
EvalResult evaluate(const EvalOptions& options);

}  // namespace snnconv::cascade
