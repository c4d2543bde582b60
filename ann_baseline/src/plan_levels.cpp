// The planner's fusion of the integer-form export's quantization points (plan.hpp, fuse_level_points).
//
// `snnconv export --form integer` spells the QANN's level floor(x/s + 1/2), clamped, as plain ONNX nodes
// (converter/src/onnx/onnx_export_integer.cpp, quantize_exact), each a full pass over the tensor:
//
//   r = Div(x, s)  v = Add(r, half)  cl = Max(v, lo)  c = Min(cl, hi)  ti = Cast<i32>(c)  t = Cast<f32>(ti)
//   [signed levels: b = Less(c, t)  bf = Cast<f32>(b)  t = Sub(t, bf)]  q = QuantizeLinear(t, unit, zero)
//
// followed by Cast<f32>(q) (the levels the Linears and products read) and DequantizeLinear(q, s, zero). The
// pattern is matched structurally: these node kinds in this order with these operand positions, f32 scalar
// constants, each intermediate read by the next node only (never a graph output), the same static shape
// throughout. Anything else is left to the unfused steps, which stay the reference (tests/ann_baseline/
// test_plan_levels.cpp compares both bit for bit). The fused step (kernels_levels.cpp) writes q, the Cast<f32> of
// q and the DequantizeLinear output that the graph reads, in one pass.
#include <cmath>
#include <optional>
#include <utility>

#include "plan.hpp"

namespace snnconv::ann {
namespace {

struct Uses {
  std::vector<std::int64_t> producer;                                     // per value: step index, -1 if none
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> readers;  // per value: (step, input position)
  std::vector<bool> graph_output;
};

Uses uses_of(const Graph& g, const Plan& plan) {
  Uses u;
  u.producer.assign(g.num_values(), -1);
  u.readers.resize(g.num_values());
  u.graph_output.assign(g.num_values(), false);
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    for (std::uint32_t o : plan.steps[s].outputs) u.producer[o] = static_cast<std::int64_t>(s);
    for (std::size_t i = 0; i < plan.steps[s].inputs.size(); ++i)
      if (plan.steps[s].inputs[i].source == Source::slot) u.readers[plan.steps[s].inputs[i].index].push_back({s, i});
  }
  for (ValueId out : g.outputs()) u.graph_output[out.index] = true;
  return u;
}

const Tensor* constant_of(const Graph& g, const Plan& plan, const ValueRef& r) {
  if (r.source == Source::constant) return &*g.value(ValueId(r.index)).constant;
  if (r.source == Source::owned) return &plan.owned[r.index];
  return nullptr;
}

// The value of a one-element finite f32 constant input, or nullopt.
std::optional<float> scalar_f32(const Graph& g, const Plan& plan, const ValueRef& r) {
  const Tensor* t = constant_of(g, plan, r);
  if (t == nullptr || t->dtype() != DType::f32 || t->numel() != 1 || !std::isfinite(t->data<float>()[0]))
    return std::nullopt;
  return t->data<float>()[0];
}

struct Matcher {
  const Graph& g;
  const Plan& plan;
  const Uses& u;
  const Shape& shape;

  const Step& step(std::size_t s) const { return plan.steps[s]; }
  OpKind kind(std::size_t s) const { return g.node(plan.steps[s].node).kind; }

