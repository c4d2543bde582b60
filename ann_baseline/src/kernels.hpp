// Private interface of the engine's fast kernels (kernels_*.cpp). A fast kernel is chosen once, at plan
// time, from the node's static types; at run time it writes into outputs the executor has already sized,
// and never validates: the plan only picks it where its preconditions hold. Every fast kernel is tested
// against the reference kernel of its op (tests/ann_baseline/test_kernels*.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "snnconv/ann_baseline/gemm.hpp"
#include "snnconv/ann_baseline/gemm_int8.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann::kernels {

using PackedB = gemm::PackedF32;

// A Linear on the W8A8 path (plan_int8.cpp): its weight levels packed once, the zero point of its u8/s8 input
// levels, and the epilogue it absorbed (the integer form's per-channel step Mul and bias Add; empty: none).
struct Int8Linear {
  gemm::PackedS8 w;
  bool is_signed = false;
  std::int32_t zero_point = 0;
  bool real_input = false;             // input 0 is the f32 input of a FakeQuant, quantized by the kernel
  float step = 1.0f, lo = 0.0f, hi = 0.0f;  // that FakeQuant's step and stored-level range
  bool relu = false;
  std::vector<float> scale, bias;      // [n] or empty
};

// A quantization point of the integer-form export fused into one step (plan_levels.cpp): the chain
// q = QuantizeLinear(floor?(trunc(min(max(x / step + half, lo), hi))), unit, zero) computed as its nodes compute
// it, writing the byte levels q, their Cast<f32> and their DequantizeLinear as the step's outputs (each optional,
// in that order; -1: not written).
struct LevelPoint {
  float step = 1.0f, half = 0.5f, lo = 0.0f, hi = 0.0f;  // Div, Add, Max, Min constants
  bool floor = false;              // the Less / Cast / Sub correction of the truncation (signed levels)
  float unit = 1.0f, zero = 0.0f;  // QuantizeLinear's scale and zero point
  bool is_signed = false;          // q is i8 (else u8)
  float dq_scale = 1.0f;           // DequantizeLinear's scale (its zero point is `zero`)
  int out_q = -1, out_levels = -1, out_dequant = -1;
};

// LayerNorm or Softmax on integer levels as the integer-form export spells them, fused per row (plan_levels.cpp,
// kernels_rows.cpp): input f32 levels [rows, n], output f32 [rows, n], every node's operation in its order.
struct RowUnit {
  bool softmax = false;            // else LayerNorm
  std::vector<std::int64_t> table;  // Softmax: the weight of (row max - level), Gather's table
  std::vector<float> table_f32;     // Softmax: the Cast<f32> of each table entry
  std::int64_t cols_factor = 0;    // LayerNorm: the constant the levels and the sum of squares are multiplied by
  bool small_factor = false;       // LayerNorm: |cols_factor| and the row length below 2^15 (the int32 fast path)
  float eps_term = 0.0f;           // LayerNorm: added to float(variance * cols^2)
  std::vector<float> gamma, beta;  // LayerNorm: [n] each; beta empty: no Add
};

// An output that is an affine gather of the first input: element (i_0, ..., i_{r-1}) of the output is
// element base + sum_d i_d * delta[d] of the input (flat). The plan derives it for Slice from the
// reference kernel itself (plan.cpp, prepare_affine_gathers).
struct AffineGather {
  std::int64_t base = 0;
  std::vector<std::int64_t> delta;  // per output dim
};

struct KernelArgs {
  const Graph& graph;
  const Node& node;
  std::span<const Tensor* const> in;  // nullptr for an absent optional input
  std::span<Tensor> out;              // already sized to the outputs' static types
  const PackedB* packed = nullptr;    // the weights packed at plan time (packed GEMM kernels only)
  const AffineGather* gather = nullptr;  // the index map of an affine gather (affine_gather kernels only)
  const Int8Linear* int8 = nullptr;      // the W8A8 Linear's packed levels and epilogue (linear_int8 only)
  const LevelPoint* level = nullptr;     // the fused quantization point (level_point only)
  const RowUnit* row = nullptr;          // the fused LayerNorm / Softmax on levels (row_unit only)
};
using KernelFn = void (*)(const KernelArgs&);

struct KernelChoice {
  KernelFn fn = nullptr;  // nullptr: no fast kernel fits, use the reference
  const char* name = "reference";
};

// Parallel work is cut into chunks of a size fixed by the shapes alone (for_chunks), and every chunk computes
// exactly what it would compute alone: results are bit-identical for any number of threads. Kernels whose items
// do not depend on the cut at all may let it follow the thread count (for_rows below, the packed GEMM,
// attention).
inline constexpr std::int64_t kRowChunk = 64;             // rows per GEMM / normalisation task
inline constexpr std::int64_t kElementChunk = 1 << 14;    // elements per elementwise task

// Below this many elements of work a kernel runs its chunks in order on the calling thread: waking a worker
// and joining it costs more than the work (a 128-token sequence's LayerNorm). The chunks are the same, so
// the results are too.
inline constexpr std::int64_t kParallelMinElements = 1 << 16;

