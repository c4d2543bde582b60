// Which version of an ONNX op a model uses at its opset, and whether the importer implements that version's
// semantics. Private to the ONNX importer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace snnconv::onnx_import::detail {

inline constexpr std::int64_t kMinOpset = 11;
inline constexpr std::int64_t kMaxOpset = 18;

// The since_version of op_type's schema at `opset` in the default domain (ONNX's own registry; opset 18,
// which the bundled ONNX 1.12 does not know, is taken as opset 17 plus the changes listed in
// opset_compat.cpp); nullopt when the op does not exist at that opset.
std::optional<int> op_version(const std::string& op_type, std::int64_t opset);

// Empty when the importer implements `op_type` as it is defined at `opset`; else the reason it does not,
// naming the op version (an UnsupportedError's message). Ops that changed between opset 11/12 and 13 are
// accepted when the change only added element types or moved an attribute to an input, which the importer
// converts (Split, Squeeze, Unsqueeze, ReduceSum); Softmax / LogSoftmax / Hardmax before 13 are rewritten
// (docs/onnx-import.md).
std::string version_problem(const std::string& op_type, std::int64_t opset);

}  // namespace snnconv::onnx_import::detail
