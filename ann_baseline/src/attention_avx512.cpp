// The two products of the row attention kernel (attention_short.cpp) with 16-lane AVX-512 FMAs. Built with the
// AVX-512 flags (snnconv_avx512_sources in CMake), intrinsics only, called only when active_isa() >= avx512.
// Every score and output element is the same FMA chain as in the AVX2 versions (attention_short.cpp), and the
// normalisation the same two float operations, so both ISAs give the same bits (tested).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "attention_kernel.hpp"
#include "avx512_lanes.hpp"

// g++ 12's avx512fintrin.h passes _mm512_undefined_ps() as the unused merge operand of the unmasked intrinsics
// (max, roundscale, cvtps): -Wmaybe-uninitialized flags it once inlined, a false positive about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace snnconv::ann::attention_avx512 {
namespace {


// s[r][16 v ..] for R rows and NV vectors of 16 keys: one FMA chain over e from 0.
template <int R, int NV>
void scores_rows(const float* q, std::int64_t ldq, std::int64_t d, const float* kt, std::int64_t ldk, float* s,
                 std::int64_t lds) {
  __m512 acc[R * NV];
#pragma GCC unroll 24
  for (int i = 0; i < R * NV; ++i) acc[i] = _mm512_setzero_ps();
  for (std::int64_t e = 0; e < d; ++e) {
    __m512 kv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) kv[v] = _mm512_load_ps(kt + e * ldk + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 qv = _mm512_set1_ps(q[r * ldq + e]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r * NV + v] = _mm512_fmadd_ps(qv, kv[v], acc[r * NV + v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_store_ps(s + r * lds + 16 * v, acc[r * NV + v]);
}

template <int NV>
void scores_block(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt,
                  std::int64_t ldk, float* s, std::int64_t lds) {
  constexpr int R = NV <= 2 ? 8 : 6;  // R * NV <= 24 accumulators of 32 zmm
  std::int64_t r = 0;
  for (; r + R <= rows; r += R) scores_rows<R, NV>(q + r * ldq, ldq, d, kt, ldk, s + r * lds, lds);
  for (; r < rows; ++r) scores_rows<1, NV>(q + r * ldq, ldq, d, kt, ldk, s + r * lds, lds);
}

// y[r][c0 .. c0 + 16 NC) = (0 + sum_j p[r][j] v[j][..]) * inv[r]; `cols` (<= 16 NC) columns are read and stored.
template <int R, int NC>
void pv_rows(const float* p, std::int64_t ldp, std::int64_t keys, const float* v, std::int64_t ldv, std::int64_t cols,
             const float* inv, float* y, std::int64_t ldy) {
  __m512 acc[R * NC];
#pragma GCC unroll 24
  for (int i = 0; i < R * NC; ++i) acc[i] = _mm512_setzero_ps();
  __mmask16 mask[NC];
#pragma GCC unroll 4
  for (int c = 0; c < NC; ++c) mask[c] = first_lanes(cols - 16 * c);
  for (std::int64_t j = 0; j < keys; ++j) {
    __m512 vv[NC];
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) vv[c] = _mm512_maskz_loadu_ps(mask[c], v + j * ldv + 16 * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 pr = _mm512_set1_ps(p[r * ldp + j]);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) acc[r * NC + c] = _mm512_fmadd_ps(pr, vv[c], acc[r * NC + c]);
    }
  }
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 ir = _mm512_set1_ps(inv[r]);
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c)
      _mm512_mask_storeu_ps(y + r * ldy + 16 * c, mask[c], _mm512_mul_ps(_mm512_add_ps(zero, acc[r * NC + c]), ir));
  }
}

template <int NC>
void pv_block(const float* p, std::int64_t ldp, std::int64_t rows, std::int64_t keys, const float* v, std::int64_t ldv,
              std::int64_t cols, const float* inv, float* y, std::int64_t ldy) {
  constexpr int R = NC == 1 ? 8 : NC == 2 ? 8 : 6;
  std::int64_t r = 0;
  for (; r + R <= rows; r += R) pv_rows<R, NC>(p + r * ldp, ldp, keys, v, ldv, cols, inv + r, y + r * ldy, ldy);
  for (; r < rows; ++r) pv_rows<1, NC>(p + r * ldp, ldp, keys, v, ldv, cols, inv + r, y + r * ldy, ldy);
}

// exp(x) of a long row's shifted score: row_exp8's operations (attention_short.cpp) on 16 lanes, the same bits.
inline __m512 row_exp16(__m512 x) {
  using namespace row_exp;
  const __m512 xc = _mm512_max_ps(_mm512_set1_ps(kExpLow), x);  // a NaN x is max's second operand: kept
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Hi), xc);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
#pragma GCC unroll 8
  for (int i = 1; i < 8; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpLow), _CMP_LT_OQ);
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), _mm512_mul_ps(p, _mm512_castsi512_ps(e)));
}

}  // namespace

