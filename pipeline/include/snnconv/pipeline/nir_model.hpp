// NIR models end to end, in one call each: load a NIR file into a runnable network, run it on spike inputs,
// price its ledger on the hardware profiles (docs/nir.md). What `snnconv run F.nir`, `snnconv F.nir` and
// `snnconv inspect F.nir` call, and what a Python binding calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "snnconv/core/ledger.hpp"
#include "snnconv/core/nir_graph.hpp"
#include "snnconv/core/tensor.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"
#include "snnconv/snn_core/nir_network.hpp"

namespace snnconv::pipeline {

struct NirModel {
  std::string path;
  snn::NirNetwork network;
  std::int64_t parameter_count = 0;  // nir::parameter_count of the file: every float parameter value
};

// Reads (datasets::read_nir_file) and validates (snn::NirNetwork). Errors as those two document.
NirModel load_nir(const std::filesystem::path& path, const snn::NirOptions& options = {});

struct NirRun {
  Tensor outputs;  // [B, T, *output_shape] (or [T, ...] for an unbatched input)
  Ledger ledger;   // one row per NIR node
};
NirRun run_nir(const NirModel& model, const Tensor& input, snn::NirProbe* probe = nullptr);

// Seeded Bernoulli spike trains [batch, steps, *input_shape] of 0/1 values at `rate` per element and step
// (std::mt19937_64; the same seed gives the same bytes everywhere).
Tensor random_spikes(const Shape& input_shape, std::int64_t batch, std::int64_t steps, double rate, std::uint64_t seed);

// The pricing subject of a NIR model, built from the network (the ledger rows are the NIR nodes): each
// synaptic node a layer (neurons = its outputs, fan-in = inputs per output, 4-byte weights), its source the
// nearest synaptic node upstream; GEMM shapes for the dense profiles (M = output positions); event-driven rows
// = the neuron populations and what is downstream of them.
hw::PricingSubject nir_pricing_subject(const NirModel& model, const Ledger& ledger, std::string name = "nir");

// The subject priced on the compute-only convention and on the profiles `names` (names or .json paths; empty:
// every profile in `profiles_dir`, default: the installed profiles), in order.
std::vector<hw::ProfilePrice> price_nir(const NirModel& model, const Ledger& ledger,
                                        const std::vector<std::string>& names = {},
                                        const std::filesystem::path& profiles_dir = {});

}  // namespace snnconv::pipeline
