// Row-invariant small-batch Linear for the decode path (see decode_kernels.hpp). With AVX2 + FMA the inner
// loops are explicit _mm256_fmadd_ps chains, so the compiler cannot contract or reorder them differently in
// the different tile shapes; without them, one portable std::fma chain per element.
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
#include "snnconv/core/error.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SNNCONV_DECODE_AVX2 1
#endif

namespace snnconv::ann::decode_kernels {
namespace {

struct Problem {
  const float* x;
  const float* w;
  float* y;
  std::int64_t m, k, n;
};

// One element chain, the reference shape of every path: acc = fma(x[r, i], w[i, j], acc) for i = 0..k-1.
// (A vector FMA lane and std::fma round identically, so the scalar tail equals the vector tiles bit for bit.)
void scalar_columns(const Problem& p, std::int64_t r0, std::int64_t r1, std::int64_t j0, std::int64_t j1) {
  for (std::int64_t r = r0; r < r1; ++r)
    for (std::int64_t j = j0; j < j1; ++j) {
      float acc = 0.0f;
      for (std::int64_t i = 0; i < p.k; ++i) acc = std::fma(p.x[r * p.k + i], p.w[i * p.n + j], acc);
      p.y[r * p.n + j] = acc;
    }
}

#ifdef SNNCONV_DECODE_AVX2
// R rows x V vectors of 8 columns at (r0, j0): R*V independent accumulator chains, each weight vector loaded
// once per k for all R rows. The op sequence of one element does not depend on R or V.
template <int R, int V>
void tile(const Problem& p, std::int64_t r0, std::int64_t j0) {
  // A flat accumulator array: GCC keeps it in registers (a 2-D array made it spill every iteration).
  __m256 acc[R * V];
#pragma GCC unroll 16
  for (int a = 0; a < R * V; ++a) acc[a] = _mm256_setzero_ps();
  const float* xr = p.x + r0 * p.k;
  const float* wk = p.w + j0;
  for (std::int64_t i = 0; i < p.k; ++i, wk += p.n) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m256 xb = _mm256_broadcast_ss(xr + r * p.k + i);
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r * V + v] = _mm256_fmadd_ps(xb, _mm256_loadu_ps(wk + 8 * v), acc[r * V + v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(p.y + (r0 + r) * p.n + j0 + 8 * v, acc[r * V + v]);
}

// Rows [r0, r0 + R) over columns [j0, j1): tiles of V vectors, then one tile of the remaining whole
// vectors, then scalars.
template <int R, int V>
void row_block(const Problem& p, std::int64_t r0, std::int64_t j0, std::int64_t j1) {
  std::int64_t j = j0;
  for (; j + 8 * V <= j1; j += 8 * V) tile<R, V>(p, r0, j);
  [&]<int... T>(std::integer_sequence<int, T...>) {
    const std::int64_t left = (j1 - j) / 8;
    ((left == T + 1 ? (tile<R, T + 1>(p, r0, j), 0) : 0), ...);
  }
  (std::make_integer_sequence<int, V - 1>{});
  j += (j1 - j) / 8 * 8;
  scalar_columns(p, r0, r0 + R, j, j1);
}

// Tile shapes per row count, measured on the 2-core EPYC (docs/speculative.md): as many independent chains
// as the 16 ymm registers allow; a single row gets the widest tile (it is bound by weight loads).
void columns(const Problem& p, std::int64_t j0, std::int64_t j1) {
  std::int64_t r = 0;
  for (; r + 6 <= p.m; r += 6) row_block<6, 2>(p, r, j0, j1);
  switch (p.m - r) {
    case 5:
      row_block<5, 2>(p, r, j0, j1);
      break;
    case 4:
      row_block<4, 3>(p, r, j0, j1);
      break;
    case 3:
      row_block<3, 4>(p, r, j0, j1);
      break;
    case 2:
      row_block<2, 6>(p, r, j0, j1);
      break;
    case 1:
      row_block<1, 16>(p, r, j0, j1);
      break;
    default:
      break;
  }
}

// e^x for x <= 88 (below -87.3: 0): x = n ln2 + r with |r| <= ln2/2 (ln2 split in a part exact in float and
// the rest), e^r by its Taylor polynomial to degree 7 (remainder < 6e-9 relative), times 2^n from the
// exponent bits.
__m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 e = _mm256_set1_ps(1.0f / 5040.0f);
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 720.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 120.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 24.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 6.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(0.5f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(underflow, y);
}

// GELU (exact form) 0.5 x (1 + erf(x / sqrt 2)) with erf from Abramowitz & Stegun 7.1.26,
// erf(z) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^(-z^2), t = 1 / (1 + p z), z >= 0, odd in z:
// absolute error <= 1.5e-7 (so the GELU is within ~1e-7 of x relative).
__m256 gelu8(__m256 x) {
  const __m256 z = _mm256_div_ps(x, _mm256_set1_ps(1.41421356237309504880f));
  const __m256 sign = _mm256_and_ps(z, _mm256_set1_ps(-0.0f));
  const __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  const __m256 t =
      _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), az, _mm256_set1_ps(1.0f)));
  __m256 poly = _mm256_set1_ps(1.061405429f);
  poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(-1.453152027f));
  poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(1.421413741f));
  poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(-0.284496736f));
  poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(0.254829592f));
  poly = _mm256_mul_ps(poly, t);
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(az, az)));
  const __m256 erf_abs = _mm256_fnmadd_ps(poly, e, _mm256_set1_ps(1.0f));
  const __m256 erf = _mm256_or_ps(erf_abs, sign);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

