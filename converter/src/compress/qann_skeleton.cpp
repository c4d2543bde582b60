// build_qann_skeleton (quantize.hpp): the structure of the quantized ANN. Works on a copy of the canonical
// graph: attention scales folded into the Q projections, fused Attention nodes expanded into their integer
// form, then one FakeQuant per value that a unit needs as integer levels.
#include <algorithm>
#include <functional>
#include <set>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/shape_inference.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv {
namespace {

[[noreturn]] void unsupported(const Graph& g, NodeId id, const std::string& msg) {
  throw UnsupportedError("quantization: " + msg, g.context(id));
}

std::string unique_name(const Graph& g, const std::string& base) {
  if (!g.find_value(base).valid()) return base;
  for (int i = 1;; ++i) {
    const std::string n = base + "." + std::to_string(i);
    if (!g.find_value(n).valid()) return n;
  }
}

ValueId add_node_value(Graph& g, OpKind kind, std::vector<ValueId> inputs, Attrs attrs, const std::string& name) {
  Value v;
  v.name = unique_name(g, name);
  v.type.dtype = DType::f32;
  const ValueId out = g.add_value(std::move(v));
  Node n;
  n.kind = kind;
  n.inputs = std::move(inputs);
  n.outputs = {out};
  n.attrs = std::move(attrs);
  n.name = g.value(out).name;
  g.add_node(std::move(n));
  return out;
}

// Multiplies the weight and bias of the Linear that produces Attention's Q (through Reshape/Transpose only)
// by `scale`, so that Q.K^T needs no separate scaling.
void fold_attention_scale(Graph& g, NodeId att, float scale, const std::vector<std::vector<NodeId>>& consumers) {
  ValueId q = g.node(att).inputs[0];
  for (;;) {
    const NodeId p = g.value(q).producer;
    if (!p.valid()) unsupported(g, att, "the attention scale cannot be folded: Q is not computed by a Linear");
    if (consumers[q.index].size() != 1)
      unsupported(g, att, "the attention scale cannot be folded: Q ('" + g.value(q).name + "') has other readers");
    Node& n = g.node(p);
    if (ann::is_data_movement(n.kind) || n.kind == OpKind::Rotary) {  // scaling commutes with these linear maps
      q = n.inputs[0];
      continue;
    }
    if (n.kind != OpKind::Linear || std::get<LinearAttrs>(n.attrs).activation != Activation::none)
      unsupported(g, att, "the attention scale cannot be folded: Q comes from " + std::string(op_name(n.kind)));
    for (std::size_t k = 1; k < n.inputs.size() && k < 3; ++k) {
      if (!n.inputs[k].valid()) continue;
      const Value& c = g.value(n.inputs[k]);
      if (!c.constant) unsupported(g, p, "the Q projection's weight and bias must be constants");
      std::vector<float> w = c.constant->to_f32();
      for (float& x : w) x *= scale;
      const std::string name = unique_name(g, c.name + ".attn_scaled");
      const Shape shape = c.constant->shape();
      n.inputs[k] = g.add_constant(name, Tensor::from_vector<float>(shape, w));
    }
    return;
  }
}

// Replaces Attention(q, k, v) by MatMul(q, Transpose(k)) -> Softmax(causal) -> MatMul(., v), keeping the
// Attention's output value (the last MatMul takes over the node).
void expand_attention(Graph& g, NodeId att) {
  const Node n = g.node(att);
  const auto& at = std::get<AttentionAttrs>(n.attrs);
  if (g.value(n.inputs[1]).type.rank() != 4) unsupported(g, att, "attention operands must be [B, H, N, D]");
  const ValueId kt = add_node_value(g, OpKind::Transpose, {n.inputs[1]}, TransposeAttrs{{0, 1, 3, 2}}, n.name + "/k_t");
  const ValueId s = add_node_value(g, OpKind::MatMul, {n.inputs[0], kt}, NoAttrs{}, n.name + "/scores");
  // An explicit mask (a padding mask input, a constant pattern) stays beside the scores: the softmax takes
  // part only where it attends (ann::attention_keep), so its -inf never reaches a quantization point.
  std::vector<ValueId> sm_in{s};
  if (n.inputs.size() > 3 && n.inputs[3].valid()) sm_in.push_back(n.inputs[3]);
  const ValueId p = add_node_value(g, OpKind::Softmax, sm_in, SoftmaxAttrs{-1, at.causal}, n.name + "/probs");
  Node& m = g.node(att);
  m.kind = OpKind::MatMul;
  m.inputs = {p, n.inputs[2]};
  m.attrs = NoAttrs{};
}

class SkeletonBuilder {
 public:
  explicit SkeletonBuilder(const Graph& canonical) : g_(canonical) {}

