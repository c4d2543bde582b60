// Dispatch of the reference kernels, and the helpers they share (reference_detail.hpp).
#include "snnconv/ann_baseline/reference.hpp"

#include <algorithm>

#include "reference_detail.hpp"

namespace snnconv::ann {
namespace detail {

const Tensor& NodeCall::input(std::size_t i, const char* what) const {
  const Tensor* t = optional_input(i);
  if (t == nullptr) fail_shape(std::string("missing required input ") + std::to_string(i) + " (" + what + ")");
  return *t;
}

void NodeCall::fail_shape(const std::string& message) const { throw ShapeError(message, graph_.context(id_)); }
void NodeCall::fail_unsupported(const std::string& message) const {
  throw UnsupportedError(message, graph_.context(id_));
}
void NodeCall::fail_numeric(const std::string& message) const { throw NumericError(message, graph_.context(id_)); }
void NodeCall::fail_graph(const std::string& message) const { throw GraphError(message, graph_.context(id_)); }

int NodeCall::axis(std::int64_t a, int rank, const char* what) const {
  if (a < -rank || a >= rank)
    fail_shape(std::string(what) + " " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
  return static_cast<int>(a < 0 ? a + rank : a);
}

std::vector<std::int64_t> NodeCall::int_values(const Tensor& t, const char* what) const {
  if (!is_integer(t.dtype()))
    fail_shape(std::string(what) + " must be an integer tensor, got " + std::string(dtype_name(t.dtype())));
  return t.to_i64();
}

std::vector<std::int64_t> strides_of(const Shape& s) {
  std::vector<std::int64_t> st(s.size(), 1);
  for (std::size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

Shape broadcast_shapes(const NodeCall& c, const std::vector<Shape>& shapes) {
  std::size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    const std::size_t lead = rank - s.size();
    for (std::size_t i = 0; i < s.size(); ++i) {
      std::int64_t& o = out[lead + i];
      if (s[i] == o || s[i] == 1) continue;
      if (o == 1) {
        o = s[i];
        continue;
      }
      std::string list;
      for (const Shape& t : shapes) list += (list.empty() ? "" : " ") + shape_to_string(t);
      c.fail_shape("shapes do not broadcast: " + list);
    }
  }
  return out;
}

BroadcastWalker::BroadcastWalker(const Shape& out, const std::vector<Shape>& inputs)
    : out_(out), index_(out.size(), 0), offsets_(inputs.size(), 0) {
  for (const Shape& s : inputs) {
    std::vector<std::int64_t> st(out.size(), 0);
    const std::vector<std::int64_t> own = strides_of(s);
    const std::size_t lead = out.size() - s.size();
    for (std::size_t i = 0; i < s.size(); ++i) st[lead + i] = s[i] == 1 ? 0 : own[i];
    strides_.push_back(std::move(st));
  }
}

void BroadcastWalker::next() {
  for (std::size_t d = out_.size(); d-- > 0;) {
    if (++index_[d] < out_[d]) {
      for (std::size_t k = 0; k < offsets_.size(); ++k) offsets_[k] += strides_[k][d];
      return;
    }
    index_[d] = 0;
    for (std::size_t k = 0; k < offsets_.size(); ++k) offsets_[k] -= strides_[k][d] * (out_[d] - 1);
  }
}

}  // namespace detail

std::vector<Tensor> evaluate_reference(const Graph& g, NodeId id, std::span<const Tensor* const> inputs) {
  using namespace detail;
  const Node& n = g.node(id);
  const NodeCall c(g, id, inputs);
  if (inputs.size() != n.inputs.size())
    c.fail_graph("evaluated with " + std::to_string(inputs.size()) + " inputs, the node has " +
                 std::to_string(n.inputs.size()));
  if (n.outputs.empty()) c.fail_graph("node has no outputs");

  switch (n.kind) {
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Pow:
    case OpKind::Max:
    case OpKind::Min: return eval_binary_arith(c);
    case OpKind::Equal:
    case OpKind::Less:
    case OpKind::LessOrEqual:
    case OpKind::Greater:
    case OpKind::GreaterOrEqual: return eval_comparison(c);
    case OpKind::Where: return eval_where(c);
    case OpKind::Neg:
    case OpKind::Sqrt:
    case OpKind::Exp:
    case OpKind::Erf:
    case OpKind::Tanh:
    case OpKind::Relu:
    case OpKind::Sigmoid:
    case OpKind::Gelu:
    case OpKind::Not: return eval_unary(c);
    case OpKind::Cast: return eval_cast(c);
    case OpKind::MatMul: return eval_matmul(c);
    case OpKind::Gemm: return eval_gemm(c);
    case OpKind::Conv: return eval_conv(c);
    case OpKind::Softmax: return eval_softmax(c);
    case OpKind::LayerNorm: return eval_layer_norm(c);
    case OpKind::ReduceMean:
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
    case OpKind::ReduceMin:
    case OpKind::ReduceProd:
    case OpKind::ReduceL1:
    case OpKind::ReduceL2:
    case OpKind::ReduceLogSum:
    case OpKind::ReduceLogSumExp:
    case OpKind::ReduceSumSquare: return eval_reduce(c);
    case OpKind::Sum:
    case OpKind::Mean: return eval_variadic(c);
    case OpKind::Clip: return eval_clip(c);
    case OpKind::Abs:
    case OpKind::Reciprocal:
    case OpKind::Floor:
    case OpKind::Ceil:
    case OpKind::Round:
    case OpKind::Sign:
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
    case OpKind::IsNaN:
    case OpKind::IsInf:
    case OpKind::Elu:
    case OpKind::Selu:
    case OpKind::Celu:
    case OpKind::LeakyRelu:
    case OpKind::ThresholdedRelu:
    case OpKind::HardSigmoid:
    case OpKind::HardSwish:
    case OpKind::Shrink: return eval_unary_math(c);
    case OpKind::PRelu: return eval_prelu(c);
    case OpKind::And:
    case OpKind::Or:
    case OpKind::Xor: return eval_logical(c);
    case OpKind::Mod: return eval_mod(c);
    case OpKind::ArgMax:
    case OpKind::ArgMin: return eval_arg_reduce(c);
    case OpKind::TopK: return eval_top_k(c);
    case OpKind::LogSoftmax: return eval_log_softmax(c);
    case OpKind::Hardmax: return eval_hardmax(c);
    case OpKind::BatchNormalization: return eval_batch_norm(c);
    case OpKind::InstanceNormalization: return eval_instance_norm(c);
    case OpKind::MaxPool:
    case OpKind::AveragePool: return eval_pool(c);
    case OpKind::GlobalMaxPool:
    case OpKind::GlobalAveragePool: return eval_global_pool(c);
    case OpKind::NegativeLogLikelihoodLoss: return eval_nll_loss(c);
    case OpKind::SoftmaxCrossEntropyLoss: return eval_softmax_cross_entropy(c);
    case OpKind::GatherElements: return eval_gather_elements(c);
    case OpKind::GatherND: return eval_gather_nd(c);
    case OpKind::Tile: return eval_tile(c);
    case OpKind::Pad: return eval_pad(c);
    case OpKind::DepthToSpace: return eval_depth_to_space(c);
    case OpKind::SpaceToDepth: return eval_space_to_depth(c);
    case OpKind::OneHot: return eval_one_hot(c);
    case OpKind::CastLike: return eval_cast_like(c);
    case OpKind::Size: return eval_size(c);
    case OpKind::CumSum: return eval_cumsum(c);
    case OpKind::Transpose: return eval_transpose(c);
    case OpKind::Reshape: return eval_reshape(c);
    case OpKind::Flatten: return eval_flatten(c);
    case OpKind::Concat: return eval_concat(c);
    case OpKind::Split: return eval_split(c);
    case OpKind::Slice: return eval_slice(c);
    case OpKind::Gather: return eval_gather(c);
    case OpKind::Unsqueeze: return eval_unsqueeze(c);
    case OpKind::Squeeze: return eval_squeeze(c);
    case OpKind::Expand: return eval_expand(c);
    case OpKind::Trilu: return eval_trilu(c);
    case OpKind::Identity: return eval_identity(c);
    case OpKind::Shape: return eval_shape(c);
    case OpKind::ConstantOfShape: return eval_constant_of_shape(c);
    case OpKind::Range: return eval_range(c);
    case OpKind::QuantizeLinear: return eval_quantize_linear(c);
    case OpKind::DequantizeLinear: return eval_dequantize_linear(c);
    case OpKind::Linear: return eval_linear(c);
    case OpKind::Attention: return eval_attention(c);
    case OpKind::FakeQuant: return eval_fake_quant(c);
    case OpKind::SpikeNeuron:
    case OpKind::SynapseLinear:
    case OpKind::SynapseConv:
    case OpKind::SpikeMatMul:
    case OpKind::DiffUnit: c.fail_unsupported("not a dense op: the reference evaluates ANN ops only");
    case OpKind::Count: break;
  }
  c.fail_graph("invalid op kind " + std::to_string(static_cast<int>(n.kind)));
}

}  // namespace snnconv::ann
