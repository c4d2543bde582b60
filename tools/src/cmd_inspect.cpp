// `snnconv inspect MODEL.onnx [--dims ...] [--ir] [--json]`, or `snnconv inspect MODEL.snn.h5` (a model file
// from `snnconv convert` or `snnconv compress`: its QANN graph's parameters per weight-bearing node).
#include <fmt/core.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <optional>

#include "commands.hpp"
#include "snnconv/datasets/nir_file.hpp"
#include "json/inspect_json.hpp"
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
  const nlohmann::json j = inspect_model_file_json(o.model, m);
  if (o.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model file  {} (from {}, stage {})\n", o.model, m.model, stage_name(g.stage));
  for (ValueId v : g.inputs()) fmt::print("input       {} {}\n", g.value(v).name, type_to_string(g.value(v).type));
  for (ValueId v : g.outputs()) fmt::print("output      {} {}\n", g.value(v).name, type_to_string(g.value(v).type));
  fmt::print("parameters  {}\n", with_commas(j["params"].get<std::int64_t>()));
  fmt::print("nodes       {} (QANN), {} (SNN)\n\n", g.num_nodes(), m.snn.num_nodes());
  std::size_t name_w = 4;
  for (const auto& r : j["layers"]) name_w = std::max(name_w, r["name"].get<std::string>().size());
  name_w = std::min<std::size_t>(name_w, 48);
  fmt::print("{:<{}}  {:<18}  {:<12}  {:>10}  {}\n", "name", name_w, "op", "weight", "params", "quant");
  for (const auto& r : j["layers"]) {
    const std::string full = r["name"].get<std::string>();
    const std::string name = full.size() > name_w ? "..." + full.substr(full.size() - name_w + 3) : full;
    const std::string quant =
        r.contains("weight_bits")
            ? fmt::format("W{} {}", r["weight_bits"].get<int>(),
                          r["weight_group"].get<int>() > 0 ? fmt::format("g{}", r["weight_group"].get<int>()) : "ch")
            : "";
    fmt::print("{:<{}}  {:<18}  {:<12}  {:>10}  {}\n", name, name_w, r["op"].get<std::string>(),
               r["weight"].get<std::string>(), with_commas(r["params"].get<std::int64_t>()), quant);
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
    fmt::print("{}\n", inspect_graph_json(o.model, g, fusion ? nlohmann::json(fusion->per_pattern) : nlohmann::json()).dump(2));
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
