// Attention: MatMul(q, k^T) -> * or / scalar -> [+ mask | Where(mask, ., -big)] -> Softmax(-1) -> MatMul(., v).
// A QAT export's FakeQuants on the scores (before the mask, or before the softmax when there is no mask) and on
// the probabilities (after the softmax) become the Attention's steps (AttentionAttrs::scores_quant/probs_quant).
// A constant mask that allows exactly the lower triangle (key j <= query i + Nk - Nq) becomes the causal
// flag; any other mask stays as input 3 (additive f32, or bool where true = attend).
#include <limits>

#include "fuse_detail.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv::fuse {
namespace {

// Scores this far below zero are treated as "masked" (torch writes -inf, -1e4 or -1e9).
constexpr float kMaskedBelow = -1.0e3f;

bool has_rank(const Graph& g, ValueId v, int rank) { return g.value(v).type.rank() == rank; }

// A new node `kind(x, axes = [0])` (Unsqueeze / Squeeze of the leading axis) writing `out`.
Node leading_axis(Graph& g, OpKind kind, ValueId x, ValueId out, const std::string& name) {
  Node n;
  n.kind = kind;
  n.name = name;
  n.inputs = {x, g.add_constant(name + ".axes", Tensor::from_vector<std::int64_t>({1}, {0}))};
  n.outputs = {out};
  return n;
}

// `x` [G, ...] seen as [1, G, ...]: a new value and the Unsqueeze that makes it.
ValueId with_unit_batch(Graph& g, ValueId x, const std::string& name, std::vector<Node>& nodes) {
  TensorType t = g.value(x).type;
  t.dims.insert(t.dims.begin(), Dim::known(1));
  const ValueId y = add_value(g, name, t);
  nodes.push_back(leading_axis(g, OpKind::Unsqueeze, x, y, name));
  return y;
}

// True when the attend-matrix `allowed(i, j)` over the trailing [Nq, Nk] of `t` (every leading dim 1)
// is exactly the causal lower triangle.
template <typename Allowed> bool is_causal_pattern(const Tensor& t, Allowed allowed) {
  if (t.rank() < 2) return false;
  for (int i = 0; i + 2 < t.rank(); ++i)
    if (t.dim(i) != 1) return false;
  const std::int64_t nq = t.dim(t.rank() - 2), nk = t.dim(t.rank() - 1);
  if (nq > nk) return false;
  for (std::int64_t i = 0; i < nq; ++i)
    for (std::int64_t j = 0; j < nk; ++j)
      if (allowed(i * nk + j) != (j <= i + nk - nq)) return false;
  return true;
}

// The value of `v` when it is a constant or computed from constants alone by a few nodes (the importer leaves
// e.g. nanoGPT's `bias[:, :, :T, :T] == 0` as Slice/Equal/Cast of a buffer), by the reference kernels.
}  // namespace

std::optional<Tensor> constant_value(const Graph& g, ValueId v, int depth) {
  if (!v.valid()) return std::nullopt;
  if (g.value(v).constant) return *g.value(v).constant;
  const NodeId p = g.value(v).producer;
  if (!p.valid() || depth > 8 || g.node(p).outputs.size() != 1) return std::nullopt;
  const Node& n = g.node(p);
  std::vector<Tensor> held;
  held.reserve(n.inputs.size());
  std::vector<const Tensor*> ptrs;
  for (ValueId in : n.inputs) {
    if (!in.valid()) {
      ptrs.push_back(nullptr);
      continue;
    }
    auto t = constant_value(g, in, depth + 1);
    if (!t || t->numel() > (1 << 22)) return std::nullopt;
    held.push_back(std::move(*t));
    ptrs.push_back(&held.back());
  }
  try {
    std::vector<Tensor> out = ann::evaluate_reference(g, p, ptrs);
    return std::move(out.at(0));
  } catch (const Error&) {
    return std::nullopt;
  }
}

