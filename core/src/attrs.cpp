#include "snnconv/core/attrs.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace snnconv {

std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::gelu: return "gelu";
    case Activation::gelu_tanh: return "gelu_tanh";
    case Activation::tanh: return "tanh";
    case Activation::silu: return "silu";
  }
  return "?";
}

namespace {
struct AttrPrinter {
  std::string operator()(const NoAttrs&) const { return {}; }
  std::string operator()(const AxisAttrs& a) const { return fmt::format("axis={}", a.axis); }
  std::string operator()(const SoftmaxAttrs& a) const {
    return a.causal ? fmt::format("axis={} causal=1", a.axis) : fmt::format("axis={}", a.axis);
  }
  std::string operator()(const GemmAttrs& a) const {
    return fmt::format("alpha={} beta={} trans_a={} trans_b={}", a.alpha, a.beta, int(a.trans_a), int(a.trans_b));
  }
  std::string operator()(const ConvAttrs& a) const {
    return fmt::format("kernel={} strides={} pads={} dilations={} group={}", a.kernel_shape, a.strides, a.pads,
                       a.dilations, a.group);
  }
  std::string operator()(const TransposeAttrs& a) const { return fmt::format("perm={}", a.perm); }
  std::string operator()(const ReduceAttrs& a) const {
    return fmt::format("axes={} keepdims={}{}", a.axes, int(a.keepdims), a.noop_with_empty_axes ? " noop_empty=1" : "");
  }
  std::string operator()(const CumSumAttrs& a) const {
    return fmt::format("exclusive={} reverse={}", int(a.exclusive), int(a.reverse));
  }
  std::string operator()(const ReshapeAttrs& a) const { return a.allowzero ? "allowzero=1" : ""; }
  std::string operator()(const CastAttrs& a) const { return fmt::format("to={}", dtype_name(a.to)); }
  std::string operator()(const LayerNormAttrs& a) const { return fmt::format("axis={} epsilon={}", a.axis, a.epsilon); }
  std::string operator()(const TriluAttrs& a) const { return fmt::format("upper={}", int(a.upper)); }
  std::string operator()(const ConstantOfShapeAttrs& a) const {
    return fmt::format("value={}:{}", a.value, dtype_name(a.dtype));
  }
  std::string operator()(const GeluAttrs& a) const { return a.tanh_approximation ? "approximate=tanh" : ""; }
  std::string operator()(const LinearAttrs& a) const {
    return a.activation == Activation::none ? "" : fmt::format("activation={}", activation_name(a.activation));
  }
  std::string operator()(const AttentionAttrs& a) const {
    std::string s = fmt::format("scale={} causal={}", a.scale, int(a.causal));
    // A step inside the attention: the step, the zero point when there is one, and the level range.
    auto step = [&](const char* what, const std::optional<QuantParams>& q) {
      if (!q || q->scale.empty()) return;
      s += fmt::format(" {}_step={} [{},{}]", what, q->scale[0], q->n_min, q->n_max);
      if (!q->zero_point.empty() && q->zero_point[0] != 0) s += fmt::format(" {}_zp={}", what, q->zero_point[0]);
    };
    step("scores", a.scores_quant);
    step("probs", a.probs_quant);
    return s;
  }
  std::string operator()(const NeuronAttrs& a) const {
    return a.target == Activation::none ? "" : fmt::format("target={}", activation_name(a.target));
  }
  std::string operator()(const ScalarParamsAttrs& a) const { return fmt::format("alpha={} beta={}", a.alpha, a.beta); }
  std::string operator()(const ArgReduceAttrs& a) const {
    return fmt::format("axis={} keepdims={}{}", a.axis, int(a.keepdims), a.select_last_index ? " last=1" : "");
  }
  std::string operator()(const TopKAttrs& a) const {
    return fmt::format("axis={} largest={} sorted={}", a.axis, int(a.largest), int(a.sorted));
  }
  std::string operator()(const PoolAttrs& a) const {
    static constexpr const char* kAutoPad[] = {"notset", "same_upper", "same_lower", "valid"};
    return fmt::format("kernel={} strides={} pads={} dilations={} auto_pad={} ceil={} include_pad={}{}",
                       a.kernel_shape, a.strides, a.pads, a.dilations, kAutoPad[static_cast<int>(a.auto_pad)],
                       int(a.ceil_mode), int(a.count_include_pad), a.column_major_indices ? " storage_order=1" : "");
  }
  std::string operator()(const LossAttrs& a) const {
    static constexpr const char* kReduction[] = {"none", "sum", "mean"};
    const char* r = kReduction[static_cast<int>(a.reduction)];
    return a.has_ignore_index ? fmt::format("reduction={} ignore_index={}", r, a.ignore_index)
                              : fmt::format("reduction={}", r);
  }
  std::string operator()(const EpsilonAttrs& a) const { return fmt::format("epsilon={}", a.epsilon); }
  std::string operator()(const PadAttrs& a) const {
    static constexpr const char* kMode[] = {"constant", "reflect", "edge"};
    return fmt::format("mode={}", kMode[static_cast<int>(a.mode)]);
  }
  std::string operator()(const BlockAttrs& a) const {
    return fmt::format("blocksize={} mode={}", a.blocksize, a.crd ? "CRD" : "DCR");
  }
  std::string operator()(const SplitAttrs& a) const {
    return a.ceil_parts ? fmt::format("axis={} ceil_parts=1", a.axis) : fmt::format("axis={}", a.axis);
  }
  std::string operator()(const DiffUnitAttrs& a) const {
    return fmt::format("fn={} axis={} epsilon={}", a.fn == DiffUnitAttrs::Fn::layer_norm ? "layer_norm"
                       : a.fn == DiffUnitAttrs::Fn::softmax  ? "softmax"
                       : a.fn == DiffUnitAttrs::Fn::rms_norm ? "rms_norm"
                                                             : "rotary",
                       a.axis, a.epsilon);
  }
};
}  // namespace

std::string attrs_to_string(const Attrs& a) { return std::visit(AttrPrinter{}, a); }

}  // namespace snnconv
