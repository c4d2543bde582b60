// The event-driven SNN engine: synchronous timesteps over a Stage::spiking graph, where within a step only
// events do work. At quiescence every population's spike count equals the QANN's integer level of the
// same quantization point, bit for bit (docs/spiking.md).
//
// Many samples go through one pass (run_batch): layer-synchronous, each weight row or event-matrix GEMM
// serving every sample, each sample quiescing on its own. Results and ledgers do not depend on the batch
// size, the thread count or the instruction set the kernels use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv {
class Communicator;
}

namespace snnconv::snn {

// strict: at most one +-1 spike per neuron per step (binary events).
// burst: a neuron emits its whole count difference at once, priced as one multi-bit event (not binary).
enum class FireMode : std::uint8_t { strict, burst };

struct EngineOptions {
  FireMode mode = FireMode::strict;
  int max_steps = 4096;  // >= 1; a run that is not quiescent by then stops and says so
  int threads = 1;       // 0: every core; results and ledgers are bit-identical for any count
  // Refuse, before allocating it, simulation state above this many bytes (0: no limit). run_batch lowers
  // the samples per pass to what fits; a single sample that does not fit is a LimitError naming the figure.
  std::uint64_t max_memory_bytes = 0;
  int batch = 64;  // >= 1: samples per pass of run_batch (per thread shard)
  // run_batch lowers the samples per pass so that one pass's state and scratch stay under this many bytes
  // (at least one sample). Every step touches much of a pass's state, so a pass that outgrows the cache a
  // core can count on (4 MiB: a Zen 5 core's share of its L3, four L2s) runs from DRAM: fashion_vit (2 MiB
  // per sample) steps 1.5x faster in passes of 1-2 samples than of 64, and the weight reuse a bigger pass
  // buys is small beside that (docs/benchmarks.md, issue 16). 0: no such cap (only batch and
  // max_memory_bytes). Results and ledgers do not depend on it.
  std::uint64_t pass_bytes = std::uint64_t{4} << 20;
  bool time_units = false;  // benchmarks only: accumulate each node's step time (Engine::node_seconds)
};

// Bytes the engine needs (docs/spiking.md, "Memory"): the plan's parameters (integer and packed weights,
// steps, index maps) and, per sample of a pass, its simulation state (counts, targets, accumulators,
// operands, unit outputs) and its per-step scratch (events, marks, flags).
struct MemoryEstimate {
  std::uint64_t parameter_bytes = 0;
  std::uint64_t state_bytes_per_sample = 0;
  std::uint64_t scratch_bytes_per_sample = 0;
  std::uint64_t per_sample() const { return state_bytes_per_sample + scratch_bytes_per_sample; }
  std::uint64_t total(std::int64_t samples) const {
    return parameter_bytes + static_cast<std::uint64_t>(samples) * per_sample();
  }
  std::string describe(std::int64_t samples) const;  // "12.3 MiB (parameters 1.0 MiB + 4 x 2.8 MiB per sample)"
};

// Called at the end of every step with the step number (1-based) and the graph outputs as they read at that
// step (the accuracy-versus-timesteps curve reads outputs this way).
using StepObserver = std::function<void(int step, const std::vector<Tensor>& outputs)>;
// run_batch's observer: sample index (position in the batch), step, and that sample's outputs.
using BatchObserver = std::function<void(std::int64_t sample, int step, const std::vector<Tensor>& outputs)>;

// What a run records on request (`snnconv run --record`): per step, the +/- spikes of every neuron population
// (SpikeNeuron nodes, in graph order), and for the populations named in `raster` every event.
struct Recording {
  std::vector<std::string> raster;  // population (value) names to record event by event; unknown: UsageError
  // Filled by run():
  std::vector<std::string> populations;  // SpikeNeuron output names, the columns of spikes_*
  std::vector<std::int64_t> neurons;     // per population
  std::vector<std::vector<std::uint64_t>> spikes_pos, spikes_neg;  // [step][population]
  struct Event {
    std::int32_t step, neuron, delta;
  };
  std::vector<std::vector<Event>> raster_events;  // per raster name
};

struct RunResult {
  // Graph outputs in order, f32: s * count for a population; for a read-out current (a synapse's or
  // product's accumulated output, e.g. the logits of a final Linear) its value from the exact accumulator.
  std::vector<Tensor> outputs;
  std::vector<Tensor> output_levels;  // graph outputs in order: i32 counts (empty tensor for a current)
  // Steps simulated: the step at whose end no neuron could fire any more (every count equals its target;
  // within a step events flow through the whole graph in topological order), or max_steps.
  int steps = 0;
  int last_event_step = 0;  // last step in which any neuron fired (0: no neuron ever fired)
  bool quiescent = false;   // false: stopped at max_steps with neurons still able to fire
};

// Model-parallel placement (docs/scaling.md, "Model-parallel SNN"): which rank simulates each unit of one
// network. Units are placed in groups that only spike events connect: every current (a synapse's, product's or
// differential unit's output) stays on the rank of its producer and of all its consumers, so what crosses a
// rank is exactly a population's events; a group holding a current graph output (the logits) is on rank 0,
// which reads the outputs.
struct Placement {
  std::string method;                 // "work" (balanced) or "chips" (the neuromorphic mapping's chips)
  int ranks = 1;
  std::vector<int> node_rank;         // per graph node (ledger row): its rank
  std::vector<std::int64_t> units;    // per rank: units placed there
  std::vector<std::uint64_t> work;    // per rank: synaptic work at full activity (the balancing weight)
  std::vector<std::uint64_t> state_bytes_per_sample;  // per rank: state it allocates (counts it owns or mirrors)
  std::uint64_t whole_state_bytes_per_sample = 0;     // the same for the whole network on one rank
  std::vector<std::string> cut_values;  // populations whose events go to another rank, in plan order
};

class Engine {
 public:
  // Validates the graph (stage spiking, verify, static shapes, supported ops) and lays out the state.
  // Throws UsageError for bad options, GraphError/UnsupportedError naming the node otherwise.
  Engine(const Graph& graph, EngineOptions options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // One sample from rest: `inputs` follow graph.inputs() order (the graph's dtypes, static shapes). Adds its counts to
  // `ledger` when given (Ledger::for_graph of the same graph): per node, and per step in ledger->per_step.
  RunResult run(std::span<const Tensor> inputs, Ledger* ledger = nullptr, const StepObserver* observer = nullptr,
                Recording* recording = nullptr);

  // Many samples from rest (samples[i] follows graph.inputs() order), options.batch per pass and shard,
  // sharded over the threads: the same results and, summed into `ledger`, the same counters as run() of
  // each sample in turn. A sample that reaches max_steps is reported with quiescent = false. The observer
  // sees every step of every sample (its index in `samples`).
  std::vector<RunResult> run_batch(std::span<const std::vector<Tensor>> samples, Ledger* ledger = nullptr,
                                   const BatchObserver* observer = nullptr);

  // Parameter bytes and state bytes per sample (run_batch checks options.max_memory_bytes against them).
  const MemoryEstimate& memory() const;
  int threads() const;  // the resolved thread count (options.threads, or every core for 0)
  // With EngineOptions::time_units: seconds spent stepping each node (index = node index; ledger row),
  // summed over every run and thread, plus one last entry: the per-step bookkeeping outside the units.
  std::vector<double> node_seconds() const;

  // Causal decoding (docs/spiking.md, "Generation on the SNN"). The graph's inputs carry the sequence on
  // axis 1 of a batch-1 input ([1, T, ...]; T = sequence_length()). Every element of every value gets the
  // position at which it becomes live (the latest sequence position it depends on; entries a causal softmax
  // masks, and what only they feed, never become live). prefill() simulates positions [0, length) from
  // rest to quiescence; extend() makes positions [live_length(), length) live and simulates until
  // quiescence again while every earlier position's accumulated state (synaptic accumulators, product
  // operands such as K and V, counts, unit outputs) is kept, so its ledger counts only the new positions'
  // work. `inputs` are the whole window (positions >= length are ignored; earlier positions must not
  // change between calls). Outputs are read for every position; only positions < length are meaningful.
  // UnsupportedError when the graph has no such sequence axis; UsageError for a bad length or an extend()
  // without a prefill(). run() discards the incremental state.
  RunResult prefill(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger = nullptr,
                    const StepObserver* observer = nullptr);
  RunResult extend(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger = nullptr,
                   const StepObserver* observer = nullptr);
  // One saved copy of the whole simulation state (counts, accumulators, operands, unit outputs, pending
  // neurons, live length): checkpoint() saves it, rollback() restores it (UsageError without one). Used to
  // drop speculated positions that were rejected.
  void checkpoint();
  void rollback();
  std::int64_t live_length() const;      // positions simulated so far (0: no prefill since the last run)
  std::int64_t sequence_length() const;  // T (lays out the positions on first use)

  // Spike counts of a population (a SpikeNeuron output or a Reshape/Transpose of one) after the last
  // run, by value name; empty when no such spiking value exists.
  std::vector<std::int32_t> counts(std::string_view value_name) const;

  const Graph& graph() const;

  // Model parallel. place_by_work: the groups in plan order split into `ranks` contiguous runs of about equal
  // work (deterministic: every rank computes the same placement). place_by_groups: `node_group` gives each
  // graph node a group (a chip of the neuromorphic mapping; -1: follow the group of its neighbours) and group g
  // goes to rank g mod ranks. partition() makes run_batch() and run() simulate only this rank's units and
  // exchange the events that cross ranks through `comm` each step (comm->size() must equal placement.ranks);
  // results are identical to one rank's. On rank 0 run_batch returns every sample's results and `ledger` holds
  // the whole network's counters (the other ranks' rows gathered), plus link_events / link_bytes on the rows
  // whose events crossed; the other ranks return results without outputs and leave `ledger` untouched. Not
  // with recordings or causal decoding (UsageError). One pass at a time (the engine's threads work inside units).
  Placement place_by_work(int ranks) const;
  Placement place_by_groups(const std::vector<int>& node_group, int ranks, std::string method) const;
  void partition(Communicator* comm, const Placement& placement);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace snnconv::snn
