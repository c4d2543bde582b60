// The packed-weight GEMM (gemm_packed.hpp): a 6 x 16 AVX2/FMA register-blocked micro-kernel in the style of
// BLIS / GotoBLAS (Goto and van de Geijn, "Anatomy of high-performance matrix multiplication", TOMS 2008):
// 12 accumulators, per k step two panel loads, six broadcasts and twelve FMAs. The activations are read in
// place (rows of x are already contiguous in k), the weights were packed once by the plan.
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
// its multiply-adds differently from the vectorised FMA path).
void gelu_block(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy, Activation act) {
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

// The epilogue on one stored row of `cols` values (the scalar path of a partial panel).
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

// C[6, 16] = A[6, k] . P[k, 16] with the 12 accumulators in named registers (an array of them ends up on
// the stack with GCC 12). Element (r, i) of A is a[r * rs + i * ks]: rows in place (rs = lda, ks = 1) or a
// packed micro-panel (rs = 1, ks = 6). Only the first `rows` rows and `cols` columns of C are stored (a
// short tile reads rows of A that the caller padded). With `accumulate` the chains continue from C.
void micro6(const float* a, std::int64_t rs, std::int64_t ks, const float* p, std::int64_t k, float* c,
            std::int64_t ldc, std::int64_t rows, std::int64_t cols, const Epilogue& e, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  if (accumulate) {  // continue the chains from C (a later block of k): the same floats as one long chain
    alignas(32) float t[kRows][kPanel] = {};
    for (std::int64_t r = 0; r < rows; ++r) std::memcpy(t[r], c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
    c00 = _mm256_load_ps(t[0]), c01 = _mm256_load_ps(t[0] + 8), c10 = _mm256_load_ps(t[1]), c11 = _mm256_load_ps(t[1] + 8);
    c20 = _mm256_load_ps(t[2]), c21 = _mm256_load_ps(t[2] + 8), c30 = _mm256_load_ps(t[3]), c31 = _mm256_load_ps(t[3] + 8);
    c40 = _mm256_load_ps(t[4]), c41 = _mm256_load_ps(t[4] + 8), c50 = _mm256_load_ps(t[5]), c51 = _mm256_load_ps(t[5] + 8);
  }
  const float* a0 = a;
  const float* a1 = a + rs;
  const float* a2 = a + 2 * rs;
  const float* a3 = a + 3 * rs;
  const float* a4 = a + 4 * rs;
  const float* a5 = a + 5 * rs;
  for (std::int64_t i = 0, off = 0; i < k; ++i, off += ks, p += kPanel) {
    const __m256 b0 = _mm256_load_ps(p);
    const __m256 b1 = _mm256_load_ps(p + 8);
    __m256 av = _mm256_broadcast_ss(a0 + off);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a1 + off);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a2 + off);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a3 + off);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a4 + off);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a5 + off);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
  }
  __m256 lo[6] = {c00, c10, c20, c30, c40, c50}, hi[6] = {c01, c11, c21, c31, c41, c51};
  if (cols == kPanel) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 b0 = e.bias ? _mm256_loadu_ps(e.bias) : zero, b1 = e.bias ? _mm256_loadu_ps(e.bias + 8) : zero;
    for (std::int64_t r = 0; r < rows; ++r) {
      __m256 x0 = lo[r], x1 = hi[r];
      if (e.bias) {
        x0 = _mm256_add_ps(x0, b0);
        x1 = _mm256_add_ps(x1, b1);
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
  for (std::int64_t r = 0; r < rows; ++r) {
    _mm256_store_ps(tmp, lo[r]);
    _mm256_store_ps(tmp + 8, hi[r]);
    apply_scalar(tmp, cols, r, e);
    std::memcpy(c + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
  }
}

#else  // portable micro-kernel: same arithmetic order (one fused multiply-add chain per element)

void micro6(const float* a, std::int64_t rs, std::int64_t ks, const float* p, std::int64_t k, float* c,
            std::int64_t ldc, std::int64_t rows, std::int64_t cols, const Epilogue& e, bool accumulate) {
  float acc[kRows][kPanel] = {};
  if (accumulate)
    for (std::int64_t r = 0; r < rows; ++r) std::memcpy(acc[r], c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
  for (std::int64_t i = 0; i < k; ++i, p += kPanel)
    for (std::int64_t r = 0; r < kRows; ++r)
      for (std::int64_t j = 0; j < kPanel; ++j) acc[r][j] = std::fma(a[r * rs + i * ks], p[j], acc[r][j]);
  for (std::int64_t r = 0; r < rows; ++r) {
    apply_scalar(acc[r], cols, r, e);
    std::memcpy(c + r * ldc, acc[r], static_cast<std::size_t>(cols) * sizeof(float));
  }
}

#endif

}  // namespace

bool packed_gemm_available() {
#ifdef SNNCONV_PACKED_GEMM
  return true;
#else
  return false;
#endif
}

void pack_panels(const float* b, std::int64_t ldb, std::int64_t k, std::int64_t n, bool transposed, float* out) {
  const std::int64_t panels = (n + kPanel - 1) / kPanel;
  for (std::int64_t p = 0; p < panels; ++p) {
    float* dst = out + p * k * kPanel;
    const std::int64_t cols = std::min(kPanel, n - p * kPanel);
    if (cols < kPanel) std::fill_n(dst, k * kPanel, 0.0f);
    if (transposed) {
      // Column j of the panel is row (p * kPanel + j) of b: read it contiguously.
      for (std::int64_t j = 0; j < cols; ++j) {
        const float* src = b + (p * kPanel + j) * ldb;
        for (std::int64_t i = 0; i < k; ++i) dst[i * kPanel + j] = src[i];
      }
    } else {
      for (std::int64_t i = 0; i < k; ++i) std::copy_n(b + i * ldb + p * kPanel, cols, dst + i * kPanel);
    }
  }
}

PackedB pack_b(const float* w, std::int64_t k, std::int64_t n, bool transposed) {
  PackedB b;
  b.k = k;
  b.n = n;
  b.panels.resize(static_cast<std::size_t>((n + kPanel - 1) / kPanel * k * kPanel));
  pack_panels(w, transposed ? k : n, k, n, transposed, b.panels.data());
  return b;
}

void gemm_panels(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                 std::int64_t n, float* c, std::int64_t ldc, AlignedFloats& pad, std::int64_t panel_stride,
                 const Epilogue& epilogue) {
  if (panel_stride == 0) panel_stride = k * kPanel;
  const std::int64_t full_end = rows / kRows * kRows;
  if (full_end < rows) {
    // Rows past the end are zeros: the micro-kernel computes them but never stores them.
    if (pad.size() < static_cast<std::size_t>(kRows * k)) pad.resize(static_cast<std::size_t>(kRows * k));
    for (std::int64_t r = full_end; r < rows; ++r) std::copy(a + r * lda, a + r * lda + k, pad.begin() + (r - full_end) * k);
    std::fill(pad.begin() + (rows - full_end) * k, pad.begin() + kRows * k, 0.0f);
  }
  // Blocks of kKBlock along k keep a panel's slice (16 KiB) and the six rows of a in L1; a later block
  // continues the accumulators from C, so the result is that of one chain over all of k.
  for (std::int64_t k0 = 0; k0 < k; k0 += kKBlock) {
    const std::int64_t kb = std::min(kKBlock, k - k0);
    const bool first = k0 == 0, last = k0 + kb == k;
    for (std::int64_t c0 = 0; c0 < n; c0 += kPanel) {
      const float* panel = panels + (c0 / kPanel) * panel_stride + k0 * kPanel;
      const std::int64_t cols = std::min(kPanel, n - c0);
      Epilogue e = last ? epilogue : Epilogue{};
      if (e.bias) e.bias += c0;
      for (std::int64_t r = 0; r < rows; r += kRows) {
        Epilogue er = e;
        if (er.residual) er.residual += r * er.ldr + c0;
        if (r < full_end) micro6(a + r * lda + k0, lda, 1, panel, kb, c + r * ldc + c0, ldc, kRows, cols, er, !first);
        else micro6(pad.data() + k0, k, 1, panel, kb, c + r * ldc + c0, ldc, rows - r, cols, er, !first);
      }
    }
  }
}

void gemm_packed(const float* x, std::int64_t rows, const PackedB& w, const float* bias, Activation act, float* y,
                 const float* residual) {
  const std::int64_t k = w.k, n = w.n;
  // Tasks: up to 48-row chunks (8 micro-tiles) x 128-column blocks (8 panels). Each output element is
  // computed the same way in any task, so the cut may follow the thread count: small products (one sequence
  // of 128 tokens) are cut finer until every thread has about four tasks. Within a task, panel outer and
  // row tiles inner: the panel stays in L1 while the task's rows of x stream from L2.
  const std::int64_t want = 4 * std::max(1, tbb::this_task_arena::max_concurrency());
  std::int64_t task_rows = 8 * kRows, task_cols = 8 * kPanel;
  auto tasks = [&] { return ((rows + task_rows - 1) / task_rows) * ((n + task_cols - 1) / task_cols); };
  while (tasks() < want && (task_rows > kRows || task_cols > kPanel)) {
    if (task_rows > kRows && (task_rows >= task_cols / kPanel * kRows || task_cols == kPanel)) task_rows -= 2 * kRows;
    else task_cols -= 2 * kPanel;
    task_rows = std::max(task_rows, kRows);
    task_cols = std::max(task_cols, kPanel);
  }
  const std::int64_t kTaskRows = task_rows, kTaskCols = task_cols;
  const std::int64_t row_tasks = (rows + kTaskRows - 1) / kTaskRows, col_tasks = (n + kTaskCols - 1) / kTaskCols;
  const bool in_registers = act == Activation::none || act == Activation::relu;
  for_chunks(row_tasks * col_tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    AlignedFloats pad;
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t r0 = (t / col_tasks) * kTaskRows, r1 = std::min(rows, r0 + kTaskRows);
      const std::int64_t c0 = (t % col_tasks) * kTaskCols, c1 = std::min(n, c0 + kTaskCols);
      Epilogue e;
      e.bias = bias ? bias + c0 : nullptr;
      e.relu = act == Activation::relu;
      if (residual && in_registers) {
        e.residual = residual + r0 * n + c0;
        e.ldr = n;
      }
      gemm_panels(x + r0 * k, k, r1 - r0, w.panels.data() + (c0 / kPanel) * k * kPanel, k, c1 - c0, y + r0 * n + c0,
                  n, pad, 0, e);
      if (in_registers) continue;
      if (act == Activation::gelu || act == Activation::gelu_tanh) {
        gelu_block(y + r0 * n + c0, r1 - r0, c1 - c0, n, act);  // bias already in
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
    }
  });
}

}  // namespace snnconv::ann::kernels
