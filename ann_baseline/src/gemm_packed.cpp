// The packed-weight GEMM (gemm_packed.hpp): register-blocked micro-kernels in the style of BLIS / GotoBLAS (Goto
// and van de Geijn, "Anatomy of high-performance matrix multiplication", TOMS 2008). The activations are read in
// place (rows of x are already contiguous in k), the weights were packed once by the plan. This file holds the
// driver, the packing and the AVX2 micro-kernel (6 x 16: 12 accumulators, per k step two panel loads, six
// broadcasts and twelve FMAs); the AVX-512 one (12 x 32) is in gemm_avx512.cpp.
#define EIGEN_DONT_PARALLELIZE
#include "gemm_packed.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#include <unsupported/Eigen/SpecialFunctions>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SNNCONV_PACKED_GEMM 1
#endif

#include <tbb/task_arena.h>

#include "kernels.hpp"

namespace snnconv::ann::kernels {

void epilogue(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy, const float* bias, Activation act) {
  using Block = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
  Block out(y, rows, cols, Eigen::OuterStride<>(ldy));
  if (bias) out.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias, cols);
  auto a = out.array();
  switch (act) {
    case Activation::none: return;
    case Activation::relu:
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < cols; ++j) y[r * ldy + j] = y[r * ldy + j] < 0.0f ? 0.0f : y[r * ldy + j];
      return;
    case Activation::gelu: {
      constexpr float kSqrt2 = 1.41421356237309504880f;
      a = 0.5f * a * (1.0f + (a / kSqrt2).erf());
      return;
    }
    case Activation::gelu_tanh: {
      constexpr float kSqrt2OverPi = 0.79788456080286535588f;
      a = 0.5f * a * (1.0f + (kSqrt2OverPi * (a + 0.044715f * a * a * a)).tanh());
      return;
    }
    case Activation::tanh:
    case Activation::silu:
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < cols; ++j)
          y[r * ldy + j] = act == Activation::tanh ? std::tanh(y[r * ldy + j]) : y[r * ldy + j] / (1.0f + std::exp(-y[r * ldy + j]));
      return;
  }
}

namespace {

// GELU (exact or tanh) on a block whose first column is a multiple of 8 in its row: always in groups of 8
// columns counted from the row start, each group one Eigen packet (a short last group zero-padded), so an
// element's arithmetic does not depend on how the rows were cut into tasks (Eigen's scalar tail would round
// its multiply-adds differently from the vectorised FMA path). The erf form of an AVX-512 product runs on 16 lanes
// (gelu_avx512.cpp) with the same bits; everything else here, compiled for the baseline.
void gelu_block(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy, Activation act, bool wide) {
#ifdef SNNCONV_PACKED_GEMM
  // The erf form on 16 lanes for a product on the AVX-512 kernels (`wide`: 32-column panels), the same bits; the
  // tanh form's cubic stays here, where -ffp-contract=fast may fuse it into FMAs that the AVX-512 file would not.
  if (act == Activation::gelu && wide) return gelu_block_avx512(y, rows, cols, ldy);
#else
  (void)wide;
#endif
  using Group = Eigen::Array<float, 8, 1>;
  auto apply = [act](auto&& g) {
    constexpr float kSqrt2 = 1.41421356237309504880f;
    constexpr float kSqrt2OverPi = 0.79788456080286535588f;
    if (act == Activation::gelu) g = 0.5f * g * (1.0f + (g / kSqrt2).erf());
    else g = 0.5f * g * (1.0f + (kSqrt2OverPi * (g + 0.044715f * g * g * g)).tanh());
  };
  const std::int64_t full = cols / 8 * 8;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = y + r * ldy;
    for (std::int64_t j = 0; j < full; j += 8) apply(Eigen::Map<Group>(row + j));  // unaligned packet in place
    if (full < cols) {
      Group g = Group::Zero();
      std::copy(row + full, row + cols, g.data());
      apply(g);
      std::copy_n(g.data(), cols - full, row + full);
    }
  }
}

