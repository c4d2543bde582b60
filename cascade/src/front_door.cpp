// run_pipeline(): the stages of `snnconv model.onnx`, and price_pipeline(): every ledger on every profile.
#include "snnconv/cascade/front_door.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/stats.hpp"

namespace snnconv::cascade {
using namespace snnconv::pipeline;  // the stages a cascade and the front door run
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Stage bookkeeping: a record per stage and progress events for the caller's display.
class StageRunner {
 public:
  StageRunner(const PipelineOptions& o, std::vector<StageRecord>& records, int count)
      : o_(o), records_(records), count_(count) {}

  void begin(std::string name) {
    ++index_;
    name_ = std::move(name);
    t0_ = Clock::now();
    emit(0, 0, false, "");
  }
  void tick(std::int64_t done, std::int64_t total) { emit(done, total, false, ""); }
  void end(std::string status, std::string note = {}) {
    records_.push_back(StageRecord{name_, status, since(t0_), std::move(note)});
    emit(0, 0, true, status);
  }
  // Records added by a callee (the SNN stage) keep their own names; this closes the progress line.
  void end_progress(const std::string& status) { emit(0, 0, true, status); }
  std::function<void(std::int64_t, std::int64_t)> ticker() {
    if (!o_.progress) return {};
    return [this](std::int64_t done, std::int64_t total) { tick(done, total); };
  }

 private:
  void emit(std::int64_t done, std::int64_t total, bool finished, const std::string& status) {
    if (!o_.progress) return;
    o_.progress(PipelineProgress{name_, index_, count_, done, total, since(t0_), finished, status});
  }
  const PipelineOptions& o_;
  std::vector<StageRecord>& records_;
  int count_ = 0;
  int index_ = 0;
  std::string name_;
  Clock::time_point t0_;
};

std::string metadata_or(const Graph& g, const std::string& key, std::string fallback = {}) {
  const auto it = g.metadata.find(key);
  return it == g.metadata.end() ? fallback : it->second;
}

// c x n by repeated doubling (field-agnostic: only Counters::operator+= is used).
Counters times(const Counters& c, std::uint64_t n) {
  Counters out, power = c;
  while (n > 0) {
    if (n & 1u) out += power;
    Counters twice = power;
    twice += power;
    power = twice;
    n >>= 1u;
  }
  return out;
}

// The dense engine's counts depend on shapes only: one pass on zero inputs gives the ledger of any pass.
Ledger static_ledger(const Graph& g, int threads, std::uint64_t passes) {
  ann::Engine engine(g, ann::EngineOptions{.threads = threads});
  std::vector<Tensor> inputs;
  for (ValueId v : g.inputs()) inputs.emplace_back(g.value(v).type.dtype, g.value(v).type.static_shape());
  Ledger one = Ledger::for_graph(g);
  engine.run(inputs, &one);
  Ledger out = one;
  for (std::size_t i = 0; i < out.per_node.size(); ++i) out.per_node[i] = times(one.per_node[i], passes);
  out.samples = one.samples * passes;
  out.tokens = one.tokens * passes;
  return out;
}

bool same_rows(const Ledger& l, const Graph& g) {
  if (l.node_names.size() != g.num_nodes()) return false;
  for (std::size_t i = 0; i < g.num_nodes(); ++i)
    if (l.node_names[i] != g.nodes()[i].name) return false;
  return true;
}

// Returns false when the evaluation failed on the model's outputs (a NumericError: the stage is then
// not available, and the ANN is priced on one static inference like an unscored task).
bool run_ann(PipelineResult& r, const PipelineOptions& o, const ModelSource& src, StageRunner& stage) {
  bool ok = true;
  AnnSection& a = r.ann;
  a.split = o.split;
  a.batch = src.run_rows(o.batch);
  a.task = src.task;
  std::uint64_t passes_if_static = 1;
  if (src.data.empty()) {
    a.not_evaluated_reason = "no data: the model records no dataset (ONNX metadata snnconv.data) and none was given "
                             "with --data";
  } else {
    EvalOptions eo;
    eo.model = o.model;
    eo.split = o.split;
    eo.limit = o.samples;
    eo.batch = o.batch;
    eo.seq = src.window;
    eo.threads = o.threads;
    eo.fuse = true;
    eo.progress = stage.ticker();
    eo.comm = o.comm;
    try {
      EvalResult e = evaluate(src, eo);
      if (!e.root) {  // another rank of a data-parallel run: rank 0 scores; the flag is agreed on below
        agree_with_root(o.comm, a.evaluated);
        return true;
      }
      a.evaluated = !e.metric.empty();
      if (!a.evaluated) a.not_evaluated_reason = "the data has no labels (" + e.data_description + ")";
      a.data = e.data;
      a.metric = e.metric;
      a.value = e.value;
      a.samples = e.samples;
      a.seconds = e.seconds;
      a.samples_per_s = e.samples_per_s;
      if (same_rows(e.ledger, a.graph)) {
        a.ledger = std::move(e.ledger);
      } else {  // the evaluation batch folded to other nodes: the same counts from the batch-1 graph
        passes_if_static = e.ledger.samples / std::max<std::uint64_t>(1, static_cast<std::uint64_t>(src.run_rows(1)));
        r.notes.push_back(
            "the ANN ledger was recomputed on the batch-1 graph (the evaluation graph folded to "
            "other nodes); the dense engine's counts depend on shapes only");
      }
    } catch (const UnsupportedError& e) {  // the task is not scored yet: price one inference
      a.not_evaluated_reason = e.message();
    } catch (const NumericError& e) {  // non-finite outputs: no metric, but the model is still priced
      if (distributed(o.comm)) throw;  // raised on one rank only: the others cannot follow, the job ends
      a.not_evaluated_reason = std::string("failed: ") + e.what();
      ok = false;
    }
  }
  agree_with_root(o.comm, a.evaluated);  // the baselines' sharded evaluation runs on every rank or on none
  if (a.ledger.per_node.empty()) {
    a.ledger = static_ledger(a.graph, o.threads, passes_if_static);
    if (a.samples == 0) a.samples = static_cast<std::int64_t>(a.ledger.samples);
  }
  // Language models: every window position is a token.
  if (a.task == "language_model" && !a.graph.inputs().empty()) {
    const TensorType& t = a.graph.value(a.graph.inputs()[0]).type;
    if (t.dims.size() >= 2 && t.dims[1].is_known())
      a.ledger.tokens = a.ledger.samples * static_cast<std::uint64_t>(t.dims[1].value);
  }
  return ok;
}

}  // namespace

