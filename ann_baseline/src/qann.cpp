// The scalar definitions of the integer QANN (qann.hpp). They are deliberately out of line: the QANN
// reference and the spiking engine call these very instructions, so FMA contraction or a different
// inlining context cannot make the two sides differ in the last bit.
#include "snnconv/ann_baseline/qann.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "reference_detail.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv::ann {

float linear_value(std::int64_t acc, float s_in, float s_w, float bias) {
  const float step = s_in * s_w;
  return step * static_cast<float>(acc) + bias;
}

float grouped_linear_value(const std::int64_t* acc, const float* s_w, std::int64_t groups, std::int64_t stride,
                           float s_in, float bias) {
  float y = (s_in * s_w[0]) * static_cast<float>(acc[0]);
  for (std::int64_t g = 1; g < groups; ++g) {
    const float term = (s_in * s_w[g * stride]) * static_cast<float>(acc[g * stride]);
    y = y + term;
  }
  return y + bias;
}

float product_value(std::int64_t acc, float s_a, float s_b) {
  return (s_a * s_b) * static_cast<float>(acc);
}

float sum_value(std::int32_t q_a, float s_a, std::int32_t q_b, float s_b) {
  return s_a * static_cast<float>(q_a) + s_b * static_cast<float>(q_b);
}

float dequantize(std::int32_t q, float s) {
  return s * static_cast<float>(q);
}

float qann_erf(float x) {
  const float t = std::min(std::max(x, -kQannErfClamp), kQannErfClamp);
  const float z = t * t;
  float p = kQannErfP[5], q = kQannErfQ[5];
  for (int k = 4; k >= 0; --k) {
    p = p * z;
    p = p + kQannErfP[k];
    q = q * z;
    q = q + kQannErfQ[k];
  }
  const float num = t * p;
  return num / q;
}

float qann_gelu(float x) {
  constexpr float kSqrt2 = 1.41421356237309504880f;
  const float a = 1.0f + qann_erf(x / kSqrt2);
  const float xa = x * a;
  return xa * 0.5f;
}

float apply_target(Activation act, float x) {
  switch (act) {
    case Activation::none:
      return x;
    case Activation::relu:
      return x < 0.0f ? 0.0f : x;
    case Activation::gelu:
      return qann_gelu(x);
    case Activation::gelu_tanh:
      return detail::gelu_tanh(x);
    case Activation::tanh:
      return std::tanh(x);
    case Activation::silu:
      return detail::silu(x);
  }
  return x;
}

std::int32_t quantize_level(float x, Activation act, float s, std::int32_t n_min, std::int32_t n_max) {
  const float lo = static_cast<float>(n_min), hi = static_cast<float>(n_max);
  const float q = std::floor(apply_target(act, x) / s + 0.5f);
  // A NaN has no level; n_min keeps the count defined (the reference FakeQuant would propagate NaN).
  if (std::isnan(q)) return n_min;
  return static_cast<std::int32_t>(std::clamp(q, lo, hi));
}

float layer_norm_eps_term(std::int64_t cols, float epsilon, float s) {
  const double n = static_cast<double>(cols);
  return static_cast<float>(n * n * static_cast<double>(epsilon) / (static_cast<double>(s) * static_cast<double>(s)));
}

std::int64_t softmax_weight(std::int64_t k, float s) {
  return static_cast<std::int64_t>(
      std::floor(std::ldexp(std::exp(-static_cast<double>(s) * static_cast<double>(k)), kSoftmaxFracBits) + 0.5));
}

namespace {

// Softmax over the entries of a row that `keep` lets take part (a mask); the others are 0. A row with no
// entry left is all 0.
void masked_softmax_row(const std::int32_t* q, float s, std::int64_t n, const std::uint8_t* keep, float* y) {
  std::int32_t top = std::numeric_limits<std::int32_t>::min();
  for (std::int64_t j = 0; j < n; ++j)
    if (keep[j]) top = std::max(top, q[j]);
  std::int64_t sum = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    if (!keep[j]) {
      y[j] = 0.0f;
      continue;
    }
    const std::int64_t w = softmax_weight(std::int64_t{top} - q[j], s);
    sum += w;
    y[j] = static_cast<float>(w);
  }
  if (sum == 0) return;
  const float denom = static_cast<float>(sum);
  for (std::int64_t j = 0; j < n; ++j)
    if (keep[j]) y[j] = y[j] / denom;
}

}  // namespace