// The epilogue on one stored row of `cols` values (the scalar path of a partial panel): the same float
// operations as a vector lane.
void apply_scalar(float* v, std::int64_t cols, std::int64_t r, const Epilogue& e) {
  for (std::int64_t j = 0; j < cols; ++j) {
    float x = v[j];
    if (e.bias) x += e.bias[j];
    if (e.relu) x = x < 0.0f ? 0.0f : x;
    if (e.residual) x += e.residual[r * e.ldr + j];
    v[j] = x;
  }
}

#ifdef SNNCONV_PACKED_GEMM

// C[R, 16] (+)= A[R, k] . P[k, 16] with A packed k-major (a[i * R + r]): 2R accumulators in a flat array that
// GCC keeps in registers as long as every loop indexing it is unrolled. Only the first `cols` columns of C are
// stored.
template <int R>
void tile_avx2(const float* a, const float* p, std::int64_t k, float* c, std::int64_t ldc, std::int64_t cols,
               const Epilogue& e, bool accumulate) {
  __m256 acc[2 * R];
  if (accumulate) {  // continue the chains from C (a later block of k): the same floats as one long chain
    alignas(32) float t[kPanel];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      std::memcpy(t, c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
      acc[2 * r] = _mm256_load_ps(t);
      acc[2 * r + 1] = _mm256_load_ps(t + 8);
    }
  } else {
#pragma GCC unroll 12
    for (int i = 0; i < 2 * R; ++i) acc[i] = _mm256_setzero_ps();
  }
  for (std::int64_t i = 0; i < k; ++i, p += kPanel, a += R) {
    const __m256 b0 = _mm256_load_ps(p);
    const __m256 b1 = _mm256_load_ps(p + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      acc[2 * r] = _mm256_fmadd_ps(av, b0, acc[2 * r]);
      acc[2 * r + 1] = _mm256_fmadd_ps(av, b1, acc[2 * r + 1]);
    }
  }
  if (cols == kPanel) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 bb0 = e.bias ? _mm256_loadu_ps(e.bias) : zero, bb1 = e.bias ? _mm256_loadu_ps(e.bias + 8) : zero;
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      __m256 x0 = acc[2 * r], x1 = acc[2 * r + 1];
      if (e.bias) {
        x0 = _mm256_add_ps(x0, bb0);
        x1 = _mm256_add_ps(x1, bb1);
      }
      if (e.relu) {  // the reference's v < 0 ? 0 : v (NaN stays NaN; -0 stays -0)
        x0 = _mm256_blendv_ps(x0, zero, _mm256_cmp_ps(x0, zero, _CMP_LT_OQ));
        x1 = _mm256_blendv_ps(x1, zero, _mm256_cmp_ps(x1, zero, _CMP_LT_OQ));
      }
      if (e.residual) {
        x0 = _mm256_add_ps(x0, _mm256_loadu_ps(e.residual + r * e.ldr));
        x1 = _mm256_add_ps(x1, _mm256_loadu_ps(e.residual + r * e.ldr + 8));
      }
      _mm256_storeu_ps(c + r * ldc, x0);
      _mm256_storeu_ps(c + r * ldc + 8, x1);
    }
    return;
  }
  alignas(32) float tmp[kPanel];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(tmp, acc[2 * r]);
    _mm256_store_ps(tmp + 8, acc[2 * r + 1]);
    apply_scalar(tmp, cols, r, e);
    std::memcpy(c + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
  }
}

