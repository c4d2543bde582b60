// The pure part of cascades: stage specs, self-test scores, plan evaluation, calibration, Pareto front.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "snnconv/cascade/cascade.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::cascade {
namespace {

int parse_int(const std::string& stage, const std::string& key, const std::string& v, int lo, int hi) {
  std::size_t used = 0;
  int x = 0;
  try {
    x = std::stoi(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || x < lo || x > hi)
    throw UsageError(fmt::format("stage '{}': {}={} must be an integer in [{}, {}]", stage, key, v, lo, hi));
  return x;
}

// A NaN or +Inf logit has no probability (the callers refuse non-finite outputs with the sample named
// first; this keeps the self-test scores defined for any input, which the `metrics` fuzz harness checks).
// -Inf is a masked class: probability 0, unless every class is masked.
std::vector<double> softmax(std::span<const float> logits) {
  std::vector<double> p(logits.size());
  if (logits.empty()) return p;
  for (std::size_t i = 0; i < logits.size(); ++i)
    if (std::isnan(logits[i]) || logits[i] == std::numeric_limits<float>::infinity())
      throw NumericError(fmt::format("self-test: logit {} is {}", i, std::isnan(logits[i]) ? "nan" : "+inf"));
  const float mx = *std::max_element(logits.begin(), logits.end());
  if (!std::isfinite(mx)) throw NumericError("self-test: every logit is -inf");
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(static_cast<double>(logits[i] - mx));
  for (double& x : p) x /= sum;
  return p;
}

std::size_t argmax(std::span<const float> v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());  // first on ties
}

bool is_classification_test(SelfTest t) {
  return t == SelfTest::max_prob || t == SelfTest::margin || t == SelfTest::entropy || t == SelfTest::temporal;
}

}  // namespace

std::string_view engine_name(StageEngine e) {
  switch (e) {
    case StageEngine::ann: return "ann";
    case StageEngine::qann: return "qann";
    case StageEngine::snn: return "snn";
  }
  return "?";
}

StageSpec parse_stage_spec(const std::string& text) {
  StageSpec s;
  s.text = text;
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t c = text.find(':', start);
    parts.push_back(text.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  s.model = parts[0];
  if (s.model.empty()) throw UsageError(fmt::format("stage '{}': no model file before the first ':'", text));
  bool act_given = false;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::size_t eq = parts[i].find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError(fmt::format("stage '{}': '{}' is not key=value (keys: engine, w, act, steps, mode, hw, k, temp)",
                                   text, parts[i]));
    const std::string key = parts[i].substr(0, eq), v = parts[i].substr(eq + 1);
    if (key == "engine") {
      if (v == "ann") s.engine = StageEngine::ann;
      else if (v == "qann") s.engine = StageEngine::qann;
      else if (v == "snn") s.engine = StageEngine::snn;
      else throw UsageError(fmt::format("stage '{}': engine must be ann, qann or snn, got '{}'", text, v));
    } else if (key == "w") {
      s.weight_bits = parse_int(text, key, v, 2, 8);
    } else if (key == "act") {
      s.act_bits = parse_int(text, key, v, 2, 16);
      act_given = true;
    } else if (key == "steps") {
      s.steps = parse_int(text, key, v, 0, 4096);
    } else if (key == "mode") {
      if (v != "strict" && v != "burst")
        throw UsageError(fmt::format("stage '{}': mode must be strict or burst, got '{}'", text, v));
      s.mode = v;
    } else if (key == "hw") {
      if (v.empty()) throw UsageError(fmt::format("stage '{}': hw= needs a profile name or .json path", text));
      s.profile = v;
    } else if (key == "k") {
      s.candidates = parse_int(text, key, v, 1, 64);
    } else if (key == "temp") {
      char* end = nullptr;
      s.temperature = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !(s.temperature > 0.0) || s.temperature > 10.0)
        throw UsageError(fmt::format("stage '{}': temp={} must be a number in (0, 10]", text, v));
    } else {
      throw UsageError(fmt::format("stage '{}': unknown key '{}' (keys: engine, w, act, steps, mode, hw, k, temp)",
                                   text, key));
    }
  }
  if (s.engine != StageEngine::snn && (s.steps != 0 || s.mode != "strict"))
    throw UsageError(fmt::format("stage '{}': steps= and mode= apply to engine=snn only", text));
  if (s.engine == StageEngine::ann && act_given)
    throw UsageError(fmt::format("stage '{}': act= applies to engine=qann or snn only", text));
  return s;
}

