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
[[maybe_unused]] void weighted_sum(const float* p, const float* v, std::int64_t keys, std::int64_t dv, float inv_l,
                                   float* y) {
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

#ifdef SNNCONV_DECODE_AVX2
// dot(qi, k_u) for the eight keys k_u = k + u * d (d a multiple of 8): each key's own 8-wide FMA chain and
// dot()'s fixed horizontal sum ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)), done for two keys per
// vector, so the same bits as eight dot() calls with the chains side by side.
void dot8(const float* qi, const float* k, std::int64_t d, float* out) {
  __m256 acc[8];
  for (__m256& x : acc) x = _mm256_setzero_ps();
  for (std::int64_t e = 0; e < d; e += 8) {
    const __m256 qv = _mm256_loadu_ps(qi + e);
#pragma GCC unroll 8
    for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + u * d + e), acc[u]);
  }
#pragma GCC unroll 4
  for (int u = 0; u < 8; u += 2) {
    const __m256 h = _mm256_add_ps(_mm256_permute2f128_ps(acc[u], acc[u + 1], 0x20),
                                   _mm256_permute2f128_ps(acc[u], acc[u + 1], 0x31));  // lane i + lane i+4
    const __m256 h2 = _mm256_add_ps(h, _mm256_shuffle_ps(h, h, 0xEE));                 // (0 + 2), (1 + 3)
    const __m256 h3 = _mm256_add_ps(h2, _mm256_shuffle_ps(h2, h2, 0x55));              // then their sum
    out[u] = _mm256_cvtss_f32(h3);
    out[u + 1] = _mm_cvtss_f32(_mm256_extractf128_ps(h3, 1));
  }
}
#endif

#ifdef SNNCONV_DECODE_AVX2
// Rows y_r = sum_{j < keys[r]} p_r[j] v_j * inv_l[r] of g queries, NV vectors (8 NV elements) per pass over the
// keys: every element has its own FMA chain in key order, whatever g and NV are.
template <int NV, int G>
void weighted_sums(const AttentionArgs& a, const float* v, float* const* pr, const std::int64_t* keys,
                   const float* inv_l, float* y) {
  constexpr std::int64_t g = G;
  for (std::int64_t e0 = 0; e0 < a.dv; e0 += 8 * NV) {
    const std::int64_t width = std::min<std::int64_t>(8 * NV, a.dv - e0);
    const int nv = static_cast<int>((width + 7) / 8);
    const __m256i tail = lanes(width - 8 * (nv - 1));
    __m256 acc[G][NV];
    for (std::int64_t r = 0; r < g; ++r)
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm256_setzero_ps();
    for (std::int64_t j = 0; j < keys[g - 1]; ++j) {
      const float* vj = v + j * a.dv + e0;
      __m256 vv[NV];
      for (int t = 0; t < NV; ++t)
        vv[t] = t + 1 < nv ? _mm256_loadu_ps(vj + 8 * t) : t + 1 == nv ? _mm256_maskload_ps(vj + 8 * t, tail)
                                                                      : _mm256_setzero_ps();
#pragma GCC unroll 6
      for (std::int64_t r = 0; r < g; ++r) {
        if (j >= keys[r]) continue;
        const __m256 pj = _mm256_set1_ps(pr[r][j]);
#pragma GCC unroll 4
        for (int t = 0; t < NV; ++t) acc[r][t] = _mm256_fmadd_ps(pj, vv[t], acc[r][t]);
      }
    }
    for (std::int64_t r = 0; r < g; ++r) {
      float* yi = y + r * a.dv + e0;
      const __m256 inv = _mm256_set1_ps(inv_l[r]);
      for (int t = 0; t + 1 < nv; ++t) _mm256_storeu_ps(yi + 8 * t, _mm256_mul_ps(acc[r][t], inv));
      _mm256_maskstore_ps(yi + 8 * (nv - 1), tail, _mm256_mul_ps(acc[r][nv - 1], inv));
    }
  }
}
#endif

// Queries [i0, i0 + g) of head bh (g <= kQueryGroup), each with its own causal key count. Every number is
// computed as for one query alone (the same chains in the same order; the queries of the group only run side
// by side to hide FMA latency and to read each key and value row once), so a row's result does not depend on
// the window it is in.
constexpr std::int64_t kQueryGroup = 6;

