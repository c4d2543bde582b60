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
  if (at.fn == DiffUnitAttrs::Fn::layer_norm) {
    if (nd.inputs.size() < 2 || !nd.inputs[1].valid()) plan_fail(g, id, {}, "LayerNorm unit needs a scale input");
    for (std::size_t k = 1; k < nd.inputs.size(); ++k) {
      if (!nd.inputs[k].valid()) continue;
      const Value& v = g.value(nd.inputs[k]);
      if (!v.constant || v.constant->numel() != p.cols) plan_fail(g, id, nd.inputs[k], "scale/bias must be constants [cols]");
      (k == 1 ? p.gamma : p.beta) = v.constant->to_f32();
    }
  }
  return p;
}

std::uint64_t diff_bytes(const Plan&, const DiffParams& u) {
  return static_cast<std::uint64_t>(u.rows) * (static_cast<std::uint64_t>(u.cols) * 4 + 1 + 4);
}

void allocate(const DiffParams& p, DiffState& s, DiffScratch& x, const Plan&, int batch) {
  const auto rows = static_cast<std::size_t>(p.rows) * static_cast<std::size_t>(batch);
  s.y.assign(rows * static_cast<std::size_t>(p.cols), 0.0f);
  x.row_flag.assign(rows, 0);
  x.rows_changed.clear();
  x.rows_changed.reserve(rows);
}

void reset(DiffState& s) {
  std::fill(s.y.begin(), s.y.end(), 0.0f);
}

void step_diff(const Unit& u, Step& st) {
  const DiffParams& p = st.plan.diffs[static_cast<std::size_t>(u.slot)];
  DiffState& s = st.state.diffs[static_cast<std::size_t>(u.slot)];
  DiffScratch& x = st.scratch.diffs[static_cast<std::size_t>(u.slot)];
  const ValueInfo& in = st.info(p.in);
  const ValueInfo& out = st.info(p.out);
  const EventList& events = st.events(p.in);
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
    }
    for (const Event& e : events) touch(static_cast<std::size_t>(p.div_cols.div(e.index)));
  }
  const std::vector<std::int32_t>& count = st.counts(p.in);
  const bool ln = p.fn == DiffUnitAttrs::Fn::layer_norm;
  for (std::int32_t r : x.rows_changed) {
    const std::int64_t base = std::int64_t{r} * p.cols;
    // The row within its sample decides a causal softmax's visible columns.
    const std::int64_t local = r % p.rows;
    ann::whole_vector_row(p.fn, count.data() + base, p.s_a, p.cols, p.epsilon, p.gamma.data(),
                          p.beta.empty() ? nullptr : p.beta.data(), s.y.data() + base,
                          p.causal ? ann::causal_valid_cols(local, p.causal_m, p.cols) : -1);
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
