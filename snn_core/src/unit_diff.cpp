// Differential units (unit_diff.hpp): f recomputed on the current accumulated input of every row that
// changed, with the QANN's own row function (ann::whole_vector_row), so both sides compute the same bits.
#include <algorithm>

#include "snnconv/ann_baseline/qann.hpp"
#include "units.hpp"

namespace snnconv::snn {

DiffParams plan_diff(const PlanBuilder& b, NodeId id) {
  const Graph& g = b.g;
  const Node& nd = g.node(id);
  const ValueInfo& in = b.spiking_in(id, 0);
  const auto& at = std::get<DiffUnitAttrs>(nd.attrs);
  const int rank = static_cast<int>(in.shape.size());
  if (rank == 0 || (at.axis != -1 && at.axis != rank - 1))
    plan_fail(g, id, nd.inputs[0], "differential units run over the last axis only", true);
  DiffParams p;
  p.in = static_cast<int>(nd.inputs[0].index);
  p.out = static_cast<int>(nd.outputs[0].index);
  p.fn = at.fn;
  p.epsilon = at.epsilon;
  p.cols = in.shape.back();
  p.rows = in.numel / p.cols;
  p.div_cols = FastDiv(p.cols);
  if (at.causal) {
    if (at.fn != DiffUnitAttrs::Fn::softmax || rank < 2)
      plan_fail(g, id, nd.inputs[0], "a causal unit must be a softmax over [..., M, N] scores", true);
    p.causal = true;
    p.causal_m = in.shape[static_cast<std::size_t>(rank - 2)];
  }
  p.s_a = in.scale;
  if (at.fn == DiffUnitAttrs::Fn::softmax && nd.inputs.size() > 1 && nd.inputs[1].valid()) {
    const ValueId mv = nd.inputs[1];
    if (!g.value(mv).constant && !b.value(mv).fixed)
      plan_fail(g, id, mv, "an attention mask must be known at step 1 (a constant, graph input or prologue value)", true);
    p.mask_in = static_cast<int>(mv.index);
  }
  if (at.fn == DiffUnitAttrs::Fn::rotary) {  // cos/sin tables: one row of cols per position
    const std::int64_t t = rank >= 2 ? in.shape[static_cast<std::size_t>(rank - 2)] : 0;
    for (std::size_t k = 1; k < 3; ++k) {
      const Value& v = g.value(nd.inputs.at(k));
      if (!v.constant || v.constant->numel() != t * p.cols)
        plan_fail(g, id, nd.inputs[k], "rotary cos/sin must be constants [T, cols]", true);
      (k == 1 ? p.gamma : p.beta) = v.constant->to_f32();
    }
    p.causal_m = t;
  }
  if (at.fn == DiffUnitAttrs::Fn::layer_norm || at.fn == DiffUnitAttrs::Fn::rms_norm) {
    if (nd.inputs.size() < 2 || !nd.inputs[1].valid()) plan_fail(g, id, {}, "LayerNorm unit needs a scale input");
    for (std::size_t k = 1; k < nd.inputs.size(); ++k) {
      if (!nd.inputs[k].valid()) continue;
      const Value& v = g.value(nd.inputs[k]);
      if (!v.constant || v.constant->numel() != p.cols) plan_fail(g, id, nd.inputs[k], "scale/bias must be constants [cols]");
      (k == 1 ? p.gamma : p.beta) = v.constant->to_f32();
    }
  }
  if (at.fn == DiffUnitAttrs::Fn::layer_norm) p.eps_term = ann::layer_norm_eps_term(p.cols, p.epsilon, p.s_a);
  if (at.fn == DiffUnitAttrs::Fn::softmax && p.s_a > 0.0f) {
    const std::int64_t span = std::min(2 * in.max_abs_count + 1, kSoftmaxTableMax);
    for (std::int64_t k = 0; k < span && !p.table_ends_zero; ++k) {
      const std::int64_t w = ann::softmax_weight(k, p.s_a);
      p.softmax_table.push_back(static_cast<std::int32_t>(w));  // <= 2^kSoftmaxFracBits
      p.table_ends_zero = w == 0;
    }
  }
  return p;
}

std::uint64_t diff_bytes(const Plan&, const DiffParams& u) {
  return static_cast<std::uint64_t>(u.rows) * (static_cast<std::uint64_t>(u.cols) * 4 + 1 + 4);
}

void allocate(const DiffParams& p, DiffState& s, DiffScratch& x, const Plan&, int batch) {
  const auto rows = static_cast<std::size_t>(p.rows) * static_cast<std::size_t>(batch);
  s.y = StateVector<float>(rows * static_cast<std::size_t>(p.cols));
  x.row_flag.assign(rows, 0);
  x.rows_changed.clear();
  x.rows_changed.reserve(rows);
}

void reset(DiffState& s) {
  std::fill(s.y.begin(), s.y.end(), 0.0f);
  s.keep.clear();
}

namespace {

// The mask of a masked softmax as sample `sample` sees it at step 1.
const Tensor& mask_of(const Step& st, const DiffParams& p, std::int64_t sample) {
  const Graph& g = *st.plan.graph;
  const Value& val = g.value(ValueId(static_cast<std::uint32_t>(p.mask_in)));
  if (val.constant) return *val.constant;
  const ValueInfo& vi = st.info(p.mask_in);
  if (vi.producer < 0) return *(*st.inputs)[static_cast<std::size_t>(sample)][static_cast<std::size_t>(vi.input)];
  const Unit& u = st.plan.units[static_cast<std::size_t>(vi.producer)];
  return st.state.prologues[static_cast<std::size_t>(u.slot)].out[static_cast<std::size_t>(sample)];
}

// Reads the keep flags of every sample of the pass (step 1).
void read_mask(const Unit& u, const DiffParams& p, DiffState& s, Step& st) {
  const Graph& g = *st.plan.graph;
  const ValueInfo& in = st.info(p.in);
  const std::int64_t per = in.numel, batch = static_cast<std::int64_t>(st.inputs->size());
  s.keep.assign(static_cast<std::size_t>(per * batch), 0);
  for (std::int64_t b = 0; b < batch; ++b) {
    std::vector<std::uint8_t> k;
    try {
      k = ann::attention_keep(mask_of(st, p, b), in.shape);
    } catch (const Error& e) {
      ErrorContext c = g.context(NodeId(static_cast<std::uint32_t>(u.row)));
      c.value = g.value(ValueId(static_cast<std::uint32_t>(p.mask_in))).name;
      throw NumericError("SNN engine: " + e.message(), c);
    }
    std::copy(k.begin(), k.end(), s.keep.begin() + b * per);
  }
}

}  // namespace

void step_diff(const Unit& u, Step& st) {
  const DiffParams& p = st.plan.diffs[static_cast<std::size_t>(u.slot)];
  DiffState& s = st.state.diffs[static_cast<std::size_t>(u.slot)];
  DiffScratch& x = st.scratch.diffs[static_cast<std::size_t>(u.slot)];
  const ValueInfo& in = st.info(p.in);
  const ValueInfo& out = st.info(p.out);
  // The first step from rest reads every row and counts the events only: a lazy list stays lazy.
  const EventList& events = st.first && !st.incremental ? st.events_unread(p.in) : st.events(p.in);
  auto touch = [&](std::size_t r) {
    if (!x.row_flag[r]) {
      x.row_flag[r] = 1;
      x.rows_changed.push_back(static_cast<std::int32_t>(r));
    }
  };
  if (st.first && !st.incremental) {
    const auto rows = static_cast<std::int32_t>(x.row_flag.size());
    for (std::int32_t r = 0; r < rows; ++r) x.rows_changed.push_back(r);
  } else {
    if (st.first) {  // rows with newly live outputs
      const std::int64_t b = out.pos_begin[static_cast<std::size_t>(st.fresh_lo)];
      const std::int64_t e = out.pos_begin[static_cast<std::size_t>(st.fresh_hi)];
      for (std::int64_t i = b; i < e; ++i) touch(static_cast<std::size_t>(out.by_pos[static_cast<std::size_t>(i)] / p.cols));
      // Events come row by row: an index is split only when it leaves the previous event's row.
      std::int64_t lo = 0, hi = 0;
      for (const Event& e : events) {
        if (e.index >= lo && e.index < hi) continue;
        const std::int64_t r = p.div_cols.div(e.index);
        lo = r * p.cols;
        hi = lo + p.cols;
        touch(static_cast<std::size_t>(r));
      }
    } else {  // the rows in increasing order (each row's update is independent of the others)
      flag_event_rows(events, p.div_cols, x.row_flag.data());
      flagged_rows(x.row_flag.data(), x.row_flag.size(), x.rows_changed);
    }
  }
  const StateVector<std::int32_t>& count = st.counts(p.in);
  const bool ln = p.fn != DiffUnitAttrs::Fn::softmax;  // LayerNorm, RMSNorm, rotary: priced like LayerNorm
  if (p.mask_in >= 0 && (s.keep.empty() || (st.first && !st.incremental))) read_mask(u, p, s, st);
  const FastDiv div_rows(p.rows);  // a division instruction per row cost as much as a short row's update
  // LayerNorm and unmasked softmax rows by the instruction set's row kernel (the same bits as the QANN's).
  DiffRow dr;
  dr.fn = p.fn;
  dr.s = p.s_a;
  dr.cols = p.cols;
  dr.epsilon = p.epsilon;
  dr.eps_term = p.eps_term;
  dr.gamma = p.gamma.data();
  dr.beta = p.beta.empty() ? nullptr : p.beta.data();
  dr.table = p.softmax_table.data();
  dr.table_len = static_cast<std::int64_t>(p.softmax_table.size());
  dr.ends_zero = p.table_ends_zero;
  const bool row_kernel = st.plan.kernels.diff_row != nullptr && s.keep.empty() &&
                          (p.fn == DiffUnitAttrs::Fn::layer_norm || p.fn == DiffUnitAttrs::Fn::softmax);
  for (std::int32_t r : x.rows_changed) {
    const std::int64_t base = std::int64_t{r} * p.cols;
    // The row within its sample decides a causal softmax's visible columns.
    const std::int64_t local = div_rows.mod(r);
    if (p.fn == DiffUnitAttrs::Fn::rotary) {  // a position-dependent linear map: the row's cos/sin
      const std::int64_t pos = (local % p.causal_m) * p.cols;
      ann::rotary_row(count.data() + base, p.s_a, p.cols, p.gamma.data() + pos, p.beta.data() + pos, s.y.data() + base);
      st.mark_row(p.out, r);
      x.row_flag[static_cast<std::size_t>(r)] = 0;
      continue;
    }
    if (row_kernel) {
      st.plan.kernels.diff_row(dr, count.data() + base, s.y.data() + base,
                               p.causal ? ann::causal_valid_cols(local, p.causal_m, p.cols) : -1);
      st.mark_row(p.out, r);
      x.row_flag[static_cast<std::size_t>(r)] = 0;
      continue;
    }
    ann::whole_vector_row(p.fn, count.data() + base, p.s_a, p.cols, p.epsilon, p.gamma.data(),
                          p.beta.empty() ? nullptr : p.beta.data(), s.y.data() + base,
                          p.causal ? ann::causal_valid_cols(local, p.causal_m, p.cols) : -1,
                          s.keep.empty() ? nullptr : s.keep.data() + base);
    st.mark_row(p.out, r);
    x.row_flag[static_cast<std::size_t>(r)] = 0;
  }
  Counters& c = st.counters(u);
  const auto n = static_cast<std::uint64_t>(x.rows_changed.size());
  const auto cols = static_cast<std::uint64_t>(p.cols);
  // LayerNorm per row: sum, square, square-accumulate, scale, subtract, normalise, scale, bias (7 integer or
  // float ops per element) plus one sqrt and one divide; softmax: max, subtract, sum (counted as 4 per
  // element) plus an exp (a table lookup in ann::whole_vector_row) and a divide per element.
  c.dense_ops += n * cols * (ln ? 7 : 4);
  c.nonlinear_ops += ln ? n * 2 : n * cols * 2;
  c.bytes_read[mem(MemClass::membrane)] += n * cols * kCountBytes;
  c.bytes_read[mem(MemClass::weights)] += ln ? n * cols * 4 * (p.beta.empty() ? 1 : 2) : 0;
  c.bytes_written[mem(MemClass::activations)] += n * cols * 4;
  c.bytes_read[mem(MemClass::spikes)] += events.size() * event_bytes(st.mode, in.bits);
  x.rows_changed.clear();
}

}  // namespace snnconv::snn
