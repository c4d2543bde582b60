// `snnconv compress MODEL --out model.snn.h5 [--report DIR] [bits, budgets, pruning]`: compression of one
// model on its dataset (pipeline/compress.hpp), the compressed model file and the compression report.
#include <fmt/core.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "compress_mixed_cli.hpp"
#include "options.hpp"
#include "report/report.hpp"
#include "snnconv/pipeline/compress.hpp"
#include "snnconv/converter/onnx_export.hpp"

namespace snnconv::cli {
namespace {

struct CompressCliOptions {
  pipeline::CompressOptions c;
  std::string clip = kDefaultClip;
  std::string out;
  bool quiet = false;
  std::string onnx_out;  // also the compressed QANN as QDQ ONNX (integer form)
  std::string report_dir;
  int threads = 0;
};

nlohmann::json report_json(const pipeline::CompressResult& r, const CompressCliOptions& o) {
  nlohmann::json j;
  j["model"] = r.model.model;
  j["data"] = r.model.data;
  j["calibration"] = {{"split", r.model.calibration_split}, {"samples", r.model.calibration_samples}, {"clip", o.clip}};
  j["params_before"] = r.params_before;
  j["params_after"] = r.params_after;
  j["weight_bytes"] = r.weight_bytes;
  j["weight_group"] = o.c.quant.quant.weight_group;
  j["step_bytes"] = r.step_bytes;
  nlohmann::json units = nlohmann::json::array();
  for (const pipeline::UnitReport& u : r.units) {
    nlohmann::json s = nlohmann::json::object();
    for (const auto& [bits, kl] : u.sensitivity) s[std::to_string(bits)] = kl;
    units.push_back({{"name", u.name}, {"params", u.params}, {"weight_bits", u.weight_bits}, {"sensitivity", s}});
  }
  j["units"] = units;
  j["act_bits"] = r.act_bits;
  j["pruned"] = r.pruned;
  j["mixed_precision"] = mixed_precision_json(r);
  j["accuracy"] = accuracy_json(r);
  return j;
}

std::string report_markdown(const pipeline::CompressResult& r) {
  std::string md = fmt::format("# Compression report: {}\n\nData: {} (calibration: {} samples of '{}')\n\n",
                               r.model.model, r.model.data, r.model.calibration_samples, r.model.calibration_split);
  md += fmt::format("Parameters: {} before, {} after; weight bytes at the allocated bits: {:.0f}, plus {} bytes of "
                    "f32 weight steps ({})\n\n",
                    r.params_before, r.params_after, r.weight_bytes, r.step_bytes,
                    r.weight_group > 0 ? fmt::format("groups of {} rows", r.weight_group) : "per output channel");
  md += "| unit | params | weight bits |\n|---|---:|---:|\n";
  for (const pipeline::UnitReport& u : r.units) md += fmt::format("| {} | {} | {} |\n", u.name, u.params, u.weight_bits);
  if (!r.pruned.empty()) {
    md += "\n## Pruned\n\n";
    for (const std::string& p : r.pruned) md += "- " + p + "\n";
  }
  md += mixed_precision_markdown(r);
  return md;
}

int run_compress(CompressCliOptions& o) {
  require_onnx_model(o.c.quant.model, "compress");
  o.c.quant.quant.clip = parse_clip_method(o.clip);
  o.c.quant.quant.threads = o.threads;
  const pipeline::CompressResult r = pipeline::compress_model(o.c);
  // Every output (report folder, ONNX file, model file) is built and checked before any is renamed into
  // place, so a failure in one (a full disk) leaves none of them.
  AtomicFile model_file(o.out, "model file");
  model_file.write(pipeline::quantized_model_image(r.model, o.c.quant, o.out));
  std::vector<AtomicOutput*> outputs{&model_file};
  std::unique_ptr<report::OutputFiles> files;
  if (!o.report_dir.empty()) {
    files = std::make_unique<report::OutputFiles>(o.report_dir);
    files->write("compression.json", report_json(r, o).dump(2) + "\n");
    files->write("compression.md", report_markdown(r));
    outputs.push_back(&files->folder());
  }
  std::unique_ptr<AtomicFile> onnx_file;
  onnx_export::ExportStats st;
  if (!o.onnx_out.empty()) {
    Graph qann = r.model.qann;
    point_data_from(qann, r.model.data, o.onnx_out);
    qann.metadata["snnconv.task"] = r.model.task;
    onnx_file = std::make_unique<AtomicFile>(o.onnx_out, "ONNX file");
    onnx_file->write(onnx_export::serialize_onnx(qann, o.onnx_out, {}, st));
    outputs.push_back(onnx_file.get());
  }
  commit_together(outputs);
  if (onnx_file)
    if (!o.quiet) fmt::print("{}: the compressed QANN as QDQ ONNX (opset {}, integer form), {} bytes\n", o.onnx_out,
               onnx_export::kExportOpset, st.bytes);
  if (!o.quiet) fmt::print("{}: {} parameters ({} before), {:.0f} weight bytes + {} step bytes, {} quantization points\n", o.out,
             r.params_after, r.params_before, r.weight_bytes, r.step_bytes, r.model.points.size());
  if (r.accuracy.samples > 0)
    if (!o.quiet) fmt::print("{} on {} test samples: float {:.4f}, compressed {:.4f}\n", r.accuracy.metric, r.accuracy.samples,
               r.accuracy.float_value, r.accuracy.compressed_value);
  return 0;
}

}  // namespace

void add_compress(CLI::App& app, Action& action) {
  auto opts = std::make_shared<CompressCliOptions>();
  auto* cmd = app.add_subcommand(
      "compress",
      "Compress a model on its dataset: structural pruning, bias correction, bit allocation (uniform or mixed "
      "precision under a budget), post-training quantization; write the compressed model file (.snn.h5, with "
      "its spiking conversion) and a compression report (docs/compression.md).");
  CompressCliOptions& c = *opts;
  cmd->add_option("model", c.c.quant.model, "ONNX model file")->required();
  cmd->add_option("--data", c.c.quant.data,
                  "Data (.npz named after the model's inputs, or .h5) for calibration and the accuracy check (default: "
                  "the model's snnconv.data)");
  cmd->add_option("--calib-data", c.c.quant.calib_data, "Data to calibrate on (.npz or .h5); default: --data");
  cmd->add_option("--task", c.c.quant.task, "Override the model's task: classification, language_model or vqa");
  add_quant_options(cmd, {&c.c.quant.quant.weight_bits, &c.c.quant.quant.weight_group, &c.c.quant.quant.act_bits,
                         &c.clip, &c.c.quant.calib_samples, &c.c.quant.calib_split},
                    "Uniform bits (mixed precision: the budgets below): ");
  cmd->add_option("--seq", c.c.quant.seq, "Language models: window length (default: snnconv.max_seq)");
  cmd->add_option("--prune-heads", c.c.prune_heads,
                  "Fraction of attention heads removed in every attention layer, [0, 1): floor(F * heads), the "
                  "least important by measured output change")
      ->capture_default_str();
  cmd->add_option("--prune-mlp", c.c.prune_mlp,
                  "Fraction of MLP hidden channels removed in every MLP, [0, 1): floor(F * channels)")
      ->capture_default_str();
  cmd->add_option("--prune-blocks", c.c.prune_blocks,
                  "Whole blocks removed: those whose output is most similar to their input (cosine)")
      ->capture_default_str();
  cmd->add_flag("--bias-correction", c.c.bias_correction,
                "After pruning, with weights rounded to their quantized values, set each Linear's bias so its mean "
                "pre-activation output on the calibration data equals the unpruned float model's");
  cmd->add_option("--out", c.out, "Output model file (.snn.h5)")->required();
  cmd->add_option("--onnx-out", c.onnx_out,
                  "Also write the compressed QANN as ONNX that ONNX Runtime runs (QuantizeLinear, integer form; "
                  "`snnconv export` has the other form)");
  cmd->add_option("--report", c.report_dir, "Folder for compression.json and compression.md");
  add_mixed_precision_options(*cmd, c.c);
  add_threads_option(cmd, opts->threads, "Calibration threads (0: every core; the model does not depend on it)");
  add_quiet_flag(cmd, opts->quiet);
  cmd->callback([opts, &action] { action = [opts] { return run_compress(*opts); }; });
}

}  // namespace snnconv::cli
