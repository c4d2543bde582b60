// Private state of the SNN engine: one ValueState per graph value, one Unit per node, laid out once by
// the plan (engine_plan.cpp) and reset at the start of every run (engine.cpp).
#pragma once

#include <tbb/task_arena.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "legacy_engine.hpp"

namespace snnconv::legacy_snn {

// One spike event of a population: neuron `index` changed its count by `delta` (+-1 in strict mode, the
// whole difference in burst mode).
struct Event {
  std::int32_t index;
  std::int32_t delta;
};

// A value is either spiking (integer counts that change by events: neuron outputs and data movement of
// them) or a current (what a neuron population integrates: a graph input, a synapse's accumulator, a
// product unit's accumulator, a differential unit's output, a residual sum).
inline constexpr std::int32_t kNever = std::numeric_limits<std::int32_t>::max();

struct ValueState {
  bool spiking = false;
  Shape shape;
  std::int64_t numel = 0;
  float scale = 1.0f;                      // spiking: the step of one count
  int bits = 8;                            // spiking: count width (pricing)
  std::vector<std::int32_t> count;         // spiking: accumulated count per neuron
  std::vector<Event> events;               // spiking: events of this step; capacity numel (one per neuron per step)
  std::vector<std::int32_t> changed;       // current: indices whose value changed this step
  std::vector<std::uint8_t> changed_flag;  // current: dedup of `changed`
  int producer_unit = -1;                  // current: the unit computing it; -1 for a graph input
  const float* input = nullptr;            // graph input: the sample's data during a run (f32 inputs)
  const Tensor* tensor = nullptr;          // graph input: the sample's tensor during a run (any dtype)
  bool fixed = false;                      // current known at step 1 and constant afterwards (input, prologue)
  // Causal layout (engine_causal.cpp; empty until a prefill): the sequence position at which each element
  // becomes live (kNever: never needed, or a constant zero); elements with pos >= live_end are not simulated.
  std::vector<std::int32_t> pos;
  std::vector<std::int32_t> by_pos;     // current: element indices ordered by pos (kNever left out)
  std::vector<std::int64_t> pos_begin;  // current: [T + 1], by_pos[pos_begin[p] .. pos_begin[p+1]) have pos p
  std::int64_t live_end = std::numeric_limits<std::int64_t>::max();

  bool live(std::int64_t i) const { return pos.empty() || pos[static_cast<std::size_t>(i)] < live_end; }
  void mark(std::int64_t i) {
    const auto k = static_cast<std::size_t>(i);
    if (!pos.empty() && pos[k] >= live_end) return;  // not live yet (or never): not simulated
    if (!changed_flag[k]) {
      changed_flag[k] = 1;
      changed.push_back(static_cast<std::int32_t>(i));
    }
  }
  void mark_range(std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) mark(i);
  }
};

// One node's unit. A plain struct with the fields of every kind (one case per kind in the step switch).
struct Unit {
  OpKind kind = OpKind::Identity;
  std::size_t row = 0;  // node index = ledger row
  std::vector<int> in;  // value indices
  int out = -1;
  // Rows whose inputs changed this step (SynapseLinear, SpikeMatMul, DiffUnit), with dedup flags.
  std::vector<std::uint8_t> row_flag;
  std::vector<std::int32_t> rows_changed;

  // SynapseLinear: x [rows, K] -> acc [rows, N]; weight levels [K][N] so one event reads one row.
  // Grouped weights (groups > 1): one partial sum per (row, group, output), acc [rows, groups, N]; input k
  // adds to group k / group_rows; the current is ann::grouped_linear_value over the groups.
  std::int64_t k = 0, n = 0;
  std::vector<std::int32_t> w;
  std::vector<float> step, bias;  // step [groups][N], bias [N]
  std::int64_t groups = 1, group_rows = 0;
  int w_bits = 8;
  std::vector<std::int64_t> acc;  // SynapseLinear [rows, groups, N]; SpikeMatMul [batch, M, N]
  float s_a = 1.0f, s_b = 1.0f;   // input steps (s_a: SynapseLinear input, SpikeMatMul operand A)

  // SpikeMatMul: A [batch, M, K] x B [batch, K, N]; the unit keeps its own copies of the accumulated
  // operands (A_{t-1}, B_{t-1}) for the product rule.
  std::int64_t batch = 0, m = 0;
  std::vector<std::int32_t> a, b;

