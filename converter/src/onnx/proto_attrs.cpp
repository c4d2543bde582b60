#include "onnx/proto_attrs.hpp"

#include <algorithm>
#include <initializer_list>
#include <string_view>

namespace snnconv::onnx_import::detail {
namespace {

using onnx::AttributeProto;

const AttributeProto* find_attr(const onnx::NodeProto& node, std::string_view name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

const AttributeProto* typed_attr(const onnx::NodeProto& node, std::string_view name, AttributeProto::AttributeType type,
                                 const ErrorContext& ctx) {
  const AttributeProto* a = find_attr(node, name);
  if (a && a->type() != type)
    throw ParseError("attribute '" + std::string(name) + "' has type " + AttributeProto::AttributeType_Name(a->type()) +
                         ", expected " + AttributeProto::AttributeType_Name(type),
                     ctx);
  return a;
}

std::int64_t get_int(const onnx::NodeProto& node, std::string_view name, std::int64_t fallback,
                     const ErrorContext& ctx) {
  const AttributeProto* a = typed_attr(node, name, AttributeProto::INT, ctx);
  return a ? a->i() : fallback;
}

std::optional<std::int64_t> get_int_opt(const onnx::NodeProto& node, std::string_view name, const ErrorContext& ctx) {
  const AttributeProto* a = typed_attr(node, name, AttributeProto::INT, ctx);
  return a ? std::optional<std::int64_t>(a->i()) : std::nullopt;
}

float get_float(const onnx::NodeProto& node, std::string_view name, float fallback, const ErrorContext& ctx) {
  const AttributeProto* a = typed_attr(node, name, AttributeProto::FLOAT, ctx);
  return a ? a->f() : fallback;
}

std::vector<std::int64_t> get_ints(const onnx::NodeProto& node, std::string_view name, const ErrorContext& ctx) {
  const AttributeProto* a = typed_attr(node, name, AttributeProto::INTS, ctx);
  if (!a) return {};
  return {a->ints().begin(), a->ints().end()};
}

std::string get_string(const onnx::NodeProto& node, std::string_view name, std::string fallback,
                       const ErrorContext& ctx) {
  const AttributeProto* a = typed_attr(node, name, AttributeProto::STRING, ctx);
  return a ? a->s() : fallback;
}

// Attributes the IR does not model would silently change the meaning of a node: refuse them by name.
void allow_only(const onnx::NodeProto& node, std::initializer_list<std::string_view> known, const ErrorContext& ctx) {
  for (const auto& a : node.attribute())
    if (std::find(known.begin(), known.end(), a.name()) == known.end())
      throw UnsupportedError("attribute '" + a.name() + "' of " + node.op_type() + " is not supported", ctx);
}

AxisAttrs axis_attrs(const onnx::NodeProto& node, std::int64_t fallback, const ErrorContext& ctx) {
  allow_only(node, {"axis"}, ctx);
  return AxisAttrs{get_int(node, "axis", fallback, ctx)};
}

// Axes as an attribute (opsets <= 17 except ReduceSum-13) or as an input (ReduceSum-13, every reduction at
// opset 18; the importer folds a constant one into the attrs). ONNX's checker ties the form to the opset;
// the importer takes whichever the node has.
ReduceAttrs reduce_attrs(const onnx::NodeProto& node, const ErrorContext& ctx) {
  allow_only(node, {"axes", "keepdims", "noop_with_empty_axes"}, ctx);
  ReduceAttrs r;
  r.axes = get_ints(node, "axes", ctx);
  r.noop_with_empty_axes = get_int(node, "noop_with_empty_axes", 0, ctx) != 0;
  r.keepdims = get_int(node, "keepdims", 1, ctx) != 0;
  return r;
}

AutoPad auto_pad_of(const onnx::NodeProto& node, const ErrorContext& ctx) {
  const std::string s = get_string(node, "auto_pad", "NOTSET", ctx);
  if (s == "NOTSET") return AutoPad::notset;
  if (s == "SAME_UPPER") return AutoPad::same_upper;
  if (s == "SAME_LOWER") return AutoPad::same_lower;
  if (s == "VALID") return AutoPad::valid;
  throw ParseError("auto_pad '" + s + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ctx);
}

PoolAttrs pool_attrs(const onnx::NodeProto& node, bool is_max, const ErrorContext& ctx) {
  if (is_max)
    allow_only(node, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}, ctx);
  else
    allow_only(node, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}, ctx);
  PoolAttrs p;
  p.kernel_shape = get_ints(node, "kernel_shape", ctx);
  if (p.kernel_shape.empty()) throw ParseError(node.op_type() + " without its required 'kernel_shape' attribute", ctx);
  p.strides = get_ints(node, "strides", ctx);
  p.pads = get_ints(node, "pads", ctx);
  p.dilations = get_ints(node, "dilations", ctx);
  p.auto_pad = auto_pad_of(node, ctx);
  p.ceil_mode = get_int(node, "ceil_mode", 0, ctx) != 0;
  p.count_include_pad = get_int(node, "count_include_pad", 0, ctx) != 0;
  const std::int64_t order = get_int(node, "storage_order", 0, ctx);
  if (order != 0 && order != 1) throw ParseError("storage_order must be 0 or 1", ctx);
  p.column_major_indices = order == 1;
  return p;
}

LossAttrs loss_attrs(const onnx::NodeProto& node, const ErrorContext& ctx) {
  allow_only(node, {"reduction", "ignore_index"}, ctx);
  LossAttrs l;
  const std::string r = get_string(node, "reduction", "mean", ctx);
  if (r == "none") l.reduction = LossReduction::none;
  else if (r == "sum") l.reduction = LossReduction::sum;
  else if (r == "mean") l.reduction = LossReduction::mean;
  else throw ParseError("reduction '" + r + "' is not one of none, sum, mean", ctx);
  if (const auto ii = get_int_opt(node, "ignore_index", ctx)) l.has_ignore_index = true, l.ignore_index = *ii;
  return l;
}

ScalarParamsAttrs params(const onnx::NodeProto& node, const char* a, float a_default, const char* b, float b_default,
                         const ErrorContext& ctx) {
  if (b) allow_only(node, {a, b}, ctx);
  else allow_only(node, {a}, ctx);
  return ScalarParamsAttrs{get_float(node, a, a_default, ctx), b ? get_float(node, b, b_default, ctx) : 0.0f};
}

ConvAttrs conv_attrs(const onnx::NodeProto& node, const ErrorContext& ctx) {
  allow_only(node, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}, ctx);
  const std::string auto_pad = get_string(node, "auto_pad", "NOTSET", ctx);
  if (auto_pad != "NOTSET")
    throw UnsupportedError("Conv auto_pad=" + auto_pad + " is not supported (export with explicit pads)", ctx);
  ConvAttrs c;
  c.kernel_shape = get_ints(node, "kernel_shape", ctx);
  c.strides = get_ints(node, "strides", ctx);
  c.pads = get_ints(node, "pads", ctx);
  c.dilations = get_ints(node, "dilations", ctx);
  c.group = get_int(node, "group", 1, ctx);
  if (c.group < 1) throw ParseError("Conv group " + std::to_string(c.group) + " is not positive", ctx);
  return c;
}

}  // namespace

