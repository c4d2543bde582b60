// Ledger counts of one dense forward pass of a node, from its static shapes. What counts as what is
// documented in docs/architecture.md ("ANN engine"): the numbers are priced by neuromorphic_hw, so the
// rules must be stable and simple rather than cycle-accurate.
#include <algorithm>

#include "plan.hpp"
#include "snnconv/core/stats.hpp"

namespace snnconv::ann {
namespace {

std::uint64_t numel_of(const TensorType& t) {
  if (!t.is_static()) return 0;
  std::uint64_t n = 1;
  for (const Dim& d : t.dims) n *= static_cast<std::uint64_t>(d.value);
  return n;
}

// Storage bytes of a value: a quantized value counts its packed width (int4 weights are half a byte).
std::uint64_t value_bytes(const Value& v) {
  const std::uint64_t n = v.constant ? static_cast<std::uint64_t>(v.constant->numel()) : numel_of(v.type);
  const std::uint64_t bits =
      v.quant ? static_cast<std::uint64_t>(v.quant->bits)
              : static_cast<std::uint64_t>(dtype_size(v.constant ? v.constant->dtype() : v.type.dtype) * 8);
  return (n * bits + 7) / 8;
}

// The operand width of a MAC: the wider of the two operands, each at its quantized width or fp32.
int mac_width(const Graph& g, const Node& n) {
  int width = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(2, n.inputs.size()); ++i) {
    if (!n.inputs[i].valid()) continue;
    const Value& v = g.value(n.inputs[i]);
    width = std::max(width, v.quant ? std::clamp(v.quant->bits, 1, kFloatWidth) : kFloatWidth);
  }
  return width == 0 ? kFloatWidth : width;
}

}  // namespace

