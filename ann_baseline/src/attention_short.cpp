// The row attention kernel (attention_kernel.hpp): up to kRowAttentionKeys keys, no steps inside the attention
// (a ViT's 17 tokens, a 128-token prompt). Per (batch, head) the keys are transposed once into a small [d, keys]
// block that stays in L1 / L2, and the scores of a few query rows at a time come from broadcast-FMA chains over
// it; P.V reads the value rows in place (AVX-512 versions of both products in attention_avx512.cpp, the same
// chains). No panel packing and no GEMM driver per head: at these sizes they cost more than the arithmetic.
// Up to kShortAttentionKeys keys the softmax of each row is the tiled kernel's own (Eigen's packet max, exp and
// sum order over the same 64-byte aligned rows padded to whole packets) on the tiled kernel's 32-row tiles, so
// both kernels give the same bits; longer rows take two passes over their scores in L1 and have bits of their
// own that do not depend on the rows computed with them (tests/ann_baseline/test_attention_kernel.cpp checks
// both).
#define EIGEN_DONT_PARALLELIZE  // threads come from TBB only
#include "attention_kernel.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "snnconv/ann_baseline/gemm.hpp"
#include "snnconv/core/cpu_features.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace snnconv::ann {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr std::int64_t kKeyPad = 16;  // rows of the score and key blocks start 64 bytes apart (Eigen's packets)

std::int64_t round_up(std::int64_t x, std::int64_t to) { return (x + to - 1) / to * to; }

// Per-thread scratch, kept across calls and only grown (every element a task reads it has written first).
struct ShortScratch {
  gemm::AlignedFloats kt;  // [d][ldk]: K^T of one head, keys zero-padded to ldk
  gemm::AlignedFloats s;   // [kAttentionQueryTile][ldk]: scores, then probabilities
  void size_for(const AttentionArgs& a, std::int64_t ldk) {
    const auto need_k = static_cast<std::size_t>(a.d * ldk), need_s = static_cast<std::size_t>(kAttentionQueryTile * ldk);
    if (kt.size() < need_k) kt.resize(need_k);
    if (s.size() < need_s) s.resize(need_s);
  }
};

#if defined(__AVX2__) && defined(__FMA__)

// Scores of R rows against NV * 8 keys: s[r][j] = sum_e q[r][e] * kt[e][j], one FMA chain over e from 0.
template <int R, int NV>
void scores_rows(const float* q, std::int64_t ldq, std::int64_t d, const float* kt, std::int64_t ldk, float* s,
                 std::int64_t lds) {
  __m256 acc[R * NV];
#pragma GCC unroll 16
  for (int i = 0; i < R * NV; ++i) acc[i] = _mm256_setzero_ps();
  for (std::int64_t e = 0; e < d; ++e) {
    __m256 kv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) kv[v] = _mm256_load_ps(kt + e * ldk + 8 * v);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 qv = _mm256_broadcast_ss(q + r * ldq + e);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r * NV + v] = _mm256_fmadd_ps(qv, kv[v], acc[r * NV + v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm256_store_ps(s + r * lds + 8 * v, acc[r * NV + v]);
}

template <int NV>
void scores_block(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt,
                  std::int64_t ldk, float* s, std::int64_t lds) {
  constexpr int R = NV <= 3 ? 4 : NV <= 6 ? 2 : 1;  // R * NV <= 12 accumulators of 16 ymm
  std::int64_t r = 0;
  for (; r + R <= rows; r += R) scores_rows<R, NV>(q + r * ldq, ldq, d, kt, ldk, s + r * lds, lds);
  for (; r < rows; ++r) scores_rows<1, NV>(q + r * ldq, ldq, d, kt, ldk, s + r * lds, lds);
}

void scores_chunk(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt, std::int64_t ldk,
                  std::int64_t keys8, float* s, std::int64_t lds) {
  switch (keys8 / 8) {
    case 1: return scores_block<1>(q, ldq, rows, d, kt, ldk, s, lds);
    case 2: return scores_block<2>(q, ldq, rows, d, kt, ldk, s, lds);
    case 3: return scores_block<3>(q, ldq, rows, d, kt, ldk, s, lds);
    case 4: return scores_block<4>(q, ldq, rows, d, kt, ldk, s, lds);
    case 5: return scores_block<5>(q, ldq, rows, d, kt, ldk, s, lds);
    case 6: return scores_block<6>(q, ldq, rows, d, kt, ldk, s, lds);
    case 7: return scores_block<7>(q, ldq, rows, d, kt, ldk, s, lds);
    default: return scores_block<8>(q, ldq, rows, d, kt, ldk, s, lds);
  }
}

// Up to 64 keys at once (a short row); longer rows in chunks of 24 keys against 4 rows (12 accumulators, 3
// key loads and 4 broadcasts per 12 FMAs). Each score is one chain over e whatever the chunk.
void scores(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt, std::int64_t ldk,
            std::int64_t keys8, float* s, std::int64_t lds) {
  if (keys8 <= 64) return scores_chunk(q, ldq, rows, d, kt, ldk, keys8, s, lds);
  for (std::int64_t c0 = 0; c0 < keys8; c0 += 24)
    scores_chunk(q, ldq, rows, d, kt + c0, ldk, std::min<std::int64_t>(24, keys8 - c0), s + c0, lds);
}

// Lanes [0, n) of an 8-lane mask for maskload / maskstore.
__m256i first_lanes(std::int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<std::int64_t>(n, 8))), idx);
}

