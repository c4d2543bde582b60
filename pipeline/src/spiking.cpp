// quantize_model / run_spiking (spiking.hpp): the QANN and SNN on a real model and dataset.
#include "snnconv/pipeline/spiking.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/datasets/model_file.hpp"
#include "snnconv/datasets/reader.hpp"
#include "snnconv/datasets/recording_file.hpp"
#include "snnconv/pipeline/metrics.hpp"

namespace snnconv::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

std::filesystem::path dataset_of(const std::string& model, const std::string& data, const Graph& g) {
  if (!data.empty()) return data;
  const auto it = g.metadata.find("snnconv.data");
  if (it == g.metadata.end())
    throw UsageError("the model records no dataset (metadata snnconv.data): give one with --data", {model, "", "", ""});
  return std::filesystem::path(model).parent_path() / it->second;
}

std::int64_t window_of(const std::string& model, std::int64_t seq, const Graph& g) {
  if (seq > 0) return seq;
  const auto it = g.metadata.find("snnconv.max_seq");
  if (it != g.metadata.end()) return std::stoll(it->second);
  throw UsageError("language model needs a window: give --seq", {model, "", "", ""});
}

// Classification: correct (0/1); language model: summed nats over the predicted positions. `index` names the
// sample (its position in the run) when the output is not finite.
double score(const std::string& task, const Graph& g, const Tensor& logits, const Sample& s, std::int64_t index,
             const char* engine) {
  const std::span<const float> all(logits.data<float>(), static_cast<std::size_t>(logits.numel()));
  const std::string name = g.outputs().empty() ? "" : g.value(g.outputs()[0]).name;
  require_finite_output(all, logits.shape(),
                        OutputSite{name, fmt::format("sample {} of the run on the {}", index, engine),
                                   "the quantized model's levels are bounded, so a float unit (an embedding, a "
                                   "whole-vector unit) overflowed"});
  const std::int64_t v = logits.shape().back();
  auto row = [&](std::size_t t) { return all.subspan(t * static_cast<std::size_t>(v), static_cast<std::size_t>(v)); };
  if (task == "classification") return argmax_row(row(0)) == s.label ? 1.0 : 0.0;
  if (task == "vqa") {  // exact match: every answer byte is the argmax under teacher forcing (= greedy decoding)
    for (std::size_t t = 0; t < s.next.size(); ++t)
      if (s.next[t] >= 0 && argmax_row(row(t)) != s.next[t]) return 0.0;
    return 1.0;
  }
  return cross_entropy_nats(all, v, s.next);
}

double finish(const std::string& task, double total, const std::vector<Sample>& samples) {
  if (samples.empty()) return 0.0;
  if (task == "classification" || task == "vqa") return total / static_cast<double>(samples.size());
  double bytes = 0.0;
  for (const Sample& s : samples)
    for (std::int64_t n : s.next) bytes += n >= 0 ? 1.0 : 0.0;
  return bytes > 0 ? total / std::log(2.0) / bytes : 0.0;
}

}  // namespace

QuantizedModel prepare_model(const QuantizeModelOptions& o) {
  const Graph probe = onnx_import::read_onnx(o.model);
  QuantizedModel m;
  m.model = o.model;
  m.data = dataset_of(o.model, o.data, probe).string();
  const datasets::DatasetReader reader(m.data);
  m.task = std::string(datasets::task_name(reader.info().task));
  onnx_import::ImportOptions io;
  for (ValueId in : probe.inputs()) {  // bind the symbolic dims: batch 1, sequence = the window
    const TensorType& t = probe.value(in).type;
    for (std::size_t d = 0; d < t.dims.size(); ++d)
      if (!t.dims[d].is_known() && !io.dims.count(t.dims[d].symbol))
        io.dims[t.dims[d].symbol] = d == 0 ? 1 : window_of(o.model, o.seq, probe);
  }
  if (m.task != "classification" && m.task != "language_model" && m.task != "vqa")
    throw UnsupportedError("quantization and spiking runs of " + m.task + " datasets are not implemented yet",
                           {m.data, "", "", ""});
  m.canonical = onnx_import::import_onnx(o.model, io);
  fuse_graph(m.canonical);
  if (o.calib_samples < 1) throw UsageError("calibration needs at least 1 sample");
  const std::string calib_split = !o.calib_split.empty() ? o.calib_split : reader.has_split("train") ? "train" : "val";
  if (!reader.has_split(calib_split))
    throw UsageError("dataset has no split '" + calib_split + "' for calibration", {m.data, "", "", ""});
  m.calibration_split = calib_split;
  return m;
}

