// The executor: runs the plan's steps in order inside the engine's own TBB arena. Buffers of dead values
// go to a pool keyed by dtype and element count and are reused by later outputs of that size (transformer
// blocks repeat shapes, so after the first block almost nothing is allocated). Steps the plan marked as
// views move their input's buffer to their output; folded nodes have no step at all (plan.cpp).
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <time.h>

#include <chrono>
#include <map>
#include <utility>

#include "plan.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv::ann {

namespace kernels {

void parallel_chunks(std::int64_t n, std::int64_t chunk, void (*body)(void*, std::int64_t, std::int64_t), void* ctx,
                     bool serial) {
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  if (chunks <= 1) {
    if (n > 0) body(ctx, 0, n);
    return;
  }
  if (serial) {
    for (std::int64_t c = 0; c < chunks; ++c) body(ctx, c * chunk, std::min(n, (c + 1) * chunk));
    return;
  }
  // Each chunk is one task computing exactly its rows; the partitioner only decides who runs it.
  tbb::parallel_for(
      tbb::blocked_range<std::int64_t>(0, chunks, 1),
      [&](const tbb::blocked_range<std::int64_t>& r) {
        for (std::int64_t c = r.begin(); c != r.end(); ++c) body(ctx, c * chunk, std::min(n, (c + 1) * chunk));
      },
      tbb::simple_partitioner());
}

std::int64_t balanced_chunk(std::int64_t n, std::int64_t chunk) {
  const std::int64_t threads = std::max(1, tbb::this_task_arena::max_concurrency());
  std::int64_t chunks = (n + chunk - 1) / chunk;
  if (chunks <= 1 || threads <= 1) return chunk;
  chunks = (chunks + threads - 1) / threads * threads;
  return (n + chunks - 1) / chunks;
}

}  // namespace kernels

struct Engine::Impl {
  const Graph& graph;
  EngineOptions options;
  Plan plan;
  // A per-engine arena rather than tbb::global_control: global_control is process-wide and the most
  // restrictive live instance wins, so two engines with different thread counts would interfere.
  tbb::task_arena arena;
  std::vector<Tensor> slots;                            // per value index; empty when dead or not a slot
  // Released buffers for reuse, by dtype and element count: a buffer serves any shape of its size (a Reshape
  // view hands its input's buffer on under a new shape; keyed by shape, that shape's producer would allocate
  // a fresh, zeroed buffer every pass).
  std::multimap<std::pair<DType, std::int64_t>, Tensor> pool;
  std::vector<double> node_seconds;                     // EngineOptions::time_nodes

  Impl(const Graph& g, EngineOptions o)
      : graph(g),
        options(o),
        plan(build_plan(g, o)),
        arena(o.threads > 0 ? o.threads : tbb::task_arena::automatic),
        slots(g.num_values()),
        node_seconds(g.num_nodes(), 0.0) {
    if (o.max_memory_bytes != 0 && plan.memory.total() > o.max_memory_bytes)
      throw LimitError("engine: the plan needs " + plan.memory.describe() + ", above the memory limit of " +
                           format_bytes(o.max_memory_bytes) + " (--max-memory)",
                       {g.source_file, "", "", ""});
  }