// y[r][c0 .. c0 + 8 NC) of R rows = (sum_j p[r][j] v[j][..] + 0) * inv[r]: one FMA chain over j from 0, then the
// tiled kernel's accumulate-and-normalise (acc = 0 + pv, y = acc * inv). `cols` (<= 8 NC) columns are stored.
template <int R, int NC>
void pv_rows(const float* p, std::int64_t ldp, std::int64_t keys, const float* v, std::int64_t ldv, std::int64_t cols,
             const float* inv, float* y, std::int64_t ldy) {
  __m256 acc[R * NC];
#pragma GCC unroll 16
  for (int i = 0; i < R * NC; ++i) acc[i] = _mm256_setzero_ps();
  __m256i mask[NC];
#pragma GCC unroll 4
  for (int c = 0; c < NC; ++c) mask[c] = first_lanes(cols - 8 * c);
  const bool full = cols == 8 * NC;
  for (std::int64_t j = 0; j < keys; ++j) {
    __m256 vv[NC];
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c)
      vv[c] = full ? _mm256_loadu_ps(v + j * ldv + 8 * c) : _mm256_maskload_ps(v + j * ldv + 8 * c, mask[c]);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256 pr = _mm256_broadcast_ss(p + r * ldp + j);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) acc[r * NC + c] = _mm256_fmadd_ps(pr, vv[c], acc[r * NC + c]);
    }
  }
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const __m256 ir = _mm256_broadcast_ss(inv + r);
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c) {
      const __m256 out = _mm256_mul_ps(_mm256_add_ps(zero, acc[r * NC + c]), ir);
      if (full) _mm256_storeu_ps(y + r * ldy + 8 * c, out);
      else _mm256_maskstore_ps(y + r * ldy + 8 * c, mask[c], out);
    }
  }
}

void probs_times_v(const float* p, std::int64_t ldp, std::int64_t rows, std::int64_t keys, const float* v,
                   std::int64_t ldv, std::int64_t dv, const float* inv, float* y, std::int64_t ldy) {
  for (std::int64_t c0 = 0; c0 < dv; c0 += 16) {
    const std::int64_t cols = std::min<std::int64_t>(16, dv - c0);
    std::int64_t r = 0;
    if (cols > 8) {
      for (; r + 4 <= rows; r += 4) pv_rows<4, 2>(p + r * ldp, ldp, keys, v + c0, ldv, cols, inv + r, y + r * ldy + c0, ldy);
      for (; r < rows; ++r) pv_rows<1, 2>(p + r * ldp, ldp, keys, v + c0, ldv, cols, inv + r, y + r * ldy + c0, ldy);
    } else {
      for (; r + 4 <= rows; r += 4) pv_rows<4, 1>(p + r * ldp, ldp, keys, v + c0, ldv, cols, inv + r, y + r * ldy + c0, ldy);
      for (; r < rows; ++r) pv_rows<1, 1>(p + r * ldp, ldp, keys, v + c0, ldv, cols, inv + r, y + r * ldy + c0, ldy);
    }
  }
}

