// The engine's Plan: everything about a run that depends only on the graph, computed once — the node order,
// where each value lives, when each buffer dies, the kernel of each node and the ledger counts of one pass.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "gemm_packed.hpp"
#include "kernels.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/core/ledger.hpp"

namespace snnconv::ann {

// Where a value's tensor comes from during a run.
enum class Source : std::uint8_t {
  absent,    // an invalid id (missing optional input)
  constant,  // the graph's constant, referenced, never copied
  owned,     // a constant the plan converted (quantized weights dequantized to f32)
  input,     // the caller's input tensor, referenced
  slot,      // produced by a node into the executor's slot table
};

struct ValueRef {
  Source source = Source::absent;
  std::uint32_t index = 0;  // owned: index in Plan::owned; input: position in graph.inputs(); slot: value index
};

struct Step {
  NodeId node;
  kernels::KernelChoice kernel;                  // fn == nullptr: the reference kernel
  bool view = false;                             // Reshape-like on a dying input: move its buffer, new shape
  const kernels::PackedB* packed = nullptr;      // weights packed for this step's kernel (Plan::packed)
  const kernels::AffineGather* gather = nullptr;  // index map of an affine-gather step (Plan::gathers)
  const kernels::Int8Linear* int8 = nullptr;      // W8A8 Linear of this step (Plan::int8)
  const kernels::LevelPoint* level = nullptr;     // fused quantization point of this step (Plan::levels)
  const kernels::RowUnit* row = nullptr;          // fused LayerNorm / Softmax on levels (Plan::rows)
  std::vector<ValueRef> inputs;                  // per node input slot
  std::vector<std::uint32_t> outputs;            // value index of each output (slot)
  std::vector<std::optional<Shape>> out_shapes;  // static output shapes (fast kernels need all of them)
  std::vector<std::uint32_t> release;            // slots whose last reader is this step
  Counters counts;                               // ledger counts of one pass of this node
};

struct Plan {
  std::vector<Step> steps;            // in topological order
  std::vector<ValueRef> values;       // per value of the graph
  std::vector<Tensor> owned;          // constants converted at plan time
  std::vector<std::unique_ptr<kernels::PackedB>> packed;  // weights packed for the packed GEMM
  std::vector<std::unique_ptr<kernels::AffineGather>> gathers;  // index maps of Slice steps
  std::vector<std::unique_ptr<kernels::Int8Linear>> int8;       // Linears on the W8A8 path
  std::vector<std::unique_ptr<kernels::LevelPoint>> levels;     // fused quantization points
  std::vector<std::unique_ptr<kernels::RowUnit>> rows;          // fused LayerNorm / Softmax on levels
  std::vector<ValueRef> outputs;      // graph outputs
  // Nodes no step runs: folded into a neighbour (a Transpose read or written through Attention's strides, a
  // residual Add done in a Linear's epilogue) or computed once at plan time from constants. Their ledger
  // counts are still added once per pass, so a ledger does not depend on the kernels chosen.
  struct Folded {
    NodeId node;
    Counters counts;
    const char* how;  // kernel_names(): "folded_into_attention", "folded_into_linear", "constant"
  };
  std::vector<Folded> folded;
  std::vector<TensorType> input_types;
  std::uint64_t batch = 1;            // samples per pass: dim 0 of the first input (1 for rank 0)
  // Released buffers the executor's pool keeps per (dtype, shape): as many as the fast kernels take at
  // once. Without the cap, outputs of reference kernels (never taken back) would pile up pass after pass.
  // Keyed by (dtype, element count), as the pool is.
  std::map<std::pair<DType, std::int64_t>, std::size_t> pool_cap;
  MemoryPlan memory;
};

// Builds the plan. Throws GraphError (with the node's context) for a graph the engine cannot run.
Plan build_plan(const Graph& g, const EngineOptions& options);

// How many times each slot value is read: by steps (once per input position) and as a graph output.
std::vector<int> count_reads(const Graph& g, const Plan& plan);

// Moves the Linears whose input and weight are both 8-bit integer levels onto the W8A8 GEMM (plan_int8.cpp,
// docs/compression.md "Integer path"). Part of build_plan's rewrites.
void use_int8_linears(const Graph& g, Plan& plan);

// Fuses each quantization point the integer-form export spells as Div, Add, Max, Min, Cast, Cast [, Less, Cast,
// Sub], QuantizeLinear (and the Cast<f32> / DequantizeLinear of its levels) into one level_point step
// (plan_levels.cpp, docs/fusion.md); then the export's LayerNorm and Softmax on levels (Cast<i64>, ReduceSum /
// ReduceMax, int64 arithmetic, Gather of the exponential table, Cast, Sqrt, Div ...) into one row_unit step each.
// Part of build_plan's rewrites, after use_int8_linears.
void fuse_level_points(const Graph& g, Plan& plan);

// Fills plan.pool_cap and plan.memory by replaying two passes of the executor's buffer policy on the
// static shapes (plan_memory.cpp). Called by build_plan.
void plan_memory(const Graph& g, Plan& plan);

// Ledger counts of one pass of node `id` with input/output shapes from the graph's static types.
// (plan_counts.cpp; the rules are documented in docs/architecture.md, "ANN engine".)
Counters node_counts(const Graph& g, NodeId id);

// Dequantizes an integer constant with QuantParams: w = scale[c] * (q - zero_point[c]), channel c from
// axis / group_size as for FakeQuant.
Tensor dequantize_constant(const Graph& g, ValueId id);

}  // namespace snnconv::ann
