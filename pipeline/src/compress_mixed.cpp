// Mixed-precision allocation and before/after scoring of `snnconv compress` (compress_mixed.hpp).
#include "snnconv/pipeline/compress_mixed.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/pipeline/compress.hpp"
#include "snnconv/converter/mixed_precision.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::pipeline {
namespace {

std::vector<int> sorted_bits(std::vector<int> bits, int lo, int hi, const char* what) {
  std::sort(bits.begin(), bits.end());
  bits.erase(std::unique(bits.begin(), bits.end()), bits.end());
  if (bits.empty()) throw UsageError(fmt::format("{}: no candidate bits", what));
  for (int b : bits)
    if (b < lo || b > hi) throw UsageError(fmt::format("{}: candidate bits {} outside {}..{}", what, b, lo, hi));
  return bits;
}

HierarchyReport to_report(const PrecisionUnit& u, const std::map<int, double>& sens) {
  HierarchyReport h;
  h.name = u.name;
  h.level = std::string(unit_level_name(u.level));
  h.params = u.params;
  h.members = u.members;
  h.sensitivity = sens;
  return h;
}

// Grouped weights (quant.weight_group G > 0): the bits of the f32 steps beyond one per output channel,
// 32 * (K/G - 1) * N, added to every candidate's cost (docs/compression.md, "Grouped weights").
double extra_step_bits(const Graph& g, const std::string& linear, const QuantizeOptions& q) {
  const auto it = q.weight_group_of.find(linear);
  const std::int64_t group = it != q.weight_group_of.end() ? it->second : q.weight_group;
  if (group <= 0) return 0.0;
  for (const Node& n : g.nodes()) {
    if (n.kind != OpKind::Linear || n.name != linear) continue;
    const Tensor& w = *g.value(n.inputs.at(1)).constant;
    if (w.dim(0) % group != 0)
      throw UsageError(fmt::format("Linear '{}': weight group {} does not divide its K = {}", linear, group, w.dim(0)));
    return 32.0 * static_cast<double>(w.dim(0) / group - 1) * static_cast<double>(w.dim(1));
  }
  return 0.0;
}

}  // namespace

