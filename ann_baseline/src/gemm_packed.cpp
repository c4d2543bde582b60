// The packed-weight GEMM (gemm_packed.hpp): a 6 x 16 AVX2/FMA register-blocked micro-kernel in the style of
// BLIS / GotoBLAS (Goto and van de Geijn, "Anatomy of high-performance matrix multiplication", TOMS 2008):
// 12 accumulators, per k step two panel loads, six broadcasts and twelve FMAs. The activations are read in
// place (rows of x are already contiguous in k), the weights were packed once by the plan.
#define EIGEN_DONT_PARALLELIZE
#include "gemm_packed.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <vector>
#include <unsupported/Eigen/SpecialFunctions>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SNNCONV_PACKED_GEMM 1
#endif

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
  }
}

#ifdef SNNCONV_PACKED_GEMM

bool packed_gemm_available() { return true; }

namespace {

// C[6, 16] = A[6, k] . P[k, 16] with the 12 accumulators in named registers (an array of them ends up on
// the stack with GCC 12). Rows of A at stride lda; only the first `rows` rows and `cols` columns of C are
// stored (a short tile reads rows of A that the caller padded, see micro_rows).
void micro6(const float* a, std::int64_t lda, const float* p, std::int64_t k, float* c, std::int64_t ldc,
            std::int64_t rows, std::int64_t cols) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float* a0 = a;
  const float* a1 = a + lda;
  const float* a2 = a + 2 * lda;
  const float* a3 = a + 3 * lda;
  const float* a4 = a + 4 * lda;
  const float* a5 = a + 5 * lda;
  for (std::int64_t i = 0; i < k; ++i, p += kPanel) {
    const __m256 b0 = _mm256_load_ps(p);
    const __m256 b1 = _mm256_load_ps(p + 8);
    __m256 av = _mm256_broadcast_ss(a0 + i);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a1 + i);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a2 + i);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a3 + i);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a4 + i);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a5 + i);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
  }
  const __m256 lo[6] = {c00, c10, c20, c30, c40, c50}, hi[6] = {c01, c11, c21, c31, c41, c51};
  for (std::int64_t r = 0; r < rows; ++r) {
    if (cols == kPanel) {
      _mm256_storeu_ps(c + r * ldc, lo[r]);
      _mm256_storeu_ps(c + r * ldc + 8, hi[r]);
    } else {
      alignas(32) float tmp[kPanel];
      _mm256_store_ps(tmp, lo[r]);
      _mm256_store_ps(tmp + 8, hi[r]);
      std::memcpy(c + r * ldc, tmp, static_cast<std::size_t>(cols) * sizeof(float));
    }
  }
}

}  // namespace

PackedB pack_b(const float* w, std::int64_t k, std::int64_t n) {
  PackedB b;
  b.k = k;
  b.n = n;
  const std::int64_t panels = (n + kPanel - 1) / kPanel;
  b.panels.assign(static_cast<std::size_t>(panels * k * kPanel), 0.0f);
  for (std::int64_t p = 0; p < panels; ++p)
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < kPanel && p * kPanel + j < n; ++j)
        b.panels[static_cast<std::size_t>((p * k + i) * kPanel + j)] = w[i * n + p * kPanel + j];
  return b;
}

void gemm_packed(const float* x, std::int64_t rows, const PackedB& w, const float* bias, Activation act, float* y) {
  const std::int64_t k = w.k, n = w.n;
  // Tasks: 48-row chunks (8 micro-tiles) x 128-column blocks (8 panels). The cut only balances the work:
  // each output element is computed the same way in any task.
  constexpr std::int64_t kTaskRows = 8 * kRows, kTaskCols = 8 * kPanel;
  const std::int64_t row_tasks = (rows + kTaskRows - 1) / kTaskRows, col_tasks = (n + kTaskCols - 1) / kTaskCols;
  for_chunks(row_tasks * col_tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    std::vector<float> pad;  // a short last tile's rows, zero-padded to kRows
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t r0 = (t / col_tasks) * kTaskRows, r1 = std::min(rows, r0 + kTaskRows);
      const std::int64_t c0 = (t % col_tasks) * kTaskCols, c1 = std::min(n, c0 + kTaskCols);
      const std::int64_t full_end = r0 + (r1 - r0) / kRows * kRows;
      if (full_end < r1) {
        pad.assign(static_cast<std::size_t>(kRows * k), 0.0f);
        std::copy(x + full_end * k, x + r1 * k, pad.begin());
      }
      // Panel outer, row tiles inner: the panel stays in L1 while the task's rows of x stream from L2.
      for (std::int64_t c = c0; c < c1; c += kPanel) {
        const float* panel = w.panels.data() + (c / kPanel) * k * kPanel;
        const std::int64_t cols = std::min(kPanel, n - c);
        for (std::int64_t r = r0; r < full_end; r += kRows) micro6(x + r * k, k, panel, k, y + r * n + c, n, kRows, cols);
        if (full_end < r1) micro6(pad.data(), k, panel, k, y + full_end * n + c, n, r1 - full_end, cols);
      }
      epilogue(y + r0 * n + c0, r1 - r0, c1 - c0, n, bias ? bias + c0 : nullptr, act);
    }
  });
}

#else  // no AVX2/FMA in this build: the plan never packs

bool packed_gemm_available() { return false; }
PackedB pack_b(const float*, std::int64_t, std::int64_t) { return {}; }
void gemm_packed(const float*, std::int64_t, const PackedB&, const float*, Activation, float*) {}

#endif

}  // namespace snnconv::ann::kernels
