// export_onnx (onnx_export.hpp): canonical and quantized graphs -> standard ONNX opset 17. This file holds the
// entry point and the Exporter (onnx_export_impl.hpp) except its integer form: names, nodes and initializers,
// what cannot be exported, the canonical and qdq emitters (Linear, GELU, attention, softmax, FakeQuant as
// QuantizeLinear, weights as int8 + DequantizeLinear, every other op with its attributes). The integer form
// (ExportOptions::form integer) is in onnx_export_integer.cpp.
#include "snnconv/converter/onnx_export.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "onnx/onnx_export_impl.hpp"
#include "snnconv/core/atomic_output.hpp"

namespace snnconv::onnx_export {
namespace detail {
namespace {

using onnx::TensorProto;

int onnx_elem_type(DType t) {
  switch (t) {
    case DType::f32: return TensorProto::FLOAT;
    case DType::f16: return TensorProto::FLOAT16;
    case DType::i8: return TensorProto::INT8;
    case DType::u8: return TensorProto::UINT8;
    case DType::i32: return TensorProto::INT32;
    case DType::i64: return TensorProto::INT64;
    case DType::boolean: return TensorProto::BOOL;
  }
  return TensorProto::UNDEFINED;
}

void fill_tensor(TensorProto& p, const std::string& name, const Tensor& t) {
  p.set_name(name);
  p.set_data_type(onnx_elem_type(t.dtype()));
  for (std::int64_t d : t.shape()) p.add_dims(d);
  p.set_raw_data(std::string(reinterpret_cast<const char*>(t.raw()), t.nbytes()));
}

void fill_type(onnx::TypeProto& tp, const TensorType& t) {
  auto* tt = tp.mutable_tensor_type();
  tt->set_elem_type(onnx_elem_type(t.dtype));
  if (!t.rank_known) return;
  auto* shape = tt->mutable_shape();
  for (const Dim& d : t.dims) {
    auto* dim = shape->add_dim();
    if (d.is_known())
      dim->set_dim_value(d.value);
    else if (!d.symbol.empty())
      dim->set_dim_param(d.symbol);
  }
}

}  // namespace

onnx::ModelProto Exporter::build(ExportStats& stats) {
  if (g_.stage == Stage::spiking)
    throw UnsupportedError("the SNN graph has no ONNX form (spiking neurons and differential units are not ONNX "
                           "ops); export its QANN instead",
                           {g_.source_file, "", "", ""});
  check_supported();
  model_.set_ir_version(8);
  model_.set_producer_name(o_.producer);
  model_.set_producer_version("0.1.0");
  auto* opset = model_.add_opset_import();
  opset->set_domain("");
  opset->set_version(kExportOpset);
  if (o_.keep_metadata)
    for (const auto& [k, v] : g_.metadata) {
      auto* p = model_.add_metadata_props();
      p->set_key(k);
      p->set_value(v);
    }
  gp_ = model_.mutable_graph();
  gp_->set_name(g_.name.empty() ? "snnconv" : g_.name);
  integer_ = o_.form == QdqForm::integer && g_.stage == Stage::quantized;
  // Reserve every value name first so that the helper names made below never collide with one.
  for (std::uint32_t i = 0; i < g_.num_values(); ++i) {
    std::string n = g_.value(ValueId(i)).name;
    if (n.empty()) n = "v" + std::to_string(i);
    names_[i] = unique(n);
  }
  for (ValueId in : g_.inputs()) {
    auto* vi = gp_->add_input();
    vi->set_name(names_[in.index]);
    fill_type(*vi->mutable_type(), g_.value(in).type);
  }
  for (NodeId id : g_.topological_order()) emit(id);
  for (ValueId out : g_.outputs()) {
    const Value& v = g_.value(out);
    std::string name = names_[out.index];
    if (v.constant || !v.producer.valid()) {  // an output that is a constant or an input: copy it out
      const std::string src = use(out);
      name = unique(v.name + ".out");
      node("Identity", {src}, {name}, name);
    }
    auto* vi = gp_->add_output();
    vi->set_name(name);
    fill_type(*vi->mutable_type(), v.type);
  }
  stats = stats_;
  stats.nodes = gp_->node_size();
  stats.initializers = gp_->initializer_size();
  return std::move(model_);
}

// ---- names, nodes, constants ---------------------------------------------------------------------
std::string Exporter::unique(const std::string& base) {
  std::string n = base;
  for (int i = 1; used_.count(n); ++i) n = base + "." + std::to_string(i);
  used_.insert(n);
  return n;
}

onnx::NodeProto* Exporter::node(const std::string& op, const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs, const std::string& name) {
  onnx::NodeProto* n = gp_->add_node();
  n->set_op_type(op);
  n->set_name(unique("node:" + name));
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

void Exporter::attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void Exporter::attr_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void Exporter::attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (std::int64_t x : v) a->add_ints(x);
}

std::string Exporter::initializer(const std::string& base, const Tensor& t) {
  const std::string name = unique(base);
  fill_tensor(*gp_->add_initializer(), name, t);
  return name;
}

std::string Exporter::scalar_f32(const std::string& base, float v) {
  return initializer(base, Tensor::scalar<float>(v));
}

// The ONNX name of a node input: constants become initializers on first use.
std::string Exporter::use(ValueId v) {
  if (!v.valid()) return "";
  const Value& val = g_.value(v);
  if (val.constant && !written_.count(v.index)) {
    fill_tensor(*gp_->add_initializer(), names_[v.index], *val.constant);
    written_.insert(v.index);
  }
  return names_[v.index];
}

std::string Exporter::out_name(NodeId id, std::size_t k) const { return names_[g_.node(id).outputs.at(k).index]; }

void Exporter::unsupported(NodeId id, const std::string& msg) const {
  throw UnsupportedError("ONNX export: " + msg, g_.context(id));
}

// ---- what cannot be exported, listed at once ------------------------------------------------------
std::string Exporter::problem(NodeId id) const {
  const Node& n = g_.node(id);
  if (has_flag(n.kind, kSpiking)) return "a spiking op has no ONNX form";
  auto step_problem = [](const QuantParams& qp) -> std::string {
    if (!qp.per_tensor()) return "a per-channel activation step (QDQ export handles per-tensor activations)";
    if (!qp.zero_point.empty() && qp.zero_point[0] != 0) return "an activation zero point other than 0";
    if (!(qp.scale[0] > 0.0f) || !std::isfinite(qp.scale[0])) return "a quantization step that is not positive";
    if (qp.n_min < -128 || qp.n_max > (qp.n_min >= 0 ? 255 : 127))
      return "activation levels [" + std::to_string(qp.n_min) + ", " + std::to_string(qp.n_max) + "] (" +
             std::to_string(qp.bits) + " bits) do not fit int8/uint8, the only QuantizeLinear types of opset " +
             std::to_string(kExportOpset);
    return {};
  };
  if (n.kind == OpKind::FakeQuant) {
    const Value& out = g_.value(n.outputs[0]);
    if (!out.quant) return "FakeQuant without QuantParams";
    if (std::string p = step_problem(*out.quant); !p.empty()) return p;
  }
  if (n.kind == OpKind::Attention) {
    const auto& at = std::get<AttentionAttrs>(n.attrs);
    if (at.quantized() && o_.form == QdqForm::integer && g_.stage == Stage::quantized)
      return "an Attention with quantization steps inside has no integer form (the QANN expands it first)";
    for (const auto* qp : {&at.scores_quant, &at.probs_quant})
      if (*qp)
        if (std::string p = step_problem(**qp); !p.empty()) return "attention " + std::string(qp == &at.scores_quant ? "scores" : "probabilities") + " step: " + p;
  }
  if (n.kind == OpKind::Rotary) {
    const TensorType& t = g_.value(n.inputs[0]).type;
    if (t.dims.empty() || !t.dims.back().is_known() || t.dims.back().value % 2 != 0)
      return "rotary embedding needs a static, even last dimension";
  }
  if ((n.kind == OpKind::Softmax && std::get<SoftmaxAttrs>(n.attrs).causal) ||
      (n.kind == OpKind::Attention && std::get<AttentionAttrs>(n.attrs).causal)) {
    const TensorType& t = g_.value(n.kind == OpKind::Softmax ? n.inputs[0] : n.inputs[1]).type;
    if (!t.is_static()) return "a causal mask needs static sizes";
  }
  return {};
}

void Exporter::check_supported() const {
  std::string msg;
  int count = 0;
  for (std::uint32_t i = 0; i < g_.num_nodes(); ++i) {
    const std::string p = problem(NodeId(i));
    if (p.empty()) continue;
    const Node& n = g_.node(NodeId(i));
    msg += (count++ ? "; " : " ") + std::string("node '") + n.name + "' (" + std::string(op_name(n.kind)) + "): " + p;
  }
  if (count) throw UnsupportedError("ONNX export: " + std::to_string(count) + " node(s) cannot be exported:" + msg,
                                    {g_.source_file, "", "", ""});
}

// ---- emitters ------------------------------------------------------------------------------------
void Exporter::emit(NodeId id) {
  const Node& n = g_.node(id);
  switch (n.kind) {
    case OpKind::Linear: return linear(id);
    case OpKind::Gelu:
      if (integer_ && !std::get<GeluAttrs>(n.attrs).tanh_approximation && after_point(n.inputs[0]))
        return gelu_qann(use(n.inputs[0]), out_name(id), n.name);
      return gelu(use(n.inputs[0]), out_name(id), std::get<GeluAttrs>(n.attrs).tanh_approximation, n.name);
    case OpKind::Attention: return attention(id);
    case OpKind::Softmax:
      if (integer_ && softmax_integer(id)) return;
      return softmax(id);
    case OpKind::LayerNorm:
      if (integer_ && layer_norm_integer(id)) return;
      return generic(id);
    case OpKind::FakeQuant: return fake_quant(id);
    case OpKind::RMSNorm:
      if (integer_ && rms_norm_integer(id)) return;
      return rms_norm(id);
    case OpKind::Rotary: return rotary(id);
    case OpKind::MatMul:
      if (integer_ && product_integer(id)) return;
      return generic(id);
    default: return generic(id);
  }
}

void Exporter::activation(Activation a, const std::string& x, const std::string& y, const std::string& base) {
  switch (a) {
    case Activation::none: node("Identity", {x}, {y}, base); return;
    case Activation::relu: node("Relu", {x}, {y}, base); return;
    case Activation::gelu:  // a Linear's activation is always folded into the next quantization point
      if (integer_) gelu_qann(x, y, base);
      else gelu(x, y, false, base);
      return;
    case Activation::gelu_tanh: gelu(x, y, true, base); return;
    case Activation::tanh: node("Tanh", {x}, {y}, base); return;
    case Activation::silu: {
      const std::string sig = unique(base + "/sigmoid");
      node("Sigmoid", {x}, {sig}, base + "/sigmoid");
      node("Mul", {x, sig}, {y}, base);
      return;
    }
  }
}

// GELU as the chain torch exports at opset <= 19 (our fusion folds it back into Gelu on import).
void Exporter::gelu(const std::string& x, const std::string& y, bool tanh_approx, const std::string& base) {
  std::string inner;
  if (!tanh_approx) {
    const std::string d = unique(base + "/gelu_div");
    node("Div", {x, scalar_f32(base + "/sqrt2", 1.41421356237309504880f)}, {d}, d);
    inner = unique(base + "/gelu_erf");
    node("Erf", {d}, {inner}, inner);
  } else {
    const std::string x2 = unique(base + "/gelu_x2"), x3 = unique(base + "/gelu_x3"), c = unique(base + "/gelu_cx3"),
                      s = unique(base + "/gelu_sum"), k = unique(base + "/gelu_k");
    node("Mul", {x, x}, {x2}, x2);
    node("Mul", {x2, x}, {x3}, x3);
    node("Mul", {x3, scalar_f32(base + "/gelu_c", 0.044715f)}, {c}, c);
    node("Add", {x, c}, {s}, s);
    node("Mul", {s, scalar_f32(base + "/gelu_sqrt2_over_pi", 0.79788456080286535588f)}, {k}, k);
    inner = unique(base + "/gelu_tanh");
    node("Tanh", {k}, {inner}, inner);
  }
  const std::string one = unique(base + "/gelu_1p"), half_x = unique(base + "/gelu_xh");
  node("Add", {inner, scalar_f32(base + "/one", 1.0f)}, {one}, one);
  node("Mul", {x, one}, {half_x}, half_x);
  node("Mul", {half_x, scalar_f32(base + "/half", 0.5f)}, {y}, y);
}

// A quantized weight (integer levels in f32 with steps) -> int8 initializer + DequantizeLinear; cached.
std::string Exporter::weight(NodeId id, ValueId w) {
  const Value& v = g_.value(w);
  if (!v.quant || !v.constant) return use(w);
  if (auto it = dq_weight_.find(w.index); it != dq_weight_.end()) return it->second;
  const QuantParams& qp = *v.quant;
  const Tensor& t = *v.constant;
  if (qp.group_size > 0)
    unsupported(id, "grouped weight steps need DequantizeLinear's block_size (opset 21); the integer form "
                    "(ExportOptions::form integer) writes them");
  if (!qp.zero_point.empty())
    for (std::int32_t z : qp.zero_point)
      if (z != 0) unsupported(id, "weight zero points other than 0 are not exported");
  const bool per_tensor = qp.per_tensor();
  if (!per_tensor && (t.rank() != 2 || qp.axis != 1 || static_cast<std::int64_t>(qp.scale.size()) != t.dim(1)))
    unsupported(id, "weight '" + v.name + "': steps must be per tensor or one per output channel (axis 1 of [K, N])");
  const std::vector<float> f = t.to_f32();
  std::vector<std::int8_t> q(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != std::nearbyint(f[i]) || f[i] < -128.0f || f[i] > 127.0f)
      unsupported(id, "weight '" + v.name + "' holds " + std::to_string(f[i]) + ", not an int8 level");
    q[i] = static_cast<std::int8_t>(f[i]);
  }
  const std::string wq = initializer(v.name + ".int8", Tensor::from_vector<std::int8_t>(t.shape(), q));
  std::string scale, zero;
  if (per_tensor) {
    scale = scalar_f32(v.name + ".scale", qp.scale[0]);
    zero = initializer(v.name + ".zero_point", Tensor::scalar<std::int8_t>(0));
  } else {
    const auto n = static_cast<std::int64_t>(qp.scale.size());
    scale = initializer(v.name + ".scale", Tensor::from_vector<float>({n}, qp.scale));
    zero = initializer(v.name + ".zero_point",
                       Tensor::from_vector<std::int8_t>({n}, std::vector<std::int8_t>(qp.scale.size(), 0)));
  }
  const std::string out = unique(v.name + ".dq");
  onnx::NodeProto* dq = node("DequantizeLinear", {wq, scale, zero}, {out}, out);
  if (!per_tensor) attr_int(dq, "axis", 1);
  ++stats_.int8_weights;
  dq_weight_[w.index] = out;
  return out;
}

void Exporter::linear(NodeId id) {
  if (integer_ && linear_integer(id)) return;
  const Node& n = g_.node(id);
  const Activation act = std::get<LinearAttrs>(n.attrs).activation;
  const bool bias = n.inputs.size() > 2 && n.inputs[2].valid();
  const std::string x = use(n.inputs[0]), w = weight(id, n.inputs[1]), y = out_name(id);
  const std::string mm = bias || act != Activation::none ? unique(n.name + "/matmul") : y;
  node("MatMul", {x, w}, {mm}, mm);
  linear_tail(id, mm);
}

// After a Linear's product `cur` (the output itself when there is neither bias nor activation): + bias, then
// the activation, ending in the Linear's output name.
void Exporter::linear_tail(NodeId id, const std::string& cur) {
  const Node& n = g_.node(id);
  const std::string y = out_name(id);
  if (cur == y) return;
  const Activation act = std::get<LinearAttrs>(n.attrs).activation;
  std::string c = cur;
  if (n.inputs.size() > 2 && n.inputs[2].valid()) {
    const std::string b = act != Activation::none ? unique(n.name + "/bias") : y;
    node("Add", {c, use(n.inputs[2])}, {b}, b);
    c = b;
  }
  if (act != Activation::none)
    activation(act, c, y, n.name);
  else if (c != y)
    node("Identity", {c}, {y}, y);
}

// [M, N] additive mask: 0 where row i sees column j <= i + (N - M), -inf elsewhere.
std::string Exporter::causal_mask(const std::string& base, std::int64_t m, std::int64_t nk) {
  const auto key = std::make_pair(m, nk);
  if (auto it = causal_.find(key); it != causal_.end()) return it->second;
  std::vector<float> mask(static_cast<std::size_t>(m * nk), 0.0f);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = std::max<std::int64_t>(0, i + (nk - m) + 1); j < nk; ++j)
      mask[static_cast<std::size_t>(i * nk + j)] = -std::numeric_limits<float>::infinity();
  const std::string name = initializer(base + "/causal_mask", Tensor::from_vector<float>({m, nk}, mask));
  causal_[key] = name;
  return name;
}