std::vector<std::vector<Tensor>> calibration_inputs(const QuantizedModel& m, const QuantizeModelOptions& o) {
  std::vector<std::vector<Tensor>> inputs;
  for (Sample& s : load_samples(m, m.calibration_split, o.calib_samples)) inputs.push_back(std::move(s.inputs));
  return inputs;
}

void quantize_prepared(QuantizedModel& m, const QuantizeModelOptions& o) {
  QannSkeleton sk = build_qann_skeleton(m.canonical);
  const std::vector<std::vector<Tensor>> inputs = calibration_inputs(m, o);
  const Calibration cal = calibrate(sk, inputs, o.quant);
  m.calibration_samples = cal.samples;
  m.qann = quantize_skeleton(sk, cal, o.quant);
  m.snn = convert_to_spiking(m.qann);
  m.points = std::move(sk.points);
  m.linears = std::move(sk.linears);
  m.weight_bits = o.quant.weight_bits;
  m.weight_group = o.quant.weight_group;
  m.act_bits = o.quant.act_bits;
  m.clip = std::string(clip_method_name(o.quant.clip));
}

std::string QuantizedModel::bits_label() const {
  std::string label = "W" + std::to_string(weight_bits) + "A" + std::to_string(act_bits);
  if (weight_group > 0) label += " g" + std::to_string(weight_group);
  return label;
}

QuantizedModel quantize_model(const QuantizeModelOptions& o) {
  QuantizedModel m = prepare_model(o);
  quantize_prepared(m, o);
  return m;
}

