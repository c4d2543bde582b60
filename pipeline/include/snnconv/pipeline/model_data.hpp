// The samples a model is fed, whatever they came from: a split of an HDF5 dataset (docs/datasets.md), the
// user's own .npz (one array per graph input, first axis = samples; docs/datasets.md, "Your own data"), or synthetic inputs
// when there is no data at all. Every stage (dense evaluation, calibration, the QANN and SNN runs, saved
// outputs) reads rows through this one representation, so a file is checked once, the same way everywhere.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "snnconv/core/tensor.hpp"
#include "snnconv/pipeline/model_source.hpp"

namespace snnconv::pipeline {

// Rows of samples for a model. Row i of every input is sample i; a language model's row is one window.
struct RowSet {
  std::string file;         // where the rows came from ("" for synthetic ones)
  std::string kind;         // "hdf5", "npz", "arrays" (rows_from_arrays) or "synthetic"
  std::string description;  // one line for reports: "split 'test' of fm.h5", "x.npz", "synthetic: ..."
  std::int64_t rows = 0;
  std::vector<Tensor> inputs;  // one per graph input, [rows, ...per-sample shape], in the graph input's dtype
  std::map<std::string, std::int64_t> dims;  // symbolic non-batch dims the rows fix (e.g. seq=64)
  std::vector<std::int64_t> labels;          // classification: [rows]; empty when the data has none
  // Language models and vqa: next[r * T + t] is the token position t of row r predicts (-1: not scored), T the
  // rows' sequence length; lengths[r] the row's valid positions (a stream's last window may be shorter: its
  // row is zero-padded to T). Empty for classification.
  std::vector<std::int64_t> next;
  std::vector<std::int64_t> lengths;
  std::int64_t seq = 0;  // T (0 without a sequence dim)
  bool scored() const { return !labels.empty() || !next.empty(); }
};

struct RowRequest {
  std::string split = "test";  // HDF5 split; an .npz has none (ignored)
  std::int64_t limit = -1;     // rows (language-model streams: windows); < 0: all
  std::int64_t seq = 0;        // language-model stream window; 0: the source's window
};

// Loads rows of `file` (an .npz by extension or signature, else the HDF5 layout) for src's model and task.
// UsageError (exit 2) for data that does not fit the model: .npz keys that match no input (listing the model's
// inputs and the file's arrays), a per-sample shape that differs from the input's (naming both), NaN or Inf
// (naming the array, the sample and the element), labels that are not integers in range.
RowSet load_rows(const ModelSource& src, const std::string& file, const RowRequest& request);

// The same checks and rows from arrays already in memory (the Python module's numpy arrays), named as the .npz
// members would be (graph input names, optional "labels"); `file` names their origin in messages. load_rows of
// an .npz is read_npz then this.
RowSet rows_from_arrays(const ModelSource& src, std::vector<std::pair<std::string, Tensor>> arrays,
                        const std::string& file, const RowRequest& request);

// `rows` synthetic samples (seeded, the same on every machine): float inputs N(0, 1); token inputs (integer
// inputs read by an embedding Gather) uniform over the table's rows; other integer and bool inputs (masks) 1.
// Sequence dims take the source's window. No labels.
RowSet synthetic_rows(const ModelSource& src, std::int64_t rows, std::uint64_t seed = 1);

// When the token input's sequence dim is symbolic and nothing set a window (--seq, snnconv.max_seq), the rows of
// an .npz (the calibration file, else the data) fix it. No-op otherwise.
void settle_window(ModelSource& src);

// Rows [begin, begin + count) of every input of `rows`; when count > available they are padded by repeating
// the last row (a static-batch export's last group: the padded outputs are discarded by the caller).
std::vector<Tensor> take_rows(const RowSet& rows, std::int64_t begin, std::int64_t count, std::int64_t padded_count);

// The first `count` rows of `rows` (all of them when count >= rows.rows).
RowSet head(const RowSet& rows, std::int64_t count);

}  // namespace snnconv::pipeline
