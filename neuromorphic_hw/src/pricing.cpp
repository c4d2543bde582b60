#include "snnconv/neuromorphic_hw/pricing.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "snnconv/core/si_format.hpp"

namespace snnconv::hw {

EnergyBreakdown& EnergyBreakdown::operator+=(const EnergyBreakdown& o) {
  compute_pj += o.compute_pj;
  sram_pj += o.sram_pj;
  dram_pj += o.dram_pj;
  noc_pj += o.noc_pj;
  static_pj += o.static_pj;
  return *this;
}

EnergyBreakdown EnergyBreakdown::scaled(double f) const {
  return EnergyBreakdown{compute_pj * f, sram_pj * f, dram_pj * f, noc_pj * f, static_pj * f};
}

ComputeTerms& ComputeTerms::operator+=(const ComputeTerms& o) {
  mac_pj += o.mac_pj;
  synaptic_pj += o.synaptic_pj;
  neuron_pj += o.neuron_pj;
  dense_pj += o.dense_pj;
  nonlinear_pj += o.nonlinear_pj;
  return *this;
}

double PriceResult::energy_per_spike_pj() const {
  return spikes == 0 ? 0.0 : total.total_pj() / static_cast<double>(spikes);
}
double PriceResult::energy_per_inference_pj() const {
  return samples == 0 ? 0.0 : total.total_pj() / static_cast<double>(samples);
}
double PriceResult::energy_per_token_pj() const {
  return tokens == 0 ? 0.0 : total.total_pj() / static_cast<double>(tokens);
}
double PriceResult::latency_per_inference_s() const {
  return samples == 0 ? 0.0 : latency_s / static_cast<double>(samples);
}

double ann_snn_ratio(const PriceResult& ann, const PriceResult& snn) {
  const double s = snn.energy_per_inference_pj();
  return s == 0 ? 0.0 : ann.energy_per_inference_pj() / s;
}

std::uint64_t ledger_steps(const Ledger& ledger) {
  std::uint64_t steps = 0;
  for (const auto& c : ledger.per_node) steps = std::max(steps, c.timesteps);
  return steps > 0 ? steps : static_cast<std::uint64_t>(ledger.per_step.size());
}

namespace {

PriceResult start(const Ledger& ledger, std::string model) {
  PriceResult r;
  r.model = std::move(model);
  r.samples = ledger.samples;
  r.tokens = ledger.tokens;
  r.per_layer.resize(ledger.per_node.size());
  for (std::size_t i = 0; i < ledger.per_node.size(); ++i) {
    if (i < ledger.node_names.size()) r.per_layer[i].name = ledger.node_names[i];
    if (i < ledger.node_ops.size()) r.per_layer[i].op = ledger.node_ops[i];
    r.spikes += ledger.per_node[i].spikes();
  }
  return r;
}

void sum_layers(PriceResult& r) {
  for (const auto& l : r.per_layer) {
    r.total += l.energy;
    r.sram_bytes += l.sram_bytes;
    r.dram_bytes += l.dram_bytes;
  }
}

double d(std::uint64_t v) {
  return static_cast<double>(v);
}

// Spike packets a row emits: one per burst event in burst mode (a multi-bit packet), else one per spike.
double packets(const Counters& c) {
  return c.burst_events > 0 ? d(c.burst_events) : d(c.spikes());
}

}  // namespace

ComputeOnlyConstants compute_only_constants(const OpEnergies& ops) {
  return ComputeOnlyConstants{ops.convention_mac_pj, ops.convention_ac_pj};
}

PriceResult price_compute_only(const Ledger& ledger, const ComputeOnlyConstants& k) {
  PriceResult r = start(ledger, "compute-only");
  for (std::size_t i = 0; i < ledger.per_node.size(); ++i) {
    const Counters& c = ledger.per_node[i];
    const ComputeTerms t{k.mac_energy_pj * d(c.total_macs()), k.ac_energy_pj * d(c.total_acs()), 0, 0, 0};
    r.per_layer[i].energy.compute_pj = t.total_pj();
    r.compute_terms += t;
  }
  sum_layers(r);
  r.notes.push_back(
      fmt::format("compute-only convention: E_MAC = {} pJ, E_AC = {} pJ for every width; memory, "
                  "neuron updates, nonlinear units and static power are not priced",
                  k.mac_energy_pj, k.ac_energy_pj));
  return r;
}

PriceResult price_neuromorphic(const Ledger& ledger, const NeuromorphicChip& chip,
                               const std::vector<LayerShape>& layers, const Mapping& mapping) {
  PriceResult r = start(ledger, chip.name);
  if (!mapping.fits) {
    r.fits = false;
    r.shortfall = mapping.shortfall;
    return r;
  }
  const std::size_t rows = ledger.per_node.size();
  auto valid_row = [&](std::int64_t row) { return row >= 0 && static_cast<std::size_t>(row) < rows; };

  std::uint64_t steps = ledger_steps(ledger);
  if (steps == 0) {
    steps = std::max<std::uint64_t>(ledger.samples, 1);
    r.notes.push_back("the ledger counts no timesteps: one step per sample assumed for DRAM spill traffic");
  }

  // Per-event compute and spike emission, row by row.
  for (std::size_t i = 0; i < rows; ++i) {
    const Counters& c = ledger.per_node[i];
    LayerEnergy& l = r.per_layer[i];
    const ComputeTerms t{chip.mac_energy_pj * d(c.total_macs()), chip.synaptic_op_energy_pj * d(c.total_acs()),
                         chip.neuron_update_energy_pj * d(c.neuron_updates), chip.dense_op_energy_pj * d(c.dense_ops),
                         chip.nonlinear_op_energy_pj * d(c.nonlinear_ops)};
    l.energy.compute_pj = t.total_pj();
    r.compute_terms += t;
    // Events that crossed to another chip (a model-parallel run's ranks) also pay the chip-to-chip link.
    l.energy.noc_pj = chip.spike_energy_pj * packets(c) + chip.link_energy_per_byte_pj * d(c.link_bytes);
    // Synapse memory reads are inside E_syn; reported as bytes only.
    for (std::size_t w = 1; w < kWidthSlots; ++w) l.sram_bytes += d(c.acs[w]) * static_cast<double>(w) / 8.0;
  }

  // Mesh hops, DRAM spill and per-core work, layer by layer.
  std::vector<double> core_work_ns(static_cast<std::size_t>(chip.cores), 0.0);
  std::vector<bool> mapped(rows, false);
  double unrouted_packets = 0;
  double dram_bytes_total = 0;
  for (std::size_t li = 0; li < layers.size() && li < mapping.layers.size(); ++li) {
    const LayerShape& s = layers[li];
    const LayerPlacement& p = mapping.layers[li];
    std::int64_t in_row = s.input_row;
    if (!valid_row(in_row) && s.source >= 0 && static_cast<std::size_t>(s.source) < layers.size())
      in_row = layers[static_cast<std::size_t>(s.source)].neuron_row;
    if (valid_row(in_row)) {
      const double n = packets(ledger.per_node[static_cast<std::size_t>(in_row)]);
      LayerEnergy& src = r.per_layer[static_cast<std::size_t>(in_row)];
      src.energy.noc_pj += n * (p.mean_hops_x * chip.hop_energy_x_pj + p.mean_hops_y * chip.hop_energy_y_pj);
      src.hops_x += n * p.mean_hops_x;
      src.hops_y += n * p.mean_hops_y;
      src.hops = src.hops_x + src.hops_y;
    }
    const double spill_bytes = static_cast<double>(p.synapse_bytes_spilled) +
                               2.0 * static_cast<double>(p.neurons_spilled * chip.membrane_bytes_per_neuron);
    const double dram_bytes = spill_bytes * d(steps);
    dram_bytes_total += dram_bytes;
    double work_ns = 0;
    if (valid_row(s.synapse_row)) {
      const auto row = static_cast<std::size_t>(s.synapse_row);
      const Counters& c = ledger.per_node[row];
      mapped[row] = true;
      r.per_layer[row].dram_bytes += dram_bytes;
      r.per_layer[row].energy.dram_pj += dram_bytes * chip.dram_energy_per_byte_pj;
      work_ns += d(c.total_acs() + c.total_macs()) * chip.synaptic_op_time_ns;
    } else if (dram_bytes > 0) {
      r.per_layer.emplace_back();  // keep the spill visible even without a ledger row
      r.per_layer.back().name = s.name + " (spill)";
      r.per_layer.back().dram_bytes = dram_bytes;
      r.per_layer.back().energy.dram_pj = dram_bytes * chip.dram_energy_per_byte_pj;
    }
    if (valid_row(s.neuron_row)) {
      const auto row = static_cast<std::size_t>(s.neuron_row);
      mapped[row] = true;
      work_ns += d(ledger.per_node[row].neuron_updates) * chip.neuron_update_time_ns;
    }
    if (!p.cores.empty())
      for (std::int64_t core : p.cores)
        core_work_ns[static_cast<std::size_t>(core)] += work_ns / static_cast<double>(p.cores.size());
  }
  // Rows no layer claims (differential units, spike products, input encoders) spread over all cores.
  double spread_ns = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    const Counters& c = ledger.per_node[i];
    if (!mapped[i])
      spread_ns += d(c.total_acs() + c.total_macs() + c.dense_ops + c.nonlinear_ops) * chip.synaptic_op_time_ns +
                   d(c.neuron_updates) * chip.neuron_update_time_ns;
    if (c.spikes() > 0) {
      bool feeds_layer = false;
      for (const auto& s : layers) feeds_layer = feeds_layer || s.input_row == static_cast<std::int64_t>(i);
      for (const auto& s : layers)
        feeds_layer =
            feeds_layer || (s.source >= 0 && static_cast<std::size_t>(s.source) < layers.size() &&
                            layers[static_cast<std::size_t>(s.source)].neuron_row == static_cast<std::int64_t>(i));
      if (!feeds_layer) unrouted_packets += packets(c);
    }
  }
  if (unrouted_packets > 0)
    r.notes.push_back(
        fmt::format("{} spike packets per inference ({:.1f}% of all) leave populations that feed no mapped layer "
                    "(spike products, differential units, the output): priced at E_spike only, no mesh hops",
                    format_count(unrouted_packets / d(std::max<std::uint64_t>(ledger.samples, 1))),
                    100.0 * unrouted_packets / std::max(1.0, d(r.spikes))));
  const double max_core_ns = core_work_ns.empty() ? 0.0 : *std::max_element(core_work_ns.begin(), core_work_ns.end());
  const double dram_time_s =
      chip.dram_bandwidth_bytes_per_s > 0 ? dram_bytes_total / chip.dram_bandwidth_bytes_per_s : 0.0;
  r.latency_s =
      (max_core_ns + spread_ns / static_cast<double>(chip.cores) + d(steps) * chip.step_barrier_time_ns) * 1e-9 +
      dram_time_s;

  sum_layers(r);
  r.total.static_pj = chip.static_power_w * r.latency_s * 1e12;
  r.notes.push_back(
      "latency = busiest core's serial work (SOPs x t_sop + updates x t_update, spread evenly over "
      "a layer's cores) + steps x barrier + spilled bytes / DRAM bandwidth; mean load per step, "
      "so a lower bound when activity is bursty");
  return r;
}

}  // namespace snnconv::hw
