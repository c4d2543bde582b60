// Synaptic layers (unit_synapse.hpp): per step, the events of the input population go into the exact integer
// accumulators of their rows by the cheaper exact kernel, and the output rows that received events are
// marked for their neurons.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "snnconv/ann_baseline/qann.hpp"
#include "units.hpp"

namespace snnconv::snn {
namespace {

// Events per accumulator row at which the event-matrix GEMM beats row adds: it does rows x K x N
// multiply-adds for events x N row adds, at about kDenseSpeedup times the rate (measured on
// tools/bench/bench_snn, docs/benchmarks.md).
constexpr double kDenseSpeedupVnni = 12.0;
constexpr double kDenseSpeedupAvx2 = 5.0;
constexpr std::int64_t kColumnChunk = 16;       // columns per parallel chunk: fixed, so the split never depends
                                                // on the thread count (the sums are integers anyway)
constexpr std::size_t kParallelMinWork = 1 << 15;  // events x fan-out below which one thread is faster

template <typename Acc, typename W>
void add_events_generic(Acc* acc, const W* w, const SynapseParams& p, const Event* events, std::size_t count,
                        std::int64_t j0, std::int64_t j1) {
  for (std::size_t e = 0; e < count; ++e) {
    const std::int64_t r = p.div_k.div(events[e].index), kk = events[e].index - r * p.k;
    const W* wr = w + kk * p.n;
    // [rows, groups, N]; ungrouped: groups == 1, group_rows == K
    Acc* a = acc + (r * p.groups + kk / p.group_rows) * p.n;
    const Acc d = events[e].delta;
    for (std::int64_t j = j0; j < j1; ++j) a[j] += d * static_cast<Acc>(wr[j]);
  }
}

}  // namespace

SynapseParams plan_synapse(const PlanBuilder& b, NodeId id) {
  const Graph& g = b.g;
  const Node& nd = g.node(id);
  const ValueInfo& in = b.spiking_in(id, 0);
  const ValueInfo& out = b.value(nd.outputs[0]);
  const ann::IntWeights w = ann::int_weights(g.value(nd.inputs[1]), "node '" + nd.name + "'");
  if (in.shape.empty() || in.shape.back() != w.k) plan_fail(g, id, nd.inputs[0], "input does not fit the weight's K");
  SynapseParams p;
  p.in = static_cast<int>(nd.inputs[0].index);
  p.out = static_cast<int>(nd.outputs[0].index);
  p.k = w.k;
  p.n = w.n;
  p.rows = out.numel / w.n;
  p.div_k = FastDiv(w.k);
  p.groups = w.groups;
  p.group_rows = w.group_rows;
  p.w_bits = w.bits;
  p.step = w.step;
  p.s_a = in.scale;
  p.in_step.resize(p.step.size());
  for (std::size_t i = 0; i < p.step.size(); ++i) p.in_step[i] = p.s_a * p.step[i];
  p.bias.assign(static_cast<std::size_t>(w.n), 0.0f);
  if (nd.inputs.size() > 2 && nd.inputs[2].valid()) {
    const Value& bias = g.value(nd.inputs[2]);
    if (!bias.constant || bias.constant->numel() != w.n) plan_fail(g, id, nd.inputs[2], "bias must be a constant [N]");
    p.bias = bias.constant->to_f32();
  }
  // Accumulator width: |acc| <= sum_k |w[k][j]| * max|count| for every row, group and column (counts never
  // leave their bounds, in any step).
  bool fits_i8 = true;
  std::vector<std::int64_t> colabs(static_cast<std::size_t>(w.groups * w.n), 0);
  for (std::int64_t k = 0; k < w.k; ++k)
    for (std::int64_t j = 0; j < w.n; ++j) {
      const std::int32_t v = w.w[static_cast<std::size_t>(k * w.n + j)];
      fits_i8 = fits_i8 && v >= -128 && v <= 127;
      colabs[static_cast<std::size_t>((k / w.group_rows) * w.n + j)] += std::abs(std::int64_t{v});
    }
  const std::int64_t max_colabs = colabs.empty() ? 0 : *std::max_element(colabs.begin(), colabs.end());
  constexpr std::int64_t kI32 = std::numeric_limits<std::int32_t>::max();
  p.acc64 = !fits_i8 || max_colabs > kI32 / std::max<std::int64_t>(1, in.max_abs_count);
  if (fits_i8) {
    p.w8.assign(w.w.begin(), w.w.end());
    // The GEMM's unsigned codes reach 255: its partial sums stay below 255 * max column |w|.
    if (!p.acc64 && w.groups == 1 && max_colabs <= kI32 / 256) {
      p.packed = pack_weights(p.w8.data(), p.k, p.n);
      p.colsum.assign(static_cast<std::size_t>(p.n), 0);
      for (std::int64_t k = 0; k < p.k; ++k)
        for (std::int64_t j = 0; j < p.n; ++j) p.colsum[static_cast<std::size_t>(j)] += p.w8[static_cast<std::size_t>(k * p.n + j)];
    }
  } else {
    p.w32 = w.w;
  }
  return p;
}

std::uint64_t synapse_bytes(const Plan& plan, const SynapseParams& u) {
  const auto rows = static_cast<std::uint64_t>(u.rows);
  const std::uint64_t acc = rows * static_cast<std::uint64_t>(u.groups * u.n) * (u.acc64 ? 8 : 4);
  // Scratch: row slots, the changed-row list, the dense path's event-matrix rows and their accumulator pointers.
  const std::uint64_t scratch = rows * (4 + 4) + (u.packed.empty() ? 0 : rows * (static_cast<std::uint64_t>(padded_k(u.k)) + 8));
  // An input read through a view: its translated events and gathered counts.
  const std::uint64_t view = plan.view(u.in) ? rows * static_cast<std::uint64_t>(u.k) * (sizeof(Event) + 4) : 0;
  return acc + scratch + view;
}

void allocate(const SynapseParams& p, SynapseState& s, SynapseScratch& x, const Plan& plan, int batch) {
  const auto rows = static_cast<std::size_t>(p.rows) * static_cast<std::size_t>(batch);
  const auto n = rows * static_cast<std::size_t>(p.groups * p.n);
  if (p.acc64) {
    s.acc64 = StateVector<std::int64_t>(n);
    s.acc32 = {};
  } else {
    s.acc32 = StateVector<std::int32_t>(n);
    s.acc64 = {};
  }
  x.changed.assign(rows, 0);
  x.n_changed = 0;
  x.row_slot.assign(rows, -1);
  x.codes = StateVector<std::uint8_t>(p.packed.empty() ? 0 : rows * static_cast<std::size_t>(padded_k(p.k)));
  x.acc_rows.assign(p.packed.empty() ? 0 : rows, nullptr);
  x.corr.assign(static_cast<std::size_t>(column_blocks(p.n) * kPackCols), 0);
  x.corr_offset = -1;
  const bool view = plan.view(p.in) != nullptr;
  x.view_events = EventList{};
  if (view) x.view_events.reserve(rows * static_cast<std::size_t>(p.k));
  x.view_counts = StateVector<std::int32_t>(view && !p.packed.empty() ? rows * static_cast<std::size_t>(p.k) : 0);
}

void reset(SynapseState& s) {
  std::fill(s.acc32.begin(), s.acc32.end(), 0);
  std::fill(s.acc64.begin(), s.acc64.end(), 0);
}

namespace {

// The step's event matrix (written by step_synapse while it read the events: one row per changed accumulator
// row, each byte base + the event's delta mod 256) shifted to the unsigned codes d + c, then one GEMM against
// the packed weights.
void accumulate_dense(const SynapseParams& p, SynapseState& s, SynapseScratch& x, std::int32_t base,
                      std::int32_t offset, const Kernels& kern, tbb::task_arena* arena) {
  const std::int64_t kp = padded_k(p.k);
  const std::int64_t rows = x.n_changed;
  std::uint8_t* const codes = x.codes.data();
  if (offset != base) {
    const auto shift = static_cast<std::uint8_t>(offset - base);
    const std::int64_t total = rows * kp;
    for (std::int64_t i = 0; i < total; ++i) codes[i] = static_cast<std::uint8_t>(codes[i] + shift);
  }
  std::int32_t** const acc_rows = x.acc_rows.data();
  for (std::int64_t i = 0; i < rows; ++i) acc_rows[i] = s.acc32.data() + std::int64_t{x.changed[static_cast<std::size_t>(i)]} * p.n;
  if (x.corr_offset != offset) {  // strict steps all have c = 1: computed once
    for (std::int64_t j = 0; j < p.n; ++j) x.corr[static_cast<std::size_t>(j)] = offset * p.colsum[static_cast<std::size_t>(j)];
    x.corr_offset = offset;
  }
  const std::int32_t* const corr = x.corr.data();
  const std::int64_t blocks = column_blocks(p.n);
  if (arena && rows * kp * p.n >= static_cast<std::int64_t>(kParallelMinWork) * 8 && blocks > 1) {
    arena->execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, blocks, 1), [&](const tbb::blocked_range<std::int64_t>& br) {
        kern.gemm_codes(codes, rows, kp, p.packed.data(), corr, acc_rows, p.n, br.begin(), br.end());
      }, tbb::simple_partitioner());
    });
  } else {
    kern.gemm_codes(codes, rows, kp, p.packed.data(), corr, acc_rows, p.n, 0, blocks);
  }
}

