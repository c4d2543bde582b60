// One pass of the SNN engine: the state and scratch of `batch` samples and the step loop that drives the units
// in topological order until every sample is quiescent (or max_steps). The engine (engine.cpp) owns one for
// single-sample runs and causal decoding, and one per thread shard for run_batch.
#pragma once

#include <vector>

#include "partition.hpp"
#include "state.hpp"

namespace snnconv::snn {

struct PassOptions {
  const std::vector<std::vector<const Tensor*>>* inputs = nullptr;  // per sample, per graph input
  Ledger* ledger = nullptr;                                        // counters summed over the pass
  const BatchObserver* observer = nullptr;
  std::int64_t first_index = 0;  // observer: index of the pass's sample 0
  Recording* recording = nullptr;  // batch 1 only
  const std::vector<int>* raster_values = nullptr;
  bool incremental = false;  // causal decoding: [fresh_lo, fresh_hi) become live, live_end = fresh_hi
  std::int64_t fresh_lo = 0, fresh_hi = 0;
  int max_steps = 0;
  tbb::task_arena* arena = nullptr;
  std::vector<double>* node_seconds = nullptr;  // time_units: per node, plus the bookkeeping (last entry)
};

class Simulator {
 public:
  Simulator(const Plan& plan, FireMode mode) : plan_(plan), mode_(mode) {}
  // Lays out state and scratch for `batch` samples at rest (reuses the buffers when the batch is unchanged).
  void allocate(int batch);
  void reset();  // every count, target, accumulator, operand and output back to zero
  // allocate() leaves a reused state to be cleared: by reset() before a causal run, and unit by unit just
  // before each unit's first step in a whole run (the unit's arrays are then in cache for that step).
  // Steps until every sample is quiescent or max_steps, from the state as it is (rest for a run or a
  // prefill, the previous quiescent state for an extend).
  std::vector<RunResult> simulate(const PassOptions& o);
  // The graph outputs of `sample` as they read now (f32: s * count for a population, the current otherwise).
  std::vector<Tensor> read_outputs(const PassOptions& o, int sample) const;

  // Model parallel: simulate only this rank's units and exchange events as `tables` say (null: every unit).
  // Takes effect at the next allocate().
  void set_partition(const PartitionTables* tables) {
    part_ = tables;
    state = State{};
  }

  State state;
  Scratch scratch;

 private:
  void step(Step& st, const PassOptions& o);
  // Back to rest: the state of unit `ui` (its population's counts included), or the counts a received value
  // holds on a rank that does not own its unit.
  void clear_unit(std::size_t ui);
  // Model parallel, after unit `ui`: its events to the ranks that read them, or theirs from its owner.
  void exchange(std::size_t ui, Step& st);
  const Plan& plan_;
  FireMode mode_;
  bool outputs_here() const { return !part_ || part_->outputs_here; }
  const PartitionTables* part_ = nullptr;
  std::string wire_;                 // the packed events of one exchange
  EventList raster_tmp_;             // a recorded view's events, renumbered
  std::vector<std::uint8_t> quiet_;  // fired and pending flags of every sample, OR-ed over the ranks
  bool stale_ = false;               // the state still holds the previous pass's values (allocate())
};

}  // namespace snnconv::snn
