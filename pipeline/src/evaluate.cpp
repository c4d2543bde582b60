// evaluate(): a model on a dataset split through the dense engine, scored by the dataset's task.
#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/converter/fuse.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <algorithm>
#include <utility>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/datasets/reader.hpp"
#include "snnconv/pipeline/metrics.hpp"

namespace snnconv::pipeline {
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

// What a non-finite output message suggests checking: the sample's inputs are finite (the reader refuses
// others), so the model overflowed on them or its weights did.
std::string overflow_hint(const Tensor& inputs, std::int64_t row) {
  if (inputs.dtype() != DType::f32 || inputs.rank() == 0) return {};
  const std::int64_t per = inputs.numel() / std::max<std::int64_t>(inputs.dim(0), 1);
  float largest = 0.0f;
  for (std::int64_t j = 0; j < per; ++j) largest = std::max(largest, std::fabs(inputs.data<float>()[row * per + j]));
  return fmt::format("its largest input magnitude is {:.3g}: the model overflows on inputs far outside the range it "
                     "was trained on", largest);
}

// Refuses a non-finite output of the rows [0, count) of `out` (first dim = batch), named by sample index.
void require_finite_batch(const Tensor& out, std::int64_t first, std::int64_t count, const Graph& g,
                          const EvalOptions& o, const std::string& kind, const Tensor* inputs) {
  const std::int64_t per = out.numel() / std::max<std::int64_t>(out.dim(0), 1);
  const std::span<const float> all(out.data<float>(), static_cast<std::size_t>(count * per));
  if (!first_non_finite(all)) return;
  const Shape row_shape(out.shape().begin() + 1, out.shape().end());
  const std::string name = g.outputs().empty() ? "" : g.value(g.outputs()[0]).name;
  for (std::int64_t i = 0; i < count; ++i)
    require_finite_output(all.subspan(static_cast<std::size_t>(i * per), static_cast<std::size_t>(per)), row_shape,
                          OutputSite{name, fmt::format("{} {} of split '{}'", kind, first + i, o.split),
                                     inputs ? overflow_hint(*inputs, i) : ""},
                          {o.model, "", "", name});
}

Tensor fit_input_at(const Tensor& data, const Graph& g, std::size_t input, const EvalOptions& o) {
  const TensorType& t = g.value(g.inputs()[input]).type;
  const Shape shape = t.static_shape();
  if (checked_numel(shape) != data.numel())
    throw UsageError(fmt::format("dataset rows of shape {} do not fit the model input {}",
                                 shape_to_string(data.shape()), type_to_string(t)),
                     {o.model, "", "", g.value(g.inputs()[input]).name});
  Tensor x = data.dtype() == t.dtype ? data : data.cast(t.dtype);
  return x.reshaped(shape);
}

Tensor fit_input(const Tensor& data, const Graph& g, const EvalOptions& o) { return fit_input_at(data, g, 0, o); }

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
  std::vector<float> positive_prob;  // two classes: softmax probability of class 1, for the ROC AUC
  std::vector<std::int64_t> all_labels;
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
    require_finite_batch(logits, begin, count, r->graph, o, "sample", &b.inputs);
    for (std::int64_t i = 0; i < count; ++i) {
      const std::span<const float> row(logits.data<float>() + i * classes, static_cast<std::size_t>(classes));
      correct += argmax_row(row) == labels[static_cast<std::size_t>(i)];
      if (classes == 2) {
        positive_prob.push_back(two_class_probability(row[0], row[1]));
        all_labels.push_back(labels[static_cast<std::size_t>(i)]);
      }
    }
    if (o.progress) o.progress(begin + count, rows);
  }
  if (!positive_prob.empty()) {
    const double auc = roc_auc(positive_prob, all_labels);
    if (!std::isnan(auc)) res.extra["roc_auc"] = auc;
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
  if (seq < 1) throw UsageError("language model evaluation needs a window: give --seq (>= 1)", {o.model, "", "", ""});
  const std::string bsym = input_symbol(probe, 0), ssym = input_symbol(probe, 1);
  if (bsym.empty()) throw UnsupportedError("language model evaluation needs a symbolic batch dim", {o.model, "", "", ""});
  // Window k feeds [k*seq, k*seq + seq) and is scored against the next bytes; the scored bytes are 1..n.
  const std::int64_t n = std::max<std::int64_t>(reader.doc_offsets(o.split).back() - 1, 0);
  const std::int64_t full = n / seq;
  const std::int64_t tail = n - full * seq;  // a last, shorter window
  if (tail > 0 && ssym.empty())
    throw UnsupportedError("the model's sequence length is fixed: the stream does not split into windows of it",
                           {o.model, "", "", ""});
  std::int64_t windows = full + (tail > 0 ? 1 : 0);
  if (o.limit >= 0) windows = std::min(windows, o.limit);
  auto dims_for = [&](std::int64_t b, std::int64_t len) {
    auto d = o.dims;
    d[bsym] = b;
    if (!ssym.empty()) d[ssym] = len;
    return d;
  };
  const std::int64_t full_windows = std::min(windows, full);
  const std::int64_t batch = std::max<std::int64_t>(1, std::min(o.batch, std::max<std::int64_t>(full_windows, 1)));
  std::unique_ptr<Runner> main = full_windows > 0 ? make_runner(o, dims_for(batch, seq)) : nullptr;
  std::vector<std::unique_ptr<Runner>> rest;
  double nats = 0.0, seconds = 0.0;
  std::int64_t scored = 0;
  auto score = [&](Runner& r, std::int64_t first_window, std::int64_t count, std::int64_t len) {
    const std::int64_t begin = first_window * seq;
    // Windows are consecutive: read their bytes plus the one after the last as the targets.
    const std::vector<std::int64_t> bytes = reader.read_range(o.split, "tokens", begin, (count - 1) * seq + len + 1).to_i64();
    std::vector<std::int64_t> tokens(static_cast<std::size_t>(count * len));
    for (std::int64_t b = 0; b < count; ++b)
      std::copy_n(bytes.begin() + b * seq, len, tokens.begin() + b * len);
    const DType in_type = r.graph.value(r.graph.inputs()[0]).type.dtype;
    const std::vector<Tensor> in{Tensor::from_vector<std::int64_t>({count, len}, tokens).cast(in_type)};
    const auto t0 = Clock::now();
    const std::vector<Tensor> out = r.engine->run(in, &r.ledger);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const Tensor logits = out.at(0).cast(DType::f32);  // [count, len, vocab]
    const std::int64_t vocab = logits.shape().back();
    require_finite_batch(logits, first_window, count, r.graph, o, "window", nullptr);
    for (std::int64_t b = 0; b < count; ++b)
      nats += cross_entropy_nats(
          std::span<const float>(logits.data<float>() + b * len * vocab, static_cast<std::size_t>(len * vocab)), vocab,
          std::span<const std::int64_t>(bytes.data() + b * seq + 1, static_cast<std::size_t>(len)));
    scored += count * len;
  };
  for (std::int64_t w = 0; w < full_windows; w += batch) {
    const std::int64_t count = std::min(batch, full_windows - w);
    if (count == batch) {
      score(*main, w, count, seq);
    } else {
      rest.push_back(make_runner(o, dims_for(count, seq)));
      score(*rest.back(), w, count, seq);
    }
  }
  if (windows > full_windows) {
    rest.push_back(make_runner(o, dims_for(1, tail)));
    score(*rest.back(), full, 1, tail);
  }
  Runner* into = main ? main.get() : (rest.empty() ? nullptr : rest.front().get());
  for (auto& r : rest)
    if (r.get() != into) merge_ledger(into->ledger, r->ledger);
  res.samples = windows;
  res.metric = "bits_per_byte";
  res.value = scored > 0 ? nats / std::log(2.0) / static_cast<double>(scored) : 0.0;
  res.extra["bytes_scored"] = static_cast<double>(scored);
  res.seconds = seconds;
  if (into) {
    res.kernels = into->engine->kernel_names();
    res.ledger = std::move(into->ledger);
  }
  return res;
}

