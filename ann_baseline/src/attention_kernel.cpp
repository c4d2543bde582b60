// Online-softmax attention over key tiles. The per-row state is (m, l, acc[Dv]); a key tile updates it as
//   m' = max(m, max_j s_j),  l' = l * exp(m - m') + sum_j exp(s_j - m'),  acc' = acc * exp(m - m') + sum_j exp(s_j - m') v_j
// and the row's output is acc / l after the last tile. Per tile, the scores S = Q_t.K_t^T and the update
// P.V_t run on the packed GEMM's register-blocked micro-kernel (K_t, V_t packed into panels per tile), and
// the exponentials are Eigen's vectorised exp: no scalar dot product per score, and none of a library GEMM's
// per-call overhead on the small tiles of short sequences (17 tokens in the ViT).
#define EIGEN_DONT_PARALLELIZE  // threads come from TBB only, over fixed tiles
#include "attention_kernel.hpp"
#include "gemm_packed.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "reference_detail.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::ann {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The contiguous [B,H,N,D] defaults for strides left at 0.
AttentionArgs with_defaults(AttentionArgs a) {
  if (a.q_row_stride == 0) a.q_row_stride = a.d;
  if (a.k_row_stride == 0) a.k_row_stride = a.d;
  if (a.v_row_stride == 0) a.v_row_stride = a.dv;
  if (a.q_batch_stride == 0) a.q_batch_stride = a.heads * a.q_head_stride;
  if (a.k_batch_stride == 0) a.k_batch_stride = a.heads * a.k_head_stride;
  if (a.v_batch_stride == 0) a.v_batch_stride = a.heads * a.v_head_stride;
  if (a.y_head_stride == 0) a.y_head_stride = a.nq * a.dv;
  if (a.y_row_stride == 0) a.y_row_stride = a.dv;
  if (a.y_batch_stride == 0) a.y_batch_stride = a.heads * a.y_head_stride;
  return a;
}

using kernels::AlignedFloats;

std::int64_t round_up(std::int64_t x, std::int64_t to) { return (x + to - 1) / to * to; }

// Per-thread scratch, kept across calls and only ever grown (no allocation or clearing per task: every
// element a task reads it has written first).
struct Scratch {
  AlignedFloats s, kp, vp, pv, acc;
  std::vector<float> m, l;
  template <typename V> static void grow(V& v, std::int64_t n) {
    if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
  }
  void size_for(const AttentionArgs& a, std::int64_t panel) {
    const bool quantized = a.scores_quant != nullptr || a.probs_quant != nullptr;
    grow(s, kAttentionQueryTile * (quantized ? round_up(a.nk, 8) : kAttentionKeyTile));
    grow(kp, round_up(a.nk, panel) * a.d);
    grow(vp, round_up(a.dv, panel) * a.nk);
    grow(pv, kAttentionQueryTile * a.dv);
    grow(acc, kAttentionQueryTile * a.dv);
    grow(m, kAttentionQueryTile);
    grow(l, kAttentionQueryTile);
  }
};

