// The fused quantization point of the integer-form export (kernels.hpp, LevelPoint; planned by plan_levels.cpp).
// Every element goes through the float operations its nodes perform, in their order, with the engine's semantics
// of each node (kernels_elementwise.cpp, kernels_movement.cpp, reference_quant.cpp), so the bytes equal the unfused
// chain's: a true division, Max/Min where a NaN operand wins, Cast<i32> truncating (NaN gives 0; the plan only
// fuses clamps inside the int32 range, so nothing saturates), Less false on NaN, QuantizeLinear rounding half to
// even after its own division and saturating to the byte type. Eight elements at a time (AVX2, the build's
// baseline), the tail through the scalar form of the same operations.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels.hpp"
#include "reference_detail.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv::ann::kernels {

// kernels_levels_avx512.cpp: the same loop sixteen at a time (AVX-512 flags; only when active_isa() >= avx512).
void level_point_avx512(const LevelPoint& p, const float* x, std::uint8_t* q, float* levels, float* deq, std::int64_t b,
                        std::int64_t e);

namespace {

// One element, node by node. Returns QuantizeLinear's level as an int (within the byte type's range).
inline std::int32_t level_scalar(const LevelPoint& p, float x) {
  const float v = x / p.step + p.half;
  const float cl = std::isnan(v) ? v : (v < p.lo ? p.lo : v);                // Max(v, lo)
  const float c = std::isnan(cl) ? cl : (p.hi < cl ? p.hi : cl);             // Min(cl, hi)
  const std::int32_t ti = std::isnan(c) ? 0 : static_cast<std::int32_t>(c);  // Cast<i32>: truncation
  const float t = static_cast<float>(ti);                                    // Cast<f32>
  const float fl = p.floor ? t - (c < t ? 1.0f : 0.0f) : t;                  // Less, Cast<f32>, Sub
  const float type_lo = p.is_signed ? -128.0f : 0.0f, type_hi = p.is_signed ? 127.0f : 255.0f;
  const std::uint8_t b = detail::quantize_linear_byte(fl, p.unit, p.zero, type_lo, type_hi);
  return p.is_signed ? static_cast<std::int32_t>(static_cast<std::int8_t>(b)) : static_cast<std::int32_t>(b);
}

void level_point_avx2(const LevelPoint& p, const float* x, std::uint8_t* q, float* levels, float* deq, std::int64_t b,
                      std::int64_t e) {
  const __m256 step = _mm256_set1_ps(p.step), half = _mm256_set1_ps(p.half), lo = _mm256_set1_ps(p.lo),
               hi = _mm256_set1_ps(p.hi), one = _mm256_set1_ps(1.0f), unit = _mm256_set1_ps(p.unit),
               zero = _mm256_set1_ps(p.zero), type_lo = _mm256_set1_ps(p.is_signed ? -128.0f : 0.0f),
               type_hi = _mm256_set1_ps(p.is_signed ? 127.0f : 255.0f), dq = _mm256_set1_ps(p.dq_scale);
  const __m256i zero_i = _mm256_set1_epi32(static_cast<std::int32_t>(p.zero));
  const bool unit_one = p.unit == 1.0f;  // fl / 1 is fl, bit for bit (the export's unit step)
  std::int64_t i = b;
  for (; i + 8 <= e; i += 8) {
    const __m256 v = _mm256_add_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), step), half);
    // max_ps(a, b) = a > b ? a : b and min_ps(a, b) = a < b ? a : b return b when either is NaN: with the
    // constant first, a NaN v passes through, and a tie (-0 vs +0) keeps v, as Max(v, lo) / Min(v, hi) do.
    const __m256 c = _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    const __m256 ordered = _mm256_cmp_ps(c, c, _CMP_ORD_Q);
    const __m256i ti = _mm256_and_si256(_mm256_cvttps_epi32(c), _mm256_castps_si256(ordered));  // NaN -> 0
    __m256 fl = _mm256_cvtepi32_ps(ti);
    if (p.floor) fl = _mm256_sub_ps(fl, _mm256_and_ps(_mm256_cmp_ps(c, fl, _CMP_LT_OQ), one));
    // QuantizeLinear: fl / unit rounded half to even (fl is an integer, so the rounding of the division alone
    // matters), + zero point, saturated. The reference's floor-based rounding gives -0 where round_ps gives +0
    // or the reverse only for results of magnitude 0, which the + zero (an integer) makes +0 in both.
    __m256 r = _mm256_round_ps(unit_one ? fl : _mm256_div_ps(fl, unit), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_add_ps(r, zero);
    r = _mm256_min_ps(type_hi, _mm256_max_ps(type_lo, r));
    const __m256i qi = _mm256_cvtps_epi32(r);
    if (q != nullptr) {
      const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(qi), _mm256_extracti128_si256(qi, 1));
      const __m128i w8 = p.is_signed ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), w8);
    }
    if (levels != nullptr) _mm256_storeu_ps(levels + i, _mm256_cvtepi32_ps(qi));
    if (deq != nullptr) _mm256_storeu_ps(deq + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(qi, zero_i)), dq));
  }
  const std::int32_t zp = static_cast<std::int32_t>(p.zero);
  for (; i < e; ++i) {
    const std::int32_t l = level_scalar(p, x[i]);
    if (q != nullptr) q[i] = static_cast<std::uint8_t>(l);
    if (levels != nullptr) levels[i] = static_cast<float>(l);
    if (deq != nullptr) deq[i] = static_cast<float>(l - zp) * p.dq_scale;
  }
}

}  // namespace

void level_point(const KernelArgs& a) {
  const LevelPoint& p = *a.level;
  const float* x = a.in[0]->data<float>();
  auto* q = p.out_q >= 0 ? reinterpret_cast<std::uint8_t*>(a.out[static_cast<std::size_t>(p.out_q)].raw()) : nullptr;
  float* levels = p.out_levels >= 0 ? a.out[static_cast<std::size_t>(p.out_levels)].data<float>() : nullptr;
  float* deq = p.out_dequant >= 0 ? a.out[static_cast<std::size_t>(p.out_dequant)].data<float>() : nullptr;
  const std::int64_t n = a.in[0]->numel();
  const bool wide = active_isa() >= Isa::avx512;
  for_chunks(
      n, kElementChunk,
      [&](std::int64_t b, std::int64_t e) {
        if (wide)
          level_point_avx512(p, x, q, levels, deq, b, e);
        else
          level_point_avx2(p, x, q, levels, deq, b, e);
      },
      n);
}

}  // namespace snnconv::ann::kernels
