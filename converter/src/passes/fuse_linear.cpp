// Linear from MatMul by a constant 2-D weight (+ constant bias) (+ Relu/Gelu), and from Gemm with constant B.
#include "fuse_detail.hpp"

namespace snnconv::fuse {
namespace {

// A constant that adds one value per output column: numel N, last dim N (leading dims 1).
bool is_bias(const Tensor* t, std::int64_t n) {
  return t != nullptr && t->dtype() == DType::f32 && t->numel() == n && t->rank() >= 1 && t->shape().back() == n;
}

// Extends the chain ending at `out` by a following Relu/Gelu when it is the only reader.
Activation absorb_activation(const View& view, ValueId& out, std::vector<NodeId>& chain) {
  const NodeId act_id = view.sole_consumer(out);
  if (!act_id.valid()) return Activation::none;
  const Node& act = view.node(act_id);
  Activation a = Activation::none;
  if (act.kind == OpKind::Relu) a = Activation::relu;
  if (act.kind == OpKind::Gelu)
    a = std::get<GeluAttrs>(act.attrs).tanh_approximation ? Activation::gelu_tanh : Activation::gelu;
  if (a == Activation::none) return a;
  chain.push_back(act_id);
  out = act.outputs[0];
  return a;
}

Node make_linear(const std::string& name, ValueId x, ValueId w, ValueId bias, Activation a, ValueId out) {
  Node n;
  n.kind = OpKind::Linear;
  n.name = name;
  n.attrs = LinearAttrs{a};
  n.inputs = {x, w};
  if (bias.valid()) n.inputs.push_back(bias);
  n.outputs = {out};
  return n;
}

}  // namespace

std::optional<Rewrite> match_matmul_linear(Graph& g, const View& view, NodeId anchor) {
  const Node& mm = view.node(anchor);
  const Tensor* w = view.constant(mm.inputs[1]);
  if (w == nullptr || w->dtype() != DType::f32 || w->rank() != 2 || view.constant(mm.inputs[0]) != nullptr)
    return std::nullopt;
  if (g.value(mm.inputs[0]).type.rank() < 1 || g.value(mm.inputs[0]).type.dtype != DType::f32) return std::nullopt;
  const std::int64_t n = w->dim(1);
  std::vector<NodeId> chain{anchor};
  ValueId out = mm.outputs[0];
  ValueId bias;
  if (const NodeId add_id = view.sole_consumer(out); add_id.valid() && view.node(add_id).kind == OpKind::Add) {
    const ValueId b = view.other_input(view.node(add_id), out);
    // The bias must not widen the result (a [1, 1, N] bias on a 2-D product would add a dim).
    if (is_bias(view.constant(b), n) && g.value(b).type.rank() <= g.value(out).type.rank()) {
      bias = g.add_constant(g.value(b).name + ".vector", view.constant(b)->reshaped({n}));
      chain.push_back(add_id);
      out = view.node(add_id).outputs[0];
    }
  }
  const Activation a = absorb_activation(view, out, chain);
  return Rewrite{{make_linear(mm.name, mm.inputs[0], mm.inputs[1], bias, a, out)}, chain};
}

std::optional<Rewrite> match_gemm_linear(Graph& g, const View& view, NodeId anchor) {
  const Node& gemm = view.node(anchor);
  const auto& at = std::get<GemmAttrs>(gemm.attrs);
  const Tensor* b = view.constant(gemm.inputs[1]);
  if (at.trans_a || b == nullptr || b->dtype() != DType::f32 || b->rank() != 2) return std::nullopt;
  if (g.value(gemm.inputs[0]).type.rank() != 2) return std::nullopt;
  const Tensor* c = gemm.inputs.size() > 2 && gemm.inputs[2].valid() ? view.constant(gemm.inputs[2]) : nullptr;
  if (gemm.inputs.size() > 2 && gemm.inputs[2].valid() && c == nullptr) return std::nullopt;
  const std::int64_t k = at.trans_b ? b->dim(1) : b->dim(0);
  const std::int64_t n = at.trans_b ? b->dim(0) : b->dim(1);
  if (c != nullptr && (!is_bias(c, n) || c->rank() > 2)) return std::nullopt;

  // The bias is copied before any add_constant: that may grow the graph's value array and move the tensor
  // `c` points into.
  std::optional<Tensor> bias_vector;
  if (c != nullptr) {
    bias_vector = c->reshaped({n});
    if (at.beta != 1.0f)
      for (float& v : bias_vector->span<float>()) v *= at.beta;
  }
  // W [K, N] = alpha * (B or B^T): Linear stores a row per input so one input's fan-out is contiguous.
  ValueId w = gemm.inputs[1];
  if (at.trans_b || at.alpha != 1.0f) {
    Tensor wt(DType::f32, {k, n});
    const float* pb = b->data<float>();
    float* pw = wt.data<float>();
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t j = 0; j < n; ++j) pw[i * n + j] = at.alpha * (at.trans_b ? pb[j * k + i] : pb[i * n + j]);
    w = g.add_constant(g.value(gemm.inputs[1]).name + ".kn", std::move(wt));
  }
  ValueId bias;
  if (bias_vector) bias = g.add_constant(g.value(gemm.inputs[2]).name + ".vector", std::move(*bias_vector));
  std::vector<NodeId> chain{anchor};
  ValueId out = gemm.outputs[0];
  const Activation a = absorb_activation(view, out, chain);
  return Rewrite{{make_linear(gemm.name, gemm.inputs[0], w, bias, a, out)}, chain};
}

}  // namespace snnconv::fuse
