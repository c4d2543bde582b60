// Fast contraction kernels: MatMul, Gemm, Linear (Eigen GEMM on Eigen::Map, f32) and 2-D Conv (im2col +
// GEMM). Rows are cut into kRowChunk-row GEMMs: Eigen picks its blocking from the matrix sizes, so a fixed
// chunk size keeps every row's summation order independent of the thread count.
#define EIGEN_DONT_PARALLELIZE  // threads come from TBB only, over fixed chunks
#include <Eigen/Core>
#include <vector>

#include "gemm_packed.hpp"
#include "kernels.hpp"
#include "reference_detail.hpp"

namespace snnconv::ann::kernels {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat>;
using MMap = Eigen::Map<RowMat>;

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

bool all_f32(std::span<const TensorType* const> types, std::size_t count) {
  for (std::size_t i = 0; i < count && i < types.size(); ++i)
    if (types[i] && (types[i]->dtype != DType::f32 || !types[i]->is_static())) return false;
  return true;
}

// Y[rows, n] = X[rows, k] . W[k, n] (+ bias) then activation, in row chunks.
void rows_times_matrix(const float* x, const float* w, const float* bias, float* y, std::int64_t rows,
                       std::int64_t k, std::int64_t n, Activation act) {
  for_chunks(rows, kRowChunk, [&](std::int64_t r0, std::int64_t r1) {
    const std::int64_t rc = r1 - r0;
    MMap(y + r0 * n, rc, n).noalias() = CMap(x + r0 * k, rc, k) * CMap(w, k, n);
    epilogue(y + r0 * n, rc, n, n, bias, act);
  });
}

// ---- MatMul ------------------------------------------------------------------------------------------

void matmul_flat(const KernelArgs& a) {
  // B is one matrix (rank 2, or all its batch dims 1): A's batch dims fold into rows.
  const Tensor& x = *a.in[0];
  const Tensor& w = *a.in[1];
  const std::int64_t k = x.shape().back(), n = w.shape().back();
  rows_times_matrix(x.data<float>(), w.data<float>(), nullptr, a.out[0].data<float>(), x.numel() / k, k, n,
                    Activation::none);
}

void matmul_batched(const KernelArgs& a) {
  // Broadcast batch dims: one GEMM per output batch element (attention's q.k^T and p.v).
  const Tensor& x = *a.in[0];
  const Tensor& w = *a.in[1];
  Tensor& y = a.out[0];
  const std::size_t ry = y.shape().size();
  const std::int64_t m = x.shape()[x.shape().size() - 2], k = x.shape().back(), n = w.shape().back();
  const Shape batch(y.shape().begin(), y.shape().end() - 2);
  const Shape ba(x.shape().begin(), x.shape().end() - 2), bb(w.shape().begin(), w.shape().end() - 2);
  const std::int64_t batches = product(y.shape(), 0, ry - 2);
  std::vector<std::int64_t> off_a(static_cast<std::size_t>(batches)), off_b(static_cast<std::size_t>(batches));
  detail::BroadcastWalker walk(batch, {ba, bb});
  for (std::int64_t i = 0; i < batches; ++i, walk.next()) {
    off_a[static_cast<std::size_t>(i)] = walk.offset(0) * m * k;
    off_b[static_cast<std::size_t>(i)] = walk.offset(1) * k * n;
  }
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  float* py = y.data<float>();
  // Per batch element: B packed into panels (a per-thread buffer, only grown), then the packed GEMM's
  // micro-kernel (one FMA chain over k per element: the same bits in any task and on any ISA). Attention
  // exported as MatMul / Softmax / MatMul (torch's nn.MultiheadAttention, [B*H, N, D] operands) runs here.
  const std::int64_t panel = native_panel();
  for_chunks(batches, 1, [&](std::int64_t b0, std::int64_t b1) {
    thread_local AlignedFloats packed;
    const auto need = static_cast<std::size_t>((n + panel - 1) / panel * panel * k);
    if (packed.size() < need) packed.resize(need);
    for (std::int64_t b = b0; b < b1; ++b) {
      pack_panels(pw + off_b[static_cast<std::size_t>(b)], n, k, n, false, packed.data(), panel);
      gemm_panels(px + off_a[static_cast<std::size_t>(b)], k, m, packed.data(), k, n, py + b * m * n, n, panel);
    }
  });
}

// ---- Gemm --------------------------------------------------------------------------------------------

void gemm(const KernelArgs& a) {
  const auto& at = std::get<GemmAttrs>(a.node.attrs);
  const Tensor& x = *a.in[0];
  const Tensor& w = *a.in[1];
  const Tensor* c = a.in.size() > 2 ? a.in[2] : nullptr;
  Tensor& y = a.out[0];
  const std::int64_t m = y.dim(0), n = y.dim(1), k = at.trans_a ? x.dim(0) : x.dim(1);
  const bool use_c = c != nullptr && at.beta != 0.0f;
  // C broadcasts to [M, N]: a stride of 0 along a broadcast dim.
  std::int64_t c_row = 0, c_col = 0;
  if (use_c) {
    const Shape& cs = c->shape();
    if (!cs.empty() && cs.back() == n && n != 1) c_col = 1;
    if (cs.size() == 2 && cs[0] == m && m != 1) c_row = cs[1];
  }
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pc = use_c ? c->data<float>() : nullptr;
  float* py = y.data<float>();
  for_chunks(m, kRowChunk, [&](std::int64_t r0, std::int64_t r1) {
    const std::int64_t rc = r1 - r0;
    MMap out(py + r0 * n, rc, n);
    if (!at.trans_a && !at.trans_b) out.noalias() = CMap(px + r0 * k, rc, k) * CMap(pw, k, n);
    else if (!at.trans_a) out.noalias() = CMap(px + r0 * k, rc, k) * CMap(pw, n, k).transpose();
    else if (!at.trans_b) out.noalias() = CMap(px, k, m).middleCols(r0, rc).transpose() * CMap(pw, k, n);
    else out.noalias() = CMap(px, k, m).middleCols(r0, rc).transpose() * CMap(pw, n, k).transpose();
    // As the reference: alpha * (A.B), then + beta * C.
    if (at.alpha != 1.0f) out *= at.alpha;
    if (!use_c) return;
    for (std::int64_t i = r0; i < r1; ++i)
      for (std::int64_t j = 0; j < n; ++j) py[i * n + j] += pc[i * c_row + j * c_col] * at.beta;
  });
}

// ---- Linear ------------------------------------------------------------------------------------------

void linear(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const Tensor& w = *a.in[1];
  const Tensor* b = a.in.size() > 2 ? a.in[2] : nullptr;
  const std::int64_t k = w.dim(0), n = w.dim(1);
  rows_times_matrix(x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr, a.out[0].data<float>(),
                    x.numel() / k, k, n, std::get<LinearAttrs>(a.node.attrs).activation);
}

}  // namespace

