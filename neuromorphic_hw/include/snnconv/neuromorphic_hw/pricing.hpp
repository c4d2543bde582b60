// Pricing a Ledger: pure functions of (ledger, hardware constants, mapping). Nothing here runs a model,
// so changing a constant and pricing again needs no re-run. Formulas and sources: docs/energy-model.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/mapping.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::hw {

struct EnergyBreakdown {
  double compute_pj = 0;  // arithmetic: MACs, synaptic ops, neuron updates, dense and nonlinear ops
  double sram_pj = 0;     // on-chip buffer accesses priced separately from compute (dense model)
  double dram_pj = 0;     // off-chip traffic
  double noc_pj = 0;      // spike packets and mesh hops
  double static_pj = 0;   // leakage x latency (whole run only; zero per layer)

  double total_pj() const { return compute_pj + sram_pj + dram_pj + noc_pj + static_pj; }
  EnergyBreakdown& operator+=(const EnergyBreakdown& o);
  EnergyBreakdown scaled(double factor) const;
};

// The compute energy split by the counter it prices: what a comparison names as the causes of a difference
// ("12.1 M synaptic ops against 2.43 M MACs"). The five terms sum to EnergyBreakdown::compute_pj.
struct ComputeTerms {
  double mac_pj = 0;        // multiply-accumulates (multi-bit inputs x weights)
  double synaptic_pj = 0;   // synaptic accumulates (spike x weight)
  double neuron_pj = 0;     // neuron (membrane) updates
  double dense_pj = 0;      // elementwise adds/compares (LayerNorm, softmax, residuals, requantization)
  double nonlinear_pj = 0;  // exp, erf, divide, sqrt

  double total_pj() const { return mac_pj + synaptic_pj + neuron_pj + dense_pj + nonlinear_pj; }
  ComputeTerms& operator+=(const ComputeTerms& o);
};

// One ledger row priced.
struct LayerEnergy {
  std::string name;
  OpKind op = OpKind::Identity;
  EnergyBreakdown energy;
  double sram_bytes = 0;
  double dram_bytes = 0;
  double hops = 0;    // mesh hops travelled by the spikes this row emits (neuromorphic): hops_x + hops_y
  double hops_x = 0;  // of which east-west (priced at E_hop_x)
  double hops_y = 0;  // of which north-south (priced at E_hop_y)
};

struct PriceResult {
  std::string model;  // "compute-only", or the profile name
  bool fits = true;
  std::string shortfall;               // why it does not fit (then the energies are left at zero)
  // Parallel to the ledger rows; the neuromorphic model appends a "NAME (spill)" row for the DRAM spill of a
  // layer that has no ledger row.
  std::vector<LayerEnergy> per_layer;
  EnergyBreakdown total;               // whole ledger (all samples / tokens)
  ComputeTerms compute_terms;          // total.compute_pj split by counter (whole ledger)
  double sram_bytes = 0;
  double dram_bytes = 0;
  std::uint64_t spikes = 0;
  double latency_s = 0;  // whole ledger
  std::uint64_t samples = 0;
  std::uint64_t tokens = 0;
  std::vector<std::string> notes;  // assumptions that applied to this ledger

  // Per-unit figures; 0 when the divisor is 0.
  double energy_per_spike_pj() const;      // total / spikes (SNN)
  double energy_per_inference_pj() const;  // total / samples
  double energy_per_token_pj() const;      // total / tokens
  double latency_per_inference_s() const;
};

// ANN energy / SNN energy per inference (> 1: the SNN saves energy); 0 when the SNN figure is 0.
double ann_snn_ratio(const PriceResult& ann, const PriceResult& snn);

// (a) The compute-only convention of Spikformer-style papers (syops-counter): E = E_MAC x MACs + E_AC x ACs,
// every MAC at 4.6 pJ and every AC at 0.9 pJ whatever its width, no memory, no static power.
struct ComputeOnlyConstants {
  double mac_energy_pj = 4.6;
  double ac_energy_pj = 0.9;
};
ComputeOnlyConstants compute_only_constants(const OpEnergies& ops);
PriceResult price_compute_only(const Ledger& ledger, const ComputeOnlyConstants& c = {});

// (b) A neuromorphic chip:
//   E = N_SOP E_syn + N_MAC E_mac + N_upd E_neuron + N_dense E_dense + N_nonlin E_nonlin      (compute)
//     + N_packets E_spike + sum_layers packets_in (hx E_hop_x + hy E_hop_y) + B_link E_link     (noc)
//     + (spilled synapse bytes + 2 x spilled membrane bytes) x steps x E_dram                 (dram)
//     + P_static x latency                                                                    (static)
// `layers` and `mapping` come from layer_shapes_from_graph/map_layers; an unfitting mapping yields a
// result with fits = false and the shortfall, never a silent price.
PriceResult price_neuromorphic(const Ledger& ledger, const NeuromorphicChip& chip,
                               const std::vector<LayerShape>& layers, const Mapping& mapping);

// Timesteps of a ledger: the largest per-node count (summed over samples), else per_step.size().
std::uint64_t ledger_steps(const Ledger& ledger);

}  // namespace snnconv::hw
