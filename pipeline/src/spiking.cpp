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
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/pipeline/metrics.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/datasets/model_file.hpp"
#include "snnconv/datasets/reader.hpp"
#include "snnconv/datasets/recording_file.hpp"
#include "spiking_shards.hpp"

namespace snnconv::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

const Graph& graph_of(const QuantizedModel& m) {
  const Graph& g = m.canonical.num_values() > 0 ? m.canonical : m.qann;
  if (g.inputs().empty()) throw GraphError("the model has no inputs", {m.model, "", "", ""});
  return g;
}

// Rows every run of the bound graph takes (dim 0 of its first input).
std::int64_t graph_rows(const Graph& g) {
  const TensorType& t = g.value(g.inputs()[0]).type;
  return t.rank() > 0 && t.dims[0].is_known() ? t.dims[0].value : 1;
}

}  // namespace

ModelSource source_of(const QuantizedModel& m) {
  ModelSource s;
  s.model = m.model;
  s.unbound = graph_of(m);
  s.task = m.task;
  s.task_origin = "model";
  s.data = m.data;
  s.calib_data = m.calib_data;
  s.static_batch = graph_rows(s.unbound);
  const int tokens = s.token_input();
  if (tokens >= 0) {
    const TensorType& t = s.unbound.value(s.unbound.inputs()[static_cast<std::size_t>(tokens)]).type;
    if (t.dims[1].is_known()) s.window = t.dims[1].value;
  }
  return s;
}

QuantizedModel prepare_model(const ModelSource& src, Graph canonical, const QuantizeModelOptions& o) {
  QuantizedModel m;
  m.model = src.model;
  m.data = src.data;
  m.task = src.task;
  if (m.task == "program_synthesis")
    throw UnsupportedError("quantization and spiking runs of program_synthesis models are scored by `snnconv cascade` only",
                           {m.data, "", "", ""});
  if (o.calib_samples < 1) throw UsageError("calibration needs at least 1 sample");
  m.canonical = std::move(canonical);
  if (o.calib_rows) {
    m.calib_data = "";
    m.calibration_split = "arrays";
    m.calibration_description = fmt::format("the first {} samples of {}", std::min(o.calib_samples, o.calib_rows->rows),
                                            o.calib_rows->description);
    return m;
  }
  m.calib_data = !o.calib_data.empty() ? o.calib_data : !src.calib_data.empty() ? src.calib_data : m.data;
  if (m.calib_data.empty()) {
    if (!o.synthetic_calibration)
      throw UsageError("no data to calibrate on: give --data FILE (.npz or .h5) or --calib-data FILE (the model records "
                       "no snnconv.data)",
                       {m.model, "", "", ""});
    m.calibration_split = "synthetic";
    m.calibration_description = synthetic_rows(source_of(m), 1).description;
    const std::size_t colon = m.calibration_description.find('(');
    m.calibration_description = fmt::format("{} synthetic inputs {}", o.calib_samples,
                                            colon == std::string::npos ? "" : m.calibration_description.substr(colon));
    return m;
  }
  if (!std::filesystem::exists(m.calib_data)) throw IoError("the calibration data file does not exist", {m.calib_data, "", "", ""});
  if (is_npz_path(m.calib_data)) {
    m.calibration_split = "npz";
    m.calibration_description = fmt::format("the first {} samples of {}{}", o.calib_samples, m.calib_data,
                                            m.calib_data == m.data ? " (the data also scored: give --calib-data for a "
                                                                     "separate calibration set)"
                                                                   : "");
    return m;
  }
  const datasets::DatasetReader reader(m.calib_data);
  const std::string calib_split = !o.calib_split.empty() ? o.calib_split : reader.has_split("train") ? "train" : "val";
  if (!reader.has_split(calib_split))
    throw UsageError("dataset has no split '" + calib_split + "' for calibration", {m.calib_data, "", "", ""});
  m.calibration_split = calib_split;
  m.calibration_description = fmt::format("the first {} samples of split '{}' of {}", o.calib_samples, calib_split, m.calib_data);
  return m;
}

QuantizedModel prepare_model(const QuantizeModelOptions& o) {
  SourceOptions so;
  so.model = o.model;
  so.task = o.task;
  so.data = o.data;
  so.calib_data = o.calib_data;
  so.seq = o.seq;
  ModelSource src = open_model(so);
  settle_window(src);  // token rows of an .npz fix a symbolic sequence length the model does not record
  if (!src.seq_symbol.empty() && src.window == 0)
    throw UsageError("the model's sequence length is symbolic: give the window with --seq", {o.model, "", "", ""});
  Graph canonical = src.bind(1);
  fuse_graph(canonical);
  return prepare_model(src, std::move(canonical), o);
}