  QannSkeleton run() {
    if (g_.stage != Stage::canonical)
      throw GraphError("quantization needs a canonical (fused) graph, got stage '" + std::string(stage_name(g_.stage)) +
                       "'");
    for (ValueId v : g_.inputs())
      if (!g_.value(v).type.is_static())
        throw ShapeError("quantization needs static shapes; input '" + g_.value(v).name + "' is " +
                         type_to_string(g_.value(v).type) + " (bind its dims first)");
    const auto consumers = g_.consumers();
    std::vector<NodeId> attention;
    for (std::uint32_t i = 0; i < g_.num_nodes(); ++i)
      if (g_.node(NodeId(i)).kind == OpKind::Attention) attention.push_back(NodeId(i));
    for (NodeId a : attention) fold_attention_scale(g_, a, std::get<AttentionAttrs>(g_.node(a).attrs).scale, consumers);
    for (NodeId a : attention) expand_attention(g_, a);
    while (hoist_file_point()) {
    }
    infer_shapes(g_);

    const std::vector<NodeId> order = g_.topological_order();
    region_.assign(g_.num_values(), -1);
    for (NodeId id : order) {
      const Node n = g_.node(id);
      std::vector<std::size_t> slots;
      switch (n.kind) {
        case OpKind::Linear:
          // A Linear on the graph inputs alone (an input embedding) stays in the real-valued prologue, as
          // a patch-embedding Conv does: the network's input population is the first point after it. A Linear
          // reading another Linear's output (a plain MLP, nn.Sequential of Linear/ReLU) is a layer of the
          // network, not an embedding: its input is a quantization point, or the MLP would have no neuron.
          if (in_region(n.inputs[0]) || reads_linear(n.inputs[0])) slots = {0};
          break;
        case OpKind::LayerNorm:
        case OpKind::RMSNorm:
        case OpKind::Rotary:
        case OpKind::Softmax:
          slots = {0};
          break;
        case OpKind::Mul:
          // A product of two activations (SwiGLU's gate x up): a spike product, element by element.
          if (!g_.is_constant(n.inputs[0]) && !g_.is_constant(n.inputs[1]) &&
              (in_region(n.inputs[0]) || in_region(n.inputs[1])))
            elementwise_product(id);
          break;
        case OpKind::MatMul:
          if (!g_.is_constant(n.inputs[0]) && !g_.is_constant(n.inputs[1])) slots = {0, 1};
          break;
        case OpKind::Add:
          if (!g_.is_constant(n.inputs[0]) && !g_.is_constant(n.inputs[1]) &&
              (in_region(n.inputs[0]) || in_region(n.inputs[1])))
            slots = {0, 1};
          break;
        case OpKind::ReduceMean:
          if (in_region(n.inputs[0])) mean_as_linear(id);
          break;
        case OpKind::Conv:
        case OpKind::Gemm:
          if (in_region(n.inputs[0])) unsupported(g_, id, std::string(op_name(n.kind)) + " inside the network has no quantized form (only in the input prologue)");
          break;
        default:
          break;
      }
      for (std::size_t k : slots) g_.node(id).inputs[k] = levels_of(g_.node(id).inputs[k], n.kind == OpKind::MatMul && k == 0 && is_probs(n.inputs[0]));
      if (n.kind == OpKind::Linear && !slots.empty()) out_.linears.push_back(n.name);
    }
    // The rewrites above add data movement of their own (mean pooling's Reshape): a file point after it moves
    // before it too.
    while (hoist_file_point()) {
    }
    // Levels moved by data movement carry their point's QuantParams (placeholders until quantize_skeleton).
    for (NodeId id : g_.topological_order()) {
      const Node& n = g_.node(id);
      if (!ann::is_data_movement(n.kind) || n.inputs.empty()) continue;
      const Value& src = g_.value(n.inputs[0]);
      if (src.quant && !src.constant && !g_.value(n.outputs[0]).quant) g_.value(n.outputs[0]).quant = src.quant;
    }
    g_.stage = Stage::quantized;
    infer_shapes(g_);
    verify(g_, Stage::quantized);
    out_.graph = std::move(g_);
    return std::move(out_);
  }