// Scores with an attention mask: an additive mask is added, a bool mask (true = attend) selects -inf elsewhere.
std::string Exporter::apply_mask(ValueId mask, const std::string& scores, const std::string& base) {
  const std::string masked = unique(base + "/masked");
  if (g_.value(mask).type.dtype == DType::boolean)
    node("Where", {use(mask), scores, scalar_f32(base + "/neg_inf", -std::numeric_limits<float>::infinity())}, {masked},
         masked);
  else
    node("Add", {scores, use(mask)}, {masked}, masked);
  return masked;
}

void Exporter::attention(NodeId id) {
  const Node& n = g_.node(id);
  const auto& at = std::get<AttentionAttrs>(n.attrs);
  const std::string q = use(n.inputs[0]), k = use(n.inputs[1]), v = use(n.inputs[2]);
  const std::string kt = unique(n.name + "/k_t"), s = unique(n.name + "/scores"), ss = unique(n.name + "/scaled");
  onnx::NodeProto* tr = node("Transpose", {k}, {kt}, kt);
  attr_ints(tr, "perm", {0, 1, 3, 2});
  node("MatMul", {q, kt}, {s}, s);
  node("Mul", {s, scalar_f32(n.name + "/scale", at.scale)}, {ss}, ss);
  std::string cur = ss;
  if (at.scores_quant) cur = attention_step(*at.scores_quant, cur, n.name + "/scores_q");
  if (n.inputs.size() > 3 && n.inputs[3].valid()) cur = apply_mask(n.inputs[3], cur, n.name);
  if (at.causal) {
    const Shape qs = g_.value(n.inputs[0]).type.static_shape(), ks = g_.value(n.inputs[1]).type.static_shape();
    const std::string c = unique(n.name + "/causal");
    node("Add", {cur, causal_mask(n.name, qs.at(2), ks.at(2))}, {c}, c);
    cur = c;
  }
  std::string p = unique(n.name + "/probs");
  attr_int(node("Softmax", {cur}, {p}, p), "axis", -1);
  if (at.probs_quant) p = attention_step(*at.probs_quant, p, n.name + "/probs_q");
  node("MatMul", {p, v}, {out_name(id)}, n.name);
}