// kt[e][j] = k[j][e] for keys j < keys (k rows ldk_in apart): 8 x 8 blocks transposed in registers, the
// rest element by element.
void transpose_keys(const float* k, std::int64_t ldk_in, std::int64_t keys, std::int64_t d, float* kt,
                    std::int64_t ldk) {
  std::int64_t j0 = 0;
  for (; j0 + 8 <= keys; j0 += 8) {
    std::int64_t e0 = 0;
    for (; e0 + 8 <= d; e0 += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(k + (j0 + i) * ldk_in + e0);
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* o = kt + e0 * ldk + j0;
      _mm256_storeu_ps(o + 0 * ldk, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(o + 1 * ldk, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(o + 2 * ldk, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(o + 3 * ldk, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(o + 4 * ldk, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(o + 5 * ldk, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(o + 6 * ldk, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(o + 7 * ldk, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
    for (; e0 < d; ++e0)
      for (std::int64_t i = 0; i < 8; ++i) kt[e0 * ldk + j0 + i] = k[(j0 + i) * ldk_in + e0];
  }
  for (; j0 < keys; ++j0)
    for (std::int64_t e = 0; e < d; ++e) kt[e * ldk + j0] = k[j0 * ldk_in + e];
}

// Keeps the compiler from fusing a rounded product into the next addition (-ffp-contract=fast): the tiled
// kernel scales the scores and adds the mask in two separate passes.
inline __m256 opaque(__m256 x) {
  asm("" : "+x"(x));
  return x;
}

// Keys [8 v, 8 v + 8) of a row's additive mask (row stride a.mask_strides[3]), 0 past the row's `keys`.
inline __m256 mask_vector(const AttentionArgs& a, const float* mrow, std::int64_t keys, std::int64_t v,
                          __m256i in_tile) {
  if (a.mask_strides[3] == 1) return _mm256_maskload_ps(mrow + 8 * v, in_tile);
  alignas(32) float t[8] = {};
  for (std::int64_t j = 8 * v; j < std::min<std::int64_t>(keys, 8 * v + 8); ++j)
    t[j - 8 * v] = mrow[j * a.mask_strides[3]];
  return _mm256_load_ps(t);
}

// The tiled kernel's row softmax (its first and only key tile) on the scores of rows [q0, q0 + rows), in
// registers: scale, mask, causal limit and padding to -inf, the max, Eigen's packet exp of s - m, and the sum
// in Eigen's reduction order over the row's packets (two running packets, then predux: what ArrayXf::sum()
// does on a 32-byte aligned row). Writes the probabilities back to s and 1 / sum to inv.
template <int NV>
void softmax_rows(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t q0, std::int64_t rows,
                  std::int64_t keys, float* s, std::int64_t lds, float* inv) {
  const std::int64_t offset = a.nk - a.nq;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 scale = _mm256_set1_ps(a.scale), neg_inf = _mm256_set1_ps(kNegInf);
  float m_use[kAttentionQueryTile];
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t i = q0 + r;
    float* sr = s + r * lds;
    // Keys [0, limit) of this row exist: the tile's keys, and with causal those up to i + offset.
    const std::int64_t limit = a.causal ? std::max<std::int64_t>(0, std::min(keys, i + offset + 1)) : keys;
    const float* mrow = a.mask ? a.mask + b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2] : nullptr;
    __m256 x[NV];
    __m256 mx = neg_inf;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const __m256i in_tile = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(keys - 8 * v)), lane);
      x[v] = _mm256_mul_ps(_mm256_load_ps(sr + 8 * v), scale);
      if (mrow) {
        const __m256 mv = mask_vector(a, mrow, keys, v, in_tile);
        x[v] = _mm256_add_ps(opaque(x[v]), mv);
      }
      const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(limit - 8 * v)), lane);
      x[v] = _mm256_blendv_ps(neg_inf, x[v], _mm256_castsi256_ps(live));
      mx = _mm256_max_ps(mx, x[v]);
    }
    // The max only shifts the exponent (any order gives it exactly); a NaN score makes the row NaN anyway.
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    bool any_nan = false;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) any_nan |= _mm256_movemask_ps(_mm256_cmp_ps(x[v], x[v], _CMP_UNORD_Q)) != 0;
    const float m_new = any_nan ? std::numeric_limits<float>::quiet_NaN() : _mm_cvtss_f32(m4);
    m_use[r] = m_new == kNegInf ? 0.0f : m_new;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm256_store_ps(sr + 8 * v, x[v]);
  }
  // The exponentials of all rows in one loop of independent packets (a row's own chain of max, exp and sum
  // would leave the core waiting on the exp's latency).
  for (std::int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * lds;
    const __m256 mv = _mm256_set1_ps(m_use[r]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      _mm256_store_ps(sr + 8 * v, Eigen::internal::pexp<Eigen::internal::Packet8f>(_mm256_sub_ps(_mm256_load_ps(sr + 8 * v), mv)));
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* sr = s + r * lds;
    __m256 x[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) x[v] = _mm256_load_ps(sr + 8 * v);
    __m256 sum = x[0];
    if constexpr (NV > 1) {
      __m256 sum1 = x[1];
#pragma GCC unroll 4
      for (int v = 2; v + 1 < NV; v += 2) {
        sum = _mm256_add_ps(sum, x[v]);
        sum1 = _mm256_add_ps(sum1, x[v + 1]);
      }
      sum = _mm256_add_ps(sum, sum1);
      if constexpr (NV % 2 == 1) sum = _mm256_add_ps(sum, x[NV - 1]);
    }
    // The tiled kernel's l = 0 * exp(-inf - m) + sum: the sum, or NaN when m is NaN.
    const float l = std::isnan(m_use[r]) ? m_use[r] : Eigen::internal::predux<Eigen::internal::Packet8f>(sum);
    inv[r] = l > 0.0f ? 1.0f / l : std::numeric_limits<float>::quiet_NaN();
  }
}

void softmax_tile(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t q0, std::int64_t rows,
                  std::int64_t keys, float* s, std::int64_t lds, float* inv) {
  switch (round_up(keys, 8) / 8) {
    case 1: return softmax_rows<1>(a, b, h, q0, rows, keys, s, lds, inv);
    case 2: return softmax_rows<2>(a, b, h, q0, rows, keys, s, lds, inv);
    case 3: return softmax_rows<3>(a, b, h, q0, rows, keys, s, lds, inv);
    case 4: return softmax_rows<4>(a, b, h, q0, rows, keys, s, lds, inv);
    case 5: return softmax_rows<5>(a, b, h, q0, rows, keys, s, lds, inv);
    case 6: return softmax_rows<6>(a, b, h, q0, rows, keys, s, lds, inv);
    case 7: return softmax_rows<7>(a, b, h, q0, rows, keys, s, lds, inv);
    default: return softmax_rows<8>(a, b, h, q0, rows, keys, s, lds, inv);
  }
}

// exp(x) of a long row's shifted score (attention_kernel.hpp, row_exp): the AVX-512 twin in attention_avx512.cpp
// runs the same operations on 16 lanes. No product here meets an addition (-ffp-contract=fast would fuse it).
inline __m256 row_exp8(__m256 x) {
  using namespace row_exp;
  const __m256 xc = _mm256_max_ps(_mm256_set1_ps(kExpLow), x);  // a NaN x is max's second operand: kept
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Hi), xc);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
#pragma GCC unroll 8
  for (int i = 1; i < 8; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(kExpLow), _CMP_LT_OQ), _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

// Rows of more than 64 keys (the long-row variant): two passes over the row in L1 instead of registers. Pass 1
// scales, masks and limits the scores and takes the max; pass 2 stores p = exp(s - m), exactly 0 past the
// row's last key, and sums it in four running packets by packet index (then ((0 + 2) + (1 + 3)) and halves).
// The zeros past a row's limit add nothing, so a row's bits do not depend on how many keys its tile covers:
// the result of a row is the same whatever rows are computed with it. `masked` (with b, h, q0) gives the rows'
// additive mask, or is null.
void long_rows(float* s, std::int64_t lds, std::int64_t rows, std::int64_t keys, std::int64_t limit0, bool causal,
               float scale_f, const AttentionArgs* masked, std::int64_t b, std::int64_t h, std::int64_t q0, float* inv) {
  const std::int64_t nv = round_up(keys, 8) / 8;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 scale = _mm256_set1_ps(scale_f), neg_inf = _mm256_set1_ps(kNegInf), zero = _mm256_setzero_ps();
  for (std::int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * lds;
    const std::int64_t limit = causal ? std::clamp<std::int64_t>(limit0 + r, 0, keys) : keys;
    const float* mrow = masked ? masked->mask + b * masked->mask_strides[0] + h * masked->mask_strides[1] +
                                     (q0 + r) * masked->mask_strides[2]
                               : nullptr;
    __m256 mx[2] = {neg_inf, neg_inf};
    __m256 nan = zero;
    for (std::int64_t v = 0; v < nv; ++v) {
      __m256 x = _mm256_mul_ps(_mm256_load_ps(sr + 8 * v), scale);
      if (mrow) {
        const __m256i in_tile = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(keys - 8 * v)), lane);
        const __m256 mv = mask_vector(*masked, mrow, keys, v, in_tile);
        x = _mm256_add_ps(opaque(x), mv);
      }
      const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(limit - 8 * v)), lane);
      x = _mm256_blendv_ps(neg_inf, x, _mm256_castsi256_ps(live));
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
      mx[v & 1] = _mm256_max_ps(mx[v & 1], x);
      _mm256_store_ps(sr + 8 * v, x);
    }
    const __m256 mxv = _mm256_max_ps(mx[0], mx[1]);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mxv), _mm256_extractf128_ps(mxv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float m = _mm256_movemask_ps(nan) != 0 ? std::numeric_limits<float>::quiet_NaN() : _mm_cvtss_f32(m4);
    const __m256 mv = _mm256_set1_ps(m == kNegInf ? 0.0f : m);
    // Packets wholly past the row's limit are 0 (adding them to the sums would change nothing): no exp.
    const std::int64_t nv_live = round_up(limit, 8) / 8;
    for (std::int64_t v = nv_live; v < round_up(keys, 16) / 8; ++v) _mm256_store_ps(sr + 8 * v, zero);
    auto p_at = [&](std::int64_t v) {
      const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(limit - 8 * v)), lane);
      const __m256 p = _mm256_and_ps(row_exp8(_mm256_sub_ps(_mm256_load_ps(sr + 8 * v), mv)), _mm256_castsi256_ps(live));
      _mm256_store_ps(sr + 8 * v, p);
      return p;
    };
    // Packet v goes to running sum v mod 4; four packets per iteration keep the sums in registers and four
    // independent exps in flight.
    __m256 s0 = zero, s1 = zero, s2 = zero, s3 = zero;
    std::int64_t v = 0;
    for (; v + 4 <= nv_live; v += 4) {
      s0 = _mm256_add_ps(s0, p_at(v));
      s1 = _mm256_add_ps(s1, p_at(v + 1));
      s2 = _mm256_add_ps(s2, p_at(v + 2));
      s3 = _mm256_add_ps(s3, p_at(v + 3));
    }
    if (v < nv_live) s0 = _mm256_add_ps(s0, p_at(v));
    if (v + 1 < nv_live) s1 = _mm256_add_ps(s1, p_at(v + 1));
    if (v + 2 < nv_live) s2 = _mm256_add_ps(s2, p_at(v + 2));
    const __m256 t = _mm256_add_ps(_mm256_add_ps(s0, s2), _mm256_add_ps(s1, s3));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    const float l = _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
    inv[r] = l > 0.0f ? 1.0f / l : std::numeric_limits<float>::quiet_NaN();
  }
}

