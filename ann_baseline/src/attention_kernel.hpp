// The fused attention kernel (private to ann_baseline; the Engine and DecodeSession call it).
// y = softmax(q.k^T * scale + mask (+ causal)) . v computed with an online softmax over key tiles
// (FlashAttention, Dao et al. 2022): per query row a running max m and sum l, rescaled by exp(m_old - m_new)
// when a tile raises the max, so the Nq x Nk score matrix is never materialised. Same function as the
// reference Attention (reference_contraction.cpp) up to float rounding (tested to 1e-5). An attention with steps
// inside (a quantization-aware export) runs a two-pass row softmax instead, over all of a row's keys.
#pragma once

#include <array>
#include <cstdint>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann {

// Tile sizes are fixed (never derived from the thread count): the summation order depends on them only.
inline constexpr std::int64_t kAttentionQueryTile = 32;
inline constexpr std::int64_t kAttentionKeyTile = 64;

// Strided views so a KV cache with spare capacity ([B,H,capacity,D]) is read in place, and so the engine can
// read q/k/v and write y in the [B,N,H,D] layout the Linear projections produce (the Transposes around an
// Attention node become strides, docs/architecture.md "Views"). A stride left at 0 takes the contiguous
// [B,H,N,D] default named beside it.
struct AttentionArgs {
  std::int64_t batch = 0, heads = 0, nq = 0, nk = 0, d = 0, dv = 0;
  const float* q = nullptr;  // element (b,h,i,e) at b*q_batch_stride + h*q_head_stride + i*q_row_stride + e
  std::int64_t q_head_stride = 0;   // required (nq*d when contiguous)
  std::int64_t q_row_stride = 0;    // 0: d
  std::int64_t q_batch_stride = 0;  // 0: heads * q_head_stride
  const float* k = nullptr;
  std::int64_t k_head_stride = 0;   // required
  std::int64_t k_row_stride = 0;    // 0: d
  std::int64_t k_batch_stride = 0;  // 0: heads * k_head_stride
  const float* v = nullptr;
  std::int64_t v_head_stride = 0;   // required
  std::int64_t v_row_stride = 0;    // 0: dv
  std::int64_t v_batch_stride = 0;  // 0: heads * v_head_stride
  float* y = nullptr;
  std::int64_t y_head_stride = 0;   // 0: nq*dv (y contiguous [B,H,Nq,Dv])
  std::int64_t y_row_stride = 0;    // 0: dv
  std::int64_t y_batch_stride = 0;  // 0: heads * y_head_stride
  float scale = 1.0f;
  // Queries are the last Nq of the Nk positions: query i may see keys j <= i + (Nk - Nq).
  bool causal = false;
  // Optional additive mask (bool masks are converted by the caller: 0 / -inf), with strides over
  // [B,H,Nq,Nk]; a stride of 0 broadcasts that axis.
  const float* mask = nullptr;
  std::array<std::int64_t, 4> mask_strides{};
  // Steps inside the attention (AttentionAttrs::scores_quant / probs_quant, per tensor), or null. With either,
  // rows take the two-pass path (quantized_rows in the .cpp): the online softmax cannot round the scores
  // before its max and sum, nor the probabilities after the normalisation.
  const QuantParams* scores_quant = nullptr;
  const QuantParams* probs_quant = nullptr;
};

// Runs attention_short when it fits, else attention_tiled; both give the same bits where both run.
void attention_online(const AttentionArgs& args);

// The general kernel: over (batch, head) in parallel with TBB (each task packs its head's K and V once, then walks the query
// tiles). Deterministic: every output row is computed over key tiles in a fixed order, every score and
// product element by one fused multiply-add chain, so results do not depend on the thread count (nor on
// the strides).
void attention_tiled(const AttentionArgs& args);

// Short sequences (attention_short.cpp): at most kRowAttentionKeys keys and no steps inside the attention.
// Per (batch, head) K^T goes into one small block and the products skip the GEMM's packing. Up to
// kShortAttentionKeys keys each row's softmax runs in registers and gives attention_tiled's bits (same FMA
// chains, same row softmax, same query tiles); above, each row takes two passes over its scores in L1 (within
// 1e-5 of the reference, its own bits: keys past a row's limit count exactly 0, and a row's result does not
// depend on the rows computed with it).
inline constexpr std::int64_t kShortAttentionKeys = 64;
inline constexpr std::int64_t kRowAttentionKeys = 512;
bool attention_short_fits(const AttentionArgs& args);
void attention_short(const AttentionArgs& args);  // defaults applied, attention_short_fits(args)

