// The SNN engine's facade (engine.hpp): the plan, the pass of single-sample runs and causal decoding, and
// run_batch's thread shards.
#include "snnconv/snn_core/engine.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <limits>

#include "partition.hpp"
#include "simulator.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/core/communicator.hpp"
#include "units.hpp"

namespace snnconv::snn {

struct Engine::Impl {
  const Graph& g;
  EngineOptions options;
  Plan plan;
  MemoryEstimate memory;
  int threads = 1;
  std::unique_ptr<tbb::task_arena> arena;  // threads > 1
  Simulator main;                          // run(), prefill(), extend(), counts()
  std::vector<std::unique_ptr<Simulator>> shards;
  std::unique_ptr<State> saved;            // checkpoint()
  std::vector<std::vector<double>> node_seconds;  // time_units: per shard (index 0: the main pass)
  std::unique_ptr<PartitionTables> part;         // model parallel (partition())

  Impl(const Graph& graph, EngineOptions opts)
      : g(graph), options(check(opts)), plan(build_plan(graph)), main(plan, opts.mode) {
    memory = estimate_memory(plan);
    threads = options.threads > 0 ? options.threads : tbb::this_task_arena::max_concurrency();
    if (options.time_units) node_seconds.assign(static_cast<std::size_t>(threads) + 1, std::vector<double>(g.num_nodes() + 1, 0.0));
    if (threads > 1) arena = std::make_unique<tbb::task_arena>(threads);
    check_memory(1, 1);
  }

  static EngineOptions check(EngineOptions o) {
    if (o.max_steps < 1)
      throw UsageError("SNN engine: max_steps must be >= 1 (got " + std::to_string(o.max_steps) + ")");
    if (o.threads < 0)
      throw UsageError("SNN engine: threads must be >= 0 (0: every core; got " + std::to_string(o.threads) + ")");
    if (o.batch < 1) throw UsageError("SNN engine: batch must be >= 1 (got " + std::to_string(o.batch) + ")");
    return o;
  }

  // LimitError when `shards` passes of `batch` samples do not fit in options.max_memory_bytes.
  void check_memory(std::int64_t batch, std::int64_t shard_count) const {
    if (options.max_memory_bytes == 0) return;
    const std::int64_t samples = batch * shard_count;
    if (memory.total(samples) > options.max_memory_bytes)
      throw LimitError("SNN engine: the simulation needs " + memory.describe(samples) +
                           ", above the memory limit of " + ann::format_bytes(options.max_memory_bytes) +
                           " (--max-memory)",
                       {g.source_file, "", "", ""});
  }

  void check_inputs(std::span<const Tensor> inputs) const {
    if (inputs.size() != g.inputs().size())
      throw ShapeError("SNN engine: " + std::to_string(inputs.size()) + " inputs for " +
                       std::to_string(g.inputs().size()) + " graph inputs");
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const ValueInfo& v = plan.values[g.inputs()[i].index];
      const DType want = g.value(g.inputs()[i]).type.dtype;
      if (inputs[i].dtype() != want || inputs[i].shape() != v.shape)
        throw ShapeError("SNN engine: input '" + g.value(g.inputs()[i]).name + "' must be " +
                         std::string(dtype_name(want)) + shape_to_string(v.shape) + ", got " +
                         std::string(dtype_name(inputs[i].dtype())) + shape_to_string(inputs[i].shape()));
    }
  }

  void check_ledger(const Ledger* ledger) const {
    if (ledger && ledger->per_node.size() != g.num_nodes())
      throw UsageError("SNN engine: the ledger was not made for this graph (Ledger::for_graph)");
  }

  static std::vector<std::vector<const Tensor*>> bind(std::span<const Tensor> inputs) {
    std::vector<const Tensor*> one;
    for (const Tensor& t : inputs) one.push_back(&t);
    return {one};
  }

