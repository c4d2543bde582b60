// Running a model on a dataset split and scoring it: what `snnconv run` does. Lives in cascade (layer 4)
// because it joins the importer (converter), the datasets and the engines, which are siblings below.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "snnconv/core/ledger.hpp"

namespace snnconv::pipeline {

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
  std::string metric;          // "accuracy", "bits_per_byte" or "exact_match"
  double value = 0.0;
  std::map<std::string, double> extra;  // further metrics: "roc_auc" (two-class classification)
  double seconds = 0.0;        // engine time only (no import, no disk reads)
  double samples_per_s = 0.0;
  std::vector<std::string> kernels;  // kernel per node of the full-batch graph
  Ledger ledger;                     // summed over every pass (rows = nodes of the full-batch graph)
};

// Imports the model with `batch` bound to the batch size and runs it over the split.
// Classification: accuracy of argmax(logits) against `labels`; with two classes also the ROC AUC of
// logit1 - logit0 (ties count one half). The last partial batch runs on a second import bound to the
// remainder when the batch dim is symbolic; a model with a fixed batch gets the last batch zero-padded and
// the padded rows ignored (the ledger then counts them: they were computed).
// language_model: bits per byte over the split's token stream (documents concatenated) cut into
// non-overlapping windows of `seq` bytes: window k feeds bytes [k*seq, k*seq + seq) and scores the bytes
// [k*seq + 1, k*seq + seq + 1), the last window is shorter, so every byte but the first is scored once (the
// rule of examples/code_gpt/train.py, which the recorded bits/byte use). `samples` counts windows.
// vqa: exact match of the answer, teacher-forced: image and prompt + reference answer in one pass, a row
// matches when the argmax at every answer position is the reference byte (end byte included). Greedy
// decoding reproduces the answer exactly in that case and only then, so this equals greedy exact match.
// Rows of a batch are right-padded with 0 to the batch's longest row (causal attention: padding after an
// answer changes nothing before it); each padded length gets its own import.
// program_synthesis is not scored yet (UnsupportedError).
EvalResult evaluate(const EvalOptions& options);

}  // namespace snnconv::pipeline
