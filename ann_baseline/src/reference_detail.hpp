// Private helpers shared by the reference kernels (reference_*.cpp): the node being evaluated with its
// error context, dtype dispatch, broadcasting and the scalar functions several ops must compute alike.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "snnconv/core/error.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann::detail {

using Outputs = std::vector<Tensor>;

// One evaluation of one node: its inputs and everything needed to blame it in an error.
class NodeCall {
public:
  NodeCall(const Graph& g, NodeId id, std::span<const Tensor* const> inputs)
      : graph_(g), id_(id), node_(g.node(id)), inputs_(inputs) {}

  const Node& node() const { return node_; }
  const Graph& graph() const { return graph_; }
  NodeId id() const { return id_; }
  std::size_t num_inputs() const { return inputs_.size(); }
  std::size_t num_outputs() const { return node_.outputs.size(); }

  // A required input; a missing one is a ShapeError naming `what`.
  const Tensor& input(std::size_t i, const char* what) const;
  // An optional input: nullptr when absent.
  const Tensor* optional_input(std::size_t i) const {
    return i < inputs_.size() ? inputs_[i] : nullptr;
  }
  template <typename A> const A& attrs() const {
    if (const A* a = std::get_if<A>(&node_.attrs)) return *a;
    fail_graph("attributes of the wrong kind for this op");
  }

  [[noreturn]] void fail_shape(const std::string& message) const;
  [[noreturn]] void fail_unsupported(const std::string& message) const;
  [[noreturn]] void fail_numeric(const std::string& message) const;
  [[noreturn]] void fail_graph(const std::string& message) const;

  // Normalises a possibly negative axis into [0, rank); fails with a ShapeError naming `what`.
  int axis(std::int64_t a, int rank, const char* what = "axis") const;
  // The values of an integer tensor input (any integer dtype) as int64; other dtypes fail.
  std::vector<std::int64_t> int_values(const Tensor& t, const char* what) const;

private:
  const Graph& graph_;
  NodeId id_;
  const Node& node_;
  std::span<const Tensor* const> inputs_;
};

// ---- dtype dispatch ---------------------------------------------------------------------------------

template <typename... Ts> struct TypeList {};
using AllTypes = TypeList<float, std::int8_t, std::uint8_t, std::int32_t, std::int64_t, bool>;
using NumericTypes = TypeList<float, std::int8_t, std::uint8_t, std::int32_t, std::int64_t>;
using SignedTypes = TypeList<float, std::int8_t, std::int32_t, std::int64_t>;
using IntTypes = TypeList<std::int8_t, std::uint8_t, std::int32_t, std::int64_t>;
using FloatTypes = TypeList<float>;

// Calls f(std::type_identity<T>{}) for the T of `t` among the list; any other dtype (f16 included) is an
// UnsupportedError naming `what`. f must return the same type for every T.
template <typename... Ts, typename F>
auto visit_dtype(TypeList<Ts...>, const NodeCall& c, DType t, const char* what, F&& f) {
  using First = std::tuple_element_t<0, std::tuple<Ts...>>;
  using R = decltype(f(std::type_identity<First>{}));
  R result{};
  const bool done = ((t == dtype_of<Ts>::value ? (result = f(std::type_identity<Ts>{}), true) : false) || ...);
  if (!done) c.fail_unsupported(std::string(what) + " of dtype " + std::string(dtype_name(t)) + " is not supported");
  return result;
}

// ---- shapes and broadcasting -----------------------------------------------------------------------

// Row-major strides in elements.
std::vector<std::int64_t> strides_of(const Shape& s);
// numpy broadcasting of several shapes; a mismatch is a ShapeError.
Shape broadcast_shapes(const NodeCall& c, const std::vector<Shape>& shapes);

// Walks the elements of `out` in row-major order and keeps, for each input shape broadcast to `out`, the
// element offset of the current position (inputs must be broadcastable to `out`).
class BroadcastWalker {
public:
  BroadcastWalker(const Shape& out, const std::vector<Shape>& inputs);
  std::int64_t offset(std::size_t input) const { return offsets_[input]; }
  void next();

private:
  Shape out_;
  std::vector<std::vector<std::int64_t>> strides_;  // [input][out dim], 0 on broadcast dims
  std::vector<std::int64_t> index_;
  std::vector<std::int64_t> offsets_;
};

