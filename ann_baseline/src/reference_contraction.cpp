// Reference kernels of the contractions: MatMul, Gemm, Conv and the canonical fused Linear and Attention.
// Every dot product accumulates in the element type, in index order from zero, so results are
// reproducible and optimised kernels have one fixed target.
#include <algorithm>
#include <cmath>
#include <limits>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {
namespace {

using ContractTypes = TypeList<float, std::int32_t, std::int64_t>;

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}
std::int64_t product(const Shape& s) { return product(s, 0, s.size()); }

float apply_activation(Activation a, float v) {
  switch (a) {
    case Activation::none: return v;
    case Activation::relu: return v < 0.0f ? 0.0f : v;
    case Activation::gelu: return gelu_exact(v);
    case Activation::gelu_tanh: return gelu_tanh(v);
    case Activation::tanh: return std::tanh(v);
    case Activation::silu: return silu(v);
  }
  return v;
}

}  // namespace

Outputs eval_matmul(const NodeCall& c) {
  const Tensor& a = c.input(0, "A");
  const Tensor& b = c.input(1, "B");
  if (a.dtype() != b.dtype()) c.fail_shape("MatMul operands have different dtypes");
  if (a.rank() == 0 || b.rank() == 0) c.fail_shape("MatMul operands must have rank >= 1");
  // numpy matmul: a vector is promoted to a matrix and the added dim is dropped from the result.
  Shape sa = a.shape();
  Shape sb = b.shape();
  const bool a_vector = sa.size() == 1;
  const bool b_vector = sb.size() == 1;
  if (a_vector) sa.insert(sa.begin(), 1);
  if (b_vector) sb.push_back(1);
  const std::int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  if (sb[sb.size() - 2] != k)
    c.fail_shape("MatMul inner dims differ: " + shape_to_string(a.shape()) + " x " + shape_to_string(b.shape()));
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  const Shape batch = broadcast_shapes(c, {batch_a, batch_b});
  Shape out_shape = batch;
  if (!a_vector) out_shape.push_back(m);
  if (!b_vector) out_shape.push_back(n);

  return {visit_dtype(ContractTypes{}, c, a.dtype(), "MatMul operand", [&](auto t) {
    using T = typename decltype(t)::type;
    Tensor out(a.dtype(), out_shape);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = out.data<T>();
    BroadcastWalker walk(batch, {batch_a, batch_b});
    const std::int64_t batches = product(batch);
    for (std::int64_t bi = 0; bi < batches; ++bi, walk.next()) {
      const T* ma = pa + walk.offset(0) * m * k;
      const T* mb = pb + walk.offset(1) * k * n;
      T* my = py + bi * m * n;
      // Each y[i, j] sums its k products in order p = 0, 1, ... from 0 (the definition); the loop runs p outside
      // j so that a row of B is read contiguously, which changes no rounding (-ffp-contract=off: no FMA).
      for (std::int64_t i = 0; i < m; ++i) {
        T* acc = my + i * n;
        std::fill(acc, acc + n, T{0});
        for (std::int64_t p = 0; p < k; ++p) {
          const T av = ma[i * k + p];
          const T* brow = mb + p * n;
          for (std::int64_t j = 0; j < n; ++j) acc[j] = wrap_add(acc[j], wrap_mul(av, brow[j]));
        }
      }
    }
    return out;
  })};
}