// C[R, 16 P] = A[R, k] . P panels (each k x 16, panel_stride apart), A rows in place; the whole of k in one pass.
template <int R, int P, bool Stream>
void small_tile_avx2(const float* a, std::int64_t lda, const float* p, std::int64_t panel_stride, std::int64_t k,
                     float* c, std::int64_t ldc, std::int64_t cols, const Epilogue& e, const float* next) {
  __m256 acc[2 * R * P];
#pragma GCC unroll 16
  for (int i = 0; i < 2 * R * P; ++i) acc[i] = _mm256_setzero_ps();
  // A product streaming from L3 (Stream): the tile's output (and residual) lines, asked for now, arrive during
  // the k loop instead of stalling the epilogue's loads and stores; and the rows of the next call (from `next`,
  // R * k floats over the loop, when not null).
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < P; ++q)
      if (Stream && kPanel * q < cols) {
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kPanel * q), _MM_HINT_T0);
        if (e.residual) _mm_prefetch(reinterpret_cast<const char*>(e.residual + r * e.ldr + kPanel * q), _MM_HINT_T0);
      }
  for (std::int64_t i = 0; i < k; ++i) {
    if (Stream && next) _mm_prefetch(reinterpret_cast<const char*>(next + i * R), _MM_HINT_T0);
    __m256 b[2 * P];
#pragma GCC unroll 8
    for (int q = 0; q < P; ++q) {
      const float* pq = p + q * panel_stride + i * kPanel;
      // Weights that do not fit the caches stream from memory: each panel's own stream, 48 k steps (3 KiB) ahead.
      _mm_prefetch(reinterpret_cast<const char*>(pq + 48 * kPanel), _MM_HINT_T0);
      b[2 * q] = _mm256_load_ps(pq);
      b[2 * q + 1] = _mm256_load_ps(pq + 8);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + i);
#pragma GCC unroll 8
      for (int v = 0; v < 2 * P; ++v) acc[r * 2 * P + v] = _mm256_fmadd_ps(av, b[v], acc[r * 2 * P + v]);
    }
  }
  alignas(32) float tmp[8];
#pragma GCC unroll 8
  for (int v = 0; v < 2 * P; ++v) {
    const std::int64_t w = std::min<std::int64_t>(8, cols - 8 * v);
    if (w <= 0) break;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      _mm256_store_ps(tmp, acc[r * 2 * P + v]);
      Epilogue ev = e;
      if (ev.bias) ev.bias += 8 * v;
      if (ev.residual) ev.residual += 8 * v;
      apply_scalar(tmp, w, r, ev);  // the same float operations as the tiles' vector epilogue
      std::memcpy(c + r * ldc + 8 * v, tmp, static_cast<std::size_t>(w) * sizeof(float));
    }
  }
}

template <int R, int P, bool Stream>
void small_rows_avx2(const float* a, std::int64_t lda, const float* panels, std::int64_t k, std::int64_t n, float* c,
                     std::int64_t ldc, const Epilogue& e, const float* next) {
  const std::int64_t stride = k * kPanel, group = P * kPanel;
  auto at = [&](std::int64_t col) {
    Epilogue ec = e;
    if (ec.bias) ec.bias += col;
    if (ec.residual) ec.residual += col;
    return ec;
  };
  std::int64_t c0 = 0;
  for (; c0 + group <= n; c0 += group, next = nullptr)  // the next rows fetched once, during the first tile
    small_tile_avx2<R, P, Stream>(a, lda, panels + (c0 / kPanel) * stride, stride, k, c + c0, ldc, group, at(c0), next);
  for (; c0 < n; c0 += kPanel, next = nullptr)
    small_tile_avx2<R, 1, Stream>(a, lda, panels + (c0 / kPanel) * stride, stride, k, c + c0, ldc,
                                  std::min(kPanel, n - c0), at(c0), next);
}

// small_rows_avx2 with its Stream flag chosen at run time (a product large enough to stream: a caller's non-null
// `next`); without Stream, no next rows are fetched.
template <int R, int P>
void small_rows_avx2_when(bool stream, const float* a, std::int64_t lda, const float* panels, std::int64_t k,
                          std::int64_t n, float* c, std::int64_t ldc, const Epilogue& e, const float* next) {
  if (stream) small_rows_avx2<R, P, true>(a, lda, panels, k, n, c, ldc, e, next);
  else small_rows_avx2<R, P, false>(a, lda, panels, k, n, c, ldc, e, nullptr);
}

