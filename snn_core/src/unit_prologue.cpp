// The dense prologue (unit_prologue.hpp): the reference kernel (or the ordered Conv) once per sample at step 1.
#include <algorithm>
#include <cstring>

#include "snnconv/ann_baseline/node_counts.hpp"
#include "snnconv/ann_baseline/qann.hpp"
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

namespace {

// For data movement or Concat whose data operands and output are f32 and whose other operands are constants:
// the source of every output element, from the reference kernel run once on disjoint index ranges.
void plan_copy_map(const Graph& g, NodeId id, PrologueParams& p) {
  const Node& nd = g.node(id);
  const bool movement = ann::is_data_movement(nd.kind);
  if (!movement && nd.kind != OpKind::Concat) return;
  if (g.value(nd.outputs[0]).type.dtype != DType::f32) return;
  std::vector<Tensor> idx;
  std::vector<const Tensor*> ins;
  std::vector<std::int64_t> offset;
  std::int64_t next = 0;
  for (std::size_t k = 0; k < nd.inputs.size(); ++k) {
    const ValueId v = nd.inputs[k];
    const bool data = k == 0 || !movement;
    if (!data) {
      if (v.valid() && !g.value(v).constant) return;  // indices or shapes that change per sample (a token lookup)
      continue;
    }
    const Value& val = g.value(v);
    if (!v.valid() || val.type.dtype != DType::f32 || !val.type.is_static()) return;
    const Shape shape = val.type.static_shape();
    const std::int64_t n = checked_numel(shape, val.name);
    std::vector<std::int64_t> ix(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) ix[static_cast<std::size_t>(i)] = next + i;
    p.data_inputs.push_back(k);
    offset.push_back(next);
    next += n;
    idx.push_back(Tensor::from_vector<std::int64_t>(shape, ix));
  }
  if (next >= (std::int64_t{1} << 31) || p.data_inputs.size() > 255) return;
  std::size_t d = 0;
  for (std::size_t k = 0; k < nd.inputs.size(); ++k) {
    const bool data = d < p.data_inputs.size() && p.data_inputs[d] == k;
    ins.push_back(data ? &idx[d++] : (nd.inputs[k].valid() ? &*g.value(nd.inputs[k]).constant : nullptr));
  }
  const std::vector<std::int64_t> src = ann::evaluate_reference(g, id, ins).at(0).to_i64();
  p.src_elem.resize(src.size());
  if (p.data_inputs.size() > 1) p.src_input.resize(src.size());
  for (std::size_t o = 0; o < src.size(); ++o) {
    const auto k = static_cast<std::size_t>(std::upper_bound(offset.begin(), offset.end(), src[o]) - offset.begin() - 1);
    p.src_elem[o] = static_cast<std::int32_t>(src[o] - offset[k]);
    if (!p.src_input.empty()) p.src_input[o] = static_cast<std::uint8_t>(k);
  }
}

// Output element -> element of an operand of shape `in` broadcast (numpy rules, right-aligned) to `out`;
// empty when the shapes are equal.
std::vector<std::int32_t> broadcast_map(const Shape& in, const Shape& out) {
  if (in == out) return {};
  const std::int64_t n = checked_numel(out, "broadcast");
  std::vector<std::int64_t> stride(out.size(), 0);  // per output axis: the operand's stride (0: broadcast)
  std::int64_t s = 1;
  for (std::size_t k = 0; k < in.size(); ++k) {
    const std::size_t ai = in.size() - 1 - k, ao = out.size() - 1 - k;
    stride[ao] = in[ai] == 1 ? 0 : s;
    s *= in[ai];
  }
  std::vector<std::int32_t> map(static_cast<std::size_t>(n));
  std::vector<std::int64_t> idx(out.size(), 0);
  std::int64_t at = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    map[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(at);
    for (std::size_t k = out.size(); k-- > 0;) {  // odometer over the output's axes
      at += stride[k];
      if (++idx[k] < out[k]) break;
      at -= stride[k] * out[k];
      idx[k] = 0;
    }
  }
  return map;
}

void plan_add_f32(const Graph& g, const Node& nd, PrologueParams& p) {
  if (nd.kind != OpKind::Add || nd.inputs.size() != 2 || !nd.inputs[0].valid() || !nd.inputs[1].valid()) return;
  const Value& a = g.value(nd.inputs[0]);
  const Value& b = g.value(nd.inputs[1]);
  const Value& o = g.value(nd.outputs[0]);
  for (const Value* v : {&a, &b, &o})
    if (v->type.dtype != DType::f32 || !v->type.is_static()) return;
  const Shape so = o.type.static_shape(), sa = a.type.static_shape(), sb = b.type.static_shape();
  if (sa.size() > so.size() || sb.size() > so.size() || checked_numel(so, o.name) >= (std::int64_t{1} << 31)) return;
  for (const Shape* s : {&sa, &sb})
    for (std::size_t k = 0; k < s->size(); ++k) {
      const std::int64_t d = (*s)[s->size() - 1 - k], e = so[so.size() - 1 - k];
      if (d != e && d != 1) return;
    }
  p.add_a = broadcast_map(sa, so);
  p.add_b = broadcast_map(sb, so);
  p.add_f32 = true;
}

Tensor add_by_map(const PrologueParams& p, const Shape& shape, const Tensor& a, const Tensor& b) {
  Tensor out(DType::f32, shape);
  float* const o = out.data<float>();
  const float* const x = a.data<float>();
  const float* const y = b.data<float>();
  const std::int64_t n = out.numel();
  const std::int32_t* const ma = p.add_a.empty() ? nullptr : p.add_a.data();
  const std::int32_t* const mb = p.add_b.empty() ? nullptr : p.add_b.data();
  for (std::int64_t i = 0; i < n; ++i) o[i] = x[ma ? ma[i] : i] + y[mb ? mb[i] : i];
  return out;
}

Tensor copy_by_map(const PrologueParams& p, const Shape& shape, const std::vector<const Tensor*>& ins) {
  Tensor out(DType::f32, shape);
  float* const o = out.data<float>();
  const auto n = static_cast<std::int64_t>(p.src_elem.size());
  if (p.src_input.empty()) {
    const float* const from = ins[p.data_inputs[0]]->data<float>();
    for (std::int64_t i = 0; i < n; ++i) o[i] = from[p.src_elem[static_cast<std::size_t>(i)]];
    return out;
  }
  std::vector<const float*> from;
  for (std::size_t k : p.data_inputs) from.push_back(ins[k]->data<float>());
  for (std::int64_t i = 0; i < n; ++i)
    o[i] = from[p.src_input[static_cast<std::size_t>(i)]][p.src_elem[static_cast<std::size_t>(i)]];
  return out;
}

}  // namespace