  // DiffUnit over rows of `cols`.
  DiffUnitAttrs::Fn fn = DiffUnitAttrs::Fn::layer_norm;
  float epsilon = 0.0f;
  std::int64_t cols = 0;
  std::vector<float> gamma, beta, y;

  // SpikeNeuron: threshold s, count bounds, folded nonlinearity; target count per neuron and the list of
  // neurons whose count differs from their target.
  Activation act = Activation::none;
  float s = 1.0f;
  std::int32_t n_min = 0, n_max = 0;
  std::vector<std::int32_t> target;
  std::vector<std::int32_t> active;
  std::vector<std::uint8_t> active_flag;

  // Data movement: for input element i, its output elements fan[fan_begin[i] .. fan_begin[i+1]) (empty
  // fan_begin: the identity, e.g. Reshape).
  std::vector<std::int64_t> fan_begin;
  std::vector<std::int32_t> fan;
  // Concat of populations: dest[k][i] = output index of element i of input k.
  std::vector<std::vector<std::int32_t>> dest;

  // Dense prologue node (run once at step 1 with the reference kernel; its inputs are graph inputs,
  // constants and other prologue outputs): its output and its dense ledger counts.
  bool dense = false;
  Tensor dense_out;
  Counters dense_counts;

  // DiffUnit causal softmax: rows of the [..., M, cols] scores.
  bool causal = false;
  std::int64_t causal_m = 0;
  // DiffUnit masked softmax: the mask value (input 1; a constant, graph input or prologue value) and the
  // keep flag of every score element, read at step 1 (ann::attention_keep).
  int mask_in = -1;
  std::vector<std::uint8_t> keep;
};

// c * num / den field by field (rounded down); timesteps kept.
Counters scaled(const Counters& c, std::uint64_t num, std::uint64_t den);

struct Engine::Impl {
  const Graph& g;
  EngineOptions options;
  std::vector<ValueState> values;
  std::vector<Unit> units;  // topological order
  std::unique_ptr<tbb::task_arena> arena;
  std::vector<Counters> step_rows;  // this step's counters per node
  Recording* recording = nullptr;   // during a recorded run
  std::vector<int> raster_values;   // value index per recording->raster entry
  int step_now = 0;
  // Causal decoding (engine_causal.cpp): positions [fresh_lo, fresh_hi) become live in this simulation.
  bool causal_layout = false;
  bool incremental = false;  // the current simulation is a prefill or an extend
  std::int64_t seq_len = 0;  // T
  std::int64_t live_len = 0;
  std::int64_t fresh_lo = 0, fresh_hi = 0;

  struct Saved {
    std::int64_t live_len = 0;
    std::vector<std::vector<std::int32_t>> count;  // per value
    std::vector<std::vector<std::int64_t>> acc;    // per unit
    std::vector<std::vector<std::int32_t>> a, b, target, active;
    std::vector<std::vector<std::uint8_t>> active_flag;
    std::vector<std::vector<float>> y;
    std::vector<Tensor> dense_out;
  };
  std::unique_ptr<Saved> saved;
  void checkpoint();  // engine_causal.cpp
  void rollback();

  Impl(const Graph& graph, EngineOptions opts);  // engine_plan.cpp
  RunResult run(std::span<const Tensor> inputs, Ledger* ledger, const StepObserver* observer, Recording* recording);
  RunResult prefill(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger,
                    const StepObserver* observer);  // engine_causal.cpp
  RunResult extend(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger, const StepObserver* observer);
  void build_causal_layout();

 private:
  void bind_inputs(std::span<const Tensor> inputs);
  void unbind_inputs();
  RunResult simulate(Ledger* ledger, const StepObserver* observer);
  RunResult simulate_incremental(Ledger* ledger, const StepObserver* observer);  // prefill/extend body
  void set_live(std::int64_t lo, std::int64_t hi);  // incremental: positions [lo, hi) become live
  void mark_fresh(ValueState& v);                   // step 1: every element (run) or the fresh ones
  std::int64_t fresh_count(const ValueState& v) const;
  void reset();
  void step(bool first);
  float current_at(const ValueState& v, std::int64_t i) const;
  void step_neuron(Unit& u);
  void step_synapse(Unit& u, bool first);
  void step_product(Unit& u, bool first);
  void step_diff_unit(Unit& u, bool first);
  void read_mask(Unit& u, const Shape& scores);
  void step_add(Unit& u, bool first);
  void step_movement(Unit& u);
  void step_dense(Unit& u);
  std::vector<Tensor> read_outputs() const;
};

}  // namespace snnconv::legacy_snn
