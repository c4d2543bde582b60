// `snnconv convert MODEL --act-bits B [--weight-bits W] [--weight-group G] [--clip M] [--calib N] --out model.snn.h5`
#include <fmt/core.h>

#include <memory>

#include "commands.hpp"
#include "options.hpp"
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/onnx_export.hpp"

namespace snnconv::cli {
namespace {

struct ConvertOptions {
  pipeline::QuantizeModelOptions quant;
  std::string clip = kDefaultClip;
  std::string out;
  bool quiet = false;
  std::string onnx_out;  // also the QANN as QDQ ONNX (integer form)
  int threads = 0;
};

int run_convert(ConvertOptions& o) {
  if (o.out.empty()) throw UsageError("--out is required");
  require_onnx_model(o.quant.model, "convert");
  o.quant.quant.clip = parse_clip_method(o.clip);
  o.quant.quant.threads = o.threads;
  const pipeline::QuantizedModel m = pipeline::quantize_model(o.quant);
  // Every output is built and checked before any is renamed into place: a failure leaves none.
  AtomicFile model_file(o.out, "model file");
  model_file.write(pipeline::quantized_model_image(m, o.quant, o.out));
  std::unique_ptr<AtomicFile> onnx_file;
  onnx_export::ExportStats st;
  if (!o.onnx_out.empty()) {
    Graph qann = m.qann;
    point_data_from(qann, m.data, o.onnx_out);
    qann.metadata["snnconv.task"] = m.task;
    onnx_file = std::make_unique<AtomicFile>(o.onnx_out, "ONNX file");
    onnx_file->write(onnx_export::serialize_onnx(qann, o.onnx_out, {}, st));
    commit_together({&model_file, onnx_file.get()});
    if (!o.quiet) fmt::print("{}: the QANN as QDQ ONNX (opset {}, integer form; `snnconv export` has the options), {} bytes\n",
               o.onnx_out, onnx_export::kExportOpset, st.bytes);
  } else {
    model_file.commit();
  }
  std::size_t neurons = 0, synapses = 0;
  for (const Node& n : m.snn.nodes()) {
    neurons += n.kind == OpKind::SpikeNeuron ? 1 : 0;
    synapses += n.kind == OpKind::SynapseLinear || n.kind == OpKind::SpikeMatMul ? 1 : 0;
  }
  if (!o.quiet) {
    if (m.file_points > 0)
      fmt::print("{}: the file's own quantization: {} points with the QDQ file's steps (no recalibration), {} "
                 "calibrated on {}\n", o.out, m.file_points, m.points.size(),
                 m.points.empty() ? std::string("-") : m.calibration_description);
    else
      fmt::print("{}: {} ({} quantization points, calibrated on {}, clip {})\n", o.out, m.bits_label(), m.points.size(),
                 m.calibration_description, m.clip);
    fmt::print("SNN: {} neuron populations, {} synaptic layers, {} nodes\n", neurons, synapses, m.snn.num_nodes());
  }
  return 0;
}

}  // namespace

void add_convert(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand(
      "convert",
      "Quantize a model post-training (calibrated on its dataset) and convert it to a spiking network; write "
      "the QANN and the SNN to an HDF5 model file that `snnconv run FILE --engine snn` reloads. Partial: "
      "uniform bits (mixed precision and pruning: `snnconv compress`); classification, language-model and vqa data (NIR "
      "export of the SNN: `snnconv export FILE --format nir`). A static-batch export is calibrated B samples at a time");
  cmd->add_option("model", opts->quant.model, "ONNX model file")->required();
  cmd->add_option("--data", opts->quant.data,
                  "Data (.npz named after the model's inputs, or .h5) recorded with the model; calibration uses its first "
                  "--calib samples (an .npz) or its calibration split (.h5) unless --calib-data is given (default: the "
                  "model's snnconv.data)");
  cmd->add_option("--calib-data", opts->quant.calib_data, "Data to calibrate on (.npz or .h5); default: --data");
  cmd->add_option("--task", opts->quant.task, "Override the model's task: classification, language_model or vqa");
  add_quant_options(cmd,
                    {&opts->quant.quant.weight_bits, &opts->quant.quant.weight_group, &opts->quant.quant.act_bits,
                     &opts->clip, &opts->quant.calib_samples, &opts->quant.calib_split});
  cmd->add_option("--seq", opts->quant.seq, "Language models: window length (default: snnconv.max_seq)");
  cmd->add_option("--out", opts->out, "Output model file (.snn.h5)")->required();
  cmd->add_option("--onnx-out", opts->onnx_out,
                  "Also write the QANN as QDQ ONNX (integer form) to this file, as `snnconv export` does");
  add_threads_option(cmd, opts->threads, "Calibration threads (0: every core; the model file does not depend on it)");
  add_quiet_flag(cmd, opts->quiet);
  cmd->callback([opts, &action] { action = [opts] { return run_convert(*opts); }; });
}

}  // namespace snnconv::cli