std::optional<std::vector<std::int64_t>> ints_attribute(const onnx::NodeProto& node, std::string_view name,
                                                        const ErrorContext& ctx) {
  if (!typed_attr(node, name, AttributeProto::INTS, ctx)) return std::nullopt;
  return get_ints(node, name, ctx);
}

Attrs attrs_from_proto(OpKind kind, const onnx::NodeProto& node, const ErrorContext& ctx, const TensorSource& source,
                       std::int64_t opset) {
  const std::int64_t softmax_axis = opset < 13 ? 1 : -1;  // before 13: the 2-D coercion axis, default 1
  switch (kind) {
    case OpKind::Gemm: {
      allow_only(node, {"alpha", "beta", "transA", "transB"}, ctx);
      return GemmAttrs{get_float(node, "alpha", 1.0f, ctx), get_float(node, "beta", 1.0f, ctx),
                       get_int(node, "transA", 0, ctx) != 0, get_int(node, "transB", 0, ctx) != 0};
    }
    case OpKind::Conv:
      return conv_attrs(node, ctx);
    case OpKind::Transpose: {
      allow_only(node, {"perm"}, ctx);
      return TransposeAttrs{get_ints(node, "perm", ctx)};
    }
    // ONNX defaults at opsets 13-17.
    case OpKind::Softmax:
      return SoftmaxAttrs{axis_attrs(node, softmax_axis, ctx).axis, false};
    case OpKind::Squeeze:
    case OpKind::Unsqueeze:  // opset 11's 'axes' attribute becomes the axes input (onnx_import.cpp)
      allow_only(node, {"axes"}, ctx);
      return NoAttrs{};
    case OpKind::Flatten:
      return axis_attrs(node, 1, ctx);
    case OpKind::Gather:
      return axis_attrs(node, 0, ctx);
    case OpKind::Split: {
      // 'split' (opset 11's sizes attribute) becomes a constant input in the importer; 'num_outputs' (opset
      // 18) must equal the output count, checked there.
      allow_only(node, {"axis", "num_outputs", "split"}, ctx);
      return SplitAttrs{get_int(node, "axis", 0, ctx), get_int_opt(node, "num_outputs", ctx).has_value()};
    }
    case OpKind::GatherElements:
      return axis_attrs(node, 0, ctx);
    case OpKind::LogSoftmax:
    case OpKind::Hardmax:
      return axis_attrs(node, softmax_axis, ctx);
    case OpKind::OneHot:
      return axis_attrs(node, -1, ctx);
    case OpKind::GatherND: {
      allow_only(node, {"batch_dims"}, ctx);
      return AxisAttrs{get_int(node, "batch_dims", 0, ctx)};
    }
    case OpKind::Elu:
    case OpKind::Celu:
      return params(node, "alpha", 1.0f, nullptr, 0.0f, ctx);
    case OpKind::Selu:  // gamma in beta
      return params(node, "alpha", 1.67326319217681884765625f, "gamma", 1.05070102214813232421875f, ctx);
    case OpKind::LeakyRelu:
      return params(node, "alpha", 0.01f, nullptr, 0.0f, ctx);
    case OpKind::ThresholdedRelu:
      return params(node, "alpha", 1.0f, nullptr, 0.0f, ctx);
    case OpKind::HardSigmoid:
      return params(node, "alpha", 0.2f, "beta", 0.5f, ctx);
    case OpKind::Shrink: {  // lambd in alpha, bias in beta
      allow_only(node, {"bias", "lambd"}, ctx);
      return ScalarParamsAttrs{get_float(node, "lambd", 0.5f, ctx), get_float(node, "bias", 0.0f, ctx)};
    }
    case OpKind::IsInf: {
      allow_only(node, {"detect_negative", "detect_positive"}, ctx);
      return ScalarParamsAttrs{get_int(node, "detect_negative", 1, ctx) != 0 ? 1.0f : 0.0f,
                               get_int(node, "detect_positive", 1, ctx) != 0 ? 1.0f : 0.0f};
    }
    case OpKind::Mod: {
      allow_only(node, {"fmod"}, ctx);
      const std::int64_t fmod = get_int(node, "fmod", 0, ctx);
      if (fmod != 0 && fmod != 1) throw ParseError("Mod fmod must be 0 or 1", ctx);
      return ScalarParamsAttrs{static_cast<float>(fmod), 0.0f};
    }
    case OpKind::ArgMax:
    case OpKind::ArgMin: {
      allow_only(node, {"axis", "keepdims", "select_last_index"}, ctx);
      return ArgReduceAttrs{get_int(node, "axis", 0, ctx), get_int(node, "keepdims", 1, ctx) != 0,
                            get_int(node, "select_last_index", 0, ctx) != 0};
    }
    case OpKind::TopK: {
      allow_only(node, {"axis", "largest", "sorted"}, ctx);
      return TopKAttrs{get_int(node, "axis", -1, ctx), get_int(node, "largest", 1, ctx) != 0,
                       get_int(node, "sorted", 1, ctx) != 0};
    }
    case OpKind::BatchNormalization: {
      // momentum only matters in training; training_mode = 1 (opset 14+) would need the batch statistics.
      allow_only(node, {"epsilon", "momentum", "training_mode"}, ctx);
      if (get_int(node, "training_mode", 0, ctx) != 0)
        throw UnsupportedError("BatchNormalization in training mode is not supported (export in eval mode)", ctx);
      return EpsilonAttrs{get_float(node, "epsilon", 1e-5f, ctx)};
    }
    case OpKind::InstanceNormalization: {
      allow_only(node, {"epsilon"}, ctx);
      return EpsilonAttrs{get_float(node, "epsilon", 1e-5f, ctx)};
    }
    case OpKind::MaxPool:
      return pool_attrs(node, true, ctx);
    case OpKind::AveragePool:
      return pool_attrs(node, false, ctx);
    case OpKind::NegativeLogLikelihoodLoss:
    case OpKind::SoftmaxCrossEntropyLoss:
      return loss_attrs(node, ctx);
    case OpKind::Pad: {
      allow_only(node, {"mode"}, ctx);
      const std::string mode = get_string(node, "mode", "constant", ctx);
      if (mode == "constant") return PadAttrs{PadMode::constant};
      if (mode == "reflect") return PadAttrs{PadMode::reflect};
      if (mode == "edge") return PadAttrs{PadMode::edge};
      throw UnsupportedError("Pad mode '" + mode + "' is not supported (constant, reflect, edge are)", ctx);
    }
    case OpKind::DepthToSpace:
    case OpKind::SpaceToDepth: {
      const bool d2s = kind == OpKind::DepthToSpace;
      if (d2s) allow_only(node, {"blocksize", "mode"}, ctx);
      else allow_only(node, {"blocksize"}, ctx);
      const std::optional<std::int64_t> b = get_int_opt(node, "blocksize", ctx);
      if (!b) throw ParseError(node.op_type() + " without its required 'blocksize' attribute", ctx);
      const std::string mode = d2s ? get_string(node, "mode", "DCR", ctx) : "DCR";
      if (mode != "DCR" && mode != "CRD") throw ParseError("DepthToSpace mode '" + mode + "' is not DCR or CRD", ctx);
      return BlockAttrs{*b, mode == "CRD"};
    }
    case OpKind::QuantizeLinear:
    case OpKind::DequantizeLinear:
      return axis_attrs(node, 1, ctx);
    case OpKind::Concat: {
      allow_only(node, {"axis"}, ctx);
      const std::optional<std::int64_t> axis = get_int_opt(node, "axis", ctx);
      if (!axis) throw ParseError("Concat without its required 'axis' attribute", ctx);
      return AxisAttrs{*axis};
    }
    case OpKind::ReduceMean:
    case OpKind::ReduceMax:
    case OpKind::ReduceSum:
    case OpKind::ReduceMin:
    case OpKind::ReduceProd:
    case OpKind::ReduceL1:
    case OpKind::ReduceL2:
    case OpKind::ReduceLogSum:
    case OpKind::ReduceLogSumExp:
    case OpKind::ReduceSumSquare:
      return reduce_attrs(node, ctx);
    case OpKind::CumSum: {  // the axis is an input
      allow_only(node, {"exclusive", "reverse"}, ctx);
      return CumSumAttrs{get_int(node, "exclusive", 0, ctx) != 0, get_int(node, "reverse", 0, ctx) != 0};
    }
    case OpKind::Reshape: {
      allow_only(node, {"allowzero"}, ctx);
      return ReshapeAttrs{get_int(node, "allowzero", 0, ctx) != 0};
    }
    case OpKind::Cast: {
      allow_only(node, {"to"}, ctx);
      const std::optional<std::int64_t> to = get_int_opt(node, "to", ctx);
      if (!to) throw ParseError("Cast without its required 'to' attribute", ctx);
      const std::optional<DType> dtype = dtype_from_onnx(static_cast<int>(*to));
      if (!dtype)
        throw UnsupportedError("Cast to " + onnx_dtype_name(static_cast<int>(*to)) + " is not supported", ctx);
      return CastAttrs{*dtype};
    }
    case OpKind::LayerNorm: {
      // stash_type only selects the precision of the mean/variance; the reference computes in f32 anyway.
      allow_only(node, {"axis", "epsilon", "stash_type"}, ctx);
      return LayerNormAttrs{get_int(node, "axis", -1, ctx), get_float(node, "epsilon", 1e-5f, ctx)};
    }
    case OpKind::Trilu: {
      allow_only(node, {"upper"}, ctx);
      return TriluAttrs{get_int(node, "upper", 1, ctx) != 0};
    }
    case OpKind::ConstantOfShape: {
      allow_only(node, {"value"}, ctx);
      const AttributeProto* a = typed_attr(node, "value", AttributeProto::TENSOR, ctx);
      if (!a) return ConstantOfShapeAttrs{};  // ONNX default: f32 zero
      const Tensor t = tensor_from_proto(a->t(), "ConstantOfShape value", source);
      if (t.numel() != 1)
        throw ParseError("ConstantOfShape value has " + std::to_string(t.numel()) + " elements, expected 1", ctx);
      const double v = is_float(t.dtype()) ? static_cast<double>(t.to_f32()[0]) : static_cast<double>(t.to_i64()[0]);
      return ConstantOfShapeAttrs{t.dtype(), v};
    }
    case OpKind::Gelu: {
      allow_only(node, {"approximate"}, ctx);
      const std::string approximate = get_string(node, "approximate", "none", ctx);
      if (approximate != "none" && approximate != "tanh")
        throw UnsupportedError("Gelu approximate='" + approximate + "' is not supported", ctx);
      return GeluAttrs{approximate == "tanh"};
    }
    case OpKind::Shape: {
      allow_only(node, {"start", "end"}, ctx);  // handled by shape_range_from_proto
      return NoAttrs{};
    }
    default: {
      allow_only(node, {}, ctx);
      return NoAttrs{};
    }
  }
}

