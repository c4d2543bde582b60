// The integer form of the ONNX export (ExportOptions::form integer; Exporter in onnx_export_impl.hpp): the
// QANN's own arithmetic on integer levels. A FakeQuant's exact level floor(x/s + 1/2), the levels of a value
// (moved through Reshape/Transpose/Concat...), Linear and MatMul as exact products of levels times steps
// (grouped weights per group), and LayerNorm and Softmax on levels as ann::whole_vector_row computes them.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "onnx/onnx_export_impl.hpp"
#include "snnconv/ann_baseline/qann.hpp"

namespace snnconv::onnx_export::detail {

using onnx::TensorProto;

// ---- the integer form (ExportOptions::form == integer) ---------------------------------------------
  // The QANN's level, floor(x/s + 1/2) clamped, computed as written (QuantizeLinear would round ties to
  // even): Div, Add 0.5, Max/Min in level units, floor as trunc (Cast to int32) minus one where the value
  // is below its truncation, then QuantizeLinear with step 1 (exact on integers) only to get the type.
void Exporter::quantize_exact(NodeId id, const std::string& x, const std::string& scale, const std::string& zero,
                              const std::string& q) {
  const Node& n = g_.node(id);
  const QuantParams& qp = *g_.value(n.outputs[0]).quant;
  const bool is_unsigned = qp.n_min >= 0;
  const std::int32_t type_min = is_unsigned ? 0 : -128, type_max = is_unsigned ? 255 : 127;
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
}

// The integer levels of a quantized value as floats (a Cast of the QuantizeLinear output: a DequantizeLinear
// with step 1 would let ORT's QDQ fusion move the MatMul onto its int8 kernels, whose u8s8 path saturates
// 16-bit pair sums on AVX2 CPUs), moved through the same
// Reshape/Transpose/Concat... as the value itself; "" when `v` carries no levels.
std::string Exporter::levels_of(ValueId v) {
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
double Exporter::max_level(ValueId v) const {
  const Value& val = g_.value(v);
  if (!val.quant) return 0.0;
  return std::max(std::abs(double(val.quant->n_min)), std::abs(double(val.quant->n_max)));
}

// A float MatMul of integer levels is exact while every partial sum stays below 2^24.
bool Exporter::exact_in_f32(std::int64_t k, double max_a, double max_b) {
  return max_a > 0.0 && max_b > 0.0 && double(k) * max_a * max_b < 16777216.0;
}

// Linear as levels x weight levels (exact), times step = s_in * s_w[j] (the QANN's linear_value), + bias.
bool Exporter::linear_integer(NodeId id) {
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
  linear_tail(id, scaled);
  ++stats_.integer_matmuls;
  return true;
}

// A grouped Linear (qann.hpp): per group g of G input rows, MatMul(Slice(levels, g*G, (g+1)*G on the last
// axis), W_g levels) (exact while G * max|q| * max|w| < 2^24), Mul by s_in * s_w[g][:]; an explicit chain
// of Adds over increasing g (grouped_linear_value's order, not ReduceSum), then Add bias.
bool Exporter::linear_grouped(NodeId id) {
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
  linear_tail(id, sum);
  ++stats_.int8_weights;
  ++stats_.integer_matmuls;
  return true;
}

// Product of two quantized activations: levels x levels (exact), times s_a * s_b (the QANN's product_value).
bool Exporter::product_integer(NodeId id) {
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
const QuantParams* Exporter::level_params(ValueId v) const {
  while (v.valid()) {
    const Value& val = g_.value(v);
    if (val.quant && val.producer.valid() && g_.node(val.producer).kind == OpKind::FakeQuant) return &*val.quant;
    if (!val.producer.valid() || !ann::is_data_movement(g_.node(val.producer).kind)) return nullptr;
    v = g_.node(val.producer).inputs.at(0);
  }
  return nullptr;
}

std::string Exporter::i64_levels(ValueId v, const std::string& base) {
  const std::string f = levels_of(v);
  if (f.empty()) return "";
  const std::string name = unique(base + "/levels_i64");
  attr_int(node("Cast", {f}, {name}, name), "to", TensorProto::INT64);
  return name;
}

std::string Exporter::op(const std::string& type, const std::vector<std::string>& ins, const std::string& base) {
  const std::string y = unique(base);
  node(type, ins, {y}, y);
  return y;
}

std::string Exporter::cast(const std::string& x, int to, const std::string& base) {
  const std::string y = unique(base);
  attr_int(node("Cast", {x}, {y}, y), "to", to);
  return y;
}

std::string Exporter::scalar_i64(const std::string& base, std::int64_t v) {
  return initializer(base, Tensor::scalar<std::int64_t>(v));
}

std::string Exporter::last_axis() {
  if (last_axis_.empty()) last_axis_ = initializer("snnconv/last_axis", Tensor::from_vector<std::int64_t>({1}, {-1}));
  return last_axis_;
}

std::string Exporter::row_sum(const std::string& x, const std::string& base) {
  const std::string y = unique(base);
  attr_int(node("ReduceSum", {x, last_axis()}, {y}, y), "keepdims", 1);
  return y;
}

// The int64 levels of a LayerNorm's or RMSNorm's input with their step and row width, or "" when the integer form
// does not apply (no per-tensor levels, a non-static shape, an axis other than the last, no gamma).
std::string Exporter::row_norm_levels(NodeId id, const QuantParams*& qp, std::int64_t& cols) {
  const Node& n = g_.node(id);
  const auto& a = std::get<LayerNormAttrs>(n.attrs);
  qp = level_params(n.inputs[0]);
  const Value& xv = g_.value(n.inputs[0]);
  if (!qp || !qp->per_tensor() || !xv.type.is_static() || xv.type.rank() < 1 ||
      (a.axis != -1 && a.axis != xv.type.rank() - 1) || n.inputs.size() < 2 || !n.inputs[1].valid())
    return {};
  cols = xv.type.dims.back().value;
  return i64_levels(n.inputs[0], n.name);
}

// LayerNorm of levels: integer sums (exact in int64), then Cast, Add eps term, Sqrt, Div, Mul gamma, Add beta.
bool Exporter::layer_norm_integer(NodeId id) {
  const Node& n = g_.node(id);
  const auto& a = std::get<LayerNormAttrs>(n.attrs);
  const QuantParams* qp = nullptr;
  std::int64_t cols = 0;
  const std::string b = n.name, qi = row_norm_levels(id, qp, cols);
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

// RMSNorm of levels (ann::whole_vector_row's rms_norm, operation for operation): S2 = sum q^2 in int64, exact;
// r = sqrt((float(S2) + cols * eps / s^2) / cols); y = float(q) / r * gamma.
bool Exporter::rms_norm_integer(NodeId id) {
  const Node& n = g_.node(id);
  const auto& a = std::get<LayerNormAttrs>(n.attrs);
  const QuantParams* qp = nullptr;
  std::int64_t cols = 0;
  const std::string b = n.name, qi = row_norm_levels(id, qp, cols);
  if (qi.empty()) return false;
  const std::string s2 = row_sum(op("Mul", {qi, qi}, b + "/q2"), b + "/sum_q2");
  const std::string eps = scalar_f32(b + "/eps_term", ann::rms_norm_eps_term(cols, a.epsilon, qp->scale[0]));
  const std::string mean = op("Div", {op("Add", {cast(s2, TensorProto::FLOAT, b + "/sum_q2_f"), eps}, b + "/s2_eps"),
                                      scalar_f32(b + "/cols_f", static_cast<float>(cols))},
                              b + "/mean_sq");
  const std::string r = op("Sqrt", {mean}, b + "/rms");
  const std::string norm = op("Div", {cast(qi, TensorProto::FLOAT, b + "/q_f"), r}, b + "/norm");
  node("Mul", {norm, use(n.inputs[1])}, {out_name(id)}, n.name);
  ++stats_.integer_units;
  return true;
}

// Softmax of levels: fixed-point weights from a table indexed by (row max - q), exact int64 row sums, one
// Div. A causal row takes its max and sum over the visible columns only.
bool Exporter::softmax_integer(NodeId id) {
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
  const bool has_mask = n.inputs.size() > 1 && n.inputs[1].valid();
  if (has_mask) {
    // The QANN's keep flags (ann::attention_keep): a bool mask as given, an additive one kept where it is 0.
    // Masked levels drop by 2^40 so that the row max is taken over the kept ones; their weights are zeroed.
    const std::string m = use(n.inputs[1]);
    keep = g_.value(n.inputs[1]).type.dtype == DType::boolean
               ? cast(m, TensorProto::INT64, b + "/keep")
               : cast(op("Equal", {m, scalar_f32(b + "/attend", 0.0f)}, b + "/attend_mask"), TensorProto::INT64,
                      b + "/keep");
    const std::string drop = op("Mul", {op("Sub", {keep, scalar_i64(b + "/one", 1)}, b + "/dropped"),
                                        scalar_i64(b + "/big", std::int64_t{1} << 40)},
                                b + "/mask_low");
    masked = op("Add", {qi, drop}, b + "/mask_levels");
  }
  if (a.causal) {
    const Shape sh = xv.type.static_shape();
    const std::int64_t m = sh[sh.size() - 2], nk = sh.back();
    std::vector<std::int64_t> add(static_cast<std::size_t>(m * nk), 0), ones(add.size(), 1);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = ann::causal_valid_cols(i, m, nk); j < nk; ++j) {
        add[static_cast<std::size_t>(i * nk + j)] = -(std::int64_t{1} << 40);
        ones[static_cast<std::size_t>(i * nk + j)] = 0;
      }
    masked = op("Add", {masked, initializer(b + "/causal_low", Tensor::from_vector<std::int64_t>({m, nk}, add))},
                b + "/masked");
    const std::string causal_keep = initializer(b + "/causal_keep", Tensor::from_vector<std::int64_t>({m, nk}, ones));
    keep = keep.empty() ? causal_keep : op("Mul", {keep, causal_keep}, b + "/keep_both");
  }
  const std::string top = unique(b + "/row_max");
  onnx::NodeProto* rm = node("ReduceMax", {masked}, {top}, top);
  attr_ints(rm, "axes", {-1});
  attr_int(rm, "keepdims", 1);
  std::string k = op("Sub", {top, qi}, b + "/below_max");
  if (!keep.empty()) k = op("Max", {k, scalar_i64(b + "/zero", 0)}, b + "/below_max_clamped");
  const std::string g = unique(b + "/weights");
  attr_int(node("Gather", {tab, k}, {g}, g), "axis", 0);
  const std::string w = keep.empty() ? g : op("Mul", {g, keep}, b + "/weights_visible");
  const std::string sum = row_sum(w, b + "/weight_sum");
  node("Div", {cast(w, TensorProto::FLOAT, b + "/weights_f"), cast(sum, TensorProto::FLOAT, b + "/weight_sum_f")},
       {out_name(id)}, n.name);
  ++stats_.integer_units;
  return true;
}

// ---- GELU folded into a quantization point (ann::qann_gelu, operation for operation) -------------------
void Exporter::gelu_qann(const std::string& x, const std::string& y, const std::string& base) {
  const std::string b = base + "/gelu";
  const std::string d = op("Div", {x, scalar_f32(b + "/sqrt2", 1.41421356237309504880f)}, b + "/div");
  const std::string t = op("Min", {op("Max", {d, scalar_f32(b + "/lo", -ann::kQannErfClamp)}, b + "/clamp_lo"),
                                   scalar_f32(b + "/hi", ann::kQannErfClamp)},
                           b + "/t");
  const std::string z = op("Mul", {t, t}, b + "/z");
  std::string p = scalar_f32(b + "/p5", ann::kQannErfP[5]), q = scalar_f32(b + "/q5", ann::kQannErfQ[5]);
  for (int k = 4; k >= 0; --k) {
    const std::string ks = std::to_string(k);
    p = op("Add", {op("Mul", {p, z}, b + "/pz" + ks), scalar_f32(b + "/p" + ks, ann::kQannErfP[k])}, b + "/P" + ks);
    q = op("Add", {op("Mul", {q, z}, b + "/qz" + ks), scalar_f32(b + "/q" + ks, ann::kQannErfQ[k])}, b + "/Q" + ks);
  }
  const std::string erf = op("Div", {op("Mul", {t, p}, b + "/tP"), q}, b + "/erf");
  const std::string a = op("Add", {erf, scalar_f32(b + "/one", 1.0f)}, b + "/1p");
  const std::string xa = op("Mul", {x, a}, b + "/xa");
  node("Mul", {xa, scalar_f32(b + "/half", 0.5f)}, {y}, y);
}

bool Exporter::after_point(ValueId v) {
  if (after_point_.empty()) after_point_ = ann::after_quantization(g_);
  return v.valid() && after_point_[v.index];
}

}  // namespace snnconv::onnx_export::detail