void accumulate_sparse(const SynapseParams& p, SynapseState& s, const EventList& events, const Kernels& kern,
                       tbb::task_arena* arena) {
  auto columns = [&](std::int64_t j0, std::int64_t j1) {
    if (p.acc64) {
      if (!p.w8.empty())
        add_events_generic(s.acc64.data(), p.w8.data(), p, events.data(), events.size(), j0, j1);
      else
        add_events_generic(s.acc64.data(), p.w32.data(), p, events.data(), events.size(), j0, j1);
    } else if (p.groups == 1) {
      kern.add_events(s.acc32.data(), p.w8.data(), p.div_k, p.n, events.data(), events.size(), j0, j1);
    } else {
      add_events_generic(s.acc32.data(), p.w8.data(), p, events.data(), events.size(), j0, j1);
    }
  };
  if (arena && events.size() * static_cast<std::size_t>(p.n) >= kParallelMinWork && p.n > kColumnChunk) {
    const std::int64_t chunks = (p.n + kColumnChunk - 1) / kColumnChunk;
    arena->execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::int64_t>(0, chunks, 1),
          [&](const tbb::blocked_range<std::int64_t>& range) {
            columns(range.begin() * kColumnChunk, std::min(p.n, range.end() * kColumnChunk));
          },
          tbb::simple_partitioner());
    });
  } else {
    columns(0, p.n);
  }
}