Tensor constant_from_proto(const onnx::NodeProto& node, const ErrorContext& ctx, const TensorSource& source) {
  if (node.attribute_size() != 1)
    throw ParseError("Constant node needs exactly one value attribute, has " + std::to_string(node.attribute_size()),
                     ctx);
  const AttributeProto& a = node.attribute(0);
  const std::string what = "Constant '" + (node.output_size() > 0 ? node.output(0) : node.name()) + "'";
  if (a.name() == "value") {
    typed_attr(node, "value", AttributeProto::TENSOR, ctx);
    return tensor_from_proto(a.t(), what, source);
  }
  if (a.name() == "value_float") return Tensor::scalar<float>(get_float(node, "value_float", 0.0f, ctx));
  if (a.name() == "value_int") return Tensor::scalar<std::int64_t>(get_int(node, "value_int", 0, ctx));
  if (a.name() == "value_floats") {
    typed_attr(node, "value_floats", AttributeProto::FLOATS, ctx);
    std::vector<float> v(a.floats().begin(), a.floats().end());
    return Tensor::from_vector<float>({static_cast<std::int64_t>(v.size())}, v);
  }
  if (a.name() == "value_ints") {
    std::vector<std::int64_t> v = get_ints(node, "value_ints", ctx);
    return Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(v.size())}, v);
  }
  throw UnsupportedError("Constant attribute '" + a.name() + "' is not supported", ctx);
}

std::optional<ShapeRange> shape_range_from_proto(const onnx::NodeProto& node, const ErrorContext& ctx) {
  const std::optional<std::int64_t> start = get_int_opt(node, "start", ctx);
  const std::optional<std::int64_t> end = get_int_opt(node, "end", ctx);
  if (!start && !end) return std::nullopt;
  return ShapeRange{start.value_or(0), end};
}

}  // namespace snnconv::onnx_import::detail
