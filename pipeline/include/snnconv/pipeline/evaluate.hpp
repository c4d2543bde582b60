// Running a model on data and scoring it: what `snnconv run` does. Lives in pipeline (layer 4) because it joins
// the importer (converter), the datasets and the engines, which are siblings below.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "snnconv/core/ledger.hpp"
#include "snnconv/core/tensor.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/pipeline/model_source.hpp"

namespace snnconv {
class Communicator;  // core/communicator.hpp
}

namespace snnconv::pipeline {

struct EvalOptions {
  std::string model;           // ONNX file
  std::string data;            // .h5 dataset or .npz (model_data.hpp); empty: the model's `snnconv.data` metadata
  std::string split = "test";  // HDF5 split (an .npz has none)
  std::string task;            // override the model's task (model_source.hpp)
  std::int64_t limit = -1;     // samples (classification) or windows (language_model); < 0: all
  std::int64_t batch = 64;
  std::int64_t seq = 0;        // language_model window; 0: the model's snnconv.max_seq
  int threads = 0;             // 0: every core
  bool reference_only = false;
  bool fuse = true;            // run the fused (canonical) graph: Linear, Attention, LayerNorm, Gelu
  std::map<std::string, std::int64_t> dims;  // extra symbolic dims (batch and seq are set from the above)
  bool keep_outputs = false;   // EvalResult::outputs: every graph output, one row per sample
  bool keep_graph = false;     // EvalResult::graph: the graph the ledger's rows are the nodes of (to price it)
  std::function<void(std::int64_t done, std::int64_t total)> progress;  // optional: after every batch
  // Data parallel (docs/scaling.md): with more than one rank, each runs a contiguous shard of the forward passes
  // (groups of --batch rows) and rank 0 adds every group's contributions in group order and merges the ledgers:
  // its result is bit-identical to one process; the others return with EvalResult::root false.
  Communicator* comm = nullptr;
};

struct EvalResult {
  bool root = true;            // false on the ranks other than 0 of a data-parallel run (nothing else filled)
  std::string task;            // the model's task (model_source.hpp)
  std::string model;
  std::string data;            // data file actually used
  std::string data_description;
  std::int64_t samples = 0;    // samples (language models: windows) run
  std::string metric;          // "accuracy", "bits_per_byte", "exact_match", or "" when the data has no labels
  double value = 0.0;
  std::map<std::string, double> extra;  // further metrics: "roc_auc" (two-class classification)
  double seconds = 0.0;        // engine time only (no import, no disk reads)
  double samples_per_s = 0.0;
  std::vector<std::string> kernels;  // kernel per node of the full-batch graph
  Ledger ledger;                     // summed over every pass (rows = nodes of the full-batch graph)
  Graph graph;                       // keep_graph: that full-batch graph (bound and fused as it ran)
  // keep_outputs: per graph output, the rows of every sample in order ([samples, ...]; padding dropped; a short
  // language-model window's rows zero-padded to the full length, see lengths).
  std::vector<std::string> output_names;
  std::vector<Tensor> outputs;
  std::vector<std::int64_t> lengths;  // valid positions per sample for sequence outputs (empty: all)
};

// Runs the model over the data in groups of `batch` rows (a static-batch export: its own batch; the last group
// padded by repeating its last row, the padded outputs discarded and counted in the ledger). Symbolic batch:
// the last partial group runs on a graph bound to the remainder.
// Classification: accuracy of argmax(logits) against the labels; with two classes also the ROC AUC of the
// softmax probability of class 1 (ties count one half).
// language_model: bits per byte over windows; an HDF5 split's (or an .npz 1-D array's) token stream is cut into
// non-overlapping windows of `seq`: window k feeds [k*seq, k*seq + seq) and is scored on the bytes [k*seq + 1,
// k*seq + seq + 1); the last window is shorter (its own binding, or zero-padded and its padding unscored when the
// export fixes the length), so every byte but the first is scored once (the rule of examples/code_gpt/train.py).
// An .npz of token rows [N, T]: each row is scored on its own positions 1..T-1.
// vqa: exact match of the answer, teacher-forced: image and prompt + reference answer in one pass, a row matches
// when the argmax at every answer position is the reference byte (end byte included) - exactly when greedy
// decoding reproduces the answer. Rows of a group are cut to the group's longest row (causal: padding after an
// answer changes nothing before it).
// Data without labels (an .npz without `labels`, vqa rows from an .npz) runs and is not scored (metric "").
EvalResult evaluate(const EvalOptions& options);
// The same on a model already read (the front door's): no file is parsed again.
EvalResult evaluate(const ModelSource& source, const EvalOptions& options);
// The same on rows already loaded (model_data.hpp: load_rows or rows_from_arrays, e.g. the Python module's
// arrays); options.data, split, limit and seq are not read (the rows are what runs).
EvalResult evaluate(const ModelSource& source, const RowSet& rows, const EvalOptions& options);

}  // namespace snnconv::pipeline