  RunResult run(std::span<const Tensor> inputs, Ledger* ledger, const StepObserver* observer, Recording* rec) {
    check_inputs(inputs);
    check_ledger(ledger);
    if (part && rec) throw UsageError("a model-parallel run (--partition) records no spikes: record on one process");
    std::vector<int> raster_values;
    if (rec) {
      rec->populations.clear();
      rec->neurons.clear();
      rec->spikes_pos.clear();
      rec->spikes_neg.clear();
      rec->raster_events.assign(rec->raster.size(), {});
      for (const Unit& u : plan.units)
        if (u.kind == UnitKind::neuron) {
          rec->populations.push_back(g.value(ValueId(static_cast<std::uint32_t>(u.out))).name);
          rec->neurons.push_back(plan.values[static_cast<std::size_t>(u.out)].numel);
        }
      for (const std::string& name : rec->raster) {
        const ValueId v = g.find_value(name);
        if (!v.valid() || !plan.values[v.index].spiking)
          throw UsageError("--raster: no spiking population named '" + name + "'");
        raster_values.push_back(static_cast<int>(v.index));
      }
    }
    // A whole-window run: every element is simulated (the causal positions, if any, are forgotten).
    main.allocate(1);
    const auto bound = bind(inputs);
    BatchObserver batch_observer;
    if (observer && *observer)
      batch_observer = [observer](std::int64_t, int t, const std::vector<Tensor>& outs) { (*observer)(t, outs); };
    PassOptions o;
    o.inputs = &bound;
    o.ledger = ledger;
    o.observer = batch_observer ? &batch_observer : nullptr;
    o.recording = rec;
    o.raster_values = &raster_values;
    o.max_steps = options.max_steps;
    o.arena = arena.get();
    o.node_seconds = options.time_units ? &node_seconds[0] : nullptr;
    Ledger local = part && ledger ? Ledger::for_graph(g) : Ledger{};
    if (part && ledger) o.ledger = &local;
    RunResult r = std::move(main.simulate(o).at(0));
    if (part && ledger) gather_ledger(local, *ledger);
    return r;
  }

  // Model parallel: rank 0 adds every rank's rows to `into` (each node is counted by its owner alone, so the
  // sum is one rank's ledger). Every rank simulated every step of every sample: per_step's timesteps, the
  // samples and the tokens are counted once, not once per rank.
  void gather_ledger(const Ledger& mine, Ledger& into) const {
    BytesOut out;
    put_ledger(out, mine);
    const std::vector<std::string> all = part->comm->gather(out.str(), 0);
    if (part->rank != 0) return;
    Ledger sum = mine;
    for (std::size_t r = 1; r < all.size(); ++r) {
      Ledger other = Ledger::for_graph(g);
      BytesIn in(all[r]);
      merge_ledger_from(in, other);
      for (std::size_t i = 0; i < sum.per_node.size(); ++i) sum.per_node[i] += other.per_node[i];
      if (other.per_step.size() != sum.per_step.size()) throw Error("model-parallel ranks ran different step counts");
      for (std::size_t t = 0; t < sum.per_step.size(); ++t) {
        const std::uint64_t steps = sum.per_step[t].timesteps;
        sum.per_step[t] += other.per_step[t];
        sum.per_step[t].timesteps = steps;
      }
    }
    into.merge(sum);
  }

  // Model parallel: the plan is laid out again without folded movements (fold_movements), before any placement,
  // so that placements, exchange tables and the run agree: a movement whose output crosses a cut sends its own
  // events (on hardware its routing table sits at the sender), not every event of its source (a class token's
  // Gather would otherwise send the whole final population).
  void unfold() {
    if (plan.views.empty()) return;
    plan = build_plan(g, false);
    memory = estimate_memory(plan);
    main.set_partition(nullptr);  // drops the state laid out for the folded plan
    shards.clear();
    saved.reset();
  }

  void partition(Communicator* comm, const Placement& placement) {
    const int ranks = comm ? comm->size() : 1;
    if (placement.ranks != ranks)
      throw UsageError("--partition " + std::to_string(placement.ranks) + " needs as many ranks, got " +
                       std::to_string(ranks) + (ranks == 1 ? " (start it with mpirun -n " + std::to_string(placement.ranks) + ")" : ""));
    if (ranks == 1) return;  // one rank simulates everything: no exchange
    unfold();
    part = std::make_unique<PartitionTables>(partition_tables(plan, placement.node_rank, comm->rank(), ranks));
    part->comm = comm;
    main.set_partition(part.get());
    for (auto& sh : shards) sh->set_partition(part.get());
  }