#else  // portable micro-kernel: same arithmetic order (one fused multiply-add chain per element)

template <int R>
void tile_avx2(const float* a, const float* p, std::int64_t k, float* c, std::int64_t ldc, std::int64_t cols,
               const Epilogue& e, bool accumulate) {
  float acc[R][kPanel] = {};
  if (accumulate)
    for (int r = 0; r < R; ++r) std::memcpy(acc[r], c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
  for (std::int64_t i = 0; i < k; ++i, p += kPanel)
    for (int r = 0; r < R; ++r)
      for (std::int64_t j = 0; j < kPanel; ++j) acc[r][j] = std::fma(a[i * R + r], p[j], acc[r][j]);
  for (int r = 0; r < R; ++r) {
    apply_scalar(acc[r], cols, r, e);
    std::memcpy(c + r * ldc, acc[r], static_cast<std::size_t>(cols) * sizeof(float));
  }
}

#endif

Epilogue rows_down(Epilogue e, std::int64_t r) {
  if (e.residual) e.residual += r * e.ldr;
  return e;
}

}  // namespace

void small_avx2(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                std::int64_t n, float* c, std::int64_t ldc, const Epilogue& e, const float* next) {
#ifdef SNNCONV_PACKED_GEMM
  // 16 ymm registers: R * P * 2 accumulators <= 12 beside the loaded panel rows and the broadcast. More than
  // six rows run as six, then the rest (the panels are then read twice, from L1 / L2).
  switch (rows) {
    case 1: return small_rows_avx2_when<1, 6>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 2: return small_rows_avx2_when<2, 3>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 3: return small_rows_avx2_when<3, 2>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 4: return small_rows_avx2_when<4, 1>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 5: return small_rows_avx2_when<5, 1>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 6: return small_rows_avx2_when<6, 1>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    default:
      small_rows_avx2_when<6, 1>(next != nullptr, a, lda, panels, k, n, c, ldc, e, nullptr);
      return small_avx2(a + 6 * lda, lda, rows - 6, panels, k, n, c + 6 * ldc, ldc, rows_down(e, 6), next);
  }
#else
  (void)next;
  // Portable: one row tile at a time through the packed-A path.
  AlignedFloats ap(static_cast<std::size_t>(rows * k));
  pack_a(a, lda, rows, k, kRows, ap.data());
  for (std::int64_t c0 = 0; c0 < n; c0 += kPanel) {
    Epilogue ec = e;
    if (ec.bias) ec.bias += c0;
    if (ec.residual) ec.residual += c0;
    panel_avx2(ap.data(), rows, panels + (c0 / kPanel) * k * kPanel, k, c + c0, ldc, std::min(kPanel, n - c0), ec, false);
  }
#endif
}

void panel_avx2(const float* apack, std::int64_t rows, const float* p, std::int64_t k, float* c, std::int64_t ldc,
                std::int64_t cols, const Epilogue& e, bool accumulate) {
  std::int64_t r = 0;
  for (; r + kRows <= rows; r += kRows)
    tile_avx2<kRows>(apack + r * k, p, k, c + r * ldc, ldc, cols, rows_down(e, r), accumulate);
  const Epilogue er = rows_down(e, r);
  const float* a = apack + r * k;
  switch (rows - r) {
    case 5: return tile_avx2<5>(a, p, k, c + r * ldc, ldc, cols, er, accumulate);
    case 4: return tile_avx2<4>(a, p, k, c + r * ldc, ldc, cols, er, accumulate);
    case 3: return tile_avx2<3>(a, p, k, c + r * ldc, ldc, cols, er, accumulate);
    case 2: return tile_avx2<2>(a, p, k, c + r * ldc, ldc, cols, er, accumulate);
    case 1: return tile_avx2<1>(a, p, k, c + r * ldc, ldc, cols, er, accumulate);
    default: return;
  }
}

