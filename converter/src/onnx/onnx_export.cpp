// export_onnx (onnx_export.hpp): canonical and quantized graphs -> standard ONNX opset 17.
#include "snnconv/converter/onnx_export.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/core/temp_files.hpp"

namespace snnconv::onnx_export {
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

class Exporter {
 public:
  Exporter(const Graph& g, const ExportOptions& o) : g_(g), o_(o), names_(g.num_values()) {}

  onnx::ModelProto build(ExportStats& stats) {
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

 private:
  // ---- names, nodes, constants ---------------------------------------------------------------------
  std::string unique(const std::string& base) {
    std::string n = base;
    for (int i = 1; used_.count(n); ++i) n = base + "." + std::to_string(i);
    used_.insert(n);
    return n;
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name) {
    onnx::NodeProto* n = gp_->add_node();
    n->set_op_type(op);
    n->set_name(unique("node:" + name));
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }
  static void attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (std::int64_t x : v) a->add_ints(x);
  }
  std::string initializer(const std::string& base, const Tensor& t) {
    const std::string name = unique(base);
    fill_tensor(*gp_->add_initializer(), name, t);
    return name;
  }
  std::string scalar_f32(const std::string& base, float v) { return initializer(base, Tensor::scalar<float>(v)); }
  // The ONNX name of a node input: constants become initializers on first use.
  std::string use(ValueId v) {
    if (!v.valid()) return "";
    const Value& val = g_.value(v);
    if (val.constant && !written_.count(v.index)) {
      fill_tensor(*gp_->add_initializer(), names_[v.index], *val.constant);
      written_.insert(v.index);
    }
    return names_[v.index];
  }
  std::string out_name(NodeId id, std::size_t k = 0) const { return names_[g_.node(id).outputs.at(k).index]; }
  [[noreturn]] void unsupported(NodeId id, const std::string& msg) const {
    throw UnsupportedError("ONNX export: " + msg, g_.context(id));
  }

