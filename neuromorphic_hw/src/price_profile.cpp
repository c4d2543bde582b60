#include "snnconv/neuromorphic_hw/price_profile.hpp"

#include <fmt/format.h>

#include "snnconv/core/error.hpp"

namespace snnconv::hw {

PricingSubject make_pricing_subject(std::string name, const Graph& g, const Ledger& ledger) {
  bool same = ledger.node_names.size() == g.num_nodes();
  for (std::size_t i = 0; same && i < g.num_nodes(); ++i) same = g.nodes()[i].name == ledger.node_names[i];
  if (!same)
    throw UsageError(fmt::format("the {} ledger's rows ({}) are not the nodes of the graph it is priced with ({})",
                                 name, ledger.node_names.size(), g.num_nodes()),
                     ErrorContext{g.source_file, {}, {}, {}});
  PricingSubject s;
  s.name = std::move(name);
  s.ledger = &ledger;
  s.layers = layer_shapes_from_graph(g);
  s.workload = dense_workload(g);
  // Event-driven rows: the spiking populations and everything downstream of them (to a fixed point, so the
  // node order does not matter).
  s.event_driven.assign(g.num_nodes(), false);
  for (std::size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.nodes()[i];
    if (n.kind != OpKind::SpikeNeuron) continue;
    s.event_driven[i] = true;
    for (ValueId out : n.outputs)
      if (out.valid() && g.value(out).type.is_static()) s.neurons += checked_numel(g.value(out).type.static_shape(), n.name);
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < g.num_nodes(); ++i) {
      if (s.event_driven[i]) continue;
      for (ValueId in : g.nodes()[i].inputs) {
        if (!in.valid()) continue;
        const NodeId p = g.value(in).producer;
        if (p.valid() && s.event_driven[p.index]) {
          s.event_driven[i] = changed = true;
          break;
        }
      }
    }
  }
  return s;
}

ProfilePrice price_compute_only(const PricingSubject& subject, const ComputeOnlyConstants& constants) {
  ProfilePrice out;
  out.profile = "compute-only";
  out.kind = "compute-only";
  out.result = price_compute_only(*subject.ledger, constants);
  return out;
}

ProfilePrice price_on_profile(const PricingSubject& subject, const Profile& profile, const PricingOptions& options) {
  switch (profile.kind) {
    case ProfileKind::ops: {
      ProfilePrice out = price_compute_only(subject, compute_only_constants(op_energies(profile)));
      out.profile = profile.name;
      out.result.model = profile.name;
      return out;
    }
    case ProfileKind::neuromorphic: {
      const NeuromorphicChip chip = neuromorphic_chip(profile);
      ProfilePrice out;
      out.profile = profile.name;
      out.kind = "neuromorphic";
      out.mapping = map_layers(subject.layers, chip, options.mapping);
      out.result = price_neuromorphic(*subject.ledger, chip, subject.layers, *out.mapping);
      return out;
    }
    case ProfileKind::dense: {
      ProfilePrice out;
      out.profile = profile.name;
      out.kind = "dense";
      out.result = price_dense(*subject.ledger, dense_accelerator(profile), subject.workload, options.dense);
      return out;
    }
  }
  throw UsageError("unknown profile kind", ErrorContext{profile.file, {}, {}, {}});
}

std::vector<SensitivityRow> sensitivity(const Profile& profile, const std::vector<PricingSubject>& subjects,
                                        const std::vector<double>& factors, const PricingOptions& options) {
  auto price_all = [&](const Profile& p, std::vector<double>& energy, std::vector<bool>& fits) {
    for (const PricingSubject& s : subjects) {
      const ProfilePrice pp = price_on_profile(s, p, options);
      energy.push_back(pp.result.fits ? pp.result.energy_per_inference_pj() : 0.0);
      fits.push_back(pp.result.fits);
    }
  };
  std::vector<double> base_energy;
  std::vector<bool> base_fits;
  price_all(profile, base_energy, base_fits);

  std::vector<SensitivityRow> rows;
  for (const auto& [key, constant] : profile.constants) {
    // The compute-only convention reads nothing else of an ops profile.
    if (profile.kind == ProfileKind::ops && key != "convention_mac_energy" && key != "convention_ac_energy") continue;
    SensitivityRow row;
    row.profile = profile.name;
    row.key = key;
    row.unit = constant.unit;
    row.base_value = constant.value;
    row.verified = constant.verified;
    row.base_energy_per_inference_pj = base_energy;
    row.base_fits = base_fits;
    for (double f : factors) {
      SensitivityPoint pt;
      pt.factor = f;
      pt.value = constant.value * f;
      try {
        const Profile varied = with_value(profile, key, pt.value);
        price_all(varied, pt.energy_per_inference_pj, pt.fits);
        std::string unfit;
        for (std::size_t i = 0; i < subjects.size(); ++i)
          if (!pt.fits[i]) unfit += (unfit.empty() ? "" : ", ") + subjects[i].name;
        if (!unfit.empty()) pt.status = "does not fit: " + unfit;
      } catch (const ParseError& e) {
        pt.valid = false;
        pt.status = e.message();
        pt.energy_per_inference_pj.assign(subjects.size(), 0.0);
        pt.fits.assign(subjects.size(), false);
      }
      row.points.push_back(std::move(pt));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace snnconv::hw
