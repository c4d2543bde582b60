// Reference kernels of the elementwise ops: binary arithmetic with numpy broadcasting, comparisons and the
// unary functions. Integer arithmetic wraps (two's complement), as numpy and ONNX Runtime do.
#include <cmath>
#include <limits>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {
namespace {

template <typename T> T div_value(const NodeCall& c, T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return a / b;
  } else {
    if (b == 0) c.fail_numeric("integer division by zero");
    // lowest / -1 overflows; two's complement wraps it back to lowest.
    if constexpr (std::is_signed_v<T>)
      if (b == -1) return wrap_sub(T{0}, a);
    return static_cast<T>(a / b);  // truncation toward zero, as ONNX Runtime and the ONNX reference do
  }
}

// numpy's maximum/minimum: a NaN operand wins.
template <typename T> T max_value(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return a < b ? b : a;
}
template <typename T> T min_value(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return b < a ? b : a;
}

// Integer power with wraparound; a negative exponent gives the truncated real result (only |x| == 1 is
// nonzero), as ONNX Runtime's pow-then-cast does.
template <typename T> T int_pow(const NodeCall& c, T x, std::int64_t e) {
  if (e < 0) {
    if (x == 0) c.fail_numeric("zero raised to a negative power");
    if (x == 1) return T{1};
    if constexpr (std::is_signed_v<T>)
      if (x == -1) return (e % 2 == 0) ? T{1} : T{-1};
    return T{0};
  }
  T result{1};
  T base = x;
  for (std::uint64_t k = static_cast<std::uint64_t>(e); k != 0; k >>= 1) {
    if (k & 1u) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
  }
  return result;
}

// Pow's output has the base's dtype; the exponent may be any numeric dtype (ONNX Pow-15 T and T1).
template <typename T, typename E> T pow_value(const NodeCall& c, T x, E e) {
  if constexpr (std::is_floating_point_v<T> && std::is_floating_point_v<E>) {
    return std::pow(x, e);
  } else if constexpr (std::is_floating_point_v<T>) {
    // float ** int promotes to double in numpy and in ONNX Runtime's std::pow(float, int64).
    return static_cast<T>(std::pow(static_cast<double>(x), static_cast<double>(e)));
  } else if constexpr (!std::is_floating_point_v<E>) {
    return int_pow(c, x, static_cast<std::int64_t>(e));
  } else {
    const double r = std::trunc(std::pow(static_cast<double>(x), static_cast<double>(e)));
    if (!(r >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
          r <= static_cast<double>(std::numeric_limits<T>::max())))
      c.fail_numeric("integer Pow result out of range of the base's dtype");
    return static_cast<T>(r);
  }
}

Tensor eval_pow(const NodeCall& c, const Tensor& x, const Tensor& y) {
  return visit_dtype(TypeList<float, std::int32_t, std::int64_t>{}, c, x.dtype(), "Pow base", [&](auto bt) {
    using T = typename decltype(bt)::type;
    return visit_dtype(NumericTypes{}, c, y.dtype(), "Pow exponent", [&](auto et) {
      using E = typename decltype(et)::type;
      return map_binary<T, E, T>(c, x, y, [&](T a, E b) { return pow_value<T, E>(c, a, b); });
    });
  });
}

template <typename T> Tensor arith(const NodeCall& c, OpKind kind, const Tensor& a, const Tensor& b) {
  switch (kind) {
    case OpKind::Add: return map_binary<T, T, T>(c, a, b, [](T x, T y) { return wrap_add(x, y); });
    case OpKind::Sub: return map_binary<T, T, T>(c, a, b, [](T x, T y) { return wrap_sub(x, y); });
    case OpKind::Mul: return map_binary<T, T, T>(c, a, b, [](T x, T y) { return wrap_mul(x, y); });
    case OpKind::Div: return map_binary<T, T, T>(c, a, b, [&](T x, T y) { return div_value(c, x, y); });
    case OpKind::Max: return map_binary<T, T, T>(c, a, b, [](T x, T y) { return max_value(x, y); });
    case OpKind::Min: return map_binary<T, T, T>(c, a, b, [](T x, T y) { return min_value(x, y); });
    default: c.fail_graph("not a binary arithmetic op");
  }
}

}  // namespace

