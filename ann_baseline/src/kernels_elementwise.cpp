// Fast elementwise kernels (f32): unary functions, binary arithmetic with the same-shape, scalar and
// row-broadcast fast paths, and per-tensor FakeQuant. Each element is computed by the very expression the
// reference uses, so these kernels differ from it only in loop structure (flat, vectorisable, chunked).
// Other broadcast patterns and dtypes stay on the reference kernel.
#include <immintrin.h>

#include <cmath>

#include "kernels.hpp"
#include "reference_detail.hpp"

namespace snnconv::ann::kernels {
namespace {

// ---- unary -------------------------------------------------------------------------------------------

template <typename F> void map_unary(const KernelArgs& a, F f) {
  const float* x = a.in[0]->data<float>();
  float* y = a.out[0].data<float>();
  for_rows(
      a.out[0].numel(), kElementChunk, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) y[i] = f(x[i]);
      },
      a.out[0].numel());
}

void relu(const KernelArgs& a) { map_unary(a, [](float v) { return v < 0.0f ? 0.0f : v; }); }
// 0 - v as the reference (not -v): 0 - (+0) is +0.
void neg(const KernelArgs& a) { map_unary(a, [](float v) { return 0.0f - v; }); }
void sqrt_k(const KernelArgs& a) { map_unary(a, [](float v) { return std::sqrt(v); }); }
void exp_k(const KernelArgs& a) { map_unary(a, [](float v) { return std::exp(v); }); }
void erf_k(const KernelArgs& a) { map_unary(a, [](float v) { return std::erf(v); }); }
void tanh_k(const KernelArgs& a) { map_unary(a, [](float v) { return std::tanh(v); }); }
void sigmoid(const KernelArgs& a) {
  map_unary(a, [](float v) {
    if (v > 0.0f) return 1.0f / (1.0f + std::exp(-v));
    const float e = std::exp(v);
    return e / (1.0f + e);
  });
}
void gelu(const KernelArgs& a) { map_unary(a, [](float v) { return detail::gelu_exact(v); }); }
void gelu_tanh(const KernelArgs& a) { map_unary(a, [](float v) { return detail::gelu_tanh(v); }); }

// ---- binary ------------------------------------------------------------------------------------------

enum class Pattern : std::uint8_t { same, scalar_b, scalar_a, row_b, row_a };

// Which fast path the static shapes allow, if any. `row`: b's shape (leading 1s dropped) is a suffix of
// the output shape, so b repeats every b.numel elements.
bool pattern_of(const Shape& sa, const Shape& sb, const Shape& out, Pattern& p) {
  auto numel = [](const Shape& s) {
    std::int64_t n = 1;
    for (auto d : s) n *= d;
    return n;
  };
  auto is_suffix = [&](const Shape& s) {
    std::size_t lead = 0;
    while (lead < s.size() && s[lead] == 1) ++lead;
    const std::size_t len = s.size() - lead;
    if (len > out.size()) return false;
    for (std::size_t i = 0; i < len; ++i)
      if (s[lead + i] != out[out.size() - len + i]) return false;
    return true;
  };
  const bool a_full = sa == out, b_full = sb == out;
  if (a_full && b_full) p = Pattern::same;
  else if (a_full && numel(sb) == 1) p = Pattern::scalar_b;
  else if (b_full && numel(sa) == 1) p = Pattern::scalar_a;
  else if (a_full && is_suffix(sb)) p = Pattern::row_b;
  else if (b_full && is_suffix(sa)) p = Pattern::row_a;
  else return false;
  return true;
}

