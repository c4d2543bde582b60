// The core's fused multiply-add peak, measured (bench_gemm --peak): independent FMA chains on registers, no
// memory traffic, the calling thread's CPU time. The roofline of docs/benchmarks.md compares the GEMM with
// these figures rather than with a clock rate read off a data sheet (a virtual machine may not run at it).
// The 256-bit loop is here (the x86-64-v3 baseline); the 512-bit one in fma_peak_avx512.cpp (AVX-512 flags).
#include <immintrin.h>

#include <cstdint>

#include "fma_peak.hpp"

namespace snnconv::bench {

double fma_flops_avx2(std::int64_t iterations) {
  // 12 chains: FMA latency (4 cycles) x 2 pipes needs >= 8 in flight; 12 leaves margin for the loop's own uops.
  __m256 acc[12];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (std::int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  peak_sink = out[0];
  return static_cast<double>(iterations) * 12 * 8 * 2;
}

}  // namespace snnconv::bench