// The file's QuantizeLinear -> DequantizeLinear pair (zero point 0, checked by problem()). QuantizeLinear rounds
// ties to even where the fused op rounds them up, as for every FakeQuant in the float QDQ form.
std::string Exporter::attention_step(const QuantParams& qp, const std::string& x, const std::string& base) {
  const bool is_unsigned = qp.n_min >= 0;
  const std::string scale = scalar_f32(base + "/scale", qp.scale[0]);
  const std::string zero = is_unsigned ? initializer(base + "/zero_point", Tensor::scalar<std::uint8_t>(0))
                                       : initializer(base + "/zero_point", Tensor::scalar<std::int8_t>(0));
  const std::string q = unique(base + "/q"), y = unique(base);
  quantize_linear(qp, base, x, scale, zero, q);
  node("DequantizeLinear", {q, scale, zero}, {y}, y);
  ++stats_.qdq_pairs;
  return y;
}

// RMSNorm as the chain torch exports for `x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight` (our
// fusion folds it back into RMSNorm on import).
void Exporter::rms_norm(NodeId id) {
  const Node& n = g_.node(id);
  const auto& a = std::get<LayerNormAttrs>(n.attrs);
  const std::string x = use(n.inputs[0]);
  const std::string sq = unique(n.name + "/pow"), mean = unique(n.name + "/mean"), eps = unique(n.name + "/add_eps"),
                    root = unique(n.name + "/sqrt"), inv = unique(n.name + "/rsqrt"), normed = unique(n.name + "/normed");
  node("Pow", {x, scalar_f32(n.name + "/two", 2.0f)}, {sq}, sq);
  onnx::NodeProto* rm = node("ReduceMean", {sq}, {mean}, mean);
  attr_ints(rm, "axes", {a.axis});
  attr_int(rm, "keepdims", 1);
  node("Add", {mean, scalar_f32(n.name + "/eps", a.epsilon)}, {eps}, eps);
  node("Sqrt", {eps}, {root}, root);
  node("Reciprocal", {root}, {inv}, inv);
  node("Mul", {x, inv}, {normed}, normed);
  node("Mul", {normed, use(n.inputs[1])}, {out_name(id)}, n.name);
}

