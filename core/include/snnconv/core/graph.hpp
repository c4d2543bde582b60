// The graph IR: nodes and values in flat arrays, referenced by strong ids.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/ids.hpp"
#include "snnconv/core/op.hpp"
#include "snnconv/core/tensor.hpp"
#include "snnconv/core/types.hpp"

namespace snnconv {

struct Value {
  std::string name;
  TensorType type;
  NodeId producer;                   // invalid for graph inputs and constants
  std::optional<Tensor> constant;    // weights and folded constants
  std::optional<QuantParams> quant;  // set on quantized values
};

struct Node {
  OpKind kind = OpKind::Identity;
  std::vector<ValueId> inputs;  // an invalid id marks an absent optional input
  std::vector<ValueId> outputs;
  Attrs attrs;
  std::string name;
};

class Graph {
public:
  std::string name;
  int opset = 17;
  Stage stage = Stage::imported;
  std::string source_file;                     // the file it was imported from (error context)
  std::map<std::string, std::string> metadata;  // ONNX metadata_props and provenance

  ValueId add_value(Value v);
  ValueId add_constant(std::string value_name, Tensor t);
  // Adds a node and sets the producer of its outputs.
  NodeId add_node(Node n);

  std::size_t num_nodes() const { return nodes_.size(); }
  std::size_t num_values() const { return values_.size(); }
  const Node& node(NodeId id) const { return nodes_.at(id.index); }
  Node& node(NodeId id) { return nodes_.at(id.index); }
  const Value& value(ValueId id) const { return values_.at(id.index); }
  Value& value(ValueId id) { return values_.at(id.index); }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Value>& values() const { return values_; }

  const std::vector<ValueId>& inputs() const { return inputs_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }
  void set_inputs(std::vector<ValueId> ids) { inputs_ = std::move(ids); }
  void set_outputs(std::vector<ValueId> ids) { outputs_ = std::move(ids); }

  ValueId find_value(std::string_view value_name) const;  // invalid when absent
  bool is_constant(ValueId id) const { return id.valid() && value(id).constant.has_value(); }

  // Nodes in an order where every producer precedes its consumers. Throws GraphError naming a node on a
  // cycle, or a node whose input is never produced.
  std::vector<NodeId> topological_order() const;
  // consumers()[v] = nodes reading value v (a node appears once per input slot that reads v).
  std::vector<std::vector<NodeId>> consumers() const;
  // Redirects every use of `from` (node inputs and graph outputs) to `to`.
  void replace_uses(ValueId from, ValueId to);
  // Removes the given nodes and then every node and value no graph output depends on; renumbers ids.
  void erase_nodes(const std::vector<NodeId>& ids);
  void remove_dead();

  // Context for errors about one node.
  ErrorContext context(NodeId id) const;

private:
  std::vector<Node> nodes_;
  std::vector<Value> values_;
  std::vector<ValueId> inputs_;
  std::vector<ValueId> outputs_;
};

}  // namespace snnconv