std::vector<std::vector<Tensor>> calibration_inputs(const QuantizedModel& m, const QuantizeModelOptions& o) {
  const ModelSource src = source_of(m);
  RowSet rows;
  if (m.calibration_split == "arrays" && o.calib_rows) rows = head(*o.calib_rows, o.calib_samples);
  else if (m.calibration_split == "synthetic") rows = synthetic_rows(src, o.calib_samples);
  else rows = load_rows(src, m.calib_data, RowRequest{m.calibration_split, o.calib_samples, 0});
  if (rows.rows == 0) throw UsageError("the calibration data has no samples", {m.calib_data, "", "", ""});
  std::vector<std::vector<Tensor>> inputs;
  for (Sample& s : group_samples(m, rows)) inputs.push_back(std::move(s.inputs));
  return inputs;
}

namespace detail {

QannSkeleton quantization_skeleton(QuantizedModel& m) {
  QannSkeleton sk = build_qann_skeleton(m.canonical);
  m.file_points = 0;
  for (const Node& n : m.canonical.nodes()) {
    m.file_points += n.kind == OpKind::FakeQuant;
    if (n.kind == OpKind::Attention) {  // a QAT file's score / probability steps, fused into the Attention
      const auto& at = std::get<AttentionAttrs>(n.attrs);
      m.file_points += at.scores_quant.has_value() + at.probs_quant.has_value();
    }
  }
  return sk;
}

std::vector<std::vector<Tensor>> skeleton_calibration_inputs(const QuantizedModel& m, const QannSkeleton& sk,
                                                              const QuantizeModelOptions& o) {
  // A QDQ file with every point the QANN needs converts without calibration data.
  if (sk.points.empty()) return {};
  std::vector<std::vector<Tensor>> inputs = calibration_inputs(m, o);
  if (inputs.empty()) throw UsageError("calibration needs at least one sample");
  return inputs;
}

void finish_quantized(QuantizedModel& m, QannSkeleton&& sk, std::int64_t calibrated, const ActivationSteps& steps,
                      const QuantizeModelOptions& o) {
  m.calibration_samples = std::min<std::int64_t>(calibrated * graph_rows(m.canonical), o.calib_samples);
  // The description was written before the data was read: it states what was asked for. Say what was used.
  if (sk.points.empty()) {
    m.calibration_description = fmt::format("no calibration: the file's own steps at its {} quantization points",
                                            m.file_points);
  } else if (m.calibration_samples < o.calib_samples) {
    const std::string asked = fmt::format("the first {} samples", o.calib_samples);
    if (m.calibration_description.rfind(asked, 0) == 0)
      m.calibration_description.replace(0, asked.size(), fmt::format("all {} samples", m.calibration_samples));
  }
  m.qann = quantize_skeleton(sk, steps, o.quant);
  m.snn = convert_to_spiking(m.qann);
  m.points = std::move(sk.points);
  m.linears = std::move(sk.linears);
  m.weight_bits = o.quant.weight_bits;
  m.weight_group = o.quant.weight_group;
  m.act_bits = o.quant.act_bits;
  m.clip = std::string(clip_method_name(o.quant.clip));
}

}  // namespace detail