std::vector<std::uint8_t> attention_keep(const Tensor& mask, const Shape& scores) {
  // A bool mask (true = attend) reads as 0 / -inf.
  const bool boolean = mask.dtype() == DType::boolean;
  const Tensor m = mask.dtype() == DType::f32 || boolean ? mask : mask.cast(DType::f32);
  std::vector<float> vals;
  if (boolean) {
    for (std::int64_t b : m.to_i64()) vals.push_back(b != 0 ? 0.0f : -std::numeric_limits<float>::infinity());
  } else {
    vals = m.to_f32();
  }
  const Shape& ms = m.shape();
  if (ms.size() > scores.size()) throw ShapeError("attention mask " + shape_to_string(ms) + " has more dims than the scores " + shape_to_string(scores));
  // Broadcast strides of the mask over the scores (numpy rules, right-aligned).
  const std::size_t off = scores.size() - ms.size();
  std::vector<std::int64_t> stride(scores.size(), 0);
  std::int64_t st = 1;
  for (std::size_t d = ms.size(); d-- > 0;) {
    if (ms[d] != 1 && ms[d] != scores[off + d])
      throw ShapeError("attention mask " + shape_to_string(ms) + " does not broadcast to the scores " + shape_to_string(scores));
    stride[off + d] = ms[d] == 1 ? 0 : st;
    st *= ms[d];
  }
  std::int64_t total = 1;
  for (std::int64_t d : scores) total *= d;
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(total));
  std::vector<std::int64_t> idx(scores.size(), 0);
  std::int64_t at = 0;
  for (std::int64_t i = 0; i < total; ++i) {
    const float v = vals[static_cast<std::size_t>(at)];
    if (v == 0.0f) {
      keep[static_cast<std::size_t>(i)] = 1;
    } else if (!(v <= kMaskedBelow)) {
      throw NumericError("attention mask value " + std::to_string(v) + " at element " + std::to_string(at) +
                         " is neither 0 (attend) nor <= -1000 (masked): an additive bias inside the softmax has no "
                         "integer form");
    }
    for (std::size_t d = scores.size(); d-- > 0;) {  // next index, row-major
      at += stride[d];
      if (++idx[d] < scores[d]) break;
      at -= stride[d] * scores[d];
      idx[d] = 0;
    }
  }
  return keep;
}

namespace {

// A row's integer sums, exact: S1, and as floats (one rounding of the exact integer) S2 and cols^2 x the variance of
// the levels, cols * S2 - S1^2. In int64 when cols x max|q| fits in int32 (then cols * S2 <= (cols x max|q|)^2 <
// 2^62), else in 128 bits: counts that large are no real population's, but the row stays defined.
struct RowSums {
  std::int64_t sum = 0;
  float sum_sq = 0.0f;
  float var_n2 = 0.0f;
};

RowSums row_sums(const std::int32_t* q, std::int64_t cols) {
  RowSums r;
  std::int64_t top = 0;
  for (std::int64_t j = 0; j < cols; ++j) {
    r.sum += q[j];
    top = std::max(top, q[j] < 0 ? -std::int64_t{q[j]} : std::int64_t{q[j]});
  }
  if (cols * top <= std::numeric_limits<std::int32_t>::max()) {
    std::int64_t s2 = 0;
    for (std::int64_t j = 0; j < cols; ++j) s2 += std::int64_t{q[j]} * q[j];
    r.sum_sq = static_cast<float>(s2);
    r.var_n2 = static_cast<float>(cols * s2 - r.sum * r.sum);
    return r;
  }
  __int128 s2 = 0;
  for (std::int64_t j = 0; j < cols; ++j) s2 += static_cast<__int128>(q[j]) * q[j];
  r.sum_sq = static_cast<float>(s2);
  r.var_n2 = static_cast<float>(static_cast<__int128>(cols) * s2 - static_cast<__int128>(r.sum) * r.sum);
  return r;
}

}  // namespace

