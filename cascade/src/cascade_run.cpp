// run_cascade(): runs every stage on the calibration and evaluation rows, prices it, scores the self-test,
// calibrates the thresholds and evaluates the chosen plan (cascade.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include "snnconv/ann_baseline/decode.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/cascade/cascade.hpp"
#include "snnconv/cascade/dsl.hpp"
#include "snnconv/pipeline/model_source.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/communicator.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/core/si_format.hpp"
#include "snnconv/datasets/reader.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv::cascade {
using namespace snnconv::pipeline;  // the stages a cascade and the front door run
namespace {

using Clock = std::chrono::steady_clock;

struct RowRange {
  std::string split;
  std::int64_t begin = 0, end = -1;  // end < 0: to the end of the split
  std::string text;
};

RowRange parse_rows(const std::string& text, const std::string& option) {
  RowRange r;
  r.text = text;
  const std::size_t c = text.find(':');
  r.split = text.substr(0, c);
  if (r.split.empty()) throw UsageError(fmt::format("{} '{}': no split name", option, text));
  if (c == std::string::npos) return r;
  const std::string rest = text.substr(c + 1);
  const std::size_t c2 = rest.find(':');
  auto num = [&](const std::string& s) {
    std::size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != s.size() || s.empty() || v < 0)
      throw UsageError(fmt::format("{} '{}': rows must be NAME:BEGIN:END with 0 <= BEGIN < END", option, text));
    return static_cast<std::int64_t>(v);
  };
  if (c2 == std::string::npos)
    throw UsageError(fmt::format("{} '{}': rows must be NAME:BEGIN:END with 0 <= BEGIN < END", option, text));
  r.begin = num(rest.substr(0, c2));
  r.end = num(rest.substr(c2 + 1));
  if (r.end <= r.begin)
    throw UsageError(fmt::format("{} '{}': rows must be NAME:BEGIN:END with 0 <= BEGIN < END", option, text));
  return r;
}

std::filesystem::path dataset_for(const CascadeOptions& o) {
  if (!o.data.empty()) return o.data;
  const Graph g = onnx_import::read_onnx(o.stages[0].model);
  const auto it = g.metadata.find("snnconv.data");
  if (it == g.metadata.end())
    throw UsageError("the first stage's model records no dataset (metadata snnconv.data): give --data",
                     {o.stages[0].model, "", "", ""});
  return std::filesystem::path(o.stages[0].model).parent_path() / it->second;
}

hw::ProfilePrice price_on(const hw::Profile& p, const std::string& name, const Graph& g, const Ledger& l,
                          const StageSpec& s) {
  const hw::PricingSubject subject = hw::make_pricing_subject(name, g, l);
  hw::ProfilePrice r = p.kind == hw::ProfileKind::ops ? hw::price_compute_only(subject) : hw::price_on_profile(subject, p);
  if (!r.result.fits)
    throw UsageError(fmt::format("stage '{}' does not fit profile {}; price it on another (hw=PROFILE)", s.text, p.name));
  return r;
}

hw::ProfilePrice price(const std::string& profile, const std::string& name, const Graph& g, const Ledger& l,
                       const StageSpec& s) {
  return price_on(hw::find_profile(profile), name, g, l, s);
}

// What a stage produced on the rows of one split.
struct StageRows {
  std::vector<SampleOutcome> outcomes;
  double accuracy = 0.0;
};

// ---- classification -----------------------------------------------------------------------------------

struct ClassifierRun {
  std::vector<float> final_logits, half_logits;
  double cost_pj = -1.0;  // SNN: this sample's own price; < 0: the stage mean
};

class ClassifierStages {
 public:
  ClassifierStages(const CascadeOptions& o, std::string data) : o_(o), data_(std::move(data)) {}

  const QuantizedModel& model(const StageSpec& s) {
    const int act = s.engine == StageEngine::ann ? 8 : s.act_bits;
    const int w = s.engine == StageEngine::ann ? 8 : s.weight_bits;
    const std::string key = fmt::format("{}|{}|{}", s.model, w, act);
    auto it = models_.find(key);
    if (it != models_.end()) return *it->second;
    QuantizeModelOptions qo;
    qo.model = s.model;
    qo.data = data_;
    qo.calib_samples = o_.calib_samples;
    qo.quant.weight_bits = w;
    qo.quant.act_bits = act;
    qo.quant.threads = o_.threads;
    // Quantized once, jointly by the ranks of a data-parallel run (each calibrates its shard; every rank holds the
    // same model, float graph included, or the same error).
    QuantizedModel q = quantize_jointly(o_.comm, qo, [&] { return prepare_model(qo); });
    auto m = std::make_unique<QuantizedModel>(std::move(q));
    return *models_.emplace(key, std::move(m)).first->second;
  }