void quantize_prepared(QuantizedModel& m, const QuantizeModelOptions& o) {
  QannSkeleton sk = detail::quantization_skeleton(m);
  const std::vector<std::vector<Tensor>> inputs = detail::skeleton_calibration_inputs(m, sk, o);
  const Calibration cal = calibrate(sk, inputs, o.quant);
  const ActivationSteps steps = choose_activation_steps(sk, cal, o.quant);
  detail::finish_quantized(m, std::move(sk), cal.samples, steps, o);
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

std::vector<Sample> group_samples(const QuantizedModel& m, const RowSet& rs) {
  const std::int64_t B = graph_rows(graph_of(m));
  std::vector<Sample> out;
  for (std::int64_t begin = 0; begin < rs.rows; begin += B) {
    Sample s;
    s.rows = std::min(B, rs.rows - begin);
    s.inputs = take_rows(rs, begin, s.rows, B);
    if (!rs.labels.empty()) {
      s.labels.assign(rs.labels.begin() + begin, rs.labels.begin() + begin + s.rows);
      s.label = s.labels.front();
    }
    if (!rs.next.empty())
      s.next.assign(rs.next.begin() + begin * rs.seq, rs.next.begin() + (begin + s.rows) * rs.seq);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Sample> load_samples(const QuantizedModel& m, const std::string& split, std::int64_t limit) {
  if (m.data.empty()) throw UsageError("no data to run on: give --data FILE (.npz or .h5)", {m.model, "", "", ""});
  return group_samples(m, load_rows(source_of(m), m.data, RowRequest{split, limit, 0}));
}

SampleScore score_sample(const std::string& task, const Tensor& out, const Sample& s, const OutputSite& site) {
  SampleScore sc;
  const Tensor logits = out.dtype() == DType::f32 ? out : out.cast(DType::f32);
  const float* p = logits.data<float>();
  const std::int64_t inner = logits.numel() / std::max<std::int64_t>(logits.rank() > 0 ? logits.dim(0) : 1, 1);
  const std::int64_t v = logits.shape().empty() ? 1 : logits.shape().back();
  // A metric of a non-finite output is undefined: refused naming the output, the sample and the element (only
  // the rows that are scored: a static batch's padded rows are not).
  const std::int64_t real_rows = std::min(s.rows, logits.rank() > 0 ? logits.dim(0) : 1);
  require_finite_output(std::span<const float>(p, static_cast<std::size_t>(inner * real_rows)), logits.shape(), site);
  auto span_of = [](const float* row, std::int64_t n) { return std::span<const float>(row, static_cast<std::size_t>(n)); };
  if (!s.labels.empty()) {
    for (std::int64_t r = 0; r < s.rows; ++r) {
      const std::int64_t label = s.labels[static_cast<std::size_t>(r)];
      if (label < 0 || label >= inner)
        throw UsageError(fmt::format("label {} is not a class of the model's {} outputs", label, inner));
      sc.value += argmax_row(span_of(p + r * inner, inner)) == label ? 1.0 : 0.0;
    }
    sc.count = static_cast<double>(s.rows);
    return sc;
  }
  if (s.next.empty()) return sc;
  const std::int64_t T = static_cast<std::int64_t>(s.next.size()) / s.rows;
  const std::int64_t positions = std::min(T, inner / v);
  for (std::int64_t r = 0; r < s.rows; ++r) {
    const float* row0 = p + r * inner;
    const std::int64_t* next = s.next.data() + r * T;
    if (task == "vqa") {  // exact match: every answer byte is the argmax under teacher forcing (= greedy decoding)
      bool ok = true, any = false;
      for (std::int64_t t = 0; t < positions && ok; ++t)
        if (next[t] >= 0) {
          any = true;
          ok = argmax_row(span_of(row0 + t * v, v)) == next[t];
        }
      sc.value += ok && any ? 1.0 : 0.0;
      sc.count += 1.0;
      continue;
    }
    sc.value += cross_entropy_nats(span_of(row0, positions * v), v,
                                   std::span<const std::int64_t>(next, static_cast<std::size_t>(positions)));
    for (std::int64_t t = 0; t < positions; ++t) sc.count += next[t] >= 0 ? 1.0 : 0.0;
  }
  return sc;
}

std::string metric_of(const std::string& task, const std::vector<Sample>& samples) {
  for (const Sample& s : samples) {
    if (!s.labels.empty()) return "accuracy";
    if (!s.next.empty()) return task == "vqa" ? "exact_match" : "bits_per_byte";
  }
  return {};
}

double finish_metric(const std::string& metric, const SampleScore& total) {
  if (total.count <= 0.0 || metric.empty()) return 0.0;
  if (metric == "bits_per_byte") return total.value / std::log(2.0) / total.count;
  return total.value / total.count;
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
      {"calibration_split", m.calibration_split},
      {"calibration_data", m.calib_data},
      {"calibration_description", m.calibration_description}};
  return datasets::model_file_image(path, meta, {{"qann", &m.qann}, {"snn", &m.snn}});
}

void save_quantized_model(const QuantizedModel& m, const QuantizeModelOptions& o, const std::string& path) {
  write_file_atomically(path, quantized_model_image(m, o, path), "model file");
}

namespace {
QuantizedModel from_model_file(datasets::ModelFile f, const std::string& path, const std::string& data) {
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
  // Files written before the model source (issue 15) lack these.
  if (const auto it = f.metadata.find("calibration_data"); it != f.metadata.end()) m.calib_data = it->second;
  if (const auto it = f.metadata.find("calibration_description"); it != f.metadata.end())
    m.calibration_description = it->second;
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
}  // namespace

QuantizedModel load_quantized_model(const std::string& path, const std::string& data) {
  return from_model_file(datasets::read_model_file(path), path, data);
}

SpikingRunResult run_spiking(const QuantizedModel& m, const std::vector<Sample>& samples, const SpikingRunOptions& o) {
  SpikingRunResult r;
  r.metric = metric_of(m.task, samples);
  for (const Sample& s : samples) r.samples += s.rows;
  const Graph& io = m.qann.num_nodes() > 0 ? m.qann : m.snn;
  for (ValueId v : io.outputs()) r.output_names.push_back(io.value(v).name);
  std::vector<std::vector<Tensor>> kept;  // per sample, per output: its real rows
  auto keep = [&](const std::vector<Tensor>& outs, const Sample& s) {
    if (!o.keep_outputs) return;
    std::vector<Tensor> rows;
    for (const Tensor& t : outs) {
      Shape sh = t.shape();
      if (sh.empty() || sh[0] == s.rows) {
        rows.push_back(t);
        continue;
      }
      const std::size_t row_bytes = t.nbytes() / static_cast<std::size_t>(sh[0]);
      sh[0] = s.rows;
      Tensor cut(t.dtype(), sh);
      std::memcpy(cut.raw(), t.raw(), row_bytes * static_cast<std::size_t>(s.rows));
      rows.push_back(std::move(cut));
    }
    kept.push_back(std::move(rows));
  };
  auto gather_kept = [&] {
    if (kept.empty()) return;
    for (std::size_t k = 0; k < kept.front().size(); ++k) {
      Shape sh = kept.front()[k].shape();
      if (sh.empty()) continue;
      sh[0] = 0;
      for (const auto& per : kept) sh[0] += per[k].dim(0);
      Tensor all(kept.front()[k].dtype(), sh);
      std::size_t at = 0;
      for (const auto& per : kept) {
        std::memcpy(all.raw() + at, per[k].raw(), per[k].nbytes());
        at += per[k].nbytes();
      }
      r.outputs.push_back(std::move(all));
    }
  };
  const auto t0 = Clock::now();
  SampleScore total;
  auto add = [](SampleScore& into, const SampleScore& s) {
    into.value += s.value;
    into.count += s.count;
  };
  // Where a non-finite output came from, for the message.
  auto site = [&](const Graph& g, std::int64_t i, const char* engine) {
    return OutputSite{g.outputs().empty() ? "" : g.value(g.outputs()[0]).name,
                      fmt::format("sample {} of the run on the {}", i, engine),
                      "the quantized model's levels are bounded, so a float unit (an embedding, a whole-vector unit) "
                      "overflowed"};
  };
  const bool model_parallel = o.partition_ranks > 0;
  if (model_parallel && o.engine != SpikingEngine::snn)
    throw UsageError("--partition splits the spiking network: it needs --engine snn");
  if (model_parallel && (o.on_read || !o.record_path.empty() || o.keep_recording))
    throw UsageError("a model-parallel run (--partition) records no spikes and reads no samples early: run those on one process");
  const bool dist = distributed(o.comm) && !model_parallel;  // data parallel: samples sharded over the ranks
  const ShardRange shard = dist ? shard_of(samples.size(), o.comm->rank(), o.comm->size()) : ShardRange{0, samples.size()};
  if (dist && (!o.record_path.empty() || o.keep_recording))
    throw UsageError("a data-parallel run (more than one rank) records no spikes: run --record on one process");
  if (o.engine == SpikingEngine::qann) {
    // The QANN's Linears on the W8A8 GEMM, each weight packed once for the run (the same bits as the int64 loops).
    ann::QannCache qcache;
    const ann::QannOptions qo{.int8_kernels = true, .cache = &qcache};
    // Data parallel: each rank runs its shard, rank 0 gets every output and scores them in sample order.
    std::vector<snn::RunResult> shard_outs;
    if (dist) {
      shard_outs.resize(samples.size());
      for (std::size_t i = shard.lo; i < shard.hi; ++i) shard_outs[i].outputs = ann::run_qann(m.qann, samples[i].inputs, qo).outputs;
      std::vector<std::vector<SampleScore>> no_curves(samples.size());
      if (!detail::gather_shards(*o.comm, shard_outs, no_curves, r.ledger)) {
        SpikingRunResult other;
        other.root = false;
        return other;
      }
    }
    std::int64_t qi = 0, done = 0;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const Sample& s = samples[i];
      const std::vector<Tensor> outs = dist ? std::move(shard_outs[i].outputs) : ann::run_qann(m.qann, s.inputs, qo).outputs;
      add(total, score_sample(m.task, outs.at(0), s, site(m.qann, qi, "QANN")));
      qi += s.rows;
      keep(outs, s);
      if (o.on_sample) o.on_sample(++done, r.samples);
    }
    r.value = finish_metric(r.metric, total);
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    gather_kept();
    return r;
  }
  snn::EngineOptions eo{o.mode, o.max_steps, o.threads};
  eo.batch = o.batch;
  eo.max_memory_bytes = o.max_memory_bytes;
  snn::Engine engine(m.snn, eo);
  r.threads = engine.threads();
  if (model_parallel) {
    PartitionReport pr;
    pr.placement = o.partition_groups.empty() ? engine.place_by_work(o.partition_ranks)
                                              : engine.place_by_groups(o.partition_groups, o.partition_ranks, "chips");
    engine.partition(o.comm, pr.placement);
    r.partition = std::move(pr);
  }
  r.ledger = Ledger::for_graph(m.snn);
  if (o.on_read && !std::is_sorted(o.read_steps.begin(), o.read_steps.end()))
    throw UsageError("run_spiking: read_steps must be ascending");
  const std::size_t count = samples.size();
  std::vector<std::vector<SampleScore>> curves(count);  // per sample: its score read at every step it ran
  std::vector<SampleScore> finals;
  long long steps_sum = 0;
  r.output_mismatches = o.check_exact ? 0 : -1;
  const bool record = !o.record_path.empty() || o.keep_recording;
  if (!record && !o.raster.empty()) throw UsageError("--raster needs --record FILE.h5");
  if (record && o.record_samples < 1) throw UsageError("record_samples must be >= 1");
  datasets::RecordingFile rec_file;
  rec_file.metadata = {{"model", m.model}, {"data", m.data}, {"task", m.task},
                       {"mode", o.mode == snn::FireMode::strict ? "strict" : "burst"}};
  rec_file.raster_names = o.raster;
  std::vector<snn::RunResult> results;
  if (!record && !o.on_read) {
    // Every sample in layer-synchronous passes over the engine's threads (snn::Engine::run_batch). The
    // observer runs on the shard threads; each writes only its own sample's curve.
    // Data parallel: this rank's shard only; rank 0 gathers the others' results (spiking_shards.hpp).
    std::vector<std::vector<Tensor>> inputs;
    inputs.reserve(shard.hi - shard.lo);
    for (std::size_t i = shard.lo; i < shard.hi; ++i) inputs.push_back(samples[i].inputs);
    const auto lo = static_cast<std::int64_t>(shard.lo);
    snn::BatchObserver obs = [&](std::int64_t j, int, const std::vector<Tensor>& outs) {
      const std::int64_t i = lo + j;
      curves[static_cast<std::size_t>(i)].push_back(
          score_sample(m.task, outs.at(0), samples[static_cast<std::size_t>(i)], site(m.snn, i, "SNN")));
    };
    std::vector<snn::RunResult> mine = engine.run_batch(inputs, &r.ledger, o.curve ? &obs : nullptr);
    if (model_parallel) {
      // Every rank ran every sample; rank 0 holds the outputs and the gathered ledger. The bytes each rank sent
      // go to rank 0 for the report.
      const std::uint64_t sent = o.comm ? o.comm->bytes_sent() : 0;
      std::vector<std::string> all{std::string(reinterpret_cast<const char*>(&sent), sizeof sent)};
      if (distributed(o.comm)) all = o.comm->gather(all[0], 0);
      if (o.comm && o.comm->rank() != 0) {
        SpikingRunResult other;
        other.root = false;
        return other;
      }
      for (const std::string& b : all) {
        std::uint64_t v = 0;
        if (b.size() != sizeof v) throw Error("another rank sent a byte count of another size");
        std::memcpy(&v, b.data(), sizeof v);
        r.partition->bytes_sent.push_back(v);
      }
      for (const snn::RunResult& x : mine) r.partition->sample_steps += static_cast<std::uint64_t>(x.steps);
      results = std::move(mine);
    } else if (!dist) {
      results = std::move(mine);
    } else {
      results.resize(count);
      std::move(mine.begin(), mine.end(), results.begin() + lo);
      if (!detail::gather_shards(*o.comm, results, curves, r.ledger)) {
        SpikingRunResult other;
        other.root = false;
        return other;
      }
    }
  } else {
    // Recording and per-sample reads (own ledgers) go sample by sample. Data parallel (reads only, no recording):
    // this rank's shard, with the samples' global indices; rank 0 gathers the others' results.
    if (dist) results.resize(count);
    std::int64_t index = static_cast<std::int64_t>(shard.lo);
    for (std::size_t si = shard.lo; si < shard.hi; ++si) {
      const Sample& s = samples[si];
      std::vector<SampleScore>& per_step = curves[static_cast<std::size_t>(index)];
      const bool reads = static_cast<bool>(o.on_read);
      Ledger own = reads ? Ledger::for_graph(m.snn) : Ledger{};
      snn::StepObserver obs = [&](int t, const std::vector<Tensor>& outs) {
        if (o.curve) per_step.push_back(score_sample(m.task, outs.at(0), s, site(m.snn, index, "SNN")));
        if (reads && std::binary_search(o.read_steps.begin(), o.read_steps.end(), t)) o.on_read(index, t, false, outs.at(0), own);
      };
      snn::Recording rec;
      rec.raster = o.raster;
      const bool rec_this = record && index < o.record_samples;
      snn::RunResult res = engine.run(s.inputs, reads ? &own : &r.ledger, o.curve || reads ? &obs : nullptr,
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
      if (dist)
        results[si] = std::move(res);
      else
        results.push_back(std::move(res));
      ++index;
    }
    if (dist && !detail::gather_shards(*o.comm, results, curves, r.ledger)) {
      SpikingRunResult other;
      other.root = false;
      return other;
    }
  }
  r.snn_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (std::size_t i = 0; i < count; ++i) {
    const Sample& s = samples[i];
    const snn::RunResult& res = results[i];
    if (o.on_sample) o.on_sample(static_cast<std::int64_t>(i) + 1, r.samples);
    const SampleScore sc = score_sample(m.task, res.outputs.at(0), s, site(m.snn, static_cast<std::int64_t>(i), "SNN"));
    add(total, sc);
    keep(res.outputs, s);
    steps_sum += res.steps;
    r.max_steps = std::max(r.max_steps, res.steps);
    r.not_quiescent += res.quiescent ? 0 : 1;
    if (o.curve) finals.push_back(sc);
    if (o.check_exact) {
      const ann::QannResult q = ann::run_qann(m.qann, s.inputs);
      for (std::size_t k = 0; k < q.outputs.size() && k < res.outputs.size(); ++k) {
        const Tensor& a = q.outputs[k];
        const Tensor& b = res.outputs[k];
        if (a.shape() != b.shape()) {
          r.output_mismatches += a.numel();
          continue;
        }
        for (std::int64_t j = 0; j < a.numel(); ++j)
          r.output_mismatches += std::memcmp(a.data<float>() + j, b.data<float>() + j, sizeof(float)) != 0;
      }
    }
  }
  if (!o.record_path.empty()) datasets::write_recording_file(o.record_path, rec_file);
  if (o.keep_recording) r.recording = std::move(rec_file);
  // A sample that reached quiescence before the longest one keeps its final reading at the later steps.
  if (o.curve) {
    std::size_t longest = 0;
    for (const auto& c : curves) longest = std::max(longest, c.size());
    r.curve.assign(longest, 0.0);
    for (std::size_t t = 0; t < longest; ++t) {
      SampleScore sum;
      for (std::size_t i = 0; i < curves.size(); ++i) add(sum, t < curves[i].size() ? curves[i][t] : finals[i]);
      r.curve[t] = finish_metric(r.metric, sum);
    }
  }
  r.value = finish_metric(r.metric, total);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  gather_kept();
  // The engine counts one sample per run; a static-batch export computes all of its rows each run (padding
  // included), and per-inference figures divide by the rows computed.
  const std::int64_t B = graph_rows(m.snn);
  r.ledger.samples *= static_cast<std::uint64_t>(B);
  const double runs = std::max<double>(1.0, static_cast<double>(samples.size()));
  const double n = runs * static_cast<double>(B);
  r.mean_steps = static_cast<double>(steps_sum) / runs;
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
