// `snnconv export MODEL --out FILE.onnx [--dims ...] [--samples DIR --split test --limit N]`
#include <fmt/core.h>
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "options.hpp"
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/pipeline/model_source.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_export.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/nir_export.hpp"
#include "snnconv/datasets/model_file.hpp"
#include "snnconv/datasets/nir_file.hpp"
#include "snnconv/pipeline/nir_model.hpp"

namespace snnconv::cli {
namespace {

struct ExportCmdOptions {
  std::string model, out, dims, data;
  std::string form = "integer";
  std::string format = "onnx";
  std::string samples_dir, split = "test";
  std::int64_t limit = -1;
  bool quiet = false;
  bool nir_subgraphs = false;
};

void write_bytes(AtomicFolder& dir, const std::string& relative, const std::vector<char>& bytes) {
  dir.write(relative, std::string_view(bytes.data(), bytes.size()));
}

void append(std::vector<char>& dst, const Tensor& t) {
  const auto* p = reinterpret_cast<const char*>(t.raw());
  dst.insert(dst.end(), p, p + t.nbytes());
}

std::string json_dtype(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f16: return "float16";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::boolean: return "bool";
  }
  return "?";
}

// DIR/inputs/manifest.json (+ one raw file per graph input, the samples one after another: the format of
// tools/ort/ort_run.js with "samples"), DIR/engine/manifest.json (our engine's outputs, same layout) and
// DIR/labels.bin (int64 per sample; language models: int64 next byte per position, -1 where none).
// The files go to `dir` (staged; the caller commits them with the ONNX file).
std::int64_t dump_samples(const Graph& g, const pipeline::QuantizedModel& m, bool quantized, const ExportCmdOptions& o,
                          AtomicFolder& dir) {
  const std::vector<pipeline::Sample> samples = pipeline::load_samples(m, o.split, o.limit);
  if (samples.empty()) throw UsageError("split '" + o.split + "' has no samples", {m.data, "", "", ""});
  std::vector<std::vector<char>> in_bytes(g.inputs().size()), out_bytes(g.outputs().size());
  std::vector<Shape> out_shapes(g.outputs().size());
  std::vector<DType> out_types(g.outputs().size(), DType::f32);
  std::vector<std::int64_t> labels;
  std::unique_ptr<ann::Engine> engine;
  if (!quantized) engine = std::make_unique<ann::Engine>(g);
  for (const pipeline::Sample& s : samples) {
    for (std::size_t i = 0; i < s.inputs.size() && i < in_bytes.size(); ++i) append(in_bytes[i], s.inputs[i]);
    std::vector<Tensor> outs = quantized ? ann::run_qann(g, s.inputs).outputs : engine->run(s.inputs);
    for (std::size_t k = 0; k < outs.size() && k < out_bytes.size(); ++k) {
      append(out_bytes[k], outs[k]);
      out_shapes[k] = outs[k].shape();
      out_types[k] = outs[k].dtype();
    }
    // One label per row of the run (a static-batch export's padded rows get -1: not scored).
    const std::int64_t run_rows = s.inputs.empty() || s.inputs[0].rank() == 0 ? 1 : s.inputs[0].dim(0);
    if (s.next.empty()) {
      if (s.labels.empty()) labels.push_back(s.label);
      else labels.insert(labels.end(), s.labels.begin(), s.labels.end());
      labels.resize(labels.size() + static_cast<std::size_t>(std::max<std::int64_t>(run_rows - std::max<std::int64_t>(s.rows, 1), 0)), -1);
    } else {
      labels.insert(labels.end(), s.next.begin(), s.next.end());
      const std::int64_t T = static_cast<std::int64_t>(s.next.size()) / std::max<std::int64_t>(s.rows, 1);
      labels.resize(labels.size() + static_cast<std::size_t>(std::max<std::int64_t>(run_rows - s.rows, 0) * T), -1);
    }
  }
  const auto n = static_cast<std::int64_t>(samples.size());
  nlohmann::json in_man{{"samples", n}, {"split", o.split}, {"data", m.data}, {"inputs", nlohmann::json::array()}};
  for (std::size_t i = 0; i < in_bytes.size(); ++i) {
    const Value& v = g.value(g.inputs()[i]);
    const std::string file = fmt::format("in{}.bin", i);
    write_bytes(dir, "inputs/" + file, in_bytes[i]);
    in_man["inputs"].push_back(
        {{"name", v.name}, {"dtype", json_dtype(v.type.dtype)}, {"shape", v.type.static_shape()}, {"file", file}});
  }
  dir.write("inputs/manifest.json", in_man.dump(1) + "\n");
  nlohmann::json out_man{{"samples", n}, {"engine", quantized ? "qann" : "ann"}, {"outputs", nlohmann::json::array()}};
  for (std::size_t k = 0; k < out_bytes.size(); ++k) {
    const std::string file = fmt::format("out{}.bin", k);
    write_bytes(dir, "engine/" + file, out_bytes[k]);
    out_man["outputs"].push_back({{"name", g.value(g.outputs()[k]).name},
                                  {"dtype", json_dtype(out_types[k])},
                                  {"shape", out_shapes[k]},
                                  {"file", file}});
  }
  dir.write("engine/manifest.json", out_man.dump(1) + "\n");
  std::vector<char> lb(labels.size() * sizeof(std::int64_t));
  std::memcpy(lb.data(), labels.data(), lb.size());
  write_bytes(dir, "labels.bin", lb);
  std::int64_t rows = 0;  // a static-batch export's runs hold B rows each
  for (const pipeline::Sample& s : samples) rows += s.rows;
  return rows;
}

// --nir-subgraphs: every maximal NIR-expressible subgraph of the SNN to its own file OUT_<k>.nir, the cuts
// printed and written to OUT.cuts.json; all files are renamed into place together.
int run_export_nir_subgraphs(const ExportCmdOptions& o, const pipeline::QuantizedModel& m) {
  const std::vector<nir_export::NirSubgraph> subs = nir_export::to_nir_subgraphs(m.snn, o.model);
  if (subs.empty())
    throw UnsupportedError("no node of the SNN can be written as NIR (no SynapseLinear or ST-BIF population NIR expresses)",
                           ErrorContext{o.model, {}, {}, {}});
  std::string stem = o.out;
  if (stem.size() > 4 && stem.ends_with(".nir")) stem.resize(stem.size() - 4);
  std::vector<std::unique_ptr<AtomicFile>> files;
  nlohmann::json manifest{{"model", o.model}, {"subgraphs", nlohmann::json::array()}};
  for (std::size_t k = 0; k < subs.size(); ++k) {
    const nir_export::NirSubgraph& s = subs[k];
    const std::string path = fmt::format("{}_{}.nir", stem, k);
    files.push_back(std::make_unique<AtomicFile>(path, "NIR file"));
    files.back()->write(datasets::nir_file_image(path, s.nir.graph));
    nlohmann::json cuts = nlohmann::json::array();
    for (const nir_export::NirCut& c : s.cuts)
      cuts.push_back({{"direction", c.direction}, {"value", c.value}, {"kind", c.kind}, {"nir_node", c.node},
                      {"nir_shape", c.shape}, {"other", c.other}});
    manifest["subgraphs"].push_back({{"file", std::filesystem::path(path).filename().string()},
                                     {"snn_nodes", s.nodes},
                                     {"populations", s.nir.populations},
                                     {"synaptic_layers", s.nir.synaptic_layers},
                                     {"nir_nodes", s.nir.graph.nodes.size()},
                                     {"cuts", cuts}});
    if (!o.quiet) {
      fmt::print("{}: {} SNN nodes ({} populations, {} synaptic layers) as {} NIR nodes\n", path, s.nodes.size(),
                 s.nir.populations, s.nir.synaptic_layers, s.nir.graph.nodes.size());
      for (const nir_export::NirCut& c : s.cuts)
        fmt::print("  cut {:3} {:7} '{}' {} '{}' (NIR node '{}', shape {})\n", c.direction, c.kind, c.value,
                   c.direction == "in" ? "from" : "to", fmt::format("{}", fmt::join(c.other, "', '")), c.node,
                   shape_to_string(c.shape));
    }
  }
  files.push_back(std::make_unique<AtomicFile>(stem + ".cuts.json", "cuts file"));
  files.back()->write(manifest.dump(1) + "\n");
  std::vector<AtomicOutput*> all;
  for (auto& f : files) all.push_back(f.get());
  commit_together(all);
  if (!o.quiet)
    fmt::print("{} subgraphs; cuts in {}.cuts.json; NIR tensors of R rows are channel-major [C, R]\n", subs.size(), stem);
  return 0;
}

// --format nir. A NIR file is validated by the simulator (shapes, parameters) and written back node for
// node, every parameter with its stored type and shape. An SNN model file: its spiking graph is written with
// the ST-BIF populations as NIR compositions (converter/nir_export.hpp), or refused with the list of nodes
// NIR cannot express.
int run_export_nir(const ExportCmdOptions& o) {
  if (is_nir_path(o.model)) {
    if (o.nir_subgraphs) throw UsageError("--nir-subgraphs applies to SNN model files (.snn.h5), not to a NIR file");
    const pipeline::NirModel m = pipeline::load_nir(o.model);
    datasets::write_nir_file(o.out, m.network.graph());
    if (!o.quiet)
      fmt::print("{}: NIR {} graph of '{}': {} nodes, {} edges, {} parameters\n", o.out, m.network.graph().version,
                 o.model, m.network.graph().nodes.size(), m.network.graph().edges.size(), m.parameter_count);
    return 0;
  }
  if (!datasets::is_model_file(o.model))
    throw UsageError("--format nir exports an SNN model file (.snn.h5 from `snnconv convert`) or a NIR file; '" +
                     o.model + "' is neither");
  const pipeline::QuantizedModel m = pipeline::load_quantized_model(o.model, o.data);
  if (o.nir_subgraphs) return run_export_nir_subgraphs(o, m);
  const nir_export::NirExport e = nir_export::to_nir(m.snn, o.model);
  datasets::write_nir_file(o.out, e.graph);
  if (!o.quiet) {
    fmt::print("{}: NIR graph of the SNN of '{}': {} nodes, {} edges, {} parameters\n", o.out, o.model,
               e.graph.nodes.size(), e.graph.edges.size(), nir::parameter_count(e.graph));
    fmt::print("ST-BIF      {} populations as Integrator/Threshold/Scale compositions ({} level thresholds), {} synaptic "
               "layers\n",
               e.populations, e.threshold_nodes, e.synaptic_layers);
    fmt::print("run         `snnconv run {} --dt 1 --data X.npz`: X [B, T, {}] the features repeated at every step, "
               "T >= {} (quiescent by then); output [B, T, {}], read the last step\n",
               o.out, e.input_features, e.settle_steps, e.outputs);
  }
  return 0;
}

int run_export(const ExportCmdOptions& o) {
  if (o.out.empty()) throw UsageError("--out is required");
  if (o.format == "nir") return run_export_nir(o);
  if (o.nir_subgraphs) throw UsageError("--nir-subgraphs needs --format nir");
  const bool from_file = datasets::is_model_file(o.model);
  pipeline::QuantizedModel m;
  Graph canonical;
  const Graph* g = nullptr;
  if (from_file) {
    if (!o.dims.empty()) throw UsageError("--dims applies to ONNX models; an SNN model file has its shapes fixed");
    m = pipeline::load_quantized_model(o.model, o.data);
    g = &m.qann;
  } else {
    onnx_import::ImportOptions io;
    io.dims = parse_dims(o.dims);
    if (!o.data.empty() && pipeline::is_npz_path(o.data)) {
      // Token rows of an .npz fix a symbolic sequence length the model does not record (as in `run`).
      pipeline::SourceOptions so;
      so.model = o.model;
      so.data = o.data;
      pipeline::ModelSource src = pipeline::open_model(so);
      pipeline::settle_window(src);
      if (!src.seq_symbol.empty() && src.window > 0) io.dims.try_emplace(src.seq_symbol, src.window);
    }
    canonical = onnx_import::import_onnx(o.model, io);
    fuse_graph(canonical);
    g = &canonical;
  }
  std::string data = from_file ? m.data : o.data;
  if (data.empty())
    if (const auto it = canonical.metadata.find("snnconv.data"); it != canonical.metadata.end())
      data = (std::filesystem::path(o.model).parent_path() / it->second).string();
  point_data_from(from_file ? m.qann : canonical, data, o.out);
  if (from_file) m.qann.metadata["snnconv.task"] = m.task;
  onnx_export::ExportOptions eo;
  if (o.form == "integer")
    eo.form = onnx_export::QdqForm::integer;
  else if (o.form == "qdq")
    eo.form = onnx_export::QdqForm::qdq;
  else
    throw UsageError("--form must be qdq or integer, got '" + o.form + "'");
  // The ONNX file and the samples folder are built and checked first, then renamed into place together: a
  // failure in either (samples that do not load, a full disk) leaves neither.
  onnx_export::ExportStats st;
  AtomicFile onnx_file(o.out, "ONNX file");
  onnx_file.write(onnx_export::serialize_onnx(*g, o.out, eo, st));
  std::int64_t dumped = 0;
  std::unique_ptr<AtomicFolder> samples_folder;
  if (!o.samples_dir.empty()) {
    if (!from_file) {
      if (data.empty())
        throw UsageError("the model records no dataset (metadata snnconv.data): give one with --data", {o.model, "", "", ""});
      m.model = o.model;
      m.data = data;
      const auto task = canonical.metadata.find("snnconv.task");
      // Without metadata the task is the graph's (an LM exported without snnconv metadata is not a classifier).
      m.task = task != canonical.metadata.end() ? task->second : pipeline::infer_task(canonical);
      if (m.task.empty()) m.task = "classification";
      m.canonical = canonical;
    }
    samples_folder = std::make_unique<AtomicFolder>(o.samples_dir, "samples folder");
    dumped = dump_samples(*g, m, from_file, o, *samples_folder);
    commit_together({&onnx_file, samples_folder.get()});
  } else {
    onnx_file.commit();
  }
  if (!o.quiet) fmt::print("{}: {} graph of '{}' as ONNX opset {}: {} nodes, {} initializers, {} bytes\n", o.out,
             from_file ? "quantized (QDQ)" : "canonical float", o.model, onnx_export::kExportOpset, st.nodes,
             st.initializers, st.bytes);
  if (from_file)
    if (!o.quiet) fmt::print("QDQ         {} activation QuantizeLinear/DequantizeLinear pairs ({} with a clamp to fewer levels), "
               "{} int8 weights\n",
               st.qdq_pairs, st.clips, st.int8_weights);
  if (from_file && eo.form == onnx_export::QdqForm::integer)
    if (!o.quiet) fmt::print("integer     {} Linears and products computed on exact integer levels, {} LayerNorms and Softmaxes on levels\n",
               st.integer_matmuls, st.integer_units);
  if (samples_folder)
    if (!o.quiet)
      fmt::print("samples     {} rows of {} and the {} engine's outputs -> {}\n", dumped,
                 pipeline::is_npz_path(m.data) ? m.data : fmt::format("split '{}'", o.split), from_file ? "qann" : "ann",
                 o.samples_dir);
  return 0;
}

}  // namespace