// out[i] = f(a[i'], b[i'']) over the numpy broadcast of a and b.
template <typename A, typename B, typename Out, typename F>
Tensor map_binary(const NodeCall& c, const Tensor& a, const Tensor& b, F f) {
  const Shape shape = broadcast_shapes(c, {a.shape(), b.shape()});
  Tensor out(dtype_of<Out>::value, shape);
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  Out* po = out.data<Out>();
  BroadcastWalker walk(shape, {a.shape(), b.shape()});
  for (std::int64_t i = 0; i < out.numel(); ++i, walk.next()) po[i] = f(pa[walk.offset(0)], pb[walk.offset(1)]);
  return out;
}

template <typename T, typename Out, typename F> Tensor map_unary(const Tensor& x, F f) {
  Tensor out(dtype_of<Out>::value, x.shape());
  const T* px = x.data<T>();
  Out* po = out.data<Out>();
  for (std::int64_t i = 0; i < x.numel(); ++i) po[i] = f(px[i]);
  return out;
}

inline void require_same_dtype(const NodeCall& c, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    c.fail_shape("operand dtypes differ: " + std::string(dtype_name(a.dtype())) + " and " +
                 std::string(dtype_name(b.dtype())));
}

// ---- integer arithmetic that wraps like the two's complement hardware (and numpy) ------------------

template <typename T> T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T> T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T> T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // uint8/uint16 promote to int where 255*255 cannot overflow; the wider types multiply unsigned.
    using U = std::make_unsigned_t<T>;
    using W = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, U>;
    return static_cast<T>(static_cast<U>(static_cast<W>(static_cast<U>(a)) * static_cast<W>(static_cast<U>(b))));
  } else {
    return a * b;
  }
}

// ---- scalar functions shared by several ops (fused and unfused forms must agree bit for bit) -------

inline float gelu_exact(float x) {
  // Divide by the float sqrt(2) rather than multiply by its inverse: that is the chain torch exports
  // (Div, Erf, Add, Mul, Mul) which the fused Gelu replaces.
  constexpr float kSqrt2 = 1.41421356237309504880f;
  return 0.5f * x * (1.0f + std::erf(x / kSqrt2));
}
// SiLU (swish), x * sigmoid(x), as x / (1 + exp(-x)): the one definition the reference, the fused Linear and
// the QANN's folded activation share.
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }
inline float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

// The FakeQuant op on one element of a per-tensor (or one channel's) step: s * (clamp(floor(x/s + 1/2) + zp,
// n_min, n_max) - zp). Ties round up (unlike QuantizeLinear), matching the ST-BIF neuron whose membrane starts
// at s/2; a NaN stays NaN (std::clamp returns it unchanged). The reference FakeQuant, the fast FakeQuant kernel
// and the steps inside a fused Attention (AttentionAttrs) all round through this one function.
// Round half to even without depending on the floating-point environment's rounding mode.
float round_half_even(float v);
// One element of QuantizeLinear: saturate(round_half_even(x / scale) + zero) to [lo, hi] (NaN: zero), as the
// byte of a u8 (lo = 0) or s8 (lo = -128) tensor. Shared by the reference and the fast per-tensor kernel.
std::uint8_t quantize_linear_byte(float x, float scale, float zero, float lo, float hi);

struct FakeQuantStep {
  float step = 1.0f, zero = 0.0f, lo = 0.0f, hi = 0.0f;
  FakeQuantStep() = default;
  FakeQuantStep(const QuantParams& q, std::size_t channel)
      : step(q.scale[channel]),
        zero(q.zero_point.empty() ? 0.0f : static_cast<float>(q.zero_point[channel])),
        lo(static_cast<float>(q.n_min)),
        hi(static_cast<float>(q.n_max)) {}
  float operator()(float x) const { return step * (std::clamp(std::floor(x / step + 0.5f) + zero, lo, hi) - zero); }
};

// ONNX Softmax (opset 13) on one vector with stride: y = exp(x - max) / sum(exp(x - max)), summed in index
// order. NaN propagates.
void softmax_strided(const float* x, float* y, std::int64_t n, std::int64_t stride);
// LayerNormalization-17 of one contiguous row before scale/bias: y = (x - mean) * (1 / sqrt(var + eps)), sums in
// index order. Shared by the reference kernel and the QANN's whole-vector units (qann.hpp).
void layer_norm_row(const float* x, float* y, std::int64_t cols, float epsilon, float* mean_out, float* inv_std_out);