void whole_vector_row(DiffUnitAttrs::Fn fn, const std::int32_t* q, float s, std::int64_t cols, float epsilon,
                      const float* gamma, const float* beta, float* y, std::int64_t valid_cols,
                      const std::uint8_t* keep) {
  switch (fn) {
    case DiffUnitAttrs::Fn::softmax: {
      const std::int64_t n = valid_cols >= 0 && valid_cols < cols ? valid_cols : cols;
      std::fill(y + n, y + cols, 0.0f);
      if (n == 0) return;
      if (keep != nullptr) return masked_softmax_row(q, s, n, keep, y);
      // The weights of one step s, kept per thread: a pure function of (k, s), so caching changes no bit.
      thread_local float cached_s = -1.0f;
      thread_local std::vector<std::int64_t> table;
      if (cached_s != s) {
        cached_s = s;
        table.clear();
      }
      const std::int32_t top = *std::max_element(q, q + n);
      std::int64_t sum = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const auto k = static_cast<std::size_t>(std::int64_t{top} - q[j]);
        while (table.size() <= k) table.push_back(softmax_weight(static_cast<std::int64_t>(table.size()), s));
        sum += table[k];
        y[j] = static_cast<float>(table[k]);  // <= 2^23: exact in float
      }
      const float denom = static_cast<float>(sum);
      for (std::int64_t j = 0; j < n; ++j) y[j] = y[j] / denom;
      return;
    }
    case DiffUnitAttrs::Fn::rms_norm: {
      const RowSums sums = row_sums(q, cols);
      const float mean = (sums.sum_sq + rms_norm_eps_term(cols, epsilon, s)) / static_cast<float>(cols);
      const float r = std::sqrt(mean);
      for (std::int64_t j = 0; j < cols; ++j) {
        y[j] = static_cast<float>(q[j]) / r;
        y[j] = y[j] * gamma[j];
      }
      return;
    }
    case DiffUnitAttrs::Fn::rotary:
      throw UnsupportedError("whole_vector_row: rotary rows need their position (rotary_row)");
    case DiffUnitAttrs::Fn::layer_norm: {
      const RowSums sums = row_sums(q, cols);
      const std::int64_t s1 = sums.sum;
      const float denom = std::sqrt(sums.var_n2 + layer_norm_eps_term(cols, epsilon, s));
      // One rounding per operation, in this order (the exported graph's Div, Mul, Add).
      for (std::int64_t j = 0; j < cols; ++j) {
        y[j] = static_cast<float>(cols * q[j] - s1) / denom;
        y[j] = y[j] * gamma[j];
        if (beta) y[j] = y[j] + beta[j];
      }
      return;
    }
  }
}

float rms_norm_eps_term(std::int64_t cols, float epsilon, float s) {
  return static_cast<float>(static_cast<double>(cols) * static_cast<double>(epsilon) /
                            (static_cast<double>(s) * static_cast<double>(s)));
}

void rotary_row(const std::int32_t* q, float s, std::int64_t cols, const float* cos_row, const float* sin_row, float* y) {
  const std::int64_t h = cols / 2;
  for (std::int64_t j = 0; j < cols; ++j) {
    const float x = dequantize(q[j], s);
    const float r = j < h ? dequantize(-q[j + h], s) : dequantize(q[j - h], s);
    const float a = x * cos_row[j];
    const float b = r * sin_row[j];
    y[j] = a + b;
  }
}

bool is_data_movement(OpKind kind) {
  switch (kind) {
    case OpKind::Reshape:
    case OpKind::Transpose:
    case OpKind::Gather:
    case OpKind::Slice:
    case OpKind::Squeeze:
    case OpKind::Unsqueeze:
    case OpKind::Flatten:
    case OpKind::Expand:
    case OpKind::Identity:
      return true;
    default:
      return false;
  }
}

std::vector<std::int64_t> movement_source_map(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  if (!is_data_movement(n.kind) || n.inputs.empty())
    throw UnsupportedError(std::string(op_name(n.kind)) + " is not data movement", g.context(id));
  const Value& data = g.value(n.inputs[0]);
  if (!data.type.is_static()) throw ShapeError("data movement needs a static input shape", g.context(id));
  const Shape shape = data.type.static_shape();
  const std::int64_t numel = checked_numel(shape, data.name);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(numel));
  for (std::int64_t i = 0; i < numel; ++i) idx[static_cast<std::size_t>(i)] = i;
  const Tensor index = Tensor::from_vector<std::int64_t>(shape, idx);
  std::vector<const Tensor*> ins{&index};
  for (std::size_t k = 1; k < n.inputs.size(); ++k) {
    if (!n.inputs[k].valid()) {
      ins.push_back(nullptr);
      continue;
    }
    const Value& v = g.value(n.inputs[k]);
    if (!v.constant) {
      ErrorContext c = g.context(id);
      c.value = v.name;
      throw UnsupportedError("data movement of spikes needs constant indices/shapes", c);
    }
    ins.push_back(&*v.constant);
  }
  const std::vector<Tensor> out = evaluate_reference(g, id, ins);
  return out.at(0).to_i64();
}

std::int64_t causal_valid_cols(std::int64_t row, std::int64_t m, std::int64_t cols) {
  return std::clamp<std::int64_t>(row % m + 1 + (cols - m), 0, cols);
}