// Rows [q0, q1) of one (batch, head), with that head's K^T and V already packed into panels (kp: panels of
// 16 keys, d deep; vp: panels of 16 value dims, nk deep).
void query_tile(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t q0, std::int64_t q1,
                std::int64_t packed_keys, std::int64_t panel, Scratch& w) {
  const float* q = a.q + b * a.q_batch_stride + h * a.q_head_stride;
  float* y = a.y + b * a.y_batch_stride + h * a.y_head_stride;
  const std::int64_t offset = a.nk - a.nq;
  const std::int64_t rows = q1 - q0;
  constexpr std::int64_t lds = kAttentionKeyTile;  // row stride of the score tile
  float* m = w.m.data();
  float* l = w.l.data();
  float* acc = w.acc.data();
  float* s = w.s.data();
  std::fill_n(m, rows, kNegInf);
  std::fill_n(l, rows, 0.0f);
  std::fill_n(acc, rows * a.dv, 0.0f);
  // Keys past the last query's causal limit are masked for every row of the tile: skip those tiles.
  const std::int64_t key_end = a.causal ? std::min(a.nk, q1 - 1 + offset + 1) : a.nk;
  for (std::int64_t k0 = 0; k0 < key_end; k0 += kAttentionKeyTile) {
    const std::int64_t kt = std::min(key_end, k0 + kAttentionKeyTile) - k0;
    kernels::gemm_panels(q + q0 * a.q_row_stride, a.q_row_stride, rows, w.kp.data() + k0 * a.d, a.d, kt, s, lds,
                         panel);
    // Rows are processed over kt rounded up to whole packets, the extra scores -inf: they change neither
    // the max nor the sum (exp gives 0), and no scalar tail is left for exp.
    const std::int64_t kt8 = round_up(kt, 8);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t i = q0 + r;
      float* sr = s + r * lds;
      Eigen::Map<Eigen::ArrayXf> srow(sr, kt8);
      for (std::int64_t j = kt; j < kt8; ++j) sr[j] = kNegInf;
      srow.head(kt) *= a.scale;
      if (a.mask) {
        const float* mrow = a.mask + b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2];
        for (std::int64_t j = 0; j < kt; ++j) sr[j] += mrow[(k0 + j) * a.mask_strides[3]];
      }
      // Causal: keys after i + offset do not exist for this row.
      if (a.causal)
        for (std::int64_t j = std::max<std::int64_t>(0, i + offset + 1 - k0); j < kt; ++j) sr[j] = kNegInf;
      // The max only shifts the exponent: a NaN score need not win it, exp(NaN - m) makes l, and so the
      // row's output, NaN anyway (as the reference gives).
      const float tile_max = srow.maxCoeff();
      const float m_new = std::isnan(tile_max) ? tile_max : std::max(m[r], tile_max);
      // A row with every key so far masked keeps m = -inf; exp is then taken against 0 so that its masked
      // scores give exactly 0 (and exp(-inf - 0) = 0 rescales nothing that is not already 0).
      const float m_use = m_new == kNegInf ? 0.0f : m_new;
      const float rescale = std::exp(m[r] - m_use);
      m[r] = m_new;
      srow = (srow - m_use).exp();  // Eigen's vectorised exp
      l[r] = l[r] * rescale + srow.sum();
      if (rescale != 1.0f)
        for (std::int64_t e = 0; e < a.dv; ++e) acc[r * a.dv + e] *= rescale;
    }
    kernels::gemm_panels(s, lds, rows, w.vp.data() + k0 * panel, kt, a.dv, w.pv.data(), a.dv, panel,
                         packed_keys * panel);
    for (std::int64_t x = 0; x < rows * a.dv; ++x) acc[x] += w.pv[static_cast<std::size_t>(x)];
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    // A row with every key masked has no defined softmax: NaN, as the reference (and PyTorch) give.
    const float li = l[r];
    const float inv = li > 0.0f ? 1.0f / li : std::numeric_limits<float>::quiet_NaN();
    float* out = y + (q0 + r) * a.y_row_stride;
    for (std::int64_t e = 0; e < a.dv; ++e) out[e] = acc[r * a.dv + e] * inv;
  }
}

