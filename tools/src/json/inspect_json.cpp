// The inspect JSON builders (inspect_json.hpp), moved out of cmd_inspect.cpp so that the Python module calls the
// same code.
#include "json/inspect_json.hpp"

#include "snnconv/core/stats.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace snnconv::cli {

namespace {
nlohmann::json value_json(const Graph& g, ValueId v) {
  const Value& val = g.value(v);
  nlohmann::json dims = nlohmann::json::array();
  for (const auto& d : val.type.dims) dims.push_back(d.is_known() ? nlohmann::json(d.value) : nlohmann::json(d.symbol));
  return {{"name", val.name}, {"dtype", std::string(dtype_name(val.type.dtype))}, {"shape", dims}};
}
}  // namespace

nlohmann::json inspect_graph_json(const std::string& model, const Graph& g, const nlohmann::json& fusions) {
  const GraphStats st = compute_stats(g);
  const auto bound = g.metadata.count("snnconv.bound_dims") ? g.metadata.at("snnconv.bound_dims") : std::string();
  nlohmann::json j;
  j["model"] = model;
  j["opset"] = g.opset;
  j["bound_dims"] = bound;
  j["inputs"] = nlohmann::json::array();
  for (ValueId v : g.inputs()) j["inputs"].push_back(value_json(g, v));
  j["outputs"] = nlohmann::json::array();
  for (ValueId v : g.outputs()) j["outputs"].push_back(value_json(g, v));
  j["params"] = st.params;
  j["param_bytes"] = st.param_bytes;
  j["macs"] = st.macs;
  j["op_histogram"] = st.op_histogram;
  j["metadata"] = g.metadata;
  if (!fusions.is_null()) j["fusions"] = fusions;
  j["layers"] = nlohmann::json::array();
  for (const auto& ns : st.per_node) {
    const Node& n = g.node(ns.node);
    j["layers"].push_back({{"name", n.name},
                           {"op", std::string(op_name(n.kind))},
                           {"output", type_to_string(g.value(n.outputs[0]).type)},
                           {"params", ns.params},
                           {"macs", ns.macs}});
  }
  return j;
}

// Parameters as for ONNX (is_parameter: floating-point constants with more than one element: weights, biases, norm
// gains, tables), counted at their first reader.
nlohmann::json inspect_model_file_json(const std::string& path, const pipeline::QuantizedModel& m) {
  const Graph& g = m.qann;
  nlohmann::json layers = nlohmann::json::array();
  std::int64_t total = 0;
  std::vector<bool> seen(g.num_values(), false);
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    std::int64_t params = 0;
    nlohmann::json l = {{"name", n.name}, {"op", std::string(op_name(n.kind))}, {"weight", ""}};
    for (ValueId in : n.inputs) {
      if (!in.valid() || !g.is_constant(in) || seen[in.index] || !is_parameter(g.value(in))) continue;
      seen[in.index] = true;
      params += g.value(in).constant->numel();
      const Value& v = g.value(in);
      if (v.constant->rank() == 2 && l["weight"].get<std::string>().empty()) {
        l["weight"] = shape_to_string(v.constant->shape());
        if (v.quant) {
          l["weight_bits"] = v.quant->bits;
          l["weight_group"] = v.quant->group_size;  // 0: one step per output channel
          l["weight_steps"] = static_cast<std::int64_t>(v.quant->scale.size());
        }
      }
    }
    total += params;
    l["params"] = params;
    if (params > 0) layers.push_back(std::move(l));
  }
  nlohmann::json j;
  j["model_file"] = path;
  j["source_model"] = m.model;
  j["data"] = m.data;
  j["params"] = total;
  j["nodes"] = g.num_nodes();
  j["layers"] = std::move(layers);
  return j;
}

}  // namespace snnconv::cli