std::vector<Sample> load_samples(const QuantizedModel& m, const std::string& split, std::int64_t limit) {
  const datasets::DatasetReader reader(m.data);
  if (!reader.has_split(split)) throw UsageError("dataset has no split '" + split + "'", {m.data, "", "", ""});
  const Graph& g = m.canonical.num_values() > 0 ? m.canonical : m.qann;
  if (g.inputs().empty()) throw GraphError("the model has no inputs", {m.model, "", "", ""});
  const TensorType& t = g.value(g.inputs().at(0)).type;
  const Shape shape = t.static_shape();
  std::vector<Sample> out;
  if (m.task == "classification") {
    std::int64_t rows = reader.count(split);
    if (limit >= 0) rows = std::min(rows, limit);
    if (rows == 0) return out;
    const datasets::ClassificationBatch b = datasets::read_classification_batch(reader, split, 0, rows);
    const std::int64_t per = b.inputs.numel() / rows;
    if (per != checked_numel(shape))
      throw UsageError(fmt::format("dataset rows of shape {} do not fit the model input {}",
                                   shape_to_string(b.inputs.shape()), type_to_string(t)),
                       {m.model, "", "", g.value(g.inputs()[0]).name});
    const Tensor x = b.inputs.cast(DType::f32);
    const std::vector<std::int64_t> labels = b.labels.to_i64();
    for (std::int64_t i = 0; i < rows; ++i) {
      std::vector<float> v(x.data<float>() + i * per, x.data<float>() + (i + 1) * per);
      for (float f : v)
        if (!std::isfinite(f))
          throw NumericError(fmt::format("sample {} of split '{}' holds a non-finite value", i, split),
                             {m.data, "", "", "inputs"});
      Sample s;
      s.inputs.push_back(Tensor::from_vector<float>(shape, v).cast(t.dtype));
      s.label = labels[static_cast<std::size_t>(i)];
      out.push_back(std::move(s));
    }
    return out;
  }
  if (m.task == "vqa") {  // inputs image/255 and prompt+answer bytes (0-padded); scored by teacher forcing
    if (g.inputs().size() != 2) throw UsageError("a vqa model needs two inputs (image, tokens)", {m.model, "", "", ""});
    const Shape tshape = g.value(g.inputs()[1]).type.static_shape();
    const std::int64_t seq = tshape.back();
    std::int64_t rows = reader.count(split);
    if (limit >= 0) rows = std::min(rows, limit);
    const Tensor images = reader.read_rows(split, "images", 0, rows).cast(DType::f32);
    const std::vector<std::int64_t> pt = reader.read_rows(split, "prompt_tokens", 0, rows).to_i64();
    const std::vector<std::int64_t> pl = reader.read_rows(split, "prompt_lengths", 0, rows).to_i64();
    const std::vector<std::int64_t> at = reader.read_rows(split, "answer_tokens", 0, rows).to_i64();
    const std::vector<std::int64_t> al = reader.read_rows(split, "answer_lengths", 0, rows).to_i64();
    const std::int64_t pw = static_cast<std::int64_t>(pt.size()) / std::max<std::int64_t>(rows, 1);
    const std::int64_t aw = static_cast<std::int64_t>(at.size()) / std::max<std::int64_t>(rows, 1);
    const std::int64_t per = images.numel() / std::max<std::int64_t>(rows, 1);
    if (per != checked_numel(shape))
      throw UsageError("vqa images do not fit the model's image input " + type_to_string(t), {m.model, "", "", ""});
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      if (pl[ui] + al[ui] > seq || pl[ui] < 1 || al[ui] < 1)
        throw UsageError(fmt::format("vqa row {}: prompt+answer of {} bytes do not fit the window {}", i,
                                     pl[ui] + al[ui], seq), {m.data, "", "", ""});
      std::vector<float> img(images.data<float>() + i * per, images.data<float>() + (i + 1) * per);
      for (float& f : img) f /= 255.0f;
      std::vector<std::int64_t> tok(static_cast<std::size_t>(seq), 0);
      Sample s;
      s.next.assign(static_cast<std::size_t>(seq), -1);
      for (std::int64_t j = 0; j < pl[ui]; ++j) tok[static_cast<std::size_t>(j)] = pt[static_cast<std::size_t>(i * pw + j)];
      for (std::int64_t j = 0; j < al[ui]; ++j) {
        const std::int64_t b = at[static_cast<std::size_t>(i * aw + j)];
        tok[static_cast<std::size_t>(pl[ui] + j)] = b;
        s.next[static_cast<std::size_t>(pl[ui] + j - 1)] = b;  // the logits at position p predict byte p + 1
      }
      s.inputs.push_back(Tensor::from_vector<float>(shape, img).cast(t.dtype));
      s.inputs.push_back(Tensor::from_vector<std::int64_t>(tshape, tok).cast(g.value(g.inputs()[1]).type.dtype));
      out.push_back(std::move(s));
    }
    return out;
  }
  const std::int64_t seq = shape.back();
  const std::int64_t total = reader.doc_offsets(split).back();
  std::int64_t windows = total / seq;
  if (limit >= 0) windows = std::min(windows, limit);
  for (std::int64_t w = 0; w < windows; ++w) {
    const std::vector<std::int64_t> tokens = reader.read_range(split, "tokens", w * seq, seq).to_i64();
    Sample s;
    s.inputs.push_back(Tensor::from_vector<std::int64_t>({1, seq}, tokens).cast(t.dtype));
    s.next.assign(static_cast<std::size_t>(seq), -1);
    for (std::int64_t i = 0; i + 1 < seq; ++i) s.next[static_cast<std::size_t>(i)] = tokens[static_cast<std::size_t>(i + 1)];
    out.push_back(std::move(s));
  }
  return out;
}

std::string quantized_model_image(const QuantizedModel& m, const QuantizeModelOptions& o, const std::string& path) {
  const std::map<std::string, std::string> meta{
      {"model", m.model},
      {"data", m.data},
      {"task", m.task},
      {"weight_bits", std::to_string(o.quant.weight_bits)},
      {"weight_group", std::to_string(o.quant.weight_group)},
      {"act_bits", std::to_string(o.quant.act_bits)},
      {"clip", std::string(clip_method_name(o.quant.clip))},
      {"calibration_samples", std::to_string(m.calibration_samples)},
      {"calibration_split", m.calibration_split}};
  return datasets::model_file_image(path, meta, {{"qann", &m.qann}, {"snn", &m.snn}});
}

