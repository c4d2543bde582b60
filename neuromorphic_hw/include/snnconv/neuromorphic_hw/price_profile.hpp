// Pricing a ledger on a profile of any kind, and how that price moves when one constant changes
// (sensitivity). The entry point of the report: it never needs to know which model family a profile is.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/dense.hpp"
#include "snnconv/neuromorphic_hw/mapping.hpp"
#include "snnconv/neuromorphic_hw/pricing.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::hw {

// What pricing needs from one model besides its counts: the shapes of its synaptic layers (neuromorphic
// mapping) and of its GEMMs and attention (dense tiling), built once from the graph whose nodes are the
// ledger's rows. The ledger is referenced, not copied: it must outlive the subject.
struct PricingSubject {
  std::string name;  // "ann", "snn"
  const Ledger* ledger = nullptr;
  std::vector<LayerShape> layers;
  DenseWorkload workload;
  // Per ledger row: true when the row's work is driven by spikes (a spiking population or a node downstream of
  // one); false for the dense prologue that runs once per inference. Used by the break-even analysis.
  std::vector<bool> event_driven;
  std::int64_t neurons = 0;  // spiking neurons per inference (outputs of SpikeNeuron nodes); 0 for an ANN
};
// Throws UsageError when the ledger's rows are not the graph's nodes (names differ).
PricingSubject make_pricing_subject(std::string name, const Graph& g, const Ledger& ledger);

struct PricingOptions {
  MappingOptions mapping;
  DenseOptions dense;
};

struct ProfilePrice {
  std::string profile;  // profile name, or "compute-only"
  std::string kind;     // "compute-only", "neuromorphic" or "dense"
  PriceResult result;
  std::optional<Mapping> mapping;  // neuromorphic profiles: where the layers went, or why they do not fit
};

// An ops profile prices the compute-only convention with its convention constants; a neuromorphic one
// maps the layers (map_layers) and prices them (price_neuromorphic; an unfitting mapping gives fits = false
// and the shortfall, never a silent price); a dense one prices with price_dense.
ProfilePrice price_on_profile(const PricingSubject& subject, const Profile& profile,
                              const PricingOptions& options = {});
// The compute-only convention with explicit constants (no profile needed).
ProfilePrice price_compute_only(const PricingSubject& subject, const ComputeOnlyConstants& constants = {});

struct SensitivityPoint {
  double factor = 1;
  double value = 0;    // the scaled constant
  bool valid = true;   // false: the scaled value is not a legal profile (status says why); nothing priced
  std::string status;  // "", the validation message, or the subjects that do not fit
  std::vector<double> energy_per_inference_pj;  // per subject; 0 where a subject does not fit
  std::vector<bool> fits;                       // per subject
};

struct SensitivityRow {
  std::string profile;
  std::string key;
  std::string unit;
  double base_value = 0;
  bool verified = true;
  std::vector<double> base_energy_per_inference_pj;  // per subject, at the profile's own constants
  std::vector<bool> base_fits;
  std::vector<SensitivityPoint> points;  // one per factor, in order
};

// For every constant of the profile (an ops profile: its two convention constants, the only ones its price
// reads) and every factor: the constant times the factor, validated as the loader validates a file
// (with_value; an illegal variant such as half a core per tile is reported, not priced), and every subject
// priced again. Rows follow the profile's key order.
std::vector<SensitivityRow> sensitivity(const Profile& profile, const std::vector<PricingSubject>& subjects,
                                        const std::vector<double>& factors = {0.5, 2.0},
                                        const PricingOptions& options = {});

}  // namespace snnconv::hw