#else  // portable: the same chains element by element

void transpose_keys(const float* k, std::int64_t ldk_in, std::int64_t keys, std::int64_t d, float* kt,
                    std::int64_t ldk) {
  for (std::int64_t e = 0; e < d; ++e)
    for (std::int64_t j = 0; j < keys; ++j) kt[e * ldk + j] = k[j * ldk_in + e];
}

void scores(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt, std::int64_t ldk,
            std::int64_t keys8, float* s, std::int64_t lds) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < keys8; ++j) {
      float acc = 0.0f;
      for (std::int64_t e = 0; e < d; ++e) acc = std::fma(q[r * ldq + e], kt[e * ldk + j], acc);
      s[r * lds + j] = acc;
    }
}

void probs_times_v(const float* p, std::int64_t ldp, std::int64_t rows, std::int64_t keys, const float* v,
                   std::int64_t ldv, std::int64_t dv, const float* inv, float* y, std::int64_t ldy) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < dv; ++c) {
      float acc = 0.0f;
      for (std::int64_t j = 0; j < keys; ++j) acc = std::fma(p[r * ldp + j], v[j * ldv + c], acc);
      y[r * ldy + c] = (0.0f + acc) * inv[r];
    }
}

void softmax_tile(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t q0, std::int64_t rows,
                  std::int64_t keys, float* s, std::int64_t lds, float* inv) {
  const std::int64_t offset = a.nk - a.nq, keys8 = round_up(keys, 8);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t i = q0 + r;
    float* sr = s + r * lds;
    Eigen::Map<Eigen::ArrayXf> srow(sr, keys8);
    for (std::int64_t j = keys; j < keys8; ++j) sr[j] = kNegInf;
    srow.head(keys) *= a.scale;
    if (a.mask) {
      const float* mrow = a.mask + b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2];
      for (std::int64_t j = 0; j < keys; ++j) sr[j] += mrow[j * a.mask_strides[3]];
    }
    if (a.causal)
      for (std::int64_t j = std::max<std::int64_t>(0, i + offset + 1); j < keys; ++j) sr[j] = kNegInf;
    // As in the tiled kernel's first (only) key tile: m starts at -inf, l at 0, acc at 0.
    const float tile_max = srow.maxCoeff();
    const float m_new = std::isnan(tile_max) ? tile_max : std::max(kNegInf, tile_max);
    const float m_use = m_new == kNegInf ? 0.0f : m_new;
    const float rescale = std::exp(kNegInf - m_use);
    srow = (srow - m_use).exp();
    const float l = 0.0f * rescale + srow.sum();
    inv[r] = l > 0.0f ? 1.0f / l : std::numeric_limits<float>::quiet_NaN();
  }
}