// Rows [q0, q1) of one (batch, head) with steps inside the attention, over the `keys` packed keys (kp, vp as for
// query_tile). Two passes per row: all its scores from the packed micro-kernel, then scale, the scores step,
// mask and causal limit, the reference's row softmax (softmax_strided: its max, exp and index-order sum, so
// the rounding steps see what the unfused Softmax computes), the probabilities step; then P.V into y.
// The keys not packed (past every row's causal limit) would only add exp(-inf) = 0 to the sum.
void quantized_rows(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t q0, std::int64_t q1,
                    std::int64_t keys, std::int64_t panel, Scratch& w) {
  const float* q = a.q + b * a.q_batch_stride + h * a.q_head_stride;
  float* y = a.y + b * a.y_batch_stride + h * a.y_head_stride;
  const std::int64_t offset = a.nk - a.nq;
  const std::int64_t rows = q1 - q0;
  const std::int64_t lds = round_up(a.nk, 8);
  float* s = w.s.data();
  const detail::FakeQuantStep fq_s = a.scores_quant ? detail::FakeQuantStep(*a.scores_quant, 0) : detail::FakeQuantStep();
  const detail::FakeQuantStep fq_p = a.probs_quant ? detail::FakeQuantStep(*a.probs_quant, 0) : detail::FakeQuantStep();
  kernels::gemm_panels(q + q0 * a.q_row_stride, a.q_row_stride, rows, w.kp.data(), a.d, keys, s, lds, panel);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t i = q0 + r;
    float* sr = s + r * lds;
    for (std::int64_t j = 0; j < keys; ++j) sr[j] *= a.scale;
    if (a.scores_quant)
      for (std::int64_t j = 0; j < keys; ++j) sr[j] = fq_s(sr[j]);
    if (a.mask) {
      const float* mrow = a.mask + b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2];
      for (std::int64_t j = 0; j < keys; ++j) sr[j] += mrow[j * a.mask_strides[3]];
    }
    if (a.causal)
      for (std::int64_t j = std::max<std::int64_t>(0, i + offset + 1); j < keys; ++j) sr[j] = kNegInf;
    detail::softmax_strided(sr, sr, keys, 1);
    if (a.probs_quant)
      for (std::int64_t j = 0; j < keys; ++j) sr[j] = fq_p(sr[j]);
  }
  kernels::gemm_panels(s, lds, rows, w.vp.data(), keys, a.dv, y + q0 * a.y_row_stride, a.y_row_stride, panel,
                       keys * panel);
}

// Query tiles [t0, t1) of one (batch, head): pack the keys and values they can see (all, or up to the
// causal limit of the last row) once, then each tile.
void attention_head(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t t0, std::int64_t t1,
                    std::int64_t panel, Scratch& w) {
  const std::int64_t q_end = std::min(a.nq, t1 * kAttentionQueryTile);
  const std::int64_t keys = a.causal ? std::min(a.nk, q_end + (a.nk - a.nq)) : a.nk;
  kernels::pack_panels(a.k + b * a.k_batch_stride + h * a.k_head_stride, a.k_row_stride, a.d, keys, true, w.kp.data(),
                       panel);
  kernels::pack_panels(a.v + b * a.v_batch_stride + h * a.v_head_stride, a.v_row_stride, keys, a.dv, false, w.vp.data(),
                       panel);
  const bool quantized = a.scores_quant != nullptr || a.probs_quant != nullptr;
  for (std::int64_t t = t0; t < t1; ++t) {
    const std::int64_t q0 = t * kAttentionQueryTile, q1 = std::min(a.nq, (t + 1) * kAttentionQueryTile);
    if (quantized)
      quantized_rows(a, b, h, q0, q1, keys, panel, w);
    else
      query_tile(a, b, h, q0, q1, keys, panel, w);
  }
}

}  // namespace

bool attention_worth_threads(const AttentionArgs& a) {
  // Multiply-adds of the two products (halved when causal); below ~0.25 M (a few microseconds on one core)
  // the hand-off to a worker and the join cost about as much as the work.
  const std::int64_t macs = a.batch * a.heads * a.nq * a.nk * (a.d + a.dv) / (a.causal ? 2 : 1);
  return macs >= (std::int64_t{1} << 18) && tbb::this_task_arena::max_concurrency() > 1;
}

void attention_online(const AttentionArgs& args) {
  const AttentionArgs a = with_defaults(args);
  if (a.nq <= 0 || a.batch * a.heads <= 0) return;
  if (attention_short_fits(a)) return attention_short(a);
  attention_tiled(a);
}

