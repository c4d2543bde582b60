// The AVX-512 VNNI block kernel of the W8A8 GEMM (gemm_int8_kernels.hpp): tiles of up to 6 rows x 4 panels of 16
// columns, 24 zmm int32 accumulators, per quad of k four panel loads, six broadcasts and 24 vpdpbusd. Built with
// the AVX-512 flags (snnconv_avx512_sources in CMake), intrinsics only, called only when active_isa() says VNNI.
// vpdpbusd adds its four u8 x s8 products to the int32 lane without saturating (wrapping like any int32 add), so
// the sum is exact whenever the final accumulator fits in int32, which the caller checks.
#include <immintrin.h>

#include <cstring>

#include "gemm_int8_kernels.hpp"
#include "avx512_lanes.hpp"

namespace snnconv::ann::kernels {
namespace {


template <int R, int NB>
void tile(const Int8Block& b, const std::uint8_t* a, std::int64_t kq, std::int64_t p) {
  const gemm::PackedS8& w = *b.w;
  __m512i acc[R][NB];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NB; ++c) acc[r][c] = _mm512_setzero_si512();
  const std::int8_t* panel[NB];
  for (int c = 0; c < NB; ++c) panel[c] = w.quads.data() + (p + c) * kq * 64;
  const std::int64_t lda = kq * 4;
  for (std::int64_t q = 0; q < kq; ++q) {
    __m512i wv[NB];
    for (int c = 0; c < NB; ++c) wv[c] = _mm512_load_si512(panel[c] + q * 64);
    for (int r = 0; r < R; ++r) {
      std::int32_t quad;
      std::memcpy(&quad, a + r * lda + 4 * q, 4);
      const __m512i e = _mm512_set1_epi32(quad);
      for (int c = 0; c < NB; ++c) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], e, wv[c]);
    }
  }
  const __m512i corr_factor = _mm512_set1_epi32(b.correction);
  for (int c = 0; c < NB; ++c) {
    const std::int64_t j = (p + c) * kInt8Cols;
    const __mmask16 m = first_lanes(w.n - j);
    const __m512i corr = _mm512_mullo_epi32(corr_factor, _mm512_maskz_loadu_epi32(m, w.column_sum.data() + j));
    const __m512 sc = b.scale ? _mm512_maskz_loadu_ps(m, b.scale + j) : _mm512_setzero_ps();
    const __m512 bi = b.bias ? _mm512_maskz_loadu_ps(m, b.bias + j) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      // maskz form: GCC 12 warns on the undefined vector of the plain one. Rounds to nearest, as float(int).
      __m512 y = _mm512_maskz_cvtepi32_ps(m, _mm512_sub_epi32(acc[r][c], corr));
      if (b.scale) y = _mm512_mul_ps(sc, y);
      if (b.bias) y = _mm512_add_ps(y, bi);
      if (b.relu) y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ), y, _mm512_setzero_ps());
      _mm512_mask_storeu_ps(b.y + r * b.ldy + j, m, y);
    }
  }
}

template <int R>
void rows_tile(const Int8Block& b, const std::uint8_t* a, std::int64_t kq) {
  std::int64_t p = b.panel0;
  for (; p + 4 <= b.panel1; p += 4) tile<R, 4>(b, a, kq, p);
  for (; p + 2 <= b.panel1; p += 2) tile<R, 2>(b, a, kq, p);
  for (; p < b.panel1; ++p) tile<R, 1>(b, a, kq, p);
}

}  // namespace

void int8_block_vnni(const Int8Block& b) {
  const std::int64_t kq = (b.w->k + 3) / 4;
  const auto* a = static_cast<const std::uint8_t*>(b.a);
  Int8Block rest = b;
  std::int64_t r = 0;
  for (; r + 6 <= b.rows; r += 6) {
    rest.y = b.y + r * b.ldy;
    rows_tile<6>(rest, a + r * kq * 4, kq);
  }
  rest.y = b.y + r * b.ldy;
  const std::uint8_t* ar = a + r * kq * 4;
  switch (b.rows - r) {
    case 5: rows_tile<5>(rest, ar, kq); break;
    case 4: rows_tile<4>(rest, ar, kq); break;
    case 3: rows_tile<3>(rest, ar, kq); break;
    case 2: rows_tile<2>(rest, ar, kq); break;
    case 1: rows_tile<1>(rest, ar, kq); break;
    default: break;
  }
}

}  // namespace snnconv::ann::kernels
