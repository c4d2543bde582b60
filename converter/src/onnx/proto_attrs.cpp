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

ReduceAttrs reduce_attrs(const onnx::NodeProto& node, bool axes_attribute, const ErrorContext& ctx) {
  ReduceAttrs r;
  if (axes_attribute) {
    allow_only(node, {"axes", "keepdims"}, ctx);
    r.axes = get_ints(node, "axes", ctx);
  } else {  // ReduceSum-13: axes come as an input (folded into the attrs once constant)
    allow_only(node, {"keepdims", "noop_with_empty_axes"}, ctx);
    r.noop_with_empty_axes = get_int(node, "noop_with_empty_axes", 0, ctx) != 0;
  }
  r.keepdims = get_int(node, "keepdims", 1, ctx) != 0;
  return r;
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

Attrs attrs_from_proto(OpKind kind, const onnx::NodeProto& node, const ErrorContext& ctx, const TensorSource& source) {
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
      return SoftmaxAttrs{axis_attrs(node, -1, ctx).axis, false};
    case OpKind::Flatten:
      return axis_attrs(node, 1, ctx);
    case OpKind::Gather:
      return axis_attrs(node, 0, ctx);
    case OpKind::Split:
      return axis_attrs(node, 0, ctx);
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
      return reduce_attrs(node, true, ctx);
    case OpKind::ReduceSum:
      return reduce_attrs(node, false, ctx);
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