void softmax_long_rows(float* s, std::int64_t lds, std::int64_t rows, std::int64_t keys, std::int64_t limit0,
                       bool causal, float scale_f, float* inv) {
  const __m512 scale = _mm512_set1_ps(scale_f), neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 zero = _mm512_setzero_ps();
  const std::int64_t nv = (keys + 15) / 16;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * lds;
    const std::int64_t limit = causal ? std::clamp<std::int64_t>(limit0 + r, 0, keys) : keys;
    const std::int64_t nv_live = (limit + 15) / 16;
    // Pass 1 over the live packets: scale, -inf past the limit, the max (exact in any order) and any NaN.
    __m512 mx0 = neg_inf, mx1 = neg_inf;
    __mmask16 nan = 0;
    for (std::int64_t v = 0; v < nv_live; ++v) {
      const __m512 x = _mm512_mask_mul_ps(neg_inf, first_lanes(limit - 16 * v), _mm512_load_ps(sr + 16 * v), scale);
      nan |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
      if (v & 1) mx1 = _mm512_max_ps(mx1, x);
      else mx0 = _mm512_max_ps(mx0, x);
      _mm512_store_ps(sr + 16 * v, x);
    }
    const __m512 mxv = _mm512_max_ps(mx0, mx1);
    __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(mxv), _mm512_extractf32x8_ps(mxv, 1));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float m = nan != 0 ? std::numeric_limits<float>::quiet_NaN() : _mm_cvtss_f32(m4);
    const __m512 mv = _mm512_set1_ps(m == -std::numeric_limits<float>::infinity() ? 0.0f : m);
    for (std::int64_t v = nv_live; v < nv; ++v) _mm512_store_ps(sr + 16 * v, zero);
    auto p_at = [&](std::int64_t v) {
      const __m512 p = _mm512_maskz_mov_ps(first_lanes(limit - 16 * v),
                                           row_exp16(_mm512_sub_ps(_mm512_load_ps(sr + 16 * v), mv)));
      _mm512_store_ps(sr + 16 * v, p);
      return p;
    };
    // Even packets into one running sum, odd into the other: lane halves of the two are the AVX2 form's four
    // running 8-lane sums (8-key packet index mod 4 = 0, 1 | 2, 3).
    __m512 even = zero, odd = zero;
    std::int64_t v = 0;
    for (; v + 2 <= nv_live; v += 2) {
      even = _mm512_add_ps(even, p_at(v));
      odd = _mm512_add_ps(odd, p_at(v + 1));
    }
    if (v < nv_live) even = _mm512_add_ps(even, p_at(v));
    const __m512 both = _mm512_add_ps(even, odd);  // lanes 0-7: sums 0 + 2, lanes 8-15: sums 1 + 3
    const __m256 t = _mm256_add_ps(_mm512_castps512_ps256(both), _mm512_extractf32x8_ps(both, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    const float l = _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
    inv[r] = l > 0.0f ? 1.0f / l : std::numeric_limits<float>::quiet_NaN();
  }
}

void scores(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt, std::int64_t ldk,
            std::int64_t keys16, float* s, std::int64_t lds) {
  if (keys16 > 64 || rows <= 8) {  // long rows (tiles of 8 rows when causal): 8 rows x 32 keys at a time
    for (std::int64_t c0 = 0; c0 < keys16; c0 += 32) {
      if (keys16 - c0 >= 32) scores_block<2>(q, ldq, rows, d, kt + c0, ldk, s + c0, lds);
      else scores_block<1>(q, ldq, rows, d, kt + c0, ldk, s + c0, lds);
    }
    return;
  }
  for (std::int64_t c0 = 0; c0 < keys16; c0 += 64) {
    const float* k0 = kt + c0;
    float* s0 = s + c0;
    switch (std::min<std::int64_t>(64, keys16 - c0) / 16) {
      case 1: scores_block<1>(q, ldq, rows, d, k0, ldk, s0, lds); break;
      case 2: scores_block<2>(q, ldq, rows, d, k0, ldk, s0, lds); break;
      case 3: scores_block<3>(q, ldq, rows, d, k0, ldk, s0, lds); break;
      default: scores_block<4>(q, ldq, rows, d, k0, ldk, s0, lds); break;
    }
  }
}

void probs_times_v(const float* p, std::int64_t ldp, std::int64_t rows, std::int64_t keys, const float* v,
                   std::int64_t ldv, std::int64_t dv, const float* inv, float* y, std::int64_t ldy) {
  for (std::int64_t c0 = 0; c0 < dv; c0 += 64) {
    const std::int64_t cols = std::min<std::int64_t>(64, dv - c0);
    switch ((cols + 15) / 16) {
      case 1: pv_block<1>(p, ldp, rows, keys, v + c0, ldv, cols, inv, y + c0, ldy); break;
      case 2: pv_block<2>(p, ldp, rows, keys, v + c0, ldv, cols, inv, y + c0, ldy); break;
      case 3: pv_block<3>(p, ldp, rows, keys, v + c0, ldv, cols, inv, y + c0, ldy); break;
      default: pv_block<4>(p, ldp, rows, keys, v + c0, ldv, cols, inv, y + c0, ldy); break;
    }
  }
}

}  // namespace snnconv::ann::attention_avx512