template <typename T = float, typename R = float, typename F> void map_binary(const KernelArgs& a, Pattern p, F f) {
  const T* x = a.in[0]->data<T>();
  const T* z = a.in[1]->data<T>();
  R* y = a.out[0].data<R>();
  const std::int64_t total = a.out[0].numel();
  switch (p) {
    case Pattern::same:
      for_rows(
          total, kElementChunk, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) y[i] = f(x[i], z[i]);
          },
          total);
      return;
    case Pattern::scalar_b: {
      const T s = z[0];
      for_rows(
          total, kElementChunk, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) y[i] = f(x[i], s);
          },
          total);
      return;
    }
    case Pattern::scalar_a: {
      const T s = x[0];
      for_rows(
          total, kElementChunk, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) y[i] = f(s, z[i]);
          },
          total);
      return;
    }
    case Pattern::row_b:
    case Pattern::row_a: {
      const bool row_is_b = p == Pattern::row_b;
      const std::int64_t n = row_is_b ? a.in[1]->numel() : a.in[0]->numel();
      const std::int64_t rows = n == 0 ? 0 : total / n;
      const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, kElementChunk / std::max<std::int64_t>(n, 1));
      for_rows(rows, rows_per_chunk, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const std::int64_t o = r * n;
          if (row_is_b)
            for (std::int64_t j = 0; j < n; ++j) y[o + j] = f(x[o + j], z[j]);
          else
            for (std::int64_t j = 0; j < n; ++j) y[o + j] = f(x[j], z[o + j]);
        }
      }, total);
      return;
    }
  }
}

// numpy's maximum/minimum: a NaN operand wins (as the reference).
inline float max_f(float a, float b) {
  if (std::isnan(a)) return a;
  if (std::isnan(b)) return b;
  return a < b ? b : a;
}
inline float min_f(float a, float b) {
  if (std::isnan(a)) return a;
  if (std::isnan(b)) return b;
  return b < a ? b : a;
}

template <Pattern P> void add(const KernelArgs& a) { map_binary(a, P, [](float x, float y) { return x + y; }); }
template <Pattern P> void sub(const KernelArgs& a) { map_binary(a, P, [](float x, float y) { return x - y; }); }
template <Pattern P> void mul(const KernelArgs& a) { map_binary(a, P, [](float x, float y) { return x * y; }); }
template <Pattern P> void div(const KernelArgs& a) { map_binary(a, P, [](float x, float y) { return x / y; }); }
template <Pattern P> void max_k(const KernelArgs& a) { map_binary(a, P, max_f); }
template <Pattern P> void min_k(const KernelArgs& a) { map_binary(a, P, min_f); }
// Pow with the constant exponent 2 (torch's LayerNorm at opset 13 squares with Pow): x * x, which is the
// correctly rounded square; the reference's std::pow may differ in the last bit.
void square(const KernelArgs& a) { map_unary(a, [](float v) { return v * v; }); }

// int64 Add/Sub/Mul wrap around as the reference's (two's complement); f32 Less is IEEE (NaN compares false).
template <Pattern P> void add_i64(const KernelArgs& a) {
  map_binary<std::int64_t, std::int64_t>(a, P, [](std::int64_t x, std::int64_t y) { return detail::wrap_add(x, y); });
}
template <Pattern P> void sub_i64(const KernelArgs& a) {
  map_binary<std::int64_t, std::int64_t>(a, P, [](std::int64_t x, std::int64_t y) { return detail::wrap_sub(x, y); });
}
template <Pattern P> void mul_i64(const KernelArgs& a) {
  map_binary<std::int64_t, std::int64_t>(a, P, [](std::int64_t x, std::int64_t y) { return detail::wrap_mul(x, y); });
}
template <Pattern P> void less_f32(const KernelArgs& a) { map_binary<float, bool>(a, P, [](float x, float y) { return x < y; }); }

template <Pattern P> KernelFn typed_fn(OpKind kind, DType in) {
  if (in == DType::i64) {
    switch (kind) {
      case OpKind::Add: return add_i64<P>;
      case OpKind::Sub: return sub_i64<P>;
      case OpKind::Mul: return mul_i64<P>;
      default: return nullptr;
    }
  }
  if (in == DType::f32 && kind == OpKind::Less) return less_f32<P>;
  return nullptr;
}

KernelFn typed_for(OpKind kind, DType in, Pattern p) {
  switch (p) {
    case Pattern::same: return typed_fn<Pattern::same>(kind, in);
    case Pattern::scalar_b: return typed_fn<Pattern::scalar_b>(kind, in);
    case Pattern::scalar_a: return typed_fn<Pattern::scalar_a>(kind, in);
    case Pattern::row_b: return typed_fn<Pattern::row_b>(kind, in);
    case Pattern::row_a: return typed_fn<Pattern::row_a>(kind, in);
  }
  return nullptr;
}

