// snnconv_bench: our side of the engine-vs-ONNX-Runtime benchmark (tools/bench/ann_vs_ort.py drives it).
//
//   snnconv_bench serve
//       Reads one JSON request per line on stdin, answers one JSON line on stdout:
//         {"cmd":"load","id":ID,"model":PATH,"inputs":DIR,"threads":N[,"fuse":true][,"time_nodes":false]}
//             imports MODEL with its symbolic input dims bound from the input shapes, fuses it (default),
//             builds the engine; DIR/manifest.json lists raw input tensors (the format of tools/ort/ort_run.js)
//         {"cmd":"run","id":ID,"n":R}          R timed runs -> {"ms":[...], "cpu_ms":[...]} (engine.run only;
//                                              cpu_ms: the process's CPU time, every thread)
//         {"cmd":"outputs","id":ID,"dir":DIR}  writes the last run's outputs as raw files + manifest.json
//         {"cmd":"profile","id":ID}            per-node seconds summed so far (needs "time_nodes":true)
//         {"cmd":"unload","id":ID}  /  {"cmd":"quit"}
//         {"cmd":"info"}                        -> {"isa":..., "detected_isa":..., "cpu":...}
//       Errors answer {"ok":false,"error":...} and the server keeps going.
//   snnconv_bench profile MODEL INPUT_DIR [--threads N] [--runs R] [--warmup W] [--no-fuse]
//       Per-node wall time of R runs, summed by op/kernel and listed for the slowest nodes.
//
// Timing is the engine's run() call only, as the ORT side times session.run() only.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <time.h>
#include <vector>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/passes.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace snnconv::bench {
namespace {

DType dtype_from(const std::string& name) {
  if (name == "float32" || name == "float") return DType::f32;
  if (name == "int64") return DType::i64;
  if (name == "int32") return DType::i32;
  if (name == "uint8") return DType::u8;
  if (name == "int8") return DType::i8;
  if (name == "bool") return DType::boolean;
  throw UsageError("bench: unsupported input dtype " + name);
}

std::string dtype_to(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
    case DType::u8: return "uint8";
    case DType::i8: return "int8";
    case DType::boolean: return "bool";
    default: return std::string(dtype_name(t));
  }
}