// Rotary(x, cos, sin) = x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1] over the last axis: the
// rotate_half chain of Llama-style code (Split into halves, Neg, Concat).
void Exporter::rotary(NodeId id) {
  const Node& n = g_.node(id);
  const std::string x = use(n.inputs[0]);
  const std::string x1 = unique(n.name + "/x1"), x2 = unique(n.name + "/x2"), neg = unique(n.name + "/neg"),
                    rot = unique(n.name + "/rotate_half"), xc = unique(n.name + "/x_cos"), rs = unique(n.name + "/rot_sin");
  attr_int(node("Split", {x}, {x1, x2}, unique(n.name + "/split")), "axis", -1);  // opset 17: two equal halves
  node("Neg", {x2}, {neg}, neg);
  attr_int(node("Concat", {neg, x1}, {rot}, rot), "axis", -1);
  node("Mul", {x, use(n.inputs[1])}, {xc}, xc);
  node("Mul", {rot, use(n.inputs[2])}, {rs}, rs);
  node("Add", {xc, rs}, {out_name(id)}, n.name);
}

void Exporter::softmax(NodeId id) {
  const Node& n = g_.node(id);
  const auto& a = std::get<SoftmaxAttrs>(n.attrs);
  std::string x = use(n.inputs[0]);
  if (n.inputs.size() > 1 && n.inputs[1].valid()) x = apply_mask(n.inputs[1], x, n.name);  // kept beside the scores
  if (a.causal) {
    const Shape s = g_.value(n.inputs[0]).type.static_shape();
    if (s.size() < 2 || (a.axis != -1 && a.axis != static_cast<std::int64_t>(s.size()) - 1))
      unsupported(id, "a causal softmax must run over the last axis of [..., M, N] scores");
    const std::string c = unique(n.name + "/causal");
    node("Add", {x, causal_mask(n.name, s[s.size() - 2], s.back())}, {c}, c);
    x = c;
  }
  attr_int(node("Softmax", {x}, {out_name(id)}, n.name), "axis", a.axis);
}

