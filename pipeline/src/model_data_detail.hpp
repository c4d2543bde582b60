// Shared checks of the row loaders (model_data.cpp: .npz and synthetic; model_data_h5.cpp: HDF5 datasets).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "snnconv/pipeline/model_data.hpp"

namespace snnconv::pipeline::detail {

// "name f32[batch,1,28,28], ..." for messages.
std::string input_list(const Graph& g);
// Rows of the embedding table the integer input `input` indexes (through Cast/Reshape), 0 when none is found.
std::int64_t embedding_rows(const Graph& g, ValueId input);
// UsageError naming the array, sample and position of a token outside [0, vocab) (vocab 0: no check).
void check_tokens(const Tensor& ids, std::int64_t vocab, const std::string& file, const std::string& array);
// UsageError naming the array, sample and element of the first NaN or Inf.
void check_finite(const Tensor& t, const std::string& file, const std::string& array);
// The array in the input's dtype; UsageError for floats into an integer input or values out of its range.
Tensor to_input_dtype(const Tensor& a, const TensorType& t, const std::string& file, const std::string& array,
                      const std::string& input);
// Checks that samples of shape data[1:] fit input type t (dims after the batch); symbolic dims are bound to the
// data's sizes, added to `dims` and returned. UsageError naming the input and both shapes.
std::map<std::string, std::int64_t> fit_sample_shape(const Shape& data, const TensorType& t, const std::string& file,
                                                     const std::string& array, const std::string& input,
                                                     std::map<std::string, std::int64_t> dims);
// Integer class indices [rows] within the model's classes (when its first output says how many).
std::vector<std::int64_t> check_labels(const Tensor& labels, std::int64_t rows, const Graph& g, const std::string& file);
// A token stream cut into windows of `seq` (the last one shorter, zero-padded): window k feeds tokens
// [k*seq, k*seq + len) and is scored on the next ones, so every token but the first is scored once.
void stream_windows(RowSet& rs, const std::vector<std::int64_t>& tokens, std::int64_t seq, std::int64_t limit,
                    const TensorType& input);
// load_rows for an HDF5 dataset file.
RowSet h5_rows(const ModelSource& src, const std::string& file, const RowRequest& request);

}  // namespace snnconv::pipeline::detail
