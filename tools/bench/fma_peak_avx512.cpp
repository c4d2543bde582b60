// The 512-bit half of fma_peak.cpp (built with the AVX-512 flags; called only when the CPU has AVX-512).
#include <immintrin.h>

#include <cstdint>

#include "fma_peak.hpp"

namespace snnconv::bench {

double fma_flops_avx512(std::int64_t iterations) {
  __m512 acc[16];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (std::int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float out[16];  // not _mm512_reduce_add_ps: GCC 12's header warns of an uninitialised operand
  _mm512_store_ps(out, s);
  peak_sink = out[0];
  return static_cast<double>(iterations) * 16 * 16 * 2;
}

}  // namespace snnconv::bench