// QuantizeLinear -> DequantizeLinear with zero point 0 (uint8 for levels >= 0, else int8); a clamp to
// [s*n_min, s*n_max] first when the levels are narrower than the type. The integer form computes the level
// itself first (quantize_exact, onnx_export_integer.cpp).
void Exporter::fake_quant(NodeId id) {
  const Node& n = g_.node(id);
  const QuantParams& qp = *g_.value(n.outputs[0]).quant;
  const float s = qp.scale[0];
  const bool is_unsigned = qp.n_min >= 0;
  std::string x = use(n.inputs[0]);
  const std::string scale = scalar_f32(n.name + "/scale", s);
  const std::string zero = is_unsigned ? initializer(n.name + "/zero_point", Tensor::scalar<std::uint8_t>(0))
                                       : initializer(n.name + "/zero_point", Tensor::scalar<std::int8_t>(0));
  const std::string q = unique(n.name + "/q");
  if (integer_)
    quantize_exact(id, x, scale, zero, q);
  else
    quantize_linear(id, x, scale, zero, q);
  node("DequantizeLinear", {q, scale, zero}, {out_name(id)}, n.name);
  ++stats_.qdq_pairs;
  quantized_[n.outputs[0].index] = {q, zero};
}

// The standard QuantizeLinear (ties to even), with a clamp to [s*n_min, s*n_max] first when the levels are
// narrower than the type.
void Exporter::quantize_linear(NodeId id, std::string x, const std::string& scale, const std::string& zero,
                               const std::string& q) {
  const Node& n = g_.node(id);
  quantize_linear(*g_.value(n.outputs[0]).quant, n.name, std::move(x), scale, zero, q);
}

