// Per-op shape inference, driven by the op table.
#pragma once

#include <map>
#include <string>

#include "snnconv/core/graph.hpp"

namespace snnconv {

class InferContext {
public:
  InferContext(const Graph& g, const Node& n, std::vector<TensorType>& outputs)
      : graph_(g), node_(n), outputs_(outputs) {}

  std::size_t num_inputs() const { return node_.inputs.size(); }
  bool has_input(std::size_t i) const { return i < node_.inputs.size() && node_.inputs[i].valid(); }
  const TensorType& input(std::size_t i) const;
  // The name of input i's value (error messages).
  const std::string& input_name(std::size_t i) const;
  // The constant value of input i, or nullptr when it is not a constant.
  const Tensor* constant(std::size_t i) const;
  // Like constant() but fails with a ShapeError naming `what` when the input is not constant.
  const Tensor& require_constant(std::size_t i, const char* what) const;
  template <typename A> const A& attrs() const { return std::get<A>(node_.attrs); }
  std::size_t num_outputs() const { return node_.outputs.size(); }
  void set_output(std::size_t i, TensorType t) { outputs_.at(i) = std::move(t); }

  [[noreturn]] void fail(const std::string& message) const;
  // A valid model the IR cannot express (a Split whose sizes are computed at run time): UnsupportedError.
  [[noreturn]] void refuse(const std::string& message) const;
  // Normalises a possibly negative axis against `rank`; fails when out of range.
  std::int64_t axis(std::int64_t a, int rank) const;

private:
  const Graph& graph_;
  const Node& node_;
  std::vector<TensorType>& outputs_;
};

// Infers the output types of one node from its inputs (which must already be typed).
std::vector<TensorType> infer_node(const Graph& g, NodeId id);
// Infers every node's outputs in topological order and stores them in the graph.
void infer_shapes(Graph& g);

// Replaces symbolic dims of the graph inputs by the given sizes. Every name must be a symbol of some input
// (else UsageError naming it); symbols left unbound keep their names.
void bind_dims(Graph& g, const std::map<std::string, std::int64_t>& dims);
// Every distinct symbol among the graph inputs' dims, in first-seen order.
std::vector<std::string> input_symbols(const Graph& g);

// numpy broadcasting of two types' dims; fails with a ShapeError through `ctx` on mismatch.
std::vector<Dim> broadcast_dims(const std::vector<Dim>& a, const std::vector<Dim>& b, const InferContext& ctx);

}  // namespace snnconv
