// SNN wall time against the dense engine on the same model, side by side in one run (docs/benchmarks.md,
// "SNN vs dense"). Not a test: run by hand.
//
//   bench_snn [--model M] [--act-bits B] [--samples N] [--reps R] [--seq S] [--threads T,...] [--batch B]
//             [--modes strict,burst] [--pass-kib K] [--profile] [--json FILE]
//
// Dense side: the float model (fp32, fused, the dense engine's packed kernels) and the QANN (FakeQuant
// points, int8 per-channel weights, fake-quantized float arithmetic), both at batch N in one pass. SNN side:
// the converted network on the event-driven engine, run_batch over the same N samples (--batch samples per
// pass and thread shard), strict and burst. Per thread setting (0: every core) the table gives milliseconds
// per sample, the ratio to the fp32 engine with the same threads, synaptic accumulates and spikes per second
// per core. Repetitions alternate the engines so that machine noise hits all of them; the fastest
// repetition of each is kept.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/cpu_features.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/snn_core/engine.hpp"

using namespace snnconv;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU time of the whole process (every thread): steadier than wall time on a shared machine, where a run
// also waits for the other processes.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Wall and CPU time of one call.
template <typename F>
std::pair<double, double> timed(F&& f) {
  const double c0 = cpu_seconds();
  const auto t0 = Clock::now();
  f();
  return {seconds_since(t0), cpu_seconds() - c0};
}

onnx_import::ImportOptions batch_dims(const std::string& model, std::int64_t batch, std::int64_t seq) {
  const Graph probe = onnx_import::read_onnx(model);
  onnx_import::ImportOptions io;
  for (ValueId in : probe.inputs()) {
    const TensorType& t = probe.value(in).type;
    for (std::size_t d = 0; d < t.dims.size(); ++d)
      if (!t.dims[d].is_known()) io.dims[t.dims[d].symbol] = d == 0 ? batch : seq;
  }
  return io;
}

Graph dense_fp32(const std::string& model, std::int64_t batch, std::int64_t seq) {
  Graph g = onnx_import::import_onnx(model, batch_dims(model, batch, seq));
  fuse_graph(g);
  return g;
}

