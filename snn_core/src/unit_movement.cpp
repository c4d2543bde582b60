// Data movement of spikes and Concat of populations (unit_movement.hpp): events forwarded through index maps,
// sample by sample (element i of sample s is s * numel + i on both sides).
#include <algorithm>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "units.hpp"

namespace snnconv::snn {
namespace {

// Inverts the output -> input source map (per sample, `n_in` input elements) into input -> outputs fan lists,
// and into one destination per input when no input feeds two outputs.
void set_source_map(MovementParams& p, const std::vector<std::int64_t>& src, std::int64_t n_in) {
  p.fan_begin.assign(static_cast<std::size_t>(n_in) + 1, 0);
  for (std::int64_t s : src) ++p.fan_begin[static_cast<std::size_t>(s) + 1];
  for (std::size_t i = 1; i < p.fan_begin.size(); ++i) p.fan_begin[i] += p.fan_begin[i - 1];
  p.fan.assign(src.size(), 0);
  std::vector<std::int64_t> fill(p.fan_begin.begin(), p.fan_begin.end() - 1);
  for (std::size_t o = 0; o < src.size(); ++o)
    p.fan[static_cast<std::size_t>(fill[static_cast<std::size_t>(src[o])]++)] = static_cast<std::int32_t>(o);
  p.n_in = n_in;
  p.n_out = static_cast<std::int64_t>(src.size());
  bool single = true;
  for (std::size_t i = 0; i + 1 < p.fan_begin.size(); ++i) single = single && p.fan_begin[i + 1] - p.fan_begin[i] <= 1;
  p.dest.clear();
  if (single) {
    p.dest.assign(static_cast<std::size_t>(n_in), -1);
    for (std::size_t i = 0; i + 1 < p.fan_begin.size(); ++i)
      if (p.fan_begin[i + 1] > p.fan_begin[i]) p.dest[i] = p.fan[static_cast<std::size_t>(p.fan_begin[i])];
  }
}

// The output -> input source map back from the fan lists.
std::vector<std::int64_t> source_map(const MovementParams& p) {
  std::vector<std::int64_t> src(static_cast<std::size_t>(p.n_out), 0);
  for (std::size_t i = 0; i + 1 < p.fan_begin.size(); ++i)
    for (std::int64_t f = p.fan_begin[i]; f < p.fan_begin[i + 1]; ++f)
      src[static_cast<std::size_t>(p.fan[static_cast<std::size_t>(f)])] = static_cast<std::int64_t>(i);
  return src;
}

}  // namespace

void view_events(const ViewMap& m, const EventList& in, EventList& out, int samples) {
  Event* __restrict o = out.tail(in.size());
  const std::size_t written = for_each_view_event(m, in.data(), in.size(), samples, [&o](std::int64_t index, std::int32_t delta) {
    *o++ = {static_cast<std::int32_t>(index), delta};
  });
  out.advance(written);
}

std::size_t view_event_count(const ViewMap& m, const EventList& in) {
  if (m.whole) return in.size();
  std::size_t n = 0;
  if (in.lazy()) {  // the nonzero counts of the elements the view holds
    const std::int32_t* const counts = in.lazy_counts();
    const auto storage = static_cast<std::size_t>(m.n_storage);
    for (std::size_t i0 = 0; i0 < in.lazy_elems(); i0 += storage)
      for (std::size_t i = 0; i < storage && i0 + i < in.lazy_elems(); ++i)
        n += m.dest[i] >= 0 && counts[i0 + i] != 0 ? 1 : 0;
    return n;
  }
  for (const Event& e : in) n += m.dest[static_cast<std::size_t>(m.div_storage.mod(e.index))] >= 0 ? 1 : 0;
  return n;
}

void gather_view(const ViewMap& m, const std::int32_t* storage, std::int64_t lo, std::int64_t hi, std::int32_t* out) {
  const std::int64_t sample = lo / m.n_view;
  const std::int32_t* const from = storage + sample * m.n_storage;
  const std::int32_t* const map = m.src.data() + (lo - sample * m.n_view);
  const std::int64_t run = m.run;
  if (run > 1 && lo % run == 0 && hi % run == 0) {  // whole rows, each a contiguous copy (the heads' split)
    for (std::int64_t i = 0; i < hi - lo; i += run) {
      const std::int32_t* const row = from + map[i];
      std::int32_t* const to = out + lo + i;
      for (std::int64_t j = 0; j < run; ++j) to[j] = row[j];
    }
    return;
  }
  for (std::int64_t i = 0; i < hi - lo; ++i) out[lo + i] = from[map[i]];
}

void gather_view_samples(const ViewMap& m, const std::int32_t* storage, std::int64_t samples, std::int32_t* out) {
  for (std::int64_t s = 0; s < samples; ++s) gather_view(m, storage, s * m.n_view, (s + 1) * m.n_view, out);
}

const EventList& events_as_read(Step& st, int v, EventList& tmp) {
  const ViewMap* m = st.plan.view(v);
  if (!m) return st.events(v);
  tmp.clear();
  view_events(*m, st.events(v), tmp, st.state.batch);
  return tmp;
}

void fold_movements(Plan& plan) {
  const Graph& g = *plan.graph;
  const std::size_t nv = plan.values.size();
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> readers(nv);  // (unit, operand)
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui) {
    const Node& nd = g.node(NodeId(static_cast<std::uint32_t>(plan.units[ui].row)));
    for (std::size_t k = 0; k < nd.inputs.size(); ++k)
      if (nd.inputs[k].valid()) readers[nd.inputs[k].index].emplace_back(ui, k);
  }
  std::vector<std::uint8_t> is_output(nv, 0);
  for (ValueId o : g.outputs()) is_output[o.index] = 1;
  // Whether every reader of spiking value v can read it through a map: a product (either operand: it splits
  // event indices and gathers counts), a synapse's input, a permuting movement (it composes the map); a
  // same-order movement passes the question on to its own readers. Graph outputs, residual Adds, differential
  // units and Concat read the population's own layout (Engine::counts and recorded rasters translate a view).
  auto readable = [&](auto&& self, std::size_t v) -> bool {
    if (is_output[v]) return false;
    for (const auto& [ui, k] : readers[v]) {
      const Unit& u = plan.units[ui];
      if (u.kind == UnitKind::product) continue;
      if (u.kind == UnitKind::synapse && k == 0) continue;
      if (u.kind == UnitKind::movement) {
        const MovementParams& m = plan.movements[static_cast<std::size_t>(u.slot)];
        if (!m.same_order) continue;
        if (!self(self, static_cast<std::size_t>(u.out))) return false;
        continue;
      }
      return false;
    }
    return true;
  };
  for (const Unit& u : plan.units) {
    if (u.kind != UnitKind::movement) continue;
    MovementParams& p = plan.movements[static_cast<std::size_t>(u.slot)];
    ValueInfo& out = plan.values[static_cast<std::size_t>(p.out)];
    const ValueInfo& in = plan.values[static_cast<std::size_t>(p.in)];
    if (p.same_order) {  // the same elements in the same order: whatever the input reads, through its map
      out.storage = in.storage;
      out.view = in.view;
      continue;
    }
    if (in.view >= 0) {  // a chain: read the source population through both maps at once
      const ViewMap& v = plan.views[static_cast<std::size_t>(in.view)];
      std::vector<std::int64_t> src = source_map(p);
      for (std::int64_t& s : src) s = v.src[static_cast<std::size_t>(s)];
      p.in = in.storage;
      set_source_map(p, src, v.n_storage);
    }
    if (p.dest.empty() || !readable(readable, static_cast<std::size_t>(p.out))) continue;
    ViewMap m;
    const std::vector<std::int64_t> src = source_map(p);
    m.src.assign(src.begin(), src.end());
    m.dest = p.dest;
    m.n_view = p.n_out;
    m.n_storage = p.n_in;
    m.div_storage = FastDiv(p.n_in);
    m.whole = p.n_in == p.n_out;  // injective, so every storage element is in the view
    const std::int64_t width = out.width;
    bool rows = width > 1 && m.n_view % width == 0;
    for (std::int64_t i = 0; rows && i < m.n_view; ++i)
      rows = i % width == 0 || m.src[static_cast<std::size_t>(i)] == m.src[static_cast<std::size_t>(i - 1)] + 1;
    m.run = rows ? width : 1;
    out.storage = plan.values[static_cast<std::size_t>(p.in)].storage;
    out.view = static_cast<int>(plan.views.size());
    plan.views.push_back(std::move(m));
    p.folded = true;
  }
}

