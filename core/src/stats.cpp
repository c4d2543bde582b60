#include "snnconv/core/stats.hpp"

namespace snnconv {

namespace {
std::int64_t prod(const std::vector<Dim>& d, std::size_t b, std::size_t e) {
  std::int64_t p = 1;
  for (std::size_t i = b; i < e; ++i) {
    if (!d[i].is_known()) return -1;
    p *= d[i].value;
  }
  return p;
}
}  // namespace

bool is_parameter(const Value& v) {
  return v.constant && is_float(v.constant->dtype()) && v.constant->numel() > 1;
}

std::int64_t node_macs(const Graph& g, const Node& n) {
  auto type = [&](std::size_t i) -> const TensorType& { return g.value(n.inputs[i]).type; };
  auto out = [&]() -> const TensorType& { return g.value(n.outputs[0]).type; };
  switch (n.kind) {
    case OpKind::MatMul:
    case OpKind::SpikeMatMul: {
      // MACs = elements of the output x the contracted dim.
      const auto& a = type(0).dims;
      if (!out().rank_known || a.empty()) return -1;
      const std::int64_t k = prod(a, a.size() - 1, a.size());
      const std::int64_t o = prod(out().dims, 0, out().dims.size());
      return (k < 0 || o < 0) ? -1 : k * o;
    }
    case OpKind::Gemm: {
      const auto& at = std::get<GemmAttrs>(n.attrs);
      const auto& a = type(0).dims;
      if (a.size() != 2) return -1;
      const std::int64_t k = at.trans_a ? prod(a, 0, 1) : prod(a, 1, 2);
      const std::int64_t o = prod(out().dims, 0, out().dims.size());
      return (k < 0 || o < 0) ? -1 : k * o;
    }
    case OpKind::Linear:
    case OpKind::SynapseLinear: {
      const auto& w = type(1).dims;
      const std::int64_t k = prod(w, 0, 1);
      const std::int64_t o = prod(out().dims, 0, out().dims.size());
      return (k < 0 || o < 0) ? -1 : k * o;
    }
    case OpKind::Conv:
    case OpKind::SynapseConv: {
      // Each output element reads (C_in / group) x kernel elements.
      const auto& w = type(1).dims;
      const std::int64_t per_out = prod(w, 1, w.size());
      const std::int64_t o = prod(out().dims, 0, out().dims.size());
      return (per_out < 0 || o < 0) ? -1 : per_out * o;
    }
    case OpKind::Attention: {
      // q.k^T: B*H*Nq*Nk*D; p.v: B*H*Nq*Nk*Dv.
      const auto& q = type(0).dims;
      const auto& k = type(1).dims;
      const auto& v = type(2).dims;
      if (q.size() != 4 || k.size() != 4 || v.size() != 4) return -1;
      const std::int64_t bhn = prod(q, 0, 3), nk = prod(k, 2, 3), d = prod(q, 3, 4), dv = prod(v, 3, 4);
      if (bhn < 0 || nk < 0 || d < 0 || dv < 0) return -1;
      return bhn * nk * (d + dv);
    }
    default: return 0;
  }
}

GraphStats compute_stats(const Graph& g) {
  GraphStats s;
  std::vector<bool> counted(g.num_values(), false);
  for (std::size_t i = 0; i < g.num_values(); ++i) {
    const Value& v = g.value(ValueId(static_cast<std::uint32_t>(i)));
    if (!is_parameter(v)) continue;
    s.params += v.constant->numel();
    const int bits = v.quant ? v.quant->bits : static_cast<int>(dtype_size(v.constant->dtype()) * 8);
    s.param_bytes += (v.constant->numel() * bits + 7) / 8;
  }
  bool macs_known = true;
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    ++s.op_histogram[std::string(op_name(n.kind))];
    NodeStats ns;
    ns.node = id;
    for (ValueId in : n.inputs)
      if (in.valid() && !counted[in.index] && is_parameter(g.value(in))) {
        counted[in.index] = true;
        ns.params += g.value(in).constant->numel();
      }
    ns.macs = node_macs(g, n);
    if (ns.macs < 0) macs_known = false;
    else s.macs += ns.macs;
    s.per_node.push_back(ns);
  }
  if (!macs_known) s.macs = -1;
  return s;
}

}  // namespace snnconv