  std::vector<Sample> rows(const QuantizedModel& m, const RowRange& r) {
    const Graph& g = m.canonical.num_values() > 0 ? m.canonical : m.qann;
    const TensorType& in = g.value(g.inputs().at(0)).type;
    if (in.rank() > 0 && in.dims[0].is_known() && in.dims[0].value > 1)
      throw UnsupportedError(fmt::format("cascade stages run one sample per pass; the export fixes the batch at {}: "
                                         "export with batch 1 or dynamic_axes (run, convert, generate and the report "
                                         "take static batches)",
                                         in.dims[0].value),
                             {m.model, "", "", ""});
    std::vector<Sample> all = load_samples(m, r.split, r.end);
    if (r.end >= 0 && static_cast<std::int64_t>(all.size()) < r.end)
      throw UsageError(fmt::format("split '{}' has {} rows, fewer than {} asks for", r.split, all.size(), r.text),
                       {data_, "", "", ""});
    all.erase(all.begin(), all.begin() + std::min<std::int64_t>(r.begin, static_cast<std::int64_t>(all.size())));
    return all;
  }

  // Runs the stage on both row ranges; fills outcomes (score by the self-test) and the stage's mean cost.
  void run(const StageSpec& s, const std::string& profile, const std::vector<RowRange>& ranges,
           std::vector<StageRows>& out, double& cost_pj) {
    const QuantizedModel& m = model(s);
    Ledger ledger;
    const Graph* priced = nullptr;
    std::vector<std::vector<ClassifierRun>> runs(ranges.size());
    std::vector<std::vector<Sample>> samples;
    for (const RowRange& r : ranges) samples.push_back(rows(m, r));
    // Data parallel: this rank runs the rows of its shard of all rows in order (calibration rows, then evaluation
    // rows); rank 0 gathers the others' runs below.
    std::size_t total = 0;
    for (const auto& v : samples) total += v.size();
    const ShardRange mine = distributed(o_.comm) ? shard_of(total, o_.comm->rank(), o_.comm->size()) : ShardRange{0, total};
    std::size_t flat = 0;
    auto runs_here = [&] { return flat >= mine.lo && flat < mine.hi; };
    for (std::size_t k = 0; k < ranges.size(); ++k) runs[k].resize(samples[k].size());
    if (s.engine == StageEngine::snn) {
      const snn::FireMode mode = s.mode == "burst" ? snn::FireMode::burst : snn::FireMode::strict;
      snn::Engine engine(m.snn, {mode, s.steps > 0 ? s.steps : 4096, 1});
      ledger = Ledger::for_graph(m.snn);
      priced = &m.snn;
      const hw::Profile prof = hw::find_profile(profile);
      for (std::size_t k = 0; k < ranges.size(); ++k)
        for (std::size_t i = 0; i < samples[k].size(); ++i, ++flat) {
          if (!runs_here()) continue;
          const Sample& smp = samples[k][i];
          Ledger own = Ledger::for_graph(m.snn);
          std::vector<std::vector<float>> steps;
          snn::StepObserver obs = [&](int, const std::vector<Tensor>& outs) {
            const Tensor& t = outs.at(0);
            steps.emplace_back(t.data<float>(), t.data<float>() + t.numel());
          };
          const snn::RunResult res = engine.run(smp.inputs, &own, &obs);
          ledger.merge(own);
          ClassifierRun cr;
          cr.cost_pj = price_on(prof, "snn", m.snn, own, s).result.energy_per_inference_pj();
          const Tensor& t = res.outputs.at(0);
          cr.final_logits.assign(t.data<float>(), t.data<float>() + t.numel());
          const std::size_t half = static_cast<std::size_t>(std::max(1, res.steps / 2));
          cr.half_logits = half <= steps.size() ? steps[half - 1] : cr.final_logits;
          runs[k][i] = std::move(cr);
        }
    } else {
      const Graph& g = s.engine == StageEngine::ann ? m.canonical : m.qann;
      ann::Engine engine(g, ann::EngineOptions{.threads = o_.threads});
      ledger = Ledger::for_graph(g);
      priced = &g;
      // The dense engine's counts depend on shapes only: one pass of the first row fills the ledger (rank 0's
      // job in a data-parallel run, whichever rank runs that row).
      bool first = !distributed(o_.comm) || o_.comm->rank() == 0;
      if (first && mine.lo > 0) {
        for (const auto& v : samples)
          if (!v.empty()) {
            (void)engine.run(v.front().inputs, &ledger);
            break;
          }
        first = false;
      }
      for (std::size_t k = 0; k < ranges.size(); ++k)
        for (std::size_t i = 0; i < samples[k].size(); ++i, ++flat) {
          if (!runs_here()) continue;
          const Sample& smp = samples[k][i];
          ClassifierRun cr;
          if (s.engine == StageEngine::ann) {
            const std::vector<Tensor> outs = engine.run(smp.inputs, first ? &ledger : nullptr);
            cr.final_logits.assign(outs.at(0).data<float>(), outs.at(0).data<float>() + outs.at(0).numel());
          } else {
            if (first) (void)engine.run(smp.inputs, &ledger);  // the dense engine's counts depend on shapes only
            const ann::QannResult q = ann::run_qann(m.qann, smp.inputs);
            cr.final_logits.assign(q.outputs.at(0).data<float>(), q.outputs.at(0).data<float>() + q.outputs.at(0).numel());
          }
          first = false;
          cr.half_logits = cr.final_logits;
          runs[k][i] = std::move(cr);
        }
    }
    if (distributed(o_.comm) && !gather_runs(mine, runs, ledger, s.engine == StageEngine::snn)) return;  // rank 0 finishes the stage
    cost_pj = price(profile, std::string(engine_name(s.engine)), *priced, ledger, s).result.energy_per_inference_pj();
    out.assign(ranges.size(), {});
    for (std::size_t k = 0; k < ranges.size(); ++k) {
      double correct = 0.0;
      for (std::size_t i = 0; i < runs[k].size(); ++i) {
        const ClassifierRun& cr = runs[k][i];
        const std::string row = fmt::format("row {} of split '{}' on stage '{}'", ranges[k].begin + static_cast<std::int64_t>(i),
                                            ranges[k].split, s.text);
        require_finite_output(cr.final_logits, {}, OutputSite{"", row, ""}, {s.model, "", "", ""});
        require_finite_output(cr.half_logits, {}, OutputSite{"", row + " (read at half its steps)", ""}, {s.model, "", "", ""});
        SampleOutcome so;
        const auto best = std::max_element(cr.final_logits.begin(), cr.final_logits.end()) - cr.final_logits.begin();
        so.correct = best == samples[k][i].label;
        so.cost_pj = cr.cost_pj >= 0.0 ? cr.cost_pj : cost_pj;
        switch (o_.self_test) {
          case SelfTest::margin: so.score = margin_score(cr.final_logits); break;
          case SelfTest::entropy: so.score = entropy_score(cr.final_logits); break;
          case SelfTest::temporal: so.score = temporal_score(cr.half_logits, cr.final_logits); break;
          default: so.score = max_prob_score(cr.final_logits); break;
        }
        correct += so.correct ? 1.0 : 0.0;
        out[k].outcomes.push_back(so);
      }
      out[k].accuracy = runs[k].empty() ? 0.0 : correct / static_cast<double>(runs[k].size());
    }
  }