 private:
  // A quantization point of a QDQ file placed after data movement of a current (torch quantizes q after
  // `.view(...).transpose(1, 2)`) moves before it: the same levels moved (rounding commutes with moving
  // elements), so that spikes, not currents, travel through the movement. One move per call.
  bool hoist_file_point() {
    const auto consumers = g_.consumers();
    for (NodeId id : g_.topological_order()) {
      const Node& f = g_.node(id);
      if (f.kind != OpKind::FakeQuant) continue;
      const std::string& fname = g_.value(f.outputs[0]).name;
      if (std::any_of(out_.points.begin(), out_.points.end(), [&](const QuantPoint& pt) { return pt.name == fname; }))
        continue;  // a point of our own is placed before movement already (levels_of)
      const ValueId x = f.inputs[0];
      const NodeId p = g_.value(x).producer;
      if (!p.valid() || !ann::is_data_movement(g_.node(p).kind) || consumers[x.index].size() != 1) continue;
      if (std::find(g_.outputs().begin(), g_.outputs().end(), x) != g_.outputs().end()) continue;
      const ValueId a = g_.node(p).inputs[0];
      if (g_.is_constant(a)) continue;
      const ValueId y = f.outputs[0];
      Value aq = g_.value(a);
      aq.name = unique_name(g_, aq.name + "_q");
      aq.producer = NodeId{};
      aq.constant.reset();
      aq.quant = g_.value(y).quant;
      const ValueId av = g_.add_value(std::move(aq));
      Node nf;
      nf.kind = OpKind::FakeQuant;
      nf.name = f.name;
      nf.inputs = {a};
      nf.outputs = {av};
      Node& mover = g_.node(p);
      mover.inputs[0] = av;
      mover.outputs = {y};
      g_.add_node(std::move(nf));
      g_.erase_nodes({id});
      return true;
    }
    return false;
  }