namespace {

// The K operand [B,H,Nk,D] for a score product q . kt: read through a Transpose when kt is one (composing
// the permutations), else transpose kt's last two axes with a new node.
ValueId untransposed_k(Graph& g, const View& view, ValueId kt, std::vector<Node>& new_nodes) {
  const auto rank = static_cast<std::size_t>(g.value(kt).type.rank());
  std::vector<std::int64_t> perm(rank);
  for (std::size_t i = 0; i < rank; ++i) perm[i] = static_cast<std::int64_t>(i);
  std::swap(perm[rank - 1], perm[rank - 2]);
  ValueId src = kt;
  if (const NodeId tr = view.producer(kt, OpKind::Transpose); tr.valid()) {
    const auto& p = std::get<TransposeAttrs>(view.node(tr).attrs).perm;
    if (p.size() == rank) {
      perm = p;  // (X^p)^swap = X^(p o swap)
      std::swap(perm[rank - 1], perm[rank - 2]);
      src = view.node(tr).inputs[0];
    }
  }
  bool identity = true;
  for (std::size_t i = 0; i < rank; ++i) identity &= perm[i] == static_cast<std::int64_t>(i);
  if (identity) return src;
  const TensorType& st = g.value(src).type;
  TensorType kt_type = st;
  for (std::size_t i = 0; i < rank; ++i) kt_type.dims[i] = st.dims[static_cast<std::size_t>(perm[i])];
  const ValueId k = add_value(g, g.value(kt).name + ".k", kt_type);
  Node n;
  n.kind = OpKind::Transpose;
  n.name = g.value(kt).name + ".k";
  n.attrs = TransposeAttrs{perm};
  n.inputs = {src};
  n.outputs = {k};
  new_nodes.push_back(std::move(n));
  return k;
}

// A quantization point of the file (a FakeQuant made by the qdq rule) with one step per tensor producing v:
// its node, else invalid. Per-channel or grouped steps have no place inside the fused Attention.
NodeId file_step(const Graph& g, const View& view, ValueId v) {
  const NodeId id = view.producer(v, OpKind::FakeQuant);
  if (!id.valid()) return id;
  const auto& q = g.value(v).quant;
  if (!q || q->scale.size() != 1 || q->group_size != 0 || (!q->zero_point.empty() && q->zero_point.size() != 1))
    return NodeId{};
  return id;
}

}  // namespace