std::vector<std::string> default_profile_names(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const std::string& n : hw::list_profiles(dir))
    if (hw::find_profile(n, dir).kind != hw::ProfileKind::ops) names.push_back(n);
  return names;
}

void price_pipeline(PipelineResult& r, const PipelineOptions& o) {
  const std::filesystem::path dir = o.profiles_dir.empty() ? hw::default_profiles_dir() : o.profiles_dir;
  const std::vector<std::string> names = o.profiles.empty() ? default_profile_names(dir) : o.profiles;
  if (names.empty()) throw UsageError(fmt::format("no hardware profile to price with (none in {})", dir.string()));
  r.profiles.clear();
  for (const std::string& n : names) r.profiles.push_back(hw::find_profile(n, dir));

  // Subjects: the ANN as exported, the quantized dense baselines, the SNN.
  std::vector<hw::PricingSubject> subjects;
  subjects.push_back(hw::make_pricing_subject("ann", r.ann.graph, r.ann.ledger));
  for (const AnnBaseline& b : r.baselines)
    if (b.subject != "ann") subjects.push_back(hw::make_pricing_subject(b.subject, b.graph, b.ledger));
  if (r.snn) subjects.push_back(hw::make_pricing_subject("snn", r.snn->graph, r.snn->ledger));
  r.sensitivity_subjects.clear();
  for (const hw::PricingSubject& s : subjects) r.sensitivity_subjects.push_back(s.name);

  auto price_all = [&](const hw::PricingSubject& s) {
    std::vector<hw::ProfilePrice> prices{hw::price_compute_only(s)};
    for (const hw::Profile& p : r.profiles) prices.push_back(hw::price_on_profile(s, p, o.pricing));
    return prices;
  };
  r.ann_prices = price_all(subjects[0]);
  for (AnnBaseline& b : r.baselines) {
    if (b.subject == "ann") {
      b.prices = r.ann_prices;
      continue;
    }
    for (const hw::PricingSubject& s : subjects)
      if (s.name == b.subject) b.prices = price_all(s);
  }
  r.snn_prices.clear();
  r.comparisons.clear();
  if (r.snn) {
    r.snn_prices = price_all(subjects.back());
    auto add = [&](const hw::ProfilePrice& a, const hw::ProfilePrice& s) {
      Comparison c;
      c.ann_profile = a.profile;
      c.snn_profile = s.profile;
      c.fits = a.result.fits && s.result.fits;
      c.ann_energy_per_inference_pj = a.result.energy_per_inference_pj();
      c.snn_energy_per_inference_pj = s.result.energy_per_inference_pj();
      c.ratio = c.fits ? hw::ann_snn_ratio(a.result, s.result) : 0.0;
      r.comparisons.push_back(c);
    };
    for (std::size_t i = 0; i < r.ann_prices.size(); ++i) add(r.ann_prices[i], r.snn_prices[i]);
    for (const hw::ProfilePrice& a : r.ann_prices)
      for (const hw::ProfilePrice& s : r.snn_prices)
        if (a.kind == "dense" && s.kind == "neuromorphic") add(a, s);
  }

  r.sensitivity.clear();
  r.sensitivity_factors = o.sensitivity_factors;
  if (!o.sensitivity_factors.empty()) {
    // The compute-only column's two constants (E_MAC, E_AC) vary too, through the bundled ops profile.
    for (const std::string& n : hw::list_profiles(dir)) {
      const hw::Profile ops = hw::find_profile(n, dir);
      if (ops.kind != hw::ProfileKind::ops) continue;
      const bool listed =
          std::any_of(r.profiles.begin(), r.profiles.end(), [&](const hw::Profile& p) { return p.name == ops.name; });
      if (listed) break;
      auto rows = hw::sensitivity(ops, subjects, o.sensitivity_factors, o.pricing);
      for (auto& row : rows) row.profile = "compute-only";
      r.sensitivity.insert(r.sensitivity.end(), rows.begin(), rows.end());
      break;
    }
    for (const hw::Profile& p : r.profiles) {
      auto rows = hw::sensitivity(p, subjects, o.sensitivity_factors, o.pricing);
      r.sensitivity.insert(r.sensitivity.end(), rows.begin(), rows.end());
    }
  }
}

