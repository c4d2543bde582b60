// The SNN engine's run loop. Synchronous timesteps; within a step the units run in topological order and
// only events do work: a synapse adds one weight row per event, a product unit applies the product rule
// where events occurred, a differential unit recomputes only rows whose input changed, and a neuron is
// re-evaluated only when its input changed or its count has not reached its target yet.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <algorithm>
#include <cstring>

#include "legacy_engine_impl.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv::legacy_snn {
namespace {

// Columns per parallel chunk of a synapse: fixed, so the work split never depends on the thread count
// (the sums are integers anyway, hence exact in any order).
constexpr std::int64_t kColumnChunk = 8;
constexpr std::size_t kParallelMinWork = 256;  // events x fan-out below which one thread is faster

constexpr std::uint64_t kIndexBytes = 4;
constexpr std::uint64_t kCountBytes = 4;  // a count or a target in membrane memory
constexpr std::uint64_t kAccBytes = 8;    // an int64 synaptic accumulator

std::size_t width_slot(int bits) {
  return static_cast<std::size_t>(std::clamp(bits, 1, kFloatWidth));
}
std::uint64_t bytes_of_bits(int bits) {
  return static_cast<std::uint64_t>((std::clamp(bits, 1, 32) + 7) / 8);
}

std::uint64_t event_bytes(FireMode mode, int bits) {
  // A strict event is an index with its sign packed; a burst event also carries a multi-bit count.
  return kIndexBytes + (mode == FireMode::burst ? bytes_of_bits(bits) : 0);
}

}  // namespace

// c * num / den field by field (integer, rounded down): the share of a dense prologue's work that one
// incremental call does.
Counters scaled(const Counters& c, std::uint64_t num, std::uint64_t den) {
  auto f = [&](std::uint64_t x) { return static_cast<std::uint64_t>((static_cast<unsigned __int128>(x) * num) / den); };
  Counters r;
  for (std::size_t w = 0; w < kWidthSlots; ++w) {
    r.macs[w] = f(c.macs[w]);
    r.acs[w] = f(c.acs[w]);
  }
  r.neuron_updates = f(c.neuron_updates);
  r.spikes_pos = f(c.spikes_pos);
  r.spikes_neg = f(c.spikes_neg);
  r.burst_events = f(c.burst_events);
  r.dense_ops = f(c.dense_ops);
  r.nonlinear_ops = f(c.nonlinear_ops);
  for (std::size_t m = 0; m < kMemClassCount; ++m) {
    r.bytes_read[m] = f(c.bytes_read[m]);
    r.bytes_written[m] = f(c.bytes_written[m]);
  }
  r.timesteps = c.timesteps;
  return r;
}

Engine::Engine(const Graph& graph, EngineOptions options) : impl_(std::make_unique<Impl>(graph, options)) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
RunResult Engine::run(std::span<const Tensor> inputs, Ledger* ledger, const StepObserver* observer,
                      Recording* recording) {
  return impl_->run(inputs, ledger, observer, recording);
}
RunResult Engine::prefill(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger,
                          const StepObserver* observer) {
  return impl_->prefill(inputs, length, ledger, observer);
}
RunResult Engine::extend(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger,
                         const StepObserver* observer) {
  return impl_->extend(inputs, length, ledger, observer);
}
void Engine::checkpoint() {
  impl_->checkpoint();
}
void Engine::rollback() {
  impl_->rollback();
}
std::int64_t Engine::live_length() const {
  return impl_->live_len;
}
std::int64_t Engine::sequence_length() const {
  if (!impl_->causal_layout) impl_->build_causal_layout();
  return impl_->seq_len;
}
const Graph& Engine::graph() const {
  return impl_->g;
}

std::vector<std::int32_t> Engine::counts(std::string_view value_name) const {
  const ValueId v = impl_->g.find_value(value_name);
  if (!v.valid() || !impl_->values[v.index].spiking) return {};
  return impl_->values[v.index].count;
}

