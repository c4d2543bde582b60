// compress_model (compress.hpp): pruning, bias correction, bit allocation and quantization on real data.
#include "snnconv/pipeline/compress.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "snnconv/pipeline/prune_model.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::pipeline {
namespace {

// Parameters of a graph: elements of its f32 constants that are inputs of a node (weights, biases, tables).
std::int64_t count_params(const Graph& g) {
  std::int64_t n = 0;
  for (std::size_t v = 0; v < g.num_values(); ++v) {
    const Value& val = g.values()[v];
    if (val.constant && val.constant->dtype() == DType::f32) n += val.constant->numel();
  }
  return n;
}

void check_options(const CompressOptions& o) {
  const auto fraction = [](double f, const char* option) {
    if (!(f >= 0.0 && f < 1.0))
      throw UsageError(fmt::format("{} {} is outside [0, 1): it is the fraction of units removed", option, f));
  };
  fraction(o.prune_heads, "--prune-heads");
  fraction(o.prune_mlp, "--prune-mlp");
  if (o.prune_blocks < 0) throw UsageError(fmt::format("--prune-blocks {} is negative", o.prune_blocks));
  if (o.candidate_bits.empty()) throw UsageError("no candidate bits for mixed precision");
  const int min_bits = *std::min_element(o.candidate_bits.begin(), o.candidate_bits.end());
  const int max_bits = *std::max_element(o.candidate_bits.begin(), o.candidate_bits.end());
  if (o.budget_wbits != 0.0 && !(o.budget_wbits >= min_bits && o.budget_wbits <= max_bits))
    throw UsageError(fmt::format("--budget-wbits {} is outside the candidate bits {}..{}: no allocation can meet it",
                                 o.budget_wbits, min_bits, max_bits));
  if (o.budget_bytes < 0) throw UsageError(fmt::format("--budget-bytes {} is negative", o.budget_bytes));
  if (o.budget_act_bits != 0.0 && !(o.budget_act_bits >= 2.0 && o.budget_act_bits <= 16.0))
    throw UsageError(fmt::format("--budget-act-bits {} is outside 2..16", o.budget_act_bits));
}

}  // namespace

CompressResult compress_model(const CompressOptions& o) {
  check_options(o);
  CompressResult r;
  r.model = prepare_model(o.quant);
  r.params_before = count_params(r.model.canonical);

  // Pruning first (the allocation measures the pruned model), bias correction last (at the allocated bits).
  const PruneModelOptions prune_options{o.prune_heads, o.prune_mlp, o.prune_blocks, o.bias_correction};
  PruneStep pruned = prune_structure(r.model, o.quant, prune_options);
  QuantizeModelOptions quant = o.quant;  // with the mixed-precision allocation, when a budget is given
  r.mixed = allocate_mixed_precision(r.model, o, quant);
  correct_pruned_biases(r.model, quant, prune_options, pruned);
  r.pruned = std::move(pruned.lines);

  quantize_prepared(r.model, quant);
  r.params_after = count_params(r.model.canonical);
  for (const Node& n : r.model.canonical.nodes()) {
    if (n.kind != OpKind::Linear) continue;
    const std::string& name = n.name;
    UnitReport u;
    u.name = name;
    u.params = r.model.canonical.value(n.inputs.at(1)).constant->numel();
    const auto it = quant.quant.weight_bits_of.find(name);
    u.weight_bits = it != quant.quant.weight_bits_of.end() ? it->second : quant.quant.weight_bits;
    for (const HierarchyReport& h : r.mixed.weight_units)
      if (h.level == "tensor" && h.name == name) u.sensitivity = h.sensitivity;
    r.weight_bytes += static_cast<double>(u.params) * u.weight_bits / 8.0;
    const Value& w = r.model.canonical.value(n.inputs.at(1));
    const auto git = quant.quant.weight_group_of.find(name);
    const std::int64_t group = git != quant.quant.weight_group_of.end() ? git->second : quant.quant.weight_group;
    const std::int64_t k = w.constant->dim(0), nn = w.constant->dim(1);
    r.step_bytes += 4 * nn * (group > 0 ? k / group : 1);
    r.units.push_back(std::move(u));
  }
  for (const QuantPoint& p : r.model.points) {
    const auto it = quant.quant.act_bits_of.find(p.name);
    r.act_bits[p.name] = it != quant.quant.act_bits_of.end() ? it->second : quant.quant.act_bits;
  }
  r.weight_group = quant.quant.weight_group;
  if (o.eval_samples > 0) r.accuracy = evaluate_compression(r.model, o);
  return r;
}

}  // namespace snnconv::pipeline
