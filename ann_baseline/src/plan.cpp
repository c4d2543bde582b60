// Building the Plan: order, value sources, buffer lifetimes, kernel choice, quantized weights and counts.
#include "plan.hpp"
#include "snnconv/ann_baseline/reference.hpp"

#include <algorithm>
#include <limits>
#include <string_view>

namespace snnconv::ann {
namespace {

// Which scale applies to element `flat` (per tensor, per channel along axis, per group along axis, or per
// block: a group along axis at every index of the other axes, types.hpp).
std::size_t channel_of(const QuantParams& qp, const Shape& shape, std::int64_t flat) {
  if (qp.scale.size() == 1) return 0;
  const auto axis = static_cast<std::size_t>(qp.axis < 0 ? qp.axis + static_cast<int>(shape.size()) : qp.axis);
  std::int64_t inner = 1;
  for (std::size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const std::int64_t group = qp.group_size > 0 ? qp.group_size : 1;
  const std::int64_t dim = shape[axis], groups = (dim + group - 1) / group, a = (flat / inner) % dim;
  if (static_cast<std::int64_t>(qp.scale.size()) == groups) return static_cast<std::size_t>(a / group);
  return static_cast<std::size_t>(((flat / (inner * dim)) * groups + a / group) * inner + flat % inner);
}

}  // namespace

Tensor dequantize_constant(const Graph& g, ValueId id) {
  const Value& v = g.value(id);
  const Tensor& q = *v.constant;
  const QuantParams& qp = *v.quant;
  const ErrorContext ctx{g.source_file, "", "", v.name};
  if (qp.scale.empty()) throw GraphError("quantized constant has no scale", ctx);
  if (!qp.zero_point.empty() && qp.zero_point.size() != qp.scale.size())
    throw GraphError("quantized constant: zero_point and scale differ in length", ctx);
  if (qp.scale.size() > 1) {
    const int rank = q.rank();
    if (qp.axis < -rank || qp.axis >= rank) throw GraphError("quantized constant: axis out of range", ctx);
    const auto axis = static_cast<std::size_t>(qp.axis < 0 ? qp.axis + rank : qp.axis);
    const std::int64_t group = qp.group_size > 0 ? qp.group_size : 1;
    const std::int64_t groups = (q.shape()[axis] + group - 1) / group;
    const auto count = static_cast<std::int64_t>(qp.scale.size());
    const bool blocked = qp.group_size > 0 && q.shape()[axis] > 0 && count == groups * (q.numel() / q.shape()[axis]);
    if (count != groups && !blocked)
      throw GraphError("quantized constant: " + std::to_string(qp.scale.size()) + " scales do not fit shape " +
                           shape_to_string(q.shape()),
                       ctx);
  }
  const std::vector<std::int64_t> levels = q.to_i64();
  Tensor out(DType::f32, q.shape());
  float* py = out.data<float>();
  for (std::int64_t i = 0; i < q.numel(); ++i) {
    const std::size_t ch = channel_of(qp, q.shape(), i);
    const std::int64_t zero = qp.zero_point.empty() ? 0 : qp.zero_point[ch];
    py[i] = static_cast<float>(levels[static_cast<std::size_t>(i)] - zero) * qp.scale[ch];
  }
  return out;
}

std::vector<int> count_reads(const Graph& g, const Plan& plan) {
  std::vector<int> reads(g.num_values(), 0);
  for (const Step& st : plan.steps)
    for (const ValueRef& r : st.inputs)
      if (r.source == Source::slot) ++reads[r.index];
  for (ValueId out : g.outputs()) ++reads[out.index];
  return reads;
}

namespace {

bool is_head_transpose(const Graph& g, const Step& st) {
  const Node& n = g.node(st.node);
  if (n.kind != OpKind::Transpose || n.inputs.size() != 1 || !st.out_shapes[0]) return false;
  const Value& in = g.value(n.inputs[0]);
  if (in.constant || in.type.dtype != DType::f32 || !in.type.is_static() || in.type.rank() != 4) return false;
  return std::get<TransposeAttrs>(n.attrs).perm == std::vector<std::int64_t>{0, 2, 1, 3};
}

// Removes the steps marked in `removed`, keeping their ledger counts in plan.folded under `how`.
void drop_folded_steps(Plan& plan, const std::vector<bool>& removed, const char* how) {
  std::vector<Step> kept;
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    if (removed[s]) plan.folded.push_back({plan.steps[s].node, plan.steps[s].counts, how});
    else kept.push_back(std::move(plan.steps[s]));
  }
  plan.steps = std::move(kept);
}

// Attention reads q/k/v and writes y through strides (attention_kernel.hpp), so a [0,2,1,3] Transpose that
// only feeds an Attention operand, or only reads its output, is folded away: the Attention step reads the
// Transpose's input ([B,N,H,D], what the Linear projection and a Reshape produce) or writes the Transpose's
// output directly. Saves two full copies of q, k, v and y per attention layer.
void fold_attention_transposes(const Graph& g, Plan& plan) {
  const std::vector<int> reads = count_reads(g, plan);
  std::vector<std::int64_t> producer(g.num_values(), -1), reader(g.num_values(), -1);
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    for (std::uint32_t o : plan.steps[s].outputs) producer[o] = static_cast<std::int64_t>(s);
    for (const ValueRef& r : plan.steps[s].inputs)
      if (r.source == Source::slot) reader[r.index] = static_cast<std::int64_t>(s);
  }
  std::vector<bool> removed(plan.steps.size(), false);
  for (Step& st : plan.steps) {
    if (g.node(st.node).kind != OpKind::Attention || st.kernel.fn == nullptr || st.outputs.size() != 1) continue;
    unsigned layout = 0;
    for (std::size_t i = 0; i < 3 && i < st.inputs.size(); ++i) {
      const ValueRef r = st.inputs[i];
      if (r.source != Source::slot || reads[r.index] != 1 || producer[r.index] < 0) continue;
      const auto p = static_cast<std::size_t>(producer[r.index]);
      if (removed[p] || !is_head_transpose(g, plan.steps[p])) continue;
      st.inputs[i] = plan.steps[p].inputs[0];
      removed[p] = true;
      layout |= 1u << i;  // kLayoutQ, kLayoutK, kLayoutV
    }
    const std::uint32_t y = st.outputs[0];
    if (reads[y] == 1 && reader[y] >= 0) {
      const auto c = static_cast<std::size_t>(reader[y]);
      if (!removed[c] && is_head_transpose(g, plan.steps[c])) {
        st.outputs[0] = plan.steps[c].outputs[0];
        st.out_shapes[0] = plan.steps[c].out_shapes[0];
        removed[c] = true;
        layout |= 8u;  // kLayoutY
      }
    }
    if (layout != 0) st.kernel.fn = kernels::attention_with_layout(layout);
  }
  drop_folded_steps(plan, removed, "folded_into_attention");
}

// Reshape, Flatten, Squeeze, Unsqueeze and Identity of a slot nobody else reads move the buffer to their
// output with the new shape: no copy.
void mark_views(const Graph& g, Plan& plan) {
  const std::vector<int> reads = count_reads(g, plan);
  for (Step& st : plan.steps) {
    switch (g.node(st.node).kind) {
      case OpKind::Reshape:
      case OpKind::Flatten:
      case OpKind::Squeeze:
      case OpKind::Unsqueeze:
      case OpKind::Identity: break;
      default: continue;
    }
    if (st.inputs.empty() || st.outputs.size() != 1 || !st.out_shapes[0]) continue;
    const ValueRef r = st.inputs[0];
    if (r.source != Source::slot || reads[r.index] != 1) continue;
    // A second input (Reshape's shape, axes) must not be the same slot.
    bool alone = true;
    for (std::size_t i = 1; i < st.inputs.size(); ++i)
      alone = alone && !(st.inputs[i].source == Source::slot && st.inputs[i].index == r.index);
    if (!alone) continue;
    st.view = true;
    st.kernel = {nullptr, "view"};
  }
}

// Linear and MatMul whose weights are a constant 2-D matrix (after dropping leading 1s) get them packed once
// here and run the packed micro-kernel (gemm_packed.hpp) instead of Eigen, which repacks them on every call.
void pack_weights(const Graph& g, Plan& plan) {
  if (!kernels::packed_gemm_available()) return;
  for (Step& st : plan.steps) {
    const Node& n = g.node(st.node);
    const bool linear = n.kind == OpKind::Linear && st.kernel.fn != nullptr && st.kernel.fn != kernels::linear_int8;
    const bool matmul = n.kind == OpKind::MatMul && std::string_view(st.kernel.name) == "eigen_gemm";
    const bool conv = n.kind == OpKind::Conv && st.kernel.fn != nullptr && std::get<ConvAttrs>(n.attrs).group == 1;
    if (conv && st.inputs.size() >= 2) {
      const ValueRef w = st.inputs[1];
      const Tensor* t = w.source == Source::constant ? &*g.value(ValueId(w.index)).constant
                        : w.source == Source::owned  ? &plan.owned[w.index]
                                                     : nullptr;
      if (t == nullptr || t->dtype() != DType::f32 || t->rank() != 4) continue;
      // W [maps, c, kh, kw] is W^T of the [patch, maps] matrix the im2col rows multiply.
      plan.packed.push_back(std::make_unique<kernels::PackedB>(
          gemm::pack_f32(t->data<float>(), t->numel() / t->dim(0), t->dim(0), true)));
      st.packed = plan.packed.back().get();
      st.kernel = {kernels::conv2d_packed, "im2col_packed_gemm"};
      continue;
    }
    if ((!linear && !matmul) || st.inputs.size() < 2) continue;
    const ValueRef w = st.inputs[1];
    const Tensor* t = w.source == Source::constant ? &*g.value(ValueId(w.index)).constant
                      : w.source == Source::owned  ? &plan.owned[w.index]
                                                   : nullptr;
    if (t == nullptr || t->dtype() != DType::f32 || t->rank() < 2) continue;
    const std::int64_t k = t->dim(t->rank() - 2), n_cols = t->dim(t->rank() - 1);
    if (k * n_cols != t->numel() || k == 0 || n_cols == 0) continue;
    plan.packed.push_back(std::make_unique<kernels::PackedB>(gemm::pack_f32(t->data<float>(), k, n_cols)));
    st.packed = plan.packed.back().get();
    st.kernel = linear ? kernels::KernelChoice{kernels::linear_packed, "packed_gemm"}
                       : kernels::KernelChoice{kernels::matmul_packed, "packed_gemm"};
  }
}

// A packed Linear whose output is read only by an f32 Add of the same shape (the residual connection) adds
// the Add's other operand in its epilogue and writes the Add's output; the Add step is folded. The other
// operand must exist when the Linear runs (produced by an earlier step, or an input / constant).
void fold_residual_adds(const Graph& g, Plan& plan) {
  const std::vector<int> reads = count_reads(g, plan);
  std::vector<std::int64_t> producer(g.num_values(), -1), reader(g.num_values(), -1);
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    for (std::uint32_t o : plan.steps[s].outputs) producer[o] = static_cast<std::int64_t>(s);
    for (const ValueRef& r : plan.steps[s].inputs)
      if (r.source == Source::slot) reader[r.index] = static_cast<std::int64_t>(s);
  }
  std::vector<bool> removed(plan.steps.size(), false);
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    Step& st = plan.steps[s];
    if (removed[s] || st.kernel.fn != kernels::linear_packed || st.outputs.size() != 1) continue;
    const std::uint32_t y = st.outputs[0];
    if (reads[y] != 1 || reader[y] < 0) continue;
    const auto c = static_cast<std::size_t>(reader[y]);
    const Step& add = plan.steps[c];
    const Node& an = g.node(add.node);
    if (removed[c] || an.kind != OpKind::Add || add.inputs.size() != 2 || !add.out_shapes[0] ||
        *add.out_shapes[0] != *st.out_shapes[0] || g.value(ValueId(add.outputs[0])).type.dtype != DType::f32)
      continue;
    const std::size_t mine = add.inputs[0].source == Source::slot && add.inputs[0].index == y ? 0 : 1;
    const ValueRef other = add.inputs[1 - mine];
    if (other.source == Source::absent || (other.source == Source::slot && other.index == y)) continue;
    const TensorType& ot = g.value(ValueId(an.inputs[1 - mine].index)).type;
    if (ot.dtype != DType::f32 || !ot.is_static() || ot.static_shape() != *st.out_shapes[0]) continue;
    if (other.source == Source::slot && !(producer[other.index] >= 0 && producer[other.index] < static_cast<std::int64_t>(s)))
      continue;
    st.inputs.push_back(other);
    st.outputs[0] = add.outputs[0];
    st.kernel = {kernels::linear_packed_residual, "packed_gemm_residual"};
    removed[c] = true;
  }
  drop_folded_steps(plan, removed, "folded_into_linear");
}