  // EngineOptions::time_nodes: with one thread the calling thread's CPU time (time the scheduler gives to other
  // processes on a shared machine is not counted), else wall-clock time.
  double node_clock() const {
    if (options.threads == 1) {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  const Tensor* resolve(const ValueRef& r, std::span<const Tensor> inputs) const {
    switch (r.source) {
      case Source::absent: return nullptr;
      case Source::constant: return &*graph.value(ValueId(r.index)).constant;
      case Source::owned: return &plan.owned[r.index];
      case Source::input: return &inputs[r.index];
      case Source::slot: return &slots[r.index];
    }
    return nullptr;
  }

  Tensor take_buffer(DType t, const Shape& s) {
    auto it = pool.find({t, checked_numel(s)});
    if (it == pool.end()) return Tensor(t, s);
    Tensor out = std::move(it->second).reshaped(s);
    pool.erase(it);
    return out;
  }

  void release(std::uint32_t v) {
    Tensor& t = slots[v];
    if (t.nbytes() == 0) return;
    auto key = std::make_pair(t.dtype(), t.numel());
    // The plan's cap: as many buffers of one type as fast kernels hold at once (plan_memory.cpp). Reference
    // kernels allocate their outputs themselves, so without a cap every pass would add their buffers here.
    const auto cap = plan.pool_cap.find(key);
    if (cap != plan.pool_cap.end() && pool.count(key) < cap->second) pool.emplace(std::move(key), std::move(t));
    t = Tensor();
  }

  void check_inputs(std::span<const Tensor> inputs) const {
    if (inputs.size() != plan.input_types.size())
      throw ShapeError("engine: " + std::to_string(inputs.size()) + " inputs given, the graph has " +
                           std::to_string(plan.input_types.size()),
                       {graph.source_file, "", "", ""});
    std::size_t k = 0;
    for (ValueId id : graph.inputs()) {
      const Value& v = graph.value(id);
      if (v.constant) continue;
      const TensorType& want = plan.input_types[k];
      const Tensor& got = inputs[k++];
      bool ok = got.dtype() == want.dtype && got.rank() == want.rank();
      for (int d = 0; ok && d < got.rank(); ++d) {
        const Dim& dim = want.dims[static_cast<std::size_t>(d)];
        ok = !dim.is_known() || dim.value == got.dim(d);
      }
      if (!ok)
        throw ShapeError("engine input is " + std::string(dtype_name(got.dtype())) + shape_to_string(got.shape()) +
                             ", the graph expects " + type_to_string(want),
                         {graph.source_file, "", "", v.name});
    }
  }

  // Buffers of the previous run's outputs the caller handed back (Engine::run_into), by value index.
  std::map<std::uint32_t, Tensor> reserved;

  Tensor output_buffer(std::uint32_t value, DType t, const Shape& s) {
    if (!reserved.empty()) {
      auto it = reserved.find(value);
      if (it != reserved.end() && it->second.dtype() == t && it->second.shape() == s) {
        Tensor out = std::move(it->second);
        reserved.erase(it);
        return out;
      }
    }
    return take_buffer(t, s);
  }

  std::vector<Tensor> run(std::span<const Tensor> inputs, Ledger* ledger, std::vector<Tensor>* reuse = nullptr) {
    check_inputs(inputs);
    reserved.clear();
    if (reuse)
      for (std::size_t i = 0; i < plan.outputs.size() && i < reuse->size(); ++i)
        if (plan.outputs[i].source == Source::slot && (*reuse)[i].nbytes() > 0)
          reserved.emplace(plan.outputs[i].index, std::move((*reuse)[i]));
    if (ledger && ledger->per_node.size() != graph.num_nodes())
      throw Error("engine: the ledger was not made for this graph (Ledger::for_graph)");
    std::vector<const Tensor*> in_ptrs;
    std::vector<Tensor> outs;
    for (const Step& step : plan.steps) {
      const double t0 = options.time_nodes ? node_clock() : 0.0;
      in_ptrs.clear();
      for (const ValueRef& r : step.inputs) in_ptrs.push_back(resolve(r, inputs));
      if (step.view) {
        // The input dies here and nobody else reads it: its buffer becomes the output (plan.cpp, mark_views).
        Tensor& in = slots[step.inputs[0].index];
        outs.clear();
        outs.push_back(std::move(in).reshaped(*step.out_shapes[0]));
        in = Tensor();
      } else if (step.kernel.fn) {
        outs.clear();
        for (std::size_t i = 0; i < step.outputs.size(); ++i)
          outs.push_back(output_buffer(step.outputs[i], graph.value(ValueId(step.outputs[i])).type.dtype,
                                       *step.out_shapes[i]));
        step.kernel.fn(
            kernels::KernelArgs{graph, graph.node(step.node), in_ptrs, outs, step.packed, step.gather, step.int8,
                                step.level, step.row});
      } else {
        outs = evaluate_reference(graph, step.node, in_ptrs);
      }
      for (std::size_t i = 0; i < step.outputs.size() && i < outs.size(); ++i) {
        if (options.check_finite && !outs[i].all_finite())
          throw NumericError("non-finite value produced", graph.context(step.node));
        slots[step.outputs[i]] = std::move(outs[i]);
      }
      for (std::uint32_t v : step.release) release(v);
      if (ledger) ledger->per_node[step.node.index] += step.counts;
      if (options.time_nodes) node_seconds[step.node.index] += node_clock() - t0;
    }
    if (ledger) {
      for (const auto& f : plan.folded) ledger->per_node[f.node.index] += f.counts;
      ledger->samples += plan.batch;
    }
    std::vector<Tensor> result;
    for (const ValueRef& r : plan.outputs) {
      if (r.source == Source::slot) result.push_back(std::move(slots[r.index]));
      else result.push_back(*resolve(r, inputs));
    }
    // A graph output listed twice was moved out the first time: copy from the first result.
    for (std::size_t i = 0; i < plan.outputs.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (plan.outputs[i].source == Source::slot && plan.outputs[j].source == Source::slot &&
            plan.outputs[i].index == plan.outputs[j].index)
          result[i] = result[j];
    return result;
  }
};

Engine::Engine(const Graph& graph, EngineOptions options) : impl_(std::make_unique<Impl>(graph, options)) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

std::vector<Tensor> Engine::run(std::span<const Tensor> inputs, Ledger* ledger) {
  std::vector<Tensor> out;
  impl_->arena.execute([&] { out = impl_->run(inputs, ledger); });
  return out;
}

void Engine::run_into(std::span<const Tensor> inputs, std::vector<Tensor>& outputs, Ledger* ledger) {
  impl_->arena.execute([&] { outputs = impl_->run(inputs, ledger, &outputs); });
}

const Graph& Engine::graph() const { return impl_->graph; }
const MemoryPlan& Engine::memory() const { return impl_->plan.memory; }
std::uint64_t Engine::pooled_bytes() const {
  std::uint64_t bytes = 0;
  for (const auto& [key, t] : impl_->pool) bytes += t.nbytes();
  return bytes;
}

std::vector<std::string> Engine::kernel_names() const {
  std::vector<std::string> names(impl_->graph.num_nodes(), "reference");
  for (const Step& s : impl_->plan.steps) names[s.node.index] = s.kernel.name;
  for (const auto& f : impl_->plan.folded) names[f.node.index] = f.how;
  return names;
}

std::vector<double> Engine::node_seconds() const { return impl_->node_seconds; }

}  // namespace snnconv::ann
