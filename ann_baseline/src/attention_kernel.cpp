// Online-softmax attention over key tiles. The per-row state is (m, l, acc[Dv]); a key tile updates it as
//   m' = max(m, max_j s_j),  l' = l * exp(m - m') + sum_j exp(s_j - m'),  acc' = acc * exp(m - m') + sum_j exp(s_j - m') v_j
// and the row's output is acc / l after the last tile.
#include "attention_kernel.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "snnconv/core/error.hpp"

namespace snnconv::ann {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// One (batch, head, query tile) task.
void attention_tile(const AttentionArgs& a, std::int64_t b, std::int64_t h, std::int64_t q0, std::int64_t q1) {
  const std::int64_t bh = b * a.heads + h;
  const float* q = a.q + bh * a.q_head_stride;
  const float* k = a.k + bh * a.k_head_stride;
  const float* v = a.v + bh * a.v_head_stride;
  float* y = a.y + bh * a.nq * a.dv;
  const std::int64_t offset = a.nk - a.nq;
  const std::int64_t rows = q1 - q0;
  // Buffers sized by the fixed tiles: allocated once per task, never inside the key loop.
  std::vector<float> m(static_cast<std::size_t>(rows), kNegInf), l(static_cast<std::size_t>(rows), 0.0f);
  std::vector<float> acc(static_cast<std::size_t>(rows * a.dv), 0.0f);
  std::vector<float> s(static_cast<std::size_t>(kAttentionKeyTile));
  // Keys past the last query's causal limit are masked for every row of the tile: skip those tiles.
  const std::int64_t key_end = a.causal ? std::min(a.nk, q1 - 1 + offset + 1) : a.nk;
  for (std::int64_t k0 = 0; k0 < key_end; k0 += kAttentionKeyTile) {
    const std::int64_t k1 = std::min(key_end, k0 + kAttentionKeyTile);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t i = q0 + r;
      const float* qi = q + i * a.d;
      const std::int64_t j_end = a.causal ? std::min(k1, i + offset + 1) : k1;
      if (j_end <= k0) continue;  // this row sees none of the tile
      const float* mrow = a.mask ? a.mask + b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2]
                                 : nullptr;
      float tile_max = kNegInf;
      for (std::int64_t j = k0; j < j_end; ++j) {
        const float* kj = k + j * a.d;
        float dot = 0.0f;
        for (std::int64_t e = 0; e < a.d; ++e) dot += qi[e] * kj[e];
        float sj = dot * a.scale;
        if (mrow) sj += mrow[j * a.mask_strides[3]];
        s[static_cast<std::size_t>(j - k0)] = sj;
        if (std::isnan(sj) || sj > tile_max) tile_max = sj;
      }
      float& mi = m[static_cast<std::size_t>(r)];
      const float m_new = std::isnan(tile_max) ? tile_max : std::max(mi, tile_max);
      if (m_new == kNegInf) continue;  // every key so far masked: nothing to add yet
      // exp(-inf - finite) = 0 on the first contributing tile, so the empty state is rescaled to zero.
      const float rescale = std::exp(mi - m_new);
      float* acc_r = acc.data() + r * a.dv;
      float sum = 0.0f;
      if (rescale != 1.0f)
        for (std::int64_t e = 0; e < a.dv; ++e) acc_r[e] *= rescale;
      for (std::int64_t j = k0; j < j_end; ++j) {
        const float p = std::exp(s[static_cast<std::size_t>(j - k0)] - m_new);
        sum += p;
        const float* vj = v + j * a.dv;
        for (std::int64_t e = 0; e < a.dv; ++e) acc_r[e] += p * vj[e];
      }
      l[static_cast<std::size_t>(r)] = l[static_cast<std::size_t>(r)] * rescale + sum;
      mi = m_new;
    }
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    // A row with every key masked has no defined softmax: NaN, as the reference (and PyTorch) give.
    const float li = l[static_cast<std::size_t>(r)];
    const float inv = li > 0.0f ? 1.0f / li : std::numeric_limits<float>::quiet_NaN();
    float* out = y + (q0 + r) * a.dv;
    for (std::int64_t e = 0; e < a.dv; ++e) out[e] = acc[static_cast<std::size_t>(r * a.dv + e)] * inv;
  }
}

}  // namespace

void attention_online(const AttentionArgs& a) {
  const std::int64_t q_tiles = (a.nq + kAttentionQueryTile - 1) / kAttentionQueryTile;
  const std::int64_t tasks = a.batch * a.heads * q_tiles;
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, tasks), [&](const tbb::blocked_range<std::int64_t>& range) {
    for (std::int64_t t = range.begin(); t != range.end(); ++t) {
      const std::int64_t tile = t % q_tiles;
      const std::int64_t bh = t / q_tiles;
      const std::int64_t q0 = tile * kAttentionQueryTile;
      attention_tile(a, bh / a.heads, bh % a.heads, q0, std::min(a.nq, q0 + kAttentionQueryTile));
    }
  });
}

Tensor attention_online(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                        const AttentionAttrs& attrs) {
  if (q.dtype() != DType::f32 || k.dtype() != DType::f32 || v.dtype() != DType::f32)
    throw UnsupportedError("attention_online: q, k and v must be f32");
  if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
    throw ShapeError("attention_online: q, k, v must be 4-D [B, H, N, D]");
  AttentionArgs a;
  a.batch = q.dim(0);
  a.heads = q.dim(1);
  a.nq = q.dim(2);
  a.d = q.dim(3);
  a.nk = k.dim(2);
  a.dv = v.dim(3);
  if (k.dim(0) != a.batch || k.dim(1) != a.heads || k.dim(3) != a.d || v.dim(0) != a.batch || v.dim(1) != a.heads ||
      v.dim(2) != a.nk)
    throw ShapeError("attention_online: shapes do not fit: q " + shape_to_string(q.shape()) + ", k " +
                     shape_to_string(k.shape()) + ", v " + shape_to_string(v.shape()));
  Tensor y(DType::f32, {a.batch, a.heads, a.nq, a.dv});
  a.q = q.data<float>();
  a.k = k.data<float>();
  a.v = v.data<float>();
  a.y = y.data<float>();
  a.q_head_stride = a.nq * a.d;
  a.k_head_stride = a.nk * a.d;
  a.v_head_stride = a.nk * a.dv;
  a.scale = attrs.scale;
  a.causal = attrs.causal;
  Tensor additive;
  if (mask != nullptr) {
    if (mask->rank() > 4) throw ShapeError("attention_online: mask rank above 4");
    if (mask->dtype() == DType::boolean) {
      additive = Tensor(DType::f32, mask->shape());
      const bool* pm = mask->data<bool>();
      float* pa = additive.data<float>();
      for (std::int64_t i = 0; i < mask->numel(); ++i) pa[i] = pm[i] ? 0.0f : kNegInf;
    } else if (mask->dtype() == DType::f32) {
      additive = *mask;
    } else {
      throw UnsupportedError("attention_online: mask must be f32 (additive) or bool (true = attend)");
    }
    // Right-aligned broadcast to [B,H,Nq,Nk]: size-1 axes get stride 0.
    const std::array<std::int64_t, 4> full{a.batch, a.heads, a.nq, a.nk};
    Shape ms(4 - static_cast<std::size_t>(additive.rank()), 1);
    ms.insert(ms.end(), additive.shape().begin(), additive.shape().end());
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
    a.mask = additive.data<float>();
  }
  attention_online(a);
  return y;
}

}  // namespace snnconv::ann