void Engine::Impl::reset() {
  for (ValueState& v : values) {
    std::fill(v.count.begin(), v.count.end(), 0);
    v.events.clear();
    v.changed.clear();
    std::fill(v.changed_flag.begin(), v.changed_flag.end(), 0);
  }
  for (Unit& u : units) {
    std::fill(u.acc.begin(), u.acc.end(), 0);
    std::fill(u.a.begin(), u.a.end(), 0);
    std::fill(u.b.begin(), u.b.end(), 0);
    std::fill(u.y.begin(), u.y.end(), 0.0f);
    std::fill(u.target.begin(), u.target.end(), 0);
    std::fill(u.active_flag.begin(), u.active_flag.end(), 0);
    std::fill(u.row_flag.begin(), u.row_flag.end(), 0);
    u.active.clear();
    u.rows_changed.clear();
  }
}

RunResult Engine::Impl::run(std::span<const Tensor> inputs, Ledger* ledger, const StepObserver* observer,
                            Recording* rec) {
  recording = rec;
  raster_values.clear();
  if (rec) {
    rec->populations.clear();
    rec->neurons.clear();
    rec->spikes_pos.clear();
    rec->spikes_neg.clear();
    rec->raster_events.assign(rec->raster.size(), {});
    for (const Unit& u : units)
      if (u.kind == OpKind::SpikeNeuron) {
        rec->populations.push_back(g.value(ValueId(static_cast<std::uint32_t>(u.out))).name);
        rec->neurons.push_back(values[static_cast<std::size_t>(u.out)].numel);
      }
    for (const std::string& name : rec->raster) {
      const ValueId v = g.find_value(name);
      if (!v.valid() || !values[v.index].spiking)
        throw UsageError("--raster: no spiking population named '" + name + "'");
      raster_values.push_back(static_cast<int>(v.index));
    }
  }
  bind_inputs(inputs);
  if (ledger && ledger->per_node.size() != g.num_nodes())
    throw UsageError("SNN engine: the ledger was not made for this graph (Ledger::for_graph)");
  // A whole-window run: every element is simulated (the causal layout, if any, is switched off).
  incremental = false;
  live_len = 0;
  for (ValueState& v : values) v.live_end = std::numeric_limits<std::int64_t>::max();
  reset();
  RunResult r = simulate(ledger, observer);
  unbind_inputs();
  recording = nullptr;
  return r;
}

void Engine::Impl::bind_inputs(std::span<const Tensor> inputs) {
  if (inputs.size() != g.inputs().size())
    throw ShapeError("SNN engine: " + std::to_string(inputs.size()) + " inputs for " +
                     std::to_string(g.inputs().size()) + " graph inputs");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ValueState& v = values[g.inputs()[i].index];
    const DType want = g.value(g.inputs()[i]).type.dtype;
    if (inputs[i].dtype() != want || inputs[i].shape() != v.shape)
      throw ShapeError("SNN engine: input '" + g.value(g.inputs()[i]).name + "' must be " +
                       std::string(dtype_name(want)) + shape_to_string(v.shape) + ", got " +
                       std::string(dtype_name(inputs[i].dtype())) + shape_to_string(inputs[i].shape()));
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ValueState& v = values[g.inputs()[i].index];
    v.tensor = &inputs[i];
    v.input = inputs[i].dtype() == DType::f32 ? inputs[i].data<float>() : nullptr;
  }
}

void Engine::Impl::unbind_inputs() {
  for (ValueId in : g.inputs()) {
    values[in.index].input = nullptr;
    values[in.index].tensor = nullptr;
  }
}

