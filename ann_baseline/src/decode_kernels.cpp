// Row-invariant decode kernels (decode_kernels.hpp): attention of a window over the KV cache, transposes,
// embedding lookups. With AVX2 + FMA the dot products and weighted sums are explicit _mm256_fmadd_ps chains, so
// the compiler cannot contract or reorder them differently for different window sizes.
#include "decode_kernels.hpp"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "reference_detail.hpp"
#include "vec_avx2.hpp"
#include "snnconv/core/error.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SNNCONV_DECODE_AVX2 1
#endif

namespace snnconv::ann::decode_kernels {
#ifdef SNNCONV_DECODE_AVX2
using vec::exp8;
using vec::lanes;
using vec::map8;
#endif
namespace {


// q . k over d elements in a fixed order: one 8-wide FMA chain (the last vector masked), then a fixed
// horizontal sum.
float dot(const float* q, const float* k, std::int64_t d) {
#ifdef SNNCONV_DECODE_AVX2
  __m256 acc = _mm256_setzero_ps();
  std::int64_t e = 0;
  for (; e + 8 <= d; e += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(k + e), acc);
  if (e < d) {
    const __m256i m = lanes(d - e);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(q + e, m), _mm256_maskload_ps(k + e, m), acc);
  }
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 h2 = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h2, _mm_shuffle_ps(h2, h2, 1)));
#else
  float sum = 0.0f;
  for (std::int64_t e = 0; e < d; ++e) sum = std::fma(q[e], k[e], sum);
  return sum;
#endif
}

// y[0..dv) = sum_j p[j] * v_j / l, accumulated in key order (one FMA chain per element).
void weighted_sum(const float* p, const float* v, std::int64_t keys, std::int64_t dv, float inv_l, float* y) {
#ifdef SNNCONV_DECODE_AVX2
  const __m256 inv = _mm256_set1_ps(inv_l);
  // Up to four vectors (32 elements) per pass over the keys: independent chains hide the FMA latency; the
  // last vector of the row may be partial (masked).
  for (std::int64_t e0 = 0; e0 < dv; e0 += 32) {
    const std::int64_t width = std::min<std::int64_t>(32, dv - e0);
    const int nv = static_cast<int>((width + 7) / 8);
    const __m256i tail = lanes(width - 8 * (nv - 1));
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (std::int64_t j = 0; j < keys; ++j) {
      const __m256 pj = _mm256_set1_ps(p[j]);
      const float* vj = v + j * dv + e0;
      for (int t = 0; t + 1 < nv; ++t) acc[t] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * t), acc[t]);
      acc[nv - 1] = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj + 8 * (nv - 1), tail), acc[nv - 1]);
    }
    for (int t = 0; t + 1 < nv; ++t) _mm256_storeu_ps(y + e0 + 8 * t, _mm256_mul_ps(acc[t], inv));
    _mm256_maskstore_ps(y + e0 + 8 * (nv - 1), tail, _mm256_mul_ps(acc[nv - 1], inv));
  }
#else
  for (std::int64_t e = 0; e < dv; ++e) {
    float acc = 0.0f;
    for (std::int64_t j = 0; j < keys; ++j) acc = std::fma(p[j], v[j * dv + e], acc);
    y[e] = acc * inv_l;
  }
#endif
}

