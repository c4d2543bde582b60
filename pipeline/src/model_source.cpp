// open_model (model_source.hpp): one read of the ONNX file, the task, the data, the window and the batch.
#include "snnconv/pipeline/model_source.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/npz.hpp"
#include "snnconv/datasets/reader.hpp"

namespace snnconv::pipeline {

namespace {

std::string metadata_or(const Graph& g, const std::string& key) {
  const auto it = g.metadata.find(key);
  return it == g.metadata.end() ? std::string() : it->second;
}

std::int64_t parse_positive(const std::string& text, const std::string& what, const std::string& model) {
  try {
    std::size_t used = 0;
    const std::int64_t v = std::stoll(text, &used);
    if (used == text.size() && v >= 1) return v;
  } catch (const std::exception&) {
  }
  throw ParseError(fmt::format("metadata {} = '{}' is not a positive integer", what, text), {model, "", "", ""});
}

bool known_task(const std::string& t) {
  return t == "classification" || t == "language_model" || t == "vqa" || t == "program_synthesis";
}

}  // namespace

bool is_npz_path(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".npz" || ext == ".npy") return true;
  if (ext == ".h5" || ext == ".hdf5") return false;
  return datasets::is_npz_file(path);
}

std::int64_t vocabulary_of(const Graph& g, ValueId input) {
  const auto consumers = g.consumers();
  // Follow a Cast / Identity / Reshape / Unsqueeze chain to the Gather that looks the ids up.
  std::vector<ValueId> frontier{input};
  for (int depth = 0; depth < 4 && !frontier.empty(); ++depth) {
    std::vector<ValueId> next;
    for (ValueId v : frontier)
      for (NodeId n : consumers[v.index]) {
        const Node& node = g.node(n);
        if (node.kind == OpKind::Gather && node.inputs.size() == 2 && node.inputs[1] == v) {
          const Value& table = g.value(node.inputs[0]);
          if (table.constant && table.constant->rank() >= 1) return table.constant->dim(0);
        }
        if (node.kind == OpKind::Cast || node.kind == OpKind::Identity || node.kind == OpKind::Reshape ||
            node.kind == OpKind::Unsqueeze || node.kind == OpKind::Flatten)
          next.push_back(node.outputs.at(0));
      }
    frontier = std::move(next);
  }
  return 0;
}

std::string infer_task(const Graph& g) {
  if (g.outputs().empty() || g.inputs().empty()) return {};
  const TensorType& out = g.value(g.outputs()[0]).type;
  if (!is_float(out.dtype)) return {};
  if (out.rank() == 2) return "classification";
  if (out.rank() != 3) return {};
  // A mask input (integer [B, T], no embedding) says nothing; the inputs that index an embedding decide.
  bool integer_rows = false, embedded = false;
  for (ValueId in : g.inputs()) {
    const TensorType& t = g.value(in).type;
    if (!is_integer(t.dtype) || t.rank() != 2) continue;
    integer_rows = true;
    const std::int64_t vocab = vocabulary_of(g, in);
    if (vocab <= 0) continue;
    embedded = true;
    const Dim& v = out.dims[2];
    if (v.is_known() && v.value == vocab) return "language_model";
  }
  return integer_rows && !embedded ? "language_model" : "";  // no embedding found: the shapes alone
}

int ModelSource::token_input() const {
  // The integer [B, T] input that indexes an embedding (a BERT's input_ids, not its attention_mask), else the
  // first integer [B, T] input.
  int first = -1;
  for (std::size_t i = 0; i < unbound.inputs().size(); ++i) {
    const TensorType& t = unbound.value(unbound.inputs()[i]).type;
    if (!is_integer(t.dtype) || t.rank() != 2) continue;
    if (vocabulary_of(unbound, unbound.inputs()[i]) > 0) return static_cast<int>(i);
    if (first < 0) first = static_cast<int>(i);
  }
  return first;
}

