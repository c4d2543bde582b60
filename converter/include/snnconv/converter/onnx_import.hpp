// ONNX ModelProto -> IR. Protobuf and ONNX types stay inside converter/src/onnx: this header is all a
// caller sees (DESIGN.md section 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "snnconv/core/graph.hpp"

namespace snnconv::onnx_import {

// Protobuf cannot parse a message above 2 GiB - 1; bigger models must keep their weights as external data.
inline constexpr std::size_t kMaxProtobufBytes = 2147483647u;

struct ImportOptions {
  // Sizes for symbolic input dims (`--dims batch=4,seq=64`). A name no input has is a UsageError.
  std::map<std::string, std::int64_t> dims;
  // Keep nodes and values no graph output depends on (folded constants included): used by the tests that
  // compare every intermediate shape with ONNX's own shape inference.
  bool keep_dead = false;
  // Files above this size are refused before parsing (LimitError); capped at kMaxProtobufBytes.
  std::size_t max_file_bytes = kMaxProtobufBytes;
};

// Parses `path` into a Graph at Stage::imported without binding dims or folding: intermediate values keep
// an unknown type until shape inference runs. Errors (all name the file, and the node / value at fault):
//   IoError          the model or an external-data file cannot be read
//   ParseError       empty, corrupt or truncated file; tensor bytes contradicting the shape; bad attribute
//   LimitError       a tensor or file above a documented limit (checked before allocating)
//   UnsupportedError opset outside 11-18, unknown domain, unsupported ops or op versions (all listed at once),
//                    dtypes, run-time Split sizes, Dropout in training mode
//   GraphError       an input never produced, a value produced twice, a cycle
Graph read_onnx(const std::string& path, const ImportOptions& options = {});

// read_onnx, then bind_model_dims (passes.hpp) and fold_constants; the result is shape-inferred and
// verified at Stage::imported. Binds every symbolic dim: the bindings used are recorded in
// metadata["snnconv.bound_dims"].
Graph import_onnx(const std::string& path, const ImportOptions& options = {});

// Reads one serialized ONNX TensorProto file (the `input_0.pb` / `output_0.pb` format of ONNX's test data).
// ParseError naming the file when it is not one.
Tensor read_tensor_file(const std::string& path);

}  // namespace snnconv::onnx_import