Outputs eval_gemm(const NodeCall& c) {
  const auto& at = c.attrs<GemmAttrs>();
  const Tensor& a = c.input(0, "A");
  const Tensor& b = c.input(1, "B");
  const Tensor* cc = c.optional_input(2);
  if (a.rank() != 2 || b.rank() != 2)
    c.fail_shape("Gemm needs 2-D A and B, got " + shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  if (a.dtype() != b.dtype() || (cc && cc->dtype() != a.dtype())) c.fail_shape("Gemm operands have different dtypes");
  const std::int64_t m = at.trans_a ? a.dim(1) : a.dim(0);
  const std::int64_t k = at.trans_a ? a.dim(0) : a.dim(1);
  const std::int64_t kb = at.trans_b ? b.dim(1) : b.dim(0);
  const std::int64_t n = at.trans_b ? b.dim(0) : b.dim(1);
  if (k != kb)
    c.fail_shape("Gemm inner dims differ: " + shape_to_string(a.shape()) + (at.trans_a ? "^T" : "") + " x " +
                 shape_to_string(b.shape()) + (at.trans_b ? "^T" : ""));
  const Shape out_shape{m, n};
  // The ONNX reference skips C when beta == 0 (a NaN in C then does not leak).
  const bool use_c = cc != nullptr && at.beta != 0.0f;
  if (use_c && broadcast_shapes(c, {cc->shape(), out_shape}) != out_shape)
    c.fail_shape("Gemm C " + shape_to_string(cc->shape()) + " does not broadcast to " + shape_to_string(out_shape));

  return {visit_dtype(ContractTypes{}, c, a.dtype(), "Gemm operand", [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (!std::is_floating_point_v<T>) {
      if (std::trunc(at.alpha) != at.alpha || std::trunc(at.beta) != at.beta)
        c.fail_unsupported("integer Gemm with a fractional alpha or beta");
    }
    const T alpha = static_cast<T>(at.alpha), beta = static_cast<T>(at.beta);
    Tensor out(a.dtype(), out_shape);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = out.data<T>();
    const std::int64_t lda = a.dim(1), ldb = b.dim(1);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        T acc{0};
        for (std::int64_t p = 0; p < k; ++p) {
          const T va = at.trans_a ? pa[p * lda + i] : pa[i * lda + p];
          const T vb = at.trans_b ? pb[j * ldb + p] : pb[p * ldb + j];
          acc = wrap_add(acc, wrap_mul(va, vb));
        }
        py[i * n + j] = wrap_mul(acc, alpha);
      }
    if (use_c) {
      const T* pc = cc->data<T>();
      BroadcastWalker walk(out_shape, {cc->shape()});
      for (std::int64_t i = 0; i < m * n; ++i, walk.next()) py[i] = wrap_add(py[i], wrap_mul(pc[walk.offset(0)], beta));
    }
    return out;
  })};
}

Outputs eval_conv(const NodeCall& c) {
  const auto& at = c.attrs<ConvAttrs>();
  const Tensor& x = c.input(0, "X");
  const Tensor& w = c.input(1, "W");
  const Tensor* bias = c.optional_input(2);
  require_f32(c, x, "Conv input");
  require_f32(c, w, "Conv weight");
  if (bias) require_f32(c, *bias, "Conv bias");
  if (x.rank() < 3) c.fail_shape("Conv input must be [N, C, spatial...], got " + shape_to_string(x.shape()));
  if (w.rank() != x.rank())
    c.fail_shape("Conv weight " + shape_to_string(w.shape()) + " does not match input " + shape_to_string(x.shape()));
  const std::size_t sp = static_cast<std::size_t>(x.rank() - 2);
  const std::int64_t batch = x.dim(0), channels = x.dim(1), maps = w.dim(0), group = at.group;
  if (group < 1 || channels % group != 0 || maps % group != 0 || w.dim(1) != channels / group)
    c.fail_shape("Conv group " + std::to_string(group) + " does not fit input " + shape_to_string(x.shape()) +
                 " and weight " + shape_to_string(w.shape()));
  if (bias && (bias->rank() != 1 || bias->dim(0) != maps))
    c.fail_shape("Conv bias " + shape_to_string(bias->shape()) + " must be [" + std::to_string(maps) + "]");

  auto per_dim = [&](const std::vector<std::int64_t>& v, std::size_t count, std::int64_t fill, const char* what) {
    if (v.empty()) return std::vector<std::int64_t>(count, fill);
    if (v.size() != count) c.fail_shape(std::string("Conv ") + what + " has the wrong length");
    return v;
  };
  const Shape kernel(w.shape().begin() + 2, w.shape().end());
  if (!at.kernel_shape.empty() && at.kernel_shape != kernel)
    c.fail_shape("Conv kernel_shape " + shape_to_string(at.kernel_shape) + " differs from the weight's " +
                 shape_to_string(kernel));
  const auto strides = per_dim(at.strides, sp, 1, "strides");
  const auto dilations = per_dim(at.dilations, sp, 1, "dilations");
  const auto pads = per_dim(at.pads, 2 * sp, 0, "pads");
  const Shape in(x.shape().begin() + 2, x.shape().end());
  Shape out_sp(sp);
  for (std::size_t d = 0; d < sp; ++d) {
    if (strides[d] < 1 || dilations[d] < 1 || pads[d] < 0 || pads[sp + d] < 0)
      c.fail_shape("Conv strides and dilations must be >= 1 and pads >= 0");
    const std::int64_t span = in[d] + pads[d] + pads[sp + d] - dilations[d] * (kernel[d] - 1) - 1;
    if (span < 0) c.fail_shape("Conv kernel larger than the padded input " + shape_to_string(x.shape()));
    out_sp[d] = span / strides[d] + 1;
  }
  Shape out_shape{batch, maps};
  out_shape.insert(out_shape.end(), out_sp.begin(), out_sp.end());
  Tensor out(DType::f32, out_shape);

  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  float* py = out.data<float>();
  const std::int64_t in_numel = product(in), out_numel = product(out_sp), k_numel = product(kernel);
  const std::int64_t cpg = channels / group, mpg = maps / group;
  std::vector<std::int64_t> opos(sp), kpos(sp);
  auto unravel = [](std::int64_t flat, const Shape& dims, std::vector<std::int64_t>& pos) {
    for (std::size_t d = dims.size(); d-- > 0;) {
      pos[d] = flat % dims[d];
      flat /= dims[d];
    }
  };
  for (std::int64_t nb = 0; nb < batch; ++nb)
    for (std::int64_t m = 0; m < maps; ++m) {
      const std::int64_t g = m / mpg;
      for (std::int64_t oi = 0; oi < out_numel; ++oi) {
        unravel(oi, out_sp, opos);
        float acc = 0.0f;
        for (std::int64_t ci = 0; ci < cpg; ++ci) {
          const float* xc = px + (nb * channels + g * cpg + ci) * in_numel;
          const float* wc = pw + (m * cpg + ci) * k_numel;
          for (std::int64_t ki = 0; ki < k_numel; ++ki) {
            unravel(ki, kernel, kpos);
            std::int64_t off = 0;
            bool inside = true;
            for (std::size_t d = 0; d < sp && inside; ++d) {
              const std::int64_t p = opos[d] * strides[d] - pads[d] + kpos[d] * dilations[d];
              inside = p >= 0 && p < in[d];
              off = off * in[d] + p;
            }
            if (inside) acc += xc[off] * wc[ki];
          }
        }
        py[(nb * maps + m) * out_numel + oi] = bias ? acc + bias->data<float>()[m] : acc;
      }
    }
  return {std::move(out)};
}

