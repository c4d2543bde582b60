// Residual Add (unit_add.hpp): marks the elements whose operands had events; the neuron that follows reads
// ann::sum_value of the two current counts.
#include "units.hpp"

namespace snnconv::snn {

AddParams plan_add(const PlanBuilder& b, NodeId id) {
  const ValueInfo& a = b.spiking_in(id, 0);
  const ValueInfo& bv = b.spiking_in(id, 1);
  const Node& nd = b.g.node(id);
  const ValueInfo& out = b.value(nd.outputs[0]);
  if (a.shape != bv.shape || a.shape != out.shape) plan_fail(b.g, id, {}, "residual Add needs operands of one shape", true);
  AddParams p;
  p.a = static_cast<int>(nd.inputs[0].index);
  p.b = static_cast<int>(nd.inputs[1].index);
  p.out = static_cast<int>(nd.outputs[0].index);
  p.s_a = a.scale;
  p.s_b = bv.scale;
  return p;
}

void step_add(const Unit& u, Step& st) {
  const AddParams& p = st.plan.adds[static_cast<std::size_t>(u.slot)];
  const ValueInfo& a = st.info(p.a);
  const ValueInfo& b = st.info(p.b);
  if (st.first) st.mark_fresh(p.out);
  for (const Event& e : st.events(p.a)) st.mark(p.out, e.index);
  for (const Event& e : st.events(p.b)) st.mark(p.out, e.index);
  Counters& c = st.counters(u);
  // One float add per changed residual element.
  const ValueScratch& m = st.marks(p.out);
  const std::int64_t w = st.info(p.out).width;
  std::uint64_t changed = m.rows.size() * static_cast<std::uint64_t>(w);
  for (std::int32_t i : m.elems) changed += m.row_flag[static_cast<std::size_t>(i / w)] ? 0 : 1;
  c.dense_ops += changed;
  c.bytes_read[mem(MemClass::spikes)] += st.events(p.a).size() * event_bytes(st.mode, a.bits) +
                                         st.events(p.b).size() * event_bytes(st.mode, b.bits);
}

}  // namespace snnconv::snn
