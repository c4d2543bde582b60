// Typed attribute structs, one per op family. Strings exist only at import and in the text form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "snnconv/core/dtype.hpp"
#include "snnconv/core/types.hpp"

namespace snnconv {

// tanh and silu (x * sigmoid(x)) are folded into quantization points only (the QANN and the SNN); fusion does
// not absorb them into a Linear.
enum class Activation : std::uint8_t { none, relu, gelu, gelu_tanh, tanh, silu };
std::string_view activation_name(Activation a);

struct NoAttrs {
  bool operator==(const NoAttrs&) const = default;
};
// Concat, Flatten, Gather, QuantizeLinear, DequantizeLinear, GatherElements, LogSoftmax, Hardmax, OneHot;
// GatherND: batch_dims.
struct AxisAttrs {
  std::int64_t axis = 0;
  bool operator==(const AxisAttrs&) const = default;
};
// Softmax along `axis`. `causal` (quantized graphs, where attention is decomposed): the input is [..., M, N]
// scores over the last axis and row i of the M axis sees only columns j <= i + (N - M); the others get 0.
struct SoftmaxAttrs {
  std::int64_t axis = -1;
  bool causal = false;
  bool operator==(const SoftmaxAttrs&) const = default;
};
struct GemmAttrs {
  float alpha = 1.0f;
  float beta = 1.0f;
  bool trans_a = false;
  bool trans_b = false;
  bool operator==(const GemmAttrs&) const = default;
};
struct ConvAttrs {
  std::vector<std::int64_t> kernel_shape;  // empty: from the weight
  std::vector<std::int64_t> strides;       // empty: all 1
  std::vector<std::int64_t> pads;          // [begin..., end...]; empty: all 0
  std::vector<std::int64_t> dilations;     // empty: all 1
  std::int64_t group = 1;
  bool operator==(const ConvAttrs&) const = default;
};
struct TransposeAttrs {
  std::vector<std::int64_t> perm;  // empty: reverse
  bool operator==(const TransposeAttrs&) const = default;
};
// The Reduce* ops. Axes given as a constant input (ReduceSum at opset 13, every reduction from opset 18) are
// folded in here; axes computed at run time stay the second input.
struct ReduceAttrs {
  std::vector<std::int64_t> axes;  // empty: all axes (unless noop_with_empty_axes)
  bool keepdims = true;
  bool noop_with_empty_axes = false;
  bool operator==(const ReduceAttrs&) const = default;
};
struct CumSumAttrs {
  bool exclusive = false;
  bool reverse = false;
  bool operator==(const CumSumAttrs&) const = default;
};
struct ReshapeAttrs {
  bool allowzero = false;
  bool operator==(const ReshapeAttrs&) const = default;
};
struct CastAttrs {
  DType to = DType::f32;
  bool operator==(const CastAttrs&) const = default;
};
struct LayerNormAttrs {
  std::int64_t axis = -1;
  float epsilon = 1e-5f;
  bool operator==(const LayerNormAttrs&) const = default;
};
struct TriluAttrs {
  bool upper = true;
  bool operator==(const TriluAttrs&) const = default;
};
struct ConstantOfShapeAttrs {
  DType dtype = DType::f32;
  double value = 0.0;
  bool operator==(const ConstantOfShapeAttrs&) const = default;
};
struct GeluAttrs {
  bool tanh_approximation = false;
  bool operator==(const GeluAttrs&) const = default;
};
// Linear: y = act(x . W + b), W stored [K, N] so a row of W is one input's fan-out.
struct LinearAttrs {
  Activation activation = Activation::none;
  bool operator==(const LinearAttrs&) const = default;
};
// Attention over heads already split: q [B,H,Nq,D], k/v [B,H,Nk,D], optional additive mask broadcastable
// to [B,H,Nq,Nk]. y = softmax(q.k^T * scale + mask (+ causal)) . v
// A quantization-aware export quantizes the scores and the probabilities inside the attention; the fused op
// keeps those steps (per tensor, as the file's FakeQuant outputs carry them):
//   y = fq_p(softmax(fq_s(q.k^T * scale) + mask (+ causal))) . v
// fq_s / fq_p are the FakeQuant op's function with `scores_quant` / `probs_quant` (absent: no rounding).
struct AttentionAttrs {
  float scale = 1.0f;
  bool causal = false;
  std::optional<QuantParams> scores_quant = std::nullopt;
  std::optional<QuantParams> probs_quant = std::nullopt;
  bool quantized() const { return scores_quant.has_value() || probs_quant.has_value(); }
  bool operator==(const AttentionAttrs&) const = default;
};
// A population of bounded signed integrate-and-fire neurons (section 4 of DESIGN.md). Its threshold and
// count bounds live in the output value's QuantParams; `target` is the nonlinearity folded into it.
struct NeuronAttrs {
  Activation target = Activation::none;
  bool operator==(const NeuronAttrs&) const = default;
};
// A differential unit wrapping a whole-vector op: keeps the accumulated input and emits f(X_t) - f(X_{t-1}).
struct DiffUnitAttrs {
  // rms_norm: inputs (x, gamma); rotary: inputs (x, cos, sin), rows of [..., T, cols] at position row % T.
  enum class Fn : std::uint8_t { layer_norm, softmax, rms_norm, rotary } fn = Fn::layer_norm;
  std::int64_t axis = -1;
  float epsilon = 1e-5f;
  bool causal = false;  // softmax only: as SoftmaxAttrs::causal
  bool operator==(const DiffUnitAttrs&) const = default;
};

// Two scalar parameters of an elementwise function; what they mean depends on the op (ONNX names):
// Elu, Celu, LeakyRelu, ThresholdedRelu: alpha. Selu: alpha, gamma (in beta). HardSigmoid: alpha, beta.
// Shrink: lambd (in alpha), bias (in beta). IsInf: detect_negative (alpha != 0), detect_positive (beta != 0).
// Mod: fmod (alpha != 0).
struct ScalarParamsAttrs {
  float alpha = 0.0f;
  float beta = 0.0f;
  bool operator==(const ScalarParamsAttrs&) const = default;
};
// ArgMax / ArgMin.
struct ArgReduceAttrs {
  std::int64_t axis = 0;
  bool keepdims = true;
  bool select_last_index = false;
  bool operator==(const ArgReduceAttrs&) const = default;
};
// TopK (K is the second input).
struct TopKAttrs {
  std::int64_t axis = -1;
  bool largest = true;
  bool sorted = true;
  bool operator==(const TopKAttrs&) const = default;
};
enum class AutoPad : std::uint8_t { notset, same_upper, same_lower, valid };
// MaxPool / AveragePool over the spatial dims of [N, C, D1, ...].
struct PoolAttrs {
  std::vector<std::int64_t> kernel_shape;  // required
  std::vector<std::int64_t> strides;       // empty: all 1
  std::vector<std::int64_t> pads;          // [begin..., end...]; empty: all 0 (ignored unless auto_pad is notset)
  std::vector<std::int64_t> dilations;     // empty: all 1
  AutoPad auto_pad = AutoPad::notset;
  bool ceil_mode = false;
  bool count_include_pad = false;  // AveragePool
  bool column_major_indices = false;  // MaxPool storage_order = 1
  bool operator==(const PoolAttrs&) const = default;
};
enum class LossReduction : std::uint8_t { none, sum, mean };
// NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss.
struct LossAttrs {
  LossReduction reduction = LossReduction::mean;
  bool has_ignore_index = false;
  std::int64_t ignore_index = 0;
  bool operator==(const LossAttrs&) const = default;
};
// BatchNormalization / InstanceNormalization (inference).
struct EpsilonAttrs {
  float epsilon = 1e-5f;
  bool operator==(const EpsilonAttrs&) const = default;
};
enum class PadMode : std::uint8_t { constant, reflect, edge };
struct PadAttrs {
  PadMode mode = PadMode::constant;
  bool operator==(const PadAttrs&) const = default;
};
// DepthToSpace (mode DCR or CRD) / SpaceToDepth.
struct BlockAttrs {
  std::int64_t blocksize = 1;
  bool crd = false;
  bool operator==(const BlockAttrs&) const = default;
};
// Split along `axis`: by the sizes of the second input, else into as many parts as outputs. Equal parts at
// opsets 13-17; from opset 18 (`num_outputs`) parts of ceil(dim / n) with a smaller last part (`ceil_parts`).
struct SplitAttrs {
  std::int64_t axis = 0;
  bool ceil_parts = false;
  bool operator==(const SplitAttrs&) const = default;
};

using Attrs = std::variant<NoAttrs, AxisAttrs, GemmAttrs, ConvAttrs, TransposeAttrs, ReduceAttrs, CumSumAttrs, ReshapeAttrs,
                           CastAttrs, LayerNormAttrs, TriluAttrs, ConstantOfShapeAttrs, GeluAttrs, LinearAttrs,
                           AttentionAttrs, NeuronAttrs, DiffUnitAttrs, SoftmaxAttrs, ScalarParamsAttrs, ArgReduceAttrs,
                           TopKAttrs, PoolAttrs, LossAttrs, EpsilonAttrs, PadAttrs, BlockAttrs, SplitAttrs>;

std::string attrs_to_string(const Attrs& a);  // "axis=1 keepdims=0"; empty for NoAttrs

}  // namespace snnconv