// ---- per-op kernels (one file per family) -----------------------------------------------------------

// reference_elementwise.cpp
Outputs eval_binary_arith(const NodeCall& c);  // Add Sub Mul Div Pow Max Min
Outputs eval_comparison(const NodeCall& c);    // Equal Less LessOrEqual Greater GreaterOrEqual
Outputs eval_unary(const NodeCall& c);         // Neg Sqrt Exp Erf Tanh Relu Sigmoid Gelu Not

// reference_math.cpp
Outputs eval_variadic(const NodeCall& c);      // Sum Mean
Outputs eval_clip(const NodeCall& c);
Outputs eval_unary_math(const NodeCall& c);    // Abs Reciprocal ... Shrink (op.hpp's list), IsNaN IsInf
Outputs eval_logical(const NodeCall& c);       // And Or Xor
Outputs eval_mod(const NodeCall& c);
Outputs eval_prelu(const NodeCall& c);

// reference_reduce.cpp
Outputs eval_reduce(const NodeCall& c);  // every Reduce*
Outputs eval_arg_reduce(const NodeCall& c);  // ArgMax ArgMin
Outputs eval_top_k(const NodeCall& c);

// reference_pool.cpp
Outputs eval_pool(const NodeCall& c);         // MaxPool AveragePool
Outputs eval_global_pool(const NodeCall& c);  // GlobalMaxPool GlobalAveragePool
Outputs eval_batch_norm(const NodeCall& c);
Outputs eval_instance_norm(const NodeCall& c);

// reference_loss.cpp
Outputs eval_log_softmax(const NodeCall& c);
Outputs eval_hardmax(const NodeCall& c);
Outputs eval_nll_loss(const NodeCall& c);
Outputs eval_softmax_cross_entropy(const NodeCall& c);

// reference_index.cpp
Outputs eval_gather_elements(const NodeCall& c);
Outputs eval_gather_nd(const NodeCall& c);
Outputs eval_tile(const NodeCall& c);
Outputs eval_pad(const NodeCall& c);
Outputs eval_depth_to_space(const NodeCall& c);
Outputs eval_space_to_depth(const NodeCall& c);
Outputs eval_one_hot(const NodeCall& c);
Outputs eval_cast_like(const NodeCall& c);
Outputs eval_size(const NodeCall& c);

// reference_contraction.cpp
Outputs eval_matmul(const NodeCall& c);
Outputs eval_gemm(const NodeCall& c);
Outputs eval_conv(const NodeCall& c);
Outputs eval_linear(const NodeCall& c);
Outputs eval_attention(const NodeCall& c);

// reference_normalization.cpp
Outputs eval_softmax(const NodeCall& c);
Outputs eval_layer_norm(const NodeCall& c);
Outputs eval_cumsum(const NodeCall& c);

// reference_movement.cpp
Outputs eval_transpose(const NodeCall& c);
Outputs eval_reshape(const NodeCall& c);
Outputs eval_flatten(const NodeCall& c);
Outputs eval_concat(const NodeCall& c);
Outputs eval_split(const NodeCall& c);
Outputs eval_slice(const NodeCall& c);
Outputs eval_gather(const NodeCall& c);
Outputs eval_unsqueeze(const NodeCall& c);
Outputs eval_squeeze(const NodeCall& c);
Outputs eval_expand(const NodeCall& c);
Outputs eval_trilu(const NodeCall& c);
Outputs eval_identity(const NodeCall& c);
Outputs eval_shape(const NodeCall& c);
Outputs eval_constant_of_shape(const NodeCall& c);
Outputs eval_range(const NodeCall& c);
Outputs eval_cast(const NodeCall& c);
Outputs eval_rms_norm(const NodeCall& c);
Outputs eval_rotary(const NodeCall& c);
Outputs eval_where(const NodeCall& c);

// reference_quant.cpp
Outputs eval_quantize_linear(const NodeCall& c);
Outputs eval_dequantize_linear(const NodeCall& c);
Outputs eval_fake_quant(const NodeCall& c);

// Refuses a non-f32 operand of a float-only kernel, naming it.
inline void require_f32(const NodeCall& c, const Tensor& t, const char* what) {
  if (t.dtype() != DType::f32)
    c.fail_unsupported(std::string(what) + " of dtype " + std::string(dtype_name(t.dtype())) +
                       " is not supported (f32 only)");
}

}  // namespace snnconv::ann::detail