// Steps until quiescence (or max_steps) from the state as it is: from rest for run() and prefill(), from
// the previous quiescent state for extend().
RunResult Engine::Impl::simulate(Ledger* ledger, const StepObserver* observer) {
  if (ledger && ledger->per_node.size() != g.num_nodes())
    throw UsageError("SNN engine: the ledger was not made for this graph (Ledger::for_graph)");
  Recording* rec = recording;
  RunResult r;
  for (int t = 1; t <= options.max_steps; ++t) {
    for (Counters& c : step_rows) c = Counters{};
    step_now = t;
    step(t == 1);
    if (rec) {
      std::vector<std::uint64_t> pos, neg;
      for (const Unit& u : units)
        if (u.kind == OpKind::SpikeNeuron) {
          pos.push_back(step_rows[u.row].spikes_pos);
          neg.push_back(step_rows[u.row].spikes_neg);
        }
      rec->spikes_pos.push_back(std::move(pos));
      rec->spikes_neg.push_back(std::move(neg));
    }
    Counters total;
    for (const Unit& u : units) {
      Counters& c = step_rows[u.row];
      c.timesteps = 1;
      total += c;
      if (ledger) ledger->per_node[u.row] += c;
    }
    total.timesteps = 1;  // per_step[t].timesteps: samples that simulated step t
    if (ledger) {
      if (ledger->per_step.size() < static_cast<std::size_t>(t)) ledger->per_step.resize(static_cast<std::size_t>(t));
      ledger->per_step[static_cast<std::size_t>(t - 1)] += total;
    }
    r.steps = t;
    if (total.spikes() > 0) r.last_event_step = t;
    if (observer && *observer) (*observer)(t, read_outputs());
    const bool pending = std::any_of(units.begin(), units.end(), [](const Unit& u) { return !u.active.empty(); });
    if (!pending) {
      r.quiescent = true;
      break;
    }
  }
  if (ledger) ledger->samples += 1;
  r.outputs = read_outputs();
  for (ValueId o : g.outputs()) {
    const ValueState& v = values[o.index];
    if (!v.spiking) {
      r.output_levels.emplace_back();
      continue;
    }
    Tensor q(DType::i32, v.shape);
    std::copy(v.count.begin(), v.count.end(), q.data<std::int32_t>());
    r.output_levels.push_back(std::move(q));
  }
  return r;
}

std::vector<Tensor> Engine::Impl::read_outputs() const {
  std::vector<Tensor> out;
  for (ValueId o : g.outputs()) {
    const ValueState& v = values[o.index];
    Tensor f(DType::f32, v.shape);
    float* p = f.data<float>();
    for (std::int64_t i = 0; i < v.numel; ++i)
      p[i] = v.spiking ? ann::dequantize(v.count[static_cast<std::size_t>(i)], v.scale) : current_at(v, i);
    out.push_back(std::move(f));
  }
  return out;
}

// A prologue node: the reference kernel once, at step 1, on tensors known from the start.
void Engine::Impl::step_dense(Unit& u) {
  const Node& nd = g.node(NodeId(static_cast<std::uint32_t>(u.row)));
  std::vector<const Tensor*> ins;
  for (ValueId v : nd.inputs) {
    if (!v.valid()) {
      ins.push_back(nullptr);
    } else if (g.value(v).constant) {
      ins.push_back(&*g.value(v).constant);
    } else {
      const ValueState& s = values[v.index];
      ins.push_back(s.producer_unit < 0 ? s.tensor : &units[static_cast<std::size_t>(s.producer_unit)].dense_out);
    }
  }
  Tensor before = std::move(u.dense_out);
  u.dense_out = std::move(ann::evaluate_reference(g, NodeId(static_cast<std::uint32_t>(u.row)), ins).at(0));
  ValueState& out = values[static_cast<std::size_t>(u.out)];
  if (!incremental || fresh_lo == 0) {
    if (u.dense_out.dtype() == DType::f32) out.mark_range(0, out.numel);  // live elements only
  } else if (u.dense_out.dtype() == DType::f32) {
    // extend(): the new positions, and any earlier live element the new inputs changed (none when the
    // prologue is causal, as a token and position lookup is).
    const float* now = u.dense_out.data<float>();
    const float* old = before.data<float>();
    for (std::int64_t i = 0; i < out.numel; ++i)
      if (std::memcmp(now + i, old + i, sizeof(float)) != 0) out.mark(i);
    mark_fresh(out);
  }
  if (!incremental) {
    step_rows[u.row] += u.dense_counts;
  } else {  // priced per position: the window's counts times the share of elements that became live
    step_rows[u.row] += scaled(u.dense_counts, static_cast<std::uint64_t>(fresh_count(out)),
                               static_cast<std::uint64_t>(std::max<std::int64_t>(1, out.numel)));
  }
}

