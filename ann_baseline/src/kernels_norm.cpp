// Fast whole-vector kernels (f32): LayerNorm over trailing dims with a per-column scale/bias, Softmax over
// the last axis, and Attention (attention_kernel.cpp). Rows are independent, so row chunks run in parallel;
// LayerNorm's row sums are Eigen's vectorised reductions (an order fixed by the row length), Softmax is the
// reference's function on each row.
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "kernels.hpp"
#include "attention_kernel.hpp"
#include "reference_detail.hpp"
#include "vec_avx2.hpp"

namespace snnconv::ann::kernels {
namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

int norm_axis(std::int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

void layer_norm(const KernelArgs& a) {
  const auto& at = std::get<LayerNormAttrs>(a.node.attrs);
  const Tensor& x = *a.in[0];
  const float* scale = a.in[1]->data<float>();
  const float* bias = a.in.size() > 2 && a.in[2] ? a.in[2]->data<float>() : nullptr;
  const auto ax = static_cast<std::size_t>(norm_axis(at.axis, x.rank()));
  const std::int64_t rows = product(x.shape(), 0, ax), cols = product(x.shape(), ax, x.shape().size());
  const float* px = x.data<float>();
  float* py = a.out[0].data<float>();
  const float n = static_cast<float>(cols);
  for_rows(rows, kRowChunk, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* row = px + r * cols;
      float* out = py + r * cols;
      // Eigen's vectorised sums: the order depends on cols only (thread-count independent), but differs from
      // the reference's left-to-right sum in the last bits (tested to 1e-5).
      const Eigen::Map<const Eigen::ArrayXf> xr(row, cols);
      const float mean = xr.sum() / n;
      const float sq = (xr - mean).square().sum();
      const float inv_std = 1.0f / std::sqrt(sq / n + at.epsilon);
      if (bias)
        for (std::int64_t j = 0; j < cols; ++j) out[j] = (row[j] - mean) * inv_std * scale[j] + bias[j];
      else
        for (std::int64_t j = 0; j < cols; ++j) out[j] = (row[j] - mean) * inv_std * scale[j];
    }
  }, rows * cols);
}

// One row of the softmax, vectorised: the max over 8 lanes (exact in any order), e = exp(x - max) by the 8-wide
// polynomial (vec::exp8, ~2 ulp), the sum in 8 lane partial sums then a fixed horizontal order (an order that
// depends on n only), y = e / sum. A row whose max is not finite (a NaN, +inf, or every entry -inf) takes the
// reference's function, which defines those cases.
void softmax_row(const float* x, float* y, std::int64_t n) {
#ifdef SNNCONV_VEC_AVX2
  if (n < 8) return detail::softmax_strided(x, y, n, 1);
  __m256 mv = _mm256_loadu_ps(x);
  __m256 nan = _mm256_cmp_ps(mv, mv, _CMP_UNORD_Q);
  std::int64_t i = 8;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    mv = _mm256_max_ps(mv, v);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  if (i < n) {  // the last 8 entries again (overlapping): the max does not care
    const __m256 v = _mm256_loadu_ps(x + n - 8);
    mv = _mm256_max_ps(mv, v);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  alignas(32) float lane[8];
  _mm256_store_ps(lane, mv);
  float m = lane[0];
  for (int l = 1; l < 8; ++l) m = std::max(m, lane[l]);
  if (_mm256_movemask_ps(nan) != 0 || !std::isfinite(m)) return detail::softmax_strided(x, y, n, 1);
  const __m256 mb = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = vec::exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
    _mm256_storeu_ps(y + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {  // the tail through a padded vector: the padding is -inf, whose exp is 0
    alignas(32) float pad[8];
    std::fill_n(pad, 8, -std::numeric_limits<float>::infinity());
    std::copy(x + i, x + n, pad);
    const __m256 e = vec::exp8(_mm256_sub_ps(_mm256_load_ps(pad), mb));
    _mm256_store_ps(pad, e);
    std::copy(pad, pad + (n - i), y + i);
    sum = _mm256_add_ps(sum, e);
  }
  _mm256_store_ps(lane, sum);
  const float total = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
  const __m256 tv = _mm256_set1_ps(total);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_div_ps(_mm256_loadu_ps(y + i), tv));
  for (; i < n; ++i) y[i] /= total;
#else
  detail::softmax_strided(x, y, n, 1);
#endif
}

void softmax_last(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const std::int64_t n = x.shape().back();
  const std::int64_t rows = n == 0 ? 0 : x.numel() / n;
  const float* px = x.data<float>();
  float* py = a.out[0].data<float>();
  for_rows(rows, kRowChunk, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) softmax_row(px + r * n, py + r * n, n);
  }, rows * n);
}