// Portable: the same steps element by element with libm's exp (its own bits).
void long_rows(float* s, std::int64_t lds, std::int64_t rows, std::int64_t keys, std::int64_t limit0, bool causal,
               float scale, const AttentionArgs* masked, std::int64_t b, std::int64_t h, std::int64_t q0, float* inv) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* sr = s + r * lds;
    const std::int64_t limit = causal ? std::clamp<std::int64_t>(limit0 + r, 0, keys) : keys;
    float m = kNegInf;
    bool nan = false;
    for (std::int64_t j = 0; j < keys; ++j) {
      float x = sr[j] * scale;
      if (masked)
        x += masked->mask[b * masked->mask_strides[0] + h * masked->mask_strides[1] + (q0 + r) * masked->mask_strides[2] +
                          j * masked->mask_strides[3]];
      sr[j] = j < limit ? x : kNegInf;
      nan |= std::isnan(sr[j]);
      m = std::max(m, sr[j]);
    }
    if (nan) m = std::numeric_limits<float>::quiet_NaN();
    float sum = 0.0f;
    for (std::int64_t j = 0; j < keys; ++j) {
      sr[j] = j < limit ? std::exp(sr[j] - (m == kNegInf ? 0.0f : m)) : 0.0f;
      sum += sr[j];
    }
    inv[r] = sum > 0.0f ? 1.0f / sum : std::numeric_limits<float>::quiet_NaN();
  }
}

