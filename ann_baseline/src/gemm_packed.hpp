// GEMM against a weight matrix packed once at plan time (private to ann_baseline). The weights W [k, n] are
// stored as panels of kPanel columns, each panel k x kPanel contiguous (the last one zero-padded), so the
// micro-kernel streams one panel while it keeps a kRows x kPanel block of the output in registers.
// Every output element is one fused multiply-add chain over k in index order, started from 0: the result
// does not depend on how rows and columns are cut into tasks, hence not on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann::kernels {

inline constexpr std::int64_t kPanel = 16;  // columns per packed panel (two AVX2 registers)
inline constexpr std::int64_t kRows = 6;    // output rows per micro-tile
inline constexpr std::int64_t kKBlock = 256;  // k per pass over a panel (a 16 KiB slice stays in L1)

struct PackedB {
  std::int64_t k = 0, n = 0;
  std::vector<float, AlignedAllocator<float>> panels;  // [ceil(n / kPanel)][k][kPanel]
};

// True when this build has the AVX2/FMA micro-kernel (otherwise the plan keeps the Eigen kernels for
// Linear / MatMul; attention uses the portable micro-kernel then).
bool packed_gemm_available();

// Packs row-major w [k, n]; or, with `transposed`, w holds W^T as n rows of k (a Conv weight [maps, patch]).
PackedB pack_b(const float* w, std::int64_t k, std::int64_t n, bool transposed = false);

using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

// Packs B [k, n] into panels (out holds ceil(n / kPanel) * k * kPanel floats, 32-byte aligned): `b` row-major
// with row stride ldb, or with `transposed`, b holds B^T (n rows of k, row stride ldb).
void pack_panels(const float* b, std::int64_t ldb, std::int64_t k, std::int64_t n, bool transposed, float* out);

// What the micro-kernel applies to its accumulators before storing them, in the reference's order of
// float operations: + bias[col], then ReLU, then + residual[row, col] (each step rounded to float as the
// separate Linear and Add nodes would).
struct Epilogue {
  const float* bias = nullptr;      // [n] (offset to the first column of the call)
  bool relu = false;
  const float* residual = nullptr;  // [rows, n] with row stride ldr (offset to the call's first element)
  std::int64_t ldr = 0;
};

// c[rows, n] (row stride ldc) = a[rows, k] (row stride lda) . B (panels from pack_panels), then the
// epilogue, on the calling thread. `pad` is scratch for a short last row tile. Panels are panel_stride
// floats apart (0: k * kPanel; more when B is the first k rows of taller packed panels).
void gemm_panels(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                 std::int64_t n, float* c, std::int64_t ldc, AlignedFloats& pad, std::int64_t panel_stride = 0,
                 const Epilogue& epilogue = {});

// y[rows, n] = act(x[rows, k] . W + bias[n]) + residual[rows, n] (bias and residual optional), in parallel
// tasks over rows and column blocks. x rows have stride k, y and residual rows stride n. Bias, ReLU and the
// residual are applied in registers; GELU runs on each finished block (then the residual).
void gemm_packed(const float* x, std::int64_t rows, const PackedB& w, const float* bias, Activation act, float* y,
                 const float* residual = nullptr);

// Bias and activation on a finished block [rows, cols] (row stride ldy) while it is in cache; bias holds the
// block's cols entries. ReLU is the reference's expression; GELU uses Eigen's vectorised erf / tanh (a
// rational approximation within a few ulp of libm's), so it differs from the reference only in the last bits.
void epilogue(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy, const float* bias, Activation act);

}  // namespace snnconv::ann::kernels