// A slot dies after its last reader; an output nobody reads dies right after its producer.
void set_lifetimes(const Graph& g, Plan& plan) {
  std::vector<std::int64_t> last_use(g.num_values(), -1);
  for (std::size_t s = 0; s < plan.steps.size(); ++s)
    for (const ValueRef& r : plan.steps[s].inputs)
      if (r.source == Source::slot) last_use[r.index] = static_cast<std::int64_t>(s);
  for (ValueId out : g.outputs()) last_use[out.index] = std::numeric_limits<std::int64_t>::max();
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    Step& st = plan.steps[s];
    st.release.clear();
    for (std::uint32_t out : st.outputs)
      if (last_use[out] < 0) st.release.push_back(out);
    for (const ValueRef& r : st.inputs)
      if (r.source == Source::slot && last_use[r.index] == static_cast<std::int64_t>(s) &&
          std::find(st.release.begin(), st.release.end(), r.index) == st.release.end())
        st.release.push_back(r.index);
  }
}

// A Slice of a computed value or input whose starts / ends / axes / steps are constants copies an affine map of its
// input. The map is read off the reference kernel itself, run once on a tensor holding each element's own
// flat index (so the ONNX clamping rules live in one place), and checked element by element.
void prepare_affine_gathers(const Graph& g, Plan& plan) {
  constexpr std::int64_t kMaxIndexElements = std::int64_t{1} << 24;
  for (Step& st : plan.steps) {
    const Node& n = g.node(st.node);
    if (n.kind != OpKind::Slice || st.kernel.fn != nullptr || st.outputs.size() != 1 || !st.out_shapes[0]) continue;
    if (st.inputs.empty() || (st.inputs[0].source != Source::slot && st.inputs[0].source != Source::input)) continue;
    const TensorType& xt = g.value(n.inputs[0]).type;
    if (!xt.is_static() || xt.dtype == DType::f16) continue;
    bool constants = true;
    std::vector<const Tensor*> args{nullptr};
    for (std::size_t i = 1; i < st.inputs.size(); ++i) {
      const ValueRef r = st.inputs[i];
      if (r.source == Source::constant) args.push_back(&*g.value(ValueId(r.index)).constant);
      else if (r.source == Source::owned) args.push_back(&plan.owned[r.index]);
      else if (r.source == Source::absent) args.push_back(nullptr);
      else constants = false;
    }
    const kernels::KernelFn fn = kernels::affine_gather_kernel(dtype_size(xt.dtype));
    const Shape xs = xt.static_shape();
    if (!constants || fn == nullptr || checked_numel(xs) > kMaxIndexElements) continue;
    Tensor iota(DType::i64, xs);
    for (std::int64_t i = 0; i < iota.numel(); ++i) iota.data<std::int64_t>()[i] = i;
    args[0] = &iota;
    std::vector<Tensor> out;
    try {
      out = evaluate_reference(g, st.node, args);
    } catch (const Error&) {
      continue;
    }
    if (out.size() != 1 || out[0].shape() != *st.out_shapes[0] || out[0].numel() == 0) continue;
    const Tensor& idx = out[0];
    const std::int64_t* pi = idx.data<std::int64_t>();
    auto map = std::make_unique<kernels::AffineGather>();
    map->base = pi[0];
    const Shape& os = idx.shape();
    std::int64_t stride = 1;
    map->delta.assign(os.size(), 0);
    for (std::size_t d = os.size(); d-- > 0;) {
      map->delta[d] = os[d] > 1 ? pi[stride] - pi[0] : 0;
      stride *= os[d];
    }
    bool affine = true;
    for (std::int64_t e = 0; affine && e < idx.numel(); ++e) {
      std::int64_t want = map->base, rest = e;
      for (std::size_t d = os.size(); d-- > 0;) {
        want += (rest % os[d]) * map->delta[d];
        rest /= os[d];
      }
      affine = pi[e] == want;
    }
    if (!affine) continue;
    plan.gathers.push_back(std::move(map));
    st.gather = plan.gathers.back().get();
    st.kernel = {fn, "affine_gather"};
  }
}