#endif

void softmax_long_rows(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t q0, std::int64_t rows,
                       std::int64_t keys, float* s, std::int64_t lds, float* inv) {
  long_rows(s, lds, rows, keys, q0 + (a.nk - a.nq) + 1, a.causal, a.scale, a.mask ? &a : nullptr, b, h, q0, inv);
}

// One (batch, head): K^T once, then the query tiles of kAttentionQueryTile rows (the tiled kernel's tiles, so a
// causal tile sees the same number of keys and its rows are padded alike).
void short_head(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t t0, std::int64_t t1,
                ShortScratch& w) {
  const float* q = a.q + b * a.q_batch_stride + h * a.q_head_stride;
  const float* k = a.k + b * a.k_batch_stride + h * a.k_head_stride;
  const float* v = a.v + b * a.v_batch_stride + h * a.v_head_stride;
  float* y = a.y + b * a.y_batch_stride + h * a.y_head_stride;
  const std::int64_t ldk = round_up(a.nk, kKeyPad), offset = a.nk - a.nq;
  // The keys the tiles [t0, t1) can see (all, or up to the causal limit of their last row).
  const std::int64_t q_end = std::min(a.nq, t1 * kAttentionQueryTile);
  const std::int64_t keys = a.causal ? std::clamp<std::int64_t>(q_end + offset, 0, a.nk) : a.nk;
  const std::int64_t keys16 = round_up(keys, 16);  // zero keys up to whole AVX-512 vectors
  float* kt = w.kt.data();
  transpose_keys(k, a.k_row_stride, keys, a.d, kt, ldk);
  for (std::int64_t e = 0; e < a.d; ++e) std::fill(kt + e * ldk + keys, kt + e * ldk + keys16, 0.0f);
  const bool wide = active_isa() >= Isa::avx512;
  float* s = w.s.data();
  alignas(64) float inv[kAttentionQueryTile];
  // Causal long rows go 8 query rows at a time, each block over the keys its last row sees (32-row tiles
  // computed ~25 % of scores past the diagonal at 128 tokens); a long row's bits do not depend on its tile.
  // Short rows keep attention_tiled's 32-row tiles, whose key counts their bits follow.
  const std::int64_t tile = a.causal && a.nk > kShortAttentionKeys ? 8 : kAttentionQueryTile;
  for (std::int64_t q0 = t0 * kAttentionQueryTile; q0 < q_end; q0 += tile) {
    const std::int64_t q1 = std::min(q_end, q0 + tile), rows = q1 - q0;
    const std::int64_t kt_keys = a.causal ? std::min(a.nk, q1 - 1 + offset + 1) : a.nk;
    if (kt_keys <= 0) {  // every key of every row is past its causal limit: no softmax is defined
      for (std::int64_t r = 0; r < rows; ++r)
        std::fill_n(y + (q0 + r) * a.y_row_stride, a.dv, std::numeric_limits<float>::quiet_NaN());
      continue;
    }
    if (wide) attention_avx512::scores(q + q0 * a.q_row_stride, a.q_row_stride, rows, a.d, kt, ldk, round_up(kt_keys, 16), s, ldk);
    else scores(q + q0 * a.q_row_stride, a.q_row_stride, rows, a.d, kt, ldk, round_up(kt_keys, 8), s, ldk);
    if (a.nk > kShortAttentionKeys && wide && !a.mask)
      attention_avx512::softmax_long_rows(s, ldk, rows, kt_keys, q0 + offset + 1, a.causal, a.scale, inv);
    else if (a.nk > kShortAttentionKeys) softmax_long_rows(a, b, h, q0, rows, kt_keys, s, ldk, inv);
    else softmax_tile(a, b, h, q0, rows, kt_keys, s, ldk, inv);
    if (wide) attention_avx512::probs_times_v(s, ldk, rows, kt_keys, v, a.v_row_stride, a.dv, inv, y + q0 * a.y_row_stride, a.y_row_stride);
    else probs_times_v(s, ldk, rows, kt_keys, v, a.v_row_stride, a.dv, inv, y + q0 * a.y_row_stride, a.y_row_stride);
  }
}

}  // namespace