void Exporter::quantize_linear(const QuantParams& qp, const std::string& base, std::string x, const std::string& scale,
                               const std::string& zero, const std::string& q) {
  const float s = qp.scale[0];
  const bool is_unsigned = qp.n_min >= 0;
  const std::int32_t type_min = is_unsigned ? 0 : -128, type_max = is_unsigned ? 255 : 127;
  if (qp.n_min != type_min || qp.n_max != type_max) {
    // Max then Min rather than Clip: the same clamp, in ops our own importer reads back.
    const std::string lo = unique(base + "/clamp_lo"), c = unique(base + "/clamp");
    node("Max", {x, scalar_f32(base + "/clamp_min", s * static_cast<float>(qp.n_min))}, {lo}, lo);
    node("Min", {lo, scalar_f32(base + "/clamp_max", s * static_cast<float>(qp.n_max))}, {c}, c);
    x = c;
    ++stats_.clips;
  }
  node("QuantizeLinear", {x, scale, zero}, {q}, q);
}

// Every other op: its ONNX form with its attributes.
void Exporter::generic(NodeId id) {
  const Node& n = g_.node(id);
  std::vector<std::string> ins, outs;
  for (ValueId v : n.inputs) ins.push_back(use(v));
  while (!ins.empty() && ins.back().empty()) ins.pop_back();
  for (ValueId v : n.outputs) outs.push_back(v.valid() ? names_[v.index] : "");
  if (n.kind == OpKind::ReduceSum) {  // axes are an input since opset 13
    const auto& r = std::get<ReduceAttrs>(n.attrs);
    ins.resize(1);
    if (!r.axes.empty())
      ins.push_back(initializer(n.name + "/axes",
                                Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(r.axes.size())}, r.axes)));
  }
  if (n.kind == OpKind::Split && ins.size() == 1 && std::get<SplitAttrs>(n.attrs).ceil_parts) {
    // Opset 18's num_outputs form: the sizes (from the outputs' static shapes) as opset 13's input.
    const int rank = g_.value(n.inputs[0]).type.rank();
    const std::int64_t axis = std::get<SplitAttrs>(n.attrs).axis;
    const auto ax = static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
    std::vector<std::int64_t> sizes;
    for (ValueId v : n.outputs) sizes.push_back(g_.value(v).type.static_shape().at(ax));
    ins.push_back(initializer(n.name + "/split",
                              Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(sizes.size())}, sizes)));
  }
  onnx::NodeProto* p = node(std::string(op_name(n.kind)), ins, outs, n.name);
  std::visit([&](const auto& a) { attrs(p, n.kind, a); }, n.attrs);
}