template <Pattern P> KernelFn binary_fn(OpKind kind) {
  switch (kind) {
    case OpKind::Add: return add<P>;
    case OpKind::Sub: return sub<P>;
    case OpKind::Mul: return mul<P>;
    case OpKind::Div: return div<P>;
    case OpKind::Max: return max_k<P>;
    case OpKind::Min: return min_k<P>;
    default: return nullptr;
  }
}

KernelFn binary_for(OpKind kind, Pattern p) {
  switch (p) {
    case Pattern::same: return binary_fn<Pattern::same>(kind);
    case Pattern::scalar_b: return binary_fn<Pattern::scalar_b>(kind);
    case Pattern::scalar_a: return binary_fn<Pattern::scalar_a>(kind);
    case Pattern::row_b: return binary_fn<Pattern::row_b>(kind);
    case Pattern::row_a: return binary_fn<Pattern::row_a>(kind);
  }
  return nullptr;
}

// ---- FakeQuant (per tensor) ----------------------------------------------------------------------------

void fake_quant(const KernelArgs& a) {
  // The reference's function: floor(x/s + 1/2) (ties up), clamped, back to the real line. Eight at a time with the
  // same IEEE operations in the same order (a true division; std::clamp's comparisons, so NaN stays NaN).
  const detail::FakeQuantStep fq(*a.graph.value(a.node.outputs[0]).quant, 0);
  const float* x = a.in[0]->data<float>();
  float* y = a.out[0].data<float>();
  for_chunks(
      a.out[0].numel(), kElementChunk,
      [&](std::int64_t b, std::int64_t e) {
        const __m256 step = _mm256_set1_ps(fq.step), half = _mm256_set1_ps(0.5f), zero = _mm256_set1_ps(fq.zero),
                     lo = _mm256_set1_ps(fq.lo), hi = _mm256_set1_ps(fq.hi);
        std::int64_t i = b;
        for (; i + 8 <= e; i += 8) {
          __m256 v = _mm256_add_ps(_mm256_floor_ps(_mm256_add_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), step), half)), zero);
          v = _mm256_blendv_ps(v, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));  // v < lo ? lo : v
          v = _mm256_blendv_ps(v, hi, _mm256_cmp_ps(hi, v, _CMP_LT_OQ));  // hi < v ? hi : v
          _mm256_storeu_ps(y + i, _mm256_mul_ps(step, _mm256_sub_ps(v, zero)));
        }
        for (; i < e; ++i) y[i] = fq(x[i]);
      },
      a.out[0].numel());
}

// QuantizeLinear with one scale and zero point (constants), f32 in: the reference's element function.
void quantize_linear(const KernelArgs& a) {
  const float* x = a.in[0]->data<float>();
  const float scale = a.in[1]->data<float>()[0];
  const bool s8 = a.out[0].dtype() == DType::i8;
  float zero = 0.0f;
  if (a.in.size() > 2 && a.in[2] != nullptr)
    zero = s8 ? static_cast<float>(a.in[2]->data<std::int8_t>()[0]) : static_cast<float>(a.in[2]->data<std::uint8_t>()[0]);
  const float lo = s8 ? -128.0f : 0.0f, hi = s8 ? 127.0f : 255.0f;
  auto* y = reinterpret_cast<std::uint8_t*>(a.out[0].raw());
  for_chunks(
      a.out[0].numel(), kElementChunk,
      [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) y[i] = detail::quantize_linear_byte(x[i], scale, zero, lo, hi);
      },
      a.out[0].numel());
}

bool is_f32_static(const TensorType* t) { return t && t->dtype == DType::f32 && t->is_static(); }

}  // namespace

