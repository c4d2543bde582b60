// The op table: one constexpr entry per OpKind with its name, arity, properties and shape inference.
// Passes ask properties (has_flag), never lists of names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace snnconv {

enum class OpKind : std::uint16_t {
  // Elementwise, binary with numpy broadcasting.
  Add, Sub, Mul, Div, Pow, Max, Min, Equal, Less, Greater, LessOrEqual, GreaterOrEqual, Where,
  // Elementwise, unary.
  Neg, Sqrt, Exp, Erf, Tanh, Relu, Sigmoid, Gelu, Not, Cast,
  // Weight-bearing / contractions.
  MatMul, Gemm, Conv,
  // Whole-vector.
  Softmax, LayerNorm, ReduceMean, ReduceSum, ReduceMax, CumSum,
  // Data movement.
  Transpose, Reshape, Flatten, Concat, Split, Slice, Gather, Unsqueeze, Squeeze, Expand, Trilu, Identity,
  // Shape-only (folded at import).
  Shape, ConstantOfShape, Range,
  // Quantization (imported QDQ).
  QuantizeLinear, DequantizeLinear,
  // ONNX ops added for broader import coverage (docs/onnx-import.md). Appended after the first ONNX ops so
  // that those keep their numbers. Variadic elementwise (numpy broadcasting over every input):
  Sum, Mean,
  // Elementwise, unary (Clip: bounds as optional inputs; HardSwish: x * HardSigmoid(x; 1/6, 1/2)).
  Clip, Abs, Reciprocal, Floor, Ceil, Round, Sign, Log, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh,
  Atanh, Softplus, Softsign, IsNaN, IsInf, Elu, Selu, Celu, LeakyRelu, ThresholdedRelu, HardSigmoid, HardSwish,
  Shrink,
  // Elementwise, binary.
  PRelu, And, Or, Xor, Mod,
  // Whole-vector: reductions, index selection, normalisations.
  ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare, ArgMax, ArgMin, TopK,
  LogSoftmax, Hardmax, BatchNormalization, InstanceNormalization,
  // Pooling over the spatial dims of [N, C, D1, ...].
  MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool,
  // Losses (what training graphs and ONNX's test suite contain).
  NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss,
  // Data movement and indexing.
  GatherElements, GatherND, Tile, Pad, DepthToSpace, SpaceToDepth, OneHot, CastLike,
  // Shape-only.
  Size,
  // Canonical fused ops.
  Linear, Attention,
  // QANN quantization point: y = scale * clamp(floor(x / scale + 1/2), n_min, n_max) (value's QuantParams).
  FakeQuant,
  // Spiking ops (SNN stage).
  SpikeNeuron, SynapseLinear, SynapseConv, SpikeMatMul, DiffUnit,
  Count
};

inline constexpr std::size_t kOpCount = static_cast<std::size_t>(OpKind::Count);

// Property flags.
enum OpFlag : std::uint32_t {
  kElementwise = 1u << 0,    // output[i] depends only on input[i] (after broadcasting)
  kPassThrough = 1u << 1,    // linear data movement / addition: spike events pass through unchanged
  kWeightBearing = 1u << 2,  // linear in its first input given a constant weight (MatMul, Gemm, Conv, Linear)
  kBilinear = 1u << 3,       // product of two operands (MatMul of two activations, Mul)
  kWholeVector = 1u << 4,    // output element depends on a whole vector of inputs (LayerNorm, Softmax)
  kNonlinear = 1u << 5,      // elementwise nonlinearity
  kShapeOnly = 1u << 6,      // result depends only on shapes / constants; must be folded before canonical
  kQuantPoint = 1u << 7,     // quantizes its input (FakeQuant, QuantizeLinear)
  kSpiking = 1u << 8,        // exists only in the SNN stage
  kStateful = 1u << 9,       // keeps state across timesteps
  kComparison = 1u << 10,    // bool output
  // Stages at which the op is legal.
  kStageImported = 1u << 16,
  kStageCanonical = 1u << 17,
  kStageQuantized = 1u << 18,
  kStageSpiking = 1u << 19,
};

enum class Stage : std::uint8_t { imported, canonical, quantized, spiking };
std::string_view stage_name(Stage s);

class InferContext;
using ShapeFn = void (*)(InferContext&);

struct OpInfo {
  OpKind kind;
  std::string_view name;     // ONNX op_type where one exists
  std::int8_t min_inputs;
  std::int8_t max_inputs;    // optional inputs may be absent (invalid ValueId)
  std::int8_t num_outputs;   // the most outputs; -1: any number (Split)
  std::uint8_t attrs_index;  // index of the expected alternative in Attrs
  std::uint32_t flags;
  ShapeFn infer;
  // The fewest outputs: below num_outputs, the trailing outputs are optional (LayerNormalization's Mean and
  // InvStdDev, MaxPool's Indices, Dropout's mask). The importer drops optional outputs nothing reads.
  std::int8_t min_outputs = 1;
};

const OpInfo& op_info(OpKind kind);
inline std::string_view op_name(OpKind kind) { return op_info(kind).name; }
inline bool has_flag(OpKind kind, OpFlag f) { return (op_info(kind).flags & f) != 0; }
// The OpKind whose table name is `name` (the ONNX op_type for imported ops).
std::optional<OpKind> op_from_name(std::string_view name);
bool op_legal_at(OpKind kind, Stage stage);

}  // namespace snnconv