PipelineResult run_pipeline(const PipelineOptions& o) {
  if (o.batch < 1) throw UsageError(fmt::format("batch must be >= 1, got {}", o.batch));
  if (o.samples == 0) throw UsageError("--samples must be >= 1 (or negative for the whole split)");
  {  // a bad profile name or file is refused now, not at pricing after every stage ran
    const std::filesystem::path dir = o.profiles_dir.empty() ? hw::default_profiles_dir() : o.profiles_dir;
    for (const std::string& n : o.profiles) (void)hw::find_profile(n, dir);
  }
  PipelineResult r;
  r.generator = "snnconv 0.1.0";
  StageRunner stage(o, r.stages, 8);

  stage.begin("import");
  SourceOptions so;
  so.model = o.model;
  so.task = o.task;
  so.data = o.data;
  so.calib_data = o.calib_data;
  so.seq = o.seq;
  ModelSource src = open_model(so);  // the one read of the file; every later graph is bound from it
  settle_window(src);
  // No data, no --seq, no snnconv.max_seq: the synthetic inputs get a short window rather than no report (the
  // window a model was trained at is not in a dynamic export); said in the notes.
  constexpr std::int64_t kSyntheticWindow = 16;
  const bool synthetic_window = !src.seq_symbol.empty() && src.window == 0 && src.data.empty() && src.calib_data.empty();
  if (synthetic_window) src.window = kSyntheticWindow;
  if (!src.seq_symbol.empty() && src.window == 0)
    throw UsageError("the model's sequence length is symbolic and nothing fixes it: give --seq", {o.model, "", "", ""});
  Graph g = src.bind(1);
  r.model.file = o.model;
  r.model.name = std::filesystem::path(o.model).stem().string();
  r.model.opset = g.opset;
  r.model.task = src.task;
  r.model.task_source = src.task_origin;
  if (synthetic_window)
    r.notes.push_back(fmt::format("no data and a symbolic sequence length '{}': the synthetic inputs are {} tokens long "
                                  "(give --seq N for another window)",
                                  src.seq_symbol, kSyntheticWindow));
  r.model.bound_dims = metadata_or(g, "snnconv.bound_dims");
  r.model.nodes_imported = static_cast<std::int64_t>(g.num_nodes());
  stage.end("done", fmt::format("{} nodes, {}{}", g.num_nodes(),
                                r.model.bound_dims.empty() ? "all dims fixed by the export" : "bound " + r.model.bound_dims,
                                src.static_batch > 0 ? fmt::format(" (static batch {})", src.static_batch) : ""));

  stage.begin("fuse");
  const FuseStats fused = fuse_graph(g);
  r.model.fusions = fused.per_pattern;
  r.model.nodes_fused = static_cast<std::int64_t>(g.num_nodes());
  const GraphStats st = compute_stats(g);
  r.model.params = st.params;
  r.model.param_bytes = st.param_bytes;
  r.model.macs_per_inference = st.macs;
  stage.end("done", fmt::format("{} fusions, {} nodes", fused.total(), g.num_nodes()));

  const Shape first_input = g.inputs().empty() ? Shape{} : g.value(g.inputs()[0]).type.static_shape();
  const std::int64_t batch_dim = first_input.empty() ? 1 : first_input[0];
  if (batch_dim > 1) r.model.macs_per_inference /= batch_dim;

  stage.begin("ann");
  r.ann.graph = g;
  const bool ann_ok = run_ann(r, o, src, stage);
  if (!ann_ok)
    stage.end("not_available", r.ann.not_evaluated_reason + "; priced on one static inference");
  else
    stage.end("done", r.ann.evaluated ? fmt::format("{} {:.4f} on {} samples", r.ann.metric, r.ann.value, r.ann.samples)
                                      : "not scored: " + r.ann.not_evaluated_reason);

  stage.begin("snn");
  r.snn = run_snn_stage(o, src, r.ann.graph, r.stages, stage.ticker());
  stage.end_progress(r.snn ? "done" : "not_available");

  stage.begin("baselines");
  run_baselines(o, src, r);
  stage.end_progress(r.stages.back().status);
  if (distributed(o.comm) && o.comm->rank() != 0) {  // every sharded stage is done: rank 0 prices and reports
    r.root = false;
    return r;
  }

  stage.begin("price");
  PipelineOptions no_sensitivity = o;
  no_sensitivity.sensitivity_factors.clear();
  price_pipeline(r, no_sensitivity);
  stage.end("done", fmt::format("{} profiles", r.profiles.size()));

  stage.begin("sensitivity");
  if (o.sensitivity_factors.empty()) {
    stage.end("skipped", "no factors");
  } else {
    price_pipeline(r, o);
    stage.end("done", fmt::format("{} constants x {} factors", r.sensitivity.size(), o.sensitivity_factors.size()));
  }

  stage.begin("findings");
  r.findings = find(r, o);
  stage.end("done", r.snn ? fmt::format("{} comparisons, break-even on {} profiles", r.findings.profiles.size(),
                                        std::count_if(r.findings.profiles.begin(), r.findings.profiles.end(),
                                                      [](const Finding& f) { return f.activity.has_value(); }))
                          : "no SNN: ANN energies only");

  if (!r.ann.evaluated) r.notes.push_back("the ANN was not scored: " + r.ann.not_evaluated_reason);
  if (src.task_origin == "inferred")
    r.notes.push_back("the task (" + src.task + ") was inferred from the model's inputs and outputs (no snnconv.task "
                      "metadata); override it with --task");
  if (r.snn && r.snn->calibration_source == "synthetic")
    r.notes.push_back(fmt::format("no data: the SNN was {} on synthetic inputs ({}); its accuracy is not measured and "
                                  "its spike and energy figures are for those inputs",
                                  r.snn->calibration_samples > 0 ? "calibrated and run" : "run",
                                  r.snn->calibration_description));
  for (const hw::Profile& p : r.profiles)
    if (p.kind == hw::ProfileKind::neuromorphic) {
      r.notes.push_back(
          "the ANN on a neuromorphic chip: its MACs are priced as graded inputs (mac_energy); moving its "
          "real-valued activations between cores is not priced (the ledger counts no spikes for it)");
      break;
    }
  r.notes.push_back(
      "energies are per inference (one sample; language models: one window) unless marked per token; the pricing "
      "graph is bound to batch 1, so a dense accelerator re-reads every weight for every inference");
  return r;
}

}  // namespace snnconv::cascade