KernelChoice choose_elementwise(const Graph& g, const Node& n, std::span<const TensorType* const> types) {
  const TensorType& out = g.value(n.outputs[0]).type;
  // int64 Add/Sub/Mul and f32 Less (the integer-form export's LayerNorm sums and floor), same fast patterns.
  const bool typed = ((n.kind == OpKind::Add || n.kind == OpKind::Sub || n.kind == OpKind::Mul) &&
                      out.dtype == DType::i64) ||
                     (n.kind == OpKind::Less && out.dtype == DType::boolean);
  if (n.kind == OpKind::QuantizeLinear) {
    if ((out.dtype != DType::u8 && out.dtype != DType::i8) || !out.is_static() || types.size() < 2 ||
        !is_f32_static(types[0]))
      return {};
    const Value& sv = g.value(n.inputs[1]);
    if (!sv.constant || sv.constant->dtype() != DType::f32 || sv.constant->numel() != 1) return {};
    if (types.size() > 2 && n.inputs[2].valid()) {
      const Value& zv = g.value(n.inputs[2]);
      if (!zv.constant || zv.constant->dtype() != out.dtype || zv.constant->numel() != 1) return {};
    }
    return {quantize_linear, "quantize_linear"};
  }
  if (typed) {
    if (types.size() != 2 || !types[0] || !types[1] || !types[0]->is_static() || !types[1]->is_static() ||
        types[0]->dtype != types[1]->dtype || !out.is_static())
      return {};
    Pattern p{};
    if (!pattern_of(types[0]->static_shape(), types[1]->static_shape(), out.static_shape(), p)) return {};
    const KernelFn fn = typed_for(n.kind, types[0]->dtype, p);
    if (fn == nullptr) return {};
    static constexpr const char* kNames[] = {"binary_same", "binary_scalar", "binary_scalar", "binary_row",
                                             "binary_row"};
    return {fn, kNames[static_cast<int>(p)]};
  }
  if (!is_f32_static(&out)) return {};
  switch (n.kind) {
    case OpKind::Relu:
    case OpKind::Neg:
    case OpKind::Sqrt:
    case OpKind::Exp:
    case OpKind::Erf:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Gelu: {
      if (types.size() != 1 || !is_f32_static(types[0])) return {};
      switch (n.kind) {
        case OpKind::Relu: return {relu, "relu"};
        case OpKind::Neg: return {neg, "neg"};
        case OpKind::Sqrt: return {sqrt_k, "sqrt"};
        case OpKind::Exp: return {exp_k, "exp"};
        case OpKind::Erf: return {erf_k, "erf"};
        case OpKind::Tanh: return {tanh_k, "tanh"};
        case OpKind::Sigmoid: return {sigmoid, "sigmoid"};
        default:
          return std::get<GeluAttrs>(n.attrs).tanh_approximation ? KernelChoice{gelu_tanh, "gelu_tanh"}
                                                                  : KernelChoice{gelu, "gelu"};
      }
    }
    case OpKind::Pow: {
      if (types.size() != 2 || !is_f32_static(types[0]) || !types[1] || types[0]->static_shape() != out.static_shape())
        return {};
      const Value& e = g.value(n.inputs[1]);
      if (!e.constant || e.constant->dtype() != DType::f32 || e.constant->numel() != 1) return {};
      if (e.constant->data<float>()[0] != 2.0f) return {};
      return {square, "square"};
    }
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min: {
      if (types.size() != 2 || !is_f32_static(types[0]) || !is_f32_static(types[1])) return {};
      Pattern p{};
      if (!pattern_of(types[0]->static_shape(), types[1]->static_shape(), out.static_shape(), p)) return {};
      static constexpr const char* kNames[] = {"binary_same", "binary_scalar", "binary_scalar", "binary_row",
                                               "binary_row"};
      return {binary_for(n.kind, p), kNames[static_cast<int>(p)]};
    }
    case OpKind::FakeQuant: {
      const Value& v = g.value(n.outputs[0]);
      if (types.size() != 1 || !is_f32_static(types[0]) || !v.quant || v.quant->scale.size() != 1) return {};
      if (!v.quant->zero_point.empty() && v.quant->zero_point.size() != 1) return {};
      if (v.quant->n_min > v.quant->n_max) return {};
      return {fake_quant, "fake_quant"};
    }
    default: return {};
  }
}

}  // namespace snnconv::ann::kernels
