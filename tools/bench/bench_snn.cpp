// SNN wall time against the dense engine on the same quantized model, side by side in one run
// (docs/benchmarks.md, "SNN vs dense"). Not a test: run by hand.
//
//   bench_snn [--model M] [--act-bits B] [--samples N] [--reps R] [--seq S]
//
// Dense side: the QANN (FakeQuant points, int8 per-channel weights) on the dense engine at batch N in one
// pass (fake-quantized float arithmetic, fused kernels). SNN side: the converted network on the event-driven
// engine, one sample at a time to quiescence, strict and burst, 1 thread. Reported: milliseconds per
// sample, the SNN/dense ratio, synaptic accumulates and spikes processed per second per core. Repetitions
// alternate the engines so that machine noise hits both; the fastest repetition of each is kept.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/snn_core/engine.hpp"

using namespace snnconv;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The QANN at batch `batch`: the same skeleton and calibration as `m` (points are matched by name), with
// weights stored as int8 levels so the dense engine dequantizes them once at plan time.
Graph dense_qann(const pipeline::QuantizedModel& m, const pipeline::QuantizeModelOptions& qo, std::int64_t batch,
                 std::int64_t seq, const std::vector<std::vector<Tensor>>& calib) {
  const Graph probe = onnx_import::read_onnx(m.model);
  onnx_import::ImportOptions io;
  const TensorType& t = probe.value(probe.inputs()[0]).type;
  for (std::size_t d = 0; d < t.dims.size(); ++d)
    if (!t.dims[d].is_known()) io.dims[t.dims[d].symbol] = d == 0 ? batch : seq;
  Graph g = onnx_import::import_onnx(m.model, io);
  fuse_graph(g);
  const QannSkeleton sk = build_qann_skeleton(g);
  // Calibrate the batch-1 skeleton (same point names) and apply its statistics here.
  Graph one = m.canonical;
  const QannSkeleton sk1 = build_qann_skeleton(one);
  const Calibration cal = calibrate(sk1, calib, qo.quant);
  Graph q = quantize_skeleton(sk, cal, qo.quant);
  for (std::uint32_t i = 0; i < q.num_values(); ++i) {
    Value& v = q.value(ValueId(i));
    if (v.constant && v.quant && v.quant->bits <= 8 && v.constant->dtype() == DType::f32) v.constant = v.constant->cast(DType::i8);
  }
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SNN vs dense engine on the same quantized model"};
  std::string model = "examples/fashion_vit/fashion_vit_relu.onnx";
  int act_bits = 4, reps = 3;
  std::int64_t samples = 64, seq = 0;
  app.add_option("--model", model);
  app.add_option("--act-bits", act_bits);
  app.add_option("--samples", samples, "Samples (language models: windows); the dense batch");
  app.add_option("--reps", reps);
  app.add_option("--seq", seq, "Language models: window");
  CLI11_PARSE(app, argc, argv);
  try {
    pipeline::QuantizeModelOptions qo;
    qo.model = model;
    qo.seq = seq;
    qo.calib_samples = 32;
    qo.quant.act_bits = act_bits;
    qo.quant.weight_bits = 8;
    const pipeline::QuantizedModel m = pipeline::quantize_model(qo);
    const std::vector<pipeline::Sample> ss = pipeline::load_samples(m, "test", samples);
    const std::vector<pipeline::Sample> cs = pipeline::load_samples(m, m.calibration_split, qo.calib_samples);
    std::vector<std::vector<Tensor>> calib;
    for (const auto& s : cs) calib.push_back(s.inputs);
    const std::int64_t n = static_cast<std::int64_t>(ss.size());
    const std::int64_t window = m.qann.value(m.qann.inputs()[0]).type.static_shape().back();
    const Graph dense = dense_qann(m, qo, n, m.task == "language_model" ? window : 0, calib);
    ann::Engine engine(dense, ann::EngineOptions{.threads = 1});
    // Stack the samples into one batch.
    std::vector<Tensor> batch_in;
    {
      const Tensor& first = ss[0].inputs[0];
      Shape shape = dense.value(dense.inputs()[0]).type.static_shape();
      Tensor b(first.dtype(), shape);
      const std::size_t per = first.nbytes();
      for (std::int64_t i = 0; i < n; ++i)
        std::memcpy(b.raw() + static_cast<std::size_t>(i) * per, ss[static_cast<std::size_t>(i)].inputs[0].raw(), per);
      batch_in.push_back(std::move(b));
    }
    snn::Engine strict(m.snn, {snn::FireMode::strict, 4096, 1});
    snn::Engine burst(m.snn, {snn::FireMode::burst, 4096, 1});
    double best_dense = std::numeric_limits<double>::infinity(), best_strict = best_dense, best_burst = best_dense;
    std::uint64_t acs_strict = 0, acs_burst = 0, spikes_strict = 0, spikes_burst = 0;
    double steps_strict = 0, steps_burst = 0;
    (void)engine.run(batch_in);  // warm-up
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      (void)engine.run(batch_in);
      best_dense = std::min(best_dense, seconds_since(t0));
      for (int mode = 0; mode < 2; ++mode) {
        snn::Engine& e = mode == 0 ? strict : burst;
        Ledger l = Ledger::for_graph(m.snn);
        long long steps = 0;
        t0 = Clock::now();
        for (const auto& s : ss) steps += e.run(s.inputs, &l).steps;
        const double dt = seconds_since(t0);
        const Counters tot = l.total();
        std::uint64_t acs = 0;
        for (std::uint64_t a : tot.acs) acs += a;
        if (mode == 0) {
          best_strict = std::min(best_strict, dt), acs_strict = acs, spikes_strict = tot.spikes();
          steps_strict = static_cast<double>(steps) / static_cast<double>(n);
        } else {
          best_burst = std::min(best_burst, dt), acs_burst = acs, spikes_burst = tot.spikes();
          steps_burst = static_cast<double>(steps) / static_cast<double>(n);
        }
      }
    }
    const double per = 1e3 / static_cast<double>(n);
    fmt::print("model {} A{} W8, {} {} (task {}), 1 thread, fastest of {} alternating repetitions\n", model, act_bits,
               n, m.task == "language_model" ? "windows of " + std::to_string(window) : "samples", m.task, reps);
    fmt::print("| engine | ms per sample | vs dense | synaptic ACs/s/core | spikes/s/core | mean steps |\n");
    fmt::print("|---|---:|---:|---:|---:|---:|\n");
    fmt::print("| dense QANN, batch {} | {:.3f} | 1.00x | - | - | - |\n", n, best_dense * per);
    fmt::print("| SNN strict | {:.3f} | {:.2f}x | {:.3g} | {:.3g} | {:.1f} |\n", best_strict * per, best_strict / best_dense,
               static_cast<double>(acs_strict) / best_strict, static_cast<double>(spikes_strict) / best_strict, steps_strict);
    fmt::print("| SNN burst | {:.3f} | {:.2f}x | {:.3g} | {:.3g} | {:.1f} |\n", best_burst * per, best_burst / best_dense,
               static_cast<double>(acs_burst) / best_burst, static_cast<double>(spikes_burst) / best_burst, steps_burst);
    return 0;
  } catch (const snnconv::Error& e) {
    fmt::print(stderr, "bench_snn: error: {}\n", e.what());
    return 1;
  }
}