std::vector<bool> after_quantization(const Graph& g) {
  std::vector<bool> after(g.num_values(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (const Node& n : g.nodes()) {
      bool any = n.kind == OpKind::FakeQuant;
      for (ValueId v : n.inputs) any = any || (v.valid() && after[v.index]);
      if (!any) continue;
      for (ValueId o : n.outputs)
        if (o.valid() && !after[o.index]) after[o.index] = changed = true;
    }
  }
  return after;
}

std::vector<std::int64_t> transpose_index_map(const Shape& in, const std::vector<std::int64_t>& perm_attr) {
  const std::size_t rank = in.size();
  std::vector<std::int64_t> perm = perm_attr;
  if (perm.empty())
    for (std::size_t d = 0; d < rank; ++d) perm.push_back(static_cast<std::int64_t>(rank - 1 - d));
  if (perm.size() != rank)
    throw ShapeError("Transpose perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
  Shape out(rank);
  for (std::size_t d = 0; d < rank; ++d) out[d] = in[static_cast<std::size_t>(perm[d])];
  // Output strides seen from each input axis: input axis perm[d] moves along output axis d.
  std::vector<std::int64_t> out_stride(rank, 1), in_axis_stride(rank, 0);
  for (std::size_t d = rank; d-- > 1;) out_stride[d - 1] = out_stride[d] * out[d];
  for (std::size_t d = 0; d < rank; ++d) in_axis_stride[static_cast<std::size_t>(perm[d])] = out_stride[d];
  const std::int64_t numel = checked_numel(in, "Transpose input");
  std::vector<std::int64_t> map(static_cast<std::size_t>(numel));
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t target = 0;
  for (std::int64_t i = 0; i < numel; ++i) {
    map[static_cast<std::size_t>(i)] = target;
    for (std::size_t d = rank; d-- > 0;) {  // odometer over the input index
      ++index[d];
      target += in_axis_stride[d];
      if (index[d] < in[d]) break;
      target -= in_axis_stride[d] * in[d];
      index[d] = 0;
    }
  }
  return map;
}

IntWeights int_weights(const Value& weight, const std::string& what) {
  if (!weight.constant) throw UnsupportedError(what + ": weight '" + weight.name + "' is not a constant");
  const Tensor& t = *weight.constant;
  if (t.rank() != 2) throw ShapeError(what + ": weight '" + weight.name + "' must be [K, N]");
  if (!weight.quant) throw GraphError(what + ": weight '" + weight.name + "' carries no QuantParams");
  const QuantParams& qp = *weight.quant;
  IntWeights r;
  r.k = t.dim(0);
  r.n = t.dim(1);
  r.bits = qp.bits;
  for (std::int32_t z : qp.zero_point)
    if (z != 0) throw UnsupportedError(what + ": weight '" + weight.name + "' has a zero point (symmetric only)");
  r.group_rows = r.k;
  if (qp.group_size > 0 && !qp.per_tensor()) {
    // Groups of G input rows (axis 0): steps [K/G][N], or one step per group shared by every output.
    const std::int64_t gs = qp.group_size;
    if (qp.axis != 0 || r.k % gs != 0)
      throw UnsupportedError(what + ": weight '" + weight.name + "' groups of " + std::to_string(gs) +
                             " must run along axis 0 (K) and divide K = " + std::to_string(r.k));
    r.groups = r.k / gs;
    r.group_rows = gs;
    const auto count = static_cast<std::int64_t>(qp.scale.size());
    if (count == r.groups * r.n) {
      r.step = qp.scale;
    } else if (count == r.groups) {
      for (std::int64_t g = 0; g < r.groups; ++g) r.step.insert(r.step.end(), static_cast<std::size_t>(r.n), qp.scale[g]);
    } else {
      throw UnsupportedError(what + ": weight '" + weight.name + "' has " + std::to_string(count) +
                             " steps; groups of " + std::to_string(gs) + " need " + std::to_string(r.groups * r.n));
    }
  } else if (qp.per_tensor()) {
    r.step.assign(static_cast<std::size_t>(r.n), qp.scale[0]);
  } else if (static_cast<std::int64_t>(qp.scale.size()) == r.n && (qp.axis == 1 || qp.axis == -1)) {
    r.step = qp.scale;
  } else {
    throw UnsupportedError(what + ": weight '" + weight.name + "' needs one step per tensor or per output channel");
  }
  const std::vector<float> v = t.to_f32();
  r.w.resize(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    // Levels must be exact integers inside the declared range: the synapse adds them in int64.
    if (!(v[i] == std::nearbyint(v[i])) || v[i] < static_cast<float>(qp.n_min) || v[i] > static_cast<float>(qp.n_max))
      throw NumericError(what + ": weight '" + weight.name + "' holds " + std::to_string(v[i]) +
                         ", not an integer level in [" + std::to_string(qp.n_min) + ", " + std::to_string(qp.n_max) +
                         "]");
    r.w[i] = static_cast<std::int32_t>(v[i]);
  }
  return r;
}

}  // namespace snnconv::ann
