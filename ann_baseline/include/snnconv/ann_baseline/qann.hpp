// Integer semantics of the quantized ANN (QANN): the one definition both the QANN reference (run_qann) and
// the spiking engine (snn_core) compute, so that the SNN's accumulated output equals the QANN's bit for bit.
//
// A quantized activation is a vector of integer levels q (int32) with one step s per tensor (value = s*q).
// A quantized weight is integer levels per output channel with a step s_w[n] (symmetric, zero point 0).
// A grouped weight [K, N] (QuantParams axis 0, group_size G, K % G == 0) has a step s_w[g][n] per group g of
// G consecutive input rows and output n; its Linear keeps one exact int64 partial sum per (row, group,
// output), acc[g][n] = sum over the group's inputs k of q_in[k] * w[k][n], and output n is
// y_n = (...((s_in*s_w[0][n]) * acc[0][n] + (s_in*s_w[1][n]) * acc[1][n]) + ...) + bias[n], summed in float in
// increasing g (grouped_linear_value). G = K is per channel; the ungrouped path is linear_value.
// Everything integer is exact and order-independent (int64 accumulators); floating point enters only
// through the few scalar functions below, each compiled once (out of line) so that both engines get the
// same bits whatever the compiler decides about contraction or inlining elsewhere.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann {

namespace gemm {
struct PackedS8;
}

// ---- the shared scalar definitions -------------------------------------------------------------------

// Output of a quantized Linear from its exact integer accumulator: (s_in * s_w) * acc + b.
float linear_value(std::int64_t acc, float s_in, float s_w, float bias);
// Output of a grouped Linear from its G exact partial sums acc[g * stride] and steps s_w[g * stride]
// (g = 0..groups-1): term_g = (s_in * s_w[g]) * float(acc[g]); y = term_0, y = y + term_g for g = 1, 2, ...
// in that order, then y + bias. groups == 1 gives linear_value's bits.
float grouped_linear_value(const std::int64_t* acc, const float* s_w, std::int64_t groups, std::int64_t stride,
                           float s_in, float bias);
// Product of two quantized operands (Q.K^T, P.V) from its exact integer accumulator: (s_a * s_b) * acc.
float product_value(std::int64_t acc, float s_a, float s_b);
// Residual Add of two quantized tensors: s_a * q_a + s_b * q_b (then a quantization point follows).
float sum_value(std::int32_t q_a, float s_a, std::int32_t q_b, float s_b);
// s * q.
float dequantize(std::int32_t q, float s);
// The elementwise nonlinearity folded into a quantization point: ReLU as the reference kernel, GELU (erf
// form) as qann_gelu below, GELU (tanh form) as the reference kernel (libm tanh; not reproducible in ONNX).
float apply_target(Activation act, float x);
// The QANN's erf: t = clamp(x, -4, 4), z = t*t, P and Q by Horner in z from the highest power (one rounding
// per multiply and per add), erf ~ (t * P) / Q. Coefficients fitted by tools/numerics/fit_qann_erf.py; largest
// |error| 4.2e-7 on [-6, 6] (libm's erff: ~6e-8). Only correctly rounded +, *, / and min/max, so the ONNX
// export writes the same chain and ONNX Runtime computes the same bits (an Erf node would not).
inline constexpr float kQannErfClamp = 4.0f;
inline constexpr float kQannErfP[6] = {1.12837899f,     0.196247816f,    0.0534673147f,
                                       0.00400359044f,  0.000288039126f, 1.974827e-06f};
inline constexpr float kQannErfQ[6] = {1.0f,           0.507251263f,    0.11647594f,
                                       0.015444316f,   0.00121634419f,  3.74807059e-05f};