void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t k, std::int64_t mr, float* out) {
  for (std::int64_t r0 = 0; r0 < rows; r0 += mr) {
    const std::int64_t h = std::min(mr, rows - r0);
    float* dst = out + r0 * k;
    for (std::int64_t r = 0; r < h; ++r) {
      const float* src = a + (r0 + r) * lda;
      for (std::int64_t i = 0; i < k; ++i) dst[i * h + r] = src[i];
    }
  }
}

bool packed_gemm_available() {
#ifdef SNNCONV_PACKED_GEMM
  return true;
#else
  return false;
#endif
}

std::int64_t native_panel() { return gemm::panel_width(active_isa()); }

void pack_panels(const float* b, std::int64_t ldb, std::int64_t k, std::int64_t n, bool transposed, float* out,
                 std::int64_t panel) {
  const std::int64_t panels = (n + panel - 1) / panel;
  for (std::int64_t p = 0; p < panels; ++p) {
    float* dst = out + p * k * panel;
    const std::int64_t cols = std::min(panel, n - p * panel);
    if (cols < panel) std::fill_n(dst, k * panel, 0.0f);
    if (transposed) {
      // Column j of the panel is row (p * panel + j) of b: read it contiguously.
      for (std::int64_t j = 0; j < cols; ++j) {
        const float* src = b + (p * panel + j) * ldb;
        for (std::int64_t i = 0; i < k; ++i) dst[i * panel + j] = src[i];
      }
    } else {
      for (std::int64_t i = 0; i < k; ++i) std::copy_n(b + i * ldb + p * panel, cols, dst + i * panel);
    }
  }
}

namespace {

struct IsaKernel {
  PanelKernel kernel;
  std::int64_t mr;  // tile height the kernel reads its packed rows in
};

IsaKernel kernel_for(std::int64_t panel) {
#ifdef SNNCONV_PACKED_GEMM
  if (panel == kPanelWide) return {panel_avx512, kRowsWide};
#endif
  return {panel_avx2, kRows};
}

// Rows [r_off, r_off + rows) of a product whose A was packed by pack_blocks (ap_rows rows in all) times the
// panels: for each block of k, every panel against the rows' micro-panels. A later block continues the
// accumulators from C, so the result is that of one chain over all of k (k = 0 still runs one empty block: the
// output is the epilogue of 0).
void run_blocks(const IsaKernel& ik, const float* ap, std::int64_t ap_rows, std::int64_t r_off, std::int64_t rows,
                const float* panels, std::int64_t k, std::int64_t n, float* c, std::int64_t ldc, std::int64_t panel,
                std::int64_t panel_stride, const Epilogue& epilogue) {
  std::int64_t k0 = 0;
  do {
    const std::int64_t kb = std::min(kKBlock, k - k0);
    const bool first = k0 == 0, last = k0 + kb == k;
    const float* a = ap + k0 * ap_rows + r_off * kb;
    for (std::int64_t c0 = 0; c0 < n; c0 += panel) {
      Epilogue e = last ? epilogue : Epilogue{};
      if (e.bias) e.bias += c0;
      if (e.residual) e.residual += c0;
      ik.kernel(a, rows, panels + (c0 / panel) * panel_stride + k0 * panel, kb, c + c0, ldc, std::min(panel, n - c0),
                e, !first);
    }
    k0 += kb;
  } while (k0 < k);
}

// Packs rows [r0, r1) (r0 a multiple of mr) of a [ap_rows, k] into `ap`: block of k starting at k0 at
// ap + k0 * ap_rows, inside it the rows' micro-panels (pack_a) from offset r0 * kb.
void pack_blocks(const float* a, std::int64_t lda, std::int64_t ap_rows, std::int64_t r0, std::int64_t r1,
                 std::int64_t k, std::int64_t mr, float* ap) {
  for (std::int64_t k0 = 0; k0 < k; k0 += kKBlock) {
    const std::int64_t kb = std::min(kKBlock, k - k0);
    pack_a(a + r0 * lda + k0, lda, r1 - r0, kb, mr, ap + k0 * ap_rows + r0 * kb);
  }
}

}  // namespace