void attention_tiled(const AttentionArgs& args) {
  const AttentionArgs a = with_defaults(args);
  if (a.nq <= 0 || a.batch * a.heads <= 0) return;
  // Tasks are (batch, head) pairs; with fewer pairs than ~4 per thread (one sequence, few heads), each head's
  // query tiles are split into groups that pack their own keys. Every row is computed the same way in
  // any grouping (the 32-row query tiles are fixed), so the split may follow the thread count.
  const std::int64_t q_tiles = (a.nq + kAttentionQueryTile - 1) / kAttentionQueryTile;
  const std::int64_t heads = a.batch * a.heads;
  const std::int64_t want = 4 * std::max(1, tbb::this_task_arena::max_concurrency());
  std::int64_t per_group = q_tiles;
  while (per_group > 1 && heads * ((q_tiles + per_group - 1) / per_group) < want) per_group = (per_group + 1) / 2;
  const std::int64_t groups = (q_tiles + per_group - 1) / per_group;
  const std::int64_t panel = kernels::native_panel();  // the products' bits do not depend on it
  auto run = [&](std::int64_t t0, std::int64_t t1) {
    thread_local Scratch w;
    w.size_for(a, panel);
    for (std::int64_t t = t0; t != t1; ++t) {
      const std::int64_t bh = t / groups, g = t % groups;
      attention_head(a, bh / a.heads, bh % a.heads, g * per_group, std::min(q_tiles, (g + 1) * per_group), panel, w);
    }
  };
  if (!attention_worth_threads(a)) return run(0, heads * groups);
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, heads * groups),
                    [&](const tbb::blocked_range<std::int64_t>& range) { run(range.begin(), range.end()); });
}