void Engine::Impl::step(bool first) {
  if (first)  // every (newly live) neuron evaluates its initial target once (biases and constant inputs enter here)
    for (ValueId in : g.inputs()) mark_fresh(values[in.index]);
  for (Unit& u : units) {
    if (u.dense) {  // the prologue runs once
      if (first) step_dense(u);
      continue;
    }
    switch (u.kind) {
      case OpKind::SpikeNeuron:
        step_neuron(u);
        break;
      case OpKind::SynapseLinear:
        step_synapse(u, first);
        break;
      case OpKind::SpikeMatMul:
        step_product(u, first);
        break;
      case OpKind::DiffUnit:
        step_diff_unit(u, first);
        break;
      case OpKind::Add:
        step_add(u, first);
        break;
      default:
        step_movement(u);  // the plan admits no other kind
        break;
    }
  }
  if (recording)
    for (std::size_t r = 0; r < raster_values.size(); ++r)
      for (const Event& e : values[static_cast<std::size_t>(raster_values[r])].events)
        recording->raster_events[r].push_back({step_now, e.index, e.delta});
  for (ValueState& v : values) {
    v.events.clear();
    for (std::int32_t i : v.changed) v.changed_flag[static_cast<std::size_t>(i)] = 0;
    v.changed.clear();
  }
}

float Engine::Impl::current_at(const ValueState& v, std::int64_t i) const {
  const auto k = static_cast<std::size_t>(i);
  if (v.producer_unit < 0) return v.input[i];
  const Unit& u = units[static_cast<std::size_t>(v.producer_unit)];
  if (u.dense) return u.dense_out.dtype() == DType::f32 ? u.dense_out.data<float>()[i] : 0.0f;
  switch (u.kind) {
    case OpKind::SynapseLinear: {
      const auto j = static_cast<std::size_t>(i % u.n);
      if (u.groups > 1) {
        const std::int64_t r = i / u.n;
        return ann::grouped_linear_value(u.acc.data() + r * u.groups * u.n + static_cast<std::int64_t>(j),
                                         u.step.data() + j, u.groups, u.n, u.s_a, u.bias[j]);
      }
      return ann::linear_value(u.acc[k], u.s_a, u.step[j], u.bias[j]);
    }
    case OpKind::SpikeMatMul:
      return ann::product_value(u.acc[k], u.s_a, u.s_b);
    case OpKind::DiffUnit:
      return u.y[k];
    case OpKind::Add: {
      const ValueState& a = values[static_cast<std::size_t>(u.in[0])];
      const ValueState& b = values[static_cast<std::size_t>(u.in[1])];
      return ann::sum_value(a.count[k], a.scale, b.count[k], b.scale);
    }
    default:
      return 0.0f;  // the plan admits no other producer of a current
  }
}

