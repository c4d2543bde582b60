// A NIR graph (Neuromorphic Intermediate Representation, docs/nir.md) as plain data: named nodes of a NIR
// primitive type with their parameters, and directed edges between node names. No I/O here (the HDF5 reader
// and writer live in datasets/nir_file.hpp) and no dynamics (snn_core/nir_network.hpp simulates it).
// Parameters are kept as the file stored them (name, element type, shape, values), so a file read and
// written again keeps every parameter, including ones this tool does not use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/tensor.hpp"

namespace snnconv::nir {

enum class NodeType : std::uint8_t {
  Input, Output, Affine, Linear, Scale, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d,
  IF, LIF, CubaLIF, LI, Integrator, Threshold, Count
};
std::string_view node_type_name(NodeType t);
// nullopt for a type this tool does not simulate (the caller lists them in its UnsupportedError).
std::optional<NodeType> parse_node_type(std::string_view name);
// Spiking (IF, LIF, CubaLIF, Threshold) or stateful non-spiking (LI, Integrator) neuron populations.
bool is_neuron(NodeType t);
bool is_spiking(NodeType t);
// Affine, Linear, Conv1d, Conv2d: the nodes with synaptic weights.
bool is_synaptic(NodeType t);

// The element type a parameter was stored with, so that writing it back gives the same bytes.
enum class ParamType : std::uint8_t { f32, f64, i64 };

struct Param {
  std::string name;
  ParamType type = ParamType::f32;
  Shape shape;                 // [] for a scalar dataset
  std::vector<double> values;  // row-major; i64 values are exact below 2^53 (NIR's are small integers)
  std::int64_t numel() const { return static_cast<std::int64_t>(values.size()); }
};

struct Node {
  std::string name;
  NodeType type = NodeType::Input;
  std::vector<Param> params;  // in file order
  const Param* find(std::string_view param) const;
  // The parameter or a GraphError naming the node and the parameter.
  const Param& require(std::string_view param) const;
};

struct Edge {
  std::string src, dst;
};

struct Graph {
  std::string version = "0.2.0";  // NIR format version the file declared
  std::vector<Node> nodes;
  std::vector<Edge> edges;
  std::string source_file;  // for messages
  const Node* find(std::string_view name) const;
};

// Number of stored parameter values of synaptic and neuron nodes (weights, biases, time constants,
// thresholds, ...), i.e. every float parameter; shapes, strides and other integer hyper-parameters are not
// counted. The figure the importers' tests compare with the file.
std::int64_t parameter_count(const Graph& g);

}  // namespace snnconv::nir
