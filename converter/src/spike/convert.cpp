// QANN -> SNN conversion (spike.hpp). A fresh graph is built in topological order; each QANN value maps
// to at most one SNN value with the same name. A value is "spiking" when it is a quantization point's
// output (or a Reshape/Transpose of one): only those carry integer counts, so only they may feed a
// synapse, a product, a differential unit or a residual Add.
#include <optional>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv {
namespace {

class SpikeConverter {
 public:
  explicit SpikeConverter(const Graph& q)
      : q_(q),
        map_(q.num_values()),
        spiking_(q.num_values(), false),
        fixed_(q.num_values(), false),
        pending_(q.num_values(), Activation::none),
        folded_from_(q.num_values()),
        consumers_(q.consumers()) {}

  Graph run() {
    if (q_.stage != Stage::quantized)
      throw GraphError("spiking conversion needs a graph at stage 'quantized', got '" +
                       std::string(stage_name(q_.stage)) + "' (run quantization first)");
    verify(q_, Stage::quantized);
    s_.name = q_.name;
    s_.opset = q_.opset;
    s_.source_file = q_.source_file;
    s_.metadata = q_.metadata;
    s_.stage = Stage::spiking;
    std::vector<ValueId> ins;
    for (ValueId v : q_.inputs()) {
      ins.push_back(value(v));
      fixed_[v.index] = true;
    }
    s_.set_inputs(ins);
    for (NodeId id : q_.topological_order()) convert(id);
    std::vector<ValueId> outs;
    for (ValueId v : q_.outputs()) {
      if (!map_[v.index].valid()) fail_graph(q_.value(v).producer, v, "graph output has no spiking counterpart");
      outs.push_back(map_[v.index]);
    }
    s_.set_outputs(outs);
    verify(s_, Stage::spiking);
    return std::move(s_);
  }

 private:
  [[noreturn]] void fail_graph(NodeId id, ValueId v, const std::string& msg) const {
    ErrorContext c = id.valid() ? q_.context(id) : ErrorContext{};
    if (v.valid()) c.value = q_.value(v).name;
    throw GraphError("spiking conversion: " + msg, c);
  }
  [[noreturn]] void fail_unsupported(NodeId id, ValueId v, const std::string& msg) const {
    ErrorContext c = q_.context(id);
    if (v.valid()) c.value = q_.value(v).name;
    throw UnsupportedError("spiking conversion: " + msg, c);
  }

  // The SNN copy of a graph input or constant (node outputs are created by emit).
  ValueId value(ValueId v) {
    if (!v.valid()) return v;
    if (map_[v.index].valid()) return map_[v.index];
    Value copy = q_.value(v);
    copy.producer = NodeId{};
    map_[v.index] = s_.add_value(std::move(copy));
    return map_[v.index];
  }

  // Products and whole-vector units never run in the prologue: their inputs must be quantization points, as
  // in the QANN. A patch-embedding Conv, an input-embedding Linear, lookups and elementwise ops may.
  bool is_prologue(const Node& n) const {
    if (n.outputs.size() != 1) return false;
    switch (n.kind) {
      case OpKind::MatMul:
      case OpKind::LayerNorm:
      case OpKind::Softmax:
      case OpKind::Attention:
      case OpKind::RMSNorm:
      case OpKind::Rotary:
        return false;
      default:
        break;
    }
    for (ValueId v : n.inputs)
      if (v.valid() && !q_.is_constant(v) && !fixed_[v.index]) return false;
    return true;
  }

  void require_spiking(NodeId id, std::size_t k, const char* role) const {
    const ValueId v = q_.node(id).inputs[k];
    if (!spiking_[v.index])
      fail_graph(id, v, std::string(role) + " is not a quantization point's output (insert a FakeQuant before it)");
  }
  void require_only_quant_consumers(NodeId id, ValueId v) const {
    for (NodeId c : consumers_[v.index])
      if (q_.node(c).kind != OpKind::FakeQuant)
        fail_unsupported(id, v,
                         "a folded nonlinearity must feed only its quantization point, but '" + q_.node(c).name +
                             "' (" + std::string(op_name(q_.node(c).kind)) + ") reads it");
    for (ValueId o : q_.outputs())
      if (o == v) fail_unsupported(id, v, "a folded nonlinearity cannot be a graph output");
  }