// The bounded signed IF neuron (ST-BIF) in the integer domain: target = clamp(floor(f(X)/s + 1/2)) is the
// level its membrane s/2 + f(X) - count*s points at; it steps its count toward the target.
void Engine::Impl::step_neuron(Unit& u) {
  const ValueState& in = values[static_cast<std::size_t>(u.in[0])];
  ValueState& out = values[static_cast<std::size_t>(u.out)];
  Counters& c = step_rows[u.row];
  for (std::int32_t i : in.changed) {
    const auto k = static_cast<std::size_t>(i);
    u.target[k] = ann::quantize_level(current_at(in, i), u.act, u.s, u.n_min, u.n_max);
    if (u.target[k] != out.count[k] && !u.active_flag[k]) {
      u.active_flag[k] = 1;
      u.active.push_back(i);
    }
  }
  c.neuron_updates += in.changed.size();
  c.bytes_read[static_cast<std::size_t>(MemClass::membrane)] += in.changed.size() * kCountBytes;
  c.bytes_written[static_cast<std::size_t>(MemClass::membrane)] += in.changed.size() * kCountBytes;
  if (in.producer_unit >= 0) {
    // A grouped Linear's current combines its K/G partial sums: per evaluation G-1 extra multiply-adds in
    // float (grouped_linear_value), the other partial sums read and one step per group read.
    const Unit& p = units[static_cast<std::size_t>(in.producer_unit)];
    if (!p.dense && p.kind == OpKind::SynapseLinear && p.groups > 1) {
      const auto n = static_cast<std::uint64_t>(in.changed.size()), extra = static_cast<std::uint64_t>(p.groups - 1);
      c.dense_ops += n * 2 * extra;
      c.bytes_read[static_cast<std::size_t>(MemClass::membrane)] += n * extra * kAccBytes;
      c.bytes_read[static_cast<std::size_t>(MemClass::weights)] += n * static_cast<std::uint64_t>(p.groups) * 4;
    }
  }
  const bool burst = options.mode == FireMode::burst;
  std::size_t keep = 0;
  for (std::int32_t i : u.active) {
    const auto k = static_cast<std::size_t>(i);
    const std::int32_t diff = u.target[k] - out.count[k];
    if (diff == 0) {  // the target moved back to the count: nothing to fire
      u.active_flag[k] = 0;
      continue;
    }
    const std::int32_t delta = burst ? diff : (diff > 0 ? 1 : -1);
    out.count[k] += delta;
    out.events.push_back({i, delta});
    if (delta > 0)
      c.spikes_pos += static_cast<std::uint64_t>(delta);
    else
      c.spikes_neg += static_cast<std::uint64_t>(-delta);
    if (burst) ++c.burst_events;
    if (out.count[k] != u.target[k])
      u.active[keep++] = i;
    else
      u.active_flag[k] = 0;
  }
  c.neuron_updates += out.events.size();
  c.bytes_read[static_cast<std::size_t>(MemClass::membrane)] += out.events.size() * 2 * kCountBytes;
  c.bytes_written[static_cast<std::size_t>(MemClass::membrane)] += out.events.size() * kCountBytes;
  c.bytes_written[static_cast<std::size_t>(MemClass::spikes)] +=
      out.events.size() * event_bytes(options.mode, out.bits);
  u.active.resize(keep);
}

namespace {

// acc[row(e), j0:j1] += delta(e) * W[k(e), j0:j1] for every event: one contiguous weight row per event.
void accumulate_columns(Unit& u, const std::vector<Event>& events, std::int64_t j0, std::int64_t j1) {
  for (const Event& e : events) {
    const std::int64_t r = e.index / u.k, kk = e.index % u.k;
    const std::int32_t* w = u.w.data() + kk * u.n;
    // [rows, groups, N]; ungrouped: groups == 1, group_rows == K
    std::int64_t* acc = u.acc.data() + (r * u.groups + kk / u.group_rows) * u.n;
    const std::int64_t d = e.delta;
    for (std::int64_t j = j0; j < j1; ++j) acc[j] += d * w[j];
  }
}

}  // namespace

