// NIR files at the command line (docs/nir.md): `snnconv run F.nir --data x.npz`, `snnconv F.nir` (the report,
// reduced for NIR: the run's ledger priced on every profile), `snnconv inspect F.nir`. The commands detect a
// NIR file (datasets::is_nir_file) and call these; the library work is pipeline/nir_model.hpp.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "json/nir_json.hpp"
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/datasets/nir_file.hpp"
#include "snnconv/datasets/npz.hpp"
#include "snnconv/pipeline/nir_model.hpp"

namespace snnconv::cli {

void add_nir_options(CLI::App* cmd, NirCliOptions& o) {
  cmd->add_option("--dt", o.dt_s,
                  "NIR files: simulation step in seconds (NIR's time constants are in seconds; Sinabs' IF files are "
                  "per-step: --dt 1)")
      ->capture_default_str();
  cmd->add_option("--nir-method", o.method,
                  "NIR files: discretisation of the neurons' ODEs: euler (forward Euler, as Norse, snnTorch and Sinabs "
                  "step) or exact (exponential, input held over the step)")
      ->capture_default_str();
  cmd->add_option("--steps", o.steps, "NIR files without --data: timesteps of the seeded random spike input")
      ->capture_default_str();
  cmd->add_option("--spike-rate", o.rate, "NIR files without --data: spike probability per input and step")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "NIR files without --data: seed of the random spike input")->capture_default_str();
}

// An .onnx name is taken at its word without opening the file: the front door reads an ONNX model exactly once.
bool is_nir_path(const std::string& path) {
  if (path.ends_with(".nir")) return true;
  if (path.ends_with(".onnx")) return false;
  return datasets::is_nir_file(path);
}

namespace {

snn::NirOptions network_options(const NirCliOptions& o) {
  snn::NirOptions n;
  n.dt_s = o.dt_s;
  if (o.method == "euler") n.method = snn::NirMethod::euler;
  else if (o.method == "exact") n.method = snn::NirMethod::exact;
  else throw UsageError("--nir-method must be euler or exact, got '" + o.method + "'");
  return n;
}

// The input spikes: the .npz array named "input" (or the Input node's name, or the only array), [B, T, *shape]
// or [T, *shape]; without data, seeded Bernoulli spikes.
Tensor nir_input(const pipeline::NirModel& m, const std::string& data, std::int64_t samples, const NirCliOptions& o,
                 std::string& described) {
  if (data.empty()) {
    described = fmt::format("{} samples x {} steps of random spikes (rate {}, seed {})", samples, o.steps, o.rate, o.seed);
    return pipeline::random_spikes(m.network.input_shape(), samples, o.steps, o.rate, o.seed);
  }
  std::vector<datasets::NpyArray> arrays = datasets::read_npz(data);
  std::string input_name;
  for (const auto& n : m.network.nodes())
    if (n.type == nir::NodeType::Input) input_name = n.name;
  for (auto& a : arrays)
    if (a.name == "input" || a.name == input_name) {
      described = fmt::format("{} (array '{}', shape {})", data, a.name, shape_to_string(a.values.shape()));
      return std::move(a.values);
    }
  if (arrays.size() == 1) {
    described = fmt::format("{} (array '{}', shape {})", data, arrays[0].name, shape_to_string(arrays[0].values.shape()));
    return std::move(arrays[0].values);
  }
  throw UsageError(fmt::format("{}: no array named 'input' or '{}' (the NIR Input node) among {} arrays", data,
                               input_name, arrays.size()),
                   ErrorContext{data, {}, {}, {}});
}

void print_prices(const std::vector<hw::ProfilePrice>& prices) {
  fmt::print("{:<14} {:<13} {:>16}  {}\n", "profile", "kind", "pJ / inference", "");
  for (const auto& p : prices)
    fmt::print("{:<14} {:<13} {:>16.4g}  {}\n", p.profile, p.kind, p.result.energy_per_inference_pj(),
               p.result.fits ? "" : "does not fit: " + p.result.shortfall);
}

nlohmann::json nodes_json(const pipeline::NirModel& m) {
  nlohmann::json nodes = nlohmann::json::array();
  for (std::size_t i = 0; i < m.network.nodes().size(); ++i) {
    const auto& n = m.network.nodes()[i];
    std::int64_t params = 0;
    for (const auto& p : m.network.graph().nodes[i].params)
      if (p.type != nir::ParamType::i64) params += p.numel();
    nodes.push_back({{"name", n.name},
                     {"type", std::string(nir::node_type_name(n.type))},
                     {"input_shape", n.input_shape},
                     {"output_shape", n.output_shape},
                     {"parameters", params},
                     {"recurrent_inputs", n.back_sources.size()}});
  }
  return nodes;
}

}  // namespace

