// GELU (the exact, erf form) on a finished block of the packed GEMM with 16-lane packets. Built with the AVX-512
// flags (snnconv_avx512_sources in CMake), called only when active_isa() >= avx512. Eigen evaluates erf on
// Packet16f with the same generic rational form, operation for operation, as on the baseline's Packet8f, and the
// rest of the expression is the same products, sum and quotient: every element gets the bits of gelu_block in
// gemm_packed.cpp (tested bit for bit over a sweep of inputs). Half as many packets: code_gpt's fc1 spends about
// a quarter of its time in GELU.
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>
#include <algorithm>
#include <unsupported/Eigen/SpecialFunctions>

#include "gemm_packed.hpp"

// g++ 12's avx512fintrin.h passes _mm512_undefined_ps() as the unused merge operand of the unmasked intrinsics
// that Eigen's packets use: -Wmaybe-uninitialized flags it once inlined, a false positive about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace snnconv::ann::kernels {

void gelu_block_avx512(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy) {
  using Group = Eigen::Array<float, 16, 1>;
  auto apply = [](auto&& g) {
    constexpr float kSqrt2 = 1.41421356237309504880f;
    g = 0.5f * g * (1.0f + (g / kSqrt2).erf());
  };
  const std::int64_t full = cols / 16 * 16;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = y + r * ldy;
    for (std::int64_t j = 0; j < full; j += 16) apply(Eigen::Map<Group>(row + j));  // unaligned packet in place
    if (full < cols) {  // the short last group zero-padded: every element takes the packet path
      Group g = Group::Zero();
      std::copy(row + full, row + cols, g.data());
      apply(g);
      std::copy_n(g.data(), cols - full, row + full);
    }
  }
}

}  // namespace snnconv::ann::kernels