void Engine::Impl::step_synapse(Unit& u, bool first) {
  const ValueState& in = values[static_cast<std::size_t>(u.in[0])];
  ValueState& out = values[static_cast<std::size_t>(u.out)];
  const std::vector<Event>& events = in.events;
  if (arena && events.size() * static_cast<std::size_t>(u.n) >= kParallelMinWork && u.n > kColumnChunk) {
    const std::int64_t chunks = (u.n + kColumnChunk - 1) / kColumnChunk;
    arena->execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::int64_t>(0, chunks, 1),
          [&](const tbb::blocked_range<std::int64_t>& range) {
            for (std::int64_t ch = range.begin(); ch < range.end(); ++ch)
              accumulate_columns(u, events, ch * kColumnChunk, std::min(u.n, (ch + 1) * kColumnChunk));
          },
          tbb::simple_partitioner());
    });
  } else {
    accumulate_columns(u, events, 0, u.n);
  }
  for (const Event& e : events) {
    const auto r = static_cast<std::size_t>(e.index / u.k);
    if (!u.row_flag[r]) {
      u.row_flag[r] = 1;
      u.rows_changed.push_back(static_cast<std::int32_t>(r));
    }
  }
  Counters& c = step_rows[u.row];
  const auto fan_out = static_cast<std::uint64_t>(u.n);
  c.acs[width_slot(u.w_bits)] += events.size() * fan_out;
  c.bytes_read[static_cast<std::size_t>(MemClass::weights)] += events.size() * fan_out * bytes_of_bits(u.w_bits);
  c.bytes_read[static_cast<std::size_t>(MemClass::membrane)] += events.size() * fan_out * kAccBytes;
  c.bytes_written[static_cast<std::size_t>(MemClass::membrane)] += events.size() * fan_out * kAccBytes;
  c.bytes_read[static_cast<std::size_t>(MemClass::spikes)] += events.size() * event_bytes(options.mode, in.bits);
  if (first) {  // the bias reaches every (newly live) target once
    mark_fresh(out);
    if (incremental)  // extend(): rows that were live already and got events too
      for (std::int32_t r : u.rows_changed) out.mark_range(std::int64_t{r} * u.n, (std::int64_t{r} + 1) * u.n);
  } else {
    for (std::int32_t r : u.rows_changed) out.mark_range(std::int64_t{r} * u.n, (std::int64_t{r} + 1) * u.n);
  }
  for (std::int32_t r : u.rows_changed) u.row_flag[static_cast<std::size_t>(r)] = 0;
  u.rows_changed.clear();
}