// ---- packed weights (plan time) --------------------------------------------------------------------------

void linear_packed(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const Tensor* b = a.in.size() > 2 ? a.in[2] : nullptr;
  gemm_packed(x.data<float>(), x.numel() / a.packed->k, *a.packed, b ? b->data<float>() : nullptr,
              std::get<LinearAttrs>(a.node.attrs).activation, a.out[0].data<float>());
}

void linear_packed_residual(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const std::size_t n_in = a.node.inputs.size();  // the Linear's own inputs; the residual follows them
  const Tensor* b = n_in > 2 ? a.in[2] : nullptr;
  gemm_packed(x.data<float>(), x.numel() / a.packed->k, *a.packed, b ? b->data<float>() : nullptr,
              std::get<LinearAttrs>(a.node.attrs).activation, a.out[0].data<float>(), a.in[n_in]->data<float>());
}

void linear_int8(const KernelArgs& a) {
  const Int8Linear& l = *a.int8;
  const Tensor& q = *a.in[0];
  gemm::Int8Rows rows{q.raw(), l.is_signed, l.zero_point};
  if (l.real_input) {
    rows.real = q.data<float>();
    rows.step = l.step;
    rows.lo = l.lo;
    rows.hi = l.hi;
  }
  gemm::multiply_s8(rows, q.numel() / l.w.k, l.w, l.scale.empty() ? nullptr : l.scale.data(),
                    l.bias.empty() ? nullptr : l.bias.data(), a.out[0].data<float>(), l.relu);
}

