// The AVX-512 micro-kernel of the packed-weight GEMM (gemm_packed.hpp): 12 x 32 register tiles, 24 zmm
// accumulators, per k step two panel loads, twelve broadcasts and 24 FMAs. Built with the AVX-512 flags
// (snnconv_avx512_sources in CMake), intrinsics only, and called only when active_isa() >= avx512 (the plan
// packs 32-column panels only then). Each output element is the same fused multiply-add chain over k as in the
// AVX2 kernel, and the epilogue the same float operations, so both give the same bits.
#include <immintrin.h>

#include <cstdint>

#include "gemm_packed.hpp"
#include "avx512_lanes.hpp"

namespace snnconv::ann::kernels {
namespace {


// C[R, 32] (+)= A[R, k] . P[k, 32] with A packed k-major (a[i * R + r]); only the first `cols` columns of C are
// read or written.
template <int R>
void tile(const float* a, const float* p, std::int64_t k, float* c, std::int64_t ldc, std::int64_t cols,
          const Epilogue& e, bool accumulate) {
  const __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);
  __m512 acc[2 * R];
  if (accumulate) {  // continue the chains from C: the same floats as one long chain
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      acc[2 * r] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
      acc[2 * r + 1] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
    }
  } else {
#pragma GCC unroll 24
    for (int i = 0; i < 2 * R; ++i) acc[i] = _mm512_setzero_ps();
  }
  for (std::int64_t i = 0; i < k; ++i, p += kPanelWide, a += R) {
    const __m512 b0 = _mm512_load_ps(p);
    const __m512 b1 = _mm512_load_ps(p + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc[2 * r] = _mm512_fmadd_ps(av, b0, acc[2 * r]);
      acc[2 * r + 1] = _mm512_fmadd_ps(av, b1, acc[2 * r + 1]);
    }
  }
  const __m512 zero = _mm512_setzero_ps();
  const __m512 bb0 = e.bias ? _mm512_maskz_loadu_ps(m0, e.bias) : zero;
  const __m512 bb1 = e.bias ? _mm512_maskz_loadu_ps(m1, e.bias + 16) : zero;
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    __m512 x0 = acc[2 * r], x1 = acc[2 * r + 1];
    if (e.bias) {
      x0 = _mm512_add_ps(x0, bb0);
      x1 = _mm512_add_ps(x1, bb1);
    }
    if (e.relu) {  // the reference's v < 0 ? 0 : v (NaN stays NaN; -0 stays -0)
      x0 = _mm512_mask_mov_ps(x0, _mm512_cmp_ps_mask(x0, zero, _CMP_LT_OQ), zero);
      x1 = _mm512_mask_mov_ps(x1, _mm512_cmp_ps_mask(x1, zero, _CMP_LT_OQ), zero);
    }
    if (e.residual) {
      x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, e.residual + r * e.ldr));
      x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, e.residual + r * e.ldr + 16));
    }
    _mm512_mask_storeu_ps(c + r * ldc, m0, x0);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, x1);
  }
}

Epilogue rows_down(Epilogue e, std::int64_t r) {
  if (e.residual) e.residual += r * e.ldr;
  return e;
}

template <int... R>
void tail(int rows, const float* a, const float* p, std::int64_t k, float* c, std::int64_t ldc, std::int64_t cols,
          const Epilogue& e, bool accumulate, std::integer_sequence<int, R...>) {
  ((rows == R + 1 ? (tile<R + 1>(a, p, k, c, ldc, cols, e, accumulate), 0) : 0), ...);
}

constexpr std::int64_t kPrefetchSteps = 24;  // k steps ahead (3 KiB of one panel)

// C[R, 32 P] = A[R, k] . P panels (each k x 32, panel_stride apart), A rows in place (row stride lda); the whole
// of k in one pass. Only the first `cols` columns of the group are stored (the last panel may be partial).
template <int R, int P, bool Stream>
void small_tile(const float* a, std::int64_t lda, const float* p, std::int64_t panel_stride, std::int64_t k, float* c,
                std::int64_t ldc, std::int64_t cols, const Epilogue& e, const float* next) {
  __m512 acc[2 * R * P];
#pragma GCC unroll 32
  for (int i = 0; i < 2 * R * P; ++i) acc[i] = _mm512_setzero_ps();
  // A product streaming from L3 (Stream): the tile's output (and residual) lines, asked for now, arrive during
  // the k loop instead of stalling the epilogue's loads and stores; and the rows of the next call (from `next`,
  // R * k floats over the loop, when not null).
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < 2 * P; ++v)
      if (Stream && 16 * v < cols) {
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16 * v), _MM_HINT_T0);
        if (e.residual) _mm_prefetch(reinterpret_cast<const char*>(e.residual + r * e.ldr + 16 * v), _MM_HINT_T0);
      }
  for (std::int64_t i = 0; i < k; ++i) {
    if (Stream && next) _mm_prefetch(reinterpret_cast<const char*>(next + i * R), _MM_HINT_T0);
    __m512 b[2 * P];
#pragma GCC unroll 16
    for (int q = 0; q < P; ++q) {
      const float* pq = p + q * panel_stride + i * kPanelWide;
      // Weights stream from memory when they do not fit the caches: ask for them kPrefetchSteps ahead, each
      // panel's own stream (the hardware prefetcher follows few streams at once).
      _mm_prefetch(reinterpret_cast<const char*>(pq + kPrefetchSteps * kPanelWide), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(pq + kPrefetchSteps * kPanelWide + 16), _MM_HINT_T0);
      b[2 * q] = _mm512_load_ps(pq);
      b[2 * q + 1] = _mm512_load_ps(pq + 16);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + i]);