  ValueId emit(NodeId from, OpKind kind, std::vector<ValueId> inputs, Attrs attrs) {
    const Node& n = q_.node(from);
    Node m;
    m.kind = kind;
    m.name = n.name;
    m.attrs = std::move(attrs);
    m.inputs = std::move(inputs);
    Value out = q_.value(n.outputs[0]);
    out.producer = NodeId{};
    out.constant.reset();
    const ValueId ov = s_.add_value(std::move(out));
    m.outputs = {ov};
    s_.add_node(std::move(m));
    map_[n.outputs[0].index] = ov;
    return ov;
  }

  void convert(NodeId id) {
    const Node& n = q_.node(id);
    const ValueId out = n.outputs[0];
    if (n.kind != OpKind::FakeQuant && is_prologue(n)) {
      // The dense prologue: an op whose inputs are all known at step 1 (graph inputs, constants, prologue
      // outputs) runs once, densely, before the first neurons (e.g. a patch embedding, a token lookup, a
      // position embedding). Its work is counted as dense ops; docs/spiking.md, "Input prologue".
      std::vector<ValueId> ins;
      for (ValueId v : n.inputs) ins.push_back(value(v));
      emit(id, n.kind, std::move(ins), n.attrs);
      fixed_[out.index] = true;
      return;
    }
    switch (n.kind) {
      case OpKind::FakeQuant: {
        ValueId src = n.inputs[0];
        Activation act = pending_[src.index];
        if (folded_from_[src.index]) src = *folded_from_[src.index];
        if (spiking_[src.index])
          fail_unsupported(id, src, "re-quantizing a quantized tensor has no spiking form (fold the two points)");
        if (!q_.value(out).quant) fail_graph(id, out, "quantization point carries no QuantParams");
        const QuantParams& qp = *q_.value(out).quant;
        if (!qp.per_tensor() || (!qp.zero_point.empty() && qp.zero_point[0] != 0) || !(qp.scale[0] > 0.0f))
          fail_unsupported(id, out, "a neuron population needs one positive threshold per tensor and zero point 0");
        emit(id, OpKind::SpikeNeuron, {value(src)}, NeuronAttrs{act});
        spiking_[out.index] = true;
        return;
      }
      case OpKind::Relu:
      case OpKind::Gelu:
      case OpKind::Tanh: {
        const ValueId x = n.inputs[0];
        if (spiking_[x.index] || pending_[x.index] != Activation::none || folded_from_[x.index])
          fail_unsupported(id, x, "a nonlinearity folds into a neuron only right after a linear unit");
        require_only_quant_consumers(id, out);
        folded_from_[out.index] = x;
        pending_[out.index] = n.kind == OpKind::Relu                            ? Activation::relu
                              : n.kind == OpKind::Tanh                          ? Activation::tanh
                              : std::get<GeluAttrs>(n.attrs).tanh_approximation ? Activation::gelu_tanh
                                                                                : Activation::gelu;
        return;
      }
      case OpKind::Linear: {
        require_spiking(id, 0, "Linear input");
        (void)ann::int_weights(q_.value(n.inputs[1]), "node '" + n.name + "'");  // integer levels, steps per channel
        if (n.inputs.size() > 2 && n.inputs[2].valid() && !q_.is_constant(n.inputs[2]))
          fail_unsupported(id, n.inputs[2], "Linear bias must be a constant");
        const Activation act = std::get<LinearAttrs>(n.attrs).activation;
        if (act != Activation::none) require_only_quant_consumers(id, out);
        std::vector<ValueId> ins{value(n.inputs[0]), value(n.inputs[1])};
        if (n.inputs.size() > 2 && n.inputs[2].valid()) ins.push_back(value(n.inputs[2]));
        emit(id, OpKind::SynapseLinear, std::move(ins), NoAttrs{});
        pending_[out.index] = act;
        return;
      }
      case OpKind::Rotary: {
        require_spiking(id, 0, "rotary embedding input");
        for (std::size_t k = 1; k < 3; ++k)
          if (!q_.is_constant(n.inputs[k])) fail_unsupported(id, n.inputs[k], "rotary cos/sin must be constants");
        emit(id, OpKind::DiffUnit, {value(n.inputs[0]), value(n.inputs[1]), value(n.inputs[2])},
             DiffUnitAttrs{DiffUnitAttrs::Fn::rotary, -1, 0.0f, false});
        return;
      }
      case OpKind::LayerNorm:
      case OpKind::RMSNorm:
      case OpKind::Softmax: {
        require_spiking(id, 0, "whole-vector unit input");
        DiffUnitAttrs at;
        if (n.kind == OpKind::LayerNorm || n.kind == OpKind::RMSNorm) {
          const auto& ln = std::get<LayerNormAttrs>(n.attrs);
          at = {n.kind == OpKind::RMSNorm ? DiffUnitAttrs::Fn::rms_norm : DiffUnitAttrs::Fn::layer_norm, ln.axis,
                ln.epsilon};
          for (std::size_t k = 1; k < n.inputs.size(); ++k)
            if (n.inputs[k].valid() && !q_.is_constant(n.inputs[k]))
              fail_unsupported(id, n.inputs[k], "LayerNorm scale and bias must be constants");
        } else {
          const auto& sa = std::get<SoftmaxAttrs>(n.attrs);
          at = {DiffUnitAttrs::Fn::softmax, sa.axis, 0.0f, sa.causal};
          // A mask (input 1) is known at step 1: a constant, a graph input or a prologue value.
          if (n.inputs.size() > 1 && n.inputs[1].valid() && !q_.is_constant(n.inputs[1]) && !fixed_[n.inputs[1].index])
            fail_unsupported(id, n.inputs[1], "an attention mask must be a constant or computed from the graph inputs alone");
        }
        const int rank = q_.value(n.inputs[0]).type.rank();
        if (at.axis != -1 && at.axis != rank - 1)
          fail_unsupported(id, n.inputs[0], "differential units run over the last axis only");
        std::vector<ValueId> ins;
        for (ValueId v : n.inputs) ins.push_back(value(v));
        emit(id, OpKind::DiffUnit, std::move(ins), at);
        return;
      }
      case OpKind::MatMul: {
        if (q_.is_constant(n.inputs[0]) || q_.is_constant(n.inputs[1]))
          fail_unsupported(id, {}, "MatMul with a constant operand must be canonicalised to Linear first");
        require_spiking(id, 0, "product operand 0");
        require_spiking(id, 1, "product operand 1");
        emit(id, OpKind::SpikeMatMul, {value(n.inputs[0]), value(n.inputs[1])}, NoAttrs{});
        return;
      }
      case OpKind::Add: {
        require_spiking(id, 0, "residual operand 0");
        require_spiking(id, 1, "residual operand 1");
        if (q_.value(n.inputs[0]).type != q_.value(n.inputs[1]).type)
          fail_unsupported(id, {}, "residual Add needs operands of one type (no broadcasting)");
        emit(id, OpKind::Add, {value(n.inputs[0]), value(n.inputs[1])}, NoAttrs{});
        return;
      }
      case OpKind::Concat: {
        if (!spiking_[n.inputs[0].index]) break;
        for (std::size_t k = 0; k < n.inputs.size(); ++k) {
          require_spiking(id, k, "Concat operand");
          if (q_.value(n.inputs[k]).quant != q_.value(n.inputs[0]).quant)
            fail_unsupported(id, n.inputs[k], "Concat operands must share one threshold and count range");
        }
        pass_spikes(id, n, out);
        return;
      }
      default:
        break;
    }
    if (ann::is_data_movement(n.kind) && spiking_[n.inputs[0].index]) {
      for (std::size_t k = 1; k < n.inputs.size(); ++k)
        if (n.inputs[k].valid() && !q_.is_constant(n.inputs[k]))
          fail_unsupported(id, n.inputs[k], "data movement of spikes needs constant indices and shapes");
      pass_spikes(id, n, out);
      return;
    }
    fail_unsupported(id, out, std::string(op_name(n.kind)) + " has no spiking form");
  }

  // Concat and data movement of spike counts: the same op on the spiking values. Counts keep their
  // threshold (the first operand's) through it; the engine and readers find it on the value.
  void pass_spikes(NodeId id, const Node& n, ValueId out) {
    std::vector<ValueId> ins;
    for (ValueId v : n.inputs) ins.push_back(value(v));
    const ValueId o = emit(id, n.kind, std::move(ins), n.attrs);
    s_.value(o).quant = q_.value(n.inputs[0]).quant;
    spiking_[out.index] = true;
  }

  const Graph& q_;
  Graph s_;
  std::vector<ValueId> map_;
  std::vector<bool> spiking_;
  std::vector<bool> fixed_;  // graph inputs and dense-prologue outputs: known at step 1, constant afterwards
  std::vector<Activation> pending_;                  // a folded nonlinearity the next quantization point applies
  std::vector<std::optional<ValueId>> folded_from_;  // output of a folded Relu/Gelu -> its input
  std::vector<std::vector<NodeId>> consumers_;
};

}  // namespace

Graph convert_to_spiking(const Graph& qann) {
  return SpikeConverter(qann).run();
}

}  // namespace snnconv