void gemm_panels(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                 std::int64_t n, float* c, std::int64_t ldc, std::int64_t panel, std::int64_t panel_stride,
                 const Epilogue& epilogue) {
  if (panel_stride == 0) panel_stride = k * panel;
  const IsaKernel ik = kernel_for(panel);
  // Per thread, kept across calls and only grown.
  thread_local AlignedFloats ap;
  if (ap.size() < static_cast<std::size_t>(rows * k)) ap.resize(static_cast<std::size_t>(rows * k));
  pack_blocks(a, lda, rows, 0, rows, k, ik.mr, ap.data());
  run_blocks(ik, ap.data(), rows, 0, rows, panels, k, n, c, ldc, panel, panel_stride, epilogue);
}

namespace {

// A product of at most kSmallRows rows: tasks of whole panel groups along n (each weight read once), in parallel
// only when the weights are big enough to be worth a second thread.
void gemm_small(const float* x, std::int64_t rows, const PackedB& w, const float* bias, Activation act, float* y,
                const float* residual) {
  const std::int64_t k = w.k, n = w.n, panel = w.panel;
#ifdef SNNCONV_PACKED_GEMM
  const SmallKernel kernel = panel == kPanelWide ? small_avx512 : small_avx2;
#else
  const SmallKernel kernel = small_avx2;
#endif
  const bool in_registers = act == Activation::none || act == Activation::relu;
  const std::int64_t task_cols = 8 * kPanelWide;  // 256 columns: whole panel groups of either ISA
  const std::int64_t tasks = (n + task_cols - 1) / task_cols;
  for_chunks(tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    const std::int64_t c0 = t0 * task_cols, c1 = std::min(n, t1 * task_cols);
    Epilogue e;
    e.bias = bias ? bias + c0 : nullptr;
    e.relu = act == Activation::relu;
    if (residual && in_registers) {
      e.residual = residual + c0;
      e.ldr = n;
    }
    kernel(x, k, rows, w.panels.data() + (c0 / panel) * k * panel, k, c1 - c0, y + c0, n, e, nullptr);
    if (in_registers) return;
    gelu_block(y + c0, rows, c1 - c0, n, act, panel == kPanelWide);
    if (residual)
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = c0; j < c1; ++j) y[r * n + j] += residual[r * n + j];
  }, rows * k * n / 8);  // weight reads: a second thread pays from ~0.5 M multiply-adds per row
}

}  // namespace