PrologueParams plan_prologue(const PlanBuilder& b, NodeId id) {
  const Graph& g = b.g;
  const Node& nd = g.node(id);
  for (std::size_t k = 1; k < nd.outputs.size(); ++k) plan_fail(g, id, nd.outputs[k], "a prologue node must have one output", true);
  PrologueParams p;
  p.node = id;
  p.out = static_cast<int>(nd.outputs[0].index);
  p.counts = ann::node_counts(g, id);
  p.conv = plan_ordered_conv(g, id);
  bool all_constant = true;
  std::vector<const Tensor*> consts;
  for (ValueId v : nd.inputs) {
    consts.push_back(v.valid() && g.value(v).constant ? &*g.value(v).constant : nullptr);
    all_constant = all_constant && (!v.valid() || g.value(v).constant);
  }
  if (all_constant && !nd.inputs.empty()) {
    try {
      p.once = std::move(ann::evaluate_reference(g, id, consts).at(0));
    } catch (const Error&) {
      // Left to step 1, which reports it as it always did.
    }
  } else if (!p.conv) {
    plan_copy_map(g, id, p);
    plan_add_f32(g, nd, p);
  }
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
    if (p.once) fast = *p.once;
    if (!p.src_elem.empty()) fast = copy_by_map(p, st.info(p.out).shape, ins);
    if (p.add_f32 && ins[0] && ins[1]) fast = add_by_map(p, st.info(p.out).shape, *ins[0], *ins[1]);
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