// Raw little-endian tensors listed by DIR/manifest.json: name -> tensor.
std::map<std::string, Tensor> read_inputs(const fs::path& dir) {
  std::ifstream in(dir / "manifest.json");
  if (!in) throw IoError("bench: cannot read " + (dir / "manifest.json").string());
  const json man = json::parse(in);
  std::map<std::string, Tensor> out;
  for (const json& e : man.at("inputs")) {
    Shape shape = e.at("shape").get<Shape>();
    Tensor t(dtype_from(e.at("dtype").get<std::string>()), shape);
    std::ifstream f(dir / e.at("file").get<std::string>(), std::ios::binary);
    f.read(reinterpret_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
    if (!f || f.gcount() != static_cast<std::streamsize>(t.nbytes()))
      throw IoError("bench: " + e.at("file").get<std::string>() + " is shorter than its shape says");
    out.emplace(e.at("name").get<std::string>(), std::move(t));
  }
  return out;
}

struct Loaded {
  Graph graph;
  std::unique_ptr<ann::Engine> engine;
  std::vector<Tensor> inputs;  // graph input order
  std::vector<Tensor> last;    // outputs of the last run
};

std::unique_ptr<Loaded> load(const std::string& model, const fs::path& input_dir, int threads, bool fuse,
                             bool time_nodes) {
  auto l = std::make_unique<Loaded>();
  const std::map<std::string, Tensor> given = read_inputs(input_dir);
  // What import_onnx does, reading the file once: parse, bind every symbolic input dim from the given tensors'
  // shapes, fold constants.
  l->graph = onnx_import::read_onnx(model);
  std::map<std::string, std::int64_t> dims;
  for (ValueId id : l->graph.inputs()) {
    const Value& v = l->graph.value(id);
    if (v.constant) continue;
    const auto it = given.find(v.name);
    if (it == given.end()) throw UsageError("bench: no input tensor named '" + v.name + "'");
    for (int d = 0; d < v.type.rank() && d < it->second.rank(); ++d)
      if (!v.type.dims[static_cast<std::size_t>(d)].is_known())
        dims[v.type.dims[static_cast<std::size_t>(d)].symbol] = it->second.dim(d);
  }
  bind_model_dims(l->graph, dims);
  fold_constants(l->graph);
  if (fuse) fuse_graph(l->graph);
  for (ValueId id : l->graph.inputs()) {
    const Value& v = l->graph.value(id);
    if (!v.constant) l->inputs.push_back(given.at(v.name));
  }
  l->engine = std::make_unique<ann::Engine>(
      l->graph, ann::EngineOptions{.threads = threads, .fill_ledger = false, .time_nodes = time_nodes});
  return l;
}

// The process's CPU time (every thread), milliseconds.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

double run_once_ms(Loaded& l, double* cpu_ms = nullptr) {
  const double c0 = process_cpu_ms();
  const auto t0 = std::chrono::steady_clock::now();
  l.engine->run_into(l.inputs, l.last);  // the outputs' buffers are reused from run to run
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (cpu_ms) *cpu_ms = process_cpu_ms() - c0;
  return ms;
}

void write_outputs(const Loaded& l, const fs::path& dir) {
  fs::create_directories(dir);
  json man;
  man["outputs"] = json::array();
  for (std::size_t i = 0; i < l.last.size(); ++i) {
    const std::string name = l.graph.value(l.graph.outputs()[i]).name;
    const std::string file = "out" + std::to_string(i) + ".bin";
    std::ofstream f(dir / file, std::ios::binary);
    f.write(reinterpret_cast<const char*>(l.last[i].raw()), static_cast<std::streamsize>(l.last[i].nbytes()));
    man["outputs"].push_back({{"name", name}, {"dtype", dtype_to(l.last[i].dtype())}, {"shape", l.last[i].shape()},
                              {"file", file}});
  }
  std::ofstream(dir / "manifest.json") << man.dump(1) << "\n";
}

json node_profile(const Loaded& l) {
  const std::vector<double> secs = l.engine->node_seconds();
  const std::vector<std::string> kernels = l.engine->kernel_names();
  json nodes = json::array();
  for (std::size_t i = 0; i < secs.size(); ++i) {
    const Node& n = l.graph.node(NodeId(static_cast<std::uint32_t>(i)));
    nodes.push_back({{"name", n.name}, {"op", std::string(op_name(n.kind))}, {"kernel", kernels[i]}, {"s", secs[i]}});
  }
  return nodes;
}

int serve() {
  std::map<std::string, std::unique_ptr<Loaded>> models;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json reply{{"ok", true}};
    try {
      const json req = json::parse(line);
      const std::string cmd = req.at("cmd").get<std::string>();
      if (cmd == "quit") break;
      if (cmd == "info") {  // the kernels' instruction set (SNNCONV_ISA caps it) and the CPU
        reply["isa"] = isa_name(active_isa());
        reply["detected_isa"] = isa_name(detected_isa());
        reply["cpu"] = cpu_description();
        std::cout << reply.dump() << std::endl;
        continue;
      }
      const std::string id = req.value("id", std::string());
      if (cmd == "load") {
        const auto t0 = std::chrono::steady_clock::now();
        models[id] = load(req.at("model").get<std::string>(), req.at("inputs").get<std::string>(),
                          req.value("threads", 1), req.value("fuse", true), req.value("time_nodes", false));
        reply["load_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      } else {
        const auto it = models.find(id);
        if (it == models.end()) throw UsageError("bench: no model loaded as '" + id + "'");
        Loaded& l = *it->second;
        if (cmd == "run") {
          std::vector<double> ms, cpu;
          for (int r = 0; r < req.value("n", 1); ++r) {
            double c = 0;
            ms.push_back(run_once_ms(l, &c));
            cpu.push_back(c);
          }
          reply["ms"] = ms;
          reply["cpu_ms"] = cpu;
        } else if (cmd == "outputs") {
          write_outputs(l, req.at("dir").get<std::string>());
        } else if (cmd == "profile") {
          reply["nodes"] = node_profile(l);
        } else if (cmd == "unload") {
          models.erase(it);
        } else {
          throw UsageError("bench: unknown command " + cmd);
        }
      }
    } catch (const std::exception& e) {
      reply = {{"ok", false}, {"error", e.what()}};
    }
    std::cout << reply.dump() << std::endl;
  }
  return 0;
}

int profile(int argc, char** argv) {
  if (argc < 4) throw UsageError("usage: snnconv_bench profile MODEL INPUT_DIR [--threads N] [--runs R] [--warmup W] [--no-fuse]");
  int threads = 1, runs = 20, warmup = 3;
  bool fuse = true;
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      return std::stoi(argv[++i]);
    };
    if (a == "--threads") threads = next();
    else if (a == "--runs") runs = next();
    else if (a == "--warmup") warmup = next();
    else if (a == "--no-fuse") fuse = false;
    else throw UsageError("unknown option " + a);
  }
  // Warm-up on an untimed engine first, then a timed one: the timing itself costs two clock reads per node.
  auto l = load(argv[2], argv[3], threads, fuse, true);
  for (int r = 0; r < warmup; ++r) run_once_ms(*l);
  const std::vector<double> before = l->engine->node_seconds();
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) ms.push_back(run_once_ms(*l));
  std::sort(ms.begin(), ms.end());
  const std::vector<double> after = l->engine->node_seconds();
  const std::vector<std::string> kernels = l->engine->kernel_names();
  struct Row {
    std::string what;
    double s = 0;
    int count = 0;
  };
  std::map<std::string, Row> by_kernel;
  std::vector<Row> nodes;
  double total = 0;
  for (std::size_t i = 0; i < after.size(); ++i) {
    const double s = (after[i] - before[i]) / runs;
    const Node& n = l->graph.node(NodeId(static_cast<std::uint32_t>(i)));
    const std::string key = std::string(op_name(n.kind)) + " [" + kernels[i] + "]";
    by_kernel[key].what = key;
    by_kernel[key].s += s;
    by_kernel[key].count += 1;
    nodes.push_back({n.name + " " + key, s, 1});
    total += s;
  }
  fmt::print("{}: median run {:.3f} ms over {} runs ({} threads, {}); per-node sum {:.3f} ms\n", argv[2],
             ms[ms.size() / 2], runs, threads, fuse ? "fused" : "unfused", total * 1e3);
  std::vector<Row> rows;
  for (auto& [k, r] : by_kernel) rows.push_back(r);
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.s > b.s; });
  fmt::print("{:<48} {:>6} {:>10} {:>7}\n", "op [kernel]", "nodes", "ms/run", "share");
  for (const Row& r : rows)
    fmt::print("{:<48} {:>6} {:>10.4f} {:>6.1f}%\n", r.what, r.count, r.s * 1e3, total > 0 ? 100 * r.s / total : 0.0);
  std::sort(nodes.begin(), nodes.end(), [](const Row& a, const Row& b) { return a.s > b.s; });
  fmt::print("\nslowest nodes:\n");
  for (std::size_t i = 0; i < std::min<std::size_t>(12, nodes.size()); ++i)
    fmt::print("  {:>9.4f} ms  {}\n", nodes[i].s * 1e3, nodes[i].what);
  return 0;
}

}  // namespace
}  // namespace snnconv::bench

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "serve") return snnconv::bench::serve();
    if (mode == "profile") return snnconv::bench::profile(argc, argv);
    std::cerr << "usage: snnconv_bench serve | profile MODEL INPUT_DIR [options]  (see the header of ann_bench.cpp)\n";
    return 2;
  } catch (const snnconv::UsageError& e) {
    std::cerr << "snnconv_bench: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "snnconv_bench: " << e.what() << "\n";
    return 1;
  }
}