MovementParams plan_movement(const PlanBuilder& b, NodeId id) {
  const Graph& g = b.g;
  const Node& nd = g.node(id);
  const ValueId ov = nd.outputs[0];
  const ValueInfo& in = b.value(nd.inputs[0]);
  ValueInfo& out = b.value(ov);
  MovementParams p;
  p.in = static_cast<int>(nd.inputs[0].index);
  p.out = static_cast<int>(ov.index);
  out.spiking = true;
  out.scale = in.scale;
  out.bits = in.bits;
  out.max_abs_count = in.max_abs_count;
  p.same_order = nd.kind == OpKind::Reshape || nd.kind == OpKind::Identity || nd.kind == OpKind::Flatten ||
                 nd.kind == OpKind::Squeeze || nd.kind == OpKind::Unsqueeze;
  if (p.same_order) {
    if (in.numel != out.numel) plan_fail(g, id, ov, "data movement changes the element count");
    out.storage = in.storage;  // the same counts and events, element for element
    return p;
  }
  const std::vector<std::int64_t> src = ann::movement_source_map(g, id);
  if (static_cast<std::int64_t>(src.size()) != out.numel) plan_fail(g, id, ov, "data movement map has the wrong size");
  set_source_map(p, src, in.numel);
  return p;
}

ConcatParams plan_concat(const PlanBuilder& b, NodeId id) {
  const Graph& g = b.g;
  const Node& nd = g.node(id);
  const ValueId ov = nd.outputs[0];
  ValueInfo& out = b.value(ov);
  // Run the reference Concat on disjoint index ranges: each output element names its source.
  std::vector<Tensor> idx;
  std::vector<std::int64_t> offset;
  std::int64_t next = 0;
  const ValueInfo& first = b.value(nd.inputs[0]);
  for (ValueId v : nd.inputs) {
    const ValueInfo& in = b.value(v);
    if (!in.spiking) plan_fail(g, id, v, "every Concat operand must be a spiking population", true);
    if (in.scale != first.scale) plan_fail(g, id, v, "Concat operands must share one threshold", true);
    std::vector<std::int64_t> ix(static_cast<std::size_t>(in.numel));
    for (std::int64_t i = 0; i < in.numel; ++i) ix[static_cast<std::size_t>(i)] = next + i;
    offset.push_back(next);
    next += in.numel;
    idx.push_back(Tensor::from_vector<std::int64_t>(in.shape, ix));
  }
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : idx) ptrs.push_back(&t);
  const std::vector<std::int64_t> src = ann::evaluate_reference(g, id, ptrs).at(0).to_i64();
  if (static_cast<std::int64_t>(src.size()) != out.numel) plan_fail(g, id, ov, "Concat map has the wrong size");
  ConcatParams p;
  p.out = static_cast<int>(ov.index);
  p.dest.resize(nd.inputs.size());
  for (std::size_t k = 0; k < nd.inputs.size(); ++k) {
    p.ins.push_back(static_cast<int>(nd.inputs[k].index));
    p.dest[k].assign(static_cast<std::size_t>(b.value(nd.inputs[k]).numel), -1);
  }
  for (std::size_t o = 0; o < src.size(); ++o) {
    const auto k =
        static_cast<std::size_t>(std::upper_bound(offset.begin(), offset.end(), src[o]) - offset.begin() - 1);
    p.dest[k][static_cast<std::size_t>(src[o] - offset[k])] = static_cast<std::int32_t>(o);
  }
  out.spiking = true;
  out.scale = first.scale;
  out.bits = first.bits;
  for (ValueId v : nd.inputs) out.max_abs_count = std::max(out.max_abs_count, b.value(v).max_abs_count);
  return p;
}