// Product rule on accumulated integer operands: first A's events against B_{t-1} (a_t.B_{t-1}), then B's
// events against A_t = A_{t-1} + a_t (A_{t-1}.b_t + a_t.b_t). Exact in int64, only where events occurred.
// Causal decoding skips a pair whose other operand element is not live (its count is 0, so is the product)
// and outputs that never become live (masked scores): exact, and a new row costs only its own pairs.
void Engine::Impl::step_product(Unit& u, bool first) {
  const ValueState& va = values[static_cast<std::size_t>(u.in[0])];
  const ValueState& vb = values[static_cast<std::size_t>(u.in[1])];
  ValueState& out = values[static_cast<std::size_t>(u.out)];
  Counters& c = step_rows[u.row];
  const std::int64_t mk = u.m * u.k, kn = u.k * u.n;
  const bool gate = incremental && !out.pos.empty() && !va.pos.empty() && !vb.pos.empty();
  std::uint64_t a_pairs = 0, b_pairs = 0;
  for (const Event& e : va.events) {
    const std::int64_t bt = e.index / mk, i = (e.index % mk) / u.k, p = e.index % u.k;
    const std::int32_t* brow = u.b.data() + (bt * u.k + p) * u.n;
    std::int64_t* acc = u.acc.data() + (bt * u.m + i) * u.n;
    const std::int64_t d = e.delta;
    if (!gate) {
      for (std::int64_t j = 0; j < u.n; ++j) acc[j] += d * brow[j];
      a_pairs += static_cast<std::uint64_t>(u.n);
    } else {
      const std::int32_t* po = out.pos.data() + (bt * u.m + i) * u.n;
      const std::int32_t* pb = vb.pos.data() + (bt * u.k + p) * u.n;
      for (std::int64_t j = 0; j < u.n; ++j)
        if (po[j] != kNever && pb[j] < vb.live_end) {
          acc[j] += d * brow[j];
          ++a_pairs;
        }
    }
    u.a[static_cast<std::size_t>(e.index)] += e.delta;
    const auto row = static_cast<std::size_t>(bt * u.m + i);
    if (!u.row_flag[row]) {
      u.row_flag[row] = 1;
      u.rows_changed.push_back(static_cast<std::int32_t>(row));
    }
  }
  for (const Event& e : vb.events) {
    const std::int64_t bt = e.index / kn, p = (e.index % kn) / u.n, j = e.index % u.n;
    const std::int64_t d = e.delta;
    for (std::int64_t i = 0; i < u.m; ++i) {
      const std::int64_t o = (bt * u.m + i) * u.n + j;
      const auto ai = static_cast<std::size_t>((bt * u.m + i) * u.k + p);
      if (gate && (out.pos[static_cast<std::size_t>(o)] == kNever || va.pos[ai] >= va.live_end)) continue;
      u.acc[static_cast<std::size_t>(o)] += d * u.a[ai];
      out.mark(o);
      ++b_pairs;
    }
    u.b[static_cast<std::size_t>(e.index)] += e.delta;
  }
  c.acs[width_slot(vb.bits)] += a_pairs;
  c.acs[width_slot(va.bits)] += b_pairs;
  const std::uint64_t operand_reads = a_pairs + b_pairs;
  c.bytes_read[static_cast<std::size_t>(MemClass::membrane)] += operand_reads * (kCountBytes + kAccBytes);
  c.bytes_written[static_cast<std::size_t>(MemClass::membrane)] += operand_reads * kAccBytes;
  c.bytes_read[static_cast<std::size_t>(MemClass::spikes)] +=
      va.events.size() * event_bytes(options.mode, va.bits) + vb.events.size() * event_bytes(options.mode, vb.bits);
  if (first) {
    mark_fresh(out);
    if (incremental)
      for (std::int32_t r : u.rows_changed) out.mark_range(std::int64_t{r} * u.n, (std::int64_t{r} + 1) * u.n);
  } else {
    for (std::int32_t r : u.rows_changed) out.mark_range(std::int64_t{r} * u.n, (std::int64_t{r} + 1) * u.n);
  }
  for (std::int32_t r : u.rows_changed) u.row_flag[static_cast<std::size_t>(r)] = 0;
  u.rows_changed.clear();
}

