#include "snnconv/core/graph.hpp"

#include <algorithm>

namespace snnconv {

ValueId Graph::add_value(Value v) {
  values_.push_back(std::move(v));
  return ValueId(static_cast<std::uint32_t>(values_.size() - 1));
}

ValueId Graph::add_constant(std::string value_name, Tensor t) {
  Value v;
  v.name = std::move(value_name);
  v.type = TensorType::of(t.dtype(), t.shape());
  v.constant = std::move(t);
  return add_value(std::move(v));
}

NodeId Graph::add_node(Node n) {
  const NodeId id(static_cast<std::uint32_t>(nodes_.size()));
  for (ValueId o : n.outputs)
    if (o.valid()) values_.at(o.index).producer = id;
  nodes_.push_back(std::move(n));
  return id;
}

ValueId Graph::find_value(std::string_view value_name) const {
  for (std::size_t i = 0; i < values_.size(); ++i)
    if (values_[i].name == value_name) return ValueId(static_cast<std::uint32_t>(i));
  return {};
}

ErrorContext Graph::context(NodeId id) const {
  ErrorContext c;
  c.file = source_file;
  if (id.valid() && id.index < nodes_.size()) {
    c.node = nodes_[id.index].name;
    c.op = std::string(op_name(nodes_[id.index].kind));
  }
  return c;
}

std::vector<NodeId> Graph::topological_order() const {
  // Kahn's algorithm over producer edges; the order is deterministic (ties broken by node index).
  const std::size_t n = nodes_.size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<std::uint32_t>> users(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (ValueId in : nodes_[i].inputs) {
      if (!in.valid()) continue;
      if (in.index >= values_.size()) {
        ErrorContext c = context(NodeId(static_cast<std::uint32_t>(i)));
        throw GraphError("input id " + std::to_string(in.index) + " is out of range", c);
      }
      const Value& v = values_[in.index];
      if (v.producer.valid()) {
        ++pending[i];
        users[v.producer.index].push_back(static_cast<std::uint32_t>(i));
      } else if (!v.constant && std::find(inputs_.begin(), inputs_.end(), in) == inputs_.end()) {
        ErrorContext c = context(NodeId(static_cast<std::uint32_t>(i)));
        c.value = v.name;
        throw GraphError("input '" + v.name + "' is never produced (not a graph input, constant or node output)", c);
      }
    }
  }
  std::vector<NodeId> order;
  order.reserve(n);
  std::vector<std::uint32_t> ready;
  for (std::size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push_back(static_cast<std::uint32_t>(i));
  // A min-heap on index keeps the order stable and close to the file order.
  std::make_heap(ready.begin(), ready.end(), std::greater<>());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<>());
    const std::uint32_t i = ready.back();
    ready.pop_back();
    order.push_back(NodeId(i));
    for (std::uint32_t u : users[i])
      if (--pending[u] == 0) {
        ready.push_back(u);
        std::push_heap(ready.begin(), ready.end(), std::greater<>());
      }
  }
  if (order.size() != n) {
    for (std::size_t i = 0; i < n; ++i)
      if (pending[i] > 0)
        throw GraphError("the graph has a cycle through this node", context(NodeId(static_cast<std::uint32_t>(i))));
  }
  return order;
}

std::vector<std::vector<NodeId>> Graph::consumers() const {
  std::vector<std::vector<NodeId>> c(values_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    for (ValueId in : nodes_[i].inputs)
      if (in.valid()) c[in.index].push_back(NodeId(static_cast<std::uint32_t>(i)));
  return c;
}

void Graph::replace_uses(ValueId from, ValueId to) {
  for (auto& n : nodes_)
    for (auto& in : n.inputs)
      if (in == from) in = to;
  for (auto& o : outputs_)
    if (o == from) o = to;
}

void Graph::erase_nodes(const std::vector<NodeId>& ids) {
  std::vector<bool> erase(nodes_.size(), false);
  for (NodeId id : ids) erase.at(id.index) = true;
  std::vector<Node> kept;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(nodes_[i]));
  nodes_ = std::move(kept);
  for (auto& v : values_) v.producer = NodeId();
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    for (ValueId o : nodes_[i].outputs)
      if (o.valid()) values_[o.index].producer = NodeId(static_cast<std::uint32_t>(i));
  remove_dead();
}

void Graph::remove_dead() {
  // Mark live values backwards from the outputs.
  std::vector<bool> live_value(values_.size(), false), live_node(nodes_.size(), false);
  std::vector<ValueId> stack(outputs_.begin(), outputs_.end());
  while (!stack.empty()) {
    ValueId v = stack.back();
    stack.pop_back();
    if (!v.valid() || live_value[v.index]) continue;
    live_value[v.index] = true;
    NodeId p = values_[v.index].producer;
    if (p.valid() && !live_node[p.index]) {
      live_node[p.index] = true;
      for (ValueId in : nodes_[p.index].inputs) stack.push_back(in);
      for (ValueId o : nodes_[p.index].outputs)
        if (o.valid()) live_value[o.index] = true;  // keep sibling outputs (Split) addressable
    }
  }
  for (ValueId in : inputs_) live_value[in.index] = true;  // graph inputs stay even when unused
  // Renumber.
  std::vector<std::uint32_t> value_map(values_.size(), ValueId::kInvalid);
  std::vector<Value> new_values;
  for (std::size_t i = 0; i < values_.size(); ++i)
    if (live_value[i]) {
      value_map[i] = static_cast<std::uint32_t>(new_values.size());
      new_values.push_back(std::move(values_[i]));
    }
  std::vector<Node> new_nodes;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (live_node[i]) new_nodes.push_back(std::move(nodes_[i]));
  auto remap = [&](ValueId& v) {
    if (v.valid()) v = ValueId(value_map[v.index]);
  };
  for (auto& n : new_nodes) {
    for (auto& v : n.inputs) remap(v);
    for (auto& v : n.outputs) remap(v);
  }
  for (auto& v : inputs_) remap(v);
  for (auto& v : outputs_) remap(v);
  values_ = std::move(new_values);
  nodes_ = std::move(new_nodes);
  for (auto& v : values_) v.producer = NodeId();
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    for (ValueId o : nodes_[i].outputs)
      if (o.valid()) values_[o.index].producer = NodeId(static_cast<std::uint32_t>(i));
}

}  // namespace snnconv