// The first step of a run from rest (not causal decoding): this step's events are exactly the input's counts
// (every count was 0 before them), so the event matrix is the counts array itself, turned into codes d + c by a
// vector sweep over whole rows instead of event by event, and one GEMM adds it. In burst mode (one step) the
// event loop cost about twice the GEMM. c is the input's count bound, which every delta of the step respects.
// Returns false (nothing done) where the event path is cheaper or its codes would not be exact.
bool first_step_dense(const SynapseParams& p, SynapseState& s, SynapseScratch& x, Step& st, std::size_t n_events) {
  const Kernels& kern = st.plan.kernels;
  const auto c = static_cast<std::int32_t>(st.info(p.in).max_abs_count);
  if (2 * std::int64_t{c} > kern.max_code) return false;
  const std::int64_t rows = p.rows * st.state.batch, kp = padded_k(p.k);
  const double speedup = kern.isa >= Isa::avx512_vnni ? kDenseSpeedupVnni : kDenseSpeedupAvx2;
  if (static_cast<double>(n_events) * speedup < static_cast<double>(rows) * static_cast<double>(kp)) return false;
  const std::int32_t* counts = st.counts(p.in).data();
  if (const ViewMap* m = st.plan.view(p.in)) {  // the counts in the view's order
    gather_view_samples(*m, counts, st.state.batch, x.view_counts.data());
    counts = x.view_counts.data();
  }
  std::uint8_t* const codes = x.codes.data();
  std::int32_t* const changed = x.changed.data();
  // K in a local: the byte stores may alias p, which the compiler would otherwise reload per element, keeping
  // this loop scalar (it cost more than the GEMM after it in fashion_vit's burst profile).
  const std::int64_t k = p.k;
  const auto cu = static_cast<std::uint32_t>(c);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::uint8_t* const row = codes + r * kp;
    const std::int32_t* const src = counts + r * k;
    for (std::int64_t i = 0; i < k; ++i) row[i] = static_cast<std::uint8_t>(static_cast<std::uint32_t>(src[i]) + cu);
    for (std::int64_t i = k; i < kp; ++i) row[i] = static_cast<std::uint8_t>(cu);
    changed[r] = static_cast<std::int32_t>(r);
  }
  x.n_changed = rows;
  accumulate_dense(p, s, x, c, c, kern, st.arena);
  return true;
}

}  // namespace