 private:
  // Every rank's runs of its shard (rows in flat order) and, for an SNN stage, its merged own ledgers go to
  // rank 0, which puts them in place and merges the ledgers (integer counters: the one-process sums). Returns
  // false on the other ranks.
  bool gather_runs(const ShardRange& mine, std::vector<std::vector<ClassifierRun>>& runs, Ledger& ledger,
                   bool snn_stage) {
    auto at = [&](std::size_t flat) -> ClassifierRun& {
      for (auto& v : runs) {
        if (flat < v.size()) return v[flat];
        flat -= v.size();
      }
      throw Error("a cascade shard names a row outside the stage's rows");
    };
    auto put_floats = [](BytesOut& out, const std::vector<float>& v) {
      out.put<std::uint64_t>(v.size());
      out.put_bytes(v.data(), v.size() * sizeof(float));
    };
    BytesOut out;
    for (std::size_t f = mine.lo; f < mine.hi; ++f) {
      const ClassifierRun& cr = at(f);
      put_floats(out, cr.final_logits);
      put_floats(out, cr.half_logits);
      out.put(cr.cost_pj);
    }
    // An SNN stage's ledger sums the own ledgers of the rows run here; a dense stage's is rank 0's one pass.
    const bool send_ledger = snn_stage && o_.comm->rank() != 0;
    out.put<std::uint8_t>(send_ledger ? 1 : 0);
    if (send_ledger) put_ledger(out, ledger);
    const std::vector<std::string> all = o_.comm->gather(out.str(), 0);
    if (o_.comm->rank() != 0) return false;
    std::size_t total = 0;
    for (const auto& v : runs) total += v.size();
    for (std::size_t k = 1; k < all.size(); ++k) {
      BytesIn in(all[k]);
      auto get_floats = [&](std::vector<float>& v) {
        const auto n = in.get<std::uint64_t>();
        const auto bytes = in.get<std::uint64_t>();
        if (n > all[k].size() || bytes != n * sizeof(float)) throw Error(fmt::format("rank {} sent a malformed cascade run", k));
        const char* p = in.take(bytes);
        v.resize(n);
        std::memcpy(v.data(), p, bytes);
      };
      const ShardRange theirs = shard_of(total, static_cast<int>(k), o_.comm->size());
      for (std::size_t f = theirs.lo; f < theirs.hi; ++f) {
        ClassifierRun& cr = at(f);
        get_floats(cr.final_logits);
        get_floats(cr.half_logits);
        cr.cost_pj = in.get<double>();
      }
      if (in.get<std::uint8_t>() != 0) merge_ledger_from(in, ledger);
      if (!in.done()) throw Error(fmt::format("rank {} sent trailing bytes after its cascade runs", k));
    }
    return true;
  }