void point_data_from(Graph& g, const std::string& data, const std::string& out) {
  // snnconv.data is relative to the model file: re-point it from the exported file's folder so that
  // `snnconv run OUT.onnx` finds the dataset.
  namespace fs = std::filesystem;
  if (data.empty()) return;
  std::error_code ec;
  const fs::path out_dir = fs::absolute(fs::path(out)).parent_path();
  const fs::path rel = fs::relative(fs::absolute(data), out_dir, ec);
  g.metadata["snnconv.data"] = ec || rel.empty() ? fs::absolute(data).string() : rel.string();
}

void add_export(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ExportCmdOptions>();
  auto* cmd = app.add_subcommand(
      "export",
      "Write a model as a standard ONNX file (opset 17) that ONNX Runtime runs: an ONNX model as its canonical "
      "fused float graph (Linear -> MatMul/Add, attention decomposed, GELU as its Erf chain; useful after "
      "pruning), or the QANN of an SNN model file from `snnconv convert` as QDQ (activations through "
      "QuantizeLinear/DequantizeLinear, int8 weights; see --form). --format nir: a NIR file written back "
      "(validated, every parameter kept); an SNN model file as NIR, its ST-BIF populations written exactly as "
      "Integrator/Threshold/Scale compositions (run the file with --dt 1, the features at every step). Partial: only "
      "one-row networks (an MLP: prologue Linear, SynapseLinear, ST-BIF with ReLU or no activation) are written "
      "whole; other models are refused with the list of nodes NIR cannot express, or with --nir-subgraphs written "
      "as their expressible subgraphs with the cuts named (one of fashion_vit's compared with the engine); docs/nir.md)");
  cmd->add_option("model", opts->model,
                  "ONNX model file, an SNN model file (.snn.h5) from `snnconv convert`, or (--format nir) a NIR file")
      ->required();
  cmd->add_option("--out", opts->out, "Output file (ONNX, or NIR with --format nir)")->required();
  cmd->add_option("--format", opts->format, "onnx or nir")->check(CLI::IsMember({"onnx", "nir"}))->capture_default_str();
  cmd->add_flag("--nir-subgraphs", opts->nir_subgraphs,
                "--format nir, SNN model files: write every maximal subgraph NIR expresses (SynapseLinear and ST-BIF "
                "populations) to OUT_<k>.nir and the cuts (tensors crossing between NIR and the rest: currents or "
                "signed spikes) to OUT.cuts.json");
  cmd->add_option("--dims", opts->dims, "ONNX models: sizes of symbolic input dims, e.g. batch=4 (default 1, seq = "
                                        "snnconv.max_seq); the file is written at these static shapes");
  cmd->add_option("--form", opts->form,
                  "Model files: integer (the QANN's own arithmetic op for op: MatMul of the integer levels then "
                  "steps and bias, levels as floor(x/s + 1/2), LayerNorm/Softmax on the levels with int64 sums, "
                  "GELU by the QANN's rational erf; ONNX Runtime reproduces the QANN bit for bit after the float "
                  "prologue) or qdq (the standard form: per-channel DequantizeLinear of the int8 weights -> float "
                  "MatMul, QuantizeLinear, LayerNormalization, Softmax, Erf; close, not exact). Both pass every "
                  "activation through QuantizeLinear/DequantizeLinear")
      ->check(CLI::IsMember({"integer", "qdq"}))
      ->capture_default_str();
  cmd->add_option("--samples", opts->samples_dir,
                  "Also write the inputs of a dataset split (raw tensors + manifest for tools/ort/ort_run.js) and "
                  "our engine's outputs on them (qann for a model file, ann for ONNX) to this folder");
  cmd->add_option("--data", opts->data, "--samples: data (.h5 dataset or .npz; default: the one the model records)");
  cmd->add_option("--split", opts->split, "--samples: HDF5 dataset split (an .npz has none)")->capture_default_str();
  add_limit_option(cmd, opts->limit, "--samples: at most N samples (language models: windows), N >= 1");
  add_quiet_flag(cmd, opts->quiet);
  cmd->callback([opts, &action] { action = [opts] { return run_export(*opts); }; });
}

}  // namespace snnconv::cli
