// Typed attribute structs, one per op family. Strings exist only at import and in the text form.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "snnconv/core/dtype.hpp"

namespace snnconv {

// tanh and silu (x * sigmoid(x)) are folded into quantization points only (the QANN and the SNN); fusion does
// not absorb them into a Linear.
enum class Activation : std::uint8_t { none, relu, gelu, gelu_tanh, tanh, silu };
std::string_view activation_name(Activation a);

struct NoAttrs {
  bool operator==(const NoAttrs&) const = default;
};
// Concat, Flatten, Gather, Split, QuantizeLinear, DequantizeLinear.
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
// ReduceMean/ReduceSum/ReduceMax. Axes given as an input (ReduceSum at opset 13) are folded in here.
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
struct AttentionAttrs {
  float scale = 1.0f;
  bool causal = false;
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

using Attrs = std::variant<NoAttrs, AxisAttrs, GemmAttrs, ConvAttrs, TransposeAttrs, ReduceAttrs, CumSumAttrs, ReshapeAttrs,
                           CastAttrs, LayerNormAttrs, TriluAttrs, ConstantOfShapeAttrs, GeluAttrs, LinearAttrs,
                           AttentionAttrs, NeuronAttrs, DiffUnitAttrs, SoftmaxAttrs>;

std::string attrs_to_string(const Attrs& a);  // "axis=1 keepdims=0"; empty for NoAttrs

}  // namespace snnconv
