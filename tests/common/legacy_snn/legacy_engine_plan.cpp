// Lays out the SNN engine's state from a const spiking graph: which values are spiking, the integer weight
// rows of every synapse, the index maps of data movement. All validation happens here, never in a step.
#include <algorithm>

#include "legacy_engine_impl.hpp"
#include "snnconv/ann_baseline/node_counts.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv::legacy_snn {
namespace {

[[noreturn]] void fail(const Graph& g, NodeId id, ValueId v, const std::string& msg, bool unsupported = false) {
  ErrorContext c = g.context(id);
  if (v.valid()) c.value = g.value(v).name;
  if (unsupported) throw UnsupportedError("SNN engine: " + msg, c);
  throw GraphError("SNN engine: " + msg, c);
}

}  // namespace

Engine::Impl::Impl(const Graph& graph, EngineOptions opts) : g(graph), options(opts) {
  if (options.max_steps < 1)
    throw UsageError("SNN engine: max_steps must be >= 1 (got " + std::to_string(options.max_steps) + ")");
  if (options.threads < 1)
    throw UsageError("SNN engine: threads must be >= 1 (got " + std::to_string(options.threads) + ")");
  if (g.stage != Stage::spiking)
    throw GraphError("SNN engine: needs a graph at stage 'spiking', got '" + std::string(stage_name(g.stage)) +
                     "' (convert it with convert_to_spiking first)");
  verify(g, Stage::spiking);
  if (options.threads > 1) arena = std::make_unique<tbb::task_arena>(options.threads);

  values.resize(g.num_values());
  auto init_value = [&](ValueId v, NodeId at) {
    ValueState& s = values[v.index];
    const Value& val = g.value(v);
    if (!val.type.is_static()) fail(g, at, v, "value shape must be static");
    s.shape = val.type.static_shape();
    s.numel = checked_numel(s.shape, val.name);
    if (s.numel >= (std::int64_t{1} << 31)) fail(g, at, v, "a population of more than 2^31 neurons", true);
  };
  for (ValueId v : g.inputs()) {
    init_value(v, NodeId{});
    values[v.index].fixed = true;
    values[v.index].changed_flag.assign(static_cast<std::size_t>(values[v.index].numel), 0);
    values[v.index].changed.reserve(static_cast<std::size_t>(values[v.index].numel));
  }
  auto spiking_in = [&](NodeId id, std::size_t k) -> ValueState& {
    const ValueId v = g.node(id).inputs[k];
    if (!values[v.index].spiking) fail(g, id, v, "operand " + std::to_string(k) + " must be a spiking population");
    return values[v.index];
  };

  step_rows.resize(g.num_nodes());
  for (NodeId id : g.topological_order()) {
    const Node& nd = g.node(id);
    Unit u;
    u.kind = nd.kind;
    u.row = id.index;
    for (ValueId v : nd.inputs) u.in.push_back(v.valid() ? static_cast<int>(v.index) : -1);
    const ValueId ov = nd.outputs[0];
    u.out = static_cast<int>(ov.index);
    init_value(ov, id);
    ValueState& out = values[ov.index];
    const auto numel = static_cast<std::size_t>(out.numel);
    bool out_spiking = false;
    // The dense prologue: a node of real-valued inputs known at step 1 (graph inputs, constants, other
    // prologue outputs) runs once with the reference kernel, e.g. a patch embedding or a token lookup.
    bool fixed_inputs = nd.kind != OpKind::SpikeNeuron;
    for (ValueId v : nd.inputs)
      if (v.valid() && !g.value(v).constant && !values[v.index].fixed) fixed_inputs = false;
    switch (fixed_inputs ? OpKind::Identity : nd.kind) {
      case OpKind::SpikeNeuron: {
        const ValueState& in = values[nd.inputs[0].index];
        if (in.spiking) fail(g, id, nd.inputs[0], "a neuron integrates a current, not another population's counts");
        if (g.value(nd.inputs[0]).type.dtype != DType::f32) fail(g, id, nd.inputs[0], "a neuron integrates an f32 current");
        if (in.numel != out.numel) fail(g, id, ov, "population size differs from its input");
        const QuantParams& qp = *g.value(ov).quant;
        if (!qp.per_tensor() || !(qp.scale[0] > 0.0f) || (!qp.zero_point.empty() && qp.zero_point[0] != 0) ||
            qp.n_min > qp.n_max)
          fail(g, id, ov, "a population needs one positive threshold, zero point 0 and n_min <= n_max", true);
        u.act = std::get<NeuronAttrs>(nd.attrs).target;
        u.s = qp.scale[0];
        u.n_min = qp.n_min;
        u.n_max = qp.n_max;
        out.scale = qp.scale[0];
        out.bits = qp.bits;
        u.target.assign(numel, 0);
        u.active_flag.assign(numel, 0);
        u.active.reserve(numel);
        out_spiking = true;
        break;
      }
      case OpKind::SynapseLinear: {
        const ValueState& in = spiking_in(id, 0);
        const ann::IntWeights w = ann::int_weights(g.value(nd.inputs[1]), "node '" + nd.name + "'");
        if (in.shape.empty() || in.shape.back() != w.k) fail(g, id, nd.inputs[0], "input does not fit the weight's K");
        u.k = w.k;
        u.n = w.n;
        u.w = w.w;
        u.step = w.step;
        u.groups = w.groups;
        u.group_rows = w.group_rows;
        u.w_bits = w.bits;
        u.bias.assign(static_cast<std::size_t>(w.n), 0.0f);
        if (nd.inputs.size() > 2 && nd.inputs[2].valid()) {
          const Value& b = g.value(nd.inputs[2]);
          if (!b.constant || b.constant->numel() != w.n) fail(g, id, nd.inputs[2], "bias must be a constant [N]");
          u.bias = b.constant->to_f32();
        }
        u.s_a = in.scale;
        u.acc.assign(numel * static_cast<std::size_t>(w.groups), 0);
        const std::size_t rows = numel / static_cast<std::size_t>(w.n);
        u.row_flag.assign(rows, 0);
        u.rows_changed.reserve(rows);
        break;
      }
      case OpKind::SpikeMatMul: {
        const ValueState& a = spiking_in(id, 0);
        const ValueState& b = spiking_in(id, 1);
        const Shape& sa = a.shape;
        const Shape& sb = b.shape;
        if (sa.size() < 2 || sa.size() != sb.size() || !std::equal(sa.begin(), sa.end() - 2, sb.begin()) ||
            sa.back() != sb[sb.size() - 2])
          fail(g, id, {}, "products need [..., M, K] x [..., K, N] with equal leading dims", true);
        u.m = sa[sa.size() - 2];
        u.k = sa.back();
        u.n = sb.back();
        u.batch = a.numel / (u.m * u.k);
        u.s_a = a.scale;
        u.s_b = b.scale;
        u.a.assign(static_cast<std::size_t>(a.numel), 0);
        u.b.assign(static_cast<std::size_t>(b.numel), 0);
        u.acc.assign(numel, 0);
        u.row_flag.assign(static_cast<std::size_t>(u.batch * u.m), 0);
        u.rows_changed.reserve(static_cast<std::size_t>(u.batch * u.m));
        break;
      }
      case OpKind::DiffUnit: {
        const ValueState& in = spiking_in(id, 0);
        const auto& at = std::get<DiffUnitAttrs>(nd.attrs);
        const int rank = static_cast<int>(in.shape.size());
        if (rank == 0 || (at.axis != -1 && at.axis != rank - 1))
          fail(g, id, nd.inputs[0], "differential units run over the last axis only", true);
        u.fn = at.fn;
        u.epsilon = at.epsilon;
        u.cols = in.shape.back();
        if (at.causal) {
          if (at.fn != DiffUnitAttrs::Fn::softmax || rank < 2)
            fail(g, id, nd.inputs[0], "a causal unit must be a softmax over [..., M, N] scores", true);
          u.causal = true;
          u.causal_m = in.shape[static_cast<std::size_t>(rank - 2)];
        }
        u.s_a = in.scale;
        if (at.fn == DiffUnitAttrs::Fn::softmax && nd.inputs.size() > 1 && nd.inputs[1].valid()) {
          const ValueId mv = nd.inputs[1];
          if (!g.value(mv).constant && !values[mv.index].fixed)
            fail(g, id, mv, "an attention mask must be known at step 1 (a constant, graph input or prologue value)", true);
          u.mask_in = static_cast<int>(mv.index);
        }
        if (at.fn == DiffUnitAttrs::Fn::rotary) {  // cos/sin tables: one row of cols per position
          const std::int64_t t = rank >= 2 ? in.shape[static_cast<std::size_t>(rank - 2)] : 0;
          for (std::size_t k = 1; k < 3; ++k) {
            const Value& p = g.value(nd.inputs.at(k));
            if (!p.constant || p.constant->numel() != t * u.cols)
              fail(g, id, nd.inputs[k], "rotary cos/sin must be constants [T, cols]", true);
            (k == 1 ? u.gamma : u.beta) = p.constant->to_f32();
          }
          u.causal_m = t;
        }
        if (at.fn == DiffUnitAttrs::Fn::layer_norm || at.fn == DiffUnitAttrs::Fn::rms_norm) {
          if (nd.inputs.size() < 2 || !nd.inputs[1].valid()) fail(g, id, {}, "LayerNorm unit needs a scale input");
          for (std::size_t k = 1; k < nd.inputs.size(); ++k) {
            if (!nd.inputs[k].valid()) continue;
            const Value& p = g.value(nd.inputs[k]);
            if (!p.constant || p.constant->numel() != u.cols)
              fail(g, id, nd.inputs[k], "scale/bias must be constants [cols]");
            (k == 1 ? u.gamma : u.beta) = p.constant->to_f32();
          }
        }
        u.y.assign(numel, 0.0f);
        const std::size_t rows = numel / static_cast<std::size_t>(u.cols);
        u.row_flag.assign(rows, 0);
        u.rows_changed.reserve(rows);
        break;
      }
      case OpKind::Add: {
        const ValueState& a = spiking_in(id, 0);
        const ValueState& b = spiking_in(id, 1);
        if (a.shape != b.shape || a.shape != out.shape)
          fail(g, id, {}, "residual Add needs operands of one shape", true);
        break;
      }
      default: {
        const bool any_spiking = std::any_of(nd.inputs.begin(), nd.inputs.end(),
                                             [&](ValueId v) { return v.valid() && values[v.index].spiking; });
        if (nd.kind == OpKind::Concat && any_spiking) {
          // Run the reference Concat on disjoint index ranges: each output element names its source.
          std::vector<Tensor> idx;
          std::vector<std::int64_t> offset;
          std::int64_t next = 0;
          for (ValueId v : nd.inputs) {
            const ValueState& in = values[v.index];
            if (!in.spiking) fail(g, id, v, "every Concat operand must be a spiking population", true);
            if (in.scale != values[nd.inputs[0].index].scale)
              fail(g, id, v, "Concat operands must share one threshold", true);
            std::vector<std::int64_t> ix(static_cast<std::size_t>(in.numel));
            for (std::int64_t i = 0; i < in.numel; ++i) ix[static_cast<std::size_t>(i)] = next + i;
            offset.push_back(next);
            next += in.numel;
            idx.push_back(Tensor::from_vector<std::int64_t>(in.shape, ix));
          }
          std::vector<const Tensor*> ptrs;
          for (const Tensor& t : idx) ptrs.push_back(&t);
          const std::vector<std::int64_t> src = ann::evaluate_reference(g, id, ptrs).at(0).to_i64();
          if (static_cast<std::int64_t>(src.size()) != out.numel) fail(g, id, ov, "Concat map has the wrong size");
          u.dest.resize(nd.inputs.size());
          for (std::size_t k = 0; k < nd.inputs.size(); ++k)
            u.dest[k].assign(static_cast<std::size_t>(values[nd.inputs[k].index].numel), -1);
          for (std::size_t o = 0; o < src.size(); ++o) {
            const std::size_t k = static_cast<std::size_t>(
                std::upper_bound(offset.begin(), offset.end(), src[o]) - offset.begin() - 1);
            u.dest[k][static_cast<std::size_t>(src[o] - offset[k])] = static_cast<std::int32_t>(o);
          }
          out.scale = values[nd.inputs[0].index].scale;
          out.bits = values[nd.inputs[0].index].bits;
          out_spiking = true;
          break;
        }
        if (ann::is_data_movement(nd.kind) && values[nd.inputs[0].index].spiking) {
          const ValueState& in = values[nd.inputs[0].index];
          out.scale = in.scale;
          out.bits = in.bits;
          const bool same_order = nd.kind == OpKind::Reshape || nd.kind == OpKind::Identity ||
                                  nd.kind == OpKind::Flatten || nd.kind == OpKind::Squeeze ||
                                  nd.kind == OpKind::Unsqueeze;
          if (same_order) {
            if (in.numel != out.numel) fail(g, id, ov, "data movement changes the element count");
          } else {  // invert the output -> input source map into input -> outputs fan lists
            const std::vector<std::int64_t> src = ann::movement_source_map(g, id);
            if (static_cast<std::int64_t>(src.size()) != out.numel) fail(g, id, ov, "data movement map has the wrong size");
            u.fan_begin.assign(static_cast<std::size_t>(in.numel) + 1, 0);
            for (std::int64_t s : src) ++u.fan_begin[static_cast<std::size_t>(s) + 1];
            for (std::size_t i = 1; i < u.fan_begin.size(); ++i) u.fan_begin[i] += u.fan_begin[i - 1];
            u.fan.assign(src.size(), 0);
            std::vector<std::int64_t> fill(u.fan_begin.begin(), u.fan_begin.end() - 1);
            for (std::size_t o = 0; o < src.size(); ++o)
              u.fan[static_cast<std::size_t>(fill[static_cast<std::size_t>(src[o])]++)] = static_cast<std::int32_t>(o);
          }
          out_spiking = true;
          break;
        }
        if (!fixed_inputs || any_spiking)
          fail(g, id, ov,
               std::string(op_name(nd.kind)) +
                   " is not executed by the SNN engine here (only data movement of spikes, or a dense prologue on "
                   "the graph inputs)",
               true);
        for (std::size_t k = 1; k < nd.outputs.size(); ++k)
          fail(g, id, nd.outputs[k], "a prologue node must have one output", true);
        u.dense = true;
        u.dense_counts = ann::node_counts(g, id);
        out.fixed = true;
        break;
      }
    }
    out.spiking = out_spiking;
    if (out_spiking) {
      out.count.assign(numel, 0);
      out.events.reserve(numel);
    } else {
      out.producer_unit = static_cast<int>(units.size());
      out.changed_flag.assign(numel, 0);
      out.changed.reserve(numel);
    }
    units.push_back(std::move(u));
  }
  for (ValueId o : g.outputs()) {
    const ValueState& v = values[o.index];
    if (v.spiking) continue;
    const int p = v.producer_unit;
    const OpKind k = p < 0 ? OpKind::Identity : units[static_cast<std::size_t>(p)].kind;
    if (k != OpKind::SynapseLinear && k != OpKind::SpikeMatMul && k != OpKind::DiffUnit && k != OpKind::Add)
      throw GraphError("SNN engine: graph output '" + g.value(o).name +
                       "' is neither a spiking population nor a read-out current of a synaptic unit");
  }
}

}  // namespace snnconv::legacy_snn