void gemm_packed(const float* x, std::int64_t rows, const PackedB& w, const float* bias, Activation act, float* y,
                 const float* residual) {
  if (rows <= kSmallRows) return gemm_small(x, rows, w, bias, act, y, residual);
  const std::int64_t k = w.k, n = w.n, panel = w.panel;
  const IsaKernel ik = kernel_for(panel);
  // Tasks: up to 192-row chunks (whole micro-tiles of either ISA) x 128-column blocks. Each output element is
  // computed the same way in any task, so the cut may follow the thread count: small products (one sequence of
  // 128 tokens) are cut finer until every thread has about four tasks. Tasks are numbered row block fastest, so
  // the tasks a thread runs one after the other share one column block of the weights (k x 128 floats, in L2)
  // while the packed rows stream from L2 / L3. Within a task, panel outer and row tiles inner: the panel's slice
  // stays in L1 while the task's packed rows stream past it.
  const std::int64_t threads = std::max(1, tbb::this_task_arena::max_concurrency()), want = 4 * threads;
  const std::int64_t row_unit = 2 * kRowsWide;  // 24 rows: whole tiles of 6 and of 12
  std::int64_t task_rows = 8 * row_unit, task_cols = 128;
  auto tasks = [&] { return ((rows + task_rows - 1) / task_rows) * ((n + task_cols - 1) / task_cols); };
  while (tasks() < want && (task_rows > row_unit || task_cols > panel)) {
    if (task_rows > row_unit && (task_rows / row_unit >= task_cols / panel || task_cols == panel)) task_rows -= row_unit;
    else task_cols -= panel;
  }
#ifdef SNNCONV_PACKED_GEMM
  const bool in_place = k <= kInPlaceMaxK;
#else
  const bool in_place = false;
#endif
  // Row blocks cut evenly, as many as makes the task count a multiple of the threads when that is possible, in
  // units of the row step of the kernel that runs them (six rows in place, a micro-tile of packed rows): 197
  // tokens were blocks of 192 and 5 rows (two threads could each draw both of a column block's heavy halves),
  // now 102 and 95; 1,088 rows were 7 blocks of 144 and one of 80 (halves of 576 and 512 rows), now 7 of 138 and
  // one of 122. Any cut gives every element the same bits.
  {
    const std::int64_t unit = in_place ? 6 : ik.mr, units = (rows + unit - 1) / unit;
    const std::int64_t col_blocks = (n + task_cols - 1) / task_cols;
    std::int64_t blocks = (rows + task_rows - 1) / task_rows;
    while ((blocks * col_blocks) % threads != 0 && blocks < units) ++blocks;
    task_rows = (units + blocks - 1) / blocks * unit;
  }
  const std::int64_t row_tasks = (rows + task_rows - 1) / task_rows, col_tasks = (n + task_cols - 1) / task_cols;
  const bool in_registers = act == Activation::none || act == Activation::relu;
  // Tasks are cut by the shapes and the thread count only; below ~0.25 M multiply-adds (a ViT's 17 tokens) the
  // hand-off to a worker costs about as much as the product: run the same tasks on the calling thread.
  const std::int64_t macs = rows * k * n;
  auto finish = [&](std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1) {
    if (in_registers) return;
    if (act == Activation::gelu || act == Activation::gelu_tanh) {
      gelu_block(y + r0 * n + c0, r1 - r0, c1 - c0, n, act, panel == kPanelWide);  // bias already in
    } else {  // tanh, silu: element by element (the reference's scalar functions)
      for (std::int64_t r = r0; r < r1; ++r)
        for (std::int64_t j = c0; j < c1; ++j) {
          float& v = y[r * n + j];
          v = act == Activation::tanh ? std::tanh(v) : v / (1.0f + std::exp(-v));
        }
    }
    if (residual)
      for (std::int64_t r = r0; r < r1; ++r)
        for (std::int64_t j = c0; j < c1; ++j) y[r * n + j] += residual[r * n + j];
  };
#ifdef SNNCONV_PACKED_GEMM
  if (k <= kInPlaceMaxK) {
    // The rows of x are read in place by the small-window kernels, six at a time against two panels (AVX-512:
    // 24 accumulators, per k step four panel loads and six broadcasts), all of k in one pass. That saves
    // packing A, a scalar transposition that cost half as much as the products at k = 64..256; six rows of x
    // stay in L1 and the task's panels in L2 up to k = 1024 (code_gpt's fc2, k = 512: 1.6x faster than packed
    // A tiles). Each element is the same FMA chain from 0 over k as in the packed-A tiles: the same bits.
    const SmallKernel kernel = panel == kPanelWide ? small_avx512 : small_avx2;
    constexpr std::int64_t kInPlaceRows = 6;
    // x and y together above 2 MiB, more than a core's L2 on current x86 cores (code_gpt b32's 4096 rows, 4-10 MB;
    // not a ViT's 1,088 rows, 1.1-1.4 MB, where the extra prefetches cost 3-5 %): they stream from L3, and the
    // kernel fetches ahead.
    const bool stream = rows * (k + n) * static_cast<std::int64_t>(sizeof(float)) > (std::int64_t{2} << 20);
    for_chunks(row_tasks * col_tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
      for (std::int64_t t = t0; t < t1; ++t) {
        // Which operand stays put from one task to the next: with more rows than columns (activations larger
        // than the weights: a batch of sequences) a row block of x stays in L2 while its column blocks pass
        // (4096 x 128 x 512: x from L3 four times ran at ~125 GFLOP/s); otherwise a column block of the
        // weights stays while the row blocks pass. The order changes no value.
        const bool rows_stay = rows > n;
        const std::int64_t rt = rows_stay ? t / col_tasks : t % row_tasks, ct = rows_stay ? t % col_tasks : t / row_tasks;
        const std::int64_t r0 = rt * task_rows, r1 = std::min(rows, r0 + task_rows);
        const std::int64_t c0 = ct * task_cols, c1 = std::min(n, c0 + task_cols);
        for (std::int64_t r = r0; r < r1; r += kInPlaceRows) {
          Epilogue e;
          e.bias = bias ? bias + c0 : nullptr;
          e.relu = act == Activation::relu;
          if (residual && in_registers) {
            e.residual = residual + r * n + c0;
            e.ldr = n;
          }
          // Streaming: the next six rows (past the task's end, they belong to another task: a harmless fetch).
          kernel(x + r * k, k, std::min(kInPlaceRows, r1 - r), w.panels.data() + (c0 / panel) * k * panel, k, c1 - c0,
                 y + r * n + c0, n, e, stream ? x + (r + kInPlaceRows) * k : nullptr);
        }
        finish(r0, r1, c0, c1);
      }
    }, macs >> 2);
    return;
  }