void Exporter::attrs(onnx::NodeProto*, OpKind, const NoAttrs&) {}

void Exporter::attrs(onnx::NodeProto* p, OpKind kind, const AxisAttrs& a) {
  attr_int(p, kind == OpKind::GatherND ? "batch_dims" : "axis", a.axis);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const GemmAttrs& a) {
  attr_float(p, "alpha", a.alpha);
  attr_float(p, "beta", a.beta);
  attr_int(p, "transA", a.trans_a ? 1 : 0);
  attr_int(p, "transB", a.trans_b ? 1 : 0);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const ConvAttrs& a) {
  if (!a.kernel_shape.empty()) attr_ints(p, "kernel_shape", a.kernel_shape);
  if (!a.strides.empty()) attr_ints(p, "strides", a.strides);
  if (!a.pads.empty()) attr_ints(p, "pads", a.pads);
  if (!a.dilations.empty()) attr_ints(p, "dilations", a.dilations);
  attr_int(p, "group", a.group);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const TransposeAttrs& a) {
  if (!a.perm.empty()) attr_ints(p, "perm", a.perm);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind kind, const ReduceAttrs& a) {
  if (kind != OpKind::ReduceSum && !a.axes.empty()) attr_ints(p, "axes", a.axes);
  attr_int(p, "keepdims", a.keepdims ? 1 : 0);
  if (kind == OpKind::ReduceSum && a.noop_with_empty_axes) attr_int(p, "noop_with_empty_axes", 1);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const CumSumAttrs& a) {
  if (a.exclusive) attr_int(p, "exclusive", 1);
  if (a.reverse) attr_int(p, "reverse", 1);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const ReshapeAttrs& a) {
  if (a.allowzero) attr_int(p, "allowzero", 1);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const CastAttrs& a) { attr_int(p, "to", onnx_elem_type(a.to)); }