  const CascadeOptions& o_;
  std::string data_;
  std::map<std::string, std::unique_ptr<QuantizedModel>> models_;
};

// ---- program synthesis --------------------------------------------------------------------------------

struct Tasks {
  std::vector<std::vector<std::int64_t>> prompts, io_in, io_out, test_in, test_out;
};

Tasks read_tasks(const datasets::DatasetReader& reader, const RowRange& r, const std::string& data) {
  if (!reader.has_split(r.split)) throw UsageError(fmt::format("dataset has no split '{}'", r.split), {data, "", "", ""});
  const std::int64_t count = reader.count(r.split);
  const std::int64_t end = r.end < 0 ? count : r.end;
  if (end > count)
    throw UsageError(fmt::format("split '{}' has {} rows, fewer than {} asks for", r.split, count, r.text), {data, "", "", ""});
  const std::int64_t n = end - r.begin;
  auto rows = [&](const char* name) {
    const Tensor t = reader.read_rows(r.split, name, r.begin, n);
    const std::int64_t w = t.shape().size() > 1 ? t.shape()[1] : 1;
    const std::vector<std::int64_t> v = t.to_i64();
    std::vector<std::vector<std::int64_t>> out;
    for (std::int64_t i = 0; i < n; ++i) out.emplace_back(v.begin() + i * w, v.begin() + (i + 1) * w);
    return out;
  };
  Tasks t;
  const auto tokens = rows("prompt_tokens");
  const auto lengths = rows("prompt_lengths");
  for (std::int64_t i = 0; i < n; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    t.prompts.emplace_back(tokens[ui].begin(), tokens[ui].begin() + lengths[ui][0]);
  }
  t.io_in = rows("io_inputs");
  t.io_out = rows("io_outputs");
  t.test_in = rows("test_inputs");
  t.test_out = rows("test_outputs");
  return t;
}

// softmax(row)[tok] of the untempered logits.
double token_probability(const std::vector<float>& row, std::int64_t tok) {
  const float mx = *std::max_element(row.begin(), row.end());
  double sum = 0.0;
  for (float v : row) sum += std::exp(static_cast<double>(v - mx));
  return std::exp(static_cast<double>(row[static_cast<std::size_t>(tok)] - mx)) / sum;
}

