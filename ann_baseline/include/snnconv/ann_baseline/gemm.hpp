// Matrix products against a weight matrix packed once (the dense engine's Linear / MatMul / Conv kernels, also
// callable by other layers and benchmarks). The weights W [k, n] are stored as panels of `panel` columns, each
// panel k x panel contiguous (the last one zero-padded); the width follows the instruction set the panels were
// packed for (16 columns for AVX2, 32 for AVX-512), so pack for the ISA you will run on (the default:
// snnconv::active_isa()).
//
// f32: every output element is one fused multiply-add chain over k in index order, started from 0, then the
// epilogue (+ bias, activation, + residual). The result therefore depends neither on how rows and columns are
// cut into tasks (hence not on the thread count) nor on the instruction set: AVX2 and AVX-512 give the same
// bits.
#pragma once

#include <cstdint>
#include <vector>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/cpu_features.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann::gemm {

using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

struct PackedF32 {
  std::int64_t k = 0, n = 0;
  std::int64_t panel = 16;   // columns per panel: 16 (AVX2) or 32 (AVX-512)
  AlignedFloats panels;      // [ceil(n / panel)][k][panel]
};

// Columns per panel for an instruction set.
std::int64_t panel_width(Isa isa);

// Packs row-major w [k, n]; with `transposed`, w holds W^T as n rows of k (a Conv weight [maps, patch]).
PackedF32 pack_f32(const float* w, std::int64_t k, std::int64_t n, bool transposed = false, Isa isa = active_isa());

// y[rows, n] = act(x[rows, k] . W + bias[n]) + residual[rows, n] (bias and residual optional), in parallel tasks
// of the calling TBB arena. x rows have stride k; y and residual rows stride n. Bias, ReLU and the residual are
// applied in registers (each step rounded as the separate Linear and Add nodes would); GELU runs on each finished
// block with Eigen's vectorised erf / tanh.
void multiply_f32(const float* x, std::int64_t rows, const PackedF32& w, const float* bias, Activation act, float* y,
                  const float* residual = nullptr);

}  // namespace snnconv::ann::gemm
