// NodeProto attributes -> the typed Attrs of attrs.hpp. Private to the ONNX importer.
#pragma once

#include <onnx/onnx_pb.h>

#include <optional>
#include <string_view>
#include <vector>

#include "onnx/proto_tensor.hpp"
#include "snnconv/core/attrs.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/op.hpp"

namespace snnconv::onnx_import::detail {

// The typed attributes of an imported node, with ONNX's defaults for the opset range 13-17. An attribute the
// op does not know, or a value the IR cannot express (Conv auto_pad other than NOTSET, Cast to a dtype
// without a DType), is an UnsupportedError naming node and attribute; a wrong attribute type a ParseError.
// `opset` is the model's default-domain opset (defaults that changed over time: Softmax's axis is 1 before 13).
Attrs attrs_from_proto(OpKind kind, const onnx::NodeProto& node, const ErrorContext& ctx, const TensorSource& source,
                       std::int64_t opset);

// The INTS attribute `name`, or nullopt when the node has none (a ParseError when it has another type).
std::optional<std::vector<std::int64_t>> ints_attribute(const onnx::NodeProto& node, std::string_view name,
                                                        const ErrorContext& ctx);

// The tensor of a Constant node (value, value_float(s), value_int(s)).
Tensor constant_from_proto(const onnx::NodeProto& node, const ErrorContext& ctx, const TensorSource& source);

// Shape-15 start/end attributes (defaults 0 and "to the end"); nullopt when neither is present.
struct ShapeRange {
  std::int64_t start = 0;
  std::optional<std::int64_t> end;
};
std::optional<ShapeRange> shape_range_from_proto(const onnx::NodeProto& node, const ErrorContext& ctx);

}  // namespace snnconv::onnx_import::detail
