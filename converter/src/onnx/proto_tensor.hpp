// TensorProto / TypeProto -> core types. Private to the ONNX importer.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <optional>
#include <string>

#include "snnconv/core/error.hpp"
#include "snnconv/core/tensor.hpp"
#include "snnconv/core/types.hpp"

namespace snnconv::onnx_import::detail {

// ONNX TensorProto::DataType -> DType; nullopt for element types the IR has no dtype for.
std::optional<DType> dtype_from_onnx(int elem_type);
// "FLOAT", "DOUBLE", ... for messages.
std::string onnx_dtype_name(int elem_type);

// Where a tensor comes from: error context and the folder external data is relative to.
struct TensorSource {
  std::string file;
  std::filesystem::path model_dir;
};

// Decodes an initializer / Constant tensor in any encoding torch writes (raw_data, the typed fields,
// external data). `what` names it in errors ("initializer 'W'"). The element count is checked with
// checked_numel and every byte count against the shape before anything is allocated. DOUBLE tensors are
// narrowed to f32 (the IR has no f64; torch writes them for Python float constants).
Tensor tensor_from_proto(const onnx::TensorProto& t, const std::string& what, const TensorSource& source);

// The type of a graph input / output. Dims: dim_value -> known (negative: ParseError), dim_param ->
// Dim::named, neither -> Dim::unknown(); no shape at all -> rank unknown.
TensorType type_from_proto(const onnx::TypeProto& t, const std::string& what, const std::string& file);

}  // namespace snnconv::onnx_import::detail