  std::vector<RunResult> run_batch(std::span<const std::vector<Tensor>> samples, Ledger* ledger,
                                   const BatchObserver* observer) {
    check_ledger(ledger);
    for (const auto& s : samples) check_inputs(s);
    const auto n = static_cast<std::int64_t>(samples.size());
    std::vector<RunResult> results(static_cast<std::size_t>(n));
    if (n == 0) return results;
    // Shards: one per thread (each simulates its samples alone, no synchronisation), or one pass with the
    // threads inside the units when there are fewer samples than threads.
    std::int64_t shard_count = std::min<std::int64_t>(threads, n);
    if (shard_count < 2 || part) shard_count = 1;  // model parallel: one pass at a time, in step with the other ranks
    std::int64_t batch = std::min<std::int64_t>(options.batch, (n + shard_count - 1) / shard_count);
    if (options.pass_bytes != 0 && memory.per_sample() > 0)
      batch = std::clamp<std::int64_t>(static_cast<std::int64_t>(options.pass_bytes / memory.per_sample()), 1, batch);
    if (options.max_memory_bytes != 0) {
      const std::uint64_t room =
          options.max_memory_bytes > memory.parameter_bytes ? options.max_memory_bytes - memory.parameter_bytes : 0;
      const std::uint64_t fit = memory.per_sample() > 0 ? room / memory.per_sample() : static_cast<std::uint64_t>(n);
      while (shard_count > 1 && static_cast<std::uint64_t>(shard_count) > fit) --shard_count;
      batch = std::min<std::int64_t>(batch, static_cast<std::int64_t>(fit / static_cast<std::uint64_t>(shard_count)));
      batch = std::max<std::int64_t>(batch, 1);
      check_memory(batch, shard_count);  // a single sample that does not fit
    }
    while (static_cast<std::int64_t>(shards.size()) < shard_count) {
      shards.push_back(std::make_unique<Simulator>(plan, options.mode));
      if (part) shards.back()->set_partition(part.get());
    }
    std::vector<Ledger> ledgers(static_cast<std::size_t>(shard_count));
    for (Ledger& l : ledgers) l = Ledger::for_graph(g);
    auto run_shard = [&](std::int64_t sh) {
      const std::int64_t lo = sh * n / shard_count, hi = (sh + 1) * n / shard_count;
      Simulator& sim = *shards[static_cast<std::size_t>(sh)];
      for (std::int64_t at = lo; at < hi; at += batch) {
        const std::int64_t count = std::min(batch, hi - at);
        std::vector<std::vector<const Tensor*>> bound(static_cast<std::size_t>(count));
        for (std::int64_t i = 0; i < count; ++i)
          for (const Tensor& t : samples[static_cast<std::size_t>(at + i)]) bound[static_cast<std::size_t>(i)].push_back(&t);
        sim.allocate(static_cast<int>(count));
        PassOptions o;
        o.inputs = &bound;
        o.ledger = ledger ? &ledgers[static_cast<std::size_t>(sh)] : nullptr;
        o.observer = observer && *observer ? observer : nullptr;
        o.first_index = at;
        o.max_steps = options.max_steps;
        o.arena = shard_count == 1 ? arena.get() : nullptr;
        o.node_seconds = options.time_units ? &node_seconds[static_cast<std::size_t>(sh) + 1] : nullptr;
        std::vector<RunResult> r = sim.simulate(o);
        for (std::int64_t i = 0; i < count; ++i) results[static_cast<std::size_t>(at + i)] = std::move(r[static_cast<std::size_t>(i)]);
      }
    };
    if (shard_count == 1) {
      run_shard(0);
    } else {
      arena->execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, shard_count, 1),
                          [&](const tbb::blocked_range<std::int64_t>& r) {
                            for (std::int64_t sh = r.begin(); sh < r.end(); ++sh) run_shard(sh);
                          },
                          tbb::simple_partitioner());
      });
    }
    if (ledger && part) {
      gather_ledger(ledgers[0], *ledger);
    } else if (ledger) {
      for (const Ledger& l : ledgers) ledger->merge(l);
    }
    return results;
  }

  // Causal decoding (docs/spiking.md, "Generation on the SNN").
  RunResult incremental(std::span<const Tensor> inputs, std::int64_t lo, std::int64_t hi, Ledger* ledger,
                        const StepObserver* observer) {
    const auto bound = bind(inputs);
    BatchObserver batch_observer;
    if (observer && *observer)
      batch_observer = [observer](std::int64_t, int t, const std::vector<Tensor>& outs) { (*observer)(t, outs); };
    PassOptions o;
    o.inputs = &bound;
    o.ledger = ledger;
    o.observer = batch_observer ? &batch_observer : nullptr;
    o.incremental = true;
    o.fresh_lo = lo;
    o.fresh_hi = hi;
    o.max_steps = options.max_steps;
    o.arena = arena.get();
    o.node_seconds = options.time_units ? &node_seconds[0] : nullptr;
    main.state.live_len = hi;
    try {
      return std::move(main.simulate(o).at(0));
    } catch (...) {
      main.state.live_len = 0;  // a new prefill is needed
      throw;
    }
  }

  RunResult prefill(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger, const StepObserver* observer) {
    if (part) throw UsageError("causal decoding (prefill, extend) does not run model parallel (--partition) yet");
    if (!plan.causal_layout) build_causal_layout(plan);
    if (length < 1 || length > plan.seq_len)
      throw UsageError("SNN engine: prefill length must be in [1, " + std::to_string(plan.seq_len) + "], got " +
                       std::to_string(length));
    check_inputs(inputs);
    check_ledger(ledger);
    main.allocate(1);
    return incremental(inputs, 0, length, ledger, observer);
  }

  RunResult extend(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger, const StepObserver* observer) {
    const std::int64_t live = main.state.live_len;
    if (live < 1) throw UsageError("SNN engine: extend() needs a prefill() first");
    if (length <= live || length > plan.seq_len)
      throw UsageError("SNN engine: extend length must be in [" + std::to_string(live + 1) + ", " +
                       std::to_string(plan.seq_len) + "], got " + std::to_string(length));
    check_inputs(inputs);
    check_ledger(ledger);
    return incremental(inputs, live, length, ledger, observer);
  }
};

