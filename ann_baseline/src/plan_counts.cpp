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

  switch (n.kind) {
    // Cheap elementwise work: one dense op per output element.
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Max:
    case OpKind::Min:
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
    case OpKind::Clip:
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
    case OpKind::Gelu: c.nonlinear_ops += out_n; break;
    // Softmax: max, subtract, sum (dense) and exp, divide (nonlinear) per element.
    case OpKind::Softmax:
      c.dense_ops += 3 * out_n;
      c.nonlinear_ops += 2 * out_n;
      break;
    // LayerNorm: sum, subtract, square-accumulate, normalise, scale (+ bias) per element; one
    // reciprocal square root per row.
    // RMSNorm: square-accumulate, normalise, scale per element and one reciprocal square root per row;
    // Rotary: two multiplies and an add per element.
    case OpKind::RMSNorm: {
      c.dense_ops += 3 * in_n;
      const TensorType& t = g.value(n.inputs[0]).type;
      if (t.is_static() && in_n > 0 && t.rank() > 0 && t.dims.back().value > 0)
        c.nonlinear_ops += in_n / static_cast<std::uint64_t>(t.dims.back().value);
      break;
    }
    case OpKind::Rotary: c.dense_ops += 3 * out_n; break;
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
    case OpKind::CumSum: c.dense_ops += in_n; break;
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