void attention_group(const AttentionArgs& a, std::int64_t bh, std::int64_t i0, std::int64_t g, std::vector<float>& p) {
  const float* q = a.q + bh * a.q_head_stride;
  const float* k = a.k + bh * a.k_head_stride;
  const float* v = a.v + bh * a.v_head_stride;
  float* y = a.y + bh * a.nq * a.dv;
  std::int64_t keys[kQueryGroup] = {};
  float inv_l[kQueryGroup];
  bool bad[kQueryGroup];
  float* pr[kQueryGroup];
  for (std::int64_t r = 0; r < g; ++r) {
    const std::int64_t i = i0 + r;
    keys[r] = a.nk - a.nq + i + 1;
    pr[r] = p.data() + r * a.nk;
    const float* qi = q + i * a.d;
    std::int64_t j = 0;
#ifdef SNNCONV_DECODE_AVX2
    if (a.d % 8 == 0)
      for (; j + 8 <= keys[r]; j += 8) dot8(qi, k + j * a.d, a.d, pr[r] + j);
#endif
    for (; j < keys[r]; ++j) pr[r][j] = dot(qi, k + j * a.d, a.d);
    // Scale, largest score, any NaN. The maximum is exact in any order (its sign of zero may differ, which
    // exp(s - m) does not see), so it is taken 8 lanes at a time.
    float m = -std::numeric_limits<float>::infinity();
    bool nan = false;
    j = 0;
#ifdef SNNCONV_DECODE_AVX2
    const __m256 scale = _mm256_set1_ps(a.scale);
    __m256 mv8 = _mm256_set1_ps(m), nan8 = _mm256_setzero_ps();
    for (; j + 8 <= keys[r]; j += 8) {
      const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(pr[r] + j), scale);
      _mm256_storeu_ps(pr[r] + j, s);
      nan8 = _mm256_or_ps(nan8, _mm256_cmp_ps(s, s, _CMP_UNORD_Q));
      mv8 = _mm256_max_ps(mv8, s);
    }
    alignas(32) float lane_max[8];
    _mm256_store_ps(lane_max, mv8);
    for (const float x : lane_max) m = std::max(m, x);
    nan = _mm256_movemask_ps(nan8) != 0;
#endif
    for (; j < keys[r]; ++j) {
      const float s = pr[r][j] * a.scale;
      pr[r][j] = s;
      nan = nan || std::isnan(s);
      m = std::max(m, s);
    }
    bad[r] = nan || keys[r] <= 0;
    if (bad[r]) continue;
#ifdef SNNCONV_DECODE_AVX2
    const __m256 mv = _mm256_set1_ps(m);
    map8(pr[r], keys[r], [&](__m256 s) { return exp8(_mm256_sub_ps(s, mv)); });
#else
    for (j = 0; j < keys[r]; ++j) pr[r][j] = std::exp(pr[r][j] - m);
#endif
  }
  // l per query: its own chain of adds in key order, the queries' chains interleaved.
  float l[kQueryGroup] = {};
  for (std::int64_t j = 0; j < keys[g - 1]; ++j)
    for (std::int64_t r = 0; r < g; ++r)
      if (j < keys[r]) l[r] += pr[r][j];
  for (std::int64_t r = 0; r < g; ++r) inv_l[r] = 1.0f / l[r];
#ifdef SNNCONV_DECODE_AVX2
  // y = sum_j p[j] v_j / l: per element one FMA chain in key order (as weighted_sum); every query of the group
  // at once, 32 elements each for up to 3 queries, 16 for more (12 accumulators either way).
  float* yg = y + i0 * a.dv;
  switch (g) {
    case 1: weighted_sums<4, 1>(a, v, pr, keys, inv_l, yg); break;
    case 2: weighted_sums<4, 2>(a, v, pr, keys, inv_l, yg); break;
    case 3: weighted_sums<4, 3>(a, v, pr, keys, inv_l, yg); break;
    case 4: weighted_sums<2, 4>(a, v, pr, keys, inv_l, yg); break;
    case 5: weighted_sums<2, 5>(a, v, pr, keys, inv_l, yg); break;
    default: weighted_sums<2, 6>(a, v, pr, keys, inv_l, yg); break;
  }
#else
  for (std::int64_t r = 0; r < g; ++r) weighted_sum(pr[r], v, keys[r], a.dv, inv_l[r], y + (i0 + r) * a.dv);
#endif
  for (std::int64_t r = 0; r < g; ++r)
    if (bad[r]) std::fill(y + (i0 + r) * a.dv, y + (i0 + r + 1) * a.dv, std::numeric_limits<float>::quiet_NaN());
}

void attention_head(const AttentionArgs& a, std::int64_t bh, std::vector<float>& p) {
  for (std::int64_t i0 = 0; i0 < a.nq; i0 += kQueryGroup)
    attention_group(a, bh, i0, std::min(kQueryGroup, a.nq - i0), p);
}

}  // namespace

void attention_rows(const AttentionArgs& a) {
  const std::int64_t heads = a.batch * a.heads;
  const std::int64_t work = heads * a.nq * a.nk * (a.d + a.dv);
  if (work < (std::int64_t{1} << 18) || heads < 2) {
    std::vector<float> p(static_cast<std::size_t>(kQueryGroup * a.nk));
    for (std::int64_t bh = 0; bh < heads; ++bh) attention_head(a, bh, p);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, heads), [&](const tbb::blocked_range<std::int64_t>& r) {
    std::vector<float> p(static_cast<std::size_t>(kQueryGroup * a.nk));
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
