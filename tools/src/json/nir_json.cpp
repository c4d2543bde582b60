#include "json/nir_json.hpp"

namespace snnconv::cli {

nlohmann::json nir_totals_json(const Ledger& l) {
  const Counters c = l.total();
  return {{"samples", l.samples},         {"spikes", c.spikes()},         {"synaptic_ops", c.total_acs()},
          {"macs", c.total_macs()},       {"neuron_updates", c.neuron_updates}, {"dense_ops", c.dense_ops}};
}

nlohmann::json nir_price_json(const hw::ProfilePrice& p) {
  const auto& t = p.result.total;
  const double per = p.result.samples ? static_cast<double>(p.result.samples) : 1.0;
  return {{"profile", p.profile},
          {"kind", p.kind},
          {"fits", p.result.fits},
          {"shortfall", p.result.shortfall},
          {"energy_per_inference_pj", p.result.energy_per_inference_pj()},
          {"compute_pj", t.compute_pj / per},
          {"sram_pj", t.sram_pj / per},
          {"dram_pj", t.dram_pj / per},
          {"noc_pj", t.noc_pj / per},
          {"static_pj", t.static_pj / per},
          {"latency_per_inference_s", p.result.latency_per_inference_s()}};
}

nlohmann::json nir_prices_json(const std::vector<hw::ProfilePrice>& prices) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : prices) out.push_back(nir_price_json(p));
  return out;
}

}  // namespace snnconv::cli
