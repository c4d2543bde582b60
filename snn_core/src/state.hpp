// The evolving state of a pass (State: everything a checkpoint must keep, so reset, checkpoint and rollback
// are single assignments) and its per-step buffers (Scratch: events and marks exchanged between units
// within a step, emptied at its end), both for `batch` samples laid out sample-major (plan.hpp).
//
// The per-step exchange between units: a unit reads the events of its spiking inputs (Scratch::values[v]
// .events, global indices) and the marks of its current inputs (rows or single elements whose value
// changed), and writes the events or marks of its output. Units run in topological order, so a spike reaches
// every downstream unit within its step. A partition of the graph over several processes would exchange
// exactly the events of the values that cross its cut, once per step.
#pragma once

#include <tbb/task_arena.h>

#include <cstdint>
#include <vector>

#include "plan.hpp"
#include "state_vector.hpp"

namespace snnconv::snn {

struct State {
  int batch = 0;
  std::int64_t live_len = 0;  // causal decoding: positions simulated so far
  std::vector<StateVector<std::int32_t>> counts;  // per value that owns storage: [batch * numel]
  std::vector<NeuronState> neurons;
  std::vector<SynapseState> synapses;
  std::vector<ProductState> products;
  std::vector<DiffState> diffs;
  std::vector<PrologueState> prologues;
};

struct ValueScratch {
  EventList events;               // spiking (storage owners): this step's events
  std::vector<std::int32_t> rows;          // current: rows marked whole this step
  StateVector<std::uint8_t> row_flag;      // [batch * numel / width]
  std::vector<std::int32_t> elems;         // current: single elements marked (outside marked rows)
  StateVector<std::uint8_t> elem_flag;     // [batch * numel]
  // The ledger counts the distinct elements whose input changed (what hardware would update). A producer may
  // have whole rows evaluated where only some of their elements changed (re-evaluating an unchanged element
  // gives its stored target again, so this changes no result): ledger_extra is the exact count minus the
  // marked count (rows * width + elements outside marked rows).
  std::int64_t ledger_extra = 0;
};

struct Scratch {
  std::vector<ValueScratch> values;
  std::vector<NeuronScratch> neurons;
  std::vector<SynapseScratch> synapses;
  std::vector<ProductScratch> products;
  std::vector<DiffScratch> diffs;
  std::vector<Counters> rows;           // per node: this step's counters (summed over the pass's samples)
  std::vector<std::uint8_t> fired;      // per sample: a neuron fired this step
  std::vector<std::uint8_t> pending;    // per sample: a neuron's count still differs from its target
  std::vector<std::int32_t> rows_tmp;   // a unit's working list of rows within its step
};

// What a unit's step sees.
struct Step {
  const Plan& plan;
  State& state;
  Scratch& scratch;
  FireMode mode = FireMode::strict;
  int t = 0;
  bool first = false;
  // The first step of a whole run whose state still holds the previous pass's values: neuron populations are
  // left to step_neuron to clear (unit_neuron.cpp); every other unit is cleared before its step.
  bool stale = false;
  // Causal decoding (batch 1): only elements with pos < live_end are simulated; [fresh_lo, fresh_hi)
  // become live in this call.
  bool incremental = false;
  std::int64_t fresh_lo = 0, fresh_hi = 0, live_end = 0;
  tbb::task_arena* arena = nullptr;  // intra-unit parallelism (nullptr: this thread only)
  const std::vector<std::vector<const Tensor*>>* inputs = nullptr;  // per sample, per graph input

  const ValueInfo& info(int v) const { return plan.values[static_cast<std::size_t>(v)]; }
  // The counts and events of spiking value v (through its storage owner).
  StateVector<std::int32_t>& counts(int v) {
    return state.counts[static_cast<std::size_t>(info(v).storage)];
  }
  // A lazy list (EventList::set_lazy) is written out here, before its reader sees it.
  EventList& events(int v) {
    EventList& e = scratch.values[static_cast<std::size_t>(info(v).storage)].events;
    e.materialize();
    return e;
  }
  // The list as it is, possibly lazy: for readers that need only its size (or view_event_count).
  const EventList& events_unread(int v) const {
    return scratch.values[static_cast<std::size_t>(info(v).storage)].events;
  }
  ValueScratch& marks(int v) { return scratch.values[static_cast<std::size_t>(v)]; }
  Counters& counters(const Unit& u) { return scratch.rows[u.row]; }

  bool gated(const ValueInfo& v) const { return incremental && !v.pos.empty(); }
  bool live(const ValueInfo& v, std::int64_t i) const {
    return !gated(v) || v.pos[static_cast<std::size_t>(i)] < live_end;
  }
  // Marks element i of current v as changed (skipped when not live or when its row is marked whole).
  void mark(int v, std::int64_t i) {
    const ValueInfo& vi = info(v);
    if (!live(vi, i)) return;
    ValueScratch& m = marks(v);
    const auto k = static_cast<std::size_t>(i);
    if (m.elem_flag[k] || m.row_flag[static_cast<std::size_t>(i / vi.width)]) return;
    m.elem_flag[k] = 1;
    m.elems.push_back(static_cast<std::int32_t>(i));
  }
  // Marks row r (elements [r * width, (r + 1) * width)) of current v; element by element when gated.
  void mark_row(int v, std::int64_t r) {
    const ValueInfo& vi = info(v);
    if (gated(vi)) {
      for (std::int64_t i = r * vi.width; i < (r + 1) * vi.width; ++i) mark(v, i);
      return;
    }
    ValueScratch& m = marks(v);
    if (!m.row_flag[static_cast<std::size_t>(r)]) {
      m.row_flag[static_cast<std::size_t>(r)] = 1;
      m.rows.push_back(static_cast<std::int32_t>(r));
    }
  }
  // The elements of value v whose input changed (the ledger's count) are `exact`, and they lie in `rows`:
  // mark those rows whole for evaluation. `rows` must not be marked yet.
  void mark_rows_covering(int v, const std::vector<std::int32_t>& rows, std::int64_t exact) {
    const ValueInfo& vi = info(v);
    ValueScratch& m = marks(v);
    for (std::int32_t r : rows) {
      m.row_flag[static_cast<std::size_t>(r)] = 1;
      m.rows.push_back(r);
    }
    m.ledger_extra += exact - static_cast<std::int64_t>(rows.size()) * vi.width;
  }
  // Step 1: every element (a whole run) or the newly live ones (prefill/extend).
  void mark_fresh(int v);
  std::int64_t fresh_count(int v) const;
};

}  // namespace snnconv::snn