#pragma GCC unroll 16
      for (int v = 0; v < 2 * P; ++v) acc[r * 2 * P + v] = _mm512_fmadd_ps(av, b[v], acc[r * 2 * P + v]);
    }
  }
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int v = 0; v < 2 * P; ++v) {
    const __mmask16 m = first_lanes(cols - 16 * v);
    if (m == 0) break;
    const __m512 bias = e.bias ? _mm512_maskz_loadu_ps(m, e.bias + 16 * v) : zero;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m512 x = acc[r * 2 * P + v];
      if (e.bias) x = _mm512_add_ps(x, bias);
      if (e.relu) x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), zero);
      if (e.residual) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, e.residual + r * e.ldr + 16 * v));
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, m, x);
    }
  }
}

// small_tile<R, rest> for rest in 1..Q, chosen at run time.
template <int R, int Q, bool Stream>
void small_rest(std::int64_t rest, const float* a, std::int64_t lda, const float* p, std::int64_t panel_stride,
                std::int64_t k, float* c, std::int64_t ldc, std::int64_t cols, const Epilogue& e, const float* next) {
  if constexpr (Q >= 1) {
    if (rest == Q) return small_tile<R, Q, Stream>(a, lda, p, panel_stride, k, c, ldc, cols, e, next);
    return small_rest<R, Q - 1, Stream>(rest, a, lda, p, panel_stride, k, c, ldc, cols, e, next);
  }
}

// All panels of n columns for R rows: groups of P panels, then one tile of the panels left.
template <int R, int P, bool Stream>
void small_rows(const float* a, std::int64_t lda, const float* panels, std::int64_t k, std::int64_t n, float* c,
                std::int64_t ldc, const Epilogue& e, const float* next) {
  const std::int64_t stride = k * kPanelWide, group = P * kPanelWide;
  std::int64_t c0 = 0;
  auto at = [&](std::int64_t col) {
    Epilogue ec = e;
    if (ec.bias) ec.bias += col;
    if (ec.residual) ec.residual += col;
    return ec;
  };
  for (; c0 + group <= n; c0 += group, next = nullptr)  // the next rows fetched once, during the first tile
    small_tile<R, P, Stream>(a, lda, panels + (c0 / kPanelWide) * stride, stride, k, c + c0, ldc, group, at(c0), next);
  // The panels left over (at most P, the last partial when there are P) in one tile of as many panels, not one by one:
  // a single panel's few accumulators leave the FMA units waiting on their chains.
  if (c0 < n)
    small_rest<R, P, Stream>((n - c0 + kPanelWide - 1) / kPanelWide, a, lda, panels + (c0 / kPanelWide) * stride, stride, k,
                         c + c0, ldc, n - c0, at(c0), next);
}

// small_rows with its Stream flag chosen at run time (a product large enough to stream: a caller's non-null `next`).
template <int R, int P>
void small_rows_when(bool stream, const float* a, std::int64_t lda, const float* panels, std::int64_t k, std::int64_t n,
                     float* c, std::int64_t ldc, const Epilogue& e, const float* next) {
  if (stream) small_rows<R, P, true>(a, lda, panels, k, n, c, ldc, e, next);
  else small_rows<R, P, false>(a, lda, panels, k, n, c, ldc, e, nullptr);
}

}  // namespace

void small_avx512(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                  std::int64_t n, float* c, std::int64_t ldc, const Epilogue& e, const float* next) {
  // Panels per group so that R * P * 2 accumulators fill the 32 zmm registers (with the loaded panel rows).
  switch (rows) {
    case 1: return small_rows_when<1, 8>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 2: return small_rows_when<2, 5>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 3: return small_rows_when<3, 4>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 4: return small_rows_when<4, 3>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 5: return small_rows_when<5, 2>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 6: return small_rows_when<6, 2>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 7: return small_rows_when<7, 1>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    case 8: return small_rows_when<8, 1>(next != nullptr, a, lda, panels, k, n, c, ldc, e, next);
    default: return;
  }
}

void panel_avx512(const float* apack, std::int64_t rows, const float* p, std::int64_t k, float* c, std::int64_t ldc,
                  std::int64_t cols, const Epilogue& e, bool accumulate) {
  std::int64_t r = 0;
  for (; r + kRowsWide <= rows; r += kRowsWide)
    tile<kRowsWide>(apack + r * k, p, k, c + r * ldc, ldc, cols, rows_down(e, r), accumulate);
  if (r < rows)
    tail(static_cast<int>(rows - r), apack + r * k, p, k, c + r * ldc, ldc, cols, rows_down(e, r), accumulate,
         std::make_integer_sequence<int, kRowsWide - 1>{});
}

}  // namespace snnconv::ann::kernels