void attention_head(const AttentionArgs& a, std::int64_t bh, std::vector<float>& p) {
  const float* q = a.q + bh * a.q_head_stride;
  const float* k = a.k + bh * a.k_head_stride;
  const float* v = a.v + bh * a.v_head_stride;
  float* y = a.y + bh * a.nq * a.dv;
  for (std::int64_t i = 0; i < a.nq; ++i) {
    const std::int64_t keys = a.nk - a.nq + i + 1;
    const float* qi = q + i * a.d;
    float m = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (std::int64_t j = 0; j < keys; ++j) {
      const float s = dot(qi, k + j * a.d, a.d) * a.scale;
      p[static_cast<std::size_t>(j)] = s;
      nan = nan || std::isnan(s);
      m = std::max(m, s);
    }
    float* yi = y + i * a.dv;
    if (nan || keys <= 0) {
      std::fill(yi, yi + a.dv, std::numeric_limits<float>::quiet_NaN());
      continue;
    }
    float l = 0.0f;
#ifdef SNNCONV_DECODE_AVX2
    const __m256 mv = _mm256_set1_ps(m);
    map8(p.data(), keys, [&](__m256 s) { return exp8(_mm256_sub_ps(s, mv)); });
    for (std::int64_t j = 0; j < keys; ++j) l += p[static_cast<std::size_t>(j)];
#else
    for (std::int64_t j = 0; j < keys; ++j) {
      const float e = std::exp(p[static_cast<std::size_t>(j)] - m);
      p[static_cast<std::size_t>(j)] = e;
      l += e;
    }
#endif
    weighted_sum(p.data(), v, keys, a.dv, 1.0f / l, yi);
  }
}

}  // namespace

void attention_rows(const AttentionArgs& a) {
  const std::int64_t heads = a.batch * a.heads;
  const std::int64_t work = heads * a.nq * a.nk * (a.d + a.dv);
  if (work < (std::int64_t{1} << 18) || heads < 2) {
    std::vector<float> p(static_cast<std::size_t>(a.nk));
    for (std::int64_t bh = 0; bh < heads; ++bh) attention_head(a, bh, p);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, heads), [&](const tbb::blocked_range<std::int64_t>& r) {
    std::vector<float> p(static_cast<std::size_t>(a.nk));
    for (std::int64_t bh = r.begin(); bh != r.end(); ++bh) attention_head(a, bh, p);
  });
}

void transpose(const std::byte* x, const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& perm,
               std::byte* y, std::size_t elem) {
  const std::size_t rank = shape.size();
  std::vector<std::int64_t> x_stride(rank, 1);
  for (std::size_t d = rank; d-- > 1;) x_stride[d - 1] = x_stride[d] * shape[d];
  // Output dims and the input stride each walks; a trailing axis that stays last is copied as one run.
  std::vector<std::int64_t> dims(rank), stride(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    dims[d] = shape[static_cast<std::size_t>(perm[d])];
    stride[d] = x_stride[static_cast<std::size_t>(perm[d])];
  }
  std::size_t outer_rank = rank;
  std::size_t run = elem;
  if (rank > 0 && stride[rank - 1] == 1) {
    run = static_cast<std::size_t>(dims[rank - 1]) * elem;
    outer_rank = rank - 1;
  }
  std::int64_t outer = 1;
  for (std::size_t d = 0; d < outer_rank; ++d) outer *= dims[d];
  std::vector<std::int64_t> idx(outer_rank, 0);
  std::int64_t offset = 0;  // input element offset of idx
  for (std::int64_t o = 0; o < outer; ++o) {
    std::memcpy(y + static_cast<std::size_t>(o) * run, x + static_cast<std::size_t>(offset) * elem, run);
    for (std::size_t d = outer_rank; d-- > 0;) {
      offset += stride[d];
      if (++idx[d] < dims[d]) break;
      offset -= stride[d] * dims[d];
      idx[d] = 0;
    }
  }
}

void gather_rows(const std::byte* table, std::int64_t rows, std::int64_t row_bytes, const std::int64_t* index,
                 std::int64_t count, std::byte* y) {
  for (std::int64_t i = 0; i < count; ++i) {
    std::int64_t r = index[i];
    if (r < 0) r += rows;
    if (r < 0 || r >= rows)
      throw ShapeError("Gather: index " + std::to_string(index[i]) + " outside a table of " + std::to_string(rows) +
                       " rows");
    std::memcpy(y + i * row_bytes, table + r * row_bytes, static_cast<std::size_t>(row_bytes));
  }
}

}  // namespace snnconv::ann::decode_kernels
