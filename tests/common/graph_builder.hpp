// A tiny helper to build graphs in tests.
#pragma once

#include "snnconv/core/graph.hpp"
#include "snnconv/core/shape_inference.hpp"

namespace snnconv::test {

inline ValueId input(Graph& g, const std::string& name, DType t, const Shape& s) {
  Value v;
  v.name = name;
  v.type = TensorType::of(t, s);
  ValueId id = g.add_value(std::move(v));
  auto in = g.inputs();
  in.push_back(id);
  g.set_inputs(in);
  return id;
}

inline std::vector<ValueId> node(Graph& g, OpKind k, std::vector<ValueId> inputs, Attrs attrs = NoAttrs{},
                                 int outputs = 1, const std::string& name = "") {
  Node n;
  n.kind = k;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  n.name = name.empty() ? std::string(op_name(k)) + "_" + std::to_string(g.num_nodes()) : name;
  for (int i = 0; i < outputs; ++i) {
    Value v;
    v.name = n.name + (outputs > 1 ? "_out" + std::to_string(i) : "_out");
    n.outputs.push_back(g.add_value(std::move(v)));
  }
  const auto outs = n.outputs;
  NodeId id = g.add_node(std::move(n));
  auto types = infer_node(g, id);
  for (std::size_t i = 0; i < outs.size(); ++i) g.value(outs[i]).type = types[i];
  return outs;
}

inline ValueId ints(Graph& g, const std::string& name, std::vector<std::int64_t> v) {
  return g.add_constant(name, Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(v.size())}, v));
}

inline Shape shape_of(const Graph& g, ValueId v) { return g.value(v).type.static_shape(); }

}  // namespace snnconv::test