void save_quantized_model(const QuantizedModel& m, const QuantizeModelOptions& o, const std::string& path) {
  write_file_atomically(path, quantized_model_image(m, o, path), "model file");
}

QuantizedModel load_quantized_model(const std::string& path, const std::string& data) {
  datasets::ModelFile f = datasets::read_model_file(path);
  QuantizedModel m;
  auto meta = [&](const char* k) {
    const auto it = f.metadata.find(k);
    if (it == f.metadata.end()) throw ParseError(std::string("model file lacks attribute '") + k + "'", {path, "", "", ""});
    return it->second;
  };
  m.model = meta("model");
  m.data = data.empty() ? meta("data") : data;
  m.task = meta("task");
  m.calibration_split = meta("calibration_split");
  auto number = [&](const char* k) -> std::int64_t {
    try {
      return std::stoll(meta(k));
    } catch (const std::logic_error&) {
      throw ParseError(std::string("model file attribute ") + k + " is not a number", {path, "", "", ""});
    }
  };
  m.calibration_samples = number("calibration_samples");
  m.weight_bits = static_cast<int>(number("weight_bits"));
  m.weight_group = static_cast<int>(number("weight_group"));
  m.act_bits = static_cast<int>(number("act_bits"));
  m.clip = meta("clip");
  for (auto& [name, g] : f.graphs) {
    if (name == "qann") m.qann = std::move(g);
    if (name == "snn") m.snn = std::move(g);
  }
  if (m.qann.stage != Stage::quantized || m.snn.stage != Stage::spiking || m.qann.num_nodes() == 0 || m.snn.num_nodes() == 0)
    throw ParseError("model file must hold a 'qann' (quantized) and an 'snn' (spiking) graph", {path, "", "", ""});
  return m;
}

