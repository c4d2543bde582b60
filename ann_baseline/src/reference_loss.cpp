// Reference kernels of LogSoftmax, Hardmax and the two losses (NegativeLogLikelihoodLoss,
// SoftmaxCrossEntropyLoss), as ONNX defines them (opset 13).
#include <cmath>
#include <limits>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {
namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// log_softmax along `axis`: (x - max) - log(sum(exp(x - max))), summed in index order. NaN propagates.
Tensor log_softmax(const Tensor& x, int axis) {
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t outer = product(x.shape(), 0, ax), n = x.dim(axis);
  const std::int64_t inner = product(x.shape(), ax + 1, x.shape().size());
  Tensor out(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = out.data<float>();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      const float* row = px + o * n * inner + i;
      float* dst = py + o * n * inner + i;
      if (n == 0) continue;
      float max = row[0];
      for (std::int64_t k = 1; k < n; ++k)
        if (std::isnan(row[k * inner]) || row[k * inner] > max) max = row[k * inner];
      float sum = 0.0f;
      for (std::int64_t k = 0; k < n; ++k) sum += std::exp(row[k * inner] - max);
      const float log_sum = std::log(sum);
      for (std::int64_t k = 0; k < n; ++k) dst[k * inner] = (row[k * inner] - max) - log_sum;
    }
  return out;
}

// NegativeLogLikelihoodLoss of log-probabilities `x` [N, C, d...] against `target` [N, d...]: per element
// -x[n, t, d] * w[t]; ignored targets contribute 0 with weight 0; mean divides by the total weight.
Tensor nll(const NodeCall& c, const Tensor& x, const Tensor& target, const Tensor* weight) {
  const auto& at = c.attrs<LossAttrs>();
  require_f32(c, x, "loss input");
  if (weight) require_f32(c, *weight, "loss weight");
  if (x.rank() < 2 || target.rank() != x.rank() - 1) c.fail_shape("loss needs input [N, C, d...] and target [N, d...]");
  for (int i = 0; i < target.rank(); ++i)
    if (target.dim(i) != x.dim(i == 0 ? 0 : i + 1)) c.fail_shape("loss target shape does not match the input's");
  const std::int64_t n = x.dim(0), classes = x.dim(1), inner = product(x.shape(), 2, x.shape().size());
  if (weight && (weight->rank() != 1 || weight->dim(0) != classes)) c.fail_shape("loss weight must be [C]");
  const std::vector<std::int64_t> t = c.int_values(target, "loss target");
  const float* px = x.data<float>();
  Tensor loss(DType::f32, target.shape());
  float* pl = loss.data<float>();
  float weight_sum = 0.0f;
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t d = 0; d < inner; ++d) {
      const std::int64_t e = b * inner + d;
      const std::int64_t cls = t[static_cast<std::size_t>(e)];
      if (at.has_ignore_index && cls == at.ignore_index) {
        pl[e] = 0.0f;
        continue;
      }
      if (cls < 0 || cls >= classes)
        c.fail_shape("loss target " + std::to_string(cls) + " out of range for " + std::to_string(classes) + " classes");
      const float w = weight ? weight->data<float>()[cls] : 1.0f;
      pl[e] = -px[(b * classes + cls) * inner + d] * w;
      weight_sum += w;
    }
  if (at.reduction == LossReduction::none) return loss;
  float sum = 0.0f;
  for (std::int64_t e = 0; e < loss.numel(); ++e) sum += pl[e];
  if (at.reduction == LossReduction::sum) return Tensor::scalar<float>(sum);
  return Tensor::scalar<float>(sum / weight_sum);
}

}  // namespace

Outputs eval_log_softmax(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  require_f32(c, x, "LogSoftmax input");
  return {log_softmax(x, c.axis(c.attrs<AxisAttrs>().axis, x.rank()))};
}

// Hardmax: 1 at the first maximum along the axis, 0 elsewhere.
Outputs eval_hardmax(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  require_f32(c, x, "Hardmax input");
  const int axis = c.axis(c.attrs<AxisAttrs>().axis, x.rank());
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t outer = product(x.shape(), 0, ax), n = x.dim(axis);
  const std::int64_t inner = product(x.shape(), ax + 1, x.shape().size());
  Tensor out(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = out.data<float>();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      if (n == 0) continue;
      const float* row = px + o * n * inner + i;
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < n; ++k)
        if (row[k * inner] > row[best * inner]) best = k;
      py[(o * n + best) * inner + i] = 1.0f;
    }
  return {std::move(out)};
}

Outputs eval_nll_loss(const NodeCall& c) {
  return {nll(c, c.input(0, "input"), c.input(1, "target"), c.optional_input(2))};
}

// SoftmaxCrossEntropyLoss: log_softmax over the class axis (1), then NegativeLogLikelihoodLoss; the optional
// second output is the log-probabilities.
Outputs eval_softmax_cross_entropy(const NodeCall& c) {
  const Tensor& scores = c.input(0, "scores");
  require_f32(c, scores, "scores");
  if (scores.rank() < 2) c.fail_shape("scores must be [N, C, d...]");
  Tensor log_prob = log_softmax(scores, 1);
  Outputs out;
  out.push_back(nll(c, log_prob, c.input(1, "labels"), c.optional_input(2)));
  if (c.num_outputs() > 1) out.push_back(std::move(log_prob));
  return out;
}

}  // namespace snnconv::ann::detail
