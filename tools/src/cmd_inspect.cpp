// `snnconv inspect MODEL.onnx [--dims ...] [--ir] [--json]`, or `snnconv inspect MODEL.snn.h5` (a model file
// from `snnconv convert` or `snnconv compress`: its QANN graph's parameters per weight-bearing node).
#include <fmt/core.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <optional>

#include "commands.hpp"
#include "snnconv/datasets/nir_file.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/dump.hpp"
#include "snnconv/core/si_format.hpp"
#include "snnconv/core/stats.hpp"

namespace snnconv::cli {

namespace {
struct InspectOptions {
  std::string model;
  std::string dims;
  bool ir = false;
  bool json = false;
  bool fused = false;
  bool quiet = false;
};

std::string with_commas(std::int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return (v < 0 ? "-" : "") + s;
}

// The report's style (decimal SI prefixes), so one model's size reads the same everywhere.
std::string human_bytes(std::int64_t b) {
  return format_bytes(static_cast<double>(b));
}

nlohmann::json value_json(const Graph& g, ValueId v) {
  const Value& val = g.value(v);
  nlohmann::json dims = nlohmann::json::array();
  for (const auto& d : val.type.dims) dims.push_back(d.is_known() ? nlohmann::json(d.value) : nlohmann::json(d.symbol));
  return {{"name", val.name}, {"dtype", std::string(dtype_name(val.type.dtype))}, {"shape", dims}};
}

bool is_hdf5(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  return f.gcount() == 8 && std::string(sig, 8) == std::string("\x89HDF\r\n\x1a\n", 8);
}

// A model file: the QANN graph. Parameters as for ONNX (is_parameter: floating-point constants with more
// than one element: weights, biases, norm gains, tables), counted at their first reader.
int inspect_model_file(const InspectOptions& o) {
  const pipeline::QuantizedModel m = pipeline::load_quantized_model(o.model);
  const Graph& g = m.qann;
  if (o.ir) {
    fmt::print("{}", to_text(g));
    return 0;
  }
  struct Row {
    std::string name, op, weight;
    std::int64_t params = 0;
    int weight_bits = 0, weight_group = 0;  // quantized weight: bits; rows per step (0: per channel)
    std::int64_t weight_steps = 0;
    std::string quant() const {
      if (weight_bits == 0) return "";
      return fmt::format("W{} {}", weight_bits, weight_group > 0 ? fmt::format("g{}", weight_group) : "ch");
    }
  };
  std::vector<Row> rows;
  std::int64_t total = 0;
  std::vector<bool> seen(g.num_values(), false);
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    Row r{n.name, std::string(op_name(n.kind)), "", 0};
    for (ValueId in : n.inputs) {
      if (!in.valid() || !g.is_constant(in) || seen[in.index] || !is_parameter(g.value(in))) continue;
      seen[in.index] = true;
      r.params += g.value(in).constant->numel();
      const Value& v = g.value(in);
      if (v.constant->rank() == 2 && r.weight.empty()) {
        r.weight = shape_to_string(v.constant->shape());
        if (v.quant) {
          r.weight_bits = v.quant->bits;
          r.weight_group = v.quant->group_size;
          r.weight_steps = static_cast<std::int64_t>(v.quant->scale.size());
        }
      }
    }
    total += r.params;
    if (r.params > 0) rows.push_back(std::move(r));
  }
  if (o.json) {
    nlohmann::json j;
    j["model_file"] = o.model;
    j["source_model"] = m.model;
    j["data"] = m.data;
    j["params"] = total;
    j["nodes"] = g.num_nodes();
    j["layers"] = nlohmann::json::array();
    for (const Row& r : rows) {
      nlohmann::json l = {{"name", r.name}, {"op", r.op}, {"weight", r.weight}, {"params", r.params}};
      if (r.weight_bits > 0) {
        l["weight_bits"] = r.weight_bits;
        l["weight_group"] = r.weight_group;  // 0: one step per output channel
        l["weight_steps"] = r.weight_steps;
      }
      j["layers"].push_back(std::move(l));
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model file  {} (from {}, stage {})\n", o.model, m.model, stage_name(g.stage));
  for (ValueId v : g.inputs()) fmt::print("input       {} {}\n", g.value(v).name, type_to_string(g.value(v).type));
  for (ValueId v : g.outputs()) fmt::print("output      {} {}\n", g.value(v).name, type_to_string(g.value(v).type));
  fmt::print("parameters  {}\n", with_commas(total));
  fmt::print("nodes       {} (QANN), {} (SNN)\n\n", g.num_nodes(), m.snn.num_nodes());
  std::size_t name_w = 4;
  for (const Row& r : rows) name_w = std::max(name_w, r.name.size());
  name_w = std::min<std::size_t>(name_w, 48);
  fmt::print("{:<{}}  {:<18}  {:<12}  {:>10}  {}\n", "name", name_w, "op", "weight", "params", "quant");
  for (const Row& r : rows) {
    std::string name = r.name.size() > name_w ? "..." + r.name.substr(r.name.size() - name_w + 3) : r.name;
    fmt::print("{:<{}}  {:<18}  {:<12}  {:>10}  {}\n", name, name_w, r.op, r.weight, with_commas(r.params), r.quant());
  }
  return 0;
}

int run_inspect(const InspectOptions& o) {
  if (is_nir_path(o.model)) return inspect_nir_file(o.model, o.json);
  if (is_hdf5(o.model)) return inspect_model_file(o);
  onnx_import::ImportOptions io;
  io.dims = parse_dims(o.dims);
  Graph g = onnx_import::import_onnx(o.model, io);
  std::optional<FuseStats> fusion;
  if (o.fused) fusion = fuse_graph(g);
  if (o.ir) {
    fmt::print("{}", to_text(g));
    return 0;
  }
  const GraphStats st = compute_stats(g);
  auto bound = g.metadata.count("snnconv.bound_dims") ? g.metadata.at("snnconv.bound_dims") : std::string();
  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
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
    if (fusion) j["fusions"] = fusion->per_pattern;
    j["layers"] = nlohmann::json::array();
    for (const auto& ns : st.per_node) {
      const Node& n = g.node(ns.node);
      j["layers"].push_back({{"name", n.name},
                             {"op", std::string(op_name(n.kind))},
                             {"output", type_to_string(g.value(n.outputs[0]).type)},
                             {"params", ns.params},
                             {"macs", ns.macs}});
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model       {} (opset {})\n", o.model, g.opset);
  if (!bound.empty()) fmt::print("dims        {}\n", bound);
  if (fusion) {
    std::string list;
    for (const auto& [pattern, count] : fusion->per_pattern)
      list += fmt::format("{}{} {}", list.empty() ? "" : ", ", pattern, count);
    fmt::print("fusions     {} ({}); stage {}\n", fusion->total(), list, stage_name(g.stage));
  }
  for (ValueId v : g.inputs()) fmt::print("input       {} {}\n", g.value(v).name, type_to_string(g.value(v).type));
  for (ValueId v : g.outputs()) fmt::print("output      {} {}\n", g.value(v).name, type_to_string(g.value(v).type));
  fmt::print("parameters  {} ({})\n", with_commas(st.params), human_bytes(st.param_bytes));
  fmt::print("MACs        {} per forward pass\n", st.macs < 0 ? std::string("unknown") : with_commas(st.macs));
  std::string hist;
  for (const auto& [op, count] : st.op_histogram) hist += fmt::format("{}{} {}", hist.empty() ? "" : ", ", op, count);
  fmt::print("ops         {} nodes: {}\n\n", g.num_nodes(), hist);
  std::size_t name_w = 4;
  for (const auto& ns : st.per_node) name_w = std::max(name_w, g.node(ns.node).name.size());
  name_w = std::min<std::size_t>(name_w, 48);
  fmt::print("{:<{}}  {:<18}  {:<22}  {:>10}  {:>14}\n", "name", name_w, "op", "output", "params", "MACs");
  for (const auto& ns : st.per_node) {
    const Node& n = g.node(ns.node);
    std::string name = n.name.size() > name_w ? "..." + n.name.substr(n.name.size() - name_w + 3) : n.name;
    fmt::print("{:<{}}  {:<18}  {:<22}  {:>10}  {:>14}\n", name, name_w, op_name(n.kind),
               type_to_string(g.value(n.outputs[0]).type), with_commas(ns.params),
               ns.macs < 0 ? std::string("?") : with_commas(ns.macs));
  }
  return 0;
}
}  // namespace

void add_inspect(CLI::App& app, Action& action) {
  auto opts = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Import an ONNX model and show its inputs, outputs, parameters, MACs "
                                            "and per-layer table; or show an SNN model file's (.snn.h5, from "
                                            "convert or compress) parameters per weight-bearing node");
  cmd->add_option("model", opts->model, "ONNX model file, SNN model file (.snn.h5) or NIR file (.nir)")->required();
  cmd->add_option("--dims", opts->dims,
                  "Sizes of symbolic input dims, e.g. batch=1,seq=128 (unbound: seq from the model's "
                  "snnconv.max_seq metadata, others 1)");
  cmd->add_flag("--ir", opts->ir, "Print the IR's text form instead of the summary");
  cmd->add_flag("--json", opts->json, "Print the summary as JSON");
  cmd->add_flag("--fused", opts->fused,
                "Fuse to the canonical stage first (LayerNorm, Gelu, Linear, Attention) and print the count per "
                "pattern");
  // inspect's output is its answer and it writes nothing else: --quiet is accepted so that scripts can pass it to
  // every command, and changes nothing.
  cmd->add_flag("--quiet", opts->quiet, "Accepted for uniformity: inspect prints its answer only");
  cmd->callback([opts, &action] { action = [opts] { return run_inspect(*opts); }; });
}

}  // namespace snnconv::cli