  // ---- what cannot be exported, listed at once ------------------------------------------------------
  std::string problem(NodeId id) const {
    const Node& n = g_.node(id);
    if (has_flag(n.kind, kSpiking)) return "a spiking op has no ONNX form";
    if (n.kind == OpKind::FakeQuant) {
      const Value& out = g_.value(n.outputs[0]);
      if (!out.quant) return "FakeQuant without QuantParams";
      const QuantParams& qp = *out.quant;
      if (!qp.per_tensor()) return "a per-channel activation step (QDQ export handles per-tensor activations)";
      if (!qp.zero_point.empty() && qp.zero_point[0] != 0) return "an activation zero point other than 0";
      if (!(qp.scale[0] > 0.0f) || !std::isfinite(qp.scale[0])) return "a quantization step that is not positive";
      if (qp.n_min < -128 || qp.n_max > (qp.n_min >= 0 ? 255 : 127))
        return "activation levels [" + std::to_string(qp.n_min) + ", " + std::to_string(qp.n_max) + "] (" +
               std::to_string(qp.bits) + " bits) do not fit int8/uint8, the only QuantizeLinear types of opset " +
               std::to_string(kExportOpset);
    }
    if ((n.kind == OpKind::Softmax && std::get<SoftmaxAttrs>(n.attrs).causal) ||
        (n.kind == OpKind::Attention && std::get<AttentionAttrs>(n.attrs).causal)) {
      const TensorType& t = g_.value(n.kind == OpKind::Softmax ? n.inputs[0] : n.inputs[1]).type;
      if (!t.is_static()) return "a causal mask needs static sizes";
    }
    return {};
  }
  void check_supported() const {
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
  void emit(NodeId id) {
    const Node& n = g_.node(id);
    switch (n.kind) {
      case OpKind::Linear: return linear(id);
      case OpKind::Gelu:
        return gelu(use(n.inputs[0]), out_name(id), std::get<GeluAttrs>(n.attrs).tanh_approximation, n.name);
      case OpKind::Attention: return attention(id);
      case OpKind::Softmax:
        if (integer_ && softmax_integer(id)) return;
        return softmax(id);
      case OpKind::LayerNorm:
        if (integer_ && layer_norm_integer(id)) return;
        return generic(id);
      case OpKind::FakeQuant: return fake_quant(id);
      case OpKind::MatMul:
        if (integer_ && product_integer(id)) return;
        return generic(id);
      default: return generic(id);
    }
  }

  void activation(Activation a, const std::string& x, const std::string& y, const std::string& base) {
    switch (a) {
      case Activation::none: node("Identity", {x}, {y}, base); return;
      case Activation::relu: node("Relu", {x}, {y}, base); return;
      case Activation::gelu: gelu(x, y, false, base); return;
      case Activation::gelu_tanh: gelu(x, y, true, base); return;
    }
  }

  // GELU as the chain torch exports at opset <= 19 (our fusion folds it back into Gelu on import).
  void gelu(const std::string& x, const std::string& y, bool tanh_approx, const std::string& base) {
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
  std::string weight(NodeId id, ValueId w) {
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

  void linear(NodeId id) {
    if (integer_ && linear_integer(id)) return;
    const Node& n = g_.node(id);
    const Activation act = std::get<LinearAttrs>(n.attrs).activation;
    const bool bias = n.inputs.size() > 2 && n.inputs[2].valid();
    const std::string x = use(n.inputs[0]), w = weight(id, n.inputs[1]), y = out_name(id);
    const std::string mm = bias || act != Activation::none ? unique(n.name + "/matmul") : y;
    node("MatMul", {x, w}, {mm}, mm);
    std::string cur = mm;
    if (bias) {
      const std::string b = act != Activation::none ? unique(n.name + "/bias") : y;
      node("Add", {mm, use(n.inputs[2])}, {b}, b);
      cur = b;
    }
    if (act != Activation::none) activation(act, cur, y, n.name);
  }

  // [M, N] additive mask: 0 where row i sees column j <= i + (N - M), -inf elsewhere.
  std::string causal_mask(const std::string& base, std::int64_t m, std::int64_t nk) {
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

  void attention(NodeId id) {
    const Node& n = g_.node(id);
    const auto& at = std::get<AttentionAttrs>(n.attrs);
    const std::string q = use(n.inputs[0]), k = use(n.inputs[1]), v = use(n.inputs[2]);
    const std::string kt = unique(n.name + "/k_t"), s = unique(n.name + "/scores"), ss = unique(n.name + "/scaled");
    onnx::NodeProto* tr = node("Transpose", {k}, {kt}, kt);
    attr_ints(tr, "perm", {0, 1, 3, 2});
    node("MatMul", {q, kt}, {s}, s);
    node("Mul", {s, scalar_f32(n.name + "/scale", at.scale)}, {ss}, ss);
    std::string cur = ss;
    if (n.inputs.size() > 3 && n.inputs[3].valid()) {
      const std::string masked = unique(n.name + "/masked");
      if (g_.value(n.inputs[3]).type.dtype == DType::boolean)
        node("Where", {use(n.inputs[3]), cur, scalar_f32(n.name + "/neg_inf", -std::numeric_limits<float>::infinity())},
             {masked}, masked);
      else
        node("Add", {cur, use(n.inputs[3])}, {masked}, masked);
      cur = masked;
    }
    if (at.causal) {
      const Shape qs = g_.value(n.inputs[0]).type.static_shape(), ks = g_.value(n.inputs[1]).type.static_shape();
      const std::string c = unique(n.name + "/causal");
      node("Add", {cur, causal_mask(n.name, qs.at(2), ks.at(2))}, {c}, c);
      cur = c;
    }
    const std::string p = unique(n.name + "/probs");
    attr_int(node("Softmax", {cur}, {p}, p), "axis", -1);
    node("MatMul", {p, v}, {out_name(id)}, n.name);
  }

  void softmax(NodeId id) {
    const Node& n = g_.node(id);
    const auto& a = std::get<SoftmaxAttrs>(n.attrs);
    std::string x = use(n.inputs[0]);
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
  // [s*n_min, s*n_max] first when the levels are narrower than the type.
  void fake_quant(NodeId id) {
    const Node& n = g_.node(id);
    const QuantParams& qp = *g_.value(n.outputs[0]).quant;
    const float s = qp.scale[0];
    const bool is_unsigned = qp.n_min >= 0;
    const std::int32_t type_min = is_unsigned ? 0 : -128, type_max = is_unsigned ? 255 : 127;
    std::string x = use(n.inputs[0]);
    const std::string scale = scalar_f32(n.name + "/scale", s);
    const std::string zero = is_unsigned ? initializer(n.name + "/zero_point", Tensor::scalar<std::uint8_t>(0))
                                         : initializer(n.name + "/zero_point", Tensor::scalar<std::int8_t>(0));
    const std::string q = unique(n.name + "/q");
    if (integer_) {
      // The QANN's level, floor(x/s + 1/2) clamped, computed as written (QuantizeLinear would round ties to
      // even): Div, Add 0.5, Max/Min in level units, floor as trunc (Cast to int32) minus one where the value
      // is below its truncation, then QuantizeLinear with step 1 (exact on integers) only to get the type.
      const std::string b = n.name;
      const std::string v = op("Add", {op("Div", {x, scale}, b + "/ratio"), scalar_f32(b + "/half", 0.5f)}, b + "/shifted");
      const std::string c = op("Min", {op("Max", {v, scalar_f32(b + "/level_min", float(qp.n_min))}, b + "/clamp_lo"),
                                       scalar_f32(b + "/level_max", float(qp.n_max))},
                               b + "/clamp");
      std::string fl = cast(cast(c, TensorProto::INT32, b + "/trunc_i"), TensorProto::FLOAT, b + "/trunc");
      if (qp.n_min < 0)
        fl = op("Sub", {fl, cast(op("Less", {c, fl}, b + "/below"), TensorProto::FLOAT, b + "/below_f")}, b + "/floor");
      node("QuantizeLinear", {fl, scalar_f32(b + "/unit_step", 1.0f), zero}, {q}, q);
      if (qp.n_min != type_min || qp.n_max != type_max) ++stats_.clips;
    } else {
      quantize_linear(id, x, scale, zero, q);
    }
    node("DequantizeLinear", {q, scale, zero}, {out_name(id)}, n.name);
    ++stats_.qdq_pairs;
    quantized_[n.outputs[0].index] = {q, zero};
  }

  // The standard QuantizeLinear (ties to even), with a clamp to [s*n_min, s*n_max] first when the levels are
  // narrower than the type.
  void quantize_linear(NodeId id, std::string x, const std::string& scale, const std::string& zero,
                       const std::string& q) {
    const Node& n = g_.node(id);
    const QuantParams& qp = *g_.value(n.outputs[0]).quant;
    const float s = qp.scale[0];
    const bool is_unsigned = qp.n_min >= 0;
    const std::int32_t type_min = is_unsigned ? 0 : -128, type_max = is_unsigned ? 255 : 127;
    if (qp.n_min != type_min || qp.n_max != type_max) {
      // Max then Min rather than Clip: the same clamp, in ops our own importer reads back.
      const std::string lo = unique(n.name + "/clamp_lo"), c = unique(n.name + "/clamp");
      node("Max", {x, scalar_f32(n.name + "/clamp_min", s * static_cast<float>(qp.n_min))}, {lo}, lo);
      node("Min", {lo, scalar_f32(n.name + "/clamp_max", s * static_cast<float>(qp.n_max))}, {c}, c);
      x = c;
      ++stats_.clips;
    }
    node("QuantizeLinear", {x, scale, zero}, {q}, q);
  }

  // ---- the integer form (ExportOptions::form == integer) ---------------------------------------------
  // The integer levels of a quantized value as floats (a Cast of the QuantizeLinear output: a DequantizeLinear
  // with step 1 would let ORT's QDQ fusion move the MatMul onto its int8 kernels, whose u8s8 path saturates
  // 16-bit pair sums on AVX2 CPUs), moved through the same
  // Reshape/Transpose/Concat... as the value itself; "" when `v` carries no levels.
  std::string levels_of(ValueId v) {
    if (!v.valid() || g_.value(v).constant) return "";
    if (auto it = levels_.find(v.index); it != levels_.end()) return it->second;
    std::string name;
    const NodeId p = g_.value(v).producer;
    if (auto q = quantized_.find(v.index); q != quantized_.end()) {
      name = unique(g_.value(v).name + "/levels");
      attr_int(node("Cast", {q->second.first}, {name}, name), "to", TensorProto::FLOAT);
    } else if (p.valid() && (ann::is_data_movement(g_.node(p).kind) || g_.node(p).kind == OpKind::Concat)) {
      const Node& n = g_.node(p);
      std::vector<std::string> ins;
      const std::size_t data_inputs = n.kind == OpKind::Concat ? n.inputs.size() : 1;
      for (std::size_t k = 0; k < n.inputs.size(); ++k) {
        ins.push_back(k < data_inputs ? levels_of(n.inputs[k]) : use(n.inputs[k]));
        if (k < data_inputs && ins.back().empty()) return "";
      }
      while (!ins.empty() && ins.back().empty()) ins.pop_back();
      name = unique(g_.value(v).name + "/levels");
      onnx::NodeProto* c = node(std::string(op_name(n.kind)), ins, {name}, name);
      std::visit([&](const auto& a) { attrs(c, n.kind, a); }, n.attrs);
    } else {
      return "";
    }
    levels_[v.index] = name;
    return name;
  }
  // Largest |level| of a quantized value (its QuantParams), 0 when unknown.
  double max_level(ValueId v) const {
    const Value& val = g_.value(v);
    if (!val.quant) return 0.0;
    return std::max(std::abs(double(val.quant->n_min)), std::abs(double(val.quant->n_max)));
  }
  // A float MatMul of integer levels is exact while every partial sum stays below 2^24.
  static bool exact_in_f32(std::int64_t k, double max_a, double max_b) {
    return max_a > 0.0 && max_b > 0.0 && double(k) * max_a * max_b < 16777216.0;
  }

  // Linear as levels x weight levels (exact), times step = s_in * s_w[j] (the QANN's linear_value), + bias.
  bool linear_integer(NodeId id) {
    const Node& n = g_.node(id);
    const Value& wv = g_.value(n.inputs[1]);
    const Value& xv = g_.value(n.inputs[0]);
    if (!wv.quant || !wv.constant || wv.constant->rank() != 2 || !xv.quant || !xv.quant->per_tensor()) return false;
    const QuantParams& wq = *wv.quant;
    const std::int64_t k = wv.constant->dim(0), nn = wv.constant->dim(1);
    if (wq.group_size > 0 && !wq.per_tensor()) return linear_grouped(id);
    if (!(wq.per_tensor() || (wq.axis == 1 && std::int64_t(wq.scale.size()) == nn))) return false;
    if (!exact_in_f32(k, max_level(n.inputs[0]), std::max(std::abs(double(wq.n_min)), std::abs(double(wq.n_max)))))
      return false;
    const std::string x = levels_of(n.inputs[0]);
    if (x.empty()) return false;
    std::string w;
    if (auto it = weight_levels_.find(n.inputs[1].index); it != weight_levels_.end()) {
      w = it->second;
    } else {
      const std::vector<float> f = wv.constant->to_f32();
      std::vector<std::int8_t> q(f.size());
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] != std::nearbyint(f[i]) || f[i] < -128.0f || f[i] > 127.0f)
          unsupported(id, "weight '" + wv.name + "' holds " + std::to_string(f[i]) + ", not an int8 level");
        q[i] = static_cast<std::int8_t>(f[i]);
      }
      const std::string wi = initializer(wv.name + ".int8", Tensor::from_vector<std::int8_t>(wv.constant->shape(), q));
      w = unique(wv.name + ".levels");
      attr_int(node("Cast", {wi}, {w}, w), "to", TensorProto::FLOAT);
      weight_levels_[n.inputs[1].index] = w;
      ++stats_.int8_weights;
    }
    const float s_in = xv.quant->scale[0];
    std::vector<float> step(static_cast<std::size_t>(nn));
    for (std::int64_t j = 0; j < nn; ++j) step[std::size_t(j)] = s_in * wq.scale[wq.per_tensor() ? 0 : std::size_t(j)];
    const Activation act = std::get<LinearAttrs>(n.attrs).activation;
    const bool bias = n.inputs.size() > 2 && n.inputs[2].valid();
    const std::string y = out_name(id);
    const std::string acc = unique(n.name + "/acc"), scaled = bias || act != Activation::none ? unique(n.name + "/scaled") : y;
    node("MatMul", {x, w}, {acc}, acc);
    node("Mul", {acc, initializer(n.name + "/step", Tensor::from_vector<float>({nn}, step))}, {scaled}, scaled);
    std::string cur = scaled;
    if (bias) {
      const std::string b = act != Activation::none ? unique(n.name + "/bias") : y;
      node("Add", {scaled, use(n.inputs[2])}, {b}, b);
      cur = b;
    }
    if (act != Activation::none) activation(act, cur, y, n.name);
    ++stats_.integer_matmuls;
    return true;
  }

  // A grouped Linear (qann.hpp): per group g of G input rows, MatMul(Slice(levels, g*G, (g+1)*G on the last
  // axis), W_g levels) (exact while G * max|q| * max|w| < 2^24), Mul by s_in * s_w[g][:]; an explicit chain
  // of Adds over increasing g (grouped_linear_value's order, not ReduceSum), then Add bias.
  bool linear_grouped(NodeId id) {
    const Node& n = g_.node(id);
    const Value& wv = g_.value(n.inputs[1]);
    const Value& xv = g_.value(n.inputs[0]);
    const ann::IntWeights iw = ann::int_weights(wv, "node '" + n.name + "'");
    const std::int64_t gs = iw.group_rows, nn = iw.n;
    if (iw.bits > 8 || iw.w.empty()) unsupported(id, "grouped weight '" + wv.name + "' needs int8 levels");
    if (!exact_in_f32(gs, max_level(n.inputs[0]), std::max(std::abs(double(wv.quant->n_min)), std::abs(double(wv.quant->n_max)))))
      unsupported(id, "grouped weight '" + wv.name + "': a group's integer sum may not be exact in f32");
    const std::string x = levels_of(n.inputs[0]);
    if (x.empty()) unsupported(id, "the input of a grouped Linear must be quantized levels");
    const float s_in = xv.quant->scale[0];
    const std::string axes = initializer(n.name + "/slice_axes", Tensor::from_vector<std::int64_t>({1}, {-1}));
    std::string sum;
    for (std::int64_t gi = 0; gi < iw.groups; ++gi) {
      const std::string tag = n.name + "/g" + std::to_string(gi);
      const std::string xs = unique(tag + "/x");
      node("Slice",
           {x, initializer(tag + "/start", Tensor::from_vector<std::int64_t>({1}, {gi * gs})),
            initializer(tag + "/end", Tensor::from_vector<std::int64_t>({1}, {(gi + 1) * gs})), axes},
           {xs}, xs);
      std::vector<std::int8_t> q(static_cast<std::size_t>(gs * nn));
      for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<std::int8_t>(iw.w[static_cast<std::size_t>(gi * gs * nn) + i]);
      const std::string wi = initializer(wv.name + ".int8.g" + std::to_string(gi), Tensor::from_vector<std::int8_t>({gs, nn}, q));
      const std::string wf = unique(tag + "/w");
      attr_int(node("Cast", {wi}, {wf}, wf), "to", TensorProto::FLOAT);
      std::vector<float> step(static_cast<std::size_t>(nn));
      for (std::int64_t j = 0; j < nn; ++j) step[std::size_t(j)] = s_in * iw.step[static_cast<std::size_t>(gi * nn + j)];
      const std::string acc = unique(tag + "/acc"), term = unique(tag + "/term");
      node("MatMul", {xs, wf}, {acc}, acc);
      node("Mul", {acc, initializer(tag + "/step", Tensor::from_vector<float>({nn}, step))}, {term}, term);
      if (gi == 0) {
        sum = term;
      } else {
        const std::string next = unique(tag + "/sum");
        node("Add", {sum, term}, {next}, next);
        sum = next;
      }
    }
    const Activation act = std::get<LinearAttrs>(n.attrs).activation;
    const bool bias = n.inputs.size() > 2 && n.inputs[2].valid();
    const std::string y = out_name(id);
    std::string cur = sum;
    if (bias) {
      const std::string b = act != Activation::none ? unique(n.name + "/bias") : y;
      node("Add", {sum, use(n.inputs[2])}, {b}, b);
      cur = b;
    } else if (act == Activation::none) {
      node("Identity", {sum}, {y}, y);
    }
    if (act != Activation::none) activation(act, cur, y, n.name);
    ++stats_.int8_weights;
    ++stats_.integer_matmuls;
    return true;
  }

  // Product of two quantized activations: levels x levels (exact), times s_a * s_b (the QANN's product_value).
  bool product_integer(NodeId id) {
    const Node& n = g_.node(id);
    const Value& a = g_.value(n.inputs[0]);
    const Value& b = g_.value(n.inputs[1]);
    if (a.constant || b.constant || !a.quant || !b.quant || !a.quant->per_tensor() || !b.quant->per_tensor()) return false;
    if (!a.type.is_static() || a.type.rank() < 2) return false;
    if (!exact_in_f32(a.type.dims.back().value, max_level(n.inputs[0]), max_level(n.inputs[1]))) return false;
    const std::string la = levels_of(n.inputs[0]), lb = levels_of(n.inputs[1]);
    if (la.empty() || lb.empty()) return false;
    const std::string acc = unique(n.name + "/acc");
    node("MatMul", {la, lb}, {acc}, acc);
    node("Mul", {acc, scalar_f32(n.name + "/step", a.quant->scale[0] * b.quant->scale[0])}, {out_name(id)}, n.name);
    ++stats_.integer_matmuls;
    return true;
  }

  // ---- whole-vector units on integer levels (ann::whole_vector_row, node for node) -------------------
  // The QuantParams of the levels a value carries (a FakeQuant output, or one moved by Reshape/Transpose...).
  const QuantParams* level_params(ValueId v) const {
    while (v.valid()) {
      const Value& val = g_.value(v);
      if (val.quant && val.producer.valid() && g_.node(val.producer).kind == OpKind::FakeQuant) return &*val.quant;
      if (!val.producer.valid() || !ann::is_data_movement(g_.node(val.producer).kind)) return nullptr;
      v = g_.node(val.producer).inputs.at(0);
    }
    return nullptr;
  }
  std::string i64_levels(ValueId v, const std::string& base) {
    const std::string f = levels_of(v);
    if (f.empty()) return "";
    const std::string name = unique(base + "/levels_i64");
    attr_int(node("Cast", {f}, {name}, name), "to", TensorProto::INT64);
    return name;
  }
  std::string op(const std::string& type, const std::vector<std::string>& ins, const std::string& base) {
    const std::string y = unique(base);
    node(type, ins, {y}, y);
    return y;
  }
  std::string cast(const std::string& x, int to, const std::string& base) {
    const std::string y = unique(base);
    attr_int(node("Cast", {x}, {y}, y), "to", to);
    return y;
  }
  std::string scalar_i64(const std::string& base, std::int64_t v) {
    return initializer(base, Tensor::scalar<std::int64_t>(v));
  }
  std::string last_axis() {
    if (last_axis_.empty()) last_axis_ = initializer("snnconv/last_axis", Tensor::from_vector<std::int64_t>({1}, {-1}));
    return last_axis_;
  }
  std::string row_sum(const std::string& x, const std::string& base) {
    const std::string y = unique(base);
    attr_int(node("ReduceSum", {x, last_axis()}, {y}, y), "keepdims", 1);
    return y;
  }

  // LayerNorm of levels: integer sums (exact in int64), then Cast, Add eps term, Sqrt, Div, Mul gamma, Add beta.
  bool layer_norm_integer(NodeId id) {
    const Node& n = g_.node(id);
    const auto& a = std::get<LayerNormAttrs>(n.attrs);
    const QuantParams* qp = level_params(n.inputs[0]);
    const Value& xv = g_.value(n.inputs[0]);
    if (!qp || !qp->per_tensor() || !xv.type.is_static() || xv.type.rank() < 1 ||
        (a.axis != -1 && a.axis != xv.type.rank() - 1) || n.inputs.size() < 2 || !n.inputs[1].valid())
      return false;
    const std::int64_t cols = xv.type.dims.back().value;
    const std::string b = n.name, qi = i64_levels(n.inputs[0], b);
    if (qi.empty()) return false;
    const std::string cols_i = scalar_i64(b + "/cols", cols);
    const std::string s1 = row_sum(qi, b + "/sum_q"), s2 = row_sum(op("Mul", {qi, qi}, b + "/q2"), b + "/sum_q2");
    const std::string d = op("Sub", {op("Mul", {qi, cols_i}, b + "/nq"), s1}, b + "/centered");
    const std::string v =
        op("Sub", {op("Mul", {s2, cols_i}, b + "/n_s2"), op("Mul", {s1, s1}, b + "/s1_sq")}, b + "/var_n2");
    const std::string eps = scalar_f32(b + "/eps_term", ann::layer_norm_eps_term(cols, a.epsilon, qp->scale[0]));
    const std::string den = op("Sqrt", {op("Add", {cast(v, TensorProto::FLOAT, b + "/var_f"), eps}, b + "/var_eps")},
                               b + "/denom");
    const bool beta = n.inputs.size() > 2 && n.inputs[2].valid();
    const std::string norm = op("Div", {cast(d, TensorProto::FLOAT, b + "/centered_f"), den}, b + "/norm");
    const std::string y = out_name(id);
    const std::string scaled = beta ? unique(b + "/scaled") : y;
    node("Mul", {norm, use(n.inputs[1])}, {scaled}, scaled);
    if (beta) node("Add", {scaled, use(n.inputs[2])}, {y}, n.name);
    ++stats_.integer_units;
    return true;
  }

  // Softmax of levels: fixed-point weights from a table indexed by (row max - q), exact int64 row sums, one
  // Div. A causal row takes its max and sum over the visible columns only.
  bool softmax_integer(NodeId id) {
    const Node& n = g_.node(id);
    const auto& a = std::get<SoftmaxAttrs>(n.attrs);
    const QuantParams* qp = level_params(n.inputs[0]);
    const Value& xv = g_.value(n.inputs[0]);
    if (!qp || !qp->per_tensor() || !xv.type.is_static() || xv.type.rank() < 1 ||
        (a.axis != -1 && a.axis != xv.type.rank() - 1) || (a.causal && xv.type.rank() < 2))
      return false;
    const std::string b = n.name, qi = i64_levels(n.inputs[0], b);
    if (qi.empty()) return false;
    const std::int64_t span = std::int64_t{qp->n_max} - qp->n_min;
    std::vector<std::int64_t> table(static_cast<std::size_t>(span + 1));
    for (std::int64_t k = 0; k <= span; ++k) table[static_cast<std::size_t>(k)] = ann::softmax_weight(k, qp->scale[0]);
    const std::string tab = initializer(b + "/exp_table", Tensor::from_vector<std::int64_t>({span + 1}, table));
    std::string masked = qi, keep;
    if (a.causal) {
      const Shape sh = xv.type.static_shape();
      const std::int64_t m = sh[sh.size() - 2], nk = sh.back();
      std::vector<std::int64_t> add(static_cast<std::size_t>(m * nk), 0), ones(add.size(), 1);
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = ann::causal_valid_cols(i, m, nk); j < nk; ++j) {
          add[static_cast<std::size_t>(i * nk + j)] = -(std::int64_t{1} << 40);
          ones[static_cast<std::size_t>(i * nk + j)] = 0;
        }
      masked = op("Add", {qi, initializer(b + "/causal_low", Tensor::from_vector<std::int64_t>({m, nk}, add))},
                  b + "/masked");
      keep = initializer(b + "/causal_keep", Tensor::from_vector<std::int64_t>({m, nk}, ones));
    }
    const std::string top = unique(b + "/row_max");
    onnx::NodeProto* rm = node("ReduceMax", {masked}, {top}, top);
    attr_ints(rm, "axes", {-1});
    attr_int(rm, "keepdims", 1);
    std::string k = op("Sub", {top, qi}, b + "/below_max");
    if (a.causal) k = op("Max", {k, scalar_i64(b + "/zero", 0)}, b + "/below_max_clamped");
    const std::string g = unique(b + "/weights");
    attr_int(node("Gather", {tab, k}, {g}, g), "axis", 0);
    const std::string w = a.causal ? op("Mul", {g, keep}, b + "/weights_visible") : g;
    const std::string sum = row_sum(w, b + "/weight_sum");
    node("Div", {cast(w, TensorProto::FLOAT, b + "/weights_f"), cast(sum, TensorProto::FLOAT, b + "/weight_sum_f")},
         {out_name(id)}, n.name);
    ++stats_.integer_units;
    return true;
  }

  // Every other op: its ONNX form with its attributes.
  void generic(NodeId id) {
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
    onnx::NodeProto* p = node(std::string(op_name(n.kind)), ins, outs, n.name);
    std::visit([&](const auto& a) { attrs(p, n.kind, a); }, n.attrs);
  }

  void attrs(onnx::NodeProto*, OpKind, const NoAttrs&) {}
  void attrs(onnx::NodeProto* p, OpKind, const AxisAttrs& a) { attr_int(p, "axis", a.axis); }
  void attrs(onnx::NodeProto* p, OpKind, const GemmAttrs& a) {
    attr_float(p, "alpha", a.alpha);
    attr_float(p, "beta", a.beta);
    attr_int(p, "transA", a.trans_a ? 1 : 0);
    attr_int(p, "transB", a.trans_b ? 1 : 0);
  }
  void attrs(onnx::NodeProto* p, OpKind, const ConvAttrs& a) {
    if (!a.kernel_shape.empty()) attr_ints(p, "kernel_shape", a.kernel_shape);
    if (!a.strides.empty()) attr_ints(p, "strides", a.strides);
    if (!a.pads.empty()) attr_ints(p, "pads", a.pads);
    if (!a.dilations.empty()) attr_ints(p, "dilations", a.dilations);
    attr_int(p, "group", a.group);
  }
  void attrs(onnx::NodeProto* p, OpKind, const TransposeAttrs& a) {
    if (!a.perm.empty()) attr_ints(p, "perm", a.perm);
  }
  void attrs(onnx::NodeProto* p, OpKind kind, const ReduceAttrs& a) {
    if (kind != OpKind::ReduceSum && !a.axes.empty()) attr_ints(p, "axes", a.axes);
    attr_int(p, "keepdims", a.keepdims ? 1 : 0);
    if (kind == OpKind::ReduceSum && a.noop_with_empty_axes) attr_int(p, "noop_with_empty_axes", 1);
  }
  void attrs(onnx::NodeProto* p, OpKind, const CumSumAttrs& a) {
    if (a.exclusive) attr_int(p, "exclusive", 1);
    if (a.reverse) attr_int(p, "reverse", 1);
  }
  void attrs(onnx::NodeProto* p, OpKind, const ReshapeAttrs& a) {
    if (a.allowzero) attr_int(p, "allowzero", 1);
  }
  void attrs(onnx::NodeProto* p, OpKind, const CastAttrs& a) { attr_int(p, "to", onnx_elem_type(a.to)); }
  void attrs(onnx::NodeProto* p, OpKind, const LayerNormAttrs& a) {
    attr_int(p, "axis", a.axis);
    attr_float(p, "epsilon", a.epsilon);
  }
  void attrs(onnx::NodeProto* p, OpKind, const TriluAttrs& a) { attr_int(p, "upper", a.upper ? 1 : 0); }
  void attrs(onnx::NodeProto* p, OpKind, const ConstantOfShapeAttrs& a) {
    auto* at = p->add_attribute();
    at->set_name("value");
    at->set_type(onnx::AttributeProto::TENSOR);
    const Tensor v = Tensor::from_vector<float>({1}, {static_cast<float>(a.value)}).cast(a.dtype);
    fill_tensor(*at->mutable_t(), "value", v);
  }
  void attrs(onnx::NodeProto* p, OpKind, const SoftmaxAttrs& a) { attr_int(p, "axis", a.axis); }
  // Handled by their own emitters or refused by check_supported.
  void attrs(onnx::NodeProto*, OpKind, const GeluAttrs&) {}
  void attrs(onnx::NodeProto*, OpKind, const LinearAttrs&) {}
  void attrs(onnx::NodeProto*, OpKind, const AttentionAttrs&) {}
  void attrs(onnx::NodeProto*, OpKind, const NeuronAttrs&) {}
  void attrs(onnx::NodeProto*, OpKind, const DiffUnitAttrs&) {}

  const Graph& g_;
  const ExportOptions& o_;
  onnx::ModelProto model_;
  onnx::GraphProto* gp_ = nullptr;
  std::vector<std::string> names_;
  std::set<std::string> used_;
  std::set<std::uint32_t> written_;
  std::map<std::uint32_t, std::string> dq_weight_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::string> causal_;
  std::map<std::uint32_t, std::pair<std::string, std::string>> quantized_;  // FakeQuant output -> (q, zero point)
  std::map<std::uint32_t, std::string> levels_, weight_levels_;
  std::string last_axis_;
  bool integer_ = false;
  ExportStats stats_;
};

}  // namespace

ExportStats export_onnx(const Graph& g, const std::string& path, const ExportOptions& options) {
  namespace fs = std::filesystem;
  ExportStats stats;
  const onnx::ModelProto model = Exporter(g, options).build(stats);
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
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const fs::path tmp = dir / (".onnx-export." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  TempFileGuard guard(tmp.string());
  std::error_code ec;
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw IoError("cannot create the ONNX file (folder missing or not writable)", {path, "", "", ""});
    if (!model.SerializeToOstream(&f) || !f.flush()) {
      f.close();
      fs::remove(tmp, ec);
      throw IoError("cannot write the ONNX file", {path, "", "", ""});
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError("cannot rename the ONNX file into place: " + ec.message(), {path, "", "", ""});
  }
  guard.release();
  stats.bytes = static_cast<std::int64_t>(bytes);
  return stats;
}

}  // namespace snnconv::onnx_export