Outputs eval_linear(const NodeCall& c) {
  const auto& at = c.attrs<LinearAttrs>();
  const Tensor& x = c.input(0, "X");
  const Tensor& w = c.input(1, "W");
  const Tensor* bias = c.optional_input(2);
  require_f32(c, x, "Linear input");
  require_f32(c, w, "Linear weight");
  if (bias) require_f32(c, *bias, "Linear bias");
  if (x.rank() < 1 || w.rank() != 2 || x.shape().back() != w.dim(0))
    c.fail_shape("Linear input " + shape_to_string(x.shape()) + " does not fit weight " + shape_to_string(w.shape()) +
                 " ([K, N])");
  const std::int64_t k = w.dim(0), n = w.dim(1);
  if (bias && (bias->rank() != 1 || bias->dim(0) != n))
    c.fail_shape("Linear bias " + shape_to_string(bias->shape()) + " must be [" + std::to_string(n) + "]");
  Shape out_shape = x.shape();
  out_shape.back() = n;
  Tensor out(DType::f32, out_shape);
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  float* py = out.data<float>();
  const std::int64_t rows = product(x.shape(), 0, x.shape().size() - 1);
  const float* pb = bias ? bias->data<float>() : nullptr;
  for (std::int64_t r = 0; r < rows; ++r) {
    // y[r, j] sums its k products in order p = 0, 1, ... from 0 (the definition); p runs outside j so that a weight
    // row is read contiguously, which changes no rounding (-ffp-contract=off: no FMA).
    float* acc = py + r * n;
    std::fill(acc, acc + n, 0.0f);
    for (std::int64_t p = 0; p < k; ++p) {
      const float xv = px[r * k + p];
      const float* wrow = pw + p * n;
      for (std::int64_t j = 0; j < n; ++j) acc[j] += xv * wrow[j];
    }
    for (std::int64_t j = 0; j < n; ++j) {
      float y = acc[j];
      if (pb) y += pb[j];  // bias after the full sum, as the unfused MatMul then Add computes it
      acc[j] = apply_activation(at.activation, y);
    }
  }
  return {std::move(out)};
}

