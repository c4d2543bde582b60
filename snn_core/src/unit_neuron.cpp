// The ST-BIF neuron population (unit_neuron.hpp): in the integer domain, target = quantize_level(f(X)) is the
// level its membrane s/2 + f(X) - count*s points at; the neuron steps its count toward the target, one +-1
// spike per step (strict) or the whole difference as one multi-bit event (burst).
#include <algorithm>
#include <cstring>

#include "snnconv/ann_baseline/qann.hpp"
#include "units.hpp"

namespace snnconv::snn {

NeuronParams plan_neuron(const PlanBuilder& b, NodeId id) {
  const Graph& g = b.g;
  const Node& nd = g.node(id);
  const ValueId ov = nd.outputs[0];
  const ValueInfo& in = b.value(nd.inputs[0]);
  ValueInfo& out = b.value(ov);
  if (in.spiking) plan_fail(g, id, nd.inputs[0], "a neuron integrates a current, not another population's counts");
  if (g.value(nd.inputs[0]).type.dtype != DType::f32) plan_fail(g, id, nd.inputs[0], "a neuron integrates an f32 current");
  if (in.numel != out.numel) plan_fail(g, id, ov, "population size differs from its input");
  const QuantParams& qp = *g.value(ov).quant;
  if (!qp.per_tensor() || !(qp.scale[0] > 0.0f) || (!qp.zero_point.empty() && qp.zero_point[0] != 0) ||
      qp.n_min > qp.n_max)
    plan_fail(g, id, ov, "a population needs one positive threshold, zero point 0 and n_min <= n_max", true);
  NeuronParams p;
  p.in = static_cast<int>(nd.inputs[0].index);
  p.out = static_cast<int>(ov.index);
  p.act = std::get<NeuronAttrs>(nd.attrs).target;
  p.s = qp.scale[0];
  p.n_min = qp.n_min;
  p.n_max = qp.n_max;
  out.spiking = true;
  out.scale = qp.scale[0];
  out.bits = qp.bits;
  out.max_abs_count = std::max<std::int64_t>(std::abs(std::int64_t{qp.n_min}), std::abs(std::int64_t{qp.n_max}));
  p.width = in.width;
  p.chunks_per_row = (in.width + kChunk - 1) / kChunk;
  p.div_cpr = FastDiv(p.chunks_per_row);
  p.chunks = in.numel / in.width * p.chunks_per_row;
  if (in.producer >= 0) {
    const Unit& pu = b.plan.units[static_cast<std::size_t>(in.producer)];
    if (pu.kind == UnitKind::synapse) {
      const SynapseParams& sp = b.plan.synapses[static_cast<std::size_t>(pu.slot)];
      if (sp.groups > 1) p.producer_groups = sp.groups;
    }
  }
  return p;
}

std::uint64_t neuron_bytes(const Plan& plan, const NeuronParams& u) {
  const auto n = static_cast<std::uint64_t>(plan.value(u.out).numel);
  return n * 4 + static_cast<std::uint64_t>(u.chunks);  // targets, chunk flags
}

void allocate(const NeuronParams& p, NeuronState& s, NeuronScratch& x, const Plan& plan, int batch) {
  const auto b = static_cast<std::size_t>(batch);
  s.target = StateVector<std::int32_t>(static_cast<std::size_t>(plan.value(p.out).numel) * b);
  s.chunk_flag = StateVector<std::uint8_t>(static_cast<std::size_t>(p.chunks) * b);
  const auto w = static_cast<std::size_t>(plan.value(p.in).width);
  x.current.assign(w * static_cast<std::size_t>(kEvalRows), 0.0f);
  x.level.assign(w, 0);
  x.chunks.assign(static_cast<std::size_t>(std::max(kEvalRows * p.chunks_per_row, p.chunks)), 0);
  x.remaining.assign(x.chunks.size(), 0);
}

void reset(NeuronState& s) {
  std::fill(s.target.begin(), s.target.end(), 0);
  std::fill(s.chunk_flag.begin(), s.chunk_flag.end(), 0);
}

namespace {

// A current that is c[j] * float(acc) (+ b[j]) of an int32 accumulator laid out like the population (an
// ungrouped synapse's or a product's): the kernels form it in registers. acc null: any other current.
struct AccCurrent {
  const std::int32_t* acc = nullptr;
  const float* c = nullptr;
  std::int64_t c_step = 1;
  const float* b = nullptr;
};

AccCurrent acc_current(const Step& st, const NeuronParams& p) {
  const ValueInfo& in = st.info(p.in);
  if (in.producer < 0) return {};
  const Unit& pu = st.plan.units[static_cast<std::size_t>(in.producer)];
  const auto slot = static_cast<std::size_t>(pu.slot);
  if (pu.kind == UnitKind::synapse) {
    const SynapseParams& sp = st.plan.synapses[slot];
    if (sp.groups != 1 || sp.acc64 || sp.n != p.width) return {};
    return {st.state.synapses[slot].acc32.data(), sp.in_step.data(), 1, sp.bias.data()};
  }
  if (pu.kind == UnitKind::product) {
    const ProductParams& pp = st.plan.products[slot];
    if (pp.acc64 || pp.n != p.width) return {};
    return {st.state.products[slot].acc32.data(), &pp.ab_step, 0, nullptr};
  }
  return {};
}

// A current the kernels read in place (eval_fire_src_rows): a differential unit's outputs, or a residual sum of
// two count arrays. Neither set: any other current.
struct SrcCurrent {
  const float* y = nullptr;
  const std::int32_t* q_a = nullptr;
  const std::int32_t* q_b = nullptr;
  float s_a = 1.0f, s_b = 1.0f;
  bool any() const { return y != nullptr || q_a != nullptr; }
};

SrcCurrent src_current(const Step& st, const NeuronParams& p) {
  const ValueInfo& in = st.info(p.in);
  if (in.producer < 0) return {};
  const Unit& pu = st.plan.units[static_cast<std::size_t>(in.producer)];
  const auto slot = static_cast<std::size_t>(pu.slot);
  SrcCurrent c;
  if (pu.kind == UnitKind::diff) c.y = st.state.diffs[slot].y.data();
  if (pu.kind == UnitKind::add) {
    const AddParams& ap = st.plan.adds[slot];
    c.q_a = st.state.counts[static_cast<std::size_t>(st.info(ap.a).storage)].data();
    c.q_b = st.state.counts[static_cast<std::size_t>(st.info(ap.b).storage)].data();
    c.s_a = ap.s_a;
    c.s_b = ap.s_b;
  }
  return c;
}

// The rows flagged in row_flag (n of them), in increasing order: flags read eight at a time, so a scan of a
// pass's rows costs little next to evaluating the marked ones. False (use the list as it is) when the flags
// do not hold exactly n rows.
bool ascending_rows(const StateVector<std::uint8_t>& row_flag, std::size_t n, std::vector<std::int32_t>& out) {
  out.clear();
  flagged_rows(row_flag.data(), row_flag.size(), out);
  return out.size() == n;
}

}  // namespace

void step_neuron(const Unit& u, Step& st) {
  const NeuronParams& p = st.plan.neurons[static_cast<std::size_t>(u.slot)];
  NeuronState& s = st.state.neurons[static_cast<std::size_t>(u.slot)];
  NeuronScratch& x = st.scratch.neurons[static_cast<std::size_t>(u.slot)];
  const Kernels& kern = st.plan.kernels;
  const ValueScratch& m = st.marks(p.in);
  std::int32_t* count = st.counts(p.out).data();
  std::int32_t* target = s.target.data();
  EventList& events = st.events(p.out);
  Counters& c = st.counters(u);
  const std::int64_t w = p.width, cpr = p.chunks_per_row;
  const FastDiv div_chunks(p.chunks), div_w(w);  // per sample, per row: no division instruction per element
  // Local pointers: the byte stores of flags could alias any vector's internals, which the compiler would then
  // reload per chunk.
  std::uint8_t* const chunk_flag = s.chunk_flag.data();
  std::uint8_t* const sample_fired = st.scratch.fired.data();
  auto activate = [&](std::int64_t chunk) { chunk_flag[chunk] = 1; };
  std::uint64_t evaluated = 0;
  const bool burst = st.mode == FireMode::burst;
  const std::size_t first_event = events.size();
  FireTally tally;
  // The first step of a whole run over a reused state (Step::stale): the simulator left this population's counts,
  // targets and flags as the previous pass left them. When every row is marked (the usual case: every neuron
  // evaluates its initial target at step 1) the sweep writes every count and target from rest itself (from_rest,
  // kernels.hpp) and only the chunk flags (1 byte per kChunk neurons) are cleared here; otherwise the population
  // is cleared first, as for any other unit.
  bool from_rest = false;
  if (st.stale) {
    const auto rows_total = static_cast<std::size_t>(s.target.size() / static_cast<std::size_t>(w));
    from_rest = m.rows.size() == rows_total;
    if (from_rest) {
      std::fill(s.chunk_flag.begin(), s.chunk_flag.end(), 0);
    } else {
      std::fill(st.counts(p.out).begin(), st.counts(p.out).end(), 0);
      reset(s);
    }
  }
  // Rows marked whole, kEvalRows at a time: their currents, then their levels; a chunk whose levels differ
  // from its counts fires at once (its targets are final for the step) and stays active while a count differs.
  const AccCurrent ac = kern.eval_fire_acc_rows ? acc_current(st, p) : AccCurrent{};
  const SrcCurrent sc = kern.eval_fire_src_rows && !ac.acc ? src_current(st, p) : SrcCurrent{};
  // The AVX-512 kernels sweep runs of consecutive rows narrower than a vector multiple as one flat range
  // (kernels_avx512.cpp) when the current does not depend on the column: such rows are taken in increasing
  // order, read off the row flags (a step's events may arrive in any order; every result is an integer sum
  // or a per-element function, so the order of evaluation changes no count, target or ledger entry).
  const std::vector<std::int32_t>* marked = &m.rows;
  if (kern.lanes == 16 && w < kChunk && w % 16 != 0 && m.rows.size() > 1 && (!ac.acc || ac.c_step == 0) &&
      ascending_rows(m.row_flag, m.rows.size(), x.rows_sorted))
    marked = &x.rows_sorted;
  const std::vector<std::int32_t>& rows = *marked;
  // A whole run's first step over every row in increasing order (counts at rest before it): the events are
  // the nonzero counts after the sweep, in index order, so the list is left lazy (EventList::set_lazy) and
  // written out only if a reader needs it; most readers of a first step read the counts instead.
  bool lazy = false;
  if (st.first && !st.incremental && first_event == 0 && m.elems.empty() &&
      rows.size() * static_cast<std::size_t>(w) == st.counts(p.out).size()) {
    lazy = true;
    for (std::size_t k = 0; k < rows.size() && lazy; ++k) lazy = rows[k] == static_cast<std::int32_t>(k);
  }
  tally.count_only = lazy;
  for (std::size_t k0 = 0; k0 < rows.size(); k0 += static_cast<std::size_t>(kEvalRows)) {
    const std::size_t nrows = std::min(rows.size() - k0, static_cast<std::size_t>(kEvalRows));
    std::int64_t nfired = 0;
    const std::size_t most = nrows * static_cast<std::size_t>(w);
    std::int64_t written;
    if (ac.acc) {
      written = kern.eval_fire_acc_rows(ac.acc, ac.c, ac.c_step, ac.b, rows.data() + k0, static_cast<std::int64_t>(nrows), w,
                                        p.act, p.s, p.n_min, p.n_max, target, count, burst, from_rest, events.tail(most),
                                        x.chunks.data(), x.remaining.data(), nfired, tally);
    } else if (sc.any()) {
      written = kern.eval_fire_src_rows(sc.y, sc.q_a, sc.s_a, sc.q_b, sc.s_b, rows.data() + k0, static_cast<std::int64_t>(nrows),
                                        w, p.act, p.s, p.n_min, p.n_max, target, count, burst, from_rest, events.tail(most),
                                        x.chunks.data(), x.remaining.data(), nfired, tally);
    } else {
      for (std::size_t k = 0; k < nrows; ++k) current_row(st, p.in, rows[k0 + k], x.current.data() + static_cast<std::int64_t>(k) * w);
      written = kern.eval_fire_rows(x.current.data(), rows.data() + k0, static_cast<std::int64_t>(nrows), w, p.act, p.s,
                                    p.n_min, p.n_max, target, count, x.level.data(), burst, from_rest, events.tail(most),
                                    x.chunks.data(), x.remaining.data(), nfired, tally);
    }
    events.advance(static_cast<std::size_t>(written));
    const std::int32_t* const fired_chunks = x.chunks.data();
    const std::uint8_t* const remaining = x.remaining.data();
    for (std::int64_t f = 0; f < nfired; ++f) {
      const std::int32_t ch = fired_chunks[f];
      const std::uint8_t rem = remaining[f];
      chunk_flag[ch] = static_cast<std::uint8_t>(rem << 1);  // 2: pending while a count still differs, fired already
      sample_fired[div_chunks.div(ch)] = 1;
    }
    evaluated += static_cast<std::uint64_t>(nrows) * static_cast<std::uint64_t>(w);
  }
  if (lazy) {  // the sweep's events (which the kernel may not have written): the counts it left
    const std::size_t fired = events.size();
    events.clear();
    events.set_lazy(count, st.counts(p.out).size(), fired);
    tally.count_only = false;  // chunks fired below write their events (after the list is written out)
  }
  for (std::int32_t i : m.elems) {
    const std::int64_t r = div_w.div(i);
    if (m.row_flag[static_cast<std::size_t>(r)]) continue;  // evaluated with its row
    const std::int32_t level = ann::quantize_level(current_at(st, p.in, i), p.act, p.s, p.n_min, p.n_max);
    target[i] = level;
    if (level != count[i]) activate(r * cpr + (i - r * w) / kChunk);
    ++evaluated;
  }
  evaluated = static_cast<std::uint64_t>(static_cast<std::int64_t>(evaluated) + m.ledger_extra);
  c.neuron_updates += evaluated;
  c.bytes_read[mem(MemClass::membrane)] += evaluated * kCountBytes;
  c.bytes_written[mem(MemClass::membrane)] += evaluated * kCountBytes;
  if (p.producer_groups > 1) {
    // Per evaluation G-1 extra float multiply-adds (grouped_linear_value), the other partial sums read and one
    // step per group read.
    const auto extra = static_cast<std::uint64_t>(p.producer_groups - 1);
    c.dense_ops += evaluated * 2 * extra;
    c.bytes_read[mem(MemClass::membrane)] += evaluated * extra * kAccBytes;
    c.bytes_read[mem(MemClass::weights)] += evaluated * static_cast<std::uint64_t>(p.producer_groups) * 4;
  }
  // Fire the other pending chunks: every one steps its neurons' counts toward their targets (one +-1 spike
  // each, or the whole difference as one event) in one sweep; it stays pending while a count still differs. The
  // pending chunks are read off the flags, eight at a time (a sweep of a population's flags costs less than
  // keeping lists of them when most chunks fire in most steps, as in a transformer's strict steps). A flag is 1
  // for a chunk to fire, 2 for one that fired in the evaluation above and is still pending: it is not fired
  // again, and its flag becomes 1 for the next step. Bytes of a word are handled as bit fields, without a branch
  // per chunk (a per-chunk test of flag and fired step mispredicted in most words of a strict step).
  constexpr std::uint64_t kLowBits = 0x0101010101010101ull;
  const auto samples = static_cast<std::int64_t>(st.state.batch);
  std::int32_t* const fire_list = x.chunks.data();
  for (std::int64_t sample = 0; sample < samples; ++sample) {
    const std::int64_t first = sample * p.chunks;
    std::uint8_t* const flags = chunk_flag + first;
    std::int64_t to_fire = 0, pending = 0;
    auto take = [&](std::uint64_t ones, std::int64_t c0) {  // bit 8k set: chunk c0 + k fires
      while (ones != 0) {
        fire_list[to_fire++] = static_cast<std::int32_t>(first + c0 + __builtin_ctzll(ones) / 8);
        ones &= ones - 1;
      }
    };
    std::int64_t c0 = 0;
    for (; c0 + 8 <= p.chunks; c0 += 8) {
      std::uint64_t word;
      std::memcpy(&word, flags + c0, sizeof word);
      if (word == 0) continue;
      const std::uint64_t ones = word & kLowBits, twos = (word >> 1) & kLowBits;
      if (twos != 0) {
        pending += __builtin_popcountll(twos);
        const std::uint64_t settled = ones | twos;
        std::memcpy(flags + c0, &settled, sizeof settled);
      }
      take(ones, c0);
    }
    for (; c0 < p.chunks; ++c0) {
      const std::uint8_t f = flags[c0];
      if (f == 2) {
        ++pending;
        flags[c0] = 1;
      } else if (f == 1) {
        fire_list[to_fire++] = static_cast<std::int32_t>(first + c0);
      }
    }
    if (to_fire > 0) {
      const std::int64_t written = kern.fire_chunks(count, target, fire_list, to_fire, w, p.div_cpr, burst, chunk_flag,
                                                    events.tail(static_cast<std::size_t>(to_fire * kChunk)), tally);
      events.advance(static_cast<std::size_t>(written));
      if (written > 0) sample_fired[sample] = 1;
      pending += to_fire;
    }
    if (pending > 0) st.scratch.pending[static_cast<std::size_t>(sample)] = 1;
  }
  c.spikes_pos += tally.pos;
  c.spikes_neg += tally.neg;
  const auto fired = static_cast<std::uint64_t>(events.size() - first_event);
  if (burst) c.burst_events += fired;
  c.neuron_updates += fired;
  c.bytes_read[mem(MemClass::membrane)] += fired * 2 * kCountBytes;
  c.bytes_written[mem(MemClass::membrane)] += fired * kCountBytes;
  c.bytes_written[mem(MemClass::spikes)] += fired * event_bytes(st.mode, st.info(p.out).bits);
}

}  // namespace snnconv::snn
