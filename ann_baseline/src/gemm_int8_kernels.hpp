// The W8A8 GEMM's internals (private to ann_baseline): the per-ISA block kernels that gemm_int8.cpp's driver
// calls on rows it has packed. Public entry: snnconv/ann_baseline/gemm_int8.hpp.
#pragma once

#include <cstdint>

#include "snnconv/ann_baseline/gemm_int8.hpp"

namespace snnconv::ann::kernels {

inline constexpr std::int64_t kInt8Cols = 16;  // columns per weight panel (one zmm of int32, two ymm)

// One block of the product: `rows` packed activation rows against the weight panels [panel0, panel1), results
// through the epilogue into y (row stride ldy, column 0 of y is column 0 of the matrix).
struct Int8Block {
  const void* a = nullptr;          // vnni: u8 rows of ceil(k/4)*4 bytes; avx2: int16 rows of ceil(k/2)*2 values
  std::int64_t rows = 0;
  const gemm::PackedS8* w = nullptr;
  std::int64_t panel0 = 0, panel1 = 0;
  std::int32_t correction = 0;      // vnni: acc = dot - correction * column_sum[n]; avx2: 0
  const float* scale = nullptr;     // [n] or null
  const float* bias = nullptr;      // [n] or null
  bool relu = false;
  float* y = nullptr;
  std::int64_t ldy = 0;
};

void int8_block_avx2(const Int8Block& b);
void int8_block_vnni(const Int8Block& b);  // gemm_int8_avx512.cpp; only when active_isa() >= avx512_vnni

}  // namespace snnconv::ann::kernels
