// Reference kernels of the elementwise ops added for broader ONNX coverage: variadic Sum / Mean, Clip, the
// unary math functions and parametrised activations, logical And / Or / Xor, Mod and PRelu. Each float
// function is written as the ONNX definition states it, evaluated in f32 (the C library's correctly rounded
// or nearly so functions).
#include <algorithm>
#include <cmath>
#include <limits>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {
namespace {

// Broadcasts every input together and folds them left with f.
template <typename T, typename F> Tensor fold_inputs(const NodeCall& c, F f) {
  Tensor acc = c.input(0, "data_0");
  for (std::size_t i = 1; i < c.num_inputs(); ++i) {
    const Tensor& b = c.input(i, "data_i");
    require_same_dtype(c, acc, b);
    acc = map_binary<T, T, T>(c, acc, b, f);
  }
  return acc;
}

float softplus(float v) {
  // log(exp(x) + 1) without overflow for large x.
  return v > 0.0f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

}  // namespace

Outputs eval_variadic(const NodeCall& c) {
  const Tensor& first = c.input(0, "data_0");
  if (c.node().kind == OpKind::Sum) {
    return {visit_dtype(NumericTypes{}, c, first.dtype(), "Sum operand", [&](auto t) {
      using T = typename decltype(t)::type;
      return fold_inputs<T>(c, [](T a, T b) { return wrap_add(a, b); });
    })};
  }
  // Mean: the sum in input order, divided by the input count (as ONNX's definition).
  require_f32(c, first, "Mean operand");
  Tensor sum = fold_inputs<float>(c, [](float a, float b) { return a + b; });
  const auto n = static_cast<float>(c.num_inputs());
  float* p = sum.data<float>();
  for (std::int64_t i = 0; i < sum.numel(); ++i) p[i] = p[i] / n;
  return {std::move(sum)};
}

Outputs eval_clip(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const Tensor* lo_t = c.optional_input(1);
  const Tensor* hi_t = c.optional_input(2);
  for (const Tensor* b : {lo_t, hi_t}) {
    if (!b) continue;
    if (b->numel() != 1) c.fail_shape("Clip bounds must be scalars, got " + shape_to_string(b->shape()));
    require_same_dtype(c, x, *b);
  }
  return {visit_dtype(NumericTypes{}, c, x.dtype(), "Clip input", [&](auto t) {
    using T = typename decltype(t)::type;
    const T lo = lo_t ? lo_t->data<T>()[0] : std::numeric_limits<T>::lowest();
    const T hi = hi_t ? hi_t->data<T>()[0] : std::numeric_limits<T>::max();
    // min(max(x, lo), hi): lo > hi gives hi (numpy's clip); a NaN input stays NaN.
    return map_unary<T, T>(x, [=](T v) {
      const T a = v < lo ? lo : v;
      return a > hi ? hi : a;
    });
  })};
}

Outputs eval_unary_math(const NodeCall& c) {
  const OpKind kind = c.node().kind;
  const Tensor& x = c.input(0, "X");
  switch (kind) {
    case OpKind::Abs:
      return {visit_dtype(NumericTypes{}, c, x.dtype(), "Abs input", [&](auto t) {
        using T = typename decltype(t)::type;
        if constexpr (std::is_floating_point_v<T>) return map_unary<T, T>(x, [](T v) { return std::fabs(v); });
        else if constexpr (std::is_signed_v<T>) return map_unary<T, T>(x, [](T v) { return v < 0 ? wrap_sub(T{0}, v) : v; });
        else return map_unary<T, T>(x, [](T v) { return v; });
      })};
    case OpKind::Sign:
      return {visit_dtype(NumericTypes{}, c, x.dtype(), "Sign input", [&](auto t) {
        using T = typename decltype(t)::type;
        return map_unary<T, T>(x, [](T v) {
          if constexpr (std::is_floating_point_v<T>)
            if (std::isnan(v)) return v;
          return v > T{0} ? T{1} : (v < T{0} ? static_cast<T>(-1) : T{0});
        });
      })};
    case OpKind::IsNaN:
      require_f32(c, x, "IsNaN input");
      return {map_unary<float, bool>(x, [](float v) { return std::isnan(v); })};
    case OpKind::IsInf: {
      require_f32(c, x, "IsInf input");
      const auto& p = c.attrs<ScalarParamsAttrs>();
      const bool neg = p.alpha != 0.0f, pos = p.beta != 0.0f;
      return {map_unary<float, bool>(x, [=](float v) { return std::isinf(v) && (v > 0 ? pos : neg); })};
    }
    default: break;
  }
  require_f32(c, x, "input");
  const ScalarParamsAttrs* p = std::get_if<ScalarParamsAttrs>(&c.node().attrs);
  const float alpha = p ? p->alpha : 0.0f, beta = p ? p->beta : 0.0f;
  auto f = [&](auto fn) { return Outputs{map_unary<float, float>(x, fn)}; };
  switch (kind) {
    case OpKind::Reciprocal: return f([](float v) { return 1.0f / v; });
    case OpKind::Floor: return f([](float v) { return std::floor(v); });
    case OpKind::Ceil: return f([](float v) { return std::ceil(v); });
    case OpKind::Round: return f([](float v) { return std::nearbyint(v); });  // halves to even
    case OpKind::Log: return f([](float v) { return std::log(v); });
    case OpKind::Sin: return f([](float v) { return std::sin(v); });
    case OpKind::Cos: return f([](float v) { return std::cos(v); });
    case OpKind::Tan: return f([](float v) { return std::tan(v); });
    case OpKind::Asin: return f([](float v) { return std::asin(v); });
    case OpKind::Acos: return f([](float v) { return std::acos(v); });
    case OpKind::Atan: return f([](float v) { return std::atan(v); });
    case OpKind::Sinh: return f([](float v) { return std::sinh(v); });
    case OpKind::Cosh: return f([](float v) { return std::cosh(v); });
    case OpKind::Asinh: return f([](float v) { return std::asinh(v); });
    case OpKind::Acosh: return f([](float v) { return std::acosh(v); });
    case OpKind::Atanh: return f([](float v) { return std::atanh(v); });
    case OpKind::Softplus: return f(softplus);
    case OpKind::Softsign: return f([](float v) { return v / (1.0f + std::fabs(v)); });
    case OpKind::Elu: return f([=](float v) { return v < 0.0f ? alpha * std::expm1(v) : v; });
    case OpKind::Selu:  // alpha, gamma (in beta)
      return f([=](float v) { return v > 0.0f ? beta * v : beta * (alpha * std::exp(v) - alpha); });
    case OpKind::Celu:
      return f([=](float v) { return std::max(0.0f, v) + std::min(0.0f, alpha * std::expm1(v / alpha)); });
    case OpKind::LeakyRelu: return f([=](float v) { return v < 0.0f ? alpha * v : v; });
    case OpKind::ThresholdedRelu: return f([=](float v) { return v > alpha ? v : 0.0f; });
    case OpKind::HardSigmoid:
      return f([=](float v) { return std::max(0.0f, std::min(1.0f, alpha * v + beta)); });
    case OpKind::HardSwish:  // x * HardSigmoid(x) with alpha 1/6, beta 1/2
      return f([](float v) { return v * std::max(0.0f, std::min(1.0f, v * (1.0f / 6.0f) + 0.5f)); });
    case OpKind::Shrink:  // lambd (in alpha), bias (in beta)
      return f([=](float v) { return v < -alpha ? v + beta : (v > alpha ? v - beta : 0.0f); });
    default: c.fail_graph("not a unary math op");
  }
}

Outputs eval_logical(const NodeCall& c) {
  const Tensor& a = c.input(0, "A");
  const Tensor& b = c.input(1, "B");
  if (a.dtype() != DType::boolean || b.dtype() != DType::boolean) c.fail_unsupported("operands must be bool");
  switch (c.node().kind) {
    case OpKind::And: return {map_binary<bool, bool, bool>(c, a, b, [](bool x, bool y) { return x && y; })};
    case OpKind::Or: return {map_binary<bool, bool, bool>(c, a, b, [](bool x, bool y) { return x || y; })};
    case OpKind::Xor: return {map_binary<bool, bool, bool>(c, a, b, [](bool x, bool y) { return x != y; })};
    default: c.fail_graph("not a logical op");
  }
}

// ONNX Mod: fmod = 0 takes the divisor's sign (Python's %), fmod = 1 the dividend's (C's fmod); floats need
// fmod = 1. An integer division by zero is a NumericError.
Outputs eval_mod(const NodeCall& c) {
  const Tensor& a = c.input(0, "A");
  const Tensor& b = c.input(1, "B");
  require_same_dtype(c, a, b);
  const bool fmod = c.attrs<ScalarParamsAttrs>().alpha != 0.0f;
  return {visit_dtype(NumericTypes{}, c, a.dtype(), "Mod operand", [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_floating_point_v<T>) {
      if (!fmod) c.fail_shape("Mod of floating-point operands needs fmod=1");
      return map_binary<T, T, T>(c, a, b, [](T x, T y) { return std::fmod(x, y); });
    } else {
      return map_binary<T, T, T>(c, a, b, [&](T x, T y) {
        if (y == 0) c.fail_numeric("integer Mod by zero");
        if constexpr (std::is_signed_v<T>)
          if (y == -1) return T{0};  // lowest % -1 overflows in C++; the result is 0
        T r = static_cast<T>(x % y);
        if constexpr (std::is_signed_v<T>)
          if (!fmod && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
        return r;
      });
    }
  })};
}

Outputs eval_prelu(const NodeCall& c) {
  const Tensor& x = c.input(0, "X");
  const Tensor& slope = c.input(1, "slope");
  require_same_dtype(c, x, slope);
  if (broadcast_shapes(c, {x.shape(), slope.shape()}) != x.shape())
    c.fail_shape("PRelu slope " + shape_to_string(slope.shape()) + " does not broadcast to X " +
                 shape_to_string(x.shape()));
  return {visit_dtype(SignedTypes{}, c, x.dtype(), "PRelu input", [&](auto t) {
    using T = typename decltype(t)::type;
    return map_binary<T, T, T>(c, x, slope, [](T v, T s) { return v < T{0} ? wrap_mul(s, v) : v; });
  })};
}

}  // namespace snnconv::ann::detail
