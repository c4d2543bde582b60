// The packed-weight GEMM's internals (private to ann_baseline): panel packing, the per-panel micro-kernels of
// each instruction set and the driver that cuts a product into cache blocks. The public entry is
// snnconv/ann_baseline/gemm.hpp; the attention kernel and Conv call the pieces here directly.
//
// Every output element is one fused multiply-add chain over k in index order, started from 0 (a later block of
// k continues the chain from C), so the result does not depend on the cut into tasks nor on the ISA.
#pragma once

#include <cstdint>
#include <vector>

#include "snnconv/ann_baseline/gemm.hpp"
#include "snnconv/core/attrs.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann::kernels {

using PackedB = gemm::PackedF32;
using gemm::AlignedFloats;

inline constexpr std::int64_t kPanel = 16;        // AVX2 panel width (two ymm registers)
inline constexpr std::int64_t kPanelWide = 32;    // AVX-512 panel width (two zmm registers)
inline constexpr std::int64_t kRows = 6;          // AVX2 micro-tile rows (12 accumulators of 16 ymm)
inline constexpr std::int64_t kRowsWide = 12;     // AVX-512 micro-tile rows (24 accumulators of 32 zmm)
inline constexpr std::int64_t kKBlock = 256;      // k per pass over a panel (its slice stays in L1)
inline constexpr std::int64_t kInPlaceMaxK = 1024;  // up to this k, more than 8 rows read x in place too

// True when this build has the AVX2/FMA micro-kernel (always, with the x86-64-v3 baseline; a build for an older
// baseline keeps Eigen for Linear / MatMul and a portable micro-kernel for attention).
bool packed_gemm_available();

// The panel width to use for a product on this machine (16 or 32, from active_isa()).
std::int64_t native_panel();

// Packs B [k, n] into panels of `panel` columns (out holds ceil(n / panel) * k * panel floats, 64-byte aligned):
// `b` row-major with row stride ldb, or with `transposed`, b holds B^T (n rows of k, row stride ldb).
void pack_panels(const float* b, std::int64_t ldb, std::int64_t k, std::int64_t n, bool transposed, float* out,
                 std::int64_t panel = kPanel);

// What the micro-kernel applies to its accumulators before storing them, in the reference's order of float
// operations: + bias[col], then ReLU, then + residual[row, col] (each step rounded to float as the separate
// Linear and Add nodes would).
struct Epilogue {
  const float* bias = nullptr;      // [n] (offset to the first column of the call)
  bool relu = false;
  const float* residual = nullptr;  // [rows, n] with row stride ldr (offset to the call's first element)
  std::int64_t ldr = 0;
};

// c[rows, n] (row stride ldc) = a[rows, k] (row stride lda) . B (panels of width `panel` from pack_panels), then
// the epilogue, on the calling thread. Panels are panel_stride floats apart (0: k * panel; more when B is the
// first k rows of taller packed panels).
void gemm_panels(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                 std::int64_t n, float* c, std::int64_t ldc, std::int64_t panel = kPanel,
                 std::int64_t panel_stride = 0, const Epilogue& epilogue = {});

// gemm::multiply_f32 under its private name.
void gemm_packed(const float* x, std::int64_t rows, const PackedB& w, const float* bias, Activation act, float* y,
                 const float* residual = nullptr);

// Bias and activation on a finished block [rows, cols] (row stride ldy) while it is in cache; bias holds the
// block's cols entries. ReLU is the reference's expression; GELU uses Eigen's vectorised erf / tanh (a
// rational approximation within a few ulp of libm's), so it differs from the reference only in the last bits.
void epilogue(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy, const float* bias, Activation act);

// GELU (exact, erf form) on a finished block [rows, cols] (row stride ldy) with 16-lane packets, the bits of the
// baseline's 8-lane form (gelu_avx512.cpp; call only when active_isa() >= avx512).
void gelu_block_avx512(float* y, std::int64_t rows, std::int64_t cols, std::int64_t ldy);

// Copies rows [0, rows) x columns [0, k) of a (row stride lda) into micro-panels of `mr` rows: tile t holds
// rows [t*mr, t*mr + mr) as k steps of mr values (k-major), the last tile as k steps of its own row count. The
// micro-kernel then reads its broadcasts from one sequential stream (rows of a in place, a power-of-two stride
// apart, would share L1 sets).
void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t k, std::int64_t mr, float* out);

// One panel against packed rows (pack_a with the kernel's tile height): c[rows, cols] (+)= A[rows, k] .
// p[k, panel], then (when `e` is given) the epilogue. `accumulate` continues the chains from c. Per ISA
// (gemm_packed.cpp, gemm_avx512.cpp).
using PanelKernel = void (*)(const float* apack, std::int64_t rows, const float* p, std::int64_t k, float* c,
                             std::int64_t ldc, std::int64_t cols, const Epilogue& e, bool accumulate);
void panel_avx2(const float* apack, std::int64_t rows, const float* p, std::int64_t k, float* c, std::int64_t ldc,
                std::int64_t cols, const Epilogue& e, bool accumulate);
void panel_avx512(const float* apack, std::int64_t rows, const float* p, std::int64_t k, float* c, std::int64_t ldc,
                  std::int64_t cols, const Epilogue& e, bool accumulate);

// Products of at most kSmallRows rows (a decode step, a speculative verification window): every row of the
// window at once against several panels at once, the rows of a read in place, all of k in one pass, so each
// weight is read once per call however many rows there are (weight-bound decoding then costs about one row's
// time for the whole window). The same FMA chain per element as the tiled kernels: the same bits.
// `next` (or null): a product whose operands stream from L3 (x of a large batch): where the rows of the next call
// begin, rows * k floats read contiguously (rows of x in place, lda = k), fetched during this call's k loop; the
// output and residual lines of each tile are then asked for before its k loop too.
inline constexpr std::int64_t kSmallRows = 8;
using SmallKernel = void (*)(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                             std::int64_t n, float* c, std::int64_t ldc, const Epilogue& e, const float* next);
void small_avx2(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                std::int64_t n, float* c, std::int64_t ldc, const Epilogue& e, const float* next = nullptr);
void small_avx512(const float* a, std::int64_t lda, std::int64_t rows, const float* panels, std::int64_t k,
                  std::int64_t n, float* c, std::int64_t ldc, const Epilogue& e, const float* next = nullptr);

}  // namespace snnconv::ann::kernels