float qann_erf(float x);
// GELU of the QANN: a = 1 + qann_erf(x / sqrt2), then (x * a) * 0.5 (the chain torch exports, Erf replaced).
float qann_gelu(float x);
// The quantization point: clamp(floor(f(x)/s + 0.5f), n_min, n_max), the reference FakeQuant's expression
// (ties round up, matching an ST-BIF neuron whose membrane starts at s/2). NaN maps to n_min.
std::int32_t quantize_level(float x, Activation act, float s, std::int32_t n_min, std::int32_t n_max);

// A whole-vector unit (LayerNorm over the last axis, Softmax over the last axis) on one row of `cols`
// integer levels q with step s (the row's value is s*q). Defined on the levels so that every sum is an
// exact integer (order-independent) and floating point enters through a fixed sequence of correctly
// rounded operations, which the ONNX export reproduces node for node (docs/compression.md, "Export"):
//   LayerNorm: S1 = sum q, S2 = sum q^2, V = cols*S2 - S1^2 (int64, exact),
//              y_j = float(cols*q_j - S1) / sqrt(float(V) + layer_norm_eps_term(cols, eps, s)), then
//              y_j = y_j * gamma_j, then y_j = y_j + beta_j (= LayerNorm(s*q) up to rounding).
//   Softmax:   m = max q, E_j = softmax_weight(m - q_j, s) (fixed point, exact int64 sum),
//              y_j = float(E_j) / float(sum E).
// gamma/beta: LayerNorm scale and bias ([cols]; beta may be null). valid_cols >= 0 (causal softmax): only
// the first valid_cols entries take part (max and sum too), the others are 0.
// keep (softmax only; null: every entry): a 0 entry is masked out of the max and the sum and outputs 0 (a row
// with nothing kept is all 0).
void whole_vector_row(DiffUnitAttrs::Fn fn, const std::int32_t* q, float s, std::int64_t cols, float epsilon,
                      const float* gamma, const float* beta, float* y, std::int64_t valid_cols = -1,
                      const std::uint8_t* keep = nullptr);
// An attention mask in the QANN: additive f32 values broadcast to the scores (numpy rules), where 0 lets an
// entry take part and any value <= kMaskedBelow (-inf, torch's -1e4 / -1e9 / finfo.min) masks it out; the
// softmax then runs over the kept entries (whole_vector_row's keep). One flag per score element. Any other
// value (a finite additive bias such as ALiBi) is a NumericError naming it: it has no integer form.
inline constexpr float kMaskedBelow = -1000.0f;
std::vector<std::uint8_t> attention_keep(const Tensor& mask, const Shape& scores);
// cols^2 * epsilon / s^2 (in double, rounded once to float): LayerNorm's epsilon in units of the levels.
float layer_norm_eps_term(std::int64_t cols, float epsilon, float s);
// RMSNorm (whole_vector_row's rms_norm): S2 = sum q^2 (int64, exact), r = sqrt((float(S2) + cols*eps/s^2) / cols),
// y_j = float(q_j) / r, then y_j * gamma_j (= RMSNorm of s*q up to rounding). The eps term in double, rounded once.
float rms_norm_eps_term(std::int64_t cols, float epsilon, float s);
// Rotary embedding of one row of levels q (cols even, h = cols/2) with the position's cos/sin rows:
// y_j = (s*q_j) * cos_j + (s*r_j) * sin_j, r = [-q[h:], q[:h]]: Mul, Mul, Add as the exported chain.
void rotary_row(const std::int32_t* q, float s, std::int64_t cols, const float* cos_row, const float* sin_row, float* y);
// round(2^kSoftmaxFracBits * exp(-s*k)) (exp in double): the softmax weight of a level k steps below the
// row's maximum. Entries below ~6e-8 of the maximum weigh 0.
inline constexpr int kSoftmaxFracBits = 23;
std::int64_t softmax_weight(std::int64_t k, float s);
// Entries of row `row` (flat row index over [..., M, cols]) that a causal softmax keeps: row % m + 1 + (cols - m).
std::int64_t causal_valid_cols(std::int64_t row, std::int64_t m, std::int64_t cols);