void softmax_long_rows_avx2(float* s, std::int64_t lds, std::int64_t rows, std::int64_t keys, std::int64_t limit0,
                            bool causal, float scale, float* inv) {
  long_rows(s, lds, rows, keys, limit0, causal, scale, nullptr, 0, 0, 0, inv);
}

bool attention_short_fits(const AttentionArgs& a) {
  return a.nk >= 1 && a.nk <= kRowAttentionKeys && a.scores_quant == nullptr && a.probs_quant == nullptr;
}

void attention_short(const AttentionArgs& a) {
  const std::int64_t heads = a.batch * a.heads;
  // Tasks are (batch, head) pairs; with fewer than ~4 per thread, a head's query tiles are split into groups
  // that transpose their own keys (as in attention_tiled). Rows do not depend on the grouping.
  const std::int64_t q_tiles = (a.nq + kAttentionQueryTile - 1) / kAttentionQueryTile;
  const bool threads = attention_worth_threads(a);
  const std::int64_t want = threads ? 4 * std::max(1, tbb::this_task_arena::max_concurrency()) : 1;
  std::int64_t per_group = q_tiles;
  while (per_group > 1 && heads * ((q_tiles + per_group - 1) / per_group) < want) per_group = (per_group + 1) / 2;
  const std::int64_t groups = (q_tiles + per_group - 1) / per_group;
  auto run = [&](std::int64_t t0, std::int64_t t1) {
    thread_local ShortScratch w;
    w.size_for(a, round_up(a.nk, kKeyPad));
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t bh = t / groups, g = t % groups;
      short_head(a, bh / a.heads, bh % a.heads, g * per_group, std::min(q_tiles, (g + 1) * per_group), w);
    }
  };
  if (!threads) return run(0, heads * groups);
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, heads * groups),
                    [&](const tbb::blocked_range<std::int64_t>& r) { run(r.begin(), r.end()); });
}

}  // namespace snnconv::ann