// The graph input that holds the image (rank 4, float) and the one with the tokens (rank 2, integer).
std::pair<std::size_t, std::size_t> vqa_inputs(const Graph& g, const std::string& model) {
  std::size_t image = g.inputs().size(), tokens = g.inputs().size();
  for (std::size_t i = 0; i < g.inputs().size(); ++i) {
    const TensorType& t = g.value(g.inputs()[i]).type;
    if (t.rank() == 4 && is_float(t.dtype)) image = i;
    if (t.rank() == 2 && is_integer(t.dtype)) tokens = i;
  }
  if (image == g.inputs().size() || tokens == g.inputs().size() || g.inputs().size() != 2)
    throw UnsupportedError("vqa evaluation needs exactly two inputs: an image [B,C,H,W] and tokens [B,seq]",
                           {model, "", "", ""});
  return {image, tokens};
}

EvalResult exact_match(const EvalOptions& o, const Graph& probe, const datasets::DatasetReader& reader,
                       EvalResult res) {
  std::int64_t rows = reader.count(o.split);
  if (o.limit >= 0) rows = std::min(rows, o.limit);
  const auto [image_in, token_in] = vqa_inputs(probe, o.model);
  const TensorType& tt = probe.value(probe.inputs()[token_in]).type;
  const TensorType& it = probe.value(probe.inputs()[image_in]).type;
  if (tt.dims[0].is_known() || tt.dims[1].is_known())
    throw UnsupportedError("vqa evaluation needs symbolic batch and sequence dims on the tokens input", {o.model, "", "", ""});
  const std::string bsym = tt.dims[0].symbol, ssym = tt.dims[1].symbol;
  // One engine per (batch, padded length); the lengths of a batch follow the questions, so few are needed.
  std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<Runner>> runners;
  Runner* first = nullptr;
  const std::int64_t batch = std::max<std::int64_t>(1, std::min(o.batch, std::max<std::int64_t>(rows, 1)));
  std::int64_t matches = 0;
  double seconds = 0.0;
  for (std::int64_t begin = 0; begin < rows; begin += batch) {
    const std::int64_t count = std::min(batch, rows - begin);
    const std::vector<std::int64_t> pl = reader.read_rows(o.split, "prompt_lengths", begin, count).to_i64();
    const std::vector<std::int64_t> al = reader.read_rows(o.split, "answer_lengths", begin, count).to_i64();
    const Tensor pt = reader.read_rows(o.split, "prompt_tokens", begin, count);
    const Tensor at = reader.read_rows(o.split, "answer_tokens", begin, count);
    const std::vector<std::int64_t> ptv = pt.to_i64(), atv = at.to_i64();
    std::int64_t len = 1;
    for (std::int64_t b = 0; b < count; ++b) len = std::max(len, pl[static_cast<std::size_t>(b)] + al[static_cast<std::size_t>(b)]);
    std::vector<std::int64_t> tokens(static_cast<std::size_t>(count * len), 0);
    for (std::int64_t b = 0; b < count; ++b) {
      const auto p = pl[static_cast<std::size_t>(b)], a = al[static_cast<std::size_t>(b)];
      std::copy_n(ptv.begin() + b * pt.dim(1), p, tokens.begin() + b * len);
      std::copy_n(atv.begin() + b * at.dim(1), a, tokens.begin() + b * len + p);
    }
    auto& r = runners[{count, len}];
    if (!r) {
      auto d = o.dims;
      d[bsym] = count;
      d[ssym] = len;
      if (!it.dims[0].is_known()) d[it.dims[0].symbol] = count;
      r = make_runner(o, d);
      if (!first) first = r.get();
    }
    // Images: uint8 [count, 28, 28] -> the model's input `images / 255` of its static shape.
    const Tensor pixels = reader.read_rows(o.split, "images", begin, count).cast(DType::f32);
    Tensor image(DType::f32, pixels.shape());
    const float* src = pixels.data<float>();
    float* dst = image.data<float>();
    for (std::int64_t i = 0; i < image.numel(); ++i) dst[i] = src[i] * (1.0f / 255.0f);
    std::vector<Tensor> in(2);
    in[image_in] = fit_input_at(image, r->graph, image_in, o);
    in[token_in] = Tensor::from_vector<std::int64_t>({count, len}, tokens).cast(r->graph.value(r->graph.inputs()[token_in]).type.dtype);
    const auto t0 = Clock::now();
    const std::vector<Tensor> out = r->engine->run(in, &r->ledger);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const Tensor logits = out.at(0).cast(DType::f32);  // [count, len, vocab]
    const std::int64_t vocab = logits.shape().back();
    require_finite_batch(logits, begin, count, r->graph, o, "sample", nullptr);
    for (std::int64_t b = 0; b < count; ++b) {
      const auto p = pl[static_cast<std::size_t>(b)], a = al[static_cast<std::size_t>(b)];
      bool ok = a > 0;
      // The byte at position p + j is predicted at position p + j - 1.
      for (std::int64_t j = 0; ok && j < a; ++j)
        ok = argmax_row(std::span<const float>(logits.data<float>() + (b * len + p + j - 1) * vocab,
                                               static_cast<std::size_t>(vocab))) ==
             atv[static_cast<std::size_t>(b * at.dim(1) + j)];
      matches += ok;
    }
  }
  for (auto& [key, r] : runners)
    if (r.get() != first) merge_ledger(first->ledger, r->ledger);
  res.samples = rows;
  res.metric = "exact_match";
  res.value = rows > 0 ? static_cast<double>(matches) / static_cast<double>(rows) : 0.0;
  res.seconds = seconds;
  if (first) {
    res.kernels = first->engine->kernel_names();
    res.ledger = std::move(first->ledger);
  }
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
    case datasets::Task::vqa: res = exact_match(o, probe, reader, std::move(res)); break;
    case datasets::Task::program_synthesis:
      throw UnsupportedError("scoring " + res.task + " datasets in `snnconv run` is not implemented; `snnconv cascade` "
                             "scores pass@1 of program synthesis (docs/cascades.md)",
                             {data.string(), "", "", ""});
  }
  res.samples_per_s = res.seconds > 0 ? static_cast<double>(res.samples) / res.seconds : 0.0;
  return res;
}

}  // namespace snnconv::pipeline
