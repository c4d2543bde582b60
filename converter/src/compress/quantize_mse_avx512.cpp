// quant_mse at 16 steps in one pass over the values, in AVX-512 (snnconv_avx512_sources in CMake; intrinsics only;
// called only when active_isa() >= avx512). Lane l runs exactly quant_mse's IEEE operations for steps[l] in the same
// order (the float divide, +0.5, floor, the clamp, the float product, the double difference, its square, the double
// sum; no FMA contraction), so every sum is bit-identical to quant_mse's and to quant_mse_lanes'. Twice the steps per
// divide and per chain of dependent adds: the 8-lane AVX2 pass is bound by both.
#include <immintrin.h>

// g++ 12's avx512fintrin.h passes an undefined vector as the unused merge operand of the unmasked intrinsics, and
// -Wmaybe-uninitialized flags it once inlined: a false positive about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "snnconv/converter/quantize.hpp"

namespace snnconv {

void quant_mse_lanes16(const std::vector<float>& values, const float (&steps)[kMseLanesWide], std::int32_t n_min,
                       std::int32_t n_max, double (&errors)[kMseLanesWide]) {
  const __m512 s = _mm512_loadu_ps(steps);
  const __m512 lo = _mm512_set1_ps(static_cast<float>(n_min)), hi = _mm512_set1_ps(static_cast<float>(n_max));
  const __m512 half = _mm512_set1_ps(0.5f);
  __m512d e_lo = _mm512_setzero_pd(), e_hi = _mm512_setzero_pd();
  for (float v : values) {
    const __m512 x = _mm512_set1_ps(v);
    const __m512 t =
        _mm512_roundscale_ps(_mm512_add_ps(_mm512_div_ps(x, s), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 qs = _mm512_mul_ps(_mm512_min_ps(_mm512_max_ps(t, lo), hi), s);
    const __m512d xd = _mm512_set1_pd(static_cast<double>(v));
    const __m512d d_lo = _mm512_sub_pd(xd, _mm512_cvtps_pd(_mm512_castps512_ps256(qs)));
    const __m512d d_hi = _mm512_sub_pd(xd, _mm512_cvtps_pd(_mm512_extractf32x8_ps(qs, 1)));
    e_lo = _mm512_add_pd(e_lo, _mm512_mul_pd(d_lo, d_lo));
    e_hi = _mm512_add_pd(e_hi, _mm512_mul_pd(d_hi, d_hi));
  }
  _mm512_storeu_pd(errors, e_lo);
  _mm512_storeu_pd(errors + 8, e_hi);
}

}  // namespace snnconv