SpikingRunResult run_spiking(const QuantizedModel& m, const std::vector<Sample>& samples, const SpikingRunOptions& o) {
  SpikingRunResult r;
  r.metric = m.task == "classification" ? "accuracy" : m.task == "vqa" ? "exact_match" : "bits_per_byte";
  r.samples = static_cast<std::int64_t>(samples.size());
  const auto t0 = Clock::now();
  double total = 0.0;
  if (o.engine == SpikingEngine::qann) {
    std::int64_t i = 0;
    for (const Sample& s : samples) {
      total += score(m.task, m.qann, ann::run_qann(m.qann, s.inputs).outputs.at(0), s, i++, "QANN");
      if (o.on_sample) o.on_sample(i, r.samples);
    }
    r.value = finish(m.task, total, samples);
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return r;
  }
  snn::Engine engine(m.snn, {o.mode, o.max_steps, o.threads});
  r.ledger = Ledger::for_graph(m.snn);
  if (o.on_read && !std::is_sorted(o.read_steps.begin(), o.read_steps.end()))
    throw UsageError("run_spiking: read_steps must be ascending");
  std::vector<std::vector<double>> curves;  // per sample: its score read at every step it ran
  std::vector<double> finals;
  long long steps_sum = 0;
  r.output_mismatches = o.check_exact ? 0 : -1;
  const bool record = !o.record_path.empty();
  if (!record && !o.raster.empty()) throw UsageError("--raster needs --record FILE.h5");
  if (record && o.record_samples < 1) throw UsageError("record_samples must be >= 1");
  datasets::RecordingFile rec_file;
  rec_file.metadata = {{"model", m.model}, {"data", m.data}, {"task", m.task},
                       {"mode", o.mode == snn::FireMode::strict ? "strict" : "burst"}};
  rec_file.raster_names = o.raster;
  std::int64_t index = 0;
  for (const Sample& s : samples) {
    std::vector<double> per_step;
    const bool reads = static_cast<bool>(o.on_read);
    Ledger own = reads ? Ledger::for_graph(m.snn) : Ledger{};
    snn::StepObserver obs = [&](int t, const std::vector<Tensor>& outs) {
      if (o.curve) per_step.push_back(score(m.task, m.snn, outs.at(0), s, index, "SNN"));
      if (reads && std::binary_search(o.read_steps.begin(), o.read_steps.end(), t)) o.on_read(index, t, false, outs.at(0), own);
    };
    snn::Recording rec;
    rec.raster = o.raster;
    const bool rec_this = record && index < o.record_samples;
    const snn::RunResult res = engine.run(s.inputs, reads ? &own : &r.ledger, o.curve || reads ? &obs : nullptr,
                                          rec_this ? &rec : nullptr);
    if (reads) {
      o.on_read(index, res.steps, true, res.outputs.at(0), own);
      r.ledger.merge(own);
    }
    if (rec_this) {
      rec_file.populations = rec.populations;
      rec_file.neurons = rec.neurons;
      datasets::RecordingFile::Sample rs;
      rs.index = index;
      rs.steps = res.steps;
      rs.spikes_pos = std::move(rec.spikes_pos);
      rs.spikes_neg = std::move(rec.spikes_neg);
      for (const auto& events : rec.raster_events) {
        std::vector<std::int32_t> flat;
        flat.reserve(events.size() * 3);
        for (const auto& e : events) flat.insert(flat.end(), {e.step, e.neuron, e.delta});
        rs.raster.push_back(std::move(flat));
      }
      rec_file.samples.push_back(std::move(rs));
    }
    ++index;
    if (o.on_sample) o.on_sample(index, r.samples);
    const double sc = score(m.task, m.snn, res.outputs.at(0), s, index - 1, "SNN");
    total += sc;
    steps_sum += res.steps;
    r.max_steps = std::max(r.max_steps, res.steps);
    r.not_quiescent += res.quiescent ? 0 : 1;
    if (o.curve) {
      curves.push_back(std::move(per_step));
      finals.push_back(sc);
    }
    if (o.check_exact) {
      const ann::QannResult q = ann::run_qann(m.qann, s.inputs);
      for (std::size_t k = 0; k < q.outputs.size() && k < res.outputs.size(); ++k) {
        const Tensor& a = q.outputs[k];
        const Tensor& b = res.outputs[k];
        if (a.shape() != b.shape()) {
          r.output_mismatches += a.numel();
          continue;
        }
        for (std::int64_t i = 0; i < a.numel(); ++i)
          r.output_mismatches += std::memcmp(a.data<float>() + i, b.data<float>() + i, sizeof(float)) != 0;
      }
    }
  }
  if (record) datasets::write_recording_file(o.record_path, rec_file);
  // A sample that reached quiescence before the longest one keeps its final reading at the later steps.
  if (o.curve) {
    std::size_t longest = 0;
    for (const auto& c : curves) longest = std::max(longest, c.size());
    r.curve.assign(longest, 0.0);
    for (std::size_t t = 0; t < longest; ++t) {
      double sum = 0.0;
      for (std::size_t i = 0; i < curves.size(); ++i) sum += t < curves[i].size() ? curves[i][t] : finals[i];
      r.curve[t] = finish(m.task, sum, samples);
    }
  }
  r.value = finish(m.task, total, samples);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double n = std::max<double>(1.0, static_cast<double>(samples.size()));
  r.mean_steps = static_cast<double>(steps_sum) / n;
  Counters sum;
  for (const Counters& c : r.ledger.per_node) sum += c;
  r.spikes_per_inference = static_cast<double>(sum.spikes()) / n;
  std::uint64_t acs = 0;
  for (std::uint64_t a : sum.acs) acs += a;
  r.synaptic_ops_per_inference = static_cast<double>(acs) / n;
  for (std::uint32_t i = 0; i < m.snn.num_nodes(); ++i) {
    const Node& nd = m.snn.node(NodeId(i));
    if (nd.kind != OpKind::SpikeNeuron) continue;
    LayerSpikes l;
    l.name = m.snn.value(nd.outputs[0]).name;
    l.neurons = checked_numel(m.snn.value(nd.outputs[0]).type.static_shape());
    l.spikes_per_inference = static_cast<double>(r.ledger.per_node[i].spikes()) / n;
    l.rate_per_neuron_step = r.mean_steps > 0 && l.neurons > 0
                                 ? l.spikes_per_inference / (static_cast<double>(l.neurons) * r.mean_steps)
                                 : 0.0;
    r.layers.push_back(std::move(l));
  }
  return r;
}

}  // namespace snnconv::pipeline