// y[i] = f(x[i]) for i < n with every element through the 8-wide code (the tail via a padded copy), so an
// element's result does not depend on its position.
template <typename F>
void map8(float* x, std::int64_t n, F f) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, f(_mm256_loadu_ps(x + i)));
  if (i == n) return;
  alignas(32) float pad[8] = {};
  std::copy(x + i, x + n, pad);
  _mm256_store_ps(pad, f(_mm256_load_ps(pad)));
  std::copy(pad, pad + (n - i), x + i);
}
#else
void columns(const Problem& p, std::int64_t j0, std::int64_t j1) {
  scalar_columns(p, 0, p.m, j0, j1);
}
#endif

float activate(Activation a, float v) {
  switch (a) {
    case Activation::none:
      return v;
    case Activation::relu:
      return v < 0.0f ? 0.0f : v;
    case Activation::gelu:
      return detail::gelu_exact(v);
    case Activation::gelu_tanh:
      return detail::gelu_tanh(v);
    case Activation::tanh:
      return std::tanh(v);
    case Activation::silu:
      return detail::silu(v);
  }
  return v;
}

}  // namespace

void linear_rows(const float* x, const float* w, const float* bias, float* y, std::int64_t m, std::int64_t k,
                 std::int64_t n, Activation act) {
  const Problem p{x, w, y, m, k, n};
  // Column blocks (a multiple of every tile width) for threads; small problems stay on this thread.
  constexpr std::int64_t kBlock = 384;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  if (m * n * k < (std::int64_t{1} << 20) || blocks < 2) {
    columns(p, 0, n);
  } else {
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, blocks), [&](const tbb::blocked_range<std::int64_t>& b) {
      columns(p, b.begin() * kBlock, std::min(n, b.end() * kBlock));
    });
  }
  if (bias == nullptr && act == Activation::none) return;
  for (std::int64_t r = 0; r < m; ++r) {
    float* row = y + r * n;
    if (bias)
      for (std::int64_t j = 0; j < n; ++j) row[j] += bias[j];
#ifdef SNNCONV_DECODE_AVX2
    if (act == Activation::gelu) {
      map8(row, n, gelu8);
      continue;
    }
#endif
    if (act != Activation::none)
      for (std::int64_t j = 0; j < n; ++j) row[j] = activate(act, row[j]);
  }
}

namespace {

#ifdef SNNCONV_DECODE_AVX2
// Lane mask of the first `n` (0..8) lanes, for the partial last vector of a row.
__m256i lanes(std::int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

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