  // Step s has one output of the chain's shape and dtype `t`.
  bool output_is(std::size_t s, DType t) const {
    const Step& st = step(s);
    return st.outputs.size() == 1 && st.out_shapes[0] && *st.out_shapes[0] == shape &&
           g.value(ValueId(st.outputs[0])).type.dtype == t;
  }
  // The only reader of step s's output, at input position `pos`, of kind `k` (and not a graph output).
  std::optional<std::size_t> sole_reader(std::size_t s, OpKind k, std::size_t pos) const {
    const std::uint32_t v = step(s).outputs[0];
    if (u.graph_output[v] || u.readers[v].size() != 1) return std::nullopt;
    const auto [r, i] = u.readers[v][0];
    if (i != pos || kind(r) != k || step(r).view) return std::nullopt;
    return r;
  }
  bool cast_to(std::size_t s, DType to) const {
    return kind(s) == OpKind::Cast && std::get<CastAttrs>(g.node(step(s).node).attrs).to == to && output_is(s, to);
  }
  // A binary step whose input 1 is a finite f32 scalar constant: its value.
  std::optional<float> constant_operand(std::size_t s) const {
    const Step& st = step(s);
    if (st.inputs.size() != 2) return std::nullopt;
    return scalar_f32(g, plan, st.inputs[1]);
  }
};

void drop_removed(Plan& plan, const std::vector<bool>& removed) {
  std::vector<Step> kept;
  for (std::size_t s = 0; s < plan.steps.size(); ++s)
    if (!removed[s]) kept.push_back(std::move(plan.steps[s]));
  plan.steps = std::move(kept);
}

void fuse_points(const Graph& g, Plan& plan) {
  const Uses u = uses_of(g, plan);
  std::vector<bool> removed(plan.steps.size(), false);
  constexpr float kIntRange = 16777216.0f;  // clamps inside +-2^24: Cast<i32> never saturates, t is exact
  for (std::size_t s0 = 0; s0 < plan.steps.size(); ++s0) {
    const Step& div = plan.steps[s0];
    if (removed[s0] || g.node(div.node).kind != OpKind::Div || div.view || div.outputs.size() != 1 ||
        !div.out_shapes[0] || div.inputs.size() != 2)
      continue;
    const ValueRef x = div.inputs[0];
    if (x.source != Source::slot && x.source != Source::input) continue;
    const Node& dn = g.node(div.node);
    const TensorType& xt = g.value(dn.inputs[0]).type;
    if (xt.dtype != DType::f32 || !xt.is_static() || xt.static_shape() != *div.out_shapes[0]) continue;
    const Shape shape = xt.static_shape();
    const Matcher m{g, plan, u, shape};
    kernels::LevelPoint p;
    std::vector<std::size_t> chain{s0};
    const auto step_v = m.constant_operand(s0);
    if (!step_v || !m.output_is(s0, DType::f32)) continue;
    p.step = *step_v;
    const auto s1 = m.sole_reader(s0, OpKind::Add, 0);
    if (!s1 || !m.output_is(*s1, DType::f32)) continue;
    const auto half = m.constant_operand(*s1);
    const auto s2 = m.sole_reader(*s1, OpKind::Max, 0);
    if (!half || !s2 || !m.output_is(*s2, DType::f32)) continue;
    const auto lo = m.constant_operand(*s2);
    const auto s3 = m.sole_reader(*s2, OpKind::Min, 0);
    if (!lo || !s3 || !m.output_is(*s3, DType::f32)) continue;
    const auto hi = m.constant_operand(*s3);
    if (!hi || !(std::fabs(*lo) < kIntRange) || !(std::fabs(*hi) < kIntRange)) continue;
    p.half = *half;
    p.lo = *lo;
    p.hi = *hi;
    chain.insert(chain.end(), {*s1, *s2, *s3});
    // c = Min(...) feeds Cast<i32> and, for the floor correction, Less(c, t).
    const std::uint32_t c = plan.steps[*s3].outputs[0];
    if (u.graph_output[c]) continue;
    std::optional<std::size_t> s_trunc, s_less;
    bool stranger = false;
    for (const auto& [r, i] : u.readers[c]) {
      if (i == 0 && !s_trunc && m.cast_to(r, DType::i32))
        s_trunc = r;
      else if (i == 0 && !s_less && m.kind(r) == OpKind::Less)
        s_less = r;
      else
        stranger = true;
    }
    if (!s_trunc || stranger) continue;
    const auto s5 = m.sole_reader(*s_trunc, OpKind::Cast, 0);
    if (!s5 || !m.cast_to(*s5, DType::f32)) continue;
    chain.insert(chain.end(), {*s_trunc, *s5});
    std::size_t quant_input = *s5;  // the step whose output QuantizeLinear reads
    const std::uint32_t t = plan.steps[*s5].outputs[0];
    if (u.graph_output[t]) continue;
    if (s_less) {
      // t feeds Less(c, t) at position 1 and Sub(t, Cast<f32>(Less)) at position 0, nothing else.
      const Step& less = plan.steps[*s_less];
      if (u.readers[t].size() != 2 || less.inputs.size() != 2 || less.inputs[1].source != Source::slot ||
          less.inputs[1].index != t || g.value(ValueId(less.outputs[0])).type.dtype != DType::boolean ||
          !less.out_shapes[0] || *less.out_shapes[0] != shape)
        continue;
      const auto s7 = m.sole_reader(*s_less, OpKind::Cast, 0);
      if (!s7 || !m.cast_to(*s7, DType::f32)) continue;
      const auto s8 = m.sole_reader(*s7, OpKind::Sub, 1);
      if (!s8 || !m.output_is(*s8, DType::f32)) continue;
      const Step& sub = plan.steps[*s8];
      if (sub.inputs[0].source != Source::slot || sub.inputs[0].index != t) continue;
      p.floor = true;
      chain.insert(chain.end(), {*s_less, *s7, *s8});
      quant_input = *s8;
    } else if (u.readers[t].size() != 1) {
      continue;
    }
    const auto s9 = m.sole_reader(quant_input, OpKind::QuantizeLinear, 0);
    if (!s9) continue;
    const Step& ql = plan.steps[*s9];
    const DType qt = ql.outputs.size() == 1 ? g.value(ValueId(ql.outputs[0])).type.dtype : DType::f32;
    if ((qt != DType::u8 && qt != DType::i8) || !ql.out_shapes[0] || *ql.out_shapes[0] != shape || ql.inputs.size() < 2)
      continue;
    const auto unit = scalar_f32(g, plan, ql.inputs[1]);
    if (!unit || *unit == 0.0f) continue;
    p.unit = *unit;
    p.is_signed = qt == DType::i8;
    if (ql.inputs.size() > 2 && ql.inputs[2].source != Source::absent) {
      const Tensor* z = constant_of(g, plan, ql.inputs[2]);
      if (z == nullptr || z->dtype() != qt || z->numel() != 1) continue;
      p.zero =
          p.is_signed ? static_cast<float>(z->data<std::int8_t>()[0]) : static_cast<float>(z->data<std::uint8_t>()[0]);
    }
    chain.push_back(*s9);
    bool overlap = false;
    for (std::size_t s : chain) overlap = overlap || removed[s] || plan.steps[s].view;
    if (overlap) continue;

    // The readers of q the fused step also serves: one Cast<f32>(q), one per-tensor DequantizeLinear(q) with
    // the same zero point. q itself is written when anything else reads it.
    const std::uint32_t q = ql.outputs[0];
    std::optional<std::size_t> s_levels, s_deq;
    std::size_t other_readers = u.graph_output[q] ? 1 : 0;
    for (const auto& [r, i] : u.readers[q]) {
      const Step& rs = plan.steps[r];
      if (removed[r] || rs.view || i != 0) {
        ++other_readers;
        continue;
      }
      if (!s_levels && m.cast_to(r, DType::f32)) {
        s_levels = r;
        continue;
      }
      if (!s_deq && m.kind(r) == OpKind::DequantizeLinear && m.output_is(r, DType::f32) && rs.inputs.size() >= 2) {
        const auto dq = scalar_f32(g, plan, rs.inputs[1]);
        float dz = 0.0f;
        bool zero_ok = true;
        if (rs.inputs.size() > 2 && rs.inputs[2].source != Source::absent) {
          const Tensor* z = constant_of(g, plan, rs.inputs[2]);
          zero_ok = z != nullptr && z->dtype() == qt && z->numel() == 1;
          if (zero_ok)
            dz = p.is_signed ? static_cast<float>(z->data<std::int8_t>()[0])
                             : static_cast<float>(z->data<std::uint8_t>()[0]);
        }
        if (dq && zero_ok && dz == p.zero) {
          p.dq_scale = *dq;
          s_deq = r;
          continue;
        }
      }
      ++other_readers;
    }
    Step fused;
    fused.node = ql.node;
    fused.inputs = {x};
    if (other_readers > 0) {
      p.out_q = static_cast<int>(fused.outputs.size());
      fused.outputs.push_back(q);
      fused.out_shapes.push_back(shape);
    }
    for (auto [which, slot] : {std::pair{s_levels, &p.out_levels}, std::pair{s_deq, &p.out_dequant}}) {
      if (!which) continue;
      *slot = static_cast<int>(fused.outputs.size());
      fused.outputs.push_back(plan.steps[*which].outputs[0]);
      fused.out_shapes.push_back(shape);
      chain.push_back(*which);
    }
    if (fused.outputs.empty()) continue;  // q is read by nothing: leave the chain alone
    auto lp = std::make_unique<kernels::LevelPoint>(p);
    fused.level = lp.get();
    fused.kernel = {kernels::level_point, "level_point"};
    fused.counts = ql.counts;
    plan.levels.push_back(std::move(lp));
    // The fused step takes the QuantizeLinear's place in the order: x (the Div's input) exists there, and the
    // absorbed readers of q come after it, so their outputs are only written earlier than before.
    for (std::size_t s : chain) {
      if (s == *s9) continue;
      removed[s] = true;
      plan.folded.push_back({plan.steps[s].node, plan.steps[s].counts, "folded_into_level_point"});
    }
    plan.steps[*s9] = std::move(fused);
  }
  drop_removed(plan, removed);
}

// ---- LayerNorm and Softmax on levels, per row -----------------------------------------------------------

struct RowMatcher {
  const Graph& g;
  const Plan& plan;
  const Uses& u;

