#include "onnx/opset_compat.hpp"

#include <onnx/defs/schema.h>

#include <algorithm>
#include <iterator>
#include <string_view>

namespace snnconv::onnx_import::detail {
namespace {

// Ops whose version at opset 11 or 12 differs from their version at 13 only in ways the importer absorbs:
// new element types (bfloat16 at 13; int8 / uint8 at 12 for Max, Min, ReduceMax, ReduceMin, ArgMax, MaxPool,
// Clip), attributes that became inputs and are converted (Split 'split', Squeeze / Unsqueeze 'axes',
// ReduceSum 'axes'), an optional attribute with the old behaviour as its default (ArgMax / ArgMin
// select_last_index, GatherND batch_dims), or Dropout's ratio attribute (ignored: inference).
constexpr std::string_view kCompatibleBefore13[] = {
    "Abs", "Add", "ArgMax", "ArgMin", "Cast", "Ceil", "Clip", "Concat", "DepthToSpace", "DequantizeLinear", "Div",
    "Dropout", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherElements", "GatherND", "Gemm",
    "Greater", "Identity", "IsNaN", "Less", "Log", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mod", "Mul", "Neg",
    "Pad", "Pow", "QuantizeLinear", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
    "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Shape",
    "Sigmoid", "Sign", "Size", "Slice", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Tile",
    "Transpose", "Unsqueeze",
    // Before 13 these coerce their input to 2-D at `axis`; the importer rewrites them as Flatten, the op over
    // the last axis, and a Reshape back.
    "Hardmax", "LogSoftmax", "Softmax"};

bool listed(std::string_view op) {
  return std::find(std::begin(kCompatibleBefore13), std::end(kCompatibleBefore13), op) != std::end(kCompatibleBefore13);
}

}  // namespace

std::optional<int> op_version(const std::string& op_type, std::int64_t opset) {
  const int version = static_cast<int>(std::min<std::int64_t>(opset, 17));
  const onnx::OpSchema* s = onnx::OpSchemaRegistry::Schema(op_type, version, "");
  if (s == nullptr) return std::nullopt;
  return s->since_version();
}

std::string version_problem(const std::string& op_type, std::int64_t opset) {
  if (opset >= 13) return {};
  const std::optional<int> v = op_version(op_type, opset);
  if (!v) return op_type + " does not exist at opset " + std::to_string(opset);
  const std::optional<int> v13 = op_version(op_type, 13);
  if (v13 && *v == *v13) return {};
  if (listed(op_type)) return {};
  return op_type + "-" + std::to_string(*v) + " (opset " + std::to_string(opset) + ") differs from " + op_type + "-" +
         (v13 ? std::to_string(*v13) : std::string("13")) + ", which snnconv implements; re-export at opset 13 or later";
}

}  // namespace snnconv::onnx_import::detail