// Per value of `g`: whether it depends on the output of a quantization point (FakeQuant), i.e. belongs to
// the QANN's integer part rather than its real-valued prologue (a fixed point over the nodes).
std::vector<bool> after_quantization(const Graph& g);

// For a row-major tensor of shape `in` transposed by `perm` (empty: reverse), the flat output index of
// every flat input index.
std::vector<std::int64_t> transpose_index_map(const Shape& in, const std::vector<std::int64_t>& perm);

// Pure data movement of one data input (input 0; the other inputs are constant): Reshape, Transpose, Gather,
// Slice, Squeeze, Unsqueeze, Flatten, Expand, Identity. Spike events and integer levels pass through them.
bool is_data_movement(OpKind kind);
// For data-movement node `id` (static shapes, constant non-data inputs), the flat index of data input 0
// that each flat output element copies, computed by running the reference kernel on an index tensor.
// Throws UnsupportedError naming the node when a non-data input is not constant.
std::vector<std::int64_t> movement_source_map(const Graph& g, NodeId id);

// Integer weight levels of a constant weight value [K, N] (f32 holding integers, or i8/i32) and its steps
// expanded to one per output channel, or per (group, output channel) for a grouped weight. Throws
// NumericError/UnsupportedError naming `what` when the weight is not integer-valued, has a zero point or a
// scale layout other than per tensor / per output channel / per group of rows (axis 0, K % G == 0).
struct IntWeights {
  std::int64_t k = 0, n = 0;
  std::vector<std::int32_t> w;  // [K][N], one contiguous row of N per input
  std::vector<float> step;      // [groups][N]
  std::int64_t groups = 1;      // > 1: grouped (grouped_linear_value); input row k is in group k / group_rows
  std::int64_t group_rows = 0;  // K / groups
  int bits = 8;
};
IntWeights int_weights(const Value& weight, const std::string& what);

// ---- the QANN reference ------------------------------------------------------------------------------

// The integer levels of one quantization point.
struct QuantLevels {
  Shape shape;
  std::vector<std::int32_t> q;
  float scale = 1.0f;
  std::int32_t n_min = 0, n_max = 0;
};

struct QannResult {
  std::vector<Tensor> outputs;                // graph outputs in order: f32, s*q for quantized ones
  std::map<std::string, QuantLevels> levels;  // every FakeQuant output, by value name
};

// Runs a Stage::quantized graph with the integer semantics above. Supported: FakeQuant (per-tensor step,
// zero point 0), Linear (quantized input, constant integer weight with per-channel QuantParams, optional
// f32 bias, optional activation folded into the next FakeQuant), Relu/Gelu between a Linear and its
// FakeQuant (folded), LayerNorm/Softmax on a quantized input (last axis), MatMul of two quantized
// activations, Add of two quantized tensors, Reshape and Transpose of quantized tensors. Anything else is
// an UnsupportedError naming the node; a missing quantization point is a GraphError naming node and value.
// `inputs` follow graph.inputs() order (f32, static shapes).
// int8_kernels: per-channel Linears whose input levels fit u8 or s8 and whose weight levels fit int8 sum on the
// W8A8 GEMM (gemm_int8.hpp: exact int32 sums, then linear_value's operations), the others as without it. The
// outputs are the same bits either way (tests/pipeline/test_qann_int8.cpp); the default keeps the plain int64
// loops, the definition the SNN is checked against. `snnconv run --engine qann` turns it on.
// cache (optional): the packed weights of those Linears, kept between calls on the same graph (one cache per
// graph; not for concurrent calls), so a run over many samples packs each weight once.
struct QannCache {
  std::map<std::uint32_t, std::shared_ptr<const gemm::PackedS8>> int8_weights;  // by node index; null: not 8-bit
};
struct QannOptions {
  bool int8_kernels = false;
  QannCache* cache = nullptr;
};
QannResult run_qann(const Graph& g, std::span<const Tensor> inputs, const QannOptions& options = {});

}  // namespace snnconv::ann