  OpKind kind(std::size_t s) const { return g.node(plan.steps[s].node).kind; }
  std::uint32_t out(std::size_t s) const { return plan.steps[s].outputs[0]; }
  DType dtype(std::size_t s) const { return g.value(ValueId(out(s))).type.dtype; }
  // The readers of step s's only output, none of them a graph output's use.
  const std::vector<std::pair<std::size_t, std::size_t>>* readers(std::size_t s) const {
    const Step& st = plan.steps[s];
    if (st.view || st.outputs.size() != 1 || !st.out_shapes[0] || u.graph_output[st.outputs[0]]) return nullptr;
    return &u.readers[st.outputs[0]];
  }
  std::optional<std::size_t> sole(std::size_t s, OpKind k, std::size_t pos, DType t) const {
    const auto* rs = readers(s);
    if (rs == nullptr || rs->size() != 1 || (*rs)[0].second != pos) return std::nullopt;
    const std::size_t r = (*rs)[0].first;
    if (kind(r) != k || plan.steps[r].view || plan.steps[r].outputs.size() != 1 || !plan.steps[r].out_shapes[0] ||
        dtype(r) != t)
      return std::nullopt;
    return r;
  }
  bool cast_to(std::size_t s, DType to) const {
    return kind(s) == OpKind::Cast && std::get<CastAttrs>(g.node(plan.steps[s].node).attrs).to == to;
  }
  // A reduction over the last axis only, keeping it as 1.
  bool last_axis_reduction(std::size_t s) const {
    const auto* a = std::get_if<ReduceAttrs>(&g.node(plan.steps[s].node).attrs);
    const int rank = g.value(ValueId(out(s))).type.rank();
    return a != nullptr && a->keepdims && a->axes.size() == 1 && (a->axes[0] == -1 || a->axes[0] == rank - 1) &&
           plan.steps[s].inputs.size() == 1;
  }
  // Input `pos` of step s is the output of step t.
  bool reads(std::size_t s, std::size_t pos, std::size_t t) const {
    const Step& st = plan.steps[s];
    return pos < st.inputs.size() && st.inputs[pos].source == Source::slot && st.inputs[pos].index == out(t);
  }
  const Tensor* constant(std::size_t s, std::size_t pos) const {
    const Step& st = plan.steps[s];
    return pos < st.inputs.size() ? constant_of(g, plan, st.inputs[pos]) : nullptr;
  }
  std::optional<std::int64_t> scalar_i64(std::size_t s, std::size_t pos) const {
    const Tensor* t = constant(s, pos);
    if (t == nullptr || t->dtype() != DType::i64 || t->numel() != 1) return std::nullopt;
    return t->data<std::int64_t>()[0];
  }
  // A constant f32 of n values broadcast along the last axis ([n] or [1, ..., 1, n]).
  const float* row_vector(std::size_t s, std::size_t pos, std::int64_t n) const {
    const Tensor* t = constant(s, pos);
    if (t == nullptr || t->dtype() != DType::f32 || t->rank() < 1 || t->numel() != n || t->dim(t->rank() - 1) != n)
      return nullptr;
    return t->data<float>();
  }
};

// Softmax on levels from qi = Cast<i64>(levels) (step c): ReduceMax, Sub(max, qi), Gather(table, .), ReduceSum,
// Cast<f32> of the weights and of the sum, Div. Returns the chain (Div last) or empty.
std::vector<std::size_t> match_softmax(const RowMatcher& m, std::size_t c, kernels::RowUnit& unit) {
  const auto* rq = m.readers(c);
  if (rq == nullptr || rq->size() != 2) return {};
  std::optional<std::size_t> top, below;
  for (const auto& [r, pos] : *rq) {
    if (pos == 0 && m.kind(r) == OpKind::ReduceMax)
      top = r;
    else if (pos == 1 && m.kind(r) == OpKind::Sub)
      below = r;
  }
  if (!top || !below || !m.last_axis_reduction(*top) || m.dtype(*top) != DType::i64 || !m.reads(*below, 0, *top) ||
      m.dtype(*below) != DType::i64)
    return {};
  const auto top_only = m.sole(*top, OpKind::Sub, 0, DType::i64);
  const auto gather = m.sole(*below, OpKind::Gather, 1, DType::i64);
  if (!top_only || *top_only != *below || !gather) return {};
  const Tensor* table = m.constant(*gather, 0);
  if (table == nullptr || table->dtype() != DType::i64 || table->rank() != 1 || table->numel() == 0 ||
      std::get<AxisAttrs>(m.g.node(m.plan.steps[*gather].node).attrs).axis != 0)
    return {};
  const auto* rw = m.readers(*gather);
  if (rw == nullptr || rw->size() != 2) return {};
  std::optional<std::size_t> sum, wf;
  for (const auto& [r, pos] : *rw) {
    if (pos == 0 && m.kind(r) == OpKind::ReduceSum)
      sum = r;
    else if (pos == 0 && m.cast_to(r, DType::f32))
      wf = r;
  }
  if (!sum || !wf || !m.last_axis_reduction(*sum) || m.dtype(*sum) != DType::i64) return {};
  const auto sf = m.sole(*sum, OpKind::Cast, 0, DType::f32);
  const auto div = m.sole(*wf, OpKind::Div, 0, DType::f32);
  if (!sf || !m.cast_to(*sf, DType::f32) || !div || !m.reads(*div, 1, *sf) ||
      m.sole(*sf, OpKind::Div, 1, DType::f32) != div)
    return {};
  unit.softmax = true;
  unit.table.assign(table->data<std::int64_t>(), table->data<std::int64_t>() + table->numel());
  for (std::int64_t w : unit.table) unit.table_f32.push_back(static_cast<float>(w));
  return {c, *top, *below, *gather, *sum, *wf, *sf, *div};
}

// LayerNorm on levels from qi = Cast<i64>(levels) (step c), the export's 16 nodes (onnx_export_integer.cpp,
// layer_norm_integer). Returns the chain (the last Mul or Add last) or empty.
std::vector<std::size_t> match_layer_norm(const RowMatcher& m, std::size_t c, std::int64_t n, kernels::RowUnit& unit) {
  const auto* rq = m.readers(c);
  if (rq == nullptr || rq->size() != 4) return {};
  std::optional<std::size_t> s1, q2, nq;
  int q2_reads = 0;
  for (const auto& [r, pos] : *rq) {
    if (pos == 0 && m.kind(r) == OpKind::ReduceSum)
      s1 = r;
    else if (m.kind(r) == OpKind::Mul && m.reads(r, 0, c) && m.reads(r, 1, c))
      q2 = r, ++q2_reads;
    else if (pos == 0 && m.kind(r) == OpKind::Mul)
      nq = r;
  }
  const auto i64 = DType::i64;
  if (!s1 || !q2 || q2_reads != 2 || !nq || !m.last_axis_reduction(*s1) || m.dtype(*s1) != i64 || m.dtype(*q2) != i64 ||
      m.dtype(*nq) != i64)
    return {};
  const auto cols = m.scalar_i64(*nq, 1);
  const auto s2 = m.sole(*q2, OpKind::ReduceSum, 0, i64);
  const auto d = m.sole(*nq, OpKind::Sub, 0, i64);
  if (!cols || !s2 || !m.last_axis_reduction(*s2) || !d || !m.reads(*d, 1, *s1)) return {};
  const auto ns2 = m.sole(*s2, OpKind::Mul, 0, i64);
  if (!ns2 || m.scalar_i64(*ns2, 1) != cols) return {};
  // s1 is read by d (position 1) and twice by s1 * s1.
  const auto* r1 = m.readers(*s1);
  if (r1 == nullptr || r1->size() != 3) return {};
  std::optional<std::size_t> sq;
  for (const auto& [r, pos] : *r1)
    if (r != *d) sq = r;
  if (!sq || m.kind(*sq) != OpKind::Mul || !m.reads(*sq, 0, *s1) || !m.reads(*sq, 1, *s1) || m.dtype(*sq) != i64)
    return {};
  const auto var = m.sole(*ns2, OpKind::Sub, 0, i64);
  if (!var || m.sole(*sq, OpKind::Sub, 1, i64) != var) return {};
  const auto var_f = m.sole(*var, OpKind::Cast, 0, DType::f32);
  if (!var_f || !m.cast_to(*var_f, DType::f32)) return {};
  const auto var_eps = m.sole(*var_f, OpKind::Add, 0, DType::f32);
  if (!var_eps) return {};
  const auto eps = scalar_f32(m.g, m.plan, m.plan.steps[*var_eps].inputs.at(1));
  const auto den = m.sole(*var_eps, OpKind::Sqrt, 0, DType::f32);
  const auto d_f = m.sole(*d, OpKind::Cast, 0, DType::f32);
  if (!eps || !den || !d_f || !m.cast_to(*d_f, DType::f32)) return {};
  const auto norm = m.sole(*d_f, OpKind::Div, 0, DType::f32);
  if (!norm || m.sole(*den, OpKind::Div, 1, DType::f32) != norm) return {};
  const auto scaled = m.sole(*norm, OpKind::Mul, 0, DType::f32);
  if (!scaled) return {};
  const float* gamma = m.row_vector(*scaled, 1, n);
  if (gamma == nullptr) return {};
  std::vector<std::size_t> chain{c,    *s1,    *q2,      *nq,  *s2,  *d,    *ns2,   *sq,
                                 *var, *var_f, *var_eps, *den, *d_f, *norm, *scaled};
  unit.softmax = false;
  unit.cols_factor = *cols;
  unit.small_factor = *cols > -32768 && *cols < 32768 && n < 32768;
  unit.eps_term = *eps;
  unit.gamma.assign(gamma, gamma + n);
  // An Add of a constant row vector after the Mul is the beta term; anything else reads the Mul's output as is.
  if (const auto add = m.sole(*scaled, OpKind::Add, 0, DType::f32)) {
    if (const float* beta = m.row_vector(*add, 1, n)) {
      unit.beta.assign(beta, beta + n);
      chain.push_back(*add);
    }
  }
  return chain;
}

void fuse_rows(const Graph& g, Plan& plan) {
  const Uses u = uses_of(g, plan);
  const RowMatcher m{g, plan, u};
  std::vector<bool> removed(plan.steps.size(), false);
  for (std::size_t c = 0; c < plan.steps.size(); ++c) {
    const Step& cast = plan.steps[c];
    if (removed[c] || !m.cast_to(c, DType::i64) || cast.view || cast.inputs.size() != 1 || cast.outputs.size() != 1 ||
        !cast.out_shapes[0] || cast.out_shapes[0]->empty())
      continue;
    const ValueRef x = cast.inputs[0];
    const TensorType& xt = g.value(g.node(cast.node).inputs[0]).type;
    if ((x.source != Source::slot && x.source != Source::input) || xt.dtype != DType::f32 || !xt.is_static()) continue;
    const std::int64_t n = cast.out_shapes[0]->back();
    if (n <= 0) continue;
    kernels::RowUnit unit;
    std::vector<std::size_t> chain = match_softmax(m, c, unit);
    if (chain.empty()) chain = match_layer_norm(m, c, n, unit);
    if (chain.empty()) continue;
    const std::size_t last = chain.back();
    bool clash = false;
    for (std::size_t s : chain) clash = clash || removed[s];
    // Every step of the chain writes [..., n] or [..., 1] of the same rows; the output is the last step's.
    if (clash || *plan.steps[last].out_shapes[0] != *cast.out_shapes[0]) continue;
    Step fused;
    fused.node = plan.steps[last].node;
    fused.inputs = {x};
    fused.outputs = plan.steps[last].outputs;
    fused.out_shapes = plan.steps[last].out_shapes;
    fused.counts = plan.steps[last].counts;
    auto ru = std::make_unique<kernels::RowUnit>(std::move(unit));
    fused.row = ru.get();
    fused.kernel = {kernels::row_unit, ru->softmax ? "softmax_levels" : "layer_norm_levels"};
    plan.rows.push_back(std::move(ru));
    for (std::size_t s : chain) {
      if (s == last) continue;
      removed[s] = true;
      plan.folded.push_back({plan.steps[s].node, plan.steps[s].counts, "folded_into_row_unit"});
    }
    plan.steps[last] = std::move(fused);  // x exists there: it was the Cast's input
  }
  drop_removed(plan, removed);
}

}  // namespace

void fuse_level_points(const Graph& g, Plan& plan) {
  fuse_points(g, plan);
  fuse_rows(g, plan);  // reads the levels the fused points write
}

}  // namespace snnconv::ann
