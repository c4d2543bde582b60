// IR -> ONNX file (opset 17, standard ops only) that ONNX Runtime and our own importer read back.
// Protobuf and ONNX types stay inside converter/src/onnx: this header is all a caller sees.
//
// Stage::canonical (float, fused): Linear -> MatMul (+ Add bias, + Relu / Gelu), Gelu -> its Erf (or tanh)
// formula, Attention -> MatMul(q, k^T), Mul(scale), Add(mask) / Where(bool mask), a constant causal mask,
// Softmax, MatMul(., v); every other op keeps its ONNX form. Shapes are those of the graph as it is (a
// pruned graph exports its smaller matrices and fewer heads).
//
// Stage::quantized (QANN, quantize.hpp): the same float ops between QDQ pairs. A FakeQuant becomes
// QuantizeLinear -> DequantizeLinear (per tensor, zero point 0, uint8 for levels >= 0 else int8), preceded
// by a clamp to [s*n_min, s*n_max] (Max, Min: ops our importer reads back) when the levels are narrower than the 8-bit type (A4 ...). A quantized Linear
// weight (integer levels in f32, per-channel steps on axis 1) becomes an int8 initializer read by a
// per-axis DequantizeLinear. Rounding differs on exact ties only: our quantization points compute
// floor(x/s + 1/2) (ties up), QuantizeLinear rounds half to even (docs/compression.md, "Export").
//
// Errors: UnsupportedError naming the node for what ONNX opset 17 cannot express here (spiking ops,
// activations of more than 8 bits, per-channel or zero-point activation steps, a dynamic causal mask);
// ShapeError for a causal mask whose sizes are not static; IoError when the file cannot be written. The
// file is written to a temporary name in its folder and renamed.
#pragma once

#include <cstdint>
#include <string>

#include "snnconv/core/graph.hpp"

namespace snnconv::onnx_export {

inline constexpr int kExportOpset = 17;

// How a QANN's weight-bearing ops are written (default: integer).
//   qdq:     the standard QDQ form: DequantizeLinear(int8 W, per-channel steps) -> MatMul on dequantized floats
//            (what quantization tools write and ORT fuses into int8 kernels). Float rounding of the MatMul can
//            move a value across a rounding boundary of the next quantization point.
//   integer: the QANN's own arithmetic: MatMul of the integer levels (a Cast to float of the activation's
//            QuantizeLinear output and of the int8 weight; exact in f32 while K * max|q| * max|w| < 2^24, else
//            that node falls back to qdq), then Mul by the step s_in * s_w[j] and Add of the bias, as run_qann
//            computes them. Activations still pass QuantizeLinear/DequantizeLinear pairs (for the float ops).
//            A LayerNorm or Softmax on levels is written as ann::whole_vector_row computes it: int64 sums
//            (Cast, ReduceSum, Mul, Sub; softmax weights by Gather from a fixed-point exp table, ReduceMax for
//            the row maximum) and the same correctly rounded float operations in the same order, so ONNX
//            Runtime reproduces the QANN's values bit for bit there too.
//            A grouped weight (QuantParams axis 0, group_size G; qann.hpp): per group a Slice of the input
//            levels on the last axis, MatMul with the group's int8 levels (Cast), Mul by s_in * s_w[g][:],
//            then a chain of Adds in increasing g (grouped_linear_value's order) and the bias. The qdq form
//            refuses grouped weights (DequantizeLinear's block_size needs opset 21).
enum class QdqForm : std::uint8_t { qdq, integer };

struct ExportOptions {
  QdqForm form = QdqForm::integer;
  std::string producer = "snnconv";
  // Copy the graph's metadata (snnconv.data, snnconv.task, ...) into metadata_props.
  bool keep_metadata = true;
};

struct ExportStats {
  std::int64_t nodes = 0;          // ONNX nodes written
  std::int64_t initializers = 0;
  std::int64_t qdq_pairs = 0;      // activation QuantizeLinear/DequantizeLinear pairs
  std::int64_t int8_weights = 0;   // weights stored as int8 + DequantizeLinear
  std::int64_t integer_matmuls = 0;  // integer form: Linears and products computed on exact levels
  std::int64_t integer_units = 0;    // integer form: LayerNorms and Softmaxes computed on levels
  std::int64_t clips = 0;          // clamps (Max + Min) before QDQ pairs narrower than 8 bits
  std::int64_t bytes = 0;          // file size
};

// The serialized ONNX file of `g` (Stage::canonical or Stage::quantized), checked by ONNX's checker; `path`
// names it in messages. For commands that commit it together with other outputs (core/atomic_output.hpp).
std::string serialize_onnx(const Graph& g, const std::string& path, const ExportOptions& options, ExportStats& stats);

// Writes `g` to `path` atomically (IoError with the OS's words when the disk is full).
ExportStats export_onnx(const Graph& g, const std::string& path, const ExportOptions& options = {});

}  // namespace snnconv::onnx_export
