// The fused attention kernel (private to ann_baseline; the Engine and DecodeSession call it).
// y = softmax(q.k^T * scale + mask (+ causal)) . v computed with an online softmax over key tiles
// (FlashAttention, Dao et al. 2022): per query row a running max m and sum l, rescaled by exp(m_old - m_new)
// when a tile raises the max, so the Nq x Nk score matrix is never materialised. Same function as the
// reference Attention (reference_contraction.cpp) up to float rounding (tested to 1e-5).
#pragma once

#include <array>
#include <cstdint>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann {

inline constexpr std::int64_t kAttentionQueryTile = 32;
inline constexpr std::int64_t kAttentionKeyTile = 64;

// Strided views so a KV cache with spare capacity ([B,H,capacity,D]) is read in place.
struct AttentionArgs {
  std::int64_t batch = 0, heads = 0, nq = 0, nk = 0, d = 0, dv = 0;
  const float* q = nullptr;  // [B,H,Nq,D], row stride d
  std::int64_t q_head_stride = 0;  // elements between (b,h) and (b,h+1); batch stride = heads * this
  const float* k = nullptr;  // [B,H,Nk,D], row stride d
  std::int64_t k_head_stride = 0;
  const float* v = nullptr;  // [B,H,Nk,Dv], row stride dv
  std::int64_t v_head_stride = 0;
  float* y = nullptr;        // [B,H,Nq,Dv] contiguous
  float scale = 1.0f;
  // Queries are the last Nq of the Nk positions: query i may see keys j <= i + (Nk - Nq).
  bool causal = false;
  // Optional additive mask (bool masks are converted by the caller: 0 / -inf), with strides over
  // [B,H,Nq,Nk]; a stride of 0 broadcasts that axis.
  const float* mask = nullptr;
  std::array<std::int64_t, 4> mask_strides{};
};

// Runs over (batch, head, query tile) in parallel with TBB. Deterministic: every output row is computed by
// one task, over key tiles in a fixed order, so results do not depend on the thread count.
void attention_online(const AttentionArgs& args);

// Tensor front end with the reference Attention's contract: q [B,H,Nq,D], k [B,H,Nk,D], v [B,H,Nk,Dv],
// optional mask (f32 additive or bool true = attend) broadcastable to [B,H,Nq,Nk]. Throws ShapeError.
Tensor attention_online(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                        const AttentionAttrs& attrs);

}  // namespace snnconv::ann
