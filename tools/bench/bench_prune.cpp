// Accuracy of pruned models, float and W8A8, with and without bias correction (docs/compression.md,
// "Pruning"). Not a test: run by hand.
//
//   bench_prune --model M [--samples N] [--calib C] [--seq S] [--no-quant]
//
// For each configuration (none, heads 25%, MLP 25%, both, 1 block; heads+MLP 50%, 2 blocks), each with
// bias correction off and on (and a "none + bias correction" row: the correction of weight rounding alone):
// prepare_model -> prune_prepared (pipeline/prune_model.hpp) -> the float canonical graph scored on the
// first N test samples (dense engine) -> quantize_prepared at W8A8 (mse clipping) -> the QANN scored on the
// same samples. Classification: accuracy (%); language model: bits per byte. Parameters: f32 constants of
// the float graph.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cmath>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/pipeline/prune_model.hpp"
#include "snnconv/converter/prune.hpp"
#include "snnconv/core/error.hpp"

using namespace snnconv;

namespace {

double score_float(const Graph& g, const std::vector<pipeline::Sample>& samples, bool lm) {
  ann::Engine e(g, {.threads = 2});
  double num = 0.0, den = 0.0;
  for (const pipeline::Sample& s : samples) {
    const Tensor y = e.run(s.inputs)[0];
    const float* p = y.data<float>();
    const std::int64_t v = y.dim(y.rank() - 1);
    if (!lm) {
      std::int64_t best = 0;
      for (std::int64_t j = 1; j < v; ++j)
        if (p[j] > p[best]) best = j;
      num += best == s.label ? 1.0 : 0.0;
      den += 1.0;
      continue;
    }
    for (std::size_t t = 0; t < s.next.size(); ++t) {
      if (s.next[t] < 0) continue;
      const float* row = p + static_cast<std::int64_t>(t) * v;
      double mx = row[0];
      for (std::int64_t j = 1; j < v; ++j) mx = std::max(mx, double(row[j]));
      double z = 0.0;
      for (std::int64_t j = 0; j < v; ++j) z += std::exp(double(row[j]) - mx);
      num += (std::log(z) + mx - row[s.next[t]]) / std::log(2.0);
      den += 1.0;
    }
  }
  return lm ? num / den : 100.0 * num / den;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Accuracy of pruned models, float and W8A8, with and without bias correction"};
  std::string model = "examples/fashion_vit/fashion_vit_relu.onnx";
  std::int64_t samples = 1000, calib = 64, seq = 0;
  bool no_quant = false;
  int weight_bits = 8;
  app.add_option("--model", model);
  app.add_option("--samples", samples, "Test samples (language models: windows)");
  app.add_option("--calib", calib, "Calibration samples (importance, bias correction, quantization)");
  app.add_option("--seq", seq, "Language models: window");
  app.add_flag("--no-quant", no_quant, "Float only");
  app.add_option("--weight-bits", weight_bits, "Weight bits of the quantized column (activations: 8)");
  CLI11_PARSE(app, argc, argv);
  try {
    struct Config {
      const char* name;
      pipeline::PruneModelOptions o;
    };
    const Config configs[] = {{"none", {}},
                              {"heads 25%", {.heads = 0.25}},
                              {"MLP 25%", {.mlp = 0.25}},
                              {"heads 25% + MLP 25%", {.heads = 0.25, .mlp = 0.25}},
                              {"1 block", {.blocks = 1}},
                              {"heads 50% + MLP 50%", {.heads = 0.5, .mlp = 0.5}},
                              {"2 blocks", {.blocks = 2}}};
    pipeline::QuantizeModelOptions qo;
    qo.model = model;
    qo.seq = seq;
    qo.calib_samples = calib;
    qo.quant.weight_bits = weight_bits;
    qo.quant.act_bits = 8;
    qo.quant.clip = ClipMethod::mse;
    fmt::print("| pruning | bias corr. | params | float | W{}A8 |\n|---|---|---:|---:|---:|\n", weight_bits);
    for (const Config& c : configs)
      for (bool bc : {false, true}) {
        // Float column: pruning (+ bias correction against the float model only).
        pipeline::QuantizedModel m = pipeline::prepare_model(qo);
        pipeline::PruneModelOptions po = c.o;
        po.bias_correction = bc;
        po.correct_weight_quantization = false;
        pipeline::prune_prepared(m, qo, po);
        const std::vector<pipeline::Sample> test = pipeline::load_samples(m, "test", samples);
        const bool lm = m.task == "language_model";
        const double f = score_float(m.canonical, test, lm);
        std::string q = "-";
        if (!no_quant) {  // quantized column: what `snnconv compress` does (bias correction sees weight rounding)
          m = pipeline::prepare_model(qo);
          po.correct_weight_quantization = true;
          pipeline::prune_prepared(m, qo, po);
          pipeline::quantize_prepared(m, qo);
          pipeline::SpikingRunOptions ro;
          ro.engine = pipeline::SpikingEngine::qann;
          ro.threads = 2;
          const double v = pipeline::run_spiking(m, test, ro).value;
          q = lm ? fmt::format("{:.4f}", v) : fmt::format("{:.1f}", 100.0 * v);
        }
        fmt::print("| {} | {} | {} | {} | {} |\n", c.name, bc ? "yes" : "no", prune::count_params(m.canonical),
                   lm ? fmt::format("{:.4f}", f) : fmt::format("{:.1f}", f), q);
        std::fflush(stdout);
      }
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