// The exponential of a long row's softmax (rows of more than kShortAttentionKeys keys), for x = score - max <= 0
// or NaN. Written out here, not Eigen's, so that its AVX2 (attention_short.cpp) and AVX-512
// (attention_avx512.cpp) forms run the same float operations lane by lane and give the same bits:
//   xc = max(kExpLow, x); n = round-to-nearest(xc * kLog2e); r = fma(n, -kLn2Lo, fma(n, -kLn2Hi, xc))
//   p = Horner over kExpPoly (Taylor series of e^r to degree 7, |r| <= ln2 / 2: truncation below 1e-8 relative)
//   exp = p * 2^n (n + 127 into the exponent field), and exactly 0 where x < kExpLow (-inf from the causal limit
//   or a mask; 2^n stays a normal number down to kExpLow).
namespace row_exp {
inline constexpr float kExpLow = -87.0f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693147182464599609375f;  // float(ln 2)
inline constexpr float kLn2Lo = -1.904654299957768e-09f;   // ln 2 - kLn2Hi
inline constexpr float kExpPoly[8] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                      1.0f / 6.0f,    0.5f,           1.0f,           1.0f};
}  // namespace row_exp

// A long row's softmax without a mask, on `rows` rows of scores s[r][j] (row stride lds, 64-byte aligned), j <
// keys: row r's live keys are [0, limit) with limit = keys, or with `causal` clamp(limit0 + r, 0, keys). Scales
// by `scale`, takes the max m over the live keys (NaN if one is NaN), stores p = exp(s - m) on the live keys and
// exactly 0 on the others up to keys rounded up to 16, and inv[r] = 1 / sum (NaN when the sum is not > 0). The
// sum runs in four running 8-lane sums by 8-key packet index mod 4, then ((0 + 2) + (1 + 3)), then halves
// (lanes 0-3 + 4-7, then 0-1 + 2-3, then 0 + 1). Both ISAs give the same bits (tested); rows with a mask take
// the AVX2 form on either ISA.
void softmax_long_rows_avx2(float* s, std::int64_t lds, std::int64_t rows, std::int64_t keys, std::int64_t limit0,
                            bool causal, float scale, float* inv);

// The row kernel's two products with AVX-512 (attention_avx512.cpp; call only when active_isa() >= avx512):
// scores s[r][j] = sum_e q[r][e] kt[e][j] for j < keys16 (kt zero-padded to a multiple of 16, rows 64-byte
// aligned), and y[r][c] = (0 + sum_{j < keys} p[r][j] v[j][c]) * inv[r]. The AVX2 versions' FMA chains: same bits.
namespace attention_avx512 {
void scores(const float* q, std::int64_t ldq, std::int64_t rows, std::int64_t d, const float* kt, std::int64_t ldk,
            std::int64_t keys16, float* s, std::int64_t lds);
void probs_times_v(const float* p, std::int64_t ldp, std::int64_t rows, std::int64_t keys, const float* v,
                   std::int64_t ldv, std::int64_t dv, const float* inv, float* y, std::int64_t ldy);
// softmax_long_rows_avx2's twin on 16-lane packets: the same bits.
void softmax_long_rows(float* s, std::int64_t lds, std::int64_t rows, std::int64_t keys, std::int64_t limit0,
                       bool causal, float scale, float* inv);
}  // namespace attention_avx512

// Whether the products are big enough to pay for waking a second thread (both kernels ask; the answer
// depends on the shapes only, and neither kernel's bits depend on it).
bool attention_worth_threads(const AttentionArgs& args);

// Tensor front end with the reference Attention's contract: q [B,H,Nq,D], k [B,H,Nk,D], v [B,H,Nk,Dv],
// optional mask (f32 additive or bool true = attend) broadcastable to [B,H,Nq,Nk]. Throws ShapeError.
Tensor attention_online(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                        const AttentionAttrs& attrs);

// The engine's entry: like the front end, but any of q, k, v may be given in the [B,N,H,D] layout (bit
// `kLayoutQ`... of `bnhd` set) and y is written into `y`, [B,H,Nq,Dv] or, with kLayoutY, [B,Nq,H,Dv].
inline constexpr unsigned kLayoutQ = 1, kLayoutK = 2, kLayoutV = 4, kLayoutY = 8;
void attention_online_into(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                           const AttentionAttrs& attrs, unsigned bnhd, Tensor& y);

}  // namespace snnconv::ann
