// Products of two spiking operands (unit_product.hpp). Causal decoding skips a pair whose other operand
// element is not live (its count is 0, so is the product) and outputs that never become live (masked
// scores): exact, and a new row costs only its own pairs.
#include <algorithm>
#include <limits>
#include <span>
#include <type_traits>
#include <cstdlib>

#include "units.hpp"

namespace snnconv::snn {

ProductParams plan_product(const PlanBuilder& b, NodeId id) {
  const ValueInfo& a = b.spiking_in(id, 0);
  const ValueInfo& bv = b.spiking_in(id, 1);
  const Shape& sa = a.shape;
  const Shape& sb = bv.shape;
  if (sa.size() < 2 || sa.size() != sb.size() || !std::equal(sa.begin(), sa.end() - 2, sb.begin()) ||
      sa.back() != sb[sb.size() - 2])
    plan_fail(b.g, id, {}, "products need [..., M, K] x [..., K, N] with equal leading dims", true);
  const Node& nd = b.g.node(id);
  ProductParams p;
  p.a = static_cast<int>(nd.inputs[0].index);
  p.b = static_cast<int>(nd.inputs[1].index);
  p.out = static_cast<int>(nd.outputs[0].index);
  p.m = sa[sa.size() - 2];
  p.k = sa.back();
  p.n = sb.back();
  p.batch = a.numel / (p.m * p.k);
  p.s_a = a.scale;
  p.s_b = bv.scale;
  p.ab_step = p.s_a * p.s_b;
  const double bound = static_cast<double>(p.k) * static_cast<double>(a.max_abs_count) *
                       static_cast<double>(bv.max_abs_count);
  p.acc64 = bound > static_cast<double>(std::numeric_limits<std::int32_t>::max());
  p.i16 = !p.acc64 && a.max_abs_count <= std::numeric_limits<std::int16_t>::max() &&
          bv.max_abs_count <= std::numeric_limits<std::int16_t>::max();
  p.div_mk = FastDiv(p.m * p.k);
  p.div_k = FastDiv(p.k);
  p.div_kn = FastDiv(p.k * p.n);
  p.div_n = FastDiv(p.n);
  return p;
}

std::uint64_t product_bytes(const Plan& plan, const ProductParams& u) {
  const auto bt = static_cast<std::uint64_t>(u.batch);
  const std::uint64_t operands = bt * static_cast<std::uint64_t>(u.k * u.n) * 4;  // B's copy (A is read in place)
  const std::uint64_t acc = bt * static_cast<std::uint64_t>(u.m * u.n) * (u.acc64 ? 8 : 4);
  // Row flags and the causal run's row list, column flags, per batch entry the event counts, the dense choice and
  // the touched list, B's step events by row with their flags and list; matmul_i16's packing scratch (one batch
  // entry's, charged per sample: an upper bound).
  const std::uint64_t pack = u.i16 ? static_cast<std::uint64_t>(matmul_i16_pack_words(u.m, u.k, u.n)) * 4 : 0;
  const std::uint64_t scratch = bt * static_cast<std::uint64_t>(u.m) * (1 + 4) + bt * static_cast<std::uint64_t>(u.n) +
                                bt * (8 + 1 + 4) + bt * static_cast<std::uint64_t>(u.k * u.n) * 4 +
                                bt * static_cast<std::uint64_t>(u.k) * 5 + pack;
  // Operands read through a view: their translated events, and A's gathered counts.
  const std::uint64_t views = (plan.view(u.a) ? bt * static_cast<std::uint64_t>(u.m * u.k) * (sizeof(Event) + 4) : 0) +
                              (plan.view(u.b) ? bt * static_cast<std::uint64_t>(u.k * u.n) * sizeof(Event) : 0);
  return operands + acc + scratch + views;
}

void allocate(const ProductParams& p, ProductState& s, ProductScratch& x, const Plan& plan, int batch) {
  const auto bt = static_cast<std::size_t>(p.batch) * static_cast<std::size_t>(batch);
  s.b = StateVector<std::int32_t>(bt * static_cast<std::size_t>(p.k * p.n));
  const std::size_t n = bt * static_cast<std::size_t>(p.m * p.n);
  if (p.acc64) {
    s.acc64 = StateVector<std::int64_t>(n);
    s.acc32 = {};
  } else {
    s.acc32 = StateVector<std::int32_t>(n);
    s.acc64 = {};
  }
  x.row_flag.assign(bt * static_cast<std::size_t>(p.m), 0);
  x.rows_changed.clear();
  x.rows_changed.reserve(bt * static_cast<std::size_t>(p.m));
  x.col_flag.assign(bt * static_cast<std::size_t>(p.n), 0);
  x.db = StateVector<std::int32_t>(bt * static_cast<std::size_t>(p.k * p.n));
  x.db_flag.assign(bt * static_cast<std::size_t>(p.k), 0);
  x.db_rows.clear();
  x.a_events.assign(bt, 0);
  x.b_events.assign(bt, 0);
  x.dense.assign(bt, 0);
  x.touched.clear();
  x.a_view_events = EventList{};
  x.b_view_events = EventList{};
  if (plan.view(p.a)) x.a_view_events.reserve(bt * static_cast<std::size_t>(p.m * p.k));
  if (plan.view(p.b)) x.b_view_events.reserve(bt * static_cast<std::size_t>(p.k * p.n));
  x.a_gather = StateVector<std::int32_t>(plan.view(p.a) ? bt * static_cast<std::size_t>(p.m * p.k) : 0);
  x.pack.assign(p.i16 && plan.kernels.matmul_i16 ? static_cast<std::size_t>(matmul_i16_pack_words(p.m, p.k, p.n)) : 0, 0);
}

void reset(ProductState& s) {
  std::fill(s.b.begin(), s.b.end(), 0);
  std::fill(s.acc32.begin(), s.acc32.end(), 0);
  std::fill(s.acc64.begin(), s.acc64.end(), 0);
}

namespace {

// A_t of every batch entry: A's population's counts in place, or for a view gathered through its map.
const std::int32_t* whole_a(const ProductParams& p, ProductScratch& x, Step& st) {
  const std::int32_t* const counts = st.counts(p.a).data();
  const ViewMap* m = st.plan.view(p.a);
  if (!m) return counts;
  gather_view_samples(*m, counts, st.state.batch, x.a_gather.data());
  return x.a_gather.data();
}

// c = a b of one batch entry with int32 accumulators: by int16 pairs where the counts allow it (AVX-512 VNNI: twice
// the products per instruction, and vpdpwssd is cheaper than vpmulld's), else matmul_i32.
void matmul(const ProductParams& p, ProductScratch& x, const Kernels& kern, const std::int32_t* a, const std::int32_t* b,
            std::int32_t* c) {
  if (!x.pack.empty())
    kern.matmul_i16(a, b, c, p.m, p.k, p.n, x.pack.data());
  else
    kern.matmul_i32(a, b, c, p.m, p.k, p.n);
}

// First A's events against B_{t-1} (a_t.B_{t-1}), then B's events against A_t = A_{t-1} + a_t
// (A_{t-1}.b_t + a_t.b_t). Exact in integers, only where events occurred. Ungated, B's events of a step are
// gathered by operand row q, so that every row i of A with A[i][q] != 0 adds that row of events at once.
template <typename Acc>
void add_scaled(const Kernels& kern, Acc* acc, const std::int32_t* src, std::int32_t a, std::int64_t n) {
  if constexpr (std::is_same_v<Acc, std::int32_t>) {
    kern.add_scaled_row(acc, src, a, n);
  } else {
    for (std::int64_t j = 0; j < n; ++j) acc[j] += Acc{a} * src[j];
  }
}

// A step's events of an operand as the product reads them: its population's list, translated through the view's
// map inside the product's own loops when the operand is a view (a translated copy of the list cost a pass that
// wrote every event and a read of it per loop).
struct Operand {
  const Event* ev = nullptr;
  std::size_t n = 0;
  const ViewMap* view = nullptr;
  std::int64_t samples = 1;
};

Operand operand(Step& st, int v) {
  const EventList& e = st.events(v);
  return {e.data(), e.size(), st.plan.view(v), st.state.batch};
}

// Calls f(index, delta) for each event as the operand reads it, in the list's order; returns how many there were
// (a view drops the elements it leaves out).
template <typename F>
inline std::size_t for_each_event(const Operand& o, F&& f) {
  if (o.view) return for_each_view_event(*o.view, o.ev, o.n, o.samples, f);
  const Event* __restrict const ev = o.ev;
  for (std::size_t k = 0; k < o.n; ++k) f(std::int64_t{ev[k].index}, ev[k].delta);
  return o.n;
}

template <typename Acc>
void apply_events(const ProductParams& p, ProductState& s, ProductScratch& x, Acc* acc, Step& st, const Operand& ea,
                  const Operand& eb, std::size_t& n_a, std::size_t& n_b, std::uint64_t& a_pairs, std::uint64_t& b_pairs) {
  const Kernels& kern = st.plan.kernels;
  const ValueInfo& va = st.info(p.a);
  const ValueInfo& vb = st.info(p.b);
  const ValueInfo& out = st.info(p.out);
  const bool gate = st.incremental && !out.pos.empty() && !va.pos.empty() && !vb.pos.empty();
  bool sparse_b = false;  // some batch entry with B events takes the row updates
  // A_t: the operand's own counts, which its producer has already stepped with this step's events (units run in
  // topological order), so the unit keeps no copy of A. Through a view, the batch entries the step reads are
  // gathered (below, once they are known).
  const ViewMap* const view_a = st.plan.view(p.a);
  const std::int32_t* a_t = view_a && gate ? whole_a(p, x, st) : st.counts(p.a).data();
  if (!gate) {
    // A's events in one pass: per batch entry counted, and the row of each event (its accumulator row: index / K)
    // flagged, by unconditional stores (the flagged rows are read off the flags per batch entry by
    // mark_touched). Then B's events: per batch entry counted, their columns flagged, B's copy stepped. Then, per
    // batch entry, the cheaper exact method: the events' row updates, or acc = A_t B_t recomputed (vector
    // operations counted in registers of `lanes` int32). Histograms rather than runs: a view's events (the heads' split)
    // interleave their batch entries, and the runs' data-dependent branch mispredicted there.
    // The arrays are reached through local pointers (the byte flags' stores could alias any vector's internals
    // and would force every pointer to be reloaded per event).
    const FastDiv div_m(p.m), div_k = p.div_k, div_kn = p.div_kn, div_n = p.div_n;
    std::uint8_t* const row_flag = x.row_flag.data();
    std::uint8_t* const col_flag = x.col_flag.data();
    std::int32_t* const a_events = x.a_events.data();
    std::int32_t* const b_events = x.b_events.data();
    {
      n_a = for_each_event(ea, [&](std::int64_t index, std::int32_t) {
        const std::int64_t row = div_k.div(index);
        row_flag[row] = 1;
        ++a_events[div_m.div(row)];
      });
      // B's copy becomes B_t in the same pass (a sparse batch entry's a_t B_{t-1} takes the events back out).
      std::int32_t* const sb = s.b.data();
      const std::int64_t kn = p.k * p.n, n_cols = p.n;
      n_b = for_each_event(eb, [&](std::int64_t index, std::int32_t delta) {
        const std::int64_t bt = div_kn.div(index), rest = index - bt * kn;
        col_flag[bt * n_cols + (rest - div_n.div(rest) * n_cols)] = 1;
        ++b_events[bt];
        sb[index] += delta;
      });
      // The batch entries with events of either operand are read off the counts (a pass holds few of them:
      // samples x heads).
      const auto entries = static_cast<std::int32_t>(x.a_events.size());
      for (std::int32_t bt = 0; bt < entries; ++bt)
        if ((a_events[bt] | b_events[bt]) != 0) x.touched.push_back(bt);
    }
    if (view_a) {  // A_t is read in the touched batch entries only (B's events' rows, dense recomputation)
      const std::int32_t* const counts = a_t;
      const std::int64_t mk = p.m * p.k;
      for (std::int32_t bt : x.touched) gather_view(*view_a, counts, bt * mk, (bt + 1) * mk, x.a_gather.data());
      a_t = x.a_gather.data();
    }
    const std::int64_t vn = (p.n + kern.lanes - 1) / kern.lanes;
    // matmul_i32 runs four rows per loaded vector of B without branches: about a quarter of a row update's
    // cost per term (kernels_avx512.cpp; measured in docs/benchmarks.md).
    const std::int64_t dense_cost = (p.m * p.k * vn + 3) / 4 + 2 * p.m * vn;
    bool sparse_a = false;
    sparse_b = false;
    for (std::int32_t bt : x.touched) {
      const std::int64_t na = x.a_events[static_cast<std::size_t>(bt)], nb = x.b_events[static_cast<std::size_t>(bt)];
      const std::int64_t sparse_cost = na * (vn + 6) + nb * 3 + std::min(nb, p.k) * p.m * (vn + 1);
      const bool dense = !std::is_same_v<Acc, std::int64_t> && dense_cost < sparse_cost;
      x.dense[static_cast<std::size_t>(bt)] = dense;
      sparse_a = sparse_a || (!dense && na > 0);
      sparse_b = sparse_b || (!dense && nb > 0);
    }
    // a_t B_{t-1} in the sparse batch entries: s.b holds B_t, so B's events are taken out for this pass and
    // put back after it (rare in a strict run: the row updates win only where both operands have few events).
    if (sparse_a) {
      std::int32_t* const sb = s.b.data();
      for_each_event(eb, [&](std::int64_t index, std::int32_t delta) { sb[index] -= delta; });
      for_each_event(ea, [&](std::int64_t index, std::int32_t delta) {
        const std::int64_t row = p.div_k.div(index), bt = div_m.div(row), q = index - row * p.k;
        if (!x.dense[static_cast<std::size_t>(bt)])
          add_scaled(kern, acc + row * p.n, sb + (bt * p.k + q) * p.n, delta, p.n);
      });
      for_each_event(eb, [&](std::int64_t index, std::int32_t delta) { sb[index] += delta; });
    }
    a_pairs += static_cast<std::uint64_t>(n_a) * static_cast<std::uint64_t>(p.n);
  } else {
    n_a = ea.n;  // a gated step reads translated lists (no view)
    n_b = eb.n;
    for (const Event& e : std::span(ea.ev, ea.n)) {
      const std::int64_t bt = p.div_mk.div(e.index), rest = e.index - bt * p.m * p.k;
      const std::int64_t i = p.div_k.div(rest), q = rest - i * p.k;
      const std::int32_t* brow = s.b.data() + (bt * p.k + q) * p.n;
      Acc* arow = acc + (bt * p.m + i) * p.n;
      const std::int32_t* po = out.pos.data() + (bt * p.m + i) * p.n;
      const std::int32_t* pb = vb.pos.data() + (bt * p.k + q) * p.n;
      const Acc d = e.delta;
      for (std::int64_t j = 0; j < p.n; ++j)
        if (po[j] != kNever && pb[j] < st.live_end) {
          arow[j] += d * brow[j];
          ++a_pairs;
        }
      const auto row = static_cast<std::size_t>(bt * p.m + i);
      if (!x.row_flag[row]) {
        x.row_flag[row] = 1;
        x.rows_changed.push_back(static_cast<std::int32_t>(row));
      }
    }
  }
  if (gate) {
    for (const Event& e : std::span(eb.ev, eb.n)) {
      const std::int64_t bt = p.div_kn.div(e.index), rest = e.index - bt * p.k * p.n;
      const std::int64_t q = p.div_n.div(rest), j = rest - q * p.n;
      const Acc d = e.delta;
      for (std::int64_t i = 0; i < p.m; ++i) {
        const std::int64_t o = (bt * p.m + i) * p.n + j;
        const auto ai = static_cast<std::size_t>((bt * p.m + i) * p.k + q);
        if (out.pos[static_cast<std::size_t>(o)] == kNever || va.pos[ai] >= st.live_end) continue;
        acc[o] += d * a_t[ai];
        st.mark(p.out, o);
        ++b_pairs;
      }
      s.b[static_cast<std::size_t>(e.index)] += e.delta;
    }
    return;
  }
  // The sparse batch entries gather the step's B events by operand row (db); s.b is already B_t.
  {
    if (sparse_b) {
      const std::uint8_t* const dense = x.dense.data();
      std::int32_t* const db = x.db.data();
      std::uint8_t* const db_flag = x.db_flag.data();
      const FastDiv div_n = p.div_n, div_k = p.div_k;  // in registers, not reloaded per event
      for_each_event(eb, [&](std::int64_t index, std::int32_t delta) {
        const std::int64_t row = div_n.div(index);  // bt * K + q
        if (!dense[div_k.div(row)]) {
          db[index] += delta;
          if (!db_flag[row]) {
            db_flag[row] = 1;
            x.db_rows.push_back(static_cast<std::int32_t>(row));
          }
        }
      });
    }
  }
  b_pairs += static_cast<std::uint64_t>(n_b) * static_cast<std::uint64_t>(p.m);
  for (std::int32_t row : x.db_rows) {
    const std::int64_t bt = p.div_k.div(row), q = row - bt * p.k;
    std::int32_t* drow = x.db.data() + std::int64_t{row} * p.n;
    const std::int32_t* acol = a_t + bt * p.m * p.k + q;
    for (std::int64_t i = 0; i < p.m; ++i) {
      const std::int32_t a = acol[i * p.k];
      if (a != 0) add_scaled(kern, acc + (bt * p.m + i) * p.n, drow, a, p.n);
    }
    std::fill_n(drow, p.n, 0);
    x.db_flag[static_cast<std::size_t>(row)] = 0;
  }
  x.db_rows.clear();
  // Batch entries recomputed densely: acc = A_t B_t, which is what the product rule accumulates, exactly.
  for (std::int32_t bt : x.touched) {
    if (x.dense[static_cast<std::size_t>(bt)]) {
      const std::int32_t* a = a_t + std::int64_t{bt} * p.m * p.k;
      const std::int32_t* b = s.b.data() + std::int64_t{bt} * p.k * p.n;
      if constexpr (std::is_same_v<Acc, std::int32_t>) {
        matmul(p, x, kern, a, b, acc + std::int64_t{bt} * p.m * p.n);
      } else {
        Acc* c = acc + std::int64_t{bt} * p.m * p.n;
        for (std::int64_t i = 0; i < p.m; ++i)
          for (std::int64_t j = 0; j < p.n; ++j) {
            Acc sum = 0;
            for (std::int64_t q = 0; q < p.k; ++q) sum += Acc{a[i * p.k + q]} * b[q * p.n + j];
            c[i * p.n + j] = sum;
          }
      }
    }
  }
  // x.touched, the counts and the flags are read and cleared by step_product (mark_changed).
}

// The first step of a run from rest (not causal decoding): A_0 = B_0 = 0, so the product rule's sum is just
// a_1 b_1 = A_1 B_1, and this step's events are the operands' counts. One copy of B's counts and one dense
// product per batch entry give exactly what the event bookkeeping would have accumulated, without touching an
// event: in burst mode (one step) that bookkeeping was six times the product's arithmetic. The ledger still
// counts the events' pairs (step_product), never this kernel's work.
template <typename Acc>
void first_step_dense(const ProductParams& p, ProductState& s, ProductScratch& x, Acc* acc, Step& st) {
  const Kernels& kern = st.plan.kernels;
  const StateVector<std::int32_t>& counts_b = st.counts(p.b);
  if (const ViewMap* m = st.plan.view(p.b)) {
    gather_view_samples(*m, counts_b.data(), st.state.batch, s.b.data());
  } else {
    std::copy(counts_b.begin(), counts_b.end(), s.b.begin());
  }
  const std::int32_t* const a_t = whole_a(p, x, st);
  const std::int64_t entries = p.batch * st.state.batch;
  for (std::int64_t bt = 0; bt < entries; ++bt) {
    const std::int32_t* a = a_t + bt * p.m * p.k;
    const std::int32_t* b = s.b.data() + bt * p.k * p.n;
    Acc* c = acc + bt * p.m * p.n;
    if constexpr (std::is_same_v<Acc, std::int32_t>) {
      matmul(p, x, kern, a, b, c);
    } else {
      for (std::int64_t i = 0; i < p.m; ++i)
        for (std::int64_t j = 0; j < p.n; ++j) {
          Acc sum = 0;
          for (std::int64_t q = 0; q < p.k; ++q) sum += Acc{a[i * p.k + q]} * b[q * p.n + j];
          c[i * p.n + j] = sum;
        }
    }
  }
}

// The output rows an ungated step changed, read off the flags of the batch entries it touched (x.touched):
// rows with A events change whole; B's events changed columns, and in a batch entry with columns J the rows
// without A events change in J only. The ledger counts those (M - rows with A events) * |J| elements; the rows
// are evaluated whole. The flags and counts are cleared for the next step.
void mark_touched(const ProductParams& p, ProductScratch& x, Step& st) {
  if (x.touched.empty()) return;
  std::vector<std::int32_t>& rows = st.scratch.rows_tmp;
  rows.clear();
  std::int64_t exact = 0;
  const bool whole_rows = !st.first || st.incremental;  // a first step from rest marks its output fresh instead
  for (std::int32_t bt : x.touched) {
    std::uint8_t* const rf = x.row_flag.data() + std::int64_t{bt} * p.m;
    std::int64_t cols = 0;
    if (x.b_events[static_cast<std::size_t>(bt)] != 0) {
      std::uint8_t* const cf = x.col_flag.data() + std::int64_t{bt} * p.n;
      for (std::int64_t j = 0; j < p.n; ++j) cols += cf[j];
      std::fill_n(cf, p.n, std::uint8_t{0});
    }
    if (x.a_events[static_cast<std::size_t>(bt)] != 0 || (cols > 0 && !st.first)) {
      std::int64_t others = 0;
      for (std::int64_t i = 0; i < p.m; ++i) {
        const std::int64_t r = std::int64_t{bt} * p.m + i;
        if (rf[i]) {
          if (whole_rows) st.mark_row(p.out, r);
        } else if (cols > 0 && !st.first) {
          rows.push_back(static_cast<std::int32_t>(r));
          ++others;
        }
      }
      exact += others * cols;
      std::fill_n(rf, p.m, std::uint8_t{0});
    }
    x.a_events[static_cast<std::size_t>(bt)] = 0;
    x.b_events[static_cast<std::size_t>(bt)] = 0;
    x.dense[static_cast<std::size_t>(bt)] = 0;
  }
  x.touched.clear();
  if (!st.first) st.mark_rows_covering(p.out, rows, exact);
}

}  // namespace

void step_product(const Unit& u, Step& st) {
  const ProductParams& p = st.plan.products[static_cast<std::size_t>(u.slot)];
  ProductState& s = st.state.products[static_cast<std::size_t>(u.slot)];
  ProductScratch& x = st.scratch.products[static_cast<std::size_t>(u.slot)];
  const ValueInfo& va = st.info(p.a);
  const ValueInfo& vb = st.info(p.b);
  std::uint64_t a_pairs = 0, b_pairs = 0;
  std::size_t n_a = 0, n_b = 0;
  if (st.first && !st.incremental) {
    if (p.acc64)
      first_step_dense(p, s, x, s.acc64.data(), st);
    else
      first_step_dense(p, s, x, s.acc32.data(), st);
    // The events the operands saw (a view's: those of the elements it holds).
    const ViewMap* view_a = st.plan.view(p.a);
    const ViewMap* view_b = st.plan.view(p.b);
    const EventList& ea = st.events_unread(p.a);  // only counted: a lazy list stays lazy
    const EventList& eb = st.events_unread(p.b);
    n_a = view_a ? view_event_count(*view_a, ea) : ea.size();
    n_b = view_b ? view_event_count(*view_b, eb) : eb.size();
    a_pairs = static_cast<std::uint64_t>(n_a) * static_cast<std::uint64_t>(p.n);
    b_pairs = static_cast<std::uint64_t>(n_b) * static_cast<std::uint64_t>(p.m);
  } else {
    const ValueInfo& out = st.info(p.out);
    Operand oa, ob;
    if (st.incremental && !out.pos.empty() && !va.pos.empty() && !vb.pos.empty()) {  // gated (apply_events)
      const EventList& ea = events_as_read(st, p.a, x.a_view_events);
      const EventList& eb = events_as_read(st, p.b, x.b_view_events);
      oa = {ea.data(), ea.size()};
      ob = {eb.data(), eb.size()};
    } else {
      oa = operand(st, p.a);
      ob = operand(st, p.b);
    }
    if (p.acc64)
      apply_events(p, s, x, s.acc64.data(), st, oa, ob, n_a, n_b, a_pairs, b_pairs);
    else
      apply_events(p, s, x, s.acc32.data(), st, oa, ob, n_a, n_b, a_pairs, b_pairs);
  }
  Counters& c = st.counters(u);
  c.acs[width_slot(vb.bits)] += a_pairs;
  c.acs[width_slot(va.bits)] += b_pairs;
  const std::uint64_t operand_reads = a_pairs + b_pairs;
  c.bytes_read[mem(MemClass::membrane)] += operand_reads * (kCountBytes + kAccBytes);
  c.bytes_written[mem(MemClass::membrane)] += operand_reads * kAccBytes;
  c.bytes_read[mem(MemClass::spikes)] += n_a * event_bytes(st.mode, va.bits) + n_b * event_bytes(st.mode, vb.bits);
  if (st.first) {
    st.mark_fresh(p.out);
    if (st.incremental)
      for (std::int32_t r : x.rows_changed) st.mark_row(p.out, r);
  } else {
    for (std::int32_t r : x.rows_changed) st.mark_row(p.out, r);
  }
  for (std::int32_t r : x.rows_changed) x.row_flag[static_cast<std::size_t>(r)] = 0;
  x.rows_changed.clear();
  mark_touched(p, x, st);
}

}  // namespace snnconv::snn
