// evaluate(): a model on a dataset split through the dense engine, scored by the dataset's task.
#include "snnconv/cascade/evaluate.hpp"
#include "snnconv/converter/fuse.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/datasets/reader.hpp"

namespace snnconv::cascade {
namespace {

using Clock = std::chrono::steady_clock;

// The symbol of dim `d` of the first graph input, or "" when that dim is fixed (or absent).
std::string input_symbol(const Graph& g, std::size_t d) {
  if (g.inputs().empty()) return {};
  const TensorType& t = g.value(g.inputs()[0]).type;
  if (d >= t.dims.size() || t.dims[d].is_known()) return {};
  return t.dims[d].symbol;
}

std::filesystem::path data_path(const EvalOptions& o, const Graph& probe) {
  if (!o.data.empty()) return o.data;
  const auto it = probe.metadata.find("snnconv.data");
  if (it == probe.metadata.end())
    throw UsageError("the model records no dataset (metadata snnconv.data): give one with --data",
                     {o.model, "", "", ""});
  return std::filesystem::path(o.model).parent_path() / it->second;
}

// One engine per bound batch size (the full batch, and a remainder batch when the dim is symbolic).
struct Runner {
  Graph graph;
  std::unique_ptr<ann::Engine> engine;
  Ledger ledger;
};

std::unique_ptr<Runner> make_runner(const EvalOptions& o, const std::map<std::string, std::int64_t>& dims) {
  auto r = std::make_unique<Runner>();
  onnx_import::ImportOptions io;
  io.dims = dims;
  r->graph = onnx_import::import_onnx(o.model, io);
  if (o.fuse) fuse_graph(r->graph);
  r->engine = std::make_unique<ann::Engine>(
      r->graph, ann::EngineOptions{.threads = o.threads, .reference_only = o.reference_only});
  r->ledger = Ledger::for_graph(r->graph);
  return r;
}

// Adds a remainder runner's ledger to the main one; graphs bound to another batch normally have the same
// nodes, and when folding made them differ only the sample count is kept.
void merge_ledger(Ledger& into, const Ledger& from) {
  if (from.node_names == into.node_names) into.merge(from);
  else into.samples += from.samples;
}

std::int64_t argmax_row(const float* row, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t j = 1; j < n; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

Tensor fit_input(const Tensor& data, const Graph& g, const EvalOptions& o) {
  const TensorType& t = g.value(g.inputs()[0]).type;
  const Shape shape = t.static_shape();
  if (checked_numel(shape) != data.numel())
    throw UsageError(fmt::format("dataset rows of shape {} do not fit the model input {}",
                                 shape_to_string(data.shape()), type_to_string(t)),
                     {o.model, "", "", g.value(g.inputs()[0]).name});
  Tensor x = data.dtype() == t.dtype ? data : data.cast(t.dtype);
  return x.reshaped(shape);
}

EvalResult classify(const EvalOptions& o, const Graph& probe, const datasets::DatasetReader& reader, EvalResult res) {
  std::int64_t rows = reader.count(o.split);
  if (o.limit >= 0) rows = std::min(rows, o.limit);
  const std::string sym = input_symbol(probe, 0);
  auto dims_for = [&](std::int64_t b) {
    auto d = o.dims;
    if (!sym.empty()) d[sym] = b;
    return d;
  };
  const std::int64_t want = std::max<std::int64_t>(1, std::min(o.batch, std::max<std::int64_t>(rows, 1)));
  auto main = make_runner(o, dims_for(want));
  const std::int64_t batch = main->graph.value(main->graph.inputs()[0]).type.static_shape().at(0);
  std::unique_ptr<Runner> rest;
  std::int64_t correct = 0;
  double seconds = 0.0;
  for (std::int64_t begin = 0; begin < rows; begin += batch) {
    const std::int64_t count = std::min(batch, rows - begin);
    const datasets::ClassificationBatch b = datasets::read_classification_batch(reader, o.split, begin, count);
    Runner* r = main.get();
    Tensor x = b.inputs;
    if (count < batch && !sym.empty()) {
      rest = make_runner(o, dims_for(count));
      r = rest.get();
    } else if (count < batch) {  // fixed batch: zero-pad
      Shape s = x.shape();
      s[0] = batch;
      Tensor padded(DType::f32, s);
      std::copy(x.span<float>().begin(), x.span<float>().end(), padded.span<float>().begin());
      x = std::move(padded);
    }
    const std::vector<Tensor> in{fit_input(x, r->graph, o)};
    const auto t0 = Clock::now();
    const std::vector<Tensor> out = r->engine->run(in, &r->ledger);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const Tensor logits = out.at(0).cast(DType::f32);
    const std::int64_t classes = logits.numel() / logits.dim(0);
    const std::vector<std::int64_t> labels = b.labels.to_i64();
    for (std::int64_t i = 0; i < count; ++i)
      correct += argmax_row(logits.data<float>() + i * classes, classes) == labels[static_cast<std::size_t>(i)];
    if (o.progress) o.progress(begin + count, rows);
  }
  if (rest) merge_ledger(main->ledger, rest->ledger);
  res.samples = rows;
  res.metric = "accuracy";
  res.value = rows > 0 ? static_cast<double>(correct) / static_cast<double>(rows) : 0.0;
  res.seconds = seconds;
  res.kernels = main->engine->kernel_names();
  res.ledger = std::move(main->ledger);
  return res;
}

EvalResult bits_per_byte(const EvalOptions& o, const Graph& probe, const datasets::DatasetReader& reader,
                         EvalResult res) {
  std::int64_t seq = o.seq;
  if (seq <= 0) {
    const auto it = probe.metadata.find("snnconv.max_seq");
    if (it != probe.metadata.end()) seq = std::stoll(it->second);
  }
  if (seq < 2) throw UsageError("language model evaluation needs a window: give --seq (>= 2)", {o.model, "", "", ""});
  const std::int64_t total = reader.doc_offsets(o.split).back();
  std::int64_t windows = total / seq;
  if (o.limit >= 0) windows = std::min(windows, o.limit);
  const std::string bsym = input_symbol(probe, 0), ssym = input_symbol(probe, 1);
  auto dims_for = [&](std::int64_t b) {
    auto d = o.dims;
    if (!bsym.empty()) d[bsym] = b;
    if (!ssym.empty()) d[ssym] = seq;
    return d;
  };
  if (bsym.empty()) throw UnsupportedError("language model evaluation needs a symbolic batch dim", {o.model, "", "", ""});
  const std::int64_t batch = std::max<std::int64_t>(1, std::min(o.batch, std::max<std::int64_t>(windows, 1)));
  auto main = make_runner(o, dims_for(batch));
  std::unique_ptr<Runner> rest;
  double nats = 0.0, seconds = 0.0;
  for (std::int64_t w = 0; w < windows; w += batch) {
    const std::int64_t count = std::min(batch, windows - w);
    Runner* r = main.get();
    if (count < batch) {
      rest = make_runner(o, dims_for(count));
      r = rest.get();
    }
    const std::vector<std::int64_t> tokens = reader.read_range(o.split, "tokens", w * seq, count * seq).to_i64();
    const DType in_type = r->graph.value(r->graph.inputs()[0]).type.dtype;
    const std::vector<Tensor> in{Tensor::from_vector<std::int64_t>({count, seq}, tokens).cast(in_type)};
    const auto t0 = Clock::now();
    const std::vector<Tensor> out = r->engine->run(in, &r->ledger);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const Tensor logits = out.at(0).cast(DType::f32);  // [count, seq, vocab]
    const std::int64_t vocab = logits.shape().back();
    const float* pl = logits.data<float>();
    for (std::int64_t b = 0; b < count; ++b)
      for (std::int64_t t = 0; t + 1 < seq; ++t) {
        const float* row = pl + (b * seq + t) * vocab;
        const float mx = row[argmax_row(row, vocab)];
        double sum = 0.0;
        for (std::int64_t j = 0; j < vocab; ++j) sum += std::exp(static_cast<double>(row[j] - mx));
        const auto next = tokens[static_cast<std::size_t>(b * seq + t + 1)];
        nats += std::log(sum) - static_cast<double>(row[next] - mx);
      }
    if (o.progress) o.progress(w + count, windows);
  }
  if (rest) merge_ledger(main->ledger, rest->ledger);
  res.samples = windows;
  res.metric = "bits_per_byte";
  const double bytes = static_cast<double>(windows * (seq - 1));
  res.value = bytes > 0 ? nats / std::log(2.0) / bytes : 0.0;
  res.seconds = seconds;
  res.kernels = main->engine->kernel_names();
  res.ledger = std::move(main->ledger);
  return res;
}

}  // namespace

EvalResult evaluate(const EvalOptions& o) {
  if (o.batch < 1) throw UsageError(fmt::format("batch must be >= 1, got {}", o.batch));
  const Graph probe = onnx_import::read_onnx(o.model);  // unbound: which input dims are symbolic
  const std::filesystem::path data = data_path(o, probe);
  const datasets::DatasetReader reader(data);
  if (!reader.has_split(o.split))
    throw UsageError(fmt::format("dataset has no split '{}'", o.split), {data.string(), "", "", ""});
  EvalResult res;
  res.model = o.model;
  res.data = data.string();
  res.task = std::string(datasets::task_name(reader.info().task));
  switch (reader.info().task) {
    case datasets::Task::classification: res = classify(o, probe, reader, std::move(res)); break;
    case datasets::Task::language_model: res = bits_per_byte(o, probe, reader, std::move(res)); break;
    case datasets::Task::vqa:
    case datasets::Task::program_synthesis:
      throw UnsupportedError("scoring " + res.task + " datasets is not implemented yet", {data.string(), "", "", ""});
  }
  res.samples_per_s = res.seconds > 0 ? static_cast<double>(res.samples) / res.seconds : 0.0;
  return res;
}

}  // namespace snnconv::cascade