bool is_f32_static(const TensorType* t) { return t && t->dtype == DType::f32 && t->is_static(); }

}  // namespace

namespace {
// Writes into the executor's buffer; operands in the layout the planner chose (plan.cpp,
// fold_attention_transposes).
template <unsigned Layout> void attention(const KernelArgs& a) {
  const Tensor* mask = a.in.size() > 3 ? a.in[3] : nullptr;
  attention_online_into(*a.in[0], *a.in[1], *a.in[2], mask, std::get<AttentionAttrs>(a.node.attrs), Layout, a.out[0]);
}

template <unsigned... L> constexpr std::array<KernelFn, sizeof...(L)> attention_table(std::integer_sequence<unsigned, L...>) {
  return {attention<L>...};
}

}  // namespace

KernelFn attention_with_layout(unsigned bnhd) {
  static constexpr auto table = attention_table(std::make_integer_sequence<unsigned, 16>{});
  return table[bnhd & 15u];
}

KernelChoice choose_normalization(const Graph& g, const Node& n, std::span<const TensorType* const> types) {
  switch (n.kind) {
    case OpKind::LayerNorm: {
      // The mean / inv_std outputs (training graphs) stay on the reference.
      if (n.outputs.size() != 1 || types.size() < 2 || !is_f32_static(types[0]) || !is_f32_static(types[1]))
        return {};
      if (types.size() > 2 && types[2] && !is_f32_static(types[2])) return {};
      const Shape xs = types[0]->static_shape();
      const int rank = static_cast<int>(xs.size());
      const auto& at = std::get<LayerNormAttrs>(n.attrs);
      if (at.axis < -rank || at.axis >= rank) return {};
      const std::int64_t cols = product(xs, static_cast<std::size_t>(norm_axis(at.axis, rank)), xs.size());
      // A scale with one entry per normalised element, laid out as the trailing dims (what broadcasting
      // to X then means); anything else takes the reference's general broadcast.
      auto trailing = [&](const TensorType* t) {
        const Shape s = t->static_shape();
        if (product(s, 0, s.size()) != cols || s.size() > xs.size()) return false;
        std::size_t i = 0;
        while (i < s.size() && s[i] == 1) ++i;
        for (std::size_t j = i; j < s.size(); ++j)
          if (s[j] != xs[xs.size() - s.size() + j]) return false;
        return true;
      };
      if (!trailing(types[1]) || (types.size() > 2 && types[2] && !trailing(types[2]))) return {};
      return {layer_norm, "layer_norm"};
    }
    case OpKind::Softmax: {
      if (types.size() != 1 || !is_f32_static(types[0])) return {};
      const int rank = types[0]->rank();
      const auto& at = std::get<SoftmaxAttrs>(n.attrs);
      const std::int64_t axis = at.axis;
      if (rank == 0 || (axis != -1 && axis != rank - 1) || at.causal) return {};  // causal: reference kernel
      return {softmax_last, "softmax"};
    }
    case OpKind::Attention: {
      // The online-softmax kernel (attention_kernel.cpp): never materialises the Nq x Nk scores (with steps
      // inside the attention, its two-pass rows hold one query tile's scores).
      for (const TensorType* t : types)
        if (t && !t->is_static()) return {};
      if (types.size() < 3 || !is_f32_static(types[0]) || !is_f32_static(types[1]) || !is_f32_static(types[2]))
        return {};
      return {attention<0>, "online_attention"};
    }
    default: return {};
  }
}

}  // namespace snnconv::ann::kernels
