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
  const ValueInfo& out = st.info(p.out);
  ValueScratch& m = st.marks(p.out);
  Counters& c = st.counters(u);
  // Causal decoding and later steps read the events; a whole run's first step only counts them (a lazy list
  // stays lazy).
  const bool read = st.gated(out) || !st.first;
  const EventList& ea = read ? st.events(p.a) : st.events_unread(p.a);
  const EventList& eb = read ? st.events(p.b) : st.events_unread(p.b);
  c.bytes_read[mem(MemClass::spikes)] += ea.size() * event_bytes(st.mode, a.bits) + eb.size() * event_bytes(st.mode, b.bits);
  if (st.first) st.mark_fresh(p.out);
  const std::int64_t w = out.width;
  if (st.gated(out)) {  // causal decoding: element by element, live ones only
    for (const Event& e : ea) st.mark(p.out, e.index);
    for (const Event& e : eb) st.mark(p.out, e.index);
    std::uint64_t changed = m.rows.size() * static_cast<std::uint64_t>(w);
    for (std::int32_t i : m.elems) changed += m.row_flag[static_cast<std::size_t>(i / w)] ? 0 : 1;
    c.dense_ops += changed;  // one float add per changed residual element
    return;
  }
  if (!st.first) {
    // The distinct elements with an event (the ledger's count), then their rows evaluated whole.
    std::vector<std::int32_t>& rows = st.scratch.rows_tmp;
    rows.clear();
    const FastDiv div_w(w);
    // A population emits at most one event per neuron and step, so only an element with events on both
    // operands is counted twice: a's elements are flagged, b's looked up, and a's flags cleared after. Local
    // pointers (the byte stores could alias the vectors' internals).
    std::uint8_t* const elem_flag = m.elem_flag.data();
    std::uint8_t* const row_flag = m.row_flag.data();
    auto exact = static_cast<std::int64_t>(ea.size() + eb.size());
    for (const Event& e : ea) elem_flag[e.index] = 1;
    for (const Event& e : eb) exact -= elem_flag[e.index];
    for (const Event& e : ea) elem_flag[e.index] = 0;
    // The rows of both operands' events, in increasing order, flagged without a branch per event (provisional:
    // set again by mark_rows_covering).
    flag_event_rows(ea, div_w, row_flag);
    flag_event_rows(eb, div_w, row_flag);
    flagged_rows(row_flag, m.row_flag.size(), rows);
    for (std::int32_t r : rows) row_flag[r] = 0;
    st.mark_rows_covering(p.out, rows, exact);
  }
  c.dense_ops += m.rows.size() * static_cast<std::uint64_t>(w) + static_cast<std::uint64_t>(m.ledger_extra);
}

}  // namespace snnconv::snn
