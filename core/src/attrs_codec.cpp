// encode_attrs / decode_attrs (attrs_codec.hpp): one case per attribute struct, fields in declaration order.
#include "snnconv/core/attrs_codec.hpp"

#include <bit>
#include <string>

#include "snnconv/core/error.hpp"

namespace snnconv {
namespace {

struct Out {
  std::vector<std::int64_t> w;
  void i(std::int64_t v) { w.push_back(v); }
  void f(float v) { w.push_back(std::bit_cast<std::int32_t>(v)); }
  void d(double v) { w.push_back(std::bit_cast<std::int64_t>(v)); }
  void ints(const std::vector<std::int64_t>& v) {
    w.push_back(static_cast<std::int64_t>(v.size()));
    w.insert(w.end(), v.begin(), v.end());
  }
};

struct In {
  std::span<const std::int64_t> w;
  const std::string& what;
  std::size_t at = 0;
  std::int64_t i() {
    if (at >= w.size()) throw ParseError(what + ": attribute encoding is truncated");
    return w[at++];
  }
  bool b() { return i() != 0; }
  float f() { return std::bit_cast<float>(static_cast<std::int32_t>(i())); }
  double d() { return std::bit_cast<double>(i()); }
  template <typename E> E e(int count) {
    const std::int64_t v = i();
    if (v < 0 || v >= count) throw ParseError(what + ": attribute enum value " + std::to_string(v) + " out of range");
    return static_cast<E>(v);
  }
  std::vector<std::int64_t> ints() {
    const std::int64_t n = i();
    if (n < 0 || static_cast<std::size_t>(n) > w.size() - at)
      throw ParseError(what + ": attribute list length " + std::to_string(n) + " does not fit the encoding");
    std::vector<std::int64_t> v(w.begin() + static_cast<std::ptrdiff_t>(at), w.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += static_cast<std::size_t>(n);
    return v;
  }
};

constexpr int kActivations = 6;  // Activation::none .. silu
constexpr int kDTypes = 7;       // DType f32 .. bool

struct Encoder {
  Out& o;
  void operator()(const NoAttrs&) {}
  void operator()(const AxisAttrs& a) { o.i(a.axis); }
  void operator()(const SoftmaxAttrs& a) { o.i(a.axis), o.i(a.causal); }
  void operator()(const GemmAttrs& a) { o.f(a.alpha), o.f(a.beta), o.i(a.trans_a), o.i(a.trans_b); }
  void operator()(const ConvAttrs& a) { o.ints(a.kernel_shape), o.ints(a.strides), o.ints(a.pads), o.ints(a.dilations), o.i(a.group); }
  void operator()(const TransposeAttrs& a) { o.ints(a.perm); }
  void operator()(const ReduceAttrs& a) { o.ints(a.axes), o.i(a.keepdims), o.i(a.noop_with_empty_axes); }
  void operator()(const CumSumAttrs& a) { o.i(a.exclusive), o.i(a.reverse); }
  void operator()(const ReshapeAttrs& a) { o.i(a.allowzero); }
  void operator()(const CastAttrs& a) { o.i(static_cast<std::int64_t>(a.to)); }
  void operator()(const LayerNormAttrs& a) { o.i(a.axis), o.f(a.epsilon); }
  void operator()(const TriluAttrs& a) { o.i(a.upper); }
  void operator()(const ConstantOfShapeAttrs& a) { o.i(static_cast<std::int64_t>(a.dtype)), o.d(a.value); }
  void operator()(const GeluAttrs& a) { o.i(a.tanh_approximation); }
  void operator()(const LinearAttrs& a) { o.i(static_cast<std::int64_t>(a.activation)); }
  // Files written before the attention steps existed hold the first two words only; the steps follow them
  // only when there are any, so a float attention encodes as it always did.
  void operator()(const AttentionAttrs& a) {
    o.f(a.scale), o.i(a.causal);
    if (a.quantized()) quant(a.scores_quant), quant(a.probs_quant);
  }
  void quant(const std::optional<QuantParams>& q) {
    o.i(q.has_value());
    if (!q) return;
    o.i(q->bits), o.i(q->n_min), o.i(q->n_max), o.i(q->axis), o.i(q->group_size);
    o.i(static_cast<std::int64_t>(q->scale.size()));
    for (float s : q->scale) o.f(s);
    o.ints(std::vector<std::int64_t>(q->zero_point.begin(), q->zero_point.end()));
  }
  void operator()(const NeuronAttrs& a) { o.i(static_cast<std::int64_t>(a.target)); }
  void operator()(const DiffUnitAttrs& a) { o.i(static_cast<std::int64_t>(a.fn)), o.i(a.axis), o.f(a.epsilon), o.i(a.causal); }
  void operator()(const ScalarParamsAttrs& a) { o.f(a.alpha), o.f(a.beta); }
  void operator()(const ArgReduceAttrs& a) { o.i(a.axis), o.i(a.keepdims), o.i(a.select_last_index); }
  void operator()(const TopKAttrs& a) { o.i(a.axis), o.i(a.largest), o.i(a.sorted); }
  void operator()(const PoolAttrs& a) {
    o.ints(a.kernel_shape), o.ints(a.strides), o.ints(a.pads), o.ints(a.dilations);
    o.i(static_cast<std::int64_t>(a.auto_pad)), o.i(a.ceil_mode), o.i(a.count_include_pad), o.i(a.column_major_indices);
  }
  void operator()(const LossAttrs& a) { o.i(static_cast<std::int64_t>(a.reduction)), o.i(a.has_ignore_index), o.i(a.ignore_index); }
  void operator()(const EpsilonAttrs& a) { o.f(a.epsilon); }
  void operator()(const PadAttrs& a) { o.i(static_cast<std::int64_t>(a.mode)); }
  void operator()(const BlockAttrs& a) { o.i(a.blocksize), o.i(a.crd); }
  void operator()(const SplitAttrs& a) { o.i(a.axis), o.i(a.ceil_parts); }
};

template <typename T> T decode_one(In& in);
template <> NoAttrs decode_one(In&) { return {}; }
template <> AxisAttrs decode_one(In& in) { return {in.i()}; }
template <> SoftmaxAttrs decode_one(In& in) { SoftmaxAttrs a; a.axis = in.i(); a.causal = in.b(); return a; }
template <> GemmAttrs decode_one(In& in) { GemmAttrs a; a.alpha = in.f(); a.beta = in.f(); a.trans_a = in.b(); a.trans_b = in.b(); return a; }
template <> ConvAttrs decode_one(In& in) {
  ConvAttrs a;
  a.kernel_shape = in.ints(), a.strides = in.ints(), a.pads = in.ints(), a.dilations = in.ints(), a.group = in.i();
  return a;
}
template <> TransposeAttrs decode_one(In& in) { return {in.ints()}; }
template <> ReduceAttrs decode_one(In& in) { ReduceAttrs a; a.axes = in.ints(); a.keepdims = in.b(); a.noop_with_empty_axes = in.b(); return a; }
template <> CumSumAttrs decode_one(In& in) { CumSumAttrs a; a.exclusive = in.b(); a.reverse = in.b(); return a; }
template <> ReshapeAttrs decode_one(In& in) { return {in.b()}; }
template <> CastAttrs decode_one(In& in) { return {in.e<DType>(kDTypes)}; }
template <> LayerNormAttrs decode_one(In& in) { LayerNormAttrs a; a.axis = in.i(); a.epsilon = in.f(); return a; }
template <> TriluAttrs decode_one(In& in) { return {in.b()}; }
template <> ConstantOfShapeAttrs decode_one(In& in) { ConstantOfShapeAttrs a; a.dtype = in.e<DType>(kDTypes); a.value = in.d(); return a; }
template <> GeluAttrs decode_one(In& in) { return {in.b()}; }
template <> LinearAttrs decode_one(In& in) { return {in.e<Activation>(kActivations)}; }
std::optional<QuantParams> decode_quant(In& in) {
  if (!in.b()) return std::nullopt;
  QuantParams q;
  q.bits = static_cast<int>(in.i());
  q.n_min = static_cast<std::int32_t>(in.i());
  q.n_max = static_cast<std::int32_t>(in.i());
  q.axis = static_cast<int>(in.i());
  q.group_size = static_cast<int>(in.i());
  const std::int64_t n = in.i();
  if (n < 0 || static_cast<std::size_t>(n) > in.w.size() - in.at)
    throw ParseError(in.what + ": attribute list length " + std::to_string(n) + " does not fit the encoding");
  for (std::int64_t k = 0; k < n; ++k) q.scale.push_back(in.f());
  for (std::int64_t z : in.ints()) q.zero_point.push_back(static_cast<std::int32_t>(z));
  return q;
}
template <> AttentionAttrs decode_one(In& in) {
  AttentionAttrs a;
  a.scale = in.f();
  a.causal = in.b();
  if (in.at < in.w.size()) {  // the steps (absent in files that predate them)
    a.scores_quant = decode_quant(in);
    a.probs_quant = decode_quant(in);
  }
  return a;
}
template <> NeuronAttrs decode_one(In& in) { return {in.e<Activation>(kActivations)}; }
template <> DiffUnitAttrs decode_one(In& in) {
  DiffUnitAttrs a;
  a.fn = in.e<DiffUnitAttrs::Fn>(4), a.axis = in.i(), a.epsilon = in.f(), a.causal = in.b();
  return a;
}

template <> ScalarParamsAttrs decode_one(In& in) { ScalarParamsAttrs a; a.alpha = in.f(); a.beta = in.f(); return a; }
template <> ArgReduceAttrs decode_one(In& in) {
  ArgReduceAttrs a;
  a.axis = in.i(), a.keepdims = in.b(), a.select_last_index = in.b();
  return a;
}
template <> TopKAttrs decode_one(In& in) { TopKAttrs a; a.axis = in.i(); a.largest = in.b(); a.sorted = in.b(); return a; }
template <> PoolAttrs decode_one(In& in) {
  PoolAttrs a;
  a.kernel_shape = in.ints(), a.strides = in.ints(), a.pads = in.ints(), a.dilations = in.ints();
  a.auto_pad = in.e<AutoPad>(4), a.ceil_mode = in.b(), a.count_include_pad = in.b(), a.column_major_indices = in.b();
  return a;
}
template <> LossAttrs decode_one(In& in) {
  LossAttrs a;
  a.reduction = in.e<LossReduction>(3), a.has_ignore_index = in.b(), a.ignore_index = in.i();
  return a;
}
template <> EpsilonAttrs decode_one(In& in) { return {in.f()}; }
template <> PadAttrs decode_one(In& in) { return {in.e<PadMode>(3)}; }
template <> BlockAttrs decode_one(In& in) { BlockAttrs a; a.blocksize = in.i(); a.crd = in.b(); return a; }
template <> SplitAttrs decode_one(In& in) { SplitAttrs a; a.axis = in.i(); a.ceil_parts = in.b(); return a; }

template <std::size_t I> Attrs decode_index(std::size_t index, In& in) {
  if constexpr (I < std::variant_size_v<Attrs>) {
    if (index == I) return decode_one<std::variant_alternative_t<I, Attrs>>(in);
    return decode_index<I + 1>(index, in);
  } else {
    throw ParseError(in.what + ": unknown attribute kind " + std::to_string(index));
  }
}

}  // namespace

std::vector<std::int64_t> encode_attrs(const Attrs& a) {
  Out o;
  std::visit(Encoder{o}, a);
  return std::move(o.w);
}

Attrs decode_attrs(std::size_t index, std::span<const std::int64_t> words, const std::string& what) {
  In in{words, what};
  Attrs a = decode_index<0>(index, in);
  if (in.at != words.size())
    throw ParseError(what + ": " + std::to_string(words.size() - in.at) + " stray attribute words");
  return a;
}

}  // namespace snnconv
