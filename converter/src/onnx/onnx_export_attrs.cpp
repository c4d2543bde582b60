// ONNX attributes of the ops added for broader import coverage (the inverse of proto_attrs.cpp), at the
// exporter's opset 17.
#include "onnx/onnx_export_impl.hpp"

namespace snnconv::onnx_export::detail {

void Exporter::attr_string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind kind, const ScalarParamsAttrs& a) {
  switch (kind) {
    case OpKind::Selu: attr_float(p, "alpha", a.alpha), attr_float(p, "gamma", a.beta); break;
    case OpKind::HardSigmoid: attr_float(p, "alpha", a.alpha), attr_float(p, "beta", a.beta); break;
    case OpKind::Shrink: attr_float(p, "lambd", a.alpha), attr_float(p, "bias", a.beta); break;
    case OpKind::IsInf:
      attr_int(p, "detect_negative", a.alpha != 0.0f ? 1 : 0), attr_int(p, "detect_positive", a.beta != 0.0f ? 1 : 0);
      break;
    case OpKind::Mod: attr_int(p, "fmod", a.alpha != 0.0f ? 1 : 0); break;
    default: attr_float(p, "alpha", a.alpha); break;  // Elu, Celu, LeakyRelu, ThresholdedRelu
  }
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const ArgReduceAttrs& a) {
  attr_int(p, "axis", a.axis);
  attr_int(p, "keepdims", a.keepdims ? 1 : 0);
  if (a.select_last_index) attr_int(p, "select_last_index", 1);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const TopKAttrs& a) {
  attr_int(p, "axis", a.axis);
  attr_int(p, "largest", a.largest ? 1 : 0);
  attr_int(p, "sorted", a.sorted ? 1 : 0);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind kind, const PoolAttrs& a) {
  static constexpr const char* kAutoPad[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
  attr_ints(p, "kernel_shape", a.kernel_shape);
  if (!a.strides.empty()) attr_ints(p, "strides", a.strides);
  if (!a.pads.empty() && a.auto_pad == AutoPad::notset) attr_ints(p, "pads", a.pads);
  if (a.auto_pad != AutoPad::notset) attr_string(p, "auto_pad", kAutoPad[static_cast<int>(a.auto_pad)]);
  if (a.ceil_mode) attr_int(p, "ceil_mode", 1);
  if (kind == OpKind::MaxPool) {
    if (!a.dilations.empty()) attr_ints(p, "dilations", a.dilations);
    if (a.column_major_indices) attr_int(p, "storage_order", 1);
  } else if (a.count_include_pad) {
    attr_int(p, "count_include_pad", 1);
  }
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const LossAttrs& a) {
  static constexpr const char* kReduction[] = {"none", "sum", "mean"};
  attr_string(p, "reduction", kReduction[static_cast<int>(a.reduction)]);
  if (a.has_ignore_index) attr_int(p, "ignore_index", a.ignore_index);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const EpsilonAttrs& a) { attr_float(p, "epsilon", a.epsilon); }

void Exporter::attrs(onnx::NodeProto* p, OpKind, const PadAttrs& a) {
  static constexpr const char* kMode[] = {"constant", "reflect", "edge"};
  attr_string(p, "mode", kMode[static_cast<int>(a.mode)]);
}

void Exporter::attrs(onnx::NodeProto* p, OpKind kind, const BlockAttrs& a) {
  attr_int(p, "blocksize", a.blocksize);
  if (kind == OpKind::DepthToSpace) attr_string(p, "mode", a.crd ? "CRD" : "DCR");
}

void Exporter::attrs(onnx::NodeProto* p, OpKind, const SplitAttrs& a) { attr_int(p, "axis", a.axis); }

}  // namespace snnconv::onnx_export::detail
