// The fusion driver: a table of rewrite rules (op-kind filter, condition, rewrite) run to a fixed point.
// Rules are tried in table order and the scan restarts after every rewrite, so a family that others build
// on (Gelu before the Linear that absorbs it as its activation) is complete before the next one looks.
#include <algorithm>
#include <array>
#include <cmath>

#include "fuse_detail.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/core/shape_inference.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv {
namespace fuse {

View::View(const Graph& g) : g_(g), consumers_(g.consumers()) {}

NodeId View::producer(ValueId v, OpKind k) const {
  if (!v.valid()) return {};
  const NodeId p = g_.value(v).producer;
  if (!p.valid() || g_.node(p).kind != k) return {};
  return p;
}

bool View::is_graph_output(ValueId v) const {
  return std::find(g_.outputs().begin(), g_.outputs().end(), v) != g_.outputs().end();
}

NodeId View::sole_consumer(ValueId v) const {
  if (!v.valid() || is_graph_output(v)) return {};
  const auto& c = consumers_.at(v.index);
  return c.size() == 1 ? c[0] : NodeId{};
}

bool View::read_only_by(ValueId v, const std::vector<NodeId>& allowed) const {
  if (!v.valid() || is_graph_output(v)) return false;
  for (NodeId c : consumers_.at(v.index))
    if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) return false;
  return true;
}

const Tensor* View::constant(ValueId v) const {
  if (!v.valid() || !g_.value(v).constant) return nullptr;
  return &*g_.value(v).constant;
}

std::optional<float> View::scalar(ValueId v) const {
  const Tensor* t = constant(v);
  if (t == nullptr || t->numel() != 1 || !is_float(t->dtype())) return std::nullopt;
  return t->to_f32()[0];
}

std::optional<float> View::uniform(ValueId v) const {
  const Tensor* t = constant(v);
  if (t == nullptr || t->numel() < 1 || !is_float(t->dtype())) return std::nullopt;
  const auto vals = t->to_f32();
  for (float x : vals)
    if (x != vals[0]) return std::nullopt;
  return vals[0];
}

ValueId View::other_input(const Node& n, ValueId v) const {
  if (n.inputs.size() != 2) return {};
  if (n.inputs[0] == v) return n.inputs[1];
  if (n.inputs[1] == v) return n.inputs[0];
  return {};
}

bool near(float a, float b, float tolerance) { return std::fabs(a - b) <= tolerance * std::max(1.0f, std::fabs(b)); }

ValueId add_value(Graph& g, const std::string& name, TensorType type) {
  Value v;
  v.name = name;
  v.type = std::move(type);
  return g.add_value(std::move(v));
}

namespace {

// Table order is priority order (see the file comment).
constexpr std::array<Rule, 13> kRules{{
    {"qdq", OpKind::DequantizeLinear, match_qdq},
    {"layer_norm", OpKind::ReduceMean, match_layer_norm},
    {"rms_norm", OpKind::ReduceMean, match_rms_norm},
    {"gelu", OpKind::Erf, match_gelu},
    {"gelu_tanh", OpKind::Tanh, match_gelu_tanh},
    {"attention", OpKind::Softmax, match_attention},
    {"linear", OpKind::MatMul, match_matmul_linear},
    {"gemm_linear", OpKind::Gemm, match_gemm_linear},
    {"split_linear", OpKind::Linear, match_split_linear},
    {"silu", OpKind::Sigmoid, match_silu},
    {"rotary", OpKind::Add, match_rotary},
    {"linear_scale", OpKind::Mul, match_linear_scale},
    {"linear_scale", OpKind::Div, match_linear_scale},
}};

// Tries every rule on every node once; applies the first rewrite found.
bool apply_one(Graph& g, FuseStats& stats, const std::set<std::string>& skip) {
  for (const Rule& rule : kRules) {
    if (skip.count(std::string(rule.name)) != 0) continue;
    const View view(g);
    for (NodeId id : g.topological_order()) {
      if (g.node(id).kind != rule.anchor) continue;
      std::optional<Rewrite> rw = rule.match(g, view, id);
      if (!rw) continue;
      for (Node& n : rw->nodes) g.add_node(std::move(n));
      g.erase_nodes(rw->erase);
      ++stats.per_pattern[std::string(rule.name)];
      return true;
    }
  }
  return false;
}

}  // namespace
}  // namespace fuse

int FuseStats::total() const {
  int t = 0;
  for (const auto& [name, n] : per_pattern) t += n;
  return t;
}

FuseStats fuse_graph(Graph& g) { return fuse_graph(g, {}); }

FuseStats fuse_graph(Graph& g, const std::set<std::string>& skip) {
  FuseStats stats;
  for (const auto& rule : fuse::kRules) stats.per_pattern[std::string(rule.name)] = 0;
  // Every rewrite removes at least one node, so this terminates; the bound guards a rule bug.
  const std::size_t limit = g.num_nodes() + 1;
  std::size_t rounds = 0;
  while (fuse::apply_one(g, stats, skip))
    if (++rounds > limit) throw GraphError("fusion did not reach a fixed point", g.context(NodeId{}));
  // Leftovers no output needs (the Shape-only pieces of a fused chain, the Transpose of K) go.
  g.remove_dead();
  infer_shapes(g);
  verify(g, Stage::canonical);
  g.stage = Stage::canonical;
  return stats;
}

}  // namespace snnconv