std::optional<Rewrite> match_attention(Graph& g, const View& view, NodeId anchor) {
  const Node& sm = view.node(anchor);
  ValueId scores = sm.inputs[0];
  const int rank = g.value(scores).type.rank();
  const auto& sm_attrs = std::get<SoftmaxAttrs>(sm.attrs);
  const std::int64_t axis = sm_attrs.axis;
  // Rank 4: [B, H, N, D] (heads split by the model). Rank 3: [B*H, N, D] (torch's nn.MultiheadAttention),
  // fused as one batch of B*H heads.
  if ((rank != 4 && rank != 3) || (axis != -1 && axis != rank - 1) || sm_attrs.causal) return std::nullopt;
  // softmax(.) . v, or fq_p(softmax(.)) . v when the file quantizes the probabilities (a QAT export).
  std::vector<NodeId> chain{anchor};
  std::optional<QuantParams> probs_quant;
  ValueId probs = sm.outputs[0];
  if (const NodeId fq = view.sole_consumer(probs); fq.valid() && file_step(g, view, view.node(fq).outputs[0]).valid()) {
    probs = view.node(fq).outputs[0];
    probs_quant = g.value(probs).quant;
    chain.push_back(fq);
  }
  const NodeId pv_id = view.sole_consumer(probs);
  if (!pv_id.valid() || view.node(pv_id).kind != OpKind::MatMul || view.node(pv_id).inputs[0] != probs)
    return std::nullopt;
  const ValueId v = view.node(pv_id).inputs[1];
  if (!has_rank(g, v, rank)) return std::nullopt;
  chain.push_back(pv_id);
  std::vector<Node> pre_nodes;  // nodes the rewrite adds before the Attention (mask negation)

  // The scores step of a QAT export, right before the softmax. A step after a mask would round the masked
  // scores (-inf to the lowest level): that chain is not this op's function and stays unfused.
  std::optional<QuantParams> scores_quant;
  if (view.sole_consumer(scores) != anchor) return std::nullopt;
  NodeId scores_reader = anchor;
  if (const NodeId fq = file_step(g, view, scores); fq.valid()) {
    const ValueId x = view.node(fq).inputs[0];
    if (view.producer(x, OpKind::Add).valid() || view.producer(x, OpKind::Where).valid()) return std::nullopt;
    if (view.sole_consumer(x) != fq) return std::nullopt;
    scores_quant = g.value(scores).quant;
    chain.push_back(fq);
    scores = x;
    scores_reader = fq;
  }

  // Optional mask step.
  ValueId masked = scores;
  ValueId mask;       // input 3 when not causal
  bool causal = false;
  ValueId before_mask = scores;
  if (view.sole_consumer(scores) != scores_reader) return std::nullopt;
  if (const NodeId add_id = view.producer(scores, OpKind::Add); add_id.valid()) {
    const Node& add = view.node(add_id);
    // The scores side is the one coming from the scale or the product; the other is the mask.
    for (int side = 0; side < 2 && !mask.valid(); ++side) {
      const ValueId s = add.inputs[static_cast<std::size_t>(side)];
      if (view.producer(s, OpKind::Mul).valid() || view.producer(s, OpKind::Div).valid() ||
          view.producer(s, OpKind::MatMul).valid() || view.producer(s, OpKind::FakeQuant).valid()) {
        before_mask = s;
        mask = add.inputs[static_cast<std::size_t>(1 - side)];
      }
    }
    if (!mask.valid() || g.value(mask).type.dtype != DType::f32 || g.value(mask).type.rank() > rank) return std::nullopt;
    if (const auto mc = constant_value(g, mask)) {
      const Tensor* m = &*mc;
      const auto vals = m->to_f32();
      if (is_causal_pattern(*m, [&](std::int64_t i) { return vals[static_cast<std::size_t>(i)] == 0.0f; })) {
        bool only_zero_or_masked = true;
        for (float x : vals) only_zero_or_masked &= x == 0.0f || x <= kMaskedBelow;
        if (only_zero_or_masked) {
          causal = true;
          mask = ValueId{};
        }
      }
    }
    chain.push_back(add_id);
  } else if (const NodeId where_id = view.producer(scores, OpKind::Where); where_id.valid()) {
    const Node& w = view.node(where_id);
    const auto a = view.uniform(w.inputs[1]);
    const auto b = view.uniform(w.inputs[2]);
    // Which branch holds the scores decides whether the condition means "attend" or "masked".
    bool cond_attends;
    if (b && *b <= kMaskedBelow && !a) {
      cond_attends = true;
      before_mask = w.inputs[1];
    } else if (a && *a <= kMaskedBelow && !b) {
      cond_attends = false;
      before_mask = w.inputs[2];
    } else {
      return std::nullopt;
    }
    const ValueId cond = w.inputs[0];
    if (g.value(cond).type.dtype != DType::boolean || g.value(cond).type.rank() > rank) return std::nullopt;
    if (const auto cc = constant_value(g, cond)) {
      const Tensor* c = &*cc;
      const auto raw = c->to_i64();
      auto allowed = [&](std::int64_t i) { return (raw[static_cast<std::size_t>(i)] != 0) == cond_attends; };
      if (is_causal_pattern(*c, allowed)) {
        causal = true;
      } else {
        Tensor attend(DType::boolean, c->shape());
        bool* pa = attend.data<bool>();
        for (std::int64_t i = 0; i < c->numel(); ++i) pa[i] = allowed(i);
        mask = g.add_constant(g.value(cond).name + ".attend", std::move(attend));
      }
    } else if (cond_attends) {
      mask = cond;
    } else {
      // A data-dependent "masked" condition: the Attention mask means "attend", so negate it.
      mask = add_value(g, g.value(cond).name + ".attend", g.value(cond).type);
      Node n;
      n.kind = OpKind::Not;
      n.name = g.value(cond).name + ".attend";
      n.inputs = {cond};
      n.outputs = {mask};
      pre_nodes.push_back(std::move(n));
    }
    chain.push_back(where_id);
  }
  if (before_mask != scores && view.sole_consumer(before_mask) != chain.back()) return std::nullopt;
  masked = before_mask;
  // The scores step before the mask (the masked entries stay -inf: the Attention adds the mask after its step).
  if (!scores_quant && masked != scores) {
    if (const NodeId fq = file_step(g, view, masked); fq.valid()) {
      const ValueId x = view.node(fq).inputs[0];
      if (view.sole_consumer(x) != fq) return std::nullopt;
      scores_quant = g.value(masked).quant;
      chain.push_back(fq);
      masked = x;
    }
  }

  // Optional scale.
  float scale = 1.0f;
  ValueId product = masked;
  if (const NodeId mul_id = view.producer(masked, OpKind::Mul); mul_id.valid()) {
    const Node& m = view.node(mul_id);
    for (int side = 0; side < 2; ++side)
      if (auto c = view.scalar(m.inputs[static_cast<std::size_t>(side)])) {
        scale = *c;
        product = m.inputs[static_cast<std::size_t>(1 - side)];
        chain.push_back(mul_id);
        break;
      }
  } else if (const NodeId div_id = view.producer(masked, OpKind::Div); div_id.valid()) {
    if (auto c = view.scalar(view.node(div_id).inputs[1]); c && *c != 0.0f) {
      scale = 1.0f / *c;
      product = view.node(div_id).inputs[0];
      chain.push_back(div_id);
    }
  }
  if (product != masked && view.sole_consumer(product) != chain.back()) return std::nullopt;
  const NodeId qk_id = view.producer(product, OpKind::MatMul);
  if (!qk_id.valid()) return std::nullopt;
  ValueId q = view.node(qk_id).inputs[0];
  const ValueId kt = view.node(qk_id).inputs[1];
  if (!has_rank(g, q, rank) || !has_rank(g, kt, rank) || view.constant(kt) != nullptr) return std::nullopt;
  chain.push_back(qk_id);
  // A scale applied to Q before the product (nn.MultiheadAttention divides q by sqrt(d) first). Not with a scores
  // step: (c q).k^T and (q.k^T) c round differently, and a rounding step would magnify that into a level.
  if (!scores_quant && view.sole_consumer(q) == qk_id) {
    if (const NodeId mul_id = view.producer(q, OpKind::Mul); mul_id.valid()) {
      const Node& m = view.node(mul_id);
      for (int side = 0; side < 2; ++side)
        if (auto c = view.scalar(m.inputs[static_cast<std::size_t>(side)])) {
          scale *= *c;
          q = m.inputs[static_cast<std::size_t>(1 - side)];
          chain.push_back(mul_id);
          break;
        }
    } else if (const NodeId div_id = view.producer(q, OpKind::Div); div_id.valid()) {
      if (auto c = view.scalar(view.node(div_id).inputs[1]); c && *c != 0.0f) {
        scale *= 1.0f / *c;
        q = view.node(div_id).inputs[0];
        chain.push_back(div_id);
      }
    }
  }

  Rewrite rw;
  rw.nodes = std::move(pre_nodes);
  ValueId k = untransposed_k(g, view, kt, rw.nodes);
  ValueId vv = v;
  const ValueId out = view.node(pv_id).outputs[0];
  ValueId att_out = out;
  const std::string name = view.node(qk_id).name;
  if (rank == 3) {  // [G, N, D] -> [1, G, N, D] around the Attention, and back
    q = with_unit_batch(g, q, name + ".q4", rw.nodes);
    k = with_unit_batch(g, k, name + ".k4", rw.nodes);
    vv = with_unit_batch(g, v, name + ".v4", rw.nodes);
    TensorType t = g.value(out).type;
    t.dims.insert(t.dims.begin(), Dim::known(1));
    att_out = add_value(g, name + ".out4", t);
  }
  Node att;
  att.kind = OpKind::Attention;
  att.name = name;
  att.attrs = AttentionAttrs{scale, causal, scores_quant, probs_quant};
  att.inputs = {q, k, vv};
  if (mask.valid()) att.inputs.push_back(mask);
  att.outputs = {att_out};
  rw.nodes.push_back(std::move(att));
  if (rank == 3) rw.nodes.push_back(leading_axis(g, OpKind::Squeeze, att_out, out, name + ".out"));
  rw.erase = chain;
  return rw;
}

}  // namespace snnconv::fuse
