// run_qann: the integer QANN reference (qann.hpp). Every value is either integer levels (the output of a
// quantization point, or a Reshape/Transpose of one) or floats (what a quantization point consumes: a
// Linear's, product's, residual's or whole-vector unit's result, or a graph input).
#include <algorithm>

#include "snnconv/ann_baseline/gemm_int8.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv::ann {
namespace {

struct Slot {
  enum class Kind : std::uint8_t { none, levels, floats, tensor } kind = Kind::none;
  QuantLevels lv;                         // kind == levels
  Shape shape;                            // kind == floats
  std::vector<float> f;                   // kind == floats
  Tensor t;                               // kind == tensor: a non-f32 value of the dense prologue (token ids)
  Activation pending = Activation::none;  // floats: a nonlinearity still to fold into the next quantization point
};

class QannRunner {
 public:
  QannRunner(const Graph& g, const QannOptions& o)
      : g_(g), options_(o), slots_(g.num_values()), integer_part_(after_quantization(g)) {}

  QannResult run(std::span<const Tensor> inputs) {
    if (g_.stage != Stage::quantized)
      throw GraphError("run_qann needs a graph at stage 'quantized', got '" + std::string(stage_name(g_.stage)) + "'");
    verify(g_, Stage::quantized);
    if (inputs.size() != g_.inputs().size())
      throw ShapeError("run_qann: " + std::to_string(inputs.size()) + " inputs for " +
                       std::to_string(g_.inputs().size()) + " graph inputs");
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Value& v = g_.value(g_.inputs()[i]);
      if (inputs[i].dtype() != v.type.dtype || inputs[i].shape() != v.type.static_shape())
        throw ShapeError("run_qann: input '" + v.name + "' must be " + std::string(dtype_name(v.type.dtype)) +
                         shape_to_string(v.type.static_shape()));
      Slot& s = slots_[g_.inputs()[i].index];
      if (inputs[i].dtype() == DType::f32) {
        s.kind = Slot::Kind::floats;
        s.shape = inputs[i].shape();
        s.f = inputs[i].to_f32();
      } else {
        s.kind = Slot::Kind::tensor;
        s.t = inputs[i];
      }
    }
    for (NodeId id : g_.topological_order()) eval(id);
    QannResult r;
    for (ValueId o : g_.outputs()) {
      const Slot& s = slots_[o.index];
      if (s.kind == Slot::Kind::levels) {
        Tensor t(DType::f32, s.lv.shape);
        float* p = t.data<float>();
        for (std::size_t i = 0; i < s.lv.q.size(); ++i) p[i] = dequantize(s.lv.q[i], s.lv.scale);
        r.outputs.push_back(std::move(t));
      } else if (s.kind == Slot::Kind::floats) {
        Tensor t(DType::f32, s.shape);
        float* p = t.data<float>();
        for (std::size_t i = 0; i < s.f.size(); ++i) p[i] = apply_target(s.pending, s.f[i]);
        r.outputs.push_back(std::move(t));
      } else if (s.kind == Slot::Kind::tensor) {
        r.outputs.push_back(s.t);
      } else {
        throw GraphError("run_qann: graph output '" + g_.value(o).name + "' was never computed");
      }
    }
    r.levels = std::move(levels_);
    return r;
  }

 private:
  [[noreturn]] void fail(NodeId id, ValueId v, const std::string& msg) const {
    ErrorContext c = g_.context(id);
    if (v.valid()) c.value = g_.value(v).name;
    throw UnsupportedError("QANN: " + msg, c);
  }
  const Slot& levels_in(NodeId id, std::size_t k) const {
    const ValueId v = g_.node(id).inputs[k];
    const Slot& s = slots_[v.index];
    if (s.kind != Slot::Kind::levels) {
      ErrorContext c = g_.context(id);
      c.value = g_.value(v).name;
      throw GraphError("QANN: operand " + std::to_string(k) + " is not the output of a quantization point", c);
    }
    return s;
  }
  const Slot& floats_in(NodeId id, std::size_t k, bool allow_pending) const {
    const ValueId v = g_.node(id).inputs[k];
    const Slot& s = slots_[v.index];
    if (s.kind != Slot::Kind::floats) fail(id, v, "operand " + std::to_string(k) + " must be a real-valued tensor");
    if (!allow_pending && s.pending != Activation::none)
      fail(id, v, "a folded nonlinearity must be followed directly by its quantization point");
    return s;
  }
  Slot& out(NodeId id) { return slots_[g_.node(id).outputs[0].index]; }

