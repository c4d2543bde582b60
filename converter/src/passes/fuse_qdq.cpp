// Externally quantized models (QDQ ONNX from torch QAT/PTQ or ONNX Runtime's static quantizer):
//  - an activation QuantizeLinear -> [Clip] -> DequantizeLinear pair with one step becomes a FakeQuant whose
//    QuantParams are the file's (step, level range relative to the zero point), so the QANN takes the file's
//    own quantization points instead of calibrating new ones;
//  - a weight DequantizeLinear of constant levels (or of QuantizeLinear -> [Clip] of a float constant, as torch
//    exports fake-quantized parameters) becomes an f32 constant holding the dequantized values, with the
//    file's per-channel steps kept in its QuantParams (axis of the output channels in the [K, N] layout once a
//    Transpose of it is folded too); quantize_skeleton then uses those steps, not new ones.
// Also: a Mul / Div of a Linear's output by a scalar constant is folded into the Linear's weight and bias
// (torch's `q / sqrt(d)` before a quantization point): the scaled current needs no unit of its own.
#include <cmath>

#include "fuse_detail.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv::fuse {
namespace {

[[noreturn]] void refuse(const Graph& g, NodeId id, const std::string& msg) {
  throw UnsupportedError("QDQ import: " + msg, g.context(id));
}

// The steps of a Q or DQ node: finite and > 0, else the model is refused naming the node.
std::vector<float> steps_of(const Graph& g, const View& view, NodeId id) {
  const Tensor* s = view.constant(view.node(id).inputs[1]);
  if (s == nullptr) refuse(g, id, "the quantization step must be a constant");
  std::vector<float> v = s->to_f32();
  for (float x : v)
    if (!(x > 0.0f) || !std::isfinite(x))
      refuse(g, id, "quantization step " + std::to_string(x) + " is not a positive finite number");
  return v;
}

std::vector<std::int64_t> zero_points_of(const View& view, const Node& n, std::size_t count) {
  if (n.inputs.size() > 2 && n.inputs[2].valid())
    if (const Tensor* z = view.constant(n.inputs[2])) return z->to_i64();
  return std::vector<std::int64_t>(count, 0);
}

// The integer range [lo, hi] of the levels a QuantizeLinear writes (its dtype), narrowed by a Clip.
std::pair<std::int64_t, std::int64_t> level_range(const Graph& g, const View& view, ValueId q_out, NodeId clip) {
  const DType t = g.value(q_out).type.dtype;
  std::int64_t lo = t == DType::u8 ? 0 : -128, hi = t == DType::u8 ? 255 : 127;
  if (clip.valid()) {
    const Node& c = view.node(clip);
    if (c.inputs.size() > 1 && c.inputs[1].valid()) {
      const Tensor* m = view.constant(c.inputs[1]);
      if (m == nullptr || m->numel() != 1) refuse(g, clip, "Clip bounds of levels must be constants");
      lo = std::max(lo, m->to_i64()[0]);
    }
    if (c.inputs.size() > 2 && c.inputs[2].valid()) {
      const Tensor* m = view.constant(c.inputs[2]);
      if (m == nullptr || m->numel() != 1) refuse(g, clip, "Clip bounds of levels must be constants");
      hi = std::min(hi, m->to_i64()[0]);
    }
  }
  if (lo > hi) refuse(g, clip, "the Clip leaves no level");
  return {lo, hi};
}

int bits_for(std::int64_t levels) {
  int b = 1;
  while ((std::int64_t{1} << b) < levels) ++b;
  return b;
}

bool same_values(const View& view, ValueId a, ValueId b) {
  if (a == b) return true;
  const Tensor* x = view.constant(a);
  const Tensor* y = view.constant(b);
  return x != nullptr && y != nullptr && x->shape() == y->shape() && x->to_f32() == y->to_f32();
}

// Runs node `id` (all inputs constant) with the reference kernel.
Tensor run_constant(const Graph& g, NodeId id, const std::vector<const Tensor*>& ins) {
  return std::move(ann::evaluate_reference(g, id, ins).at(0));
}

}  // namespace

