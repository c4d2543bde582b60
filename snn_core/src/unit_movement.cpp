// Data movement of spikes and Concat of populations (unit_movement.hpp): events forwarded through index maps,
// sample by sample (element i of sample s is s * numel + i on both sides).
#include <algorithm>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "units.hpp"

namespace snnconv::snn {

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
  // Invert the output -> input source map into input -> outputs fan lists.
  const std::vector<std::int64_t> src = ann::movement_source_map(g, id);
  if (static_cast<std::int64_t>(src.size()) != out.numel) plan_fail(g, id, ov, "data movement map has the wrong size");
  p.fan_begin.assign(static_cast<std::size_t>(in.numel) + 1, 0);
  for (std::int64_t s : src) ++p.fan_begin[static_cast<std::size_t>(s) + 1];
  for (std::size_t i = 1; i < p.fan_begin.size(); ++i) p.fan_begin[i] += p.fan_begin[i - 1];
  p.fan.assign(src.size(), 0);
  std::vector<std::int64_t> fill(p.fan_begin.begin(), p.fan_begin.end() - 1);
  for (std::size_t o = 0; o < src.size(); ++o)
    p.fan[static_cast<std::size_t>(fill[static_cast<std::size_t>(src[o])]++)] = static_cast<std::int32_t>(o);
  p.n_in = in.numel;
  p.n_out = out.numel;
  bool single = true;
  for (std::size_t i = 0; i + 1 < p.fan_begin.size(); ++i) single = single && p.fan_begin[i + 1] - p.fan_begin[i] <= 1;
  if (single) {
    p.dest.assign(static_cast<std::size_t>(in.numel), -1);
    for (std::size_t i = 0; i + 1 < p.fan_begin.size(); ++i)
      if (p.fan_begin[i + 1] > p.fan_begin[i]) p.dest[i] = p.fan[static_cast<std::size_t>(p.fan_begin[i])];
  }
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
  if (p.same_order) return;  // shares its source's counts and events
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