Outputs eval_binary_arith(const NodeCall& c) {
  const OpKind kind = c.node().kind;
  const Tensor& a = c.input(0, "A");
  if (kind == OpKind::Pow) return {eval_pow(c, a, c.input(1, "B"))};

  // Max and Min are variadic in ONNX: fold left, broadcasting as we go.
  const bool variadic = kind == OpKind::Max || kind == OpKind::Min;
  const std::size_t n = variadic ? c.num_inputs() : 2;
  Tensor acc = a;
  visit_dtype(NumericTypes{}, c, a.dtype(), "operand", [&](auto t) {
    using T = typename decltype(t)::type;
    for (std::size_t i = 1; i < n; ++i) {
      const Tensor& b = c.input(i, "B");
      require_same_dtype(c, acc, b);
      acc = arith<T>(c, kind, acc, b);
    }
    return 0;
  });
  return {std::move(acc)};
}

Outputs eval_comparison(const NodeCall& c) {
  const OpKind kind = c.node().kind;
  const Tensor& a = c.input(0, "A");
  const Tensor& b = c.input(1, "B");
  require_same_dtype(c, a, b);
  if (kind == OpKind::Equal) {
    return {visit_dtype(AllTypes{}, c, a.dtype(), "operand", [&](auto t) {
      using T = typename decltype(t)::type;
      return map_binary<T, T, bool>(c, a, b, [](T x, T y) { return x == y; });
    })};
  }
  return {visit_dtype(NumericTypes{}, c, a.dtype(), "operand", [&](auto t) {
    using T = typename decltype(t)::type;
    switch (kind) {
      case OpKind::Less: return map_binary<T, T, bool>(c, a, b, [](T x, T y) { return x < y; });
      case OpKind::LessOrEqual: return map_binary<T, T, bool>(c, a, b, [](T x, T y) { return x <= y; });
      case OpKind::Greater: return map_binary<T, T, bool>(c, a, b, [](T x, T y) { return x > y; });
      case OpKind::GreaterOrEqual: return map_binary<T, T, bool>(c, a, b, [](T x, T y) { return x >= y; });
      default: c.fail_graph("not a comparison op");
    }
  })};
}

Outputs eval_unary(const NodeCall& c) {
  const OpKind kind = c.node().kind;
  const Tensor& x = c.input(0, "X");
  switch (kind) {
    case OpKind::Neg:
      return {visit_dtype(SignedTypes{}, c, x.dtype(), "input", [&](auto t) {
        using T = typename decltype(t)::type;
        return map_unary<T, T>(x, [](T v) { return wrap_sub(T{0}, v); });
      })};
    case OpKind::Relu:
      return {visit_dtype(SignedTypes{}, c, x.dtype(), "input", [&](auto t) {
        using T = typename decltype(t)::type;
        // max(0, x) with NaN kept, as numpy's maximum does.
        return map_unary<T, T>(x, [](T v) { return v < T{0} ? T{0} : v; });
      })};
    case OpKind::Not:
      if (x.dtype() != DType::boolean) c.fail_unsupported("Not needs a bool input");
      return {map_unary<bool, bool>(x, [](bool v) { return !v; })};
    default: break;
  }
  if (x.dtype() != DType::f32)
    c.fail_unsupported("input of dtype " + std::string(dtype_name(x.dtype())) + " is not supported (f32 only)");
  switch (kind) {
    case OpKind::Sqrt: return {map_unary<float, float>(x, [](float v) { return std::sqrt(v); })};
    case OpKind::Exp: return {map_unary<float, float>(x, [](float v) { return std::exp(v); })};
    case OpKind::Erf: return {map_unary<float, float>(x, [](float v) { return std::erf(v); })};
    case OpKind::Tanh: return {map_unary<float, float>(x, [](float v) { return std::tanh(v); })};
    case OpKind::Sigmoid:
      // The ONNX reference's two-sided form: exp never overflows for large |x|.
      return {map_unary<float, float>(x, [](float v) {
        if (v > 0.0f) return 1.0f / (1.0f + std::exp(-v));
        const float e = std::exp(v);
        return e / (1.0f + e);
      })};
    case OpKind::Gelu:
      if (c.attrs<GeluAttrs>().tanh_approximation)
        return {map_unary<float, float>(x, [](float v) { return gelu_tanh(v); })};
      return {map_unary<float, float>(x, [](float v) { return gelu_exact(v); })};
    default: c.fail_graph("not a unary op");
  }
}

}  // namespace snnconv::ann::detail
