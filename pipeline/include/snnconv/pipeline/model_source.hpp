// A model resolved once: the ONNX file read a single time into an unbound graph, with what every stage needs
// to know about it (task, data, window, static batch). Stages receive the source or graphs bound from it and
// never read the file again (docs/architecture.md, "The pipeline and the report").
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "snnconv/core/graph.hpp"

namespace snnconv::pipeline {

struct SourceOptions {
  std::string model;       // ONNX file
  std::string task;        // "": an HDF5 dataset's, else the metadata's, else inferred; or classification | language_model | vqa
  std::string data;        // .h5 or .npz; "": the model's snnconv.data metadata (relative to the model), maybe none
  std::string calib_data;  // .h5 or .npz for calibration; "": calibrate on `data`
  std::int64_t seq = 0;    // sequence window; 0: snnconv.max_seq, else the export's fixed length
};

struct ModelSource {
  std::string model;
  Graph unbound;             // read_onnx: symbolic dims kept, nothing folded
  std::string task;          // classification | language_model | vqa | program_synthesis, or "" (unknown)
  std::string task_origin;   // "--task", "dataset", "metadata", "inferred" or "" (unknown)
  std::string data;          // the dataset file, "" when none is known
  std::string calib_data;    // the calibration file, "" to use `data`
  std::int64_t window = 0;   // sequence length the graph is bound to (0: no sequence dim)
  std::int64_t static_batch = 0;  // > 0: dim 0 of the inputs is fixed by the export at this size
  std::string batch_symbol;  // the symbol of dim 0 of the inputs (empty when static)
  std::string seq_symbol;    // the symbol of the token input's dim 1 (empty when static or no tokens)

  // Rows one engine run takes when `batch` are asked for: the export's static batch wins.
  std::int64_t run_rows(std::int64_t batch) const { return static_batch > 0 ? static_batch : batch; }
  // A copy of `unbound` with dim 0 bound to run_rows(batch), the sequence dim to `seq` (0: window), `extra`
  // dims as given (every other symbol as bind_model_dims does), constants folded. Stage::imported.
  Graph bind(std::int64_t batch, std::int64_t seq = 0, const std::map<std::string, std::int64_t>& extra = {}) const;
  // The graph input that carries tokens: the integer [B, T] input that indexes an embedding, else the first
  // integer [B, T] one, else -1.
  int token_input() const;
};

// Reads the model once and resolves the rest. UsageError for an unknown --task or a task that contradicts
// the model's outputs, a sequence window < 1 or one the export does not allow.
ModelSource open_model(const SourceOptions& options);

// The task a graph's typed inputs and outputs imply, or "" when they do not: a float [B, C] first output is a
// classifier; integer tokens [B, T] in and a float [B, T, V] first output whose V is the vocabulary (the rows of
// the embedding the tokens index, when one is found: an encoder's hidden states [B, T, D] are not logits), a
// language model (integer inputs that index no embedding, e.g. masks, do not count; when no input indexes one,
// the shapes alone decide).
std::string infer_task(const Graph& graph);

// Rows of the embedding table an integer input indexes (through Cast / Reshape / Unsqueeze), 0 when none is found.
std::int64_t vocabulary_of(const Graph& graph, ValueId input);

// True when `path` is read as an .npz (by extension, else by its zip signature).
bool is_npz_path(const std::string& path);

}  // namespace snnconv::pipeline