#endif
  // A is packed once for all column tasks (every task of a row block reads the same micro-panels). The buffer
  // belongs to the calling thread, kept across calls and only grown.
  thread_local AlignedFloats ap;
  if (ap.size() < static_cast<std::size_t>(rows * k)) ap.resize(static_cast<std::size_t>(rows * k));
  float* pa = ap.data();
  for_chunks(row_tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    pack_blocks(x, k, rows, t0 * task_rows, std::min(rows, t1 * task_rows), k, ik.mr, pa);
  }, rows * k);
  for_chunks(row_tasks * col_tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t r0 = (t % row_tasks) * task_rows, r1 = std::min(rows, r0 + task_rows);
      const std::int64_t c0 = (t / row_tasks) * task_cols, c1 = std::min(n, c0 + task_cols);
      Epilogue e;
      e.bias = bias ? bias + c0 : nullptr;
      e.relu = act == Activation::relu;
      if (residual && in_registers) {
        e.residual = residual + r0 * n + c0;
        e.ldr = n;
      }
      run_blocks(ik, pa, rows, r0, r1 - r0, w.panels.data() + (c0 / panel) * k * panel, k, c1 - c0, y + r0 * n + c0,
                 n, panel, k * panel, e);
      finish(r0, r1, c0, c1);
    }
  }, macs >> 2);
}

}  // namespace snnconv::ann::kernels

namespace snnconv::ann::gemm {

std::int64_t panel_width(Isa isa) {
  return isa >= Isa::avx512 && kernels::packed_gemm_available() ? kernels::kPanelWide : kernels::kPanel;
}

PackedF32 pack_f32(const float* w, std::int64_t k, std::int64_t n, bool transposed, Isa isa) {
  PackedF32 b;
  b.k = k;
  b.n = n;
  b.panel = panel_width(isa);
  b.panels.resize(static_cast<std::size_t>((n + b.panel - 1) / b.panel * k * b.panel));
  kernels::pack_panels(w, transposed ? k : n, k, n, transposed, b.panels.data(), b.panel);
  return b;
}

void multiply_f32(const float* x, std::int64_t rows, const PackedF32& w, const float* bias, Activation act, float* y,
                  const float* residual) {
  kernels::gemm_packed(x, rows, w, bias, act, y, residual);
}

}  // namespace snnconv::ann::gemm