int run_nir_file(const std::string& path, const std::string& data, const std::string& save_outputs, bool json,
                 const NirCliOptions& o) {
  const pipeline::NirModel m = pipeline::load_nir(path, network_options(o));
  if (data.empty()) throw UsageError("run " + path + ": give the input spikes with --data FILE.npz (docs/nir.md)");
  std::string described;
  const Tensor x = nir_input(m, data, 1, o, described);
  const pipeline::NirRun r = pipeline::run_nir(m, x);
  if (!save_outputs.empty()) datasets::write_npz(save_outputs, {{"output", r.outputs}});
  if (json) {
    nlohmann::json j{{"model", path}, {"data", described}, {"dt_s", o.dt_s}, {"method", o.method},
                     {"output_shape", r.outputs.shape()}, {"total", nir_totals_json(r.ledger)}};
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  const Counters c = r.ledger.total();
  const double per = r.ledger.samples ? static_cast<double>(r.ledger.samples) : 1.0;
  fmt::print("model       {} (NIR {}, {} nodes, {} parameters)\n", path, m.network.graph().version,
             m.network.nodes().size(), m.parameter_count);
  fmt::print("input       {}\n", described);
  fmt::print("simulation  dt = {} s, {}\n", o.dt_s, o.method);
  fmt::print("output      {} (the Output node at every step)\n", shape_to_string(r.outputs.shape()));
  fmt::print("per sample  {:.0f} spikes, {:.0f} synaptic ops, {:.0f} MACs, {:.0f} neuron updates\n",
             static_cast<double>(c.spikes()) / per, static_cast<double>(c.total_acs()) / per,
             static_cast<double>(c.total_macs()) / per, static_cast<double>(c.neuron_updates) / per);
  if (!save_outputs.empty()) fmt::print("outputs     {}\n", save_outputs);
  return 0;
}

int inspect_nir_file(const std::string& path, bool json) {
  const pipeline::NirModel m = pipeline::load_nir(path);
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"model", path},
                                      {"format", "NIR"},
                                      {"version", m.network.graph().version},
                                      {"parameters", m.parameter_count},
                                      {"neurons", m.network.neurons()},
                                      {"nodes", nodes_json(m)}}
                           .dump(2));
    return 0;
  }
  fmt::print("model       {} (NIR {})\n", path, m.network.graph().version);
  fmt::print("input       {}   output {}\n", shape_to_string(m.network.input_shape()),
             shape_to_string(m.network.output_shape()));
  fmt::print("parameters  {}   neurons {}\n\n", m.parameter_count, m.network.neurons());
  fmt::print("{:<16} {:<11} {:<14} {:<14} {:>10}\n", "node", "type", "in", "out", "params");
  for (const auto& n : nodes_json(m))
    fmt::print("{:<16} {:<11} {:<14} {:<14} {:>10}{}\n", n["name"].get<std::string>(), n["type"].get<std::string>(),
               n["input_shape"].dump(), n["output_shape"].dump(), n["parameters"].get<std::int64_t>(),
               n["recurrent_inputs"].get<std::size_t>() ? "  (recurrent input)" : "");
  return 0;
}

int report_nir_file(const std::string& path, const std::string& data, std::int64_t samples, const std::string& out,
                    const std::vector<std::string>& profiles, const NirCliOptions& o) {
  const pipeline::NirModel m = pipeline::load_nir(path, network_options(o));
  std::string described;
  const Tensor x = nir_input(m, data, samples, o, described);
  const pipeline::NirRun r = pipeline::run_nir(m, x);
  const std::vector<hw::ProfilePrice> prices = pipeline::price_nir(m, r.ledger, profiles);
  const nlohmann::json j{{"model", {{"file", path}, {"format", "NIR"}, {"version", m.network.graph().version},
                                    {"parameters", m.parameter_count}, {"neurons", m.network.neurons()}}},
                         {"input", described},
                         {"simulation", {{"dt_s", o.dt_s}, {"method", o.method}}},
                         {"nodes", nodes_json(m)},
                         {"total", nir_totals_json(r.ledger)},
                         {"prices", nir_prices_json(prices)}};
  const std::string dir = out.empty() ? std::filesystem::path(path).stem().string() + "_report" : out;
  AtomicFolder folder(dir, "report folder");
  folder.write("report.json", j.dump(2) + "\n");
  folder.commit();
  fmt::print("model       {} (NIR {}, {} parameters, {} neurons)\n", path, m.network.graph().version, m.parameter_count,
             m.network.neurons());
  fmt::print("input       {}\n", described);
  fmt::print("simulation  dt = {} s, {}\n", o.dt_s, o.method);
  const Counters c = r.ledger.total();
  const double per = r.ledger.samples ? static_cast<double>(r.ledger.samples) : 1.0;
  fmt::print("per sample  {:.0f} spikes, {:.0f} synaptic ops, {:.0f} MACs, {:.0f} neuron updates\n\n",
             static_cast<double>(c.spikes()) / per, static_cast<double>(c.total_acs()) / per,
             static_cast<double>(c.total_macs()) / per, static_cast<double>(c.neuron_updates) / per);
  print_prices(prices);
  fmt::print("\nreport      {}/report.json (NIR files get the priced run only: no ANN baseline, no plots)\n", dir);
  return 0;
}

}  // namespace snnconv::cli
