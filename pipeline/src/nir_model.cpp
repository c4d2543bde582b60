#include "snnconv/pipeline/nir_model.hpp"

#include <fmt/format.h>

#include <random>

#include "snnconv/datasets/nir_file.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::pipeline {

NirModel load_nir(const std::filesystem::path& path, const snn::NirOptions& options) {
  nir::Graph g = datasets::read_nir_file(path);
  const std::int64_t params = nir::parameter_count(g);
  return NirModel{path.string(), snn::NirNetwork(std::move(g), options), params};
}

NirRun run_nir(const NirModel& model, const Tensor& input, snn::NirProbe* probe) {
  NirRun r;
  r.ledger = model.network.make_ledger();
  r.outputs = model.network.run(input, &r.ledger, probe);
  return r;
}

Tensor random_spikes(const Shape& input_shape, std::int64_t batch, std::int64_t steps, double rate, std::uint64_t seed) {
  if (batch < 1 || steps < 1 || !(rate >= 0 && rate <= 1))
    throw UsageError(fmt::format("random spikes: batch {} and steps {} must be >= 1, rate {} in [0, 1]", batch, steps, rate));
  Shape shape{batch, steps};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  Tensor t(DType::f32, shape);
  std::mt19937_64 rng(seed);
  // A threshold on the raw 64-bit draw, not std::bernoulli_distribution, whose algorithm the standard leaves open.
  const auto cut = static_cast<std::uint64_t>(rate * 18446744073709551615.0);
  for (float& v : t.span<float>()) v = rng() < cut ? 1.0f : 0.0f;
  return t;
}

hw::PricingSubject nir_pricing_subject(const NirModel& model, const Ledger& ledger, std::string name) {
  const auto& info = model.network.nodes();
  const std::size_t n = info.size();
  if (ledger.per_node.size() != n)
    throw UsageError(fmt::format("the ledger has {} rows, the NIR model {} nodes", ledger.per_node.size(), n));
  hw::PricingSubject s;
  s.name = std::move(name);
  s.ledger = &ledger;
  s.neurons = model.network.neurons();
  // Upstream / downstream walks over forward and recurrent edges.
  std::vector<std::vector<std::size_t>> preds(n), succs(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t p : info[i].sources) preds[i].push_back(p);
    for (std::size_t p : info[i].back_sources) preds[i].push_back(p);
    for (std::size_t p : preds[i]) succs[p].push_back(i);
  }
  auto nearest = [&](std::size_t from, const std::vector<std::vector<std::size_t>>& next, auto pred) -> std::int64_t {
    std::vector<bool> seen(n, false);
    std::vector<std::size_t> frontier = next[from];
    while (!frontier.empty()) {
      std::vector<std::size_t> more;
      for (std::size_t k : frontier) {
        if (seen[k]) continue;
        seen[k] = true;
        if (pred(k)) return static_cast<std::int64_t>(k);
        more.insert(more.end(), next[k].begin(), next[k].end());
      }
      frontier = std::move(more);
    }
    return -1;
  };
  const auto is_syn = [&](std::size_t k) { return nir::is_synaptic(info[k].type); };
  const auto is_neu = [&](std::size_t k) { return nir::is_neuron(info[k].type); };
  std::vector<std::int64_t> layer_of(n, -1);
  for (std::size_t i : model.network.order())
    if (is_syn(i)) layer_of[i] = static_cast<std::int64_t>(s.layers.size()), s.layers.emplace_back();
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_syn(i)) continue;
    hw::LayerShape& l = s.layers[static_cast<std::size_t>(layer_of[i])];
    const std::int64_t out = checked_numel(info[i].output_shape);
    // Affine: weights / outputs = inputs; Conv: weights / output channels = C_in / groups x kernel.
    const bool dense = info[i].output_shape.size() == 1;
    const std::int64_t fan_in = info[i].synapses / std::max<std::int64_t>(1, dense ? out : info[i].output_shape[0]);
    l.name = info[i].name;
    l.neurons = out;
    l.fan_in = fan_in;
    l.synapse_bytes = info[i].synapses * 4;
    const std::int64_t src = nearest(i, preds, is_syn);
    l.source = src < 0 ? -1 : layer_of[static_cast<std::size_t>(src)];
    l.synapse_row = static_cast<std::int64_t>(i);
    l.neuron_row = nearest(i, succs, is_neu);
    l.input_row = nearest(i, preds, is_neu);
    hw::GemmShape g;
    g.name = l.name;
    g.ledger_row = l.synapse_row;
    g.dims.m = info[i].output_shape.size() == 1 ? 1 : out / info[i].output_shape[0];  // output positions
    g.dims.k = fan_in;
    g.dims.n = info[i].output_shape[0];
    g.dims.x_bytes = l.input_row >= 0 ? 0.25 : 4;  // spikes as 2-bit ternary elements, like the converter's SNNs
    g.dims.w_bytes = 4;
    g.dims.y_bytes = 4;
    s.workload.gemms.push_back(g);
  }
  s.event_driven.assign(n, false);
  for (std::size_t i = 0; i < n; ++i) s.event_driven[i] = is_neu(i);
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < n; ++i)
      if (!s.event_driven[i])
        for (std::size_t p : preds[i])
          if (s.event_driven[p]) {
            s.event_driven[i] = changed = true;
            break;
          }
  }
  return s;
}

std::vector<hw::ProfilePrice> price_nir(const NirModel& model, const Ledger& ledger,
                                        const std::vector<std::string>& names,
                                        const std::filesystem::path& profiles_dir) {
  const hw::PricingSubject subject = nir_pricing_subject(model, ledger);
  const std::filesystem::path dir = profiles_dir.empty() ? hw::default_profiles_dir() : profiles_dir;
  std::vector<hw::ProfilePrice> out{hw::price_compute_only(subject)};
  for (const std::string& name : names.empty() ? hw::list_profiles(dir) : names)
    out.push_back(hw::price_on_profile(subject, hw::find_profile(name, dir)));
  return out;
}

}  // namespace snnconv::pipeline