void Exporter::attrs(onnx::NodeProto* p, OpKind, const LayerNormAttrs& a) {
  attr_int(p, "axis", a.axis);
  attr_float(p, "epsilon", a.epsilon);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const TriluAttrs& a) { attr_int(p, "upper", a.upper ? 1 : 0); }

void Exporter::attrs(onnx::NodeProto* p, OpKind, const ConstantOfShapeAttrs& a) {
  auto* at = p->add_attribute();
  at->set_name("value");
  at->set_type(onnx::AttributeProto::TENSOR);
  const Tensor v = Tensor::from_vector<float>({1}, {static_cast<float>(a.value)}).cast(a.dtype);
  fill_tensor(*at->mutable_t(), "value", v);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const SoftmaxAttrs& a) { attr_int(p, "axis", a.axis); }

// Handled by their own emitters or refused by check_supported.
void Exporter::attrs(onnx::NodeProto*, OpKind, const GeluAttrs&) {}

void Exporter::attrs(onnx::NodeProto*, OpKind, const LinearAttrs&) {}

void Exporter::attrs(onnx::NodeProto*, OpKind, const AttentionAttrs&) {}

void Exporter::attrs(onnx::NodeProto*, OpKind, const NeuronAttrs&) {}

void Exporter::attrs(onnx::NodeProto*, OpKind, const DiffUnitAttrs&) {}

}  // namespace detail

std::string serialize_onnx(const Graph& g, const std::string& path, const ExportOptions& options, ExportStats& stats) {
  const onnx::ModelProto model = detail::Exporter(g, options).build(stats);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw GraphError(std::string("ONNX export: the written model fails ONNX's checker: ") + e.what(), {path, "", "", ""});
  }
  const std::size_t bytes = model.ByteSizeLong();
  if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw LimitError("ONNX export: the model needs " + std::to_string(bytes) +
                         " bytes, above protobuf's 2 GiB limit (external data is not written)",
                     {path, "", "", ""});
  std::string out;
  if (!model.SerializeToString(&out)) throw GraphError("ONNX export: protobuf could not serialize the model", {path, "", "", ""});
  stats.bytes = static_cast<std::int64_t>(out.size());
  return out;
}

ExportStats export_onnx(const Graph& g, const std::string& path, const ExportOptions& options) {
  ExportStats stats;
  const std::string bytes = serialize_onnx(g, path, options, stats);
  write_file_atomically(path, bytes, "ONNX file");
  return stats;
}

}  // namespace snnconv::onnx_export