void matmul_packed(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  gemm_packed(x.data<float>(), x.numel() / a.packed->k, *a.packed, nullptr, Activation::none, a.out[0].data<float>());
}

namespace {

// ---- Conv (2-D) ------------------------------------------------------------------------------------------

struct Conv2d {
  std::int64_t batch, channels, h, w, maps, kh, kw, oh, ow, group;
  std::int64_t sh, sw, dh, dw, ph, pw;
};

Conv2d conv_geometry(const Node& n, const Shape& x, const Shape& w, const Shape& y) {
  const auto& at = std::get<ConvAttrs>(n.attrs);
  auto at_or = [](const std::vector<std::int64_t>& v, std::size_t i, std::int64_t fill) {
    return v.empty() ? fill : v[i];
  };
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], at.group, at_or(at.strides, 0, 1),
          at_or(at.strides, 1, 1), at_or(at.dilations, 0, 1), at_or(at.dilations, 1, 1), at_or(at.pads, 0, 0),
          at_or(at.pads, 1, 0)};
}

void conv2d(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const Tensor& w = *a.in[1];
  const Tensor* b = a.in.size() > 2 ? a.in[2] : nullptr;
  Tensor& y = a.out[0];
  const Conv2d g = conv_geometry(a.node, x.shape(), w.shape(), y.shape());
  const std::int64_t cpg = g.channels / g.group, mpg = g.maps / g.group;
  const std::int64_t patch = cpg * g.kh * g.kw, pixels = g.oh * g.ow;
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = b ? b->data<float>() : nullptr;
  float* py = y.data<float>();
  // One task per (sample, group): im2col into a [patch, pixels] matrix, then W_g[mpg, patch] . col.
  for_chunks(g.batch * g.group, 1, [&](std::int64_t t0, std::int64_t t1) {
    std::vector<float> col(static_cast<std::size_t>(patch * pixels));
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t nb = t / g.group, gi = t % g.group;
      for (std::int64_t ci = 0; ci < cpg; ++ci) {
        const float* plane = px + ((nb * g.channels) + gi * cpg + ci) * g.h * g.w;
        for (std::int64_t ky = 0; ky < g.kh; ++ky)
          for (std::int64_t kx = 0; kx < g.kw; ++kx) {
            float* row = col.data() + ((ci * g.kh + ky) * g.kw + kx) * pixels;
            for (std::int64_t oy = 0; oy < g.oh; ++oy) {
              const std::int64_t iy = oy * g.sh - g.ph + ky * g.dh;
              for (std::int64_t ox = 0; ox < g.ow; ++ox) {
                const std::int64_t ix = ox * g.sw - g.pw + kx * g.dw;
                const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
                row[oy * g.ow + ox] = inside ? plane[iy * g.w + ix] : 0.0f;
              }
            }
          }
      }
      float* out = py + (nb * g.maps + gi * mpg) * pixels;
      MMap(out, mpg, pixels).noalias() = CMap(pw + gi * mpg * patch, mpg, patch) * CMap(col.data(), patch, pixels);
      if (pb)
        for (std::int64_t m = 0; m < mpg; ++m)
          for (std::int64_t p = 0; p < pixels; ++p) out[m * pixels + p] += pb[gi * mpg + m];
    }
  });
}

}  // namespace

