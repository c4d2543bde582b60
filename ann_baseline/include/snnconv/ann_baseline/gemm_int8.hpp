// W8A8 matrix products: activations on 8-bit integer levels (u8 or s8, with a zero point) against int8 weights
// packed once, int32 accumulation, then the QANN's epilogue. Used by the dense engine for the Linears of a
// quantized model whose input and weight are both integer levels (docs/compression.md, "Integer path").
//
// Exactness: acc[r][n] = sum_k (a[r][k] - zero_point) * w[k][n] is an exact integer sum (the caller checks
// K * max|a - zp| * max|w| < 2^31, int32 cannot overflow), so it does not depend on the order of summation,
// the cut into tasks, the thread count or the instruction set. The epilogue then computes, per element,
//   y = float(acc)                       (no scale),  y = scale[n] * float(acc)  (scale),  then y = y + bias[n],
// one IEEE rounding per operation, in that order: with scale[n] = s_in * s_w[n] this is ann::linear_value, the
// QANN reference's Linear, bit for bit (no FMA contraction: the files are built with -ffp-contract=off and the
// intrinsics multiply and add separately).
//
// Kernels (one per instruction set, chosen from active_isa() when packing):
// - avx512_vnni: vpdpbusd, four u8 x s8 products summed into each int32 lane with no intermediate saturation.
//   s8 activations are flipped to u8 (a + 128) and 128 * column_sum(w) is subtracted after the sum.
// - avx2: vpmaddwd on operands widened to int16 (a - zp in [-383, 383], w in [-128, 127]): each product and each
//   pair sum fits easily, so nothing can saturate. (vpmaddubsw would be twice as dense but saturates its int16
//   pair sums for u8 x s8 operands, e.g. 255 * 127 * 2 > 32767.)
// - reference: the plain int64 loop the fast kernels are tested against.
#pragma once

#include <cstdint>
#include <vector>

#include "snnconv/core/cpu_features.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann::gemm {

enum class Int8Kernel : std::uint8_t { reference, avx2_madd16, avx512_vnni };
const char* int8_kernel_name(Int8Kernel k);  // "int8_reference", "int8_avx2", "int8_vnni"

struct PackedS8 {
  std::int64_t k = 0, n = 0;
  Int8Kernel kernel = Int8Kernel::reference;
  std::vector<std::int8_t> rows;                                    // reference: w row-major [k][n]
  std::vector<std::int8_t, AlignedAllocator<std::int8_t>> quads;    // vnni: [ceil(n/16)][ceil(k/4)][16][4]
  std::vector<std::int16_t, AlignedAllocator<std::int16_t>> pairs;  // avx2: [ceil(n/16)][ceil(k/2)][16][2]
  std::vector<std::int32_t> column_sum;                             // [n]: sum_k w[k][n]
  std::int32_t max_abs = 0;                                         // max |w|
};

// The kernel the packing picks for an instruction set.
Int8Kernel int8_kernel_for(Isa isa);

// Packs row-major w [k, n] for `kernel`.
PackedS8 pack_s8(const std::int8_t* w, std::int64_t k, std::int64_t n, Int8Kernel kernel = int8_kernel_for(active_isa()));

// The activation operand: rows of k levels (row stride k), u8 or s8, and its zero point. Or, with `real` set,
// rows of k floats that a quantization point turns into those levels first, as the engine's FakeQuant does:
// L = clamp(floor(x / step + 0.5f) + zero, lo, hi) (ties up; NaN gives lo, as ann::quantize_level), stored u8 or
// s8 as `is_signed` says, with zero_point = zero. [lo, hi] must lie inside the type.
struct Int8Rows {
  const void* data = nullptr;
  bool is_signed = false;
  std::int32_t zero_point = 0;
  const float* real = nullptr;
  float step = 1.0f, lo = 0.0f, hi = 0.0f;
};

// Largest |a - zero_point| the operand's type allows.
std::int32_t max_abs_level(bool is_signed, std::int32_t zero_point);

// y[rows, n] = (scale ? scale[n] * float(acc) : float(acc)) (+ bias[n]) as described above, then with `relu`
// y < 0 ? 0 : y (the reference's ReLU), in parallel tasks of the calling TBB arena (row chunks x column blocks
// of sizes fixed by the shapes). scale and bias are optional.
void multiply_s8(const Int8Rows& a, std::int64_t rows, const PackedS8& w, const float* scale, const float* bias,
                 float* y, bool relu = false);

// The exact accumulators alone: acc[rows, n] (int64, the reference loop). For tests and checks.
void accumulate_s8_reference(const Int8Rows& a, std::int64_t rows, const std::int8_t* w, std::int64_t k,
                             std::int64_t n, std::int64_t* acc);

}  // namespace snnconv::ann::gemm