  void eval(NodeId id) {
    const Node& n = g_.node(id);
    // The real-valued prologue (what depends only on inputs and constants): reference kernels.
    if (n.kind != OpKind::FakeQuant && !in_quantized_part(id)) return dense(id);
    switch (n.kind) {
      case OpKind::FakeQuant:
        return fake_quant(id);
      case OpKind::Relu:
      case OpKind::Gelu:
      case OpKind::Tanh:
        return fold_nonlinearity(id);
      case OpKind::Linear:
        return linear(id);
      case OpKind::LayerNorm:
      case OpKind::RMSNorm:
      case OpKind::Softmax:
        return whole_vector(id);
      case OpKind::Rotary:
        return rotary(id);
      case OpKind::MatMul:
        return product(id);
      case OpKind::Add:
        return residual_add(id);
      case OpKind::Concat:
        if (slots_[n.inputs[0].index].kind == Slot::Kind::levels) return concat(id);
        return dense(id);
      default:
        if (is_data_movement(n.kind) && slots_[n.inputs[0].index].kind == Slot::Kind::levels) return movement(id);
        return dense(id);
    }
  }

  // A node of the dense prologue (or any op on real values): the reference kernel on its inputs, a folded
  // nonlinearity applied first. Integer levels cannot enter here: an op on levels that is neither a known
  // unit nor data movement has no integer semantics.
  void dense(NodeId id) {
    const Node& n = g_.node(id);
    std::vector<Tensor> held;
    held.reserve(n.inputs.size());
    std::vector<const Tensor*> ptrs;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      const ValueId v = n.inputs[k];
      if (!v.valid()) {
        ptrs.push_back(nullptr);
        continue;
      }
      const Value& val = g_.value(v);
      const Slot& s = slots_[v.index];
      if (val.constant) {
        ptrs.push_back(&*val.constant);
      } else if (s.kind == Slot::Kind::floats) {
        std::vector<float> f(s.f.size());
        for (std::size_t i = 0; i < f.size(); ++i) f[i] = apply_target(s.pending, s.f[i]);
        held.push_back(Tensor::from_vector<float>(s.shape, f));
        ptrs.push_back(&held.back());
      } else if (s.kind == Slot::Kind::tensor) {
        ptrs.push_back(&s.t);
      } else if (s.kind == Slot::Kind::levels) {
        fail(id, v, std::string(op_name(n.kind)) + " of quantized levels has no integer QANN semantics here");
      } else {
        throw GraphError("QANN: operand " + std::to_string(k) + " was never computed", g_.context(id));
      }
    }
    std::vector<Tensor> outs = evaluate_reference(g_, id, ptrs);
    for (std::size_t k = 0; k < outs.size() && k < n.outputs.size(); ++k) {
      Slot& o = slots_[n.outputs[k].index];
      if (outs[k].dtype() == DType::f32) {
        o.kind = Slot::Kind::floats;
        o.shape = outs[k].shape();
        o.f = outs[k].to_f32();
      } else {
        o.kind = Slot::Kind::tensor;
        o.t = std::move(outs[k]);
      }
    }
  }

  void fake_quant(NodeId id) {
    const Node& n = g_.node(id);
    const Slot& x = floats_in(id, 0, true);
    const Value& ov = g_.value(n.outputs[0]);
    if (!ov.quant) fail(id, n.outputs[0], "FakeQuant output carries no QuantParams");
    const QuantParams& qp = *ov.quant;
    if (!qp.per_tensor()) fail(id, n.outputs[0], "activation quantization must be per tensor");
    if (!qp.zero_point.empty() && qp.zero_point[0] != 0) fail(id, n.outputs[0], "activation zero point must be 0");
    if (!(qp.scale[0] > 0.0f)) fail(id, n.outputs[0], "quantization step must be > 0");
    Slot& o = out(id);
    o.kind = Slot::Kind::levels;
    o.lv.shape = x.shape;
    o.lv.scale = qp.scale[0];
    o.lv.n_min = qp.n_min;
    o.lv.n_max = qp.n_max;
    o.lv.q.resize(x.f.size());
    for (std::size_t i = 0; i < x.f.size(); ++i)
      o.lv.q[i] = quantize_level(x.f[i], x.pending, qp.scale[0], qp.n_min, qp.n_max);
    levels_[ov.name] = o.lv;
  }

  void fold_nonlinearity(NodeId id) {
    const Node& n = g_.node(id);
    const Slot& x = floats_in(id, 0, false);
    Slot& o = out(id);
    o = x;
    if (n.kind == OpKind::Relu)
      o.pending = Activation::relu;
    else if (n.kind == OpKind::Tanh)
      o.pending = Activation::tanh;
    else
      o.pending = std::get<GeluAttrs>(n.attrs).tanh_approximation ? Activation::gelu_tanh : Activation::gelu;
  }

  void linear(NodeId id) {
    const Node& n = g_.node(id);
    const Slot& x = levels_in(id, 0);
    const IntWeights w = int_weights(g_.value(n.inputs[1]), "node '" + n.name + "'");
    if (x.lv.shape.empty() || x.lv.shape.back() != w.k) fail(id, n.inputs[0], "input does not fit the weight's K");
    std::vector<float> bias(static_cast<std::size_t>(w.n), 0.0f);
    if (n.inputs.size() > 2 && n.inputs[2].valid()) {
      const Value& b = g_.value(n.inputs[2]);
      if (!b.constant || b.constant->numel() != w.n) fail(id, n.inputs[2], "bias must be a constant [N]");
      bias = b.constant->to_f32();
    }
    Slot& o = out(id);
    o.kind = Slot::Kind::floats;
    o.shape = x.lv.shape;
    o.shape.back() = w.n;
    o.pending = std::get<LinearAttrs>(n.attrs).activation;
    const std::int64_t rows = static_cast<std::int64_t>(x.lv.q.size()) / w.k;
    o.f.assign(static_cast<std::size_t>(rows * w.n), 0.0f);
    if (w.groups > 1) {
      grouped_linear(w, x.lv, bias, o.f);
      return;
    }
    if (options_.int8_kernels && linear_int8(id, w, x.lv, bias, rows, o.f)) return;
    std::vector<std::int64_t> acc(static_cast<std::size_t>(w.n));
    for (std::int64_t r = 0; r < rows; ++r) {
      std::fill(acc.begin(), acc.end(), 0);
      for (std::int64_t k = 0; k < w.k; ++k) {
        const std::int64_t q = x.lv.q[static_cast<std::size_t>(r * w.k + k)];
        for (std::int64_t j = 0; j < w.n; ++j)
          acc[static_cast<std::size_t>(j)] += q * w.w[static_cast<std::size_t>(k * w.n + j)];
      }
      for (std::int64_t j = 0; j < w.n; ++j) {
        const auto jj = static_cast<std::size_t>(j);
        o.f[static_cast<std::size_t>(r * w.n + j)] = linear_value(acc[jj], x.lv.scale, w.step[jj], bias[jj]);
      }
    }
  }

  // The per-channel Linear on the W8A8 GEMM when the levels fit 8 bits: the same exact sums (int32 cannot
  // overflow under the bound checked here), then (s_in * s_w) * float(acc) + bias, linear_value's operations.
  bool linear_int8(NodeId id, const IntWeights& w, const QuantLevels& x, const std::vector<float>& bias,
                   std::int64_t rows, std::vector<float>& y) {
    const bool fits_u8 = x.n_min >= 0 && x.n_max <= 255, fits_s8 = x.n_min >= -128 && x.n_max <= 127;
    if (!fits_u8 && !fits_s8) return false;
    std::shared_ptr<const gemm::PackedS8> packed;
    if (options_.cache) {
      if (auto it = options_.cache->int8_weights.find(id.index); it != options_.cache->int8_weights.end())
        packed = it->second;
    }
    if (!packed) {
      std::vector<std::int8_t> levels(w.w.size());
      for (std::size_t i = 0; i < w.w.size(); ++i) {
        if (w.w[i] < -128 || w.w[i] > 127) return false;
        levels[i] = static_cast<std::int8_t>(w.w[i]);
      }
      packed = std::make_shared<const gemm::PackedS8>(gemm::pack_s8(levels.data(), w.k, w.n));
      if (options_.cache) options_.cache->int8_weights[id.index] = packed;
    }
    const gemm::PackedS8& p = *packed;
    const double bound = static_cast<double>(w.k) * gemm::max_abs_level(!fits_u8, 0) * p.max_abs;
    if (bound >= 2147483647.0) return false;
    std::vector<std::uint8_t> a(x.q.size());
    for (std::size_t i = 0; i < x.q.size(); ++i) a[i] = static_cast<std::uint8_t>(x.q[i]);  // s8: two's complement
    std::vector<float> scale(static_cast<std::size_t>(w.n));
    for (std::size_t j = 0; j < scale.size(); ++j) scale[j] = x.scale * w.step[j];
    gemm::multiply_s8({a.data(), !fits_u8, 0}, rows, p, scale.data(), bias.data(), y.data());
    return true;
  }

  // A grouped Linear: exact partial sums per (group, output), combined by grouped_linear_value (qann.hpp).
  static void grouped_linear(const IntWeights& w, const QuantLevels& x, const std::vector<float>& bias,
                             std::vector<float>& y) {
    const std::int64_t rows = static_cast<std::int64_t>(x.q.size()) / w.k;
    std::vector<std::int64_t> acc(static_cast<std::size_t>(w.groups * w.n));
    for (std::int64_t r = 0; r < rows; ++r) {
      std::fill(acc.begin(), acc.end(), 0);
      for (std::int64_t k = 0; k < w.k; ++k) {
        const std::int64_t q = x.q[static_cast<std::size_t>(r * w.k + k)];
        std::int64_t* a = acc.data() + (k / w.group_rows) * w.n;
        const std::int32_t* wr = w.w.data() + k * w.n;
        for (std::int64_t j = 0; j < w.n; ++j) a[j] += q * wr[j];
      }
      for (std::int64_t j = 0; j < w.n; ++j)
        y[static_cast<std::size_t>(r * w.n + j)] = grouped_linear_value(
            acc.data() + j, w.step.data() + j, w.groups, w.n, x.scale, bias[static_cast<std::size_t>(j)]);
    }
  }

  void whole_vector(NodeId id) {
    const Node& n = g_.node(id);
    const Slot& x = levels_in(id, 0);
    const int rank = static_cast<int>(x.lv.shape.size());
    const std::int64_t axis =
        n.kind == OpKind::Softmax ? std::get<SoftmaxAttrs>(n.attrs).axis : std::get<LayerNormAttrs>(n.attrs).axis;
    const bool rms = n.kind == OpKind::RMSNorm;
    const bool causal = n.kind == OpKind::Softmax && std::get<SoftmaxAttrs>(n.attrs).causal;
    if (causal && rank < 2) fail(id, n.inputs[0], "causal softmax needs scores [..., M, N]");
    if (rank == 0 || (axis != -1 && axis != rank - 1))
      fail(id, n.inputs[0], "whole-vector units run over the last axis only");
    const std::int64_t cols = x.lv.shape.back();
    std::vector<float> gamma, beta;
    float eps = 0.0f;
    DiffUnitAttrs::Fn fn = DiffUnitAttrs::Fn::softmax;
    if (n.kind == OpKind::LayerNorm || rms) {
      fn = rms ? DiffUnitAttrs::Fn::rms_norm : DiffUnitAttrs::Fn::layer_norm;
      eps = std::get<LayerNormAttrs>(n.attrs).epsilon;
      for (std::size_t k = 1; k < n.inputs.size(); ++k) {
        if (!n.inputs[k].valid()) continue;
        const Value& p = g_.value(n.inputs[k]);
        if (!p.constant || p.constant->numel() != cols)
          fail(id, n.inputs[k], "LayerNorm scale/bias must be constants [cols]");
        (k == 1 ? gamma : beta) = p.constant->to_f32();
      }
    }
    std::vector<std::uint8_t> keep;
    if (n.kind == OpKind::Softmax && n.inputs.size() > 1 && n.inputs[1].valid()) keep = mask_keep(id, x.lv.shape);
    Slot& o = out(id);
    o.kind = Slot::Kind::floats;
    o.shape = x.lv.shape;
    o.f.assign(x.lv.q.size(), 0.0f);
    for (std::size_t r = 0; r * static_cast<std::size_t>(cols) < x.lv.q.size(); ++r) {
      const std::size_t base = r * static_cast<std::size_t>(cols);
      whole_vector_row(fn, x.lv.q.data() + base, x.lv.scale, cols, eps, gamma.data(),
                       beta.empty() ? nullptr : beta.data(), o.f.data() + base,
                       causal ? causal_valid_cols(static_cast<std::int64_t>(r), x.lv.shape[rank - 2], cols) : -1,
                       keep.empty() ? nullptr : keep.data() + base);
    }
  }

  // Rotary embedding of levels: per row of [..., T, cols], the cos/sin rows of its position (row % T).
  void rotary(NodeId id) {
    const Node& n = g_.node(id);
    const Slot& x = levels_in(id, 0);
    const Shape& sh = x.lv.shape;
    const Value& cv = g_.value(n.inputs[1]);
    const Value& sv = g_.value(n.inputs[2]);
    if (sh.size() < 2 || !cv.constant || !sv.constant) fail(id, {}, "Rotary needs [..., T, D] levels and constant cos/sin");
    const std::int64_t cols = sh.back(), t = sh[sh.size() - 2];
    if (cv.constant->numel() != t * cols || sv.constant->numel() != t * cols)
      fail(id, n.inputs[1], "Rotary cos/sin must hold one row per position: [T, D] = [" + std::to_string(t) + ", " +
                                std::to_string(cols) + "]");
    const std::vector<float> c = cv.constant->to_f32(), s = sv.constant->to_f32();
    Slot& o = out(id);
    o.kind = Slot::Kind::floats;
    o.shape = sh;
    o.f.assign(x.lv.q.size(), 0.0f);
    const std::int64_t rows = static_cast<std::int64_t>(x.lv.q.size()) / cols;
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t p = (r % t) * cols;
      rotary_row(x.lv.q.data() + r * cols, x.lv.scale, cols, c.data() + p, s.data() + p, o.f.data() + r * cols);
    }
  }

  // The keep flags of a masked softmax's input 1 (a constant, a graph input or a prologue value).
  std::vector<std::uint8_t> mask_keep(NodeId id, const Shape& scores) const {
    const ValueId mv = g_.node(id).inputs[1];
    const Value& val = g_.value(mv);
    const Slot& s = slots_[mv.index];
    Tensor held;
    const Tensor* m = nullptr;
    if (val.constant) {
      m = &*val.constant;
    } else if (s.kind == Slot::Kind::tensor) {
      m = &s.t;
    } else if (s.kind == Slot::Kind::floats && s.pending == Activation::none) {
      held = Tensor::from_vector<float>(s.shape, s.f);
      m = &held;
    } else {
      fail(id, mv, "the attention mask must be a constant or computed from the graph inputs alone");
    }
    try {
      return attention_keep(*m, scores);
    } catch (const Error& e) {
      ErrorContext c = g_.context(id);
      c.value = val.name;
      throw NumericError("QANN: " + e.message(), c);
    }
  }

  void product(NodeId id) {
    const Slot& a = levels_in(id, 0);
    const Slot& b = levels_in(id, 1);
    const Shape& sa = a.lv.shape;
    const Shape& sb = b.lv.shape;
    if (sa.size() < 2 || sa.size() != sb.size() || !std::equal(sa.begin(), sa.end() - 2, sb.begin()) ||
        sa.back() != sb[sb.size() - 2])
      fail(id, {},
           "products need [..., M, K] x [..., K, N] with equal leading dims, got " + shape_to_string(sa) + " and " +
               shape_to_string(sb));
    const std::int64_t m = sa[sa.size() - 2], k = sa.back(), nn = sb.back();
    const std::int64_t batch = static_cast<std::int64_t>(a.lv.q.size()) / (m * k);
    Slot& o = out(id);
    o.kind = Slot::Kind::floats;
    o.shape = sa;
    o.shape.back() = nn;
    o.f.assign(static_cast<std::size_t>(batch * m * nn), 0.0f);
    for (std::int64_t bt = 0; bt < batch; ++bt)
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < nn; ++j) {
          std::int64_t acc = 0;
          for (std::int64_t p = 0; p < k; ++p)
            acc += std::int64_t{a.lv.q[static_cast<std::size_t>((bt * m + i) * k + p)]} *
                   b.lv.q[static_cast<std::size_t>((bt * k + p) * nn + j)];
          o.f[static_cast<std::size_t>((bt * m + i) * nn + j)] = product_value(acc, a.lv.scale, b.lv.scale);
        }
  }

  void residual_add(NodeId id) {
    const Slot& a = levels_in(id, 0);
    const Slot& b = levels_in(id, 1);
    if (a.lv.shape != b.lv.shape) fail(id, {}, "residual Add needs operands of one shape (no broadcasting)");
    Slot& o = out(id);
    o.kind = Slot::Kind::floats;
    o.shape = a.lv.shape;
    o.f.resize(a.lv.q.size());
    for (std::size_t i = 0; i < o.f.size(); ++i) o.f[i] = sum_value(a.lv.q[i], a.lv.scale, b.lv.q[i], b.lv.scale);
  }

  // Concat of levels that share one step: the reference Concat on the integer levels.
  void concat(NodeId id) {
    const Node& n = g_.node(id);
    const Slot& first = levels_in(id, 0);
    std::vector<Tensor> held;
    held.reserve(n.inputs.size());
    std::vector<const Tensor*> ptrs;
    for (std::size_t k = 0; k < n.inputs.size(); ++k) {
      const Slot& s = levels_in(id, k);
      if (s.lv.scale != first.lv.scale || s.lv.n_min != first.lv.n_min || s.lv.n_max != first.lv.n_max)
        fail(id, n.inputs[k], "Concat operands must share one step and one level range");
      held.push_back(Tensor::from_vector<std::int32_t>(s.lv.shape, s.lv.q));
      ptrs.push_back(&held.back());
    }
    const std::vector<Tensor> res = evaluate_reference(g_, id, ptrs);
    Slot& o = out(id);
    o.kind = Slot::Kind::levels;
    o.lv.shape = res.at(0).shape();
    o.lv.scale = first.lv.scale;
    o.lv.n_min = first.lv.n_min;
    o.lv.n_max = first.lv.n_max;
    const auto v = res[0].span<std::int32_t>();
    o.lv.q.assign(v.begin(), v.end());
  }

  void movement(NodeId id) {
    const Node& n = g_.node(id);
    const Slot& x = levels_in(id, 0);
    Slot& o = out(id);
    o.kind = Slot::Kind::levels;
    o.lv = x.lv;
    o.lv.shape = g_.value(n.outputs[0]).type.static_shape();
    if (n.kind == OpKind::Reshape || n.kind == OpKind::Identity || n.kind == OpKind::Flatten ||
        n.kind == OpKind::Squeeze || n.kind == OpKind::Unsqueeze)
      return;  // same order of elements
    const auto src = movement_source_map(g_, id);
    o.lv.q.resize(src.size());
    for (std::size_t i = 0; i < src.size(); ++i) o.lv.q[i] = x.lv.q[static_cast<std::size_t>(src[i])];
  }

  // Whether a node belongs to the integer part: it consumes the output of an integer-semantics unit
  // (Linear, product, whole-vector unit, residual Add) rather than only prologue values.
  bool in_quantized_part(NodeId id) const {
    const Node& n = g_.node(id);
    for (ValueId v : n.inputs)
      if (v.valid() && v.index < integer_part_.size() && integer_part_[v.index]) return true;
    return false;
  }

  const Graph& g_;
  QannOptions options_;
  std::vector<Slot> slots_;
  std::vector<bool> integer_part_;
  std::map<std::string, QuantLevels> levels_;
};

}  // namespace

QannResult run_qann(const Graph& g, std::span<const Tensor> inputs, const QannOptions& options) {
  return QannRunner(g, options).run(inputs);
}

}  // namespace snnconv::ann
