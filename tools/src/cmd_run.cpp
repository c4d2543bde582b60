// `snnconv run MODEL [--data FILE.h5] [--split test] [--limit N] [--batch N] [--seq N] [--threads N]
//  [--engine ann] [--reference] [--dims ...] [--json]`
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "snnconv/cascade/evaluate.hpp"

namespace snnconv::cli {

namespace {
struct RunOptions {
  cascade::EvalOptions eval;
  std::string engine = "ann";
  std::string dims;
  bool json = false;
};

nlohmann::json counters_json(const Counters& c) {
  nlohmann::json macs = nlohmann::json::object();
  for (std::size_t w = 0; w < kWidthSlots; ++w)
    if (c.macs[w] != 0) macs[std::to_string(w)] = c.macs[w];
  nlohmann::json read = nlohmann::json::object(), written = nlohmann::json::object();
  for (std::size_t m = 0; m < kMemClassCount; ++m) {
    const std::string name(mem_class_name(static_cast<MemClass>(m)));
    if (c.bytes_read[m] != 0) read[name] = c.bytes_read[m];
    if (c.bytes_written[m] != 0) written[name] = c.bytes_written[m];
  }
  return {{"macs_by_width", macs}, {"dense_ops", c.dense_ops}, {"nonlinear_ops", c.nonlinear_ops},
          {"bytes_read", read},    {"bytes_written", written}};
}

int run_run(RunOptions& o) {
  if (o.engine != "ann") throw UsageError("--engine " + o.engine + " is not available yet (ann only)");
  o.eval.dims = parse_dims(o.dims);
  const cascade::EvalResult r = cascade::evaluate(o.eval);
  const Counters total = r.ledger.total();
  if (o.json) {
    nlohmann::json j;
    j["model"] = r.model;
    j["data"] = r.data;
    j["split"] = o.eval.split;
    j["task"] = r.task;
    j["engine"] = o.engine;
    j["samples"] = r.samples;
    j["metric"] = {{"name", r.metric}, {"value", r.value}};
    j["metrics"] = nlohmann::json::object();
    for (const auto& [name, value] : r.extra) j["metrics"][name] = value;
    j["seconds"] = r.seconds;
    j["samples_per_s"] = r.samples_per_s;
    j["ledger_samples"] = r.ledger.samples;
    j["total"] = counters_json(total);
    j["layers"] = nlohmann::json::array();
    for (std::size_t i = 0; i < r.ledger.per_node.size(); ++i) {
      nlohmann::json row = counters_json(r.ledger.per_node[i]);
      row["name"] = r.ledger.node_names[i];
      row["op"] = std::string(op_name(r.ledger.node_ops[i]));
      row["kernel"] = i < r.kernels.size() ? r.kernels[i] : "reference";
      j["layers"].push_back(std::move(row));
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model       {}\n", r.model);
  fmt::print("data        {} (split {}, task {})\n", r.data, o.eval.split, r.task);
  fmt::print("{:<11} {:.4f} on {} {}\n", r.metric, r.value, r.samples,
             r.task == "language_model" ? "windows" : "samples");
  for (const auto& [name, value] : r.extra) fmt::print("{:<11} {:.6g}\n", name, value);
  fmt::print("throughput  {:.1f} {}/s ({:.3f} s in the engine)\n", r.samples_per_s,
             r.task == "language_model" ? "windows" : "samples", r.seconds);
  const double per = r.ledger.samples > 0 ? static_cast<double>(r.ledger.samples) : 1.0;
  fmt::print("per sample  {:.0f} MACs, {:.0f} dense ops, {:.0f} nonlinear ops\n",
             static_cast<double>(total.total_macs()) / per, static_cast<double>(total.dense_ops) / per,
             static_cast<double>(total.nonlinear_ops) / per);
  return 0;
}
}  // namespace

void add_run(CLI::App& app, Action& action) {
  auto opts = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Run a model on a dataset split with the dense engine: metric, throughput "
                                        "and (with --json) the per-layer ledger. Scores classification "
                                        "(accuracy; ROC AUC with two classes), language_model (bits per byte) "
                                        "and vqa (exact match); program_synthesis not yet");
  cmd->add_option("model", opts->eval.model, "ONNX model file")->required();
  cmd->add_option("--data", opts->eval.data, "Dataset file (.h5); default: the model's snnconv.data metadata");
  cmd->add_option("--split", opts->eval.split, "Dataset split")->capture_default_str();
  cmd->add_option("--limit", opts->eval.limit, "Score at most N samples (language models: windows)");
  cmd->add_option("--batch", opts->eval.batch, "Samples per forward pass")->capture_default_str();
  cmd->add_option("--seq", opts->eval.seq, "Language models: window length (default: snnconv.max_seq)");
  cmd->add_option("--threads", opts->eval.threads, "Worker threads (0: every core; results do not depend on it)")
      ->capture_default_str();
  cmd->add_option("--engine", opts->engine, "Engine: ann")->capture_default_str();
  cmd->add_flag("--reference", opts->eval.reference_only, "Run every node with its reference kernel");
  cmd->add_flag("!--no-fuse", opts->eval.fuse, "Run the imported graph as is, without operator fusion");
  cmd->add_option("--dims", opts->dims, "Sizes of other symbolic input dims, e.g. lang=3");
  cmd->add_flag("--json", opts->json, "Print the result with the per-layer ledger as JSON");
  cmd->callback([opts, &action] { action = [opts] { return run_run(*opts); }; });
}

}  // namespace snnconv::cli