void step_movement(const Unit& u, Step& st) {
  const MovementParams& p = st.plan.movements[static_cast<std::size_t>(u.slot)];
  if (p.same_order || p.folded) return;  // shares its source's counts and events, or is read through its map
  std::int32_t* count = st.counts(p.out).data();
  EventList& out = st.events(p.out);
  const EventList& in = st.events(p.in);
  // Events come grouped by sample (each unit emits a sample's events together): the sample and its offsets
  // change only at a group's boundary.
  std::int64_t sample = -1, lo = 0, hi = 0, out_base = 0;
  auto enter = [&](std::int64_t index) {
    sample = index / p.n_in;
    lo = sample * p.n_in;
    hi = lo + p.n_in;
    out_base = sample * p.n_out;
  };
  if (!p.dest.empty()) {
    Event* o = out.tail(in.size());
    std::size_t written = 0;
    const std::int32_t* const dest = p.dest.data();
    for (const Event& e : in) {
      // The event is read once: the count's store could alias it and would force a reload of its delta.
      const Event ev = e;
      if (ev.index < lo || ev.index >= hi) enter(ev.index);
      const std::int32_t d = dest[ev.index - lo];
      if (d < 0) continue;
      const auto oi = static_cast<std::int32_t>(out_base + d);
      count[oi] += ev.delta;
      o[written++] = {oi, ev.delta};
    }
    out.advance(written);
    return;
  }
  for (const Event& e : in) {
    if (e.index < lo || e.index >= hi) enter(e.index);
    const std::int64_t i = e.index - lo;
    for (std::int64_t f = p.fan_begin[static_cast<std::size_t>(i)]; f < p.fan_begin[static_cast<std::size_t>(i) + 1]; ++f) {
      const auto oi = static_cast<std::int32_t>(out_base + p.fan[static_cast<std::size_t>(f)]);
      count[oi] += e.delta;
      out.push_back({oi, e.delta});
    }
  }
}

void step_concat(const Unit& u, Step& st) {
  const ConcatParams& p = st.plan.concats[static_cast<std::size_t>(u.slot)];
  const std::int64_t n_out = st.info(p.out).numel;
  StateVector<std::int32_t>& count = st.counts(p.out);
  EventList& out = st.events(p.out);
  for (std::size_t k = 0; k < p.ins.size(); ++k) {
    const std::int64_t n_in = st.info(p.ins[k]).numel;
    for (const Event& e : st.events(p.ins[k])) {
      const std::int64_t s = e.index / n_in, i = e.index % n_in;
      const auto o = static_cast<std::int32_t>(s * n_out + p.dest[k][static_cast<std::size_t>(i)]);
      count[static_cast<std::size_t>(o)] += e.delta;
      out.push_back({o, e.delta});
    }
  }
}

}  // namespace snnconv::snn