void run_generator(const CascadeOptions& o, const StageSpec& s, const std::string& profile,
                   const std::vector<Tasks>& tasks, std::vector<StageRows>& out, double& cost_pj) {
  if (s.engine != StageEngine::ann)
    throw UnsupportedError(fmt::format("stage '{}': generation runs on the dense engine only (engine=ann); KV-cache "
                                       "decoding on the QANN/SNN is not implemented", s.text));
  DecoderGraphCache graphs(s.model);
  ann::DecodeSession session(graphs.provider(), ann::DecodeOptions{o.threads});
  const std::int64_t window = std::max<std::int64_t>(1, session.max_positions());
  // Energy per token: one pass over a full window priced on the profile, divided by its tokens (the dense
  // engine's counts depend on shapes only, so zero inputs give the counts of any window).
  double per_token_pj = 0.0;
  {
    const Graph& g = graphs.get(window);
    ann::Engine engine(g, ann::EngineOptions{.threads = o.threads});
    std::vector<Tensor> inputs;
    for (ValueId v : g.inputs()) inputs.emplace_back(g.value(v).type.dtype, g.value(v).type.static_shape());
    Ledger l = Ledger::for_graph(g);
    (void)engine.run(inputs, &l);
    per_token_pj = price(profile, "ann", g, l, s).result.energy_per_inference_pj() / static_cast<double>(window);
  }
  constexpr std::int64_t kEnd = 10;  // snnconv.end_token of the synth_code models ('\n')
  double tokens_total = 0.0, samples_total = 0.0;
  out.assign(tasks.size(), {});
  for (std::size_t k = 0; k < tasks.size(); ++k) {
    const Tasks& t = tasks[k];
    double correct = 0.0;
    for (std::size_t i = 0; i < t.prompts.size(); ++i) {
      const std::vector<std::int64_t>& prompt = t.prompts[i];
      session.truncate(0);
      const auto len = static_cast<std::int64_t>(prompt.size());
      const Tensor first = session.prefill(Tensor::from_vector<std::int64_t>({1, len}, prompt));
      const std::int64_t vocab = first.shape().back();
      const std::vector<float> first_row(first.data<float>() + (len - 1) * vocab, first.data<float>() + len * vocab);
      double tokens = static_cast<double>(len);
      std::string best_text;
      double best_score = -1.0, quantile = 0.0;
      for (int c = 0; c < s.candidates; ++c) {
        session.truncate(len);
        ann::SamplingOptions sampling;
        if (c > 0) {
          sampling.temperature = static_cast<float>(s.temperature);
          sampling.seed = (static_cast<std::uint64_t>(k) << 40) ^ (static_cast<std::uint64_t>(i) << 8) ^ static_cast<std::uint64_t>(c);
        }
        std::mt19937_64 rng(sampling.seed);
        std::vector<float> row = first_row;
        std::string text;
        std::vector<double> probs;
        for (int step = 0; step < o.max_tokens; ++step) {
          const std::int64_t tok = ann::sample_token(row, sampling, rng);
          probs.push_back(token_probability(row, tok));
          if (tok == kEnd) break;
          text.push_back(static_cast<char>(tok));
          if (session.length() >= window) break;
          const Tensor next = session.step(tok);
          tokens += 1.0;
          row.assign(next.data<float>(), next.data<float>() + vocab);
        }
        const double sc = dsl::pass_fraction(text, t.io_in[i], t.io_out[i]);
        if (c == 0) quantile = quantile_score(probs, o.quantile);
        if (sc > best_score) {
          best_score = sc;
          best_text = text;
        }
      }
      SampleOutcome so;
      so.correct = dsl::passes(best_text, t.test_in[i], t.test_out[i]);
      so.score = o.self_test == SelfTest::execution ? best_score : quantile;
      so.cost_pj = tokens * per_token_pj;
      tokens_total += tokens;
      samples_total += 1.0;
      correct += so.correct ? 1.0 : 0.0;
      out[k].outcomes.push_back(so);
    }
    out[k].accuracy = t.prompts.empty() ? 0.0 : correct / static_cast<double>(t.prompts.size());
  }
  cost_pj = samples_total > 0 ? tokens_total * per_token_pj / samples_total : 0.0;
}

}  // namespace

