// Packed projections: a Linear whose output is read only by Slices / Splits of its last axis (torch's packed
// in_proj of nn.MultiheadAttention sliced by chunk(3), nanoGPT's c_attn(x).split(C, dim=2)) becomes one
// Linear per part, with the weight's and bias's columns of that part. Same numbers: a column of a Linear does
// not depend on the others. The attention scale can then fold into the Q projection alone, and each part is
// a unit of its own in the QANN and the SNN.
#include "fuse_detail.hpp"

namespace snnconv::fuse {
namespace {

struct Part {
  std::int64_t begin = 0, end = 0;
  ValueId out;
};

// The column range [begin, end) of the last axis that Slice `n` keeps, when it slices only that axis with
// step 1 and constant bounds.
std::optional<Part> slice_part(const View& view, const Node& n, std::int64_t dim, int rank) {
  if (n.inputs.size() < 3) return std::nullopt;
  const Tensor* starts = view.constant(n.inputs[1]);
  const Tensor* ends = view.constant(n.inputs[2]);
  if (starts == nullptr || ends == nullptr || starts->numel() != 1 || ends->numel() != 1) return std::nullopt;
  std::int64_t axis = 0;
  if (n.inputs.size() > 3 && n.inputs[3].valid()) {
    const Tensor* axes = view.constant(n.inputs[3]);
    if (axes == nullptr || axes->numel() != 1) return std::nullopt;
    axis = axes->to_i64()[0];
  }
  if (axis < 0) axis += rank;
  if (axis != rank - 1) return std::nullopt;
  if (n.inputs.size() > 4 && n.inputs[4].valid()) {
    const Tensor* steps = view.constant(n.inputs[4]);
    if (steps == nullptr || steps->numel() != 1 || steps->to_i64()[0] != 1) return std::nullopt;
  }
  auto clamp = [&](std::int64_t v) {
    if (v < 0) v += dim;
    return std::min(std::max<std::int64_t>(v, 0), dim);
  };
  Part p{clamp(starts->to_i64()[0]), clamp(ends->to_i64()[0]), n.outputs[0]};
  if (p.end <= p.begin) return std::nullopt;
  return p;
}

// Every output of Split `n` over the last axis, as column ranges.
std::optional<std::vector<Part>> split_parts(const View& view, const Node& n, std::int64_t dim, int rank) {
  // Equal parts only (an uneven opset-18 num_outputs split, ceil_parts, stays unfused).
  std::int64_t axis = std::get<SplitAttrs>(n.attrs).axis;
  if (axis < 0) axis += rank;
  if (axis != rank - 1) return std::nullopt;
  std::vector<std::int64_t> sizes;
  if (n.inputs.size() > 1 && n.inputs[1].valid()) {
    const Tensor* s = view.constant(n.inputs[1]);
    if (s == nullptr) return std::nullopt;
    sizes = s->to_i64();
  } else {
    const auto parts = static_cast<std::int64_t>(n.outputs.size());
    if (parts == 0 || dim % parts != 0) return std::nullopt;
    sizes.assign(static_cast<std::size_t>(parts), dim / parts);
  }
  if (sizes.size() != n.outputs.size()) return std::nullopt;
  std::vector<Part> out;
  std::int64_t at = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] <= 0) return std::nullopt;
    out.push_back({at, at + sizes[i], n.outputs[i]});
    at += sizes[i];
  }
  if (at != dim) return std::nullopt;
  return out;
}

}  // namespace

std::optional<Rewrite> match_split_linear(Graph& g, const View& view, NodeId anchor) {
  const Node& lin = view.node(anchor);
  const ValueId y = lin.outputs[0];
  if (view.is_graph_output(y) || view.readers(y).empty()) return std::nullopt;
  const Tensor* w = view.constant(lin.inputs[1]);
  if (w == nullptr || w->dtype() != DType::f32 || w->rank() != 2) return std::nullopt;
  const Tensor* b = lin.inputs.size() > 2 && lin.inputs[2].valid() ? view.constant(lin.inputs[2]) : nullptr;
  if (lin.inputs.size() > 2 && lin.inputs[2].valid() && b == nullptr) return std::nullopt;
  const int rank = g.value(y).type.rank();
  const std::int64_t n = w->dim(1);
  std::vector<Part> parts;
  std::vector<NodeId> chain{anchor};
  for (NodeId r : view.readers(y)) {
    const Node& rd = view.node(r);
    if (rd.inputs[0] != y) return std::nullopt;
    for (std::size_t k = 1; k < rd.inputs.size(); ++k)
      if (rd.inputs[k] == y) return std::nullopt;
    if (rd.kind == OpKind::Slice) {
      auto p = slice_part(view, rd, n, rank);
      if (!p) return std::nullopt;
      parts.push_back(*p);
    } else if (rd.kind == OpKind::Split) {
      auto ps = split_parts(view, rd, n, rank);
      if (!ps) return std::nullopt;
      parts.insert(parts.end(), ps->begin(), ps->end());
    } else {
      return std::nullopt;
    }
    chain.push_back(r);
  }
  const float* pw = w->data<float>();
  const std::int64_t k = w->dim(0);
  const std::vector<float> bias = b != nullptr ? b->to_f32() : std::vector<float>{};
  Rewrite rw;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    const std::int64_t cols = p.end - p.begin;
    Tensor wt(DType::f32, {k, cols});
    float* pt = wt.data<float>();
    for (std::int64_t r = 0; r < k; ++r)
      for (std::int64_t c = 0; c < cols; ++c) pt[r * cols + c] = pw[r * n + p.begin + c];
    const std::string base = g.value(p.out).name;
    Node part;
    part.kind = OpKind::Linear;
    part.name = lin.name + "/part" + std::to_string(i);
    part.attrs = lin.attrs;
    part.inputs = {lin.inputs[0], g.add_constant(base + ".w", std::move(wt))};
    if (const auto& q = g.value(lin.inputs[1]).quant) {  // a QDQ file's weight steps: the part's columns
      QuantParams qp = *q;
      if (qp.axis == 1 && static_cast<std::int64_t>(qp.scale.size()) == n)
        qp.scale.assign(q->scale.begin() + p.begin, q->scale.begin() + p.end);
      if (qp.axis == 1 || qp.scale.size() == 1) g.value(part.inputs[1]).quant = qp;
    }
    if (b != nullptr) {
      std::vector<float> bp(bias.begin() + p.begin, bias.begin() + p.end);
      part.inputs.push_back(g.add_constant(base + ".b", Tensor::from_vector<float>({cols}, bp)));
    }
    part.outputs = {p.out};
    rw.nodes.push_back(std::move(part));
  }
  rw.erase = std::move(chain);
  return rw;
}

}  // namespace snnconv::fuse
