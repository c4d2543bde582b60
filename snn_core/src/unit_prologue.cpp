// The dense prologue (unit_prologue.hpp): the reference kernel (or the ordered Conv) once per sample at step 1.
#include <algorithm>
#include <cstring>

#include "snnconv/ann_baseline/node_counts.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "units.hpp"

namespace snnconv::snn {

// c * num / den field by field (integer, rounded down): the share of a prologue's work that one incremental
// call does.
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
  r.link_events = f(c.link_events);
  r.link_bytes = f(c.link_bytes);
  return r;
}

PrologueParams plan_prologue(const PlanBuilder& b, NodeId id) {
  const Graph& g = b.g;
  const Node& nd = g.node(id);
  for (std::size_t k = 1; k < nd.outputs.size(); ++k) plan_fail(g, id, nd.outputs[k], "a prologue node must have one output", true);
  PrologueParams p;
  p.node = id;
  p.out = static_cast<int>(nd.outputs[0].index);
  p.counts = ann::node_counts(g, id);
  p.conv = plan_ordered_conv(g, id);
  b.value(nd.outputs[0]).fixed = true;
  return p;
}

void step_prologue(const Unit& u, Step& st) {
  if (!st.first) return;  // runs once
  const PrologueParams& p = st.plan.prologues[static_cast<std::size_t>(u.slot)];
  PrologueState& s = st.state.prologues[static_cast<std::size_t>(u.slot)];
  const Graph& g = *st.plan.graph;
  const Node& nd = g.node(p.node);
  const int batch = st.state.batch;
  s.out.resize(static_cast<std::size_t>(batch));
  std::vector<const Tensor*> ins;
  for (int sample = 0; sample < batch; ++sample) {
    ins.clear();
    for (ValueId v : nd.inputs) {
      if (!v.valid()) {
        ins.push_back(nullptr);
      } else if (g.value(v).constant) {
        ins.push_back(&*g.value(v).constant);
      } else {
        const ValueInfo& vi = st.info(static_cast<int>(v.index));
        if (vi.producer < 0) {
          ins.push_back((*st.inputs)[static_cast<std::size_t>(sample)][static_cast<std::size_t>(vi.input)]);
        } else {
          const Unit& pu = st.plan.units[static_cast<std::size_t>(vi.producer)];
          ins.push_back(&st.state.prologues[static_cast<std::size_t>(pu.slot)].out[static_cast<std::size_t>(sample)]);
        }
      }
    }
    Tensor before = std::move(s.out[static_cast<std::size_t>(sample)]);
    std::optional<Tensor> fast;
    if (p.conv && ins[0]) fast = run_ordered_conv(*p.conv, *ins[0]);
    s.out[static_cast<std::size_t>(sample)] = fast ? std::move(*fast) : std::move(ann::evaluate_reference(g, p.node, ins).at(0));
    const Tensor& now = s.out[static_cast<std::size_t>(sample)];
    if (now.dtype() != DType::f32) continue;
    if (!st.incremental || st.fresh_lo == 0) {
      const std::int64_t n = st.info(p.out).numel, w = st.info(p.out).width;
      if (st.gated(st.info(p.out))) {
        for (std::int64_t i = 0; i < n; ++i) st.mark(p.out, i);  // live elements only
      } else {
        for (std::int64_t r = sample * (n / w); r < (sample + 1) * (n / w); ++r) st.mark_row(p.out, r);
      }
    } else {
      // extend(): the new positions, and any earlier live element the new inputs changed (none when the
      // prologue is causal, as a token and position lookup is).
      const float* a = now.data<float>();
      const float* b = before.data<float>();
      for (std::int64_t i = 0; i < st.info(p.out).numel; ++i)
        if (std::memcmp(a + i, b + i, sizeof(float)) != 0) st.mark(p.out, i);
      st.mark_fresh(p.out);
    }
  }
  Counters& c = st.counters(u);
  if (!st.incremental) {
    for (int sample = 0; sample < batch; ++sample) c += p.counts;
  } else {  // priced per position: the window's counts times the share of elements that became live
    c += scaled(p.counts, static_cast<std::uint64_t>(st.fresh_count(p.out)),
                static_cast<std::uint64_t>(std::max<std::int64_t>(1, st.info(p.out).numel)));
  }
}

}  // namespace snnconv::snn
