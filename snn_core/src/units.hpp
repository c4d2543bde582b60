// The functions of every unit kind: plan (validate one node and lay out its parameters), allocate (state and
// scratch for a pass of `batch` samples), step (one timestep), and for producers of currents the value of a
// row or element. Defined in the kind's unit_*.cpp.
#pragma once

#include <cstring>

#include "state.hpp"

namespace snnconv::snn {

// What the plan functions of the kinds share: the graph and the values laid out so far.
struct PlanBuilder {
  const Graph& g;
  Plan& plan;
  ValueInfo& value(ValueId v) const { return plan.values[v.index]; }
  // Operand k of node id, which must be a spiking population.
  const ValueInfo& spiking_in(NodeId id, std::size_t k) const;
};

NeuronParams plan_neuron(const PlanBuilder& b, NodeId id);
SynapseParams plan_synapse(const PlanBuilder& b, NodeId id);
ProductParams plan_product(const PlanBuilder& b, NodeId id);
DiffParams plan_diff(const PlanBuilder& b, NodeId id);
AddParams plan_add(const PlanBuilder& b, NodeId id);
MovementParams plan_movement(const PlanBuilder& b, NodeId id);
ConcatParams plan_concat(const PlanBuilder& b, NodeId id);
PrologueParams plan_prologue(const PlanBuilder& b, NodeId id);
// After every unit is planned: composes chains of permuting movements into one map from their source
// population, and folds a movement into its readers (a view, no copy per step) when every reader can read
// through the map (unit_movement.cpp).
void fold_movements(Plan& plan);
// The events of spiking value v as its reader indexes them: its population's, or a view's translated into `tmp`
// (unit_movement.cpp).
const EventList& events_as_read(Step& st, int v, EventList& tmp);

// Per-sample bytes of state and scratch of one unit (memory.cpp sums them).
std::uint64_t neuron_bytes(const Plan& p, const NeuronParams& u);
std::uint64_t synapse_bytes(const Plan& p, const SynapseParams& u);
std::uint64_t product_bytes(const Plan& p, const ProductParams& u);
std::uint64_t diff_bytes(const Plan& p, const DiffParams& u);

void allocate(const NeuronParams& p, NeuronState& s, NeuronScratch& x, const Plan& plan, int batch);
void allocate(const SynapseParams& p, SynapseState& s, SynapseScratch& x, const Plan& plan, int batch);
void allocate(const ProductParams& p, ProductState& s, ProductScratch& x, const Plan& plan, int batch);
void allocate(const DiffParams& p, DiffState& s, DiffScratch& x, const Plan& plan, int batch);
// Back to rest (every count, accumulator and output zero) without reallocating.
void reset(NeuronState& s);
void reset(SynapseState& s);
void reset(ProductState& s);
void reset(DiffState& s);

void step_neuron(const Unit& u, Step& st);
void step_synapse(const Unit& u, Step& st);
void step_product(const Unit& u, Step& st);
void step_diff(const Unit& u, Step& st);
void step_add(const Unit& u, Step& st);
void step_movement(const Unit& u, Step& st);
void step_concat(const Unit& u, Step& st);
void step_prologue(const Unit& u, Step& st);

// The current of value v: element i (global), and row r written to out[0 .. width).
float current_at(const Step& st, int v, std::int64_t i);
void current_row(const Step& st, int v, std::int64_t r, float* out);

// c * num / den field by field (rounded down; timesteps kept).
Counters scaled(const Counters& c, std::uint64_t num, std::uint64_t den);

// Ledger conventions shared by the kinds.
inline constexpr std::uint64_t kIndexBytes = 4;
inline constexpr std::uint64_t kCountBytes = 4;  // a count or a target in membrane memory
inline constexpr std::uint64_t kAccBytes = 8;    // a synaptic accumulator as hardware keeps it (int64)
std::size_t width_slot(int bits);
std::uint64_t bytes_of_bits(int bits);
std::uint64_t event_bytes(FireMode mode, int bits);
inline std::size_t mem(MemClass m) { return static_cast<std::size_t>(m); }

// Rows with events, found without a branch per event (a run-by-run split of the indices mispredicted at every
// new row of a strict step): flag_event_rows sets the flag of each event's row (index / width), flagged_rows
// appends the flagged rows of n_rows byte flags in increasing order, read eight at a time; flags stay set.
inline void flag_event_rows(const EventList& events, const FastDiv& div_width, std::uint8_t* flag) {
  for (const Event& e : events) flag[div_width.div(e.index)] = 1;
}
template <typename Rows>
void flagged_rows(const std::uint8_t* flag, std::size_t n_rows, Rows& rows) {
  std::size_t r = 0;
  for (; r + 8 <= n_rows; r += 8) {
    std::uint64_t word;
    std::memcpy(&word, flag + r, sizeof word);
    while (word != 0) {
      const int bit = __builtin_ctzll(word);
      rows.push_back(static_cast<std::int32_t>(r + static_cast<std::size_t>(bit / 8)));
      word &= ~(std::uint64_t{0xFF} << (bit / 8 * 8));
    }
  }
  for (; r < n_rows; ++r)
    if (flag[r]) rows.push_back(static_cast<std::int32_t>(r));
}

}  // namespace snnconv::snn