// A differential unit recomputes f on the current accumulated input of every row that changed, so the
// downstream neurons see f(X_t) itself (the QANN computes the same function from the same integers).
void Engine::Impl::step_diff_unit(Unit& u, bool first) {
  const ValueState& in = values[static_cast<std::size_t>(u.in[0])];
  ValueState& out = values[static_cast<std::size_t>(u.out)];
  const auto rows = static_cast<std::int32_t>(u.row_flag.size());
  if (first && !incremental) {
    for (std::int32_t r = 0; r < rows; ++r) u.rows_changed.push_back(r);
  } else {
    if (first) {  // rows with newly live outputs
      const std::int64_t b = out.pos_begin[static_cast<std::size_t>(fresh_lo)];
      const std::int64_t e = out.pos_begin[static_cast<std::size_t>(fresh_hi)];
      for (std::int64_t x = b; x < e; ++x) {
        const auto r = static_cast<std::size_t>(out.by_pos[static_cast<std::size_t>(x)] / u.cols);
        if (!u.row_flag[r]) {
          u.row_flag[r] = 1;
          u.rows_changed.push_back(static_cast<std::int32_t>(r));
        }
      }
    }
    for (const Event& e : in.events) {
      const auto r = static_cast<std::size_t>(e.index / u.cols);
      if (!u.row_flag[r]) {
        u.row_flag[r] = 1;
        u.rows_changed.push_back(static_cast<std::int32_t>(r));
      }
    }
  }
  const bool ln = u.fn == DiffUnitAttrs::Fn::layer_norm;
  for (std::int32_t r : u.rows_changed) {
    const std::int64_t base = std::int64_t{r} * u.cols;
    ann::whole_vector_row(u.fn, in.count.data() + base, u.s_a, u.cols, u.epsilon, u.gamma.data(),
                          u.beta.empty() ? nullptr : u.beta.data(), u.y.data() + base,
                          u.causal ? ann::causal_valid_cols(r, u.causal_m, u.cols) : -1);
    out.mark_range(base, base + u.cols);
    u.row_flag[static_cast<std::size_t>(r)] = 0;
  }
  Counters& c = step_rows[u.row];
  const auto n = static_cast<std::uint64_t>(u.rows_changed.size());
  const auto cols = static_cast<std::uint64_t>(u.cols);
  // LayerNorm per row: sum, square, square-accumulate, scale, subtract, normalise, scale, bias (7 integer or
  // float ops per element) plus one sqrt and one divide; softmax: max, subtract, sum (counted as 4 per
  // element) plus an exp (a table lookup in ann::whole_vector_row) and a divide per element.
  c.dense_ops += n * cols * (ln ? 7 : 4);
  c.nonlinear_ops += ln ? n * 2 : n * cols * 2;
  c.bytes_read[static_cast<std::size_t>(MemClass::membrane)] += n * cols * kCountBytes;
  c.bytes_read[static_cast<std::size_t>(MemClass::weights)] += ln ? n * cols * 4 * (u.beta.empty() ? 1 : 2) : 0;
  c.bytes_written[static_cast<std::size_t>(MemClass::activations)] += n * cols * 4;
  c.bytes_read[static_cast<std::size_t>(MemClass::spikes)] += in.events.size() * event_bytes(options.mode, in.bits);
  u.rows_changed.clear();
}

void Engine::Impl::step_add(Unit& u, bool first) {
  const ValueState& a = values[static_cast<std::size_t>(u.in[0])];
  const ValueState& b = values[static_cast<std::size_t>(u.in[1])];
  ValueState& out = values[static_cast<std::size_t>(u.out)];
  if (first) mark_fresh(out);
  for (const Event& e : a.events) out.mark(e.index);
  for (const Event& e : b.events) out.mark(e.index);
  Counters& c = step_rows[u.row];
  c.dense_ops += out.changed.size();  // one float add per changed residual element
  c.bytes_read[static_cast<std::size_t>(MemClass::spikes)] +=
      a.events.size() * event_bytes(options.mode, a.bits) + b.events.size() * event_bytes(options.mode, b.bits);
}

void Engine::Impl::step_movement(Unit& u) {
  const ValueState& in = values[static_cast<std::size_t>(u.in[0])];
  ValueState& out = values[static_cast<std::size_t>(u.out)];
  if (!u.dest.empty()) {  // Concat
    for (std::size_t k = 0; k < u.dest.size(); ++k)
      for (const Event& e : values[static_cast<std::size_t>(u.in[k])].events) {
        const std::int32_t o = u.dest[k][static_cast<std::size_t>(e.index)];
        out.count[static_cast<std::size_t>(o)] += e.delta;
        out.events.push_back({o, e.delta});
      }
    return;
  }
  if (u.fan_begin.empty()) {  // same element order (Reshape and friends)
    for (const Event& e : in.events) {
      out.count[static_cast<std::size_t>(e.index)] += e.delta;
      out.events.push_back(e);
    }
    return;
  }
  for (const Event& e : in.events) {
    const auto i = static_cast<std::size_t>(e.index);
    for (std::int64_t f = u.fan_begin[i]; f < u.fan_begin[i + 1]; ++f) {
      const std::int32_t o = u.fan[static_cast<std::size_t>(f)];
      out.count[static_cast<std::size_t>(o)] += e.delta;
      out.events.push_back({o, e.delta});
    }
  }
}

}  // namespace snnconv::legacy_snn