MixedPrecisionReport allocate_mixed_precision(const QuantizedModel& m, const CompressOptions& o,
                                              QuantizeModelOptions& quant) {
  const auto t0 = std::chrono::steady_clock::now();
  MixedPrecisionReport rep;
  const int weight_budgets = (o.budget_wbits != 0.0) + (o.budget_bytes != 0) + !o.cost_file.empty();
  if (weight_budgets > 1)
    throw UsageError("give one weight budget: --budget-wbits, --budget-bytes or --cost-file");
  if (o.sensitivity_samples < 1)
    throw UsageError(fmt::format("--sensitivity-samples {} must be at least 1", o.sensitivity_samples));
  rep.weights = weight_budgets == 1;
  rep.activations = o.budget_act_bits != 0.0;
  if (!rep.weights && !rep.activations) return rep;

  const QannSkeleton sk = build_qann_skeleton(m.canonical);
  QuantizeModelOptions few = quant;
  few.calib_samples = std::min(quant.calib_samples, o.sensitivity_samples);
  const std::vector<std::vector<Tensor>> samples = calibration_inputs(m, few);
  rep.sensitivity_samples = static_cast<std::int64_t>(samples.size());

  if (rep.weights) {
    const std::vector<int> bits = sorted_bits(o.candidate_bits, 2, 8, "weight mixed precision");
    const std::vector<PrecisionUnit> units = hierarchy_units(m.canonical, sk.linears);
    std::vector<const PrecisionUnit*> tensors;
    std::int64_t total_params = 0;
    for (const PrecisionUnit& u : units)
      if (u.level == UnitLevel::tensor) {
        tensors.push_back(&u);
        total_params += u.params;
      }
    // Costs in bits (or the cost file's unit) per tensor and candidate bits.
    std::map<std::string, std::map<int, double>> cost;
    double extra_bits = 0.0;  // grouped steps: a fixed cost per tensor, whatever its bits
    for (const PrecisionUnit* u : tensors) {
      const double extra = extra_step_bits(m.canonical, u->name, quant.quant);
      extra_bits += extra;
      for (int b : bits) cost[u->name][b] = static_cast<double>(u->params) * b + extra;
    }
    if (o.budget_wbits != 0.0) {
      rep.weight_budget = fmt::format("--budget-wbits {}", o.budget_wbits);
      if (o.budget_wbits < bits.front() || o.budget_wbits > bits.back())
        throw UsageError(fmt::format("--budget-wbits {} is outside the candidate bits {}..{}: no allocation meets it",
                                     o.budget_wbits, bits.front(), bits.back()));
      rep.weight_budget_cost = std::floor(o.budget_wbits * static_cast<double>(total_params) + 1e-6);
      if (rep.weight_budget_cost < static_cast<double>(total_params * bits.front()) + extra_bits)
        throw UsageError(fmt::format("--budget-wbits {}: with the grouped steps ({:.0f} bits) not even every weight "
                                     "at {} bits fits",
                                     o.budget_wbits, extra_bits, bits.front()));
    } else if (o.budget_bytes != 0) {
      rep.weight_budget = fmt::format("--budget-bytes {}", o.budget_bytes);
      const std::int64_t min_bytes = (total_params * bits.front() + static_cast<std::int64_t>(extra_bits) + 7) / 8;
      if (o.budget_bytes < min_bytes)
        throw UsageError(fmt::format("--budget-bytes {} is below the smallest allocation: every weight at {} bits "
                                     "takes {} bytes",
                                     o.budget_bytes, bits.front(), min_bytes));
      rep.weight_budget_cost = static_cast<double>(o.budget_bytes) * 8.0;
    } else {
      rep.weight_budget = "--cost-file " + o.cost_file;
      std::vector<PrecisionUnit> tensor_units;
      for (const PrecisionUnit* u : tensors) tensor_units.push_back(*u);
      const CostTable table = read_cost_file(o.cost_file, tensor_units, bits);
      cost = table.cost;
      rep.weight_budget_cost = table.budget;
    }
    SensitivityOptions so;
    so.bits = bits;
    so.weight_group = quant.quant.weight_group;
    so.weight_group_of = quant.quant.weight_group_of;
    const SensitivityTable sens = weight_sensitivity(m.canonical, units, samples, so);
    std::vector<KnapsackItem> items;
    std::map<std::string, std::size_t> unit_index;
    for (std::size_t i = 0; i < units.size(); ++i)
      if (units[i].level == UnitLevel::tensor) unit_index[units[i].name] = i;
    for (const PrecisionUnit* u : tensors) {
      KnapsackItem it;
      for (int b : bits) {
        it.cost.push_back(cost.at(u->name).at(b));
        it.value.push_back(sens[unit_index.at(u->name)].at(b));
      }
      items.push_back(std::move(it));
    }
    const KnapsackSolution sol = solve_knapsack(items, rep.weight_budget_cost, rep.weight_budget);
    rep.weight_cost = sol.cost;
    rep.weight_predicted_kl = sol.value;
    rep.weight_exact = sol.exact;
    std::map<std::string, int> alloc;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      alloc[tensors[i]->name] = bits[static_cast<std::size_t>(sol.choice[i])];
      quant.quant.weight_bits_of[tensors[i]->name] = alloc[tensors[i]->name];
    }
    rep.weight_measured_kl = allocation_kl(m.canonical, alloc, samples, so);
    for (std::size_t i = 0; i < units.size(); ++i) {
      HierarchyReport h = to_report(units[i], sens[i]);
      double wb = 0.0;
      for (const std::string& mem : units[i].members) {
        const PrecisionUnit& t = units[unit_index.at(mem)];
        wb += static_cast<double>(t.params) * alloc.at(mem);
        h.allocated_sensitivity += sens[unit_index.at(mem)].at(alloc.at(mem));
      }
      h.mean_bits = units[i].params > 0 ? wb / static_cast<double>(units[i].params) : 0.0;
      rep.weight_units.push_back(std::move(h));
    }
  }

  if (rep.activations) {
    const std::vector<int> bits = sorted_bits(o.candidate_act_bits, 2, 16, "activation mixed precision");
    if (o.budget_act_bits < bits.front() || o.budget_act_bits > bits.back())
      throw UsageError(fmt::format("--budget-act-bits {} is outside the candidate activation bits {}..{}: no "
                                   "allocation meets it",
                                   o.budget_act_bits, bits.front(), bits.back()));
    const Calibration cal = calibrate(sk, calibration_inputs(m, quant), quant.quant);
    SensitivityOptions so;
    so.bits = bits;
    // Each point against a float rest (so.context_bits = 0). Measuring it with the others at the budget's
    // uniform width was tried and allocated worse on fashion_vit (docs/compression.md).
    std::vector<PrecisionUnit> points;
    const SensitivityTable sens = activation_sensitivity(sk, cal, samples, quant.quant, so, points);
    // Knapsack items: one per point (points tied to one Concat share one step, so one width). Items of whole
    // blocks (activation_blocks, their joint sensitivity) were tried and allocated worse on fashion_vit
    // (docs/compression.md).
    std::vector<std::vector<std::size_t>> groups;
    std::vector<std::map<int, double>> group_sens;
    {
      std::map<int, std::size_t> group_of_tie;
      for (std::size_t i = 0; i < sk.points.size(); ++i) {
        const int tie = sk.points[i].tie;
        if (tie >= 0 && group_of_tie.count(tie)) {
          groups[group_of_tie[tie]].push_back(i);
          continue;
        }
        if (tie >= 0) group_of_tie[tie] = groups.size();
        groups.push_back({i});
      }
      for (const auto& grp : groups) {
        std::map<int, double> v;
        for (int b : bits)
          for (std::size_t i : grp) v[b] += sens[i].at(b);
        group_sens.push_back(std::move(v));
      }
    }
    std::vector<KnapsackItem> items;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      KnapsackItem it;
      for (int b : bits) {
        it.cost.push_back(static_cast<double>(b) * static_cast<double>(groups[g].size()));
        it.value.push_back(group_sens[g].at(b));
      }
      items.push_back(std::move(it));
    }
    rep.act_budget_bits = o.budget_act_bits;
    const double budget = std::floor(o.budget_act_bits * static_cast<double>(points.size()) + 1e-6);
    const KnapsackSolution sol =
        solve_knapsack(items, budget, fmt::format("--budget-act-bits {}", o.budget_act_bits));
    rep.act_predicted_kl = sol.value;
    rep.act_mean_bits = points.empty() ? 0.0 : sol.cost / static_cast<double>(points.size());
    for (std::size_t g = 0; g < groups.size(); ++g)
      for (std::size_t i : groups[g]) {
        const int b = bits[static_cast<std::size_t>(sol.choice[g])];
        quant.quant.act_bits_of[points[i].name] = b;
        HierarchyReport h = to_report(points[i], sens[i]);
        h.mean_bits = b;
        h.allocated_sensitivity = sens[i].at(b);
        rep.act_units.push_back(std::move(h));
      }
  }
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

AccuracyReport evaluate_compression(const QuantizedModel& m, const CompressOptions& o) {
  AccuracyReport a;
  a.split = "test";
  const std::vector<Sample> samples = load_samples(m, a.split, o.eval_samples);
  a.samples = static_cast<std::int64_t>(samples.size());
  if (samples.empty()) return a;
  SpikingRunOptions so;
  so.engine = SpikingEngine::qann;
  so.threads = 1;
  const SpikingRunResult q = run_spiking(m, samples, so);
  a.metric = q.metric;
  a.compressed_value = q.value;
  // The float model on the same samples, scored the same way.
  ann::EngineOptions eo;
  eo.threads = 1;
  eo.fill_ledger = false;
  ann::Engine engine(m.canonical, eo);
  SampleScore total;
  for (const Sample& s : samples) {
    const SampleScore sc = score_sample(m.task, engine.run(s.inputs).at(0), s);
    total.value += sc.value;
    total.count += sc.count;
  }
  if (total.count > 0) a.float_value = finish_metric(a.metric, total);
  return a;
}

}  // namespace snnconv::pipeline
