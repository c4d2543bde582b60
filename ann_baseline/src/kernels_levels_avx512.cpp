// The fused quantization point (kernels_levels.cpp) sixteen elements at a time: the same operations as the AVX2
// loop, lane for lane, and the tail through masked lanes instead of the scalar form. Built with the AVX-512 flags
// (snnconv_avx512_sources in CMake), intrinsics only, called only when active_isa() >= avx512.
#include <immintrin.h>

#include <cstdint>

#include "avx512_lanes.hpp"

// g++ 12's avx512fintrin.h passes _mm512_undefined_ps() as the unused merge operand of the unmasked intrinsics, and
// -Wmaybe-uninitialized flags it once inlined here: a false positive about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels.hpp"

namespace snnconv::ann::kernels {

void level_point_avx512(const LevelPoint& p, const float* x, std::uint8_t* q, float* levels, float* deq, std::int64_t b,
                        std::int64_t e) {
  const __m512 step = _mm512_set1_ps(p.step), half = _mm512_set1_ps(p.half), lo = _mm512_set1_ps(p.lo),
               hi = _mm512_set1_ps(p.hi), one = _mm512_set1_ps(1.0f), unit = _mm512_set1_ps(p.unit),
               zero = _mm512_set1_ps(p.zero), type_lo = _mm512_set1_ps(p.is_signed ? -128.0f : 0.0f),
               type_hi = _mm512_set1_ps(p.is_signed ? 127.0f : 255.0f), dq = _mm512_set1_ps(p.dq_scale);
  const __m512i zero_i = _mm512_set1_epi32(static_cast<std::int32_t>(p.zero));
  const bool unit_one = p.unit == 1.0f;  // fl / 1 is fl, bit for bit
  for (std::int64_t i = b; i < e; i += 16) {
    const __mmask16 m = first_lanes(e - i);
    const __m512 v = _mm512_add_ps(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), step), half);
    // As the AVX2 loop: constant first, so a NaN v passes through and a tie keeps v.
    const __m512 c = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
    const __m512i ti = _mm512_maskz_cvttps_epi32(_mm512_cmp_ps_mask(c, c, _CMP_ORD_Q), c);  // NaN -> 0
    __m512 fl = _mm512_cvtepi32_ps(ti);
    if (p.floor) fl = _mm512_mask_sub_ps(fl, _mm512_cmp_ps_mask(c, fl, _CMP_LT_OQ), fl, one);
    __m512 r = unit_one ? fl : _mm512_div_ps(fl, unit);
    r = _mm512_add_ps(_mm512_roundscale_ps(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zero);
    r = _mm512_min_ps(type_hi, _mm512_max_ps(type_lo, r));
    const __m512i qi = _mm512_cvtps_epi32(r);
    if (q != nullptr) {
      const __m128i bytes = p.is_signed ? _mm512_cvtsepi32_epi8(qi) : _mm512_cvtusepi32_epi8(qi);
      _mm_mask_storeu_epi8(q + i, m, bytes);
    }
    if (levels != nullptr) _mm512_mask_storeu_ps(levels + i, m, _mm512_cvtepi32_ps(qi));
    if (deq != nullptr)
      _mm512_mask_storeu_ps(deq + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(qi, zero_i)), dq));
  }
}

}  // namespace snnconv::ann::kernels
