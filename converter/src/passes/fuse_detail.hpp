// Private pieces of the fusion pass: the read-only view rules match against, and the rule table type.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv::fuse {

// Consumers and small queries over a graph that does not change while one rule matches.
class View {
public:
  explicit View(const Graph& g);

  const Graph& graph() const { return g_; }
  const Node& node(NodeId id) const { return g_.node(id); }
  // The node producing v when it has kind k, else an invalid id.
  NodeId producer(ValueId v, OpKind k) const;
  // The only node reading v (in exactly one input slot) when v is no graph output; else invalid.
  NodeId sole_consumer(ValueId v) const;
  // True when every reader of v is one of `allowed` and v is no graph output.
  bool read_only_by(ValueId v, const std::vector<NodeId>& allowed) const;
  const Tensor* constant(ValueId v) const;
  // The value of a one-element floating constant.
  std::optional<float> scalar(ValueId v) const;
  // The value of a floating constant whose elements are all equal (a full_like fill folded to a tensor).
  std::optional<float> uniform(ValueId v) const;
  // The other operand of a binary node whose inputs include `v`; invalid when v is not an input.
  ValueId other_input(const Node& n, ValueId v) const;
  bool is_graph_output(ValueId v) const;
  const std::vector<NodeId>& readers(ValueId v) const { return consumers_.at(v.index); }

private:
  const Graph& g_;
  std::vector<std::vector<NodeId>> consumers_;
};

// What a rule replaces: the new nodes are added in order (their outputs are values already in the graph,
// or made by the rule), then `erase` is removed; the last new node produces the chain's final value, so
// its readers need no rewiring.
struct Rewrite {
  std::vector<Node> nodes;
  std::vector<NodeId> erase;
};

// One rewrite rule: a cheap op-kind filter on the anchor node, then `match` checks the condition and
// builds the rewrite (it may add constants and values to the graph; unused ones die with remove_dead).
struct Rule {
  std::string_view name;
  OpKind anchor;
  std::optional<Rewrite> (*match)(Graph& g, const View& view, NodeId anchor);
};

bool near(float a, float b, float tolerance = 1e-6f);
// A new value of the given type (named after `base`) for outputs made by a rewrite.
ValueId add_value(Graph& g, const std::string& name, TensorType type);

// Rules by family (fuse_norm.cpp, fuse_linear.cpp, fuse_attention.cpp).
std::optional<Rewrite> match_layer_norm(Graph& g, const View& view, NodeId anchor);
std::optional<Rewrite> match_gelu(Graph& g, const View& view, NodeId anchor);
std::optional<Rewrite> match_gelu_tanh(Graph& g, const View& view, NodeId anchor);
std::optional<Rewrite> match_matmul_linear(Graph& g, const View& view, NodeId anchor);
std::optional<Rewrite> match_gemm_linear(Graph& g, const View& view, NodeId anchor);
std::optional<Rewrite> match_attention(Graph& g, const View& view, NodeId anchor);

}  // namespace snnconv::fuse
