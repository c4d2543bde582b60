// The ST-BIF neuron population (unit_neuron.hpp): in the integer domain, target = quantize_level(f(X)) is the
// level its membrane s/2 + f(X) - count*s points at; the neuron steps its count toward the target, one +-1
// spike per step (strict) or the whole difference as one multi-bit event (burst).
#include <algorithm>

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
  return n * (4 + 4 + 1);  // target, active list, flag
}

void allocate(const NeuronParams& p, NeuronState& s, NeuronScratch& x, const Plan& plan, int batch) {
  const auto n = static_cast<std::size_t>(plan.value(p.out).numel) * static_cast<std::size_t>(batch);
  s.target.assign(n, 0);
  s.active_flag.assign(n, 0);
  s.active.clear();
  s.active.reserve(n);
  const auto w = static_cast<std::size_t>(plan.value(p.in).width);
  x.current.assign(w, 0.0f);
  x.level.assign(w, 0);
}

void reset(NeuronState& s) {
  std::fill(s.target.begin(), s.target.end(), 0);
  std::fill(s.active_flag.begin(), s.active_flag.end(), 0);
  s.active.clear();
}

void step_neuron(const Unit& u, Step& st) {
  const NeuronParams& p = st.plan.neurons[static_cast<std::size_t>(u.slot)];
  NeuronState& s = st.state.neurons[static_cast<std::size_t>(u.slot)];
  NeuronScratch& x = st.scratch.neurons[static_cast<std::size_t>(u.slot)];
  const ValueInfo& in = st.info(p.in);
  const ValueScratch& m = st.marks(p.in);
  std::vector<std::int32_t>& count = st.counts(p.out);
  std::vector<Event>& events = st.events(p.out);
  Counters& c = st.counters(u);
  const std::int64_t w = in.width;
  std::uint64_t evaluated = 0;
  auto settle = [&](std::int64_t i, std::int32_t level) {
    const auto k = static_cast<std::size_t>(i);
    s.target[k] = level;
    if (level != count[k] && !s.active_flag[k]) {
      s.active_flag[k] = 1;
      s.active.push_back(static_cast<std::int32_t>(i));
    }
  };
  // Rows marked whole: the current of the row at once, then its levels.
  for (std::int32_t r : m.rows) {
    current_row(st, p.in, r, x.current.data());
    st.plan.kernels.quantize_row(x.current.data(), w, p.act, p.s, p.n_min, p.n_max, x.level.data());
    const std::int64_t base = std::int64_t{r} * w;
    for (std::int64_t j = 0; j < w; ++j) settle(base + j, x.level[static_cast<std::size_t>(j)]);
    evaluated += static_cast<std::uint64_t>(w);
  }
  for (std::int32_t i : m.elems) {
    if (m.row_flag[static_cast<std::size_t>(i / w)]) continue;  // evaluated with its row
    settle(i, ann::quantize_level(current_at(st, p.in, i), p.act, p.s, p.n_min, p.n_max));
    ++evaluated;
  }
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
  const bool burst = st.mode == FireMode::burst;
  const std::int64_t numel = st.info(p.out).numel;
  const std::size_t first_event = events.size();
  std::size_t keep = 0;
  for (std::int32_t i : s.active) {
    const auto k = static_cast<std::size_t>(i);
    const std::int32_t diff = s.target[k] - count[k];
    if (diff == 0) {  // the target moved back to the count: nothing to fire
      s.active_flag[k] = 0;
      continue;
    }
    const std::int32_t delta = burst ? diff : (diff > 0 ? 1 : -1);
    count[k] += delta;
    events.push_back({i, delta});
    if (delta > 0)
      c.spikes_pos += static_cast<std::uint64_t>(delta);
    else
      c.spikes_neg += static_cast<std::uint64_t>(-delta);
    const auto sample = static_cast<std::size_t>(i / numel);
    st.scratch.fired[sample] = 1;
    if (count[k] != s.target[k]) {
      s.active[keep++] = i;
      st.scratch.pending[sample] = 1;
    } else {
      s.active_flag[k] = 0;
    }
  }
  s.active.resize(keep);
  const auto fired = static_cast<std::uint64_t>(events.size() - first_event);
  if (burst) c.burst_events += fired;
  c.neuron_updates += fired;
  c.bytes_read[mem(MemClass::membrane)] += fired * 2 * kCountBytes;
  c.bytes_written[mem(MemClass::membrane)] += fired * kCountBytes;
  c.bytes_written[mem(MemClass::spikes)] += fired * event_bytes(st.mode, st.info(p.out).bits);
}

}  // namespace snnconv::snn