// Calls body(begin, end) for [0, n) cut into chunks of `chunk`, in parallel (TBB) unless `serial`.
void parallel_chunks(std::int64_t n, std::int64_t chunk, void (*body)(void*, std::int64_t, std::int64_t), void* ctx,
                     bool serial = false);
// `elements`: the work's size when known (serial below kParallelMinElements); < 0: always parallel.
template <typename F> void for_chunks(std::int64_t n, std::int64_t chunk, F&& f, std::int64_t elements = -1) {
  parallel_chunks(
      n, std::max<std::int64_t>(chunk, 1),
      [](void* ctx, std::int64_t b, std::int64_t e) { (*static_cast<F*>(ctx))(b, e); }, &f,
      elements >= 0 && elements < kParallelMinElements);
}

// For work whose items are independent (each row or element computed alone: normalisations, softmax rows,
// elementwise maps, copies, im2col rows), the cut may follow the thread count without changing a bit: the
// chunk of about `chunk` items shrinks so that the number of chunks is a multiple of the arena's threads
// (1,088 LayerNorm rows in chunks of 64 are 17 chunks, 9 against 8 on two threads; 18 chunks of 61 are 9 and
// 9). The chunk count only grows, so no chunk is larger than `chunk`.
std::int64_t balanced_chunk(std::int64_t n, std::int64_t chunk);
// for_chunks with balanced_chunk when the work runs in parallel (the body must not depend on the cut).
template <typename F> void for_rows(std::int64_t n, std::int64_t chunk, F&& f, std::int64_t elements = -1) {
  chunk = std::max<std::int64_t>(chunk, 1);
  const bool serial = elements >= 0 && elements < kParallelMinElements;
  parallel_chunks(
      n, serial ? chunk : balanced_chunk(n, chunk),
      [](void* ctx, std::int64_t b, std::int64_t e) { (*static_cast<F*>(ctx))(b, e); }, &f, serial);
}

// `types` are the static types of the node's inputs (nullptr for an absent one).
KernelChoice choose_contraction(const Graph& g, const Node& n, std::span<const TensorType* const> types);
KernelChoice choose_elementwise(const Graph& g, const Node& n, std::span<const TensorType* const> types);
KernelChoice choose_normalization(const Graph& g, const Node& n, std::span<const TensorType* const> types);

KernelChoice choose_movement(const Graph& g, const Node& n, std::span<const TensorType* const> types);
// Split (block copies) and ReduceMean / ReduceSum over one block of axes (kernels_reduce.cpp).
KernelChoice choose_split_reduce(const Graph& g, const Node& n, std::span<const TensorType* const> types);
// A binary op of a tensor and one value per row ([..., n] with [..., 1]), int64 ReduceSum / ReduceMax over the last
// axis (kernels_rows.cpp): the integer-form export's LayerNorm and Softmax on levels.
KernelChoice choose_rows(const Graph& g, const Node& n, std::span<const TensorType* const> types);

// Linear and MatMul against constant weights packed by the plan (gemm_packed.hpp); the plan switches a step
// to them when packed_gemm_available().
void linear_packed(const KernelArgs& a);
void matmul_packed(const KernelArgs& a);
// A Linear whose input 0 is u8/s8 levels and whose weight is int8 levels (gemm_int8.hpp), KernelArgs::int8.
void linear_int8(const KernelArgs& a);
// 2-D Conv with group 1 against its weights packed as W^T [patch, maps]: im2col rows, packed GEMM.
void conv2d_packed(const KernelArgs& a);
// Linear whose output only feeds an Add: the other Add operand (the residual, last input) is added in the
// epilogue and the Add node is folded (plan.cpp, fold_residual_adds).
void linear_packed_residual(const KernelArgs& a);

// The fused quantization point (KernelArgs::level; kernels_levels.cpp).
void level_point(const KernelArgs& a);

// The fused LayerNorm / Softmax on levels (KernelArgs::row; kernels_rows.cpp).
void row_unit(const KernelArgs& a);

// Copies an affine gather (KernelArgs::gather) for elements of `ElementBytes` bytes.
KernelFn affine_gather_kernel(std::size_t element_bytes);

// The Attention kernel reading q/k/v and writing y in the [B,N,H,D] layout where the bits of `bnhd`
// (attention_kernel.hpp: kLayoutQ/K/V/Y) say so; the planner picks it when it folds Transposes away.
KernelFn attention_with_layout(unsigned bnhd);

// The fast kernel for node `n`, or {nullptr, "reference"}.
inline KernelChoice choose_kernel(const Graph& g, const Node& n, std::span<const TensorType* const> types) {
  for (auto choose : {choose_contraction, choose_elementwise, choose_normalization, choose_movement, choose_split_reduce,
                      choose_rows}) {
    const KernelChoice c = choose(g, n, types);
    if (c.fn) return c;
  }
  return {};
}

}  // namespace snnconv::ann::kernels
