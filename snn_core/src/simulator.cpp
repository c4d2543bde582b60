// The step loop of one pass (simulator.hpp).
#include "simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "snnconv/ann_baseline/qann.hpp"
#include "units.hpp"

namespace snnconv::snn {

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

void Step::mark_fresh(int v) {
  const ValueInfo& vi = info(v);
  if (!incremental || vi.pos.empty()) {
    const std::int64_t rows = static_cast<std::int64_t>(state.batch) * (vi.numel / vi.width);
    for (std::int64_t r = 0; r < rows; ++r) mark_row(v, r);
    return;
  }
  const std::int64_t b = vi.pos_begin[static_cast<std::size_t>(fresh_lo)];
  const std::int64_t e = vi.pos_begin[static_cast<std::size_t>(fresh_hi)];
  for (std::int64_t x = b; x < e; ++x) mark(v, vi.by_pos[static_cast<std::size_t>(x)]);
}

std::int64_t Step::fresh_count(int v) const {
  const ValueInfo& vi = info(v);
  if (vi.pos_begin.empty()) return vi.numel;
  return vi.pos_begin[static_cast<std::size_t>(fresh_hi)] - vi.pos_begin[static_cast<std::size_t>(fresh_lo)];
}

namespace {

// Every counter of c is zero (word by word: Counters holds uint64 fields only).
bool all_zero(const Counters& c) {
  static_assert(sizeof(Counters) % sizeof(std::uint64_t) == 0, "Counters holds uint64 fields only");
  std::uint64_t words[sizeof(Counters) / sizeof(std::uint64_t)];
  std::memcpy(words, &c, sizeof c);
  std::uint64_t any = 0;
  for (std::uint64_t w : words) any |= w;
  return any == 0;
}

}  // namespace

void Simulator::allocate(int batch) {
  if (state.batch == batch && !state.counts.empty()) {
    // Cleared later (simulate): a whole run clears each unit's arrays just before its first step, where they
    // are about to be used; a separate pass over a 40 MB state (code_gpt's window) cost 15 % of a burst run.
    stale_ = true;
    state.live_len = 0;
    return;
  }
  stale_ = false;
  const auto b = static_cast<std::size_t>(batch);
  state = State{};
  state.batch = batch;
  scratch = Scratch{};
  const std::size_t nv = plan_.values.size();
  state.counts.resize(nv);
  scratch.values.resize(nv);
  for (std::size_t v = 0; v < nv; ++v) {
    const ValueInfo& vi = plan_.values[v];
    if (part_ && !part_->value_here[v]) continue;  // another rank's, never read here
    const auto n = static_cast<std::size_t>(vi.numel) * b;
    if (vi.spiking) {
      if (vi.storage == static_cast<int>(v)) {
        state.counts[v] = StateVector<std::int32_t>(n);
        scratch.values[v].events.reserve(n);
      }
    } else if (vi.producer >= 0 || vi.input >= 0) {
      scratch.values[v].row_flag = StateVector<std::uint8_t>(n / static_cast<std::size_t>(vi.width));
      scratch.values[v].elem_flag = StateVector<std::uint8_t>(n);
    }
  }
  // Model parallel: only this rank's units get state and scratch (the others' stay empty).
  std::vector<std::uint8_t> mine_neuron(plan_.neurons.size(), 1), mine_synapse(plan_.synapses.size(), 1),
      mine_product(plan_.products.size(), 1), mine_diff(plan_.diffs.size(), 1);
  if (part_)
    for (std::size_t ui = 0; ui < plan_.units.size(); ++ui) {
      const Unit& u = plan_.units[ui];
      const std::uint8_t m = part_->owns(ui) ? 1 : 0;
      const auto k = static_cast<std::size_t>(u.slot);
      if (u.kind == UnitKind::neuron) mine_neuron[k] = m;
      if (u.kind == UnitKind::synapse) mine_synapse[k] = m;
      if (u.kind == UnitKind::product) mine_product[k] = m;
      if (u.kind == UnitKind::diff) mine_diff[k] = m;
    }
  state.neurons.resize(plan_.neurons.size());
  scratch.neurons.resize(plan_.neurons.size());
  for (std::size_t i = 0; i < plan_.neurons.size(); ++i)
    if (mine_neuron[i]) snn::allocate(plan_.neurons[i], state.neurons[i], scratch.neurons[i], plan_, batch);
  state.synapses.resize(plan_.synapses.size());
  scratch.synapses.resize(plan_.synapses.size());
  for (std::size_t i = 0; i < plan_.synapses.size(); ++i)
    if (mine_synapse[i]) snn::allocate(plan_.synapses[i], state.synapses[i], scratch.synapses[i], plan_, batch);
  state.products.resize(plan_.products.size());
  scratch.products.resize(plan_.products.size());
  for (std::size_t i = 0; i < plan_.products.size(); ++i)
    if (mine_product[i]) snn::allocate(plan_.products[i], state.products[i], scratch.products[i], plan_, batch);
  state.diffs.resize(plan_.diffs.size());
  scratch.diffs.resize(plan_.diffs.size());
  for (std::size_t i = 0; i < plan_.diffs.size(); ++i)
    if (mine_diff[i]) snn::allocate(plan_.diffs[i], state.diffs[i], scratch.diffs[i], plan_, batch);
  state.prologues.assign(plan_.prologues.size(), PrologueState{});
  scratch.rows.assign(plan_.graph->num_nodes(), Counters{});
  scratch.fired.assign(b, 0);
  scratch.pending.assign(b, 0);
}

void Simulator::clear_unit(std::size_t ui) {
  const Unit& u = plan_.units[ui];
  const auto k = static_cast<std::size_t>(u.slot);
  // A neuron population clears itself at its first step (step_neuron, Step::stale), mostly by writing every count
  // and target from rest in its sweep: no separate pass over its arrays (code_gpt's window state is ~40 MiB).
  if (u.kind == UnitKind::neuron && !part_) return;
  if (u.out >= 0 && plan_.values[static_cast<std::size_t>(u.out)].spiking &&
      plan_.values[static_cast<std::size_t>(u.out)].storage == u.out) {
    StateVector<std::int32_t>& c = state.counts[static_cast<std::size_t>(u.out)];
    std::fill(c.begin(), c.end(), 0);
  }
  if (part_ && !part_->owns(ui)) return;  // the unit's own state lives on its owner
  switch (u.kind) {
    case UnitKind::neuron: snn::reset(state.neurons[k]); break;
    case UnitKind::synapse: snn::reset(state.synapses[k]); break;
    // A whole run's first step overwrites B's copy and every accumulator (first_step_dense, unit_product.cpp).
    case UnitKind::product: break;
    case UnitKind::diff: snn::reset(state.diffs[k]); break;
    case UnitKind::prologue: state.prologues[k].out.clear(); break;
    default: break;
  }
}

void Simulator::reset() {
  stale_ = false;
  for (auto& c : state.counts) std::fill(c.begin(), c.end(), 0);
  for (auto& s : state.neurons) snn::reset(s);
  for (auto& s : state.synapses) snn::reset(s);
  for (auto& s : state.products) snn::reset(s);
  for (auto& s : state.diffs) snn::reset(s);
  for (auto& s : state.prologues) s.out.clear();
  state.live_len = 0;
}

void Simulator::step(Step& st, const PassOptions& o) {
  if (st.first)  // every (newly live) neuron evaluates its initial target once (biases and constant inputs enter here)
    for (ValueId in : plan_.graph->inputs()) st.mark_fresh(static_cast<int>(in.index));
  using Clock = std::chrono::steady_clock;
  Clock::time_point t0;
  const bool clear = st.first && stale_;
  st.stale = clear && !part_;  // model parallel: every unit cleared by clear_unit (received values included)
  for (std::size_t ui = 0; ui < plan_.units.size(); ++ui) {
    const Unit& u = plan_.units[ui];
    if (clear) clear_unit(ui);
    if (part_ && !part_->owns(ui)) {
      if (part_->receive_from[ui] >= 0) exchange(ui, st);
      continue;
    }
    if (o.node_seconds) t0 = Clock::now();
    switch (u.kind) {
      case UnitKind::neuron: step_neuron(u, st); break;
      case UnitKind::synapse: step_synapse(u, st); break;
      case UnitKind::product: step_product(u, st); break;
      case UnitKind::diff: step_diff(u, st); break;
      case UnitKind::add: step_add(u, st); break;
      case UnitKind::movement: step_movement(u, st); break;
      case UnitKind::concat: step_concat(u, st); break;
      case UnitKind::prologue: step_prologue(u, st); break;
    }
    if (part_ && !part_->send_to[ui].empty()) exchange(ui, st);
    if (o.node_seconds) (*o.node_seconds)[u.row] += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  stale_ = false;
  st.stale = false;
  if (o.node_seconds) t0 = Clock::now();
  if (o.recording && o.raster_values)
    for (std::size_t r = 0; r < o.raster_values->size(); ++r) {
      // A folded movement's output: its source's events, renumbered.
      const EventList& events = events_as_read(st, (*o.raster_values)[r], raster_tmp_);
      for (const Event& e : events) o.recording->raster_events[r].push_back({st.t, e.index, e.delta});
    }
  for (ValueScratch& v : scratch.values) {
    v.events.clear();
    for (std::int32_t r : v.rows) v.row_flag[static_cast<std::size_t>(r)] = 0;
    for (std::int32_t i : v.elems) v.elem_flag[static_cast<std::size_t>(i)] = 0;
    v.rows.clear();
    v.elems.clear();
    v.ledger_extra = 0;
  }
  if (o.node_seconds) o.node_seconds->back() += std::chrono::duration<double>(Clock::now() - t0).count();
}

void Simulator::exchange(std::size_t ui, Step& st) {
  const Unit& u = plan_.units[ui];
  const bool burst = mode_ == FireMode::burst;
  const int payload = part_->payload_bytes[ui];
  const int tag = static_cast<int>(ui % 32768);  // the MPI standard guarantees tags up to 32767
  if (part_->owns(ui)) {
    wire_.clear();
    const EventList& events = st.events(u.out);
    pack_events(events, burst, payload, wire_);
    Counters& c = st.counters(u);
    for (int to : part_->send_to[ui]) {
      part_->comm->send(to, tag, wire_);
      c.link_events += events.size();
      c.link_bytes += wire_.size();
    }
    return;
  }
  const std::string bytes = part_->comm->receive(part_->receive_from[ui], tag);
  unpack_events(bytes, burst, payload, st.events(u.out), st.counts(u.out));
}

std::vector<Tensor> Simulator::read_outputs(const PassOptions& o, int sample) const {
  Step st{plan_, const_cast<State&>(state), const_cast<Scratch&>(scratch), mode_};
  st.inputs = o.inputs;
  std::vector<Tensor> out;
  for (ValueId id : plan_.graph->outputs()) {
    const ValueInfo& v = plan_.values[id.index];
    Tensor f(DType::f32, v.shape);
    float* p = f.data<float>();
    const std::int64_t base = static_cast<std::int64_t>(sample) * v.numel;
    if (v.spiking) {
      const StateVector<std::int32_t>& count = state.counts[static_cast<std::size_t>(v.storage)];
      for (std::int64_t i = 0; i < v.numel; ++i) p[i] = ann::dequantize(count[static_cast<std::size_t>(base + i)], v.scale);
    } else {
      // Row by row (a language model's logits are 256-50257 wide): the same values as current_at element by
      // element, which cost a division and an out-of-line call per logit.
      const std::int64_t rows = v.numel / v.width, first_row = base / v.width;
      for (std::int64_t r = 0; r < rows; ++r) current_row(st, static_cast<int>(id.index), first_row + r, p + r * v.width);
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<RunResult> Simulator::simulate(const PassOptions& o) {
  const int batch = state.batch;
  std::vector<RunResult> res(static_cast<std::size_t>(batch));
  std::vector<std::uint8_t> done(static_cast<std::size_t>(batch), 0);
  int active = batch;
  Step st{plan_, state, scratch, mode_};
  st.incremental = o.incremental;
  st.fresh_lo = o.fresh_lo;
  st.fresh_hi = o.fresh_hi;
  st.live_end = o.incremental ? o.fresh_hi : std::numeric_limits<std::int64_t>::max();
  st.arena = o.arena;
  st.inputs = o.inputs;
  Ledger* ledger = o.ledger;
  // A causal run reads the state as it is from its first step on, and a run of no steps reads the outputs:
  // both need it cleared first.
  if (stale_ && (o.incremental || o.max_steps < 1)) reset();
  for (Counters& c : scratch.rows) c = Counters{};
  for (int t = 1; t <= o.max_steps && active > 0; ++t) {
    std::fill(scratch.fired.begin(), scratch.fired.end(), 0);
    std::fill(scratch.pending.begin(), scratch.pending.end(), 0);
    st.t = t;
    st.first = t == 1;
    step(st, o);
    if (part_) {  // quiescence is global: a sample goes on while a neuron on any rank can fire
      quiet_.assign(scratch.fired.begin(), scratch.fired.end());
      quiet_.insert(quiet_.end(), scratch.pending.begin(), scratch.pending.end());
      part_->comm->all_or(quiet_);
      std::copy_n(quiet_.begin(), batch, scratch.fired.begin());
      std::copy_n(quiet_.begin() + batch, batch, scratch.pending.begin());
    }
    if (o.recording) {
      std::vector<std::uint64_t> pos, neg;
      for (const Unit& u : plan_.units)
        if (u.kind == UnitKind::neuron) {
          pos.push_back(scratch.rows[u.row].spikes_pos);
          neg.push_back(scratch.rows[u.row].spikes_neg);
        }
      o.recording->spikes_pos.push_back(std::move(pos));
      o.recording->spikes_neg.push_back(std::move(neg));
    }
    if (ledger) {
      // A unit that counted nothing this step (a quiet layer) adds only its timesteps: its counters (some 90
      // words each) are neither added twice nor cleared, which kept every step's ledger work proportional to
      // the graph rather than to what happened.
      Counters total;
      for (std::size_t ui = 0; ui < plan_.units.size(); ++ui) {
        if (part_ && !part_->owns(ui)) continue;  // its owner counts it
        const Unit& u = plan_.units[ui];
        Counters& c = scratch.rows[u.row];
        if (all_zero(c)) {
          ledger->per_node[u.row].timesteps += static_cast<std::uint64_t>(active);
          continue;
        }
        c.timesteps = static_cast<std::uint64_t>(active);  // samples that simulated this step
        total += c;
        ledger->per_node[u.row] += c;
        c = Counters{};
      }
      total.timesteps = static_cast<std::uint64_t>(active);
      if (ledger->per_step.size() < static_cast<std::size_t>(t)) ledger->per_step.resize(static_cast<std::size_t>(t));
      ledger->per_step[static_cast<std::size_t>(t - 1)] += total;
    } else {
      for (Counters& c : scratch.rows) c = Counters{};
    }
    for (int s = 0; s < batch; ++s) {
      const auto k = static_cast<std::size_t>(s);
      if (done[k]) continue;
      res[k].steps = t;
      if (scratch.fired[k]) res[k].last_event_step = t;
      if (o.observer && *o.observer && outputs_here()) (*o.observer)(o.first_index + s, t, read_outputs(o, s));
      if (!scratch.pending[k]) {
        res[k].quiescent = true;
        done[k] = 1;
        --active;
      }
    }
  }
  if (ledger) ledger->samples += static_cast<std::uint64_t>(batch);
  for (int s = 0; s < batch && outputs_here(); ++s) {
    RunResult& r = res[static_cast<std::size_t>(s)];
    r.outputs = read_outputs(o, s);
    for (ValueId id : plan_.graph->outputs()) {
      const ValueInfo& v = plan_.values[id.index];
      if (!v.spiking) {
        r.output_levels.emplace_back();
        continue;
      }
      Tensor q(DType::i32, v.shape);
      const StateVector<std::int32_t>& count = state.counts[static_cast<std::size_t>(v.storage)];
      std::copy_n(count.begin() + static_cast<std::ptrdiff_t>(s) * v.numel, v.numel, q.data<std::int32_t>());
      r.output_levels.push_back(std::move(q));
    }
  }
  return res;
}

}  // namespace snnconv::snn
