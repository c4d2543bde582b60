// `snnconv convert MODEL --act-bits B [--weight-bits W] [--weight-group G] [--clip M] [--calib N] --out model.snn.h5`
#include <fmt/core.h>

#include <memory>

#include "commands.hpp"
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/onnx_export.hpp"

namespace snnconv::cli {
namespace {

struct ConvertOptions {
  pipeline::QuantizeModelOptions quant;
  std::string clip = "mse";
  std::string out;
  std::string onnx_out;  // also the QANN as QDQ ONNX (integer form)
};

int run_convert(ConvertOptions& o) {
  if (o.out.empty()) throw UsageError("--out is required");
  o.quant.quant.clip = parse_clip_method(o.clip);
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
    fmt::print("{}: the QANN as QDQ ONNX (opset {}, integer form; `snnconv export` has the options), {} bytes\n",
               o.onnx_out, onnx_export::kExportOpset, st.bytes);
  } else {
    model_file.commit();
  }
  std::size_t neurons = 0, synapses = 0;
  for (const Node& n : m.snn.nodes()) {
    neurons += n.kind == OpKind::SpikeNeuron ? 1 : 0;
    synapses += n.kind == OpKind::SynapseLinear || n.kind == OpKind::SpikeMatMul ? 1 : 0;
  }
  const std::string group = o.quant.quant.weight_group > 0 ? fmt::format(" g{}", o.quant.quant.weight_group) : "";
  fmt::print("{}: W{}A{}{} ({} quantization points, {} calibration samples of '{}', clip {})\n", o.out,
             o.quant.quant.weight_bits, o.quant.quant.act_bits, group, m.points.size(), m.calibration_samples,
             m.calibration_split, o.clip);
  fmt::print("SNN: {} neuron populations, {} synaptic layers, {} nodes\n", neurons, synapses, m.snn.num_nodes());
  return 0;
}

}  // namespace

void add_convert(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand(
      "convert",
      "Quantize a model post-training (calibrated on its dataset) and convert it to a spiking network; write "
      "the QANN and the SNN to an HDF5 model file that `snnconv run FILE --engine snn` reloads. Partial: "
      "uniform bits (mixed precision and pruning: `snnconv compress`); classification, language-model and vqa data; no NIR "
      "export");
  cmd->add_option("model", opts->quant.model, "ONNX model file")->required();
  cmd->add_option("--data", opts->quant.data, "Dataset for calibration (default: the model's snnconv.data)");
  cmd->add_option("--act-bits", opts->quant.quant.act_bits, "Activation bits (2..16): the SNN's levels per neuron")
      ->capture_default_str();
  cmd->add_option("--weight-bits", opts->quant.quant.weight_bits, "Weight bits (2..8, per output channel)")
      ->capture_default_str();
  cmd->add_option("--weight-group", opts->quant.quant.weight_group,
                  "Grouped weights: one step per G consecutive input rows and output channel (G must divide every "
                  "Linear's K); 0: per output channel")
      ->capture_default_str();
  cmd->add_option("--clip", opts->clip, "Activation range: minmax, percentile or mse")->capture_default_str();
  cmd->add_option("--calib", opts->quant.calib_samples, "Calibration samples")->capture_default_str();
  cmd->add_option("--calib-split", opts->quant.calib_split, "Calibration split (default: train, else val)");
  cmd->add_option("--seq", opts->quant.seq, "Language models: window length (default: snnconv.max_seq)");
  cmd->add_option("--out", opts->out, "Output model file (.snn.h5)")->required();
  cmd->add_option("--onnx-out", opts->onnx_out,
                  "Also write the QANN as QDQ ONNX (integer form) to this file, as `snnconv export` does");
  cmd->callback([opts, &action] { action = [opts] { return run_convert(*opts); }; });
}

}  // namespace snnconv::cli