// The QANN at batch `batch`: the same skeleton and calibration as `m` (points are matched by name), with
// weights stored as int8 levels so the dense engine dequantizes them once at plan time.
Graph dense_qann(const pipeline::QuantizedModel& m, const pipeline::QuantizeModelOptions& qo, std::int64_t batch,
                 std::int64_t seq, const std::vector<std::vector<Tensor>>& calib) {
  Graph g = dense_fp32(m.model, batch, seq);
  const QannSkeleton sk = build_qann_skeleton(g);
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

std::vector<Tensor> stack(const Graph& dense, const std::vector<pipeline::Sample>& ss) {
  std::vector<Tensor> out;
  for (std::size_t k = 0; k < ss[0].inputs.size(); ++k) {
    Tensor b(ss[0].inputs[k].dtype(), dense.value(dense.inputs()[k]).type.static_shape());
    const std::size_t per = ss[0].inputs[k].nbytes();
    for (std::size_t i = 0; i < ss.size(); ++i) std::memcpy(b.raw() + i * per, ss[i].inputs[k].raw(), per);
    out.push_back(std::move(b));
  }
  return out;
}

struct Row {
  std::string engine;
  int threads = 1;
  double seconds = std::numeric_limits<double>::infinity();
  double cpu = std::numeric_limits<double>::infinity();
  void keep(std::pair<double, double> t) {
    seconds = std::min(seconds, t.first);
    cpu = std::min(cpu, t.second);
  }
  std::uint64_t acs = 0, spikes = 0, updates = 0, dense_ops = 0;
  double steps = 0;
  std::int64_t not_quiescent = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"SNN vs dense engine on the same quantized model"};
  std::string model = "examples/fashion_vit/fashion_vit_relu.onnx", json_path;
  int act_bits = 4, reps = 3, batch = 64;
  std::int64_t samples = 64, seq = 0;
  std::vector<int> thread_settings{1, 0};
  std::vector<std::string> modes{"strict", "burst"};
  app.add_option("--model", model);
  app.add_option("--act-bits", act_bits);
  app.add_option("--samples", samples, "Samples (language models: windows); the dense batch");
  app.add_option("--reps", reps);
  app.add_option("--seq", seq, "Language models: window");
  app.add_option("--threads", thread_settings, "Thread settings, each a row group (0: every core)")->delimiter(',');
  app.add_option("--batch", batch, "SNN samples per pass and thread shard");
  app.add_option("--modes", modes, "SNN modes")->delimiter(',');
  app.add_option("--json", json_path, "Also write the rows as JSON");
  std::int64_t pass_kib = -1;
  app.add_option("--pass-kib", pass_kib, "SNN: cap on one pass's state and scratch in KiB (EngineOptions::pass_bytes; default: the engine's)");
  bool profile = false;
  app.add_flag("--profile", profile, "Time every SNN unit (adds clock reads) and print the share of each op kind");
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
    std::vector<std::vector<Tensor>> calib, inputs;
    for (const auto& s : cs) calib.push_back(s.inputs);
    for (const auto& s : ss) inputs.push_back(s.inputs);
    const auto n = static_cast<std::int64_t>(ss.size());
    const std::int64_t window = m.task == "language_model" ? m.qann.value(m.qann.inputs()[0]).type.static_shape().back() : 0;
    const Graph fp32 = dense_fp32(model, n, window);
    const Graph qann = dense_qann(m, qo, n, window, calib);
    const std::vector<Tensor> batch_in = stack(fp32, ss);
    std::vector<Row> rows;
    for (int threads : thread_settings) {
      ann::Engine e_fp32(fp32, ann::EngineOptions{.threads = threads});
      ann::Engine e_qann(qann, ann::EngineOptions{.threads = threads});
      std::vector<snn::Engine> snns;
      for (const std::string& mode : modes) {
        snn::EngineOptions so{mode == "burst" ? snn::FireMode::burst : snn::FireMode::strict, 4096, threads};
        so.batch = batch;
        if (pass_kib >= 0) so.pass_bytes = static_cast<std::uint64_t>(pass_kib) << 10;
        so.time_units = profile;
        snns.emplace_back(m.snn, so);
      }
      const int resolved = snns.empty() ? std::max(1, threads) : snns[0].threads();
      std::vector<Row> group(2 + modes.size());
      group[0].engine = "dense fp32";
      group[1].engine = "dense QANN";
      for (std::size_t k = 0; k < modes.size(); ++k) group[2 + k].engine = "SNN " + modes[k];
      for (Row& r : group) r.threads = resolved;
      (void)e_fp32.run(batch_in);
      (void)e_qann.run(batch_in);
      for (int rep = 0; rep < reps; ++rep) {
        group[0].keep(timed([&] { (void)e_fp32.run(batch_in); }));
        group[1].keep(timed([&] { (void)e_qann.run(batch_in); }));
        for (std::size_t k = 0; k < snns.size(); ++k) {
          Ledger l = Ledger::for_graph(m.snn);
          std::vector<snn::RunResult> res;
          Row& r = group[2 + k];
          r.keep(timed([&] { res = snns[k].run_batch(inputs, &l); }));
          r.acs = l.total().total_acs();
          r.spikes = l.total().spikes();
          r.updates = l.total().neuron_updates;
          r.dense_ops = l.total().dense_ops;
          double steps = 0;
          r.not_quiescent = 0;
          for (const auto& x : res) {
            steps += x.steps;
            r.not_quiescent += x.quiescent ? 0 : 1;
          }
          r.steps = steps / static_cast<double>(n);
        }
      }
      rows.insert(rows.end(), group.begin(), group.end());
      if (profile)
        for (std::size_t k = 0; k < snns.size(); ++k) {
          const std::vector<double> t = snns[k].node_seconds();
          std::map<std::string, double> by_op;
          double total = 0;
          for (std::size_t i = 0; i < t.size(); ++i) {
            const std::string op = i + 1 < t.size() ? std::string(op_name(m.snn.node(NodeId(static_cast<std::uint32_t>(i))).kind)) : "(bookkeeping)";
            by_op[op] += t[i];
            total += t[i];
          }
          fmt::print("profile SNN {} ({} threads, every repetition): ", modes[k], resolved);
          for (const auto& [op, sec] : by_op) fmt::print("{} {:.1f}% ({:.3f} ms/sample), ", op, 100 * sec / total, 1e3 * sec / static_cast<double>(n * (reps + 0)));
          fmt::print("\n");
          // The costliest nodes, with the op producing their first input (a neuron's current comes from a
          // synapse, product, differential unit or residual Add: they cost differently).
          std::vector<std::size_t> order(t.size() - 1);
          for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
          std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return t[a] > t[b]; });
          std::map<std::string, double> by_input;
          for (std::size_t i = 0; i + 1 < t.size(); ++i) {
            const Node& nd = m.snn.node(NodeId(static_cast<std::uint32_t>(i)));
            if (nd.kind != OpKind::SpikeNeuron || nd.inputs.empty()) continue;
            const NodeId prod = m.snn.value(nd.inputs[0]).producer;
            by_input[prod.valid() ? std::string(op_name(m.snn.node(prod).kind)) : "input"] += t[i];
          }
          fmt::print("  SpikeNeuron by the op producing its current:");
          for (const auto& [op, sec] : by_input) fmt::print(" {} {:.1f}%,", op, 100 * sec / total);
          fmt::print("\n");
          for (std::size_t r = 0; r < std::min<std::size_t>(12, order.size()); ++r) {
            const Node& nd = m.snn.node(NodeId(static_cast<std::uint32_t>(order[r])));
            std::string from = "input";
            if (!nd.inputs.empty() && nd.inputs[0].valid())
              if (const NodeId prod = m.snn.value(nd.inputs[0]).producer; prod.valid()) from = std::string(op_name(m.snn.node(prod).kind));
            fmt::print("  {:5.1f}%  {} {} (input from {})\n", 100 * t[order[r]] / total, op_name(nd.kind), nd.name, from);
          }
        }
    }
    fmt::print("model {} A{} W8, {} {} (task {}), {}, SNN batch {}, fastest of {} alternating repetitions\n", model,
               act_bits, n, m.task == "language_model" ? "windows of " + std::to_string(window) : "samples", m.task,
               cpu_description(), batch, reps);
    {
      const snn::MemoryEstimate mem = snn::Engine(m.snn).memory();
      const std::uint64_t cap = pass_kib >= 0 ? static_cast<std::uint64_t>(pass_kib) << 10 : snn::EngineOptions{}.pass_bytes;
      fmt::print("SNN state and scratch {:.1f} KiB per sample, pass cap {} KiB: {} samples per pass\n",
                 static_cast<double>(mem.per_sample()) / 1024.0, cap >> 10,
                 std::min<std::int64_t>(n, cap == 0 || mem.per_sample() == 0 ? batch : std::clamp<std::int64_t>(static_cast<std::int64_t>(cap / mem.per_sample()), 1, batch)));
    }
    fmt::print("| engine | threads | ms per sample | vs fp32 | CPU ms per sample | vs fp32 (CPU) | synaptic ACs/s/core | spikes/s/core | mean steps |\n");
    fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const double per = 1e3 / static_cast<double>(n);
    nlohmann::json j = nlohmann::json::array();
    for (const Row& r : rows) {
      const Row* base = nullptr;
      for (const Row& b : rows)
        if (b.engine == "dense fp32" && b.threads == r.threads) base = &b;
      // Per core: the work over the CPU time all threads of the process spent.
      const double core_s = r.cpu;
      const bool snn = r.engine.rfind("SNN", 0) == 0;
      fmt::print("| {} | {} | {:.4f} | {:.2f}x | {:.4f} | {:.2f}x | {} | {} | {} |\n", r.engine, r.threads,
                 r.seconds * per, r.seconds / base->seconds, r.cpu * per, r.cpu / base->cpu,
                 snn ? fmt::format("{:.3g}", static_cast<double>(r.acs) / core_s) : "-",
                 snn ? fmt::format("{:.3g}", static_cast<double>(r.spikes) / core_s) : "-",
                 snn ? fmt::format("{:.1f}", r.steps) : "-");
      j.push_back({{"engine", r.engine}, {"threads", r.threads}, {"ms_per_sample", r.seconds * per},
                   {"vs_fp32", r.seconds / base->seconds}, {"cpu_ms_per_sample", r.cpu * per}, {"acs", r.acs}, {"spikes", r.spikes},
                   {"mean_steps", r.steps}, {"not_quiescent", r.not_quiescent}});
    }
    for (const Row& r : rows)
      if (r.engine.rfind("SNN", 0) == 0 && r.threads == rows[0].threads)
        fmt::print("{} per sample: {:.4g} synaptic ACs, {:.4g} spikes, {:.4g} neuron updates, {:.4g} dense ops\n", r.engine,
                   static_cast<double>(r.acs) / static_cast<double>(n), static_cast<double>(r.spikes) / static_cast<double>(n),
                   static_cast<double>(r.updates) / static_cast<double>(n), static_cast<double>(r.dense_ops) / static_cast<double>(n));
    if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
    return 0;
  } catch (const snnconv::Error& e) {
    fmt::print(stderr, "bench_snn: error: {}\n", e.what());
    return 1;
  }
}
