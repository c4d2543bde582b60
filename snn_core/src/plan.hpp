// The SNN engine's plan: what is fixed once a spiking graph is laid out (NEST's "parameters"). One entry per
// graph value (ValueInfo) and one per node (Unit, pointing at the parameters of its kind). The parameters of
// each unit kind live in that kind's header (unit_*.hpp); build_plan (plan.cpp) validates the graph and calls
// one plan function per kind. Nothing here changes during a run: the evolving state is State, the per-step
// buffers Scratch (state.hpp).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/snn_core/engine.hpp"
#include "unit_add.hpp"
#include "unit_diff.hpp"
#include "unit_movement.hpp"
#include "unit_neuron.hpp"
#include "unit_product.hpp"
#include "unit_prologue.hpp"
#include "unit_synapse.hpp"

namespace snnconv::snn {

// Causal layout: the position of an element that never becomes live (or is a constant zero).
inline constexpr std::int32_t kNever = std::numeric_limits<std::int32_t>::max();

// A graph value as every sample of a pass sees it. Within a pass of B samples a value holds B * numel
// elements, sample-major: element i of sample s has the global index s * numel + i; a "row" is `width`
// consecutive elements (the last axis), so row r of the pass belongs to sample r / (numel / width).
struct ValueInfo {
  bool spiking = false;  // integer counts changed by events; otherwise a current (what neurons integrate)
  Shape shape;
  std::int64_t numel = 0;  // per sample
  std::int64_t width = 1;  // elements per row (the last axis)
  float scale = 1.0f;      // spiking: the step of one count
  int bits = 8;            // spiking: count width (pricing)
  std::int64_t max_abs_count = 0;  // spiking: max(|n_min|, |n_max|), the bound of its counts
  int producer = -1;       // current: the unit computing it; -1 for a graph input
  int input = -1;          // graph input: its position in graph.inputs()
  // spiking: the value whose counts and events this one shares (itself, or the source of a same-order
  // movement such as a Reshape, which forwards events unchanged and so needs no storage of its own).
  int storage = -1;
  // spiking: the index in Plan::views of the map through which this value reads its storage (a folded
  // permuting movement, fold_movements); -1 when it shares the storage's element order.
  int view = -1;
  bool fixed = false;  // current known at step 1 and constant afterwards (input, prologue)
  // Causal layout (causal.cpp; empty until a prefill): the sequence position at which each element becomes
  // live (kNever: never needed, or a constant zero).
  std::vector<std::int32_t> pos;
  std::vector<std::int32_t> by_pos;     // current: element indices ordered by pos (kNever left out)
  std::vector<std::int64_t> pos_begin;  // current: [T + 1], by_pos[pos_begin[p] .. pos_begin[p+1]) have pos p
};

enum class UnitKind : std::uint8_t { neuron, synapse, product, diff, add, movement, concat, prologue };

// One node: its kind and the index of its parameters (and state, scratch) among the units of that kind.
struct Unit {
  UnitKind kind = UnitKind::movement;
  std::size_t row = 0;  // node index = ledger row
  int out = -1;         // output value
  int slot = 0;         // index into Plan::<kind>s, State::<kind>s, Scratch::<kind>s
};

struct Plan {
  const Graph* graph = nullptr;
  std::vector<ValueInfo> values;
  std::vector<Unit> units;  // topological order
  std::vector<NeuronParams> neurons;
  std::vector<SynapseParams> synapses;
  std::vector<ProductParams> products;
  std::vector<DiffParams> diffs;
  std::vector<AddParams> adds;
  std::vector<MovementParams> movements;
  std::vector<ConcatParams> concats;
  std::vector<PrologueParams> prologues;
  std::vector<ViewMap> views;  // folded data movements (ValueInfo::view)
  Kernels kernels;  // the instruction set's kernels, chosen once
  // Causal layout (causal.cpp), built on first use.
  bool causal_layout = false;
  std::int64_t seq_len = 0;

  const ValueInfo& value(int v) const { return values[static_cast<std::size_t>(v)]; }
  // The map through which spiking value v reads its storage, or nullptr (the storage's own order).
  const ViewMap* view(int v) const {
    const int k = value(v).view;
    return k < 0 ? nullptr : &views[static_cast<std::size_t>(k)];
  }
};

// Validates `g` (stage spiking, verify, static shapes, supported ops) and lays out its plan; `fold`: permuting
// movements read through by their readers (fold_movements), off for a model-parallel engine.
Plan build_plan(const Graph& g, bool fold = true);
// Bytes of parameters, and of state and scratch per sample (memory.cpp).
MemoryEstimate estimate_memory(const Plan& plan);
// Gives every element of every value its causal position (causal.cpp); UnsupportedError when the graph has no
// sequence axis on a batch-1 input.
void build_causal_layout(Plan& plan);

// Thrown by the plan functions of the unit kinds: GraphError (or UnsupportedError) naming node and value.
[[noreturn]] void plan_fail(const Graph& g, NodeId id, ValueId v, const std::string& msg, bool unsupported = false);

}  // namespace snnconv::snn
