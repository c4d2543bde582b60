// Reference kernels of the whole-vector ops: Softmax, LayerNormalization and CumSum (the reductions live in
// reference_reduce.cpp). Sums run in the element type in row-major index order, so the result is one fixed
// function of the input.
#include <algorithm>
#include <cmath>
#include <limits>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {

void softmax_strided(const float* x, float* y, std::int64_t n, std::int64_t stride) {
  if (n == 0) return;
  float max = x[0];
  for (std::int64_t i = 1; i < n; ++i) {
    const float v = x[i * stride];
    if (std::isnan(v) || v > max) max = v;  // a NaN sticks: it must reach every output
  }
  float sum = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) {
    const float e = std::exp(x[i * stride] - max);
    y[i * stride] = e;
    sum += e;
  }
  for (std::int64_t i = 0; i < n; ++i) y[i * stride] /= sum;
}

void layer_norm_row(const float* x, float* y, std::int64_t cols, float epsilon, float* mean_out, float* inv_std_out) {
  const float n = static_cast<float>(cols);
  float sum = 0.0f;
  for (std::int64_t j = 0; j < cols; ++j) sum += x[j];
  const float mean = sum / n;
  float sq = 0.0f;
  for (std::int64_t j = 0; j < cols; ++j) {
    const float d = x[j] - mean;
    sq += d * d;
  }
  const float var = sq / n;
  const float inv_std = 1.0f / std::sqrt(var + epsilon);
  for (std::int64_t j = 0; j < cols; ++j) y[j] = (x[j] - mean) * inv_std;
  *mean_out = mean;
  *inv_std_out = inv_std;
}

namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

}  // namespace

Outputs eval_softmax(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  require_f32(c, x, "Softmax input");
  const auto& at = c.attrs<SoftmaxAttrs>();
  const int axis = c.axis(at.axis, x.rank());
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t outer = product(x.shape(), 0, ax), n = x.dim(axis);
  const std::int64_t inner = product(x.shape(), ax + 1, x.shape().size());
  Tensor out(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = out.data<float>();
  if (at.causal) {  // row i of [..., M, N] sees columns j <= i + (N - M); the rest are 0
    if (x.rank() < 2 || axis != x.rank() - 1)
      c.fail_shape("causal Softmax needs scores [..., M, N] and the last axis, got " + shape_to_string(x.shape()));
    const std::int64_t m = x.dim(x.rank() - 2);
    for (std::int64_t o = 0; o < outer; ++o) {
      const std::int64_t valid = std::clamp<std::int64_t>(o % m + 1 + (n - m), 0, n);
      softmax_strided(px + o * n, py + o * n, valid, 1);
      std::fill(py + o * n + valid, py + (o + 1) * n, 0.0f);
    }
    return {std::move(out)};
  }
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) softmax_strided(px + o * n * inner + i, py + o * n * inner + i, n, inner);
  return {std::move(out)};
}

// ONNX LayerNormalization-17 exactly as its reference: mean, then the variance of x - mean, then
// (x - mean) * (1 / sqrt(var + eps)), then * scale (+ bias), scale and bias broadcast numpy-style to X.
Outputs eval_layer_norm(const NodeCall& c) {
  const auto& at = c.attrs<LayerNormAttrs>();
  const Tensor& x = c.input(0, "X");
  const Tensor& scale = c.input(1, "Scale");
  const Tensor* bias = c.optional_input(2);
  require_f32(c, x, "LayerNormalization input");
  require_f32(c, scale, "LayerNormalization scale");
  if (bias) require_f32(c, *bias, "LayerNormalization bias");
  const int axis = c.axis(at.axis, x.rank());
  const auto ax = static_cast<std::size_t>(axis);
  for (const Tensor* p : {&scale, bias}) {
    if (p && broadcast_shapes(c, {p->shape(), x.shape()}) != x.shape())
      c.fail_shape("LayerNormalization scale/bias " + shape_to_string(p->shape()) + " does not broadcast to " +
                   shape_to_string(x.shape()));
  }
  if (c.num_outputs() > 3) c.fail_graph("LayerNormalization has at most 3 outputs");
  const std::int64_t rows = product(x.shape(), 0, ax), cols = product(x.shape(), ax, x.shape().size());
  Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
  stat_shape.resize(x.shape().size(), 1);
  Tensor y(DType::f32, x.shape()), mean_t(DType::f32, stat_shape), inv_std_t(DType::f32, stat_shape);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    layer_norm_row(px + r * cols, py + r * cols, cols, at.epsilon, mean_t.data<float>() + r,
                   inv_std_t.data<float>() + r);
  }
  BroadcastWalker walk(x.shape(), bias ? std::vector<Shape>{scale.shape(), bias->shape()}
                                       : std::vector<Shape>{scale.shape()});
  const float* ps = scale.data<float>();
  for (std::int64_t i = 0; i < y.numel(); ++i, walk.next()) {
    py[i] = py[i] * ps[walk.offset(0)];
    if (bias) py[i] = py[i] + bias->data<float>()[walk.offset(1)];
  }
  Outputs out;
  out.push_back(std::move(y));
  if (c.num_outputs() > 1) out.push_back(std::move(mean_t));
  if (c.num_outputs() > 2) out.push_back(std::move(inv_std_t));
  return out;
}

// ONNX CumSum-14: running sums along the axis given as a scalar input; `exclusive` shifts by one (the
// first output is 0), `reverse` sums from the end.
Outputs eval_cumsum(const NodeCall& c) {
  const auto& at = c.attrs<CumSumAttrs>();
  const Tensor& x = c.input(0, "x");
  const Tensor& axis_t = c.input(1, "axis");
  if (axis_t.numel() != 1 || axis_t.rank() > 1) c.fail_shape("CumSum axis must be a scalar");
  const int axis = c.axis(c.int_values(axis_t, "CumSum axis")[0], x.rank(), "CumSum axis");
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t outer = product(x.shape(), 0, ax), n = x.dim(axis);
  const std::int64_t inner = product(x.shape(), ax + 1, x.shape().size());
  return {visit_dtype(TypeList<float, std::int32_t, std::int64_t>{}, c, x.dtype(), "CumSum input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    Tensor out(x.dtype(), x.shape());
    const T* px = x.data<T>();
    T* py = out.data<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) {
        T acc{0};
        for (std::int64_t t = 0; t < n; ++t) {
          const std::int64_t pos = (o * n + (at.reverse ? n - 1 - t : t)) * inner + i;
          if (at.exclusive) {
            py[pos] = acc;
            acc = wrap_add(acc, px[pos]);
          } else {
            acc = wrap_add(acc, px[pos]);
            py[pos] = acc;
          }
        }
      }
    return out;
  })};
}

}  // namespace snnconv::ann::detail