Graph ModelSource::bind(std::int64_t batch, std::int64_t seq, const std::map<std::string, std::int64_t>& extra) const {
  onnx_import::ImportOptions io;
  io.dims = extra;
  if (!batch_symbol.empty()) io.dims[batch_symbol] = run_rows(batch);
  const std::int64_t length = seq > 0 ? seq : window;
  if (!seq_symbol.empty() && length > 0) io.dims[seq_symbol] = length;
  Graph copy = unbound;
  return onnx_import::bind_onnx(std::move(copy), io, model);
}

ModelSource open_model(const SourceOptions& o) {
  ModelSource s;
  s.model = o.model;
  s.unbound = onnx_import::read_onnx(o.model);
  const Graph& g = s.unbound;
  const ErrorContext ctx{o.model, "", "", ""};
  if (g.inputs().empty()) throw UnsupportedError("the model has no inputs", ctx);

  // The batch: dim 0 of the inputs, one symbol for all, or fixed by the export.
  for (ValueId in : g.inputs()) {
    const TensorType& t = g.value(in).type;
    if (t.rank() == 0) continue;
    if (t.dims[0].is_known()) {
      if (s.static_batch == 0) s.static_batch = t.dims[0].value;
    } else if (s.batch_symbol.empty()) {
      s.batch_symbol = t.dims[0].symbol;
    }
  }
  if (!s.batch_symbol.empty()) s.static_batch = 0;  // a symbolic input decides; fixed ones then follow it
  if (s.static_batch < 0) s.static_batch = 0;

  // The data files.
  s.data = o.data;
  if (s.data.empty()) {
    const std::string meta = metadata_or(g, "snnconv.data");
    if (!meta.empty()) s.data = (std::filesystem::path(o.model).parent_path() / meta).string();
  }
  s.calib_data = o.calib_data;

  // The task: --task, else an HDF5 dataset's own (it says how its rows are scored), else the metadata, else the
  // graph's shape.
  if (!o.task.empty()) {
    if (o.task != "classification" && o.task != "language_model" && o.task != "vqa")
      throw UsageError("--task must be classification, language_model or vqa, got '" + o.task + "'", ctx);
    if (o.task == "language_model" && s.token_input() < 0)
      throw UsageError("--task language_model needs an integer token input [batch, seq]; the model has none", ctx);
    s.task = o.task;
    s.task_origin = "--task";
  } else if (!s.data.empty() && !is_npz_path(s.data) && std::filesystem::exists(s.data)) {
    const datasets::DatasetReader reader(s.data);
    s.task = std::string(datasets::task_name(reader.info().task));
    s.task_origin = "dataset";
  } else if (const std::string meta = metadata_or(g, "snnconv.task"); known_task(meta)) {
    s.task = meta;
    s.task_origin = "metadata";
  }

  // The sequence dim: dim 1 of the token input.
  const int tokens = s.token_input();
  std::int64_t fixed_seq = 0;
  if (tokens >= 0) {
    const TensorType& t = g.value(g.inputs()[static_cast<std::size_t>(tokens)]).type;
    if (t.dims[1].is_known()) fixed_seq = t.dims[1].value;
    else s.seq_symbol = t.dims[1].symbol;
  }
  if (o.seq < 0) throw UsageError(fmt::format("--seq must be >= 1, got {}", o.seq), ctx);
  if (o.seq > 0) {
    if (fixed_seq > 0 && o.seq != fixed_seq)
      throw UsageError(fmt::format("--seq {}: the export fixes the sequence length at {}", o.seq, fixed_seq), ctx);
    s.window = o.seq;
  } else if (fixed_seq > 0) {
    s.window = fixed_seq;
  } else if (const std::string meta = metadata_or(g, "snnconv.max_seq"); !meta.empty()) {
    s.window = parse_positive(meta, "snnconv.max_seq", o.model);
  }
  // Inferred from the outputs' types, which read_onnx leaves to shape inference: a binding infers them.
  if (s.task.empty()) {
    try {
      s.task = infer_task(s.bind(1, s.window > 0 ? s.window : 1));
    } catch (const Error&) {  // a model that cannot bind without more dims: the task stays unknown
    }
    if (!s.task.empty()) s.task_origin = "inferred";
  }
  return s;
}

}  // namespace snnconv::pipeline