Engine::Engine(const Graph& graph, EngineOptions options) : impl_(std::make_unique<Impl>(graph, options)) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

RunResult Engine::run(std::span<const Tensor> inputs, Ledger* ledger, const StepObserver* observer,
                      Recording* recording) {
  return impl_->run(inputs, ledger, observer, recording);
}
std::vector<RunResult> Engine::run_batch(std::span<const std::vector<Tensor>> samples, Ledger* ledger,
                                         const BatchObserver* observer) {
  return impl_->run_batch(samples, ledger, observer);
}
RunResult Engine::prefill(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger,
                          const StepObserver* observer) {
  return impl_->prefill(inputs, length, ledger, observer);
}
RunResult Engine::extend(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger,
                         const StepObserver* observer) {
  return impl_->extend(inputs, length, ledger, observer);
}
// Between calls no events, marks or row flags are pending, so the state is the whole simulation.
void Engine::checkpoint() {
  impl_->saved = std::make_unique<State>(impl_->main.state);
}
void Engine::rollback() {
  if (!impl_->saved) throw UsageError("SNN engine: rollback() without a checkpoint()");
  impl_->main.state = *impl_->saved;
}
std::int64_t Engine::live_length() const {
  return impl_->main.state.live_len;
}
std::int64_t Engine::sequence_length() const {
  if (!impl_->plan.causal_layout) build_causal_layout(impl_->plan);
  return impl_->plan.seq_len;
}
const Graph& Engine::graph() const {
  return impl_->g;
}
const MemoryEstimate& Engine::memory() const {
  return impl_->memory;
}
int Engine::threads() const {
  return impl_->threads;
}
std::vector<double> Engine::node_seconds() const {
  std::vector<double> sum(impl_->g.num_nodes() + 1, 0.0);
  for (const auto& v : impl_->node_seconds)
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += v[i];
  return sum;
}

Placement Engine::place_by_work(int ranks) const {
  if (ranks > 1) impl_->unfold();  // the layout the partitioned run will have (Impl::unfold)
  return snn::place_by_work(impl_->plan, ranks);
}
Placement Engine::place_by_groups(const std::vector<int>& node_group, int ranks, std::string method) const {
  if (ranks > 1) impl_->unfold();
  return snn::place_by_groups(impl_->plan, node_group, ranks, std::move(method));
}
void Engine::partition(Communicator* comm, const Placement& placement) {
  impl_->partition(comm, placement);
}

std::vector<std::int32_t> Engine::counts(std::string_view value_name) const {
  const ValueId v = impl_->g.find_value(value_name);
  if (!v.valid() || !impl_->plan.values[v.index].spiking) return {};
  const ValueInfo& vi = impl_->plan.values[v.index];
  const auto& c = impl_->main.state.counts;
  if (c.empty()) return std::vector<std::int32_t>(static_cast<std::size_t>(vi.numel), 0);
  const auto& all = c[static_cast<std::size_t>(vi.storage)];
  const ValueInfo& owner = impl_->plan.values[static_cast<std::size_t>(vi.storage)];
  if (static_cast<std::int64_t>(all.size()) < owner.numel) return {};  // model parallel: another rank's population
  if (const ViewMap* m = impl_->plan.view(static_cast<int>(v.index))) {  // a folded movement: through its map
    std::vector<std::int32_t> out(static_cast<std::size_t>(vi.numel));
    gather_view(*m, all.data(), 0, vi.numel, out.data());
    return out;
  }
  return {all.begin(), all.begin() + vi.numel};
}

}  // namespace snnconv::snn