void attention_online_into(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                           const AttentionAttrs& attrs, unsigned bnhd, Tensor& y) {
  if (q.dtype() != DType::f32 || k.dtype() != DType::f32 || v.dtype() != DType::f32)
    throw UnsupportedError("attention_online: q, k and v must be f32");
  // 3-D operands [B*H, N, D] (what nn.MultiheadAttention's export reshapes to) are read as [1, B*H, N, D].
  const bool three = q.rank() == 3 && k.rank() == 3 && v.rank() == 3 && bnhd == 0;
  if (!three && (q.rank() != 4 || k.rank() != 4 || v.rank() != 4))
    throw ShapeError("attention_online: q, k, v must be 4-D [B, H, N, D] or 3-D [B*H, N, D]");
  // Logical [B,H,N,D] sizes of a tensor stored [B,H,N,D] or (layout bit set) [B,N,H,D].
  auto dims = [&](const Tensor& t, unsigned bit) {
    if (three) return std::array<std::int64_t, 4>{1, t.dim(0), t.dim(1), t.dim(2)};
    return (bnhd & bit) ? std::array<std::int64_t, 4>{t.dim(0), t.dim(2), t.dim(1), t.dim(3)}
                        : std::array<std::int64_t, 4>{t.dim(0), t.dim(1), t.dim(2), t.dim(3)};
  };
  const auto qd = dims(q, kLayoutQ), kd = dims(k, kLayoutK), vd = dims(v, kLayoutV);
  AttentionArgs a;
  a.batch = qd[0];
  a.heads = qd[1];
  a.nq = qd[2];
  a.d = qd[3];
  a.nk = kd[2];
  a.dv = vd[3];
  if (kd[0] != a.batch || kd[1] != a.heads || kd[3] != a.d || vd[0] != a.batch || vd[1] != a.heads || vd[2] != a.nk)
    throw ShapeError("attention_online: shapes do not fit: q " + shape_to_string(q.shape()) + ", k " +
                     shape_to_string(k.shape()) + ", v " + shape_to_string(v.shape()));
  const Shape want_y = three               ? Shape{a.heads, a.nq, a.dv}
                       : (bnhd & kLayoutY) ? Shape{a.batch, a.nq, a.heads, a.dv}
                                           : Shape{a.batch, a.heads, a.nq, a.dv};
  if (y.dtype() != DType::f32 || y.shape() != want_y) y = Tensor(DType::f32, want_y);
  // Strides of (head, row) for either layout; the batch stride is the whole sample in both.
  auto set = [&](const float*& p, std::int64_t& head, std::int64_t& row, std::int64_t& batch, const Tensor& t,
                 unsigned bit, std::int64_t n, std::int64_t width) {
    p = t.data<float>();
    head = (bnhd & bit) ? width : n * width;
    row = (bnhd & bit) ? a.heads * width : width;
    batch = a.heads * n * width;
  };
  set(a.q, a.q_head_stride, a.q_row_stride, a.q_batch_stride, q, kLayoutQ, a.nq, a.d);
  set(a.k, a.k_head_stride, a.k_row_stride, a.k_batch_stride, k, kLayoutK, a.nk, a.d);
  set(a.v, a.v_head_stride, a.v_row_stride, a.v_batch_stride, v, kLayoutV, a.nk, a.dv);
  a.y = y.data<float>();
  a.y_head_stride = (bnhd & kLayoutY) ? a.dv : a.nq * a.dv;
  a.y_row_stride = (bnhd & kLayoutY) ? a.heads * a.dv : a.dv;
  a.y_batch_stride = a.heads * a.nq * a.dv;
  a.scale = attrs.scale;
  a.causal = attrs.causal;
  for (const auto* qp : {&attrs.scores_quant, &attrs.probs_quant})
    if (*qp && ((*qp)->scale.size() != 1 || !((*qp)->scale[0] > 0.0f) || !std::isfinite((*qp)->scale[0]) ||
                (!(*qp)->zero_point.empty() && (*qp)->zero_point.size() != 1)))
      throw UnsupportedError("attention_online: a step inside the attention must be one finite positive step per tensor");
  a.scores_quant = attrs.scores_quant ? &*attrs.scores_quant : nullptr;
  a.probs_quant = attrs.probs_quant ? &*attrs.probs_quant : nullptr;
  Tensor additive;
  if (mask != nullptr) {
    if (mask->rank() > 4) throw ShapeError("attention_online: mask rank above 4");
    if (mask->dtype() == DType::boolean) {
      additive = Tensor(DType::f32, mask->shape());
      const bool* pm = mask->data<bool>();
      float* pa = additive.data<float>();
      for (std::int64_t i = 0; i < mask->numel(); ++i) pa[i] = pm[i] ? 0.0f : kNegInf;
    } else if (mask->dtype() != DType::f32) {
      throw UnsupportedError("attention_online: mask must be f32 (additive) or bool (true = attend)");
    }
    const Tensor& m = mask->dtype() == DType::f32 ? *mask : additive;
    // Right-aligned broadcast to [B,H,Nq,Nk]: size-1 axes get stride 0.
    const std::array<std::int64_t, 4> full{a.batch, a.heads, a.nq, a.nk};
    Shape ms(4 - static_cast<std::size_t>(m.rank()), 1);
    ms.insert(ms.end(), m.shape().begin(), m.shape().end());
    std::int64_t stride = 1;
    for (int i = 3; i >= 0; --i) {
      const auto iu = static_cast<std::size_t>(i);
      if (ms[iu] != 1 && ms[iu] != full[iu])
        throw ShapeError("attention_online: mask " + shape_to_string(mask->shape()) + " does not broadcast to [" +
                         std::to_string(a.batch) + "," + std::to_string(a.heads) + "," + std::to_string(a.nq) + "," +
                         std::to_string(a.nk) + "]");
      a.mask_strides[iu] = ms[iu] == 1 ? 0 : stride;
      stride *= ms[iu];
    }
    a.mask = m.data<float>();
    attention_online(a);
    return;
  }
  attention_online(a);
}

Tensor attention_online(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                        const AttentionAttrs& attrs) {
  Tensor y;
  attention_online_into(q, k, v, mask, attrs, 0, y);
  return y;
}

}  // namespace snnconv::ann