void conv2d_packed(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const Tensor* b = a.in.size() > 2 ? a.in[2] : nullptr;
  Tensor& y = a.out[0];
  const Conv2d g = conv_geometry(a.node, x.shape(), a.in[1]->shape(), y.shape());
  const std::int64_t patch = g.channels * g.kh * g.kw, pixels = g.oh * g.ow;
  const float* px = x.data<float>();
  const float* pb = b ? b->data<float>() : nullptr;
  float* py = y.data<float>();
  // Tasks of ~96 output pixels, counted over the whole batch (a ViT-B/16 patch embedding at batch 1 is 196
  // pixels of one sample: whole-sample tasks ran it on one thread). Each pixel is one row of the im2col matrix
  // and one GEMM row, the same FMA chain in any task, so the cut may follow the thread count (for_rows).
  // The im2col rows and products go to buffers of the thread that runs the task, kept and only grown.
  const std::int64_t total = g.batch * pixels;
  for_rows(total, 96, [&](std::int64_t p0, std::int64_t p1) {
    thread_local AlignedFloats col, out;
    const auto need_col = static_cast<std::size_t>((p1 - p0) * patch), need_out = static_cast<std::size_t>((p1 - p0) * g.maps);
    if (col.size() < need_col) col.resize(need_col);
    if (out.size() < need_out) out.resize(need_out);
    // im2col with one row per output pixel: row (sample, oy, ox) holds that pixel's patch (c, ky, kx).
    for (std::int64_t q = p0; q < p1; ++q) {
      const std::int64_t nb = q / pixels, oy = (q % pixels) / g.ow, ox = q % g.ow;
      float* row = col.data() + (q - p0) * patch;
      for (std::int64_t ci = 0; ci < g.channels; ++ci) {
        const float* plane = px + (nb * g.channels + ci) * g.h * g.w;
        for (std::int64_t ky = 0; ky < g.kh; ++ky) {
          const std::int64_t iy = oy * g.sh - g.ph + ky * g.dh;
          for (std::int64_t kx = 0; kx < g.kw; ++kx) {
            const std::int64_t ix = ox * g.sw - g.pw + kx * g.dw;
            const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            *row++ = inside ? plane[iy * g.w + ix] : 0.0f;
          }
        }
      }
    }
    gemm_panels(col.data(), patch, p1 - p0, a.packed->panels.data(), patch, g.maps, out.data(), g.maps,
                a.packed->panel);
    // [pixels, maps] rows -> y[sample, maps, pixel], plus the bias: map by map, the task's pixels of each sample.
    for (std::int64_t q0 = p0; q0 < p1;) {
      const std::int64_t nb = q0 / pixels, q1 = std::min(p1, (nb + 1) * pixels);
      for (std::int64_t m = 0; m < g.maps; ++m) {
        float* dst = py + (nb * g.maps + m) * pixels + (q0 - nb * pixels);
        const float* src = out.data() + (q0 - p0) * g.maps + m;
        const float bias = pb ? pb[m] : 0.0f;
        for (std::int64_t p = 0; p < q1 - q0; ++p) dst[p] = pb ? src[p * g.maps] + bias : src[p * g.maps];
      }
      q0 = q1;
    }
  });
}

KernelChoice choose_contraction(const Graph& g, const Node& n, std::span<const TensorType* const> types) {
  switch (n.kind) {
    case OpKind::MatMul: {
      if (!all_f32(types, 2) || !types[0] || !types[1]) return {};
      const Shape sa = types[0]->static_shape(), sb = types[1]->static_shape();
      if (sa.size() < 2 || sb.size() < 2) return {};  // vector operands: the reference handles the promotion
      if (product(sb, 0, sb.size() - 2) == 1 && sb.size() <= sa.size()) return {matmul_flat, "eigen_gemm"};
      return {matmul_batched, "packed_gemm_batched"};
    }
    case OpKind::Gemm:
      if (!all_f32(types, 3) || !types[0] || !types[1]) return {};
      return {gemm, "eigen_gemm"};
    case OpKind::Linear:
      if (!all_f32(types, 3) || !types[0] || !types[1]) return {};
      if (types[0]->rank() < 1 || types[1]->rank() != 2) return {};
      return {linear, "eigen_gemm"};
    case OpKind::Conv: {
      if (!all_f32(types, 3) || !types[0] || !types[1]) return {};
      if (types[0]->rank() != 4 || types[1]->rank() != 4) return {};
      return {conv2d, "im2col_gemm"};
    }
    default: return {};
  }
}

}  // namespace snnconv::ann::kernels