  // Mean pooling (ReduceMean over one axis, e.g. the tokens) is a linear map of the levels: the reduced
  // axis moved last, a Linear with a [N, 1] weight of 1/N (quantized like every weight), then a Reshape to
  // the ReduceMean's shape, which becomes that Reshape. So it is a synaptic layer in the SNN.
  void mean_as_linear(NodeId id) {
    const Node n = g_.node(id);
    const auto& ra = std::get<ReduceAttrs>(n.attrs);
    const Shape shape = g_.value(n.inputs[0]).type.static_shape();
    const auto rank = static_cast<std::int64_t>(shape.size());
    if (ra.axes.size() != 1)
      unsupported(g_, id, "ReduceMean over " + std::to_string(ra.axes.size()) +
                              " axes inside the network has no quantized form (mean pooling over one axis has)");
    const std::int64_t axis = ra.axes[0] < 0 ? ra.axes[0] + rank : ra.axes[0];
    const std::int64_t count = shape[static_cast<std::size_t>(axis)];
    ValueId x = levels_of(n.inputs[0], false);
    Shape moved = shape;
    if (axis != rank - 1) {
      std::vector<std::int64_t> perm;
      for (std::int64_t d = 0; d < rank; ++d)
        if (d != axis) perm.push_back(d);
      perm.push_back(axis);
      for (std::int64_t d = 0; d < rank; ++d) moved[static_cast<std::size_t>(d)] = shape[static_cast<std::size_t>(perm[static_cast<std::size_t>(d)])];
      const ValueId t = add_node_value(g_, OpKind::Transpose, {x}, TransposeAttrs{perm}, n.name + "/pool_t");
      g_.value(t).type = TensorType::of(DType::f32, moved);
      g_.value(t).quant = g_.value(x).quant;
      x = t;
    }
    const ValueId w = g_.add_constant(unique_name(g_, n.name + "/pool_w"),
                                      Tensor::from_vector<float>({count, 1}, std::vector<float>(static_cast<std::size_t>(count), 1.0f / static_cast<float>(count))));
    const ValueId y = add_node_value(g_, OpKind::Linear, {x, w}, LinearAttrs{}, n.name + "/pool");
    moved.back() = 1;
    g_.value(y).type = TensorType::of(DType::f32, moved);
    out_.linears.push_back(g_.node(g_.value(y).producer).name);
    const Shape out_shape = g_.value(n.outputs[0]).type.static_shape();
    const ValueId target = g_.add_constant(unique_name(g_, n.name + "/pool_shape"),
                                           Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(out_shape.size())}, out_shape));
    Node& r = g_.node(id);
    r.kind = OpKind::Reshape;
    r.attrs = ReshapeAttrs{};
    r.inputs = {y, target};
  }

  // Mul(a, b) of two activations of one shape: both operands quantized, each moved to [n, 1, 1] and multiplied
  // as a batch of 1 x 1 products (a MatMul of levels: one int64 product per element, product_value), then
  // reshaped back; the Mul node becomes that Reshape.
  void elementwise_product(NodeId id) {
    const Node n = g_.node(id);
    const Shape sa = g_.value(n.inputs[0]).type.static_shape();
    if (sa != g_.value(n.inputs[1]).type.static_shape())
      unsupported(g_, id, "a product of two activations needs operands of one shape (no broadcasting)");
    const std::int64_t count = checked_numel(sa);
    const ValueId col = g_.add_constant(unique_name(g_, n.name + "/elem_shape"),
                                        Tensor::from_vector<std::int64_t>({3}, {count, 1, 1}));
    std::vector<ValueId> ops;
    for (std::size_t k = 0; k < 2; ++k) {
      const ValueId lv = levels_of(n.inputs[k], false);
      const ValueId r = add_node_value(g_, OpKind::Reshape, {lv, col}, ReshapeAttrs{}, n.name + "/elem" + std::to_string(k));
      g_.value(r).type = TensorType::of(DType::f32, {count, 1, 1});
      ops.push_back(r);
    }
    const ValueId prod = add_node_value(g_, OpKind::MatMul, ops, NoAttrs{}, n.name + "/elem_prod");
    g_.value(prod).type = TensorType::of(DType::f32, {count, 1, 1});
    const ValueId back = g_.add_constant(unique_name(g_, n.name + "/elem_back"),
                                         Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(sa.size())}, sa));
    Node& r = g_.node(id);
    r.kind = OpKind::Reshape;
    r.attrs = ReshapeAttrs{};
    r.inputs = {prod, back};
  }

  bool is_probs(ValueId v) const {
    const NodeId p = g_.value(v).producer;
    return p.valid() && g_.node(p).kind == OpKind::Softmax;
  }
  bool is_levels(ValueId v) const {
    const NodeId p = g_.value(v).producer;
    if (!p.valid()) return false;
    const Node& n = g_.node(p);
    if (n.kind == OpKind::FakeQuant) return true;
    if (n.kind == OpKind::Concat)
      return std::all_of(n.inputs.begin(), n.inputs.end(), [&](ValueId v) { return is_levels(v); });
    return ann::is_data_movement(n.kind) && is_levels(n.inputs[0]);
  }
  // Whether a value depends on a quantization point (memoised; the graph is a DAG).
  // v is the output of a Linear (its folded activation included).
  bool reads_linear(ValueId v) const {
    const NodeId p = v.valid() ? g_.value(v).producer : NodeId{};
    return p.valid() && g_.node(p).kind == OpKind::Linear;
  }
  bool in_region(ValueId v) {
    if (!v.valid() || g_.is_constant(v)) return false;
    if (v.index >= region_.size()) region_.resize(v.index + 1, -1);
    if (region_[v.index] >= 0) return region_[v.index] == 1;
    const NodeId p = g_.value(v).producer;
    bool r = false;
    if (p.valid()) {
      const Node& n = g_.node(p);
      if (n.kind == OpKind::FakeQuant) r = true;
      for (ValueId in : n.inputs) r = r || in_region(in);
    }
    if (v.index >= region_.size()) region_.resize(v.index + 1, -1);
    region_[v.index] = r ? 1 : 0;
    return r;
  }
  // `n`, a copy of v's producer already rewired to read levels, added with a new output "<v>_q" carrying
  // `quant`: from now on that value is v's levels.
  ValueId add_levels_copy(Node n, ValueId v, const std::optional<QuantParams>& quant) {
    Value out = g_.value(v);
    out.name = unique_name(g_, out.name + "_q");
    out.producer = NodeId{};
    const ValueId ov = g_.add_value(std::move(out));
    g_.value(ov).quant = quant;
    n.outputs = {ov};
    n.name = g_.value(ov).name;
    g_.add_node(std::move(n));
    if (ov.index >= region_.size()) region_.resize(ov.index + 1, -1);
    region_[ov.index] = 1;
    fq_[v.index] = ov;
    return ov;
  }
  ValueId levels_of(ValueId v, bool probabilities) {
    if (is_levels(v)) return v;
    if (auto it = fq_.find(v.index); it != fq_.end()) return it->second;
    // A Concat with a part in the network (e.g. projected image tokens next to embedded text tokens):
    // quantize each operand with one shared step and concatenate the levels.
    if (const NodeId p = g_.value(v).producer; p.valid() && g_.node(p).kind == OpKind::Concat && in_region(v)) {
      Node cat = g_.node(p);
      const int tie = next_tie_++;
      for (ValueId& in : cat.inputs) {
        const std::size_t before = out_.points.size();
        if (!is_levels(in)) in = levels_of(in, probabilities);
        if (out_.points.size() != before + 1)
          unsupported(g_, p, "a Concat operand already has its own quantization point; the operands cannot share one step");
        out_.points.back().tie = tie;
      }
      const std::optional<QuantParams> quant = g_.value(cat.inputs[0]).quant;
      return add_levels_copy(std::move(cat), v, quant);
    }
    // A real value moved by Reshape/Transpose/Gather...: quantize before the movement and move the levels,
    // so that spikes (not currents) travel through it. Same numbers: rounding commutes with movement.
    if (const NodeId p = g_.value(v).producer; p.valid() && ann::is_data_movement(g_.node(p).kind) &&
                                               in_region(g_.node(p).inputs[0])) {
      Node moved = g_.node(p);
      const ValueId src = levels_of(moved.inputs[0], probabilities);
      moved.inputs[0] = src;
      const std::optional<QuantParams> quant = g_.value(src).quant;  // levels keep their step through movement
      return add_levels_copy(std::move(moved), v, quant);
    }
    const std::string base = g_.value(v).name;
    const ValueId q = add_node_value(g_, OpKind::FakeQuant, {v}, NoAttrs{}, base + "_q");
    g_.value(q).type = g_.value(v).type;
    QuantParams qp;  // filled by quantize_skeleton
    qp.scale = {1.0f};
    g_.value(q).quant = qp;
    if (q.index >= region_.size()) region_.resize(q.index + 1, -1);
    region_[q.index] = 1;
    fq_[v.index] = q;
    out_.points.push_back({g_.value(q).name, g_.value(q).name, probabilities});
    return q;
  }

  Graph g_;
  QannSkeleton out_;
  std::vector<int> region_;
  std::map<std::uint32_t, ValueId> fq_;
  int next_tie_ = 0;
};

}  // namespace

QannSkeleton build_qann_skeleton(const Graph& canonical) {
  return SkeletonBuilder(canonical).run();
}

}  // namespace snnconv