bool evaluate_constant(const Graph& g, const Step& step, Plan& plan, std::vector<TensorType>& types) {
  std::vector<const Tensor*> in;
  for (const ValueRef& r : step.inputs) {
    if (r.source == Source::constant) in.push_back(&*g.value(ValueId(r.index)).constant);
    else if (r.source == Source::owned) in.push_back(&plan.owned[r.index]);
    else if (r.source == Source::absent) in.push_back(nullptr);
    else return false;  // reads a graph input or a computed value
  }
  if (in.empty()) return false;
  std::vector<Tensor> out;
  try {
    out = evaluate_reference(g, step.node, in);
  } catch (const Error&) {
    return false;  // leave it to the run, which reports the error with its context
  }
  if (out.size() != step.outputs.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    types[step.outputs[i]] = TensorType::of(out[i].dtype(), out[i].shape());
    plan.values[step.outputs[i]] = {Source::owned, static_cast<std::uint32_t>(plan.owned.size())};
    plan.owned.push_back(std::move(out[i]));
  }
  plan.folded.push_back({step.node, step.counts, "constant"});
  return true;
}

}  // namespace

Plan build_plan(const Graph& g, const EngineOptions& options) {
  Plan plan;
  const std::size_t nv = g.num_values();
  plan.values.resize(nv);
  std::vector<TensorType> types(nv);  // the type each value has at run time (dequantized weights: f32)
  for (std::size_t i = 0; i < nv; ++i) {
    const ValueId id(static_cast<std::uint32_t>(i));
    const Value& v = g.value(id);
    if (v.constant) {
      // Weights stored quantized are dequantized once here; kernels then see plain f32.
      if (v.quant && is_integer(v.constant->dtype())) {
        plan.values[i] = {Source::owned, static_cast<std::uint32_t>(plan.owned.size())};
        plan.owned.push_back(dequantize_constant(g, id));
        types[i] = TensorType::of(DType::f32, v.constant->shape());
      } else {
        plan.values[i] = {Source::constant, static_cast<std::uint32_t>(i)};
        types[i] = TensorType::of(v.constant->dtype(), v.constant->shape());
      }
    } else {
      plan.values[i] = {Source::slot, static_cast<std::uint32_t>(i)};
      types[i] = v.type;
    }
  }
  for (std::size_t k = 0; k < g.inputs().size(); ++k) {
    const ValueId id = g.inputs()[k];
    if (g.value(id).constant) continue;
    plan.values[id.index] = {Source::input, static_cast<std::uint32_t>(k)};
    plan.input_types.push_back(g.value(id).type);
  }
  if (!g.inputs().empty()) {
    const TensorType& t = g.value(g.inputs()[0]).type;
    if (t.rank() > 0 && t.dims[0].is_known()) plan.batch = static_cast<std::uint64_t>(t.dims[0].value);
  }

  const std::vector<NodeId> order = g.topological_order();
  for (std::size_t s = 0; s < order.size(); ++s) {
    const Node& n = g.node(order[s]);
    Step step;
    step.node = order[s];
    std::vector<const TensorType*> in_types;
    for (ValueId in : n.inputs) {
      step.inputs.push_back(in.valid() ? plan.values[in.index] : ValueRef{});
      in_types.push_back(in.valid() ? &types[in.index] : nullptr);
    }
    bool outputs_static = true;
    for (ValueId out : n.outputs) {
      step.outputs.push_back(out.index);
      const TensorType& t = g.value(out).type;
      outputs_static = outputs_static && t.is_static();
      step.out_shapes.push_back(t.is_static() ? std::optional<Shape>(t.static_shape()) : std::nullopt);
    }
    if (!options.reference_only && outputs_static) step.kernel = kernels::choose_kernel(g, n, in_types);
    if (options.fill_ledger) step.counts = node_counts(g, order[s]);
    // A node of constants only (what the importer leaves unfolded, e.g. a slice of the positional table)
    // is computed here once, by the reference kernel, and its outputs become owned constants.
    if (!options.reference_only && options.plan_rewrites && evaluate_constant(g, step, plan, types)) continue;
    plan.steps.push_back(std::move(step));
  }
  for (ValueId out : g.outputs()) plan.outputs.push_back(plan.values[out.index]);
  if (!options.reference_only && options.plan_rewrites) {
    fold_attention_transposes(g, plan);
    use_int8_linears(g, plan);  // before views: it adds readers of the u8/s8 levels
    fuse_level_points(g, plan);  // after the int8 Linears: they read the levels the fused step writes
    mark_views(g, plan);
    pack_weights(g, plan);
    fold_residual_adds(g, plan);
    prepare_affine_gathers(g, plan);
  }
  set_lifetimes(g, plan);  // release lists first: the memory plan replays them
  plan_memory(g, plan);
  return plan;
}

}  // namespace snnconv::ann
