// The op table. The static_asserts tie it to the OpKind enum: one entry per kind, in enum order.
#include <array>
#include <type_traits>
#include <variant>

#include "shape_fns.hpp"
#include "snnconv/core/attrs.hpp"
#include "snnconv/core/op.hpp"

namespace snnconv {
namespace {

template <typename T, typename V> struct variant_index;
template <typename T, typename... Ts> struct variant_index<T, std::variant<Ts...>> {
  static constexpr std::uint8_t find() {
    constexpr bool matches[] = {std::is_same_v<T, Ts>...};
    for (std::uint8_t i = 0; i < sizeof...(Ts); ++i)
      if (matches[i]) return i;
    return 255;
  }
  static constexpr std::uint8_t value = find();
  static_assert(value != 255, "type is not an Attrs alternative");
};
template <typename T> constexpr std::uint8_t attr_index = variant_index<T, Attrs>::value;

constexpr std::uint32_t kI = kStageImported, kC = kStageCanonical, kQ = kStageQuantized, kS = kStageSpiking;
constexpr std::uint32_t kDense = kI | kC | kQ;
constexpr std::uint32_t kEvery = kI | kC | kQ | kS;

using namespace shape_fns;
constexpr std::uint8_t kNo = attr_index<NoAttrs>;
constexpr std::uint8_t kAxis = attr_index<AxisAttrs>;
constexpr std::uint8_t kParams = attr_index<ScalarParamsAttrs>;

constexpr std::array<OpInfo, kOpCount> kTable{{
    {OpKind::Add, "Add", 2, 2, 1, kNo, kElementwise | kPassThrough | kEvery, binary},
    {OpKind::Sub, "Sub", 2, 2, 1, kNo, kElementwise | kPassThrough | kEvery, binary},
    {OpKind::Mul, "Mul", 2, 2, 1, kNo, kElementwise | kBilinear | kEvery, binary},
    {OpKind::Div, "Div", 2, 2, 1, kNo, kElementwise | kNonlinear | kEvery, binary},
    {OpKind::Pow, "Pow", 2, 2, 1, kNo, kElementwise | kNonlinear | kEvery, binary},
    // Max and Min are variadic in ONNX (one input is a copy).
    {OpKind::Max, "Max", 1, 64, 1, kNo, kElementwise | kNonlinear | kEvery, variadic},
    {OpKind::Min, "Min", 1, 64, 1, kNo, kElementwise | kNonlinear | kEvery, variadic},
    {OpKind::Equal, "Equal", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, comparison},
    {OpKind::Less, "Less", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, comparison},
    {OpKind::Greater, "Greater", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, comparison},
    {OpKind::LessOrEqual, "LessOrEqual", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, comparison},
    {OpKind::GreaterOrEqual, "GreaterOrEqual", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, comparison},
    {OpKind::Where, "Where", 3, 3, 1, kNo, kElementwise | kEvery, where},
    {OpKind::Neg, "Neg", 1, 1, 1, kNo, kElementwise | kPassThrough | kEvery, unary},
    {OpKind::Sqrt, "Sqrt", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Exp, "Exp", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Erf, "Erf", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Tanh, "Tanh", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Relu, "Relu", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Sigmoid, "Sigmoid", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Gelu, "Gelu", 1, 1, 1, attr_index<GeluAttrs>, kElementwise | kNonlinear | kC | kQ | kS, unary},
    {OpKind::Not, "Not", 1, 1, 1, kNo, kElementwise | kEvery, logical_not},
    {OpKind::Cast, "Cast", 1, 1, 1, attr_index<CastAttrs>, kElementwise | kEvery, cast},
    {OpKind::MatMul, "MatMul", 2, 2, 1, kNo, kWeightBearing | kBilinear | kDense, matmul},
    {OpKind::Gemm, "Gemm", 2, 3, 1, attr_index<GemmAttrs>, kWeightBearing | kI | kC, gemm},
    {OpKind::Conv, "Conv", 2, 3, 1, attr_index<ConvAttrs>, kWeightBearing | kEvery, conv},  // spiking: dense prologue
    {OpKind::Softmax, "Softmax", 1, 1, 1, attr_index<SoftmaxAttrs>, kWholeVector | kDense, same_as_first},
    // Outputs Y and the optional Mean, InvStdDev (the statistics of each normalised row, f32).
    {OpKind::LayerNorm, "LayerNormalization", 2, 3, 3, attr_index<LayerNormAttrs>, kWholeVector | kDense, layer_norm, 1},
    {OpKind::ReduceMean, "ReduceMean", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceSum, "ReduceSum", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceMax, "ReduceMax", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    // CumSum's axis is its second input (a scalar constant).
    {OpKind::CumSum, "CumSum", 2, 2, 1, attr_index<CumSumAttrs>, kWholeVector | kDense, same_as_first},
    {OpKind::Transpose, "Transpose", 1, 1, 1, attr_index<TransposeAttrs>, kPassThrough | kEvery, transpose},
    {OpKind::Reshape, "Reshape", 2, 2, 1, attr_index<ReshapeAttrs>, kPassThrough | kEvery, reshape},
    {OpKind::Flatten, "Flatten", 1, 1, 1, kAxis, kPassThrough | kEvery, flatten},
    {OpKind::Concat, "Concat", 1, 64, 1, kAxis, kPassThrough | kEvery, concat},
    {OpKind::Split, "Split", 1, 2, -1, attr_index<SplitAttrs>, kPassThrough | kEvery, split},
    {OpKind::Slice, "Slice", 3, 5, 1, kNo, kPassThrough | kEvery, slice},
    {OpKind::Gather, "Gather", 2, 2, 1, kAxis, kPassThrough | kEvery, gather},
    {OpKind::Unsqueeze, "Unsqueeze", 2, 2, 1, kNo, kPassThrough | kEvery, unsqueeze},
    {OpKind::Squeeze, "Squeeze", 1, 2, 1, kNo, kPassThrough | kEvery, squeeze},
    {OpKind::Expand, "Expand", 2, 2, 1, kNo, kPassThrough | kEvery, expand},
    {OpKind::Trilu, "Trilu", 1, 2, 1, attr_index<TriluAttrs>, kDense, same_as_first},
    {OpKind::Identity, "Identity", 1, 1, 1, kNo, kPassThrough | kI, same_as_first},
    {OpKind::Shape, "Shape", 1, 1, 1, kNo, kShapeOnly | kI, shape},
    {OpKind::ConstantOfShape, "ConstantOfShape", 1, 1, 1, attr_index<ConstantOfShapeAttrs>, kShapeOnly | kI,
     constant_of_shape},
    {OpKind::Range, "Range", 3, 3, 1, kNo, kShapeOnly | kI, range},
    {OpKind::QuantizeLinear, "QuantizeLinear", 2, 3, 1, kAxis, kQuantPoint | kI | kC, quantize_linear},
    {OpKind::DequantizeLinear, "DequantizeLinear", 2, 3, 1, kAxis, kI | kC, dequantize_linear},
    {OpKind::Sum, "Sum", 1, 64, 1, kNo, kElementwise | kPassThrough | kEvery, variadic},
    {OpKind::Mean, "Mean", 1, 64, 1, kNo, kElementwise | kEvery, variadic},
    // Clip's min and max are optional scalar inputs (absent: unbounded on that side).
    {OpKind::Clip, "Clip", 1, 3, 1, kNo, kElementwise | kNonlinear | kEvery, clip},
    {OpKind::Abs, "Abs", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Reciprocal, "Reciprocal", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Floor, "Floor", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Ceil, "Ceil", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Round, "Round", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Sign, "Sign", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Log, "Log", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Sin, "Sin", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Cos, "Cos", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Tan, "Tan", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Asin, "Asin", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Acos, "Acos", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Atan, "Atan", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Sinh, "Sinh", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Cosh, "Cosh", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Asinh, "Asinh", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Acosh, "Acosh", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Atanh, "Atanh", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Softplus, "Softplus", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Softsign, "Softsign", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::IsNaN, "IsNaN", 1, 1, 1, kNo, kElementwise | kComparison | kEvery, to_bool},
    {OpKind::IsInf, "IsInf", 1, 1, 1, kParams, kElementwise | kComparison | kEvery, to_bool},
    {OpKind::Elu, "Elu", 1, 1, 1, kParams, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Selu, "Selu", 1, 1, 1, kParams, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Celu, "Celu", 1, 1, 1, kParams, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::LeakyRelu, "LeakyRelu", 1, 1, 1, kParams, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::ThresholdedRelu, "ThresholdedRelu", 1, 1, 1, kParams, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::HardSigmoid, "HardSigmoid", 1, 1, 1, kParams, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::HardSwish, "HardSwish", 1, 1, 1, kNo, kElementwise | kNonlinear | kEvery, unary},
    {OpKind::Shrink, "Shrink", 1, 1, 1, kParams, kElementwise | kNonlinear | kEvery, unary},
    // PRelu's slope broadcasts to X (unidirectionally): the output has X's shape.
    {OpKind::PRelu, "PRelu", 2, 2, 1, kNo, kElementwise | kNonlinear | kEvery, prelu},
    {OpKind::And, "And", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, logical_binary},
    {OpKind::Or, "Or", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, logical_binary},
    {OpKind::Xor, "Xor", 2, 2, 1, kNo, kElementwise | kComparison | kEvery, logical_binary},
    {OpKind::Mod, "Mod", 2, 2, 1, kParams, kElementwise | kNonlinear | kEvery, binary},  // alpha: fmod
    {OpKind::ReduceMin, "ReduceMin", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceProd, "ReduceProd", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceL1, "ReduceL1", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceL2, "ReduceL2", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceLogSum, "ReduceLogSum", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceLogSumExp, "ReduceLogSumExp", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceSumSquare, "ReduceSumSquare", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ArgMax, "ArgMax", 1, 1, 1, attr_index<ArgReduceAttrs>, kWholeVector | kDense, arg_reduce},
    {OpKind::ArgMin, "ArgMin", 1, 1, 1, attr_index<ArgReduceAttrs>, kWholeVector | kDense, arg_reduce},
    // TopK: K is the second input (a 1-element int64 tensor); outputs Values and Indices (int64).
    {OpKind::TopK, "TopK", 2, 2, 2, attr_index<TopKAttrs>, kWholeVector | kDense, top_k, 2},
    {OpKind::LogSoftmax, "LogSoftmax", 1, 1, 1, kAxis, kWholeVector | kDense, same_as_first},
    {OpKind::Hardmax, "Hardmax", 1, 1, 1, kAxis, kWholeVector | kDense, same_as_first},
    // Inference form: X, scale, B, input_mean, input_var; one output.
    {OpKind::BatchNormalization, "BatchNormalization", 5, 5, 1, attr_index<EpsilonAttrs>, kWholeVector | kDense,
     batch_norm},
    {OpKind::InstanceNormalization, "InstanceNormalization", 3, 3, 1, attr_index<EpsilonAttrs>,
     kWholeVector | kDense, instance_norm},
    // MaxPool's optional second output: the flat input index of each maximum (int64).
    {OpKind::MaxPool, "MaxPool", 1, 1, 2, attr_index<PoolAttrs>, kWholeVector | kDense, pool, 1},
    {OpKind::AveragePool, "AveragePool", 1, 1, 1, attr_index<PoolAttrs>, kWholeVector | kDense, pool},
    {OpKind::GlobalMaxPool, "GlobalMaxPool", 1, 1, 1, kNo, kWholeVector | kDense, global_pool},
    {OpKind::GlobalAveragePool, "GlobalAveragePool", 1, 1, 1, kNo, kWholeVector | kDense, global_pool},
    {OpKind::NegativeLogLikelihoodLoss, "NegativeLogLikelihoodLoss", 2, 3, 1, attr_index<LossAttrs>,
     kWholeVector | kDense, nll_loss},
    // Optional second output: the log-probabilities.
    {OpKind::SoftmaxCrossEntropyLoss, "SoftmaxCrossEntropyLoss", 2, 3, 2, attr_index<LossAttrs>,
     kWholeVector | kDense, softmax_cross_entropy, 1},
    {OpKind::GatherElements, "GatherElements", 2, 2, 1, kAxis, kPassThrough | kDense, gather_elements},
    {OpKind::GatherND, "GatherND", 2, 2, 1, kAxis, kPassThrough | kDense, gather_nd},  // axis: batch_dims
    // Tile's repeats and Pad's pads (and constant value, axes) are inputs.
    {OpKind::Tile, "Tile", 2, 2, 1, kNo, kPassThrough | kDense, tile},
    {OpKind::Pad, "Pad", 2, 4, 1, attr_index<PadAttrs>, kDense, pad},
    {OpKind::DepthToSpace, "DepthToSpace", 1, 1, 1, attr_index<BlockAttrs>, kPassThrough | kDense, depth_to_space},
    {OpKind::SpaceToDepth, "SpaceToDepth", 1, 1, 1, attr_index<BlockAttrs>, kPassThrough | kDense, space_to_depth},
    {OpKind::OneHot, "OneHot", 3, 3, 1, kAxis, kDense, one_hot},
    {OpKind::CastLike, "CastLike", 2, 2, 1, kNo, kElementwise | kDense, cast_like},
    {OpKind::Size, "Size", 1, 1, 1, kNo, kShapeOnly | kI, size},
    {OpKind::Linear, "Linear", 2, 3, 1, attr_index<LinearAttrs>, kWeightBearing | kC | kQ, linear},
    {OpKind::Attention, "Attention", 3, 4, 1, attr_index<AttentionAttrs>, kBilinear | kWholeVector | kC | kQ,
     attention},
    {OpKind::FakeQuant, "FakeQuant", 1, 1, 1, kNo, kQuantPoint | kElementwise | kQ, same_as_first},
    {OpKind::SpikeNeuron, "SpikeNeuron", 1, 1, 1, attr_index<NeuronAttrs>,
     kSpiking | kStateful | kQuantPoint | kElementwise | kS, same_as_first},
    {OpKind::SynapseLinear, "SynapseLinear", 2, 3, 1, kNo, kSpiking | kWeightBearing | kS, linear},
    {OpKind::SynapseConv, "SynapseConv", 2, 3, 1, attr_index<ConvAttrs>, kSpiking | kWeightBearing | kS, conv},
    {OpKind::SpikeMatMul, "SpikeMatMul", 2, 2, 1, kNo, kSpiking | kStateful | kBilinear | kS, matmul},
    {OpKind::DiffUnit, "DiffUnit", 1, 3, 1, attr_index<DiffUnitAttrs>, kSpiking | kStateful | kWholeVector | kS,
     same_as_first},
}};

constexpr bool table_matches_enum() {
  for (std::size_t i = 0; i < kTable.size(); ++i)
    if (static_cast<std::size_t>(kTable[i].kind) != i || kTable[i].name.empty() ||
        (kTable[i].num_outputs >= 0 && (kTable[i].min_outputs < 1 || kTable[i].min_outputs > kTable[i].num_outputs)))
      return false;
  return true;
}
static_assert(kTable.size() == kOpCount, "one op table entry per OpKind");
static_assert(table_matches_enum(), "op table entries must follow the OpKind enum order");

}  // namespace

const OpInfo& op_info(OpKind kind) { return kTable.at(static_cast<std::size_t>(kind)); }

std::optional<OpKind> op_from_name(std::string_view name) {
  for (const auto& e : kTable)
    if (e.name == name) return e.kind;
  return std::nullopt;
}

bool op_legal_at(OpKind kind, Stage stage) {
  const std::uint32_t f = op_info(kind).flags;
  switch (stage) {
    case Stage::imported: return (f & kStageImported) != 0;
    case Stage::canonical: return (f & kStageCanonical) != 0;
    case Stage::quantized: return (f & kStageQuantized) != 0;
    case Stage::spiking: return (f & kStageSpiking) != 0;
  }
  return false;
}

std::string_view stage_name(Stage s) {
  switch (s) {
    case Stage::imported: return "imported";
    case Stage::canonical: return "canonical";
    case Stage::quantized: return "quantized";
    case Stage::spiking: return "spiking";
  }
  return "?";
}

}  // namespace snnconv
