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

constexpr std::array<OpInfo, kOpCount> kTable{{
    {OpKind::Add, "Add", 2, 2, 1, kNo, kElementwise | kPassThrough | kEvery, binary},
    {OpKind::Sub, "Sub", 2, 2, 1, kNo, kElementwise | kPassThrough | kEvery, binary},
    {OpKind::Mul, "Mul", 2, 2, 1, kNo, kElementwise | kBilinear | kEvery, binary},
    {OpKind::Div, "Div", 2, 2, 1, kNo, kElementwise | kNonlinear | kEvery, binary},
    {OpKind::Pow, "Pow", 2, 2, 1, kNo, kElementwise | kNonlinear | kEvery, binary},
    {OpKind::Max, "Max", 2, 2, 1, kNo, kElementwise | kNonlinear | kEvery, binary},
    {OpKind::Min, "Min", 2, 2, 1, kNo, kElementwise | kNonlinear | kEvery, binary},
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
    {OpKind::Clip, "Clip", 1, 3, 1, kNo, kElementwise | kDense, same_as_first},
    {OpKind::MatMul, "MatMul", 2, 2, 1, kNo, kWeightBearing | kBilinear | kDense, matmul},
    {OpKind::Gemm, "Gemm", 2, 3, 1, attr_index<GemmAttrs>, kWeightBearing | kI | kC, gemm},
    {OpKind::Conv, "Conv", 2, 3, 1, attr_index<ConvAttrs>, kWeightBearing | kEvery, conv},  // spiking: dense prologue
    {OpKind::Softmax, "Softmax", 1, 2, 1, attr_index<SoftmaxAttrs>, kWholeVector | kDense, same_as_first},
    {OpKind::LayerNorm, "LayerNormalization", 2, 3, 1, attr_index<LayerNormAttrs>, kWholeVector | kDense, same_as_first},
    {OpKind::ReduceMean, "ReduceMean", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceSum, "ReduceSum", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    {OpKind::ReduceMax, "ReduceMax", 1, 2, 1, attr_index<ReduceAttrs>, kWholeVector | kDense, reduce},
    // CumSum's axis is its second input (a scalar constant).
    {OpKind::CumSum, "CumSum", 2, 2, 1, attr_index<CumSumAttrs>, kWholeVector | kDense, same_as_first},
    {OpKind::Transpose, "Transpose", 1, 1, 1, attr_index<TransposeAttrs>, kPassThrough | kEvery, transpose},
    {OpKind::Reshape, "Reshape", 2, 2, 1, attr_index<ReshapeAttrs>, kPassThrough | kEvery, reshape},
    {OpKind::Flatten, "Flatten", 1, 1, 1, kAxis, kPassThrough | kEvery, flatten},
    {OpKind::Concat, "Concat", 1, 64, 1, kAxis, kPassThrough | kEvery, concat},
    {OpKind::Split, "Split", 1, 2, -1, kAxis, kPassThrough | kEvery, split},
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
    {OpKind::Linear, "Linear", 2, 3, 1, attr_index<LinearAttrs>, kWeightBearing | kC | kQ | kS, linear},  // spiking: dense prologue
    {OpKind::Attention, "Attention", 3, 4, 1, attr_index<AttentionAttrs>, kBilinear | kWholeVector | kC | kQ,
     attention},
    {OpKind::RMSNorm, "RMSNorm", 2, 2, 1, attr_index<LayerNormAttrs>, kWholeVector | kC | kQ, same_as_first},
    {OpKind::Rotary, "Rotary", 3, 3, 1, kNo, kC | kQ, same_as_first},
    {OpKind::FakeQuant, "FakeQuant", 1, 1, 1, kNo, kQuantPoint | kElementwise | kC | kQ, same_as_first},  // canonical: a QDQ file's points
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
    if (static_cast<std::size_t>(kTable[i].kind) != i || kTable[i].name.empty())
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
