// The JSON of a NIR run (`snnconv run F.nir --json`, `snnconv F.nir`'s report.json, and the dicts the Python
// module's NirModel.run and price return): one builder each, so the CLI and the module never disagree.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"

namespace snnconv::cli {

// samples, spikes, synaptic_ops, macs, neuron_updates, dense_ops: the ledger's totals over every sample.
nlohmann::json nir_totals_json(const Ledger& l);

// One object per price: profile, kind, fits, shortfall, energy per inference and its parts (pJ), latency (s).
nlohmann::json nir_price_json(const hw::ProfilePrice& p);
nlohmann::json nir_prices_json(const std::vector<hw::ProfilePrice>& prices);

}  // namespace snnconv::cli
