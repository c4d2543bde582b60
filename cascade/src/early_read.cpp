// The early-read cascade of an SNN classifier from one run's per-step reads (early_read.hpp).
#include "snnconv/cascade/early_read.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <cmath>

#include "snnconv/core/error.hpp"
#include "snnconv/core/finite.hpp"

namespace snnconv::cascade {
namespace {

std::size_t index_of(const std::vector<int>& v, int x) {
  return static_cast<std::size_t>(std::lower_bound(v.begin(), v.end(), x) - v.begin());
}

std::int64_t argmax(const std::vector<float>& v) {
  return static_cast<std::int64_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

void check_early_read_options(const EarlyReadOptions& o) {
  if (o.steps.empty() || o.steps.size() > 4)
    throw UsageError(fmt::format("an early-read cascade needs 1 to 4 read steps, got {}", o.steps.size()));
  for (std::size_t i = 0; i < o.steps.size(); ++i)
    if (o.steps[i] < 2 || (i > 0 && o.steps[i] <= o.steps[i - 1]))
      throw UsageError(fmt::format("early-read steps must be ascending and >= 2, got {} at position {}", o.steps[i], i + 1));
  if (o.self_test == SelfTest::execution || o.self_test == SelfTest::token_quantile)
    throw UsageError(fmt::format("self-test {} does not fit a classifier's early-read cascade", self_test_name(o.self_test)));
  if (!(o.calib_fraction > 0.0 && o.calib_fraction < 1.0))
    throw UsageError(fmt::format("the calibration fraction {} is outside (0, 1)", o.calib_fraction));
}

EarlyReadRecorder::EarlyReadRecorder(const Graph& snn, EarlyReadOptions options, std::vector<hw::Profile> profiles,
                                     hw::PricingOptions pricing)
    : snn_(snn), o_(std::move(options)), profiles_(std::move(profiles)), pricing_(std::move(pricing)) {
  check_early_read_options(o_);
  reads_ = o_.steps;
  if (o_.self_test == SelfTest::temporal)
    for (int s : o_.steps) reads_.push_back(s / 2);
  std::sort(reads_.begin(), reads_.end());
  reads_.erase(std::unique(reads_.begin(), reads_.end()), reads_.end());
  scratch_ = Ledger::for_graph(snn_);
  subject_ = hw::make_pricing_subject("snn", snn_, scratch_);
}

std::vector<double> EarlyReadRecorder::price(const Ledger& own) {
  scratch_ = own;
  scratch_.samples = 1;  // the engine counts the sample only at the end of its run
  std::vector<double> out;
  for (const hw::Profile& p : profiles_) {
    const hw::ProfilePrice r = p.kind == hw::ProfileKind::ops ? hw::price_compute_only(subject_)
                                                              : hw::price_on_profile(subject_, p, pricing_);
    out.push_back(r.result.fits ? r.result.energy_per_inference_pj() : -1.0);
  }
  return out;
}

void EarlyReadRecorder::on_read(std::int64_t sample, int step, bool final, const Tensor& output, const Ledger& own) {
  if (sample < 0) throw UsageError("early read: negative sample index");
  if (samples_.size() <= static_cast<std::size_t>(sample)) samples_.resize(static_cast<std::size_t>(sample) + 1);
  SampleReads& s = samples_[static_cast<std::size_t>(sample)];
  if (s.logits.empty()) {
    s.logits.resize(reads_.size() + 1);
    s.cost.resize(o_.steps.size() + 1);
  }
  std::vector<float> v(output.data<float>(), output.data<float>() + output.numel());
  require_finite_output(v, output.shape(), OutputSite{"", fmt::format("sample {} read at step {}", sample, step), ""});
  if (!final) {
    const std::size_t r = index_of(reads_, step);
    if (r < reads_.size() && reads_[r] == step) s.logits[r] = v;
    const std::size_t k = index_of(o_.steps, step);
    if (k < o_.steps.size() && o_.steps[k] == step) s.cost[k] = price(own);
    return;
  }
  // Quiescent before a read step: the read there is the final one, at the final cost.
  std::vector<double> final_cost = price(own);
  for (auto& l : s.logits)
    if (l.empty()) l = v;
  for (auto& c : s.cost)
    if (c.empty()) c = final_cost;
  s.logits.back() = std::move(v);
  s.cost.back() = std::move(final_cost);
  s.done = true;
}

void EarlyReadRecorder::gather(Communicator* comm, std::size_t count) {
  if (!distributed(comm)) return;
  const ShardRange mine = shard_of(count, comm->rank(), comm->size());
  BytesOut out;
  for (std::size_t i = mine.lo; i < mine.hi; ++i) {
    if (i >= samples_.size() || !samples_[i].done) throw Error(fmt::format("early read: sample {} was not run on this rank", i));
    const SampleReads& s = samples_[i];
    out.put<std::uint64_t>(s.logits.size());
    for (const auto& l : s.logits) {
      out.put<std::uint64_t>(l.size());
      out.put_bytes(l.data(), l.size() * sizeof(float));
    }
    out.put<std::uint64_t>(s.cost.size());
    for (const auto& c : s.cost) {
      out.put<std::uint64_t>(c.size());
      out.put_bytes(c.data(), c.size() * sizeof(double));
    }
  }
  const std::vector<std::string> all = comm->gather(out.str(), 0);
  if (comm->rank() != 0) return;
  samples_.resize(std::max(samples_.size(), count));
  for (std::size_t k = 1; k < all.size(); ++k) {
    const ShardRange theirs = shard_of(count, static_cast<int>(k), comm->size());
    BytesIn in(all[k]);
    // Every length is checked against what is left before it sizes anything (BytesIn::take).
    auto floats = [&](auto& v, auto zero) {
      const auto n = in.get<std::uint64_t>();
      const auto bytes = in.get<std::uint64_t>();
      if (n > all[k].size() || bytes != n * sizeof zero) throw Error(fmt::format("rank {} sent a malformed early read", k));
      const char* p = in.take(bytes);
      v.resize(n);
      std::memcpy(v.data(), p, bytes);
    };
    for (std::size_t i = theirs.lo; i < theirs.hi; ++i) {
      SampleReads& s = samples_[i];
      const auto nl = in.get<std::uint64_t>();
      if (nl != reads_.size() + 1) throw Error(fmt::format("rank {} sent reads of another cascade", k));
      s.logits.resize(nl);
      for (auto& l : s.logits) floats(l, 0.0f);
      const auto nc = in.get<std::uint64_t>();
      if (nc != o_.steps.size() + 1) throw Error(fmt::format("rank {} sent costs of another cascade", k));
      s.cost.resize(nc);
      for (auto& c : s.cost) floats(c, 0.0);
      s.done = true;
    }
    if (!in.done()) throw Error(fmt::format("rank {} sent trailing bytes after its early reads", k));
  }
}

EarlyReadResult EarlyReadRecorder::finish(const std::vector<std::int64_t>& labels, const StageSpec& base,
                                          const std::string& split) const {
  const std::size_t n = labels.size();
  if (samples_.size() != n || std::any_of(samples_.begin(), samples_.end(), [](const SampleReads& s) { return !s.done; }))
    throw UsageError(fmt::format("early read: {} labels but {} finished runs", n, samples_.size()));
  const auto n_cal = static_cast<std::size_t>(std::floor(static_cast<double>(n) * o_.calib_fraction));
  if (n_cal < 2 || n - n_cal < 2)
    throw UsageError(fmt::format("an early-read cascade needs at least two calibration and two evaluation samples, "
                                 "got {} and {}", n_cal, n - n_cal));
  const std::size_t stages = o_.steps.size() + 1;
  std::vector<StageSpec> specs;
  for (std::size_t k = 0; k < stages; ++k) {
    StageSpec s = base;
    s.engine = StageEngine::snn;
    s.steps = k + 1 < stages ? o_.steps[k] : 0;
    s.text = fmt::format("{}:engine=snn:w={}:act={}:mode={}{}", s.model, s.weight_bits, s.act_bits, s.mode,
                         s.steps > 0 ? fmt::format(":steps={}", s.steps) : "");
    specs.push_back(std::move(s));
  }
  check_self_test(o_.self_test, "classification", specs);

  // Scores and correctness do not depend on the profile; costs do.
  std::vector<std::vector<SampleOutcome>> base_outcomes(stages, std::vector<SampleOutcome>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const SampleReads& s = samples_[i];
    for (std::size_t k = 0; k < stages; ++k) {
      const bool last = k + 1 == stages;
      const std::vector<float>& at = last ? s.logits.back() : s.logits[index_of(reads_, o_.steps[k])];
      SampleOutcome& so = base_outcomes[k][i];
      so.correct = argmax(at) == labels[i];
      switch (last ? SelfTest::max_prob : o_.self_test) {
        case SelfTest::margin: so.score = margin_score(at); break;
        case SelfTest::entropy: so.score = entropy_score(at); break;
        case SelfTest::temporal: so.score = temporal_score(s.logits[index_of(reads_, o_.steps[k] / 2)], at); break;
        default: so.score = max_prob_score(at); break;
      }
    }
  }
  auto fits = [&](std::size_t p) {
    for (const SampleReads& s : samples_)
      for (const auto& c : s.cost)
        if (c[p] < 0.0) return false;
    return true;
  };
  auto outcomes = [&](std::size_t p, std::size_t begin, std::size_t end) {
    std::vector<StageOutcomes> out(stages);
    for (std::size_t k = 0; k < stages; ++k) {
      out[k].continues_previous = k > 0;
      for (std::size_t i = begin; i < end; ++i) {
        SampleOutcome so = base_outcomes[k][i];
        so.cost_pj = samples_[i].cost[k][p];
        out[k].samples.push_back(so);
      }
    }
    return out;
  };
  std::size_t cal_p = profiles_.size();
  for (std::size_t p = 0; p < profiles_.size() && cal_p == profiles_.size(); ++p)
    if (profiles_[p].kind == hw::ProfileKind::neuromorphic && fits(p)) cal_p = p;
  for (std::size_t p = 0; p < profiles_.size() && cal_p == profiles_.size(); ++p)
    if (fits(p)) cal_p = p;
  if (cal_p == profiles_.size()) throw UsageError("early read: the SNN fits none of the profiles priced");

  EarlyReadResult res;
  res.calibration_profile = profiles_[cal_p].name;
  CascadeResult& r = res.cascade;
  r.task = "classification";
  r.metric = "accuracy";
  r.calib_split = fmt::format("{}:0:{}", split, n_cal);
  r.eval_split = fmt::format("{}:{}:{}", split, n_cal, n);
  r.calib_samples = static_cast<std::int64_t>(n_cal);
  r.eval_samples = static_cast<std::int64_t>(n - n_cal);
  r.self_test = o_.self_test;
  r.tolerance = o_.tolerance;
  r.z = o_.z;
  const std::vector<StageOutcomes> calib = outcomes(cal_p, 0, n_cal), eval = outcomes(cal_p, n_cal, n);
  const std::vector<StageOutcomes> all = outcomes(cal_p, 0, n);
  auto accuracy = [](const StageOutcomes& s) {
    double c = 0.0;
    for (const SampleOutcome& o : s.samples) c += o.correct ? 1.0 : 0.0;
    return s.samples.empty() ? 0.0 : c / static_cast<double>(s.samples.size());
  };
  auto mean_cost = [](const StageOutcomes& s) {
    double c = 0.0;
    for (const SampleOutcome& o : s.samples) c += o.cost_pj;
    return s.samples.empty() ? 0.0 : c / static_cast<double>(s.samples.size());
  };
  for (std::size_t k = 0; k < stages; ++k) {
    StageReport sr;
    sr.spec = specs[k];
    sr.profile = res.calibration_profile;
    sr.cost_pj = mean_cost(all[k]);
    sr.calib_accuracy = accuracy(calib[k]);
    sr.eval_accuracy = accuracy(eval[k]);
    if (k > 0) sr.note = "continues the previous stage's run: escalating to it costs only the extra steps";
    r.stages.push_back(std::move(sr));
  }
  r.chosen = calibrate_plan(calib, o_.tolerance, o_.z);
  r.eval = evaluate_plan(eval, r.chosen.plan);
  const Plan largest_plan{{static_cast<int>(stages) - 1}, {}};
  const PlanResult largest = evaluate_plan(eval, largest_plan);
  r.largest_eval_cost_pj = largest.cost_pj;
  r.largest_eval_accuracy = largest.accuracy;
  r.saving = largest.cost_pj > 0 ? 1.0 - r.eval.cost_pj / largest.cost_pj : 0.0;
  for (const auto& [plan, pr] : r.chosen.front) r.front_eval.push_back(evaluate_plan(eval, plan));
  r.notes.push_back(fmt::format(
      "stages are one SNN run read at steps {} and at quiescence; a sample answered at a stage pays the energy of "
      "its steps up to there (its own ledger, priced per sample); calibrated on the first {} samples, evaluated on "
      "the other {}", fmt::join(o_.steps, ", "), n_cal, n - n_cal));

  for (std::size_t p = 0; p < profiles_.size(); ++p) {
    EarlyReadProfile e;
    e.profile = profiles_[p].name;
    e.kind = std::string(hw::profile_kind_name(profiles_[p].kind));
    e.fits = fits(p);
    if (e.fits) {
      const std::vector<StageOutcomes> ev = outcomes(p, n_cal, n);
      e.cascade_pj = evaluate_plan(ev, r.chosen.plan).cost_pj;
      e.quiescence_pj = evaluate_plan(ev, largest_plan).cost_pj;
      e.saving = e.quiescence_pj > 0 ? 1.0 - e.cascade_pj / e.quiescence_pj : 0.0;
      for (const StageOutcomes& s : ev) e.stage_pj.push_back(mean_cost(s));
    }
    res.profiles.push_back(std::move(e));
  }
  return res;
}

}  // namespace snnconv::cascade