CascadeResult run_cascade(const CascadeOptions& o) {
  const std::size_t n = o.stages.size();
  if (n < 2)
    throw UsageError(fmt::format("a cascade needs at least two stages (--stages S1,S2,...), got {}", n));
  if (n > 5) throw UsageError(fmt::format("a cascade calibrates at most five stages, got {}", n));
  if (!(o.tolerance >= 0.0 && o.tolerance <= 1.0))
    throw UsageError(fmt::format("--tolerance {} is outside [0, 100] points", o.tolerance * 100.0));
  if (!(o.z >= 0.0 && o.z <= 10.0)) throw UsageError(fmt::format("--z {} is outside [0, 10]", o.z));
  if (!(o.quantile >= 0.0 && o.quantile <= 1.0))
    throw UsageError(fmt::format("--quantile {} is outside [0, 1]", o.quantile));
  if (!o.thresholds.empty()) {
    if (o.thresholds.size() != n - 1)
      throw UsageError(fmt::format("--thresholds needs one value per stage but the last ({}), got {}", n - 1,
                                   o.thresholds.size()));
    for (double t : o.thresholds)
      if (!(t >= 0.0 && t <= 1.0))
        throw UsageError(fmt::format("threshold {} is outside the range [0, 1] of the {} score", t,
                                     self_test_name(o.self_test)));
  }
  if (o.max_tokens < 1) throw UsageError("--max-tokens must be >= 1");
  for (const StageSpec& s : o.stages)
    if (!std::filesystem::exists(s.model)) throw UsageError(fmt::format("stage '{}': no file {}", s.text, s.model));
  const std::vector<RowRange> ranges{parse_rows(o.calib_split, "--calib-split"), parse_rows(o.eval_split, "--eval-split")};
  if (ranges[0].split == ranges[1].split) {
    const std::int64_t e0 = ranges[0].end < 0 ? std::numeric_limits<std::int64_t>::max() : ranges[0].end;
    const std::int64_t e1 = ranges[1].end < 0 ? std::numeric_limits<std::int64_t>::max() : ranges[1].end;
    if (ranges[0].begin < e1 && ranges[1].begin < e0)
      throw UsageError(fmt::format("the calibration rows '{}' overlap the evaluation rows '{}'", o.calib_split,
                                   o.eval_split));
  }
  CascadeResult r;
  r.data = dataset_for(o).string();
  // An .npz is a classifier's rows (the cascade scores classifiers and synth-code programs; programs need the
  // HDF5 layout): its rows are named NAME:BEGIN:END with any NAME, the file has no splits.
  const bool npz = pipeline::is_npz_path(r.data);
  std::optional<datasets::DatasetReader> reader;
  if (!npz) reader.emplace(r.data);
  r.task = npz ? "classification" : std::string(datasets::task_name(reader->info().task));
  check_self_test(o.self_test, r.task, o.stages);
  if (o.self_test == SelfTest::execution && (npz || reader->info().name != "synth-code"))
    throw UsageError(fmt::format("--self-test execution runs synth-code DSL programs; dataset '{}' is not synth-code",
                                 npz ? r.data : reader->info().name), {r.data, "", "", ""});
  for (std::size_t k = 0; k < ranges.size() && !npz; ++k)
    if (!reader->has_split(ranges[k].split))
      throw UsageError(fmt::format("dataset has no split '{}' ({})", ranges[k].split,
                                   k == 0 ? "--calib-split; name rows of another split, e.g. test:0:500" : "--eval-split"),
                       {r.data, "", "", ""});
  r.metric = r.task == "classification" ? "accuracy" : "pass@1";
  r.calib_split = o.calib_split;
  r.eval_split = o.eval_split;
  r.self_test = o.self_test;
  r.tolerance = o.tolerance;
  r.z = o.z;
  r.calibrated = o.thresholds.empty();

  if (distributed(o.comm) && r.task != "classification")
    throw UsageError("a program-synthesis cascade runs in one process: its tasks are not sharded over mpirun's ranks yet");
  const bool other_rank = distributed(o.comm) && o.comm->rank() != 0;
  std::vector<StageOutcomes> calib(n), eval(n);
  ClassifierStages classifiers(o, r.data);
  std::vector<Tasks> tasks;
  if (r.task == "program_synthesis")
    for (const RowRange& rr : ranges) tasks.push_back(read_tasks(*reader, rr, r.data));
  for (std::size_t i = 0; i < n; ++i) {
    const StageSpec& s = o.stages[i];
    const auto t0 = Clock::now();
    StageReport sr;
    sr.spec = s;
    sr.profile = s.profile.empty() ? o.profile : s.profile;
    std::vector<StageRows> rows;
    if (o.progress) o.progress(fmt::format("stage {}/{}: {}", i + 1, n, s.text));
    if (r.task == "classification") classifiers.run(s, sr.profile, ranges, rows, sr.cost_pj);
    else run_generator(o, s, sr.profile, tasks, rows, sr.cost_pj);
    sr.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    // Rank 0 holds the stage's rows and checks them; a refusal there ends the job (MPI_Abort) with its message.
    if (other_rank) continue;
    sr.calib_accuracy = rows[0].accuracy;
    sr.eval_accuracy = rows[1].accuracy;
    calib[i].samples = std::move(rows[0].outcomes);
    eval[i].samples = std::move(rows[1].outcomes);
    if (i > 0) {
      calib[i].continues_previous = eval[i].continues_previous = continues(o.stages[i - 1], s);
      if (sr.cost_pj <= r.stages.back().cost_pj)
        throw UsageError(fmt::format("stage costs must ascend: stage {} ('{}') costs {} per sample on {}, "
                                     "stage {} ('{}') {}; order the stages from cheap to expensive",
                                     i + 1, s.text, format_energy_pj(sr.cost_pj), sr.profile, i,
                                     r.stages.back().spec.text, format_energy_pj(r.stages.back().cost_pj)));
      if (calib[i].continues_previous)
        sr.note = "continues the previous stage's run: escalating to it costs only the extra steps";
    }
    if (o.progress)
      o.progress(fmt::format("  {} per sample, {} {:.4f} (calibration) {:.4f} (evaluation), {:.1f} s",
                             format_energy_pj(sr.cost_pj), r.metric, sr.calib_accuracy, sr.eval_accuracy, sr.seconds));
    r.stages.push_back(std::move(sr));
  }
  if (other_rank) {
    r.root = false;
    return r;
  }
  r.calib_samples = static_cast<std::int64_t>(calib[0].samples.size());
  r.eval_samples = static_cast<std::int64_t>(eval[0].samples.size());
  if (r.calibrated) {
    r.chosen = calibrate_plan(calib, o.tolerance, o.z);
  } else {
    Plan p;
    for (std::size_t i = 0; i < n; ++i) p.stages.push_back(static_cast<int>(i));
    p.thresholds = o.thresholds;
    r.chosen.plan = p;
    r.chosen.calibration = evaluate_plan(calib, p);
    r.chosen.target_accuracy = evaluate_plan(calib, Plan{{static_cast<int>(n) - 1}, {}}).accuracy - o.tolerance;
    r.chosen.front.emplace_back(p, r.chosen.calibration);
    r.chosen.plans_tried = 1;
  }
  r.eval = evaluate_plan(eval, r.chosen.plan);
  const PlanResult largest = evaluate_plan(eval, Plan{{static_cast<int>(n) - 1}, {}});
  r.largest_eval_cost_pj = largest.cost_pj;
  r.largest_eval_accuracy = largest.accuracy;
  r.saving = largest.cost_pj > 0 ? 1.0 - r.eval.cost_pj / largest.cost_pj : 0.0;
  for (const auto& [plan, res] : r.chosen.front) r.front_eval.push_back(evaluate_plan(eval, plan));
  r.notes.push_back(
      "a sample pays every stage it reaches, priced on the stage's profile: SNN stages price each sample's own "
      "ledger; dense stages (ann, qann) one pass (their counts depend on shapes only); generators charge the energy "
      "per token of a full-window pass times the tokens the sample processed. A stage's cost is the mean over the "
      "calibration and evaluation rows");
  if (r.task == "program_synthesis")
    r.notes.push_back("pass@1: the one answer a stage submits (the best of its k candidates on the prompt's examples) "
                      "passes every hidden test");
  return r;
}

}  // namespace snnconv::cascade
