// The SNN engine's integer kernels, one reference (plain C++) and one variant per instruction set, chosen
// once per engine from snnconv::active_isa() (AVX-512 + VNNI, or the AVX2 baseline). Every variant computes
// the same integers as the reference (tests/snn_core/test_snn_kernels.cpp): sums of integers are exact in
// any order, so the kernel choice never changes a result or a ledger.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv::snn {

// One spike event of a population: neuron `index` (global within a pass) changed its count by `delta`
// (+-1 in strict mode, the whole difference in burst mode).
struct Event {
  std::int32_t index;
  std::int32_t delta;
};

// Columns per block of the packed weight layout (one AVX-512 register of int32 accumulators).
inline constexpr std::int64_t kPackCols = 16;

// Weights [K][N] (int8 levels) in the GEMM kernels' layout: per block of 16 columns and quad of 4 rows k,
// 64 bytes [column][k % 4]; K is padded to a multiple of 4 and N to a multiple of 16 with zeros.
std::vector<std::int8_t> pack_weights(const std::int8_t* w, std::int64_t k, std::int64_t n);
inline std::int64_t padded_k(std::int64_t k) { return (k + 3) / 4 * 4; }
inline std::int64_t column_blocks(std::int64_t n) { return (n + kPackCols - 1) / kPackCols; }

// Row forms of ann::linear_value, grouped_linear_value and product_value (the same operations in the same
// order: the float factor s_in * s_w, or s_a * s_b, formed first, then one rounding per multiply and per add,
// no fused multiply-add), and of ann::quantize_level. Tested bit for bit against those functions.
//   linear:  out[j] = in_step[j] * float(acc[j]) + bias[j]
//   grouped: out[j] = ((in_step[0][j] * float(acc[0][j]) + in_step[1][j] * float(acc[1][j])) + ...) + bias[j],
//            acc and in_step [groups][stride]
//   product: out[j] = ab_step * float(acc[j])
template <typename Acc>
void linear_row(const Acc* acc, const float* in_step, const float* bias, std::int64_t n, float* out) {
  for (std::int64_t j = 0; j < n; ++j) {
    const float y = in_step[j] * static_cast<float>(acc[j]);
    out[j] = y + bias[j];
  }
}
template <typename Acc>
void grouped_row(const Acc* acc, const float* in_step, const float* bias, std::int64_t groups, std::int64_t stride,
                 std::int64_t n, float* out) {
  for (std::int64_t j = 0; j < n; ++j) out[j] = in_step[j] * static_cast<float>(acc[j]);
  for (std::int64_t g = 1; g < groups; ++g)
    for (std::int64_t j = 0; j < n; ++j) {
      const float term = in_step[g * stride + j] * static_cast<float>(acc[g * stride + j]);
      out[j] = out[j] + term;
    }
  for (std::int64_t j = 0; j < n; ++j) out[j] = out[j] + bias[j];
}
template <typename Acc>
void product_row(const Acc* acc, float ab_step, std::int64_t n, float* out) {
  for (std::int64_t j = 0; j < n; ++j) out[j] = ab_step * static_cast<float>(acc[j]);
}

struct Kernels {
  Isa isa = Isa::avx2;
  // Sparse path: for every event e, acc[(e.index / k) * n + j] += e.delta * w[(e.index % k) * n + j] for j in
  // [j0, j1): one contiguous weight row per event.
  void (*add_events)(std::int32_t* acc, const std::int8_t* w, std::int64_t k, std::int64_t n, const Event* events,
                     std::size_t count, std::int64_t j0, std::int64_t j1) = nullptr;
  // Dense path: for r < rows and j in [16 * b0, min(n, 16 * b1)):
  //   acc_rows[r][j] += sum_k codes[r * kp + k] * W[k][j] - corr[j]
  // with `packed` from pack_weights (kp = padded_k(K)) and corr[j] = c * sum_k W[k][j] for codes d + c.
  // Exact for codes up to max_code (the AVX2 kernel's 16-bit pair sums saturate above 127).
  void (*gemm_codes)(const std::uint8_t* codes, std::int64_t rows, std::int64_t kp, const std::int8_t* packed,
                     const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t n, std::int64_t b0,
                     std::int64_t b1) = nullptr;
  int max_code = 127;
  // out[j] = ann::quantize_level(x[j], act, s, n_min, n_max) for j < n, bit for bit (a GELU target with
  // tanh, which calls libm, goes through the scalar function).
  void (*quantize_row)(const float* x, std::int64_t n, Activation act, float s, std::int32_t n_min,
                       std::int32_t n_max, std::int32_t* out) = nullptr;
};

// The kernels of instruction set `isa` (the reference ones for nothing faster).
Kernels kernels_for(Isa isa);
Kernels reference_kernels();

namespace detail {
Kernels avx2_kernels();
Kernels avx512_kernels();  // kernels_avx512.cpp (built with AVX-512 flags)
}  // namespace detail

}  // namespace snnconv::snn
