// The two products of the row attention kernel (attention_short.cpp) with 16-lane AVX-512 FMAs. Built with the
// AVX-512 flags (snnconv_avx512_sources in CMake), intrinsics only, called only when active_isa() >= avx512.
// Every score and output element is the same FMA chain as in the AVX2 versions (attention_short.cpp), and the
// normalisation the same two float operations, so both ISAs give the same bits (tested).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "attention_kernel.hpp"
#include "avx512_lanes.hpp"

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

}  // namespace

void scores(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt, std::int64_t ldk,
            std::int64_t keys16, float* s, std::int64_t lds) {
  if (keys16 > 64) {  // long rows (tiles of 8 rows when causal): 8 rows x 32 keys at a time
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