Counters node_counts(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  Counters c;
  // Memory traffic: constant inputs are weights, everything else read or written is activations.
  for (ValueId in : n.inputs) {
    if (!in.valid()) continue;
    const Value& v = g.value(in);
    const auto cls = static_cast<std::size_t>(v.constant ? MemClass::weights : MemClass::activations);
    c.bytes_read[cls] += value_bytes(v);
  }
  for (ValueId out : n.outputs)
    c.bytes_written[static_cast<std::size_t>(MemClass::activations)] += value_bytes(g.value(out));

  const std::uint64_t out_n = n.outputs.empty() ? 0 : numel_of(g.value(n.outputs[0]).type);
  const std::uint64_t in_n = n.inputs.empty() || !n.inputs[0].valid() ? 0 : numel_of(g.value(n.inputs[0]).type);
  const std::int64_t macs = node_macs(g, n);
  if (macs > 0) c.macs[static_cast<std::size_t>(mac_width(g, n))] += static_cast<std::uint64_t>(macs);

  const auto live_inputs = static_cast<std::uint64_t>(
      std::count_if(n.inputs.begin(), n.inputs.end(), [](ValueId v) { return v.valid(); }));
  switch (n.kind) {
    // Variadic: one dense op per output element and extra operand (a one-input Max is a copy); Mean divides once.
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Sum: c.dense_ops += (live_inputs - 1) * out_n; break;
    case OpKind::Mean:
      c.dense_ops += (live_inputs - 1) * out_n;
      c.nonlinear_ops += out_n;
      break;
    // Cheap elementwise work: one dense op per output element.
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Clip:
    case OpKind::Abs:
    case OpKind::Sign:
    case OpKind::Floor:
    case OpKind::Ceil:
    case OpKind::Round:
    case OpKind::IsNaN:
    case OpKind::IsInf:
    case OpKind::LeakyRelu:
    case OpKind::ThresholdedRelu:
    case OpKind::PRelu:
    case OpKind::HardSigmoid:
    case OpKind::HardSwish:
    case OpKind::Shrink:
    case OpKind::And:
    case OpKind::Or:
    case OpKind::Xor:
    case OpKind::CastLike:
    case OpKind::Hardmax:
    case OpKind::Neg:
    case OpKind::Relu:
    case OpKind::Equal:
    case OpKind::Less:
    case OpKind::Greater:
    case OpKind::LessOrEqual:
    case OpKind::GreaterOrEqual:
    case OpKind::Where:
    case OpKind::Not:
    case OpKind::Cast:
    case OpKind::FakeQuant:
    case OpKind::QuantizeLinear:
    case OpKind::DequantizeLinear: c.dense_ops += out_n; break;
    // Transcendental or iterative units: one nonlinear op per output element.
    case OpKind::Div:
    case OpKind::Pow:
    case OpKind::Sqrt:
    case OpKind::Exp:
    case OpKind::Erf:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Gelu:
    case OpKind::Reciprocal:
    case OpKind::Log:
    case OpKind::Sin:
    case OpKind::Cos:
    case OpKind::Tan:
    case OpKind::Asin:
    case OpKind::Acos:
    case OpKind::Atan:
    case OpKind::Sinh:
    case OpKind::Cosh:
    case OpKind::Asinh:
    case OpKind::Acosh:
    case OpKind::Atanh:
    case OpKind::Softplus:
    case OpKind::Softsign:
    case OpKind::Elu:
    case OpKind::Selu:
    case OpKind::Celu:
    case OpKind::Mod: c.nonlinear_ops += out_n; break;
    // LogSoftmax: as Softmax, with one logarithm per element in place of the divide.
    case OpKind::LogSoftmax:
      c.dense_ops += 3 * out_n;
      c.nonlinear_ops += 2 * out_n;
      break;
    // Softmax: max, subtract, sum (dense) and exp, divide (nonlinear) per element.
    case OpKind::Softmax:
      c.dense_ops += 3 * out_n;
      c.nonlinear_ops += 2 * out_n;
      break;
    // LayerNorm: sum, subtract, square-accumulate, normalise, scale (+ bias) per element; one
    // reciprocal square root per row.
    case OpKind::LayerNorm: {
      const std::uint64_t per = n.inputs.size() > 2 && n.inputs[2].valid() ? 6 : 5;
      c.dense_ops += per * in_n;
      const auto& at = std::get<LayerNormAttrs>(n.attrs);
      const TensorType& t = g.value(n.inputs[0]).type;
      if (t.is_static() && in_n > 0) {
        const int rank = t.rank();
        const int ax = static_cast<int>(at.axis < 0 ? at.axis + rank : at.axis);
        std::uint64_t cols = 1;
        for (int d = ax; d < rank; ++d) cols *= static_cast<std::uint64_t>(t.dims[static_cast<std::size_t>(d)].value);
        c.nonlinear_ops += cols == 0 ? 0 : in_n / cols;
      }
      break;
    }
    case OpKind::ReduceMean:
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMin:
    case OpKind::ReduceProd:
    case OpKind::ReduceL1:
    case OpKind::ReduceSumSquare:
    case OpKind::ArgMax:
    case OpKind::ArgMin:
    case OpKind::TopK:
    case OpKind::GlobalMaxPool:
    case OpKind::CumSum: c.dense_ops += in_n; break;
    // Reductions finished by a root or a logarithm per output (and an exp per input for LogSumExp).
    case OpKind::ReduceL2:
    case OpKind::ReduceLogSum:
    case OpKind::GlobalAveragePool:
      c.dense_ops += in_n;
      c.nonlinear_ops += out_n;
      break;
    case OpKind::ReduceLogSumExp:
      c.dense_ops += in_n;
      c.nonlinear_ops += in_n + out_n;
      break;
    // Pooling: one dense op per window element of each output (AveragePool: one divide per output).
    case OpKind::MaxPool:
    case OpKind::AveragePool: {
      std::uint64_t window = 1;
      for (std::int64_t k : std::get<PoolAttrs>(n.attrs).kernel_shape) window *= static_cast<std::uint64_t>(k);
      c.dense_ops += window * out_n;
      if (n.kind == OpKind::AveragePool) c.nonlinear_ops += out_n;
      break;
    }
    // (x - mean) / sqrt(var + eps) * scale + B: subtract, multiply, add and a divide per element.
    case OpKind::BatchNormalization:
      c.dense_ops += 3 * in_n;
      c.nonlinear_ops += in_n;
      break;
    // As LayerNorm over each (sample, channel) plane, with a bias: one reciprocal square root per plane.
    case OpKind::InstanceNormalization: {
      c.dense_ops += 6 * in_n;
      const TensorType& t = g.value(n.inputs[0]).type;
      if (t.is_static() && t.rank() >= 2)
        c.nonlinear_ops += static_cast<std::uint64_t>(t.dims[0].value * t.dims[1].value);
      break;
    }
    // Losses: gather and weight per target element; SoftmaxCrossEntropyLoss adds a LogSoftmax of the scores.
    case OpKind::NegativeLogLikelihoodLoss:
    case OpKind::SoftmaxCrossEntropyLoss: {
      const std::uint64_t targets = numel_of(g.value(n.inputs[1]).type);
      c.dense_ops += 2 * targets;
      if (n.kind == OpKind::SoftmaxCrossEntropyLoss) {
        c.dense_ops += 3 * in_n;
        c.nonlinear_ops += 2 * in_n;
      }
      break;
    }
    // Contractions: the bias add and a folded activation on top of the MACs.
    case OpKind::Gemm:
    case OpKind::Conv:
      if (n.inputs.size() > 2 && n.inputs[2].valid()) c.dense_ops += out_n;
      break;
    case OpKind::Linear: {
      if (n.inputs.size() > 2 && n.inputs[2].valid()) c.dense_ops += out_n;
      const Activation act = std::get<LinearAttrs>(n.attrs).activation;
      if (act == Activation::relu) c.dense_ops += out_n;
      else if (act != Activation::none) c.nonlinear_ops += out_n;
      break;
    }
    case OpKind::Attention: {
      // The softmax over the scores [B, H, Nq, Nk], as an unfused Softmax.
      const TensorType& q = g.value(n.inputs[0]).type;
      const TensorType& k = g.value(n.inputs[1]).type;
      if (q.is_static() && k.is_static() && q.rank() == 4 && k.rank() == 4) {
        const auto scores = static_cast<std::uint64_t>(q.dims[0].value * q.dims[1].value * q.dims[2].value *
                                                       k.dims[2].value);
        c.dense_ops += 3 * scores;
        c.nonlinear_ops += 2 * scores;
      }
      break;
    }
    default: break;  // data movement: bytes only
  }
  return c;
}

}  // namespace snnconv::ann