std::optional<Rewrite> match_qdq(Graph& g, const View& view, NodeId anchor) {
  const Node& dq = view.node(anchor);
  const ValueId out = dq.outputs[0];
  const std::vector<float> s = steps_of(g, view, anchor);
  const std::vector<std::int64_t> zp = zero_points_of(view, dq, s.size());
  std::vector<NodeId> chain{anchor};
  ValueId levels = dq.inputs[0];
  NodeId clip = view.producer(levels, OpKind::Clip);
  ValueId q_out = levels;
  if (clip.valid()) {
    if (view.sole_consumer(levels) != anchor) return std::nullopt;
    chain.push_back(clip);
    q_out = view.node(clip).inputs[0];
  }
  const NodeId q = view.producer(q_out, OpKind::QuantizeLinear);
  const auto [lo, hi] = level_range(g, view, q_out, clip);

  if (view.constant(levels) != nullptr || (q.valid() && view.constant(view.node(q).inputs[0]) != nullptr)) {
    // A weight: the dequantized values as an f32 constant carrying the file's steps.
    Tensor w;
    if (const Tensor* c = view.constant(levels)) {
      w = run_constant(g, anchor, {c, view.constant(dq.inputs[1]),
                                   dq.inputs.size() > 2 && dq.inputs[2].valid() ? view.constant(dq.inputs[2]) : nullptr});
    } else {
      if (clip.valid() && view.sole_consumer(q_out) != clip) return std::nullopt;
      const Node& qn = view.node(q);
      steps_of(g, view, q);
      Tensor lv = run_constant(g, q, {view.constant(qn.inputs[0]), view.constant(qn.inputs[1]),
                                      qn.inputs.size() > 2 && qn.inputs[2].valid() ? view.constant(qn.inputs[2]) : nullptr});
      if (clip.valid()) {
        const Node& cn = view.node(clip);
        lv = run_constant(g, clip, {&lv, cn.inputs.size() > 1 && cn.inputs[1].valid() ? view.constant(cn.inputs[1]) : nullptr,
                                    cn.inputs.size() > 2 && cn.inputs[2].valid() ? view.constant(cn.inputs[2]) : nullptr});
      }
      w = run_constant(g, anchor, {&lv, view.constant(dq.inputs[1]),
                                   dq.inputs.size() > 2 && dq.inputs[2].valid() ? view.constant(dq.inputs[2]) : nullptr});
      chain.push_back(q);
    }
    for (std::int64_t z : zp)
      if (z != 0) return std::nullopt;  // asymmetric weights: left as they are (dense engine only)
    QuantParams qp;
    qp.scale = s;
    qp.n_min = static_cast<std::int32_t>(lo);
    qp.n_max = static_cast<std::int32_t>(hi);
    qp.bits = bits_for(hi - lo + 1);
    qp.axis = s.size() == 1 ? -1 : static_cast<int>(std::get<AxisAttrs>(dq.attrs).axis < 0
                                                         ? std::get<AxisAttrs>(dq.attrs).axis + w.rank()
                                                         : std::get<AxisAttrs>(dq.attrs).axis);
    ValueId target = out;
    // torch writes x @ W^T as MatMul(x, Transpose(W)): fold the Transpose of a 2-D weight too.
    if (const NodeId tr = view.sole_consumer(out); tr.valid() && view.node(tr).kind == OpKind::Transpose && w.rank() == 2) {
      const auto& perm = std::get<TransposeAttrs>(view.node(tr).attrs).perm;
      if (perm.empty() || perm == std::vector<std::int64_t>{1, 0}) {
        Tensor t(DType::f32, {w.dim(1), w.dim(0)});
        const float* pw = w.data<float>();
        float* pt = t.data<float>();
        for (std::int64_t i = 0; i < w.dim(0); ++i)
          for (std::int64_t j = 0; j < w.dim(1); ++j) pt[j * w.dim(0) + i] = pw[i * w.dim(1) + j];
        w = std::move(t);
        if (qp.axis >= 0) qp.axis = 1 - qp.axis;
        chain.push_back(tr);
        target = view.node(tr).outputs[0];
      }
    }
    Value& v = g.value(target);
    v.type = TensorType::of(DType::f32, w.shape());
    v.constant = std::move(w);
    v.quant = qp;
    return Rewrite{{}, chain};
  }

  // An activation quantization point.
  if (!q.valid() || view.sole_consumer(q_out) != (clip.valid() ? clip : anchor)) return std::nullopt;
  const Node& qn = view.node(q);
  const std::vector<float> qs = steps_of(g, view, q);
  if (s.size() != 1 || qs.size() != 1)
    refuse(g, anchor, "per-channel activation quantization has no neuron form (one step per tensor)");
  // Q and DQ with different steps rescale the levels (our own integer-form export writes such pairs): not a
  // quantization point; the dense engine runs the pair as it is.
  if (!same_values(view, qn.inputs[1], dq.inputs[1]) || zero_points_of(view, qn, 1) != zp) return std::nullopt;
  chain.push_back(q);
  QuantParams qp;
  qp.scale = s;
  qp.n_min = static_cast<std::int32_t>(lo - zp[0]);
  qp.n_max = static_cast<std::int32_t>(hi - zp[0]);
  qp.bits = bits_for(hi - lo + 1);
  g.value(out).quant = qp;
  Node fq;
  fq.kind = OpKind::FakeQuant;
  fq.name = dq.name;
  fq.inputs = {qn.inputs[0]};
  fq.outputs = {out};
  return Rewrite{{std::move(fq)}, chain};
}

std::optional<Rewrite> match_linear_scale(Graph& g, const View& view, NodeId anchor) {
  const Node& op = view.node(anchor);
  const ValueId x = op.inputs[0];
  std::optional<float> c = view.scalar(op.inputs[1]);
  if (!c) return std::nullopt;
  const float factor = op.kind == OpKind::Div ? 1.0f / *c : *c;
  if (op.kind == OpKind::Div && *c == 0.0f) return std::nullopt;
  const NodeId lin_id = view.producer(x, OpKind::Linear);
  if (!lin_id.valid() || view.sole_consumer(x) != anchor) return std::nullopt;
  const Node& lin = view.node(lin_id);
  if (std::get<LinearAttrs>(lin.attrs).activation != Activation::none) return std::nullopt;
  Node scaled = lin;
  for (std::size_t k = 1; k < 3 && k < lin.inputs.size(); ++k) {
    if (!lin.inputs[k].valid()) continue;
    const Value& cv = g.value(lin.inputs[k]);
    if (!cv.constant || cv.constant->dtype() != DType::f32) return std::nullopt;
    std::vector<float> v = cv.constant->to_f32();
    // Division as torch computes it (x / c), so the folded weights equal the chain's numbers where exact.
    for (float& e : v) e = op.kind == OpKind::Div ? e / *c : e * factor;
    const ValueId nv = g.add_constant(cv.name + ".scaled", Tensor::from_vector<float>(cv.constant->shape(), v));
    if (cv.quant) {  // a file's weight steps scale with it
      QuantParams qp = *cv.quant;
      for (float& s : qp.scale) s = op.kind == OpKind::Div ? s / *c : s * factor;
      g.value(nv).quant = qp;
    }
    scaled.inputs[k] = nv;
  }
  scaled.outputs = {op.outputs[0]};
  return Rewrite{{std::move(scaled)}, {lin_id, anchor}};
}

}  // namespace snnconv::fuse