std::vector<StageSpec> parse_stage_list(const std::string& text) {
  std::vector<StageSpec> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t c = text.find(',', start);
    const std::string one = text.substr(start, c == std::string::npos ? std::string::npos : c - start);
    if (one.empty()) throw UsageError(fmt::format("--stages '{}': an empty stage", text));
    out.push_back(parse_stage_spec(one));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

bool continues(const StageSpec& a, const StageSpec& b) {
  if (a.engine != StageEngine::snn || b.engine != StageEngine::snn) return false;
  if (a.model != b.model || a.weight_bits != b.weight_bits || a.act_bits != b.act_bits || a.mode != b.mode) return false;
  if (a.profile != b.profile) return false;
  const int ta = a.steps == 0 ? std::numeric_limits<int>::max() : a.steps;
  const int tb = b.steps == 0 ? std::numeric_limits<int>::max() : b.steps;
  return ta < tb;
}

std::string_view self_test_name(SelfTest t) {
  switch (t) {
    case SelfTest::max_prob: return "max_prob";
    case SelfTest::margin: return "margin";
    case SelfTest::entropy: return "entropy";
    case SelfTest::token_quantile: return "token_quantile";
    case SelfTest::temporal: return "temporal";
    case SelfTest::execution: return "execution";
  }
  return "?";
}

SelfTest parse_self_test(const std::string& text) {
  for (SelfTest t : {SelfTest::max_prob, SelfTest::margin, SelfTest::entropy, SelfTest::token_quantile,
                     SelfTest::temporal, SelfTest::execution})
    if (text == self_test_name(t)) return t;
  throw UsageError(fmt::format(
      "--self-test must be max_prob, margin, entropy, token_quantile, temporal or execution, got '{}'", text));
}

double max_prob_score(std::span<const float> logits) {
  const std::vector<double> p = softmax(logits);
  return p.empty() ? 0.0 : *std::max_element(p.begin(), p.end());
}

double margin_score(std::span<const float> logits) {
  std::vector<double> p = softmax(logits);
  if (p.size() < 2) return p.empty() ? 0.0 : 1.0;
  std::partial_sort(p.begin(), p.begin() + 2, p.end(), std::greater<>());
  return p[0] - p[1];
}

double entropy_score(std::span<const float> logits) {
  const std::vector<double> p = softmax(logits);
  if (p.size() < 2) return 1.0;
  double h = 0.0;
  for (double x : p) h -= x > 0.0 ? x * std::log(x) : 0.0;
  return std::clamp(1.0 - h / std::log(static_cast<double>(p.size())), 0.0, 1.0);
}

double temporal_score(std::span<const float> half_logits, std::span<const float> final_logits) {
  if (half_logits.size() != final_logits.size() || final_logits.empty()) return 0.0;
  (void)softmax(half_logits);  // refuses a NaN read at half the steps, as the final one
  const double p = max_prob_score(final_logits);
  return argmax(half_logits) == argmax(final_logits) ? p : 0.0;
}

double quantile_score(std::vector<double> p, double q) {
  if (p.empty()) return 0.0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (std::isnan(p[i])) throw NumericError(fmt::format("token_quantile: the probability of token {} is nan", i));
  if (std::isnan(q)) throw UsageError("token_quantile: the quantile is nan");
  std::sort(p.begin(), p.end());
  const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(p.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, p.size() - 1);
  return p[lo] + (pos - static_cast<double>(lo)) * (p[hi] - p[lo]);
}

void check_self_test(SelfTest test, const std::string& task, const std::vector<StageSpec>& stages) {
  const std::string name(self_test_name(test));
  if (task == "classification") {
    if (!is_classification_test(test))
      throw UsageError(fmt::format("--self-test {} does not fit a classifier (task classification): use max_prob, "
                                   "margin, entropy or temporal", name));
  } else if (task == "program_synthesis") {
    if (is_classification_test(test))
      throw UsageError(fmt::format("--self-test {} does not fit a code generator (task program_synthesis): use "
                                   "execution or token_quantile", name));
  } else {
    throw UsageError(fmt::format("cascades run classification and program_synthesis data, not {}", task));
  }
  if (test == SelfTest::temporal)
    for (std::size_t i = 0; i + 1 < stages.size(); ++i)
      if (stages[i].engine != StageEngine::snn)
        throw UsageError(fmt::format("--self-test temporal needs an SNN at every stage but the last; stage {} ('{}') "
                                     "runs engine={}", i + 1, stages[i].text, engine_name(stages[i].engine)));
}

PlanResult evaluate_plan(const std::vector<StageOutcomes>& stages, const Plan& plan) {
  if (stages.empty()) throw UsageError("a plan needs at least one stage");
  const std::size_t n = stages[0].samples.size();
  for (const StageOutcomes& s : stages)
    if (s.samples.size() != n) throw UsageError("every stage needs an outcome for every sample");
  if (plan.stages.empty() || plan.stages.back() != static_cast<int>(stages.size()) - 1)
    throw UsageError("a plan must end with the last stage");
  if (plan.thresholds.size() + 1 != plan.stages.size())
    throw UsageError(fmt::format("a plan of {} stages needs {} thresholds, got {}", plan.stages.size(),
                                 plan.stages.size() - 1, plan.thresholds.size()));
  for (std::size_t j = 0; j < plan.stages.size(); ++j)
    if (plan.stages[j] < 0 || (j > 0 && plan.stages[j] <= plan.stages[j - 1]))
      throw UsageError("a plan's stages must be ascending stage indices");
  for (double t : plan.thresholds)
    if (!(t >= 0.0 && t <= 1.0) && !(t > 1.0 && std::isinf(t)))
      throw UsageError(fmt::format("threshold {} is outside [0, 1]", t));
  PlanResult r;
  r.reached.assign(stages.size(), 0.0);
  r.escalated.assign(stages.size(), 0.0);
  r.answered.assign(stages.size(), 0.0);
  std::vector<double> escalations(stages.size(), 0.0);
  double correct = 0.0, cost = 0.0, d_sum = 0.0, d_sq = 0.0;
  const StageOutcomes& last_stage = stages.back();
  for (std::size_t i = 0; i < n; ++i) {
    int previous = -1;
    for (std::size_t j = 0; j < plan.stages.size(); ++j) {
      const int k = plan.stages[j];
      const SampleOutcome& o = stages[static_cast<std::size_t>(k)].samples[i];
      double c = o.cost_pj;
      // Continuation is transitive: k continues `previous` when every stage after it up to k continues its own
      // predecessor (the same SNN run read later and later).
      bool chained = previous >= 0;
      for (int q = previous + 1; chained && q <= k; ++q) chained = stages[static_cast<std::size_t>(q)].continues_previous;
      if (chained) c = std::max(0.0, c - stages[static_cast<std::size_t>(previous)].samples[i].cost_pj);
      cost += c;
      r.reached[static_cast<std::size_t>(k)] += 1.0;
      const bool last = j + 1 == plan.stages.size();
      if (last || o.score >= plan.thresholds[j]) {
        correct += o.correct ? 1.0 : 0.0;
        const double d = (last_stage.samples[i].correct ? 1.0 : 0.0) - (o.correct ? 1.0 : 0.0);
        d_sum += d;
        d_sq += d * d;
        r.answered[static_cast<std::size_t>(k)] += 1.0;
        break;
      }
      escalations[static_cast<std::size_t>(k)] += 1.0;
      previous = k;
    }
  }
  const double dn = std::max<double>(1.0, static_cast<double>(n));
  r.accuracy = correct / dn;
  r.cost_pj = cost / dn;
  r.loss = d_sum / dn;
  const double var = n > 1 ? std::max(0.0, (d_sq - d_sum * d_sum / dn) / (dn - 1.0)) : 0.0;
  r.loss_se = std::sqrt(var / dn);
  for (std::size_t k = 0; k < stages.size(); ++k) {
    r.escalated[k] = r.reached[k] > 0 ? escalations[k] / r.reached[k] : 0.0;
    r.reached[k] /= dn;
    r.answered[k] /= dn;
  }
  return r;
}

namespace {

// Candidate thresholds of one stage: quantiles of its scores, plus 0 (always answer) and +inf (never).
std::vector<double> threshold_grid(const StageOutcomes& s, int points) {
  std::vector<double> scores;
  for (const SampleOutcome& o : s.samples) {
    if (std::isnan(o.score)) throw NumericError(fmt::format("cascade: sample {} has a nan self-test score", scores.size()));
    scores.push_back(o.score);
  }
  std::sort(scores.begin(), scores.end());
  std::vector<double> g{0.0, std::numeric_limits<double>::infinity()};
  if (!scores.empty())
    for (int i = 0; i < points; ++i) {
      const double q = static_cast<double>(i) / std::max(1, points - 1);
      const auto idx = static_cast<std::size_t>(std::llround(q * static_cast<double>(scores.size() - 1)));
      g.push_back(std::clamp(scores[idx], 0.0, 1.0));
    }
  std::sort(g.begin(), g.end());
  g.erase(std::unique(g.begin(), g.end()), g.end());
  return g;
}

bool better(const PlanResult& a, std::size_t a_stages, const PlanResult& b, std::size_t b_stages) {
  if (a.cost_pj != b.cost_pj) return a.cost_pj < b.cost_pj;
  if (a.accuracy != b.accuracy) return a.accuracy > b.accuracy;
  return a_stages < b_stages;
}

}  // namespace

CalibratedPlan calibrate_plan(const std::vector<StageOutcomes>& stages, double tolerance, double z) {
  const std::size_t n = stages.size();
  if (n < 2) throw UsageError(fmt::format("a cascade needs at least two stages, got {}", n));
  if (n > 5) throw UsageError(fmt::format("a cascade calibrates at most five stages, got {}", n));
  if (!(tolerance >= 0.0 && tolerance <= 1.0))
    throw UsageError(fmt::format("tolerance {} is outside [0, 1] (a fraction of accuracy)", tolerance));
  if (!(z >= 0.0 && z <= 10.0)) throw UsageError(fmt::format("confidence z {} is outside [0, 10]", z));
  const int points = n == 2 ? 101 : n == 3 ? 41 : 13;
  std::vector<std::vector<double>> grids;
  for (const StageOutcomes& s : stages) grids.push_back(threshold_grid(s, points));

  CalibratedPlan best;
  Plan alone{{static_cast<int>(n) - 1}, {}};
  const PlanResult largest = evaluate_plan(stages, alone);
  best.target_accuracy = largest.accuracy - tolerance;
  best.plan = alone;
  best.calibration = largest;
  std::vector<std::pair<Plan, PlanResult>> all;
  for (unsigned mask = 0; mask < (1u << (n - 1)); ++mask) {
    Plan p;
    for (std::size_t k = 0; k + 1 < n; ++k)
      if (mask & (1u << k)) p.stages.push_back(static_cast<int>(k));
    p.stages.push_back(static_cast<int>(n) - 1);
    const std::size_t m = p.stages.size() - 1;
    std::vector<std::size_t> idx(m, 0);
    for (;;) {
      p.thresholds.clear();
      bool useless = false;
      for (std::size_t j = 0; j < m; ++j) {
        const double t = grids[static_cast<std::size_t>(p.stages[j])][idx[j]];
        useless = useless || std::isinf(t);  // "never answer" is the subset without this stage, but dearer
        p.thresholds.push_back(t);
      }
      if (!useless) {
        const PlanResult r = evaluate_plan(stages, p);
        ++best.plans_tried;
        all.emplace_back(p, r);
        if (r.loss + z * r.loss_se <= tolerance + 1e-12 &&
            better(r, p.stages.size(), best.calibration, best.plan.stages.size())) {
          best.plan = p;
          best.calibration = r;
        }
      }
      std::size_t j = 0;
      while (j < m && ++idx[j] == grids[static_cast<std::size_t>(p.stages[j])].size()) idx[j++] = 0;
      if (j == m) break;
    }
  }
  // Pareto front: sorted by cost (then accuracy desc), keep each plan more accurate than every cheaper one.
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return better(a.second, a.first.stages.size(), b.second, b.first.stages.size());
  });
  double best_acc = -1.0;
  for (auto& e : all)
    if (e.second.accuracy > best_acc) {
      best_acc = e.second.accuracy;
      best.front.push_back(std::move(e));
    }
  return best;
}

}  // namespace snnconv::cascade