void step_synapse(const Unit& u, Step& st) {
  const SynapseParams& p = st.plan.synapses[static_cast<std::size_t>(u.slot)];
  SynapseState& s = st.state.synapses[static_cast<std::size_t>(u.slot)];
  SynapseScratch& x = st.scratch.synapses[static_cast<std::size_t>(u.slot)];
  const ValueInfo& in = st.info(p.in);
  const ViewMap* const view = st.plan.view(p.in);
  const EventList& raw = st.events_unread(p.in);  // possibly lazy: read below only if the counts are not
  std::int32_t max_delta = 0;
  const bool may_dense = !p.packed.empty();
  const bool may_sweep = st.first && !st.incremental && may_dense;  // the first step from rest may read counts
  // Through a view, the events with the view's indices, translated up front unless the first step may read the
  // counts instead (then only counted).
  const bool translated = view && !may_sweep;
  const EventList* in_events = translated ? &events_as_read(st, p.in, x.view_events) : &raw;
  const std::size_t n_events = view && !translated ? view_event_count(*view, raw) : in_events->size();
  // The event matrix's bytes start at the code of "no event": c = 1 in strict mode (every delta is +-1), so its
  // codes d + 1 need no second pass; burst steps learn c only at the end and shift then.
  const std::int32_t code_base = st.mode == FireMode::strict ? 1 : 0;
  const bool done = may_sweep && n_events > 0 && first_step_dense(p, s, x, st, n_events);
  if (view && !done && !translated) in_events = &events_as_read(st, p.in, x.view_events);
  if (!done && in_events == &raw) in_events = &st.events(p.in);  // written out if lazy
  const EventList& events = *in_events;
  if (!done) {
    // One pass over the events: the changed rows in order of their first event and, when the dense path is
    // possible, the event matrix (its row found once per run: events come row by row). Local pointers: the
    // byte stores could alias the vectors' internals, which would then be reloaded per event.
    std::int32_t* const row_slot = x.row_slot.data();
    std::int32_t* const changed = x.changed.data();
    std::uint8_t* const codes = x.codes.data();
    const std::int64_t kp = padded_k(p.k);
    std::int64_t n_changed = 0, run_lo = 0, run_hi = 0;
    std::uint8_t* code_row = codes;
    const int base = code_base;
    for (const Event& e : events) {
      if (e.index < run_lo || e.index >= run_hi) {
        const std::int64_t r = p.div_k.div(e.index);
        run_lo = r * p.k;
        run_hi = run_lo + p.k;
        std::int32_t slot = row_slot[r];
        if (slot < 0) {
          slot = static_cast<std::int32_t>(n_changed);
          row_slot[r] = slot;
          changed[n_changed++] = static_cast<std::int32_t>(r);
          if (may_dense) std::memset(codes + std::int64_t{slot} * kp, base, static_cast<std::size_t>(kp));
        }
        if (may_dense) code_row = codes + std::int64_t{slot} * kp;
      }
      if (may_dense) {
        std::uint8_t& code = code_row[e.index - run_lo];
        code = static_cast<std::uint8_t>(code + e.delta);
      }
      max_delta = std::max(max_delta, std::abs(e.delta));
    }
    x.n_changed = n_changed;
  }
  if (!done && !events.empty()) {
    const Kernels& kern = st.plan.kernels;
    // The dense path when its codes d + c (c = the step's largest |d|, so codes lie in [0, 2c]: an input
    // element gets at most one event per step, as every movement map gives each output one source) stay
    // exact for the kernel, and when it is cheaper.
    const double speedup = kern.isa >= Isa::avx512_vnni ? kDenseSpeedupVnni : kDenseSpeedupAvx2;
    const double dense_work = static_cast<double>(x.n_changed) * static_cast<double>(padded_k(p.k));
    const bool dense = may_dense && 2 * max_delta <= kern.max_code &&
                       static_cast<double>(events.size()) * speedup >= dense_work;
    if (dense)
      accumulate_dense(p, s, x, code_base, max_delta, kern, st.arena);
    else
      accumulate_sparse(p, s, events, kern, st.arena);
  }
  Counters& c = st.counters(u);
  const auto fan_out = static_cast<std::uint64_t>(p.n);
  const auto ne = static_cast<std::uint64_t>(n_events);
  c.acs[width_slot(p.w_bits)] += ne * fan_out;
  c.bytes_read[mem(MemClass::weights)] += ne * fan_out * bytes_of_bits(p.w_bits);
  c.bytes_read[mem(MemClass::membrane)] += ne * fan_out * kAccBytes;
  c.bytes_written[mem(MemClass::membrane)] += ne * fan_out * kAccBytes;
  c.bytes_read[mem(MemClass::spikes)] += ne * event_bytes(st.mode, in.bits);
  const std::int32_t* const changed = x.changed.data();
  const std::int64_t n_changed = x.n_changed;
  if (st.first) {  // the bias reaches every (newly live) target once
    st.mark_fresh(p.out);
    if (st.incremental)  // extend(): rows that were live already and got events too
      for (std::int64_t i = 0; i < n_changed; ++i) st.mark_row(p.out, changed[i]);
  } else {
    for (std::int64_t i = 0; i < n_changed; ++i) st.mark_row(p.out, changed[i]);
  }
  for (std::int64_t i = 0; i < n_changed; ++i) x.row_slot[static_cast<std::size_t>(changed[i])] = -1;
  x.n_changed = 0;
}

}  // namespace snnconv::snn
