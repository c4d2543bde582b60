// Lane masks for the AVX-512 kernels (included only by files built with snnconv_avx512_sources).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace snnconv::ann {

// Lanes [0, n) of a 16-lane mask, n clamped to [0, 16].
inline __mmask16 first_lanes(std::int64_t n) {
  if (n >= 16) return static_cast<__mmask16>(0xFFFF);
  if (n <= 0) return 0;
  return static_cast<__mmask16>((1u << n) - 1u);
}

}  // namespace snnconv::ann