Outputs eval_attention(const NodeCall& c) {
  const auto& at = c.attrs<AttentionAttrs>();
  const Tensor& q = c.input(0, "Q");
  const Tensor& k = c.input(1, "K");
  const Tensor& v = c.input(2, "V");
  const Tensor* mask = c.optional_input(3);
  require_f32(c, q, "Attention Q");
  require_f32(c, k, "Attention K");
  require_f32(c, v, "Attention V");
  if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
    c.fail_shape("Attention needs 4-D q, k, v ([B, H, N, D])");
  const std::int64_t nb = q.dim(0), nh = q.dim(1), nq = q.dim(2), d = q.dim(3);
  const std::int64_t nk = k.dim(2), dv = v.dim(3);
  if (k.dim(0) != nb || k.dim(1) != nh || k.dim(3) != d || v.dim(0) != nb || v.dim(1) != nh || v.dim(2) != nk)
    c.fail_shape("Attention shapes do not fit: q " + shape_to_string(q.shape()) + ", k " + shape_to_string(k.shape()) +
                 ", v " + shape_to_string(v.shape()));
  const Shape scores_shape{nb, nh, nq, nk};
  if (mask) {
    if (mask->dtype() != DType::f32 && mask->dtype() != DType::boolean)
      c.fail_unsupported("Attention mask must be f32 (additive) or bool (true = attend)");
    if (mask->rank() > 4 || broadcast_shapes(c, {mask->shape(), scores_shape}) != scores_shape)
      c.fail_shape("Attention mask " + shape_to_string(mask->shape()) + " does not broadcast to " +
                   shape_to_string(scores_shape));
  }
  // Steps inside the attention (a quantization-aware export): per tensor, as the FakeQuant op they replace.
  auto step_of = [&](const std::optional<QuantParams>& qp, const char* what) {
    if (!qp) return std::optional<FakeQuantStep>{};
    if (qp->scale.size() != 1 || !(qp->scale[0] > 0.0f) || !std::isfinite(qp->scale[0]) || qp->n_min > qp->n_max ||
        (!qp->zero_point.empty() && qp->zero_point.size() != 1))
      c.fail_graph(std::string("Attention ") + what + " step must be one finite positive step per tensor with n_min <= n_max");
    return std::optional<FakeQuantStep>{FakeQuantStep(*qp, 0)};
  };
  const auto scores_step = step_of(at.scores_quant, "scores");
  const auto probs_step = step_of(at.probs_quant, "probabilities");
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  // Full score matrix, one [Nq, Nk] block per (batch, head): this is the plain definition, not a fast path.
  Tensor scores(DType::f32, scores_shape);
  float* ps = scores.data<float>();
  const float* pq = q.data<float>();
  const float* pk = k.data<float>();
  for (std::int64_t bh = 0; bh < nb * nh; ++bh)
    for (std::int64_t i = 0; i < nq; ++i)
      for (std::int64_t j = 0; j < nk; ++j) {
        float dot = 0.0f;
        for (std::int64_t e = 0; e < d; ++e) dot += pq[(bh * nq + i) * d + e] * pk[(bh * nk + j) * d + e];
        ps[(bh * nq + i) * nk + j] = scores_step ? (*scores_step)(dot * at.scale) : dot * at.scale;
      }
  if (mask) {
    BroadcastWalker walk(scores_shape, {mask->shape()});
    const bool additive = mask->dtype() == DType::f32;
    for (std::int64_t i = 0; i < scores.numel(); ++i, walk.next()) {
      if (additive) ps[i] += mask->data<float>()[walk.offset(0)];
      else if (!mask->data<bool>()[walk.offset(0)]) ps[i] = kNegInf;
    }
  }
  if (at.causal) {
    // Queries are the last Nq positions of the Nk keys (a decode step sees the whole cache).
    for (std::int64_t bh = 0; bh < nb * nh; ++bh)
      for (std::int64_t i = 0; i < nq; ++i)
        for (std::int64_t j = std::max<std::int64_t>(0, i + (nk - nq) + 1); j < nk; ++j)
          ps[(bh * nq + i) * nk + j] = kNegInf;
  }
  // A row with every key masked has no defined softmax and yields NaN, as in PyTorch.
  for (std::int64_t row = 0; row < nb * nh * nq; ++row) softmax_strided(ps + row * nk, ps + row * nk, nk, 1);
  if (probs_step)
    for (std::int64_t i = 0; i < scores.numel(); ++i) ps[i] = (*probs_step)(ps[i]);

  Tensor out(DType::f32, {nb, nh, nq, dv});
  const float* pv = v.data<float>();
  float* py = out.data<float>();
  for (std::int64_t bh = 0; bh < nb * nh; ++bh)
    for (std::int64_t i = 0; i < nq; ++i)
      for (std::int64_t e = 0; e < dv; ++e) {
        float acc = 0.0f;
        for (std::int64_t j = 0; j < nk; ++j) acc += ps[(bh * nq + i) * nk + j] * pv[(bh * nk + j) * dv + e];
        py[(bh * nq + i) * dv + e] = acc;
      }
  return {std::move(out)};
}

}  // namespace snnconv::ann::detail
