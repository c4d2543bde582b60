// price_on_profile (one entry for every profile kind), with_value (a constant varied as the loader would
// check it) and sensitivity (each constant x0.5 and x2), against hand-computed prices.
#include <doctest/doctest.h>

#include <filesystem>

#include "graph_builder.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"

using namespace snnconv;
using namespace snnconv::hw;

namespace {

const std::filesystem::path kProfiles = std::filesystem::path(SNNCONV_SOURCE_DIR) / "neuromorphic_hw" / "profiles";

// x [4, 16] -> SpikeNeuron (row 0) -> SynapseLinear 16x32 (row 1) -> SpikeNeuron (row 2): 128 neurons.
struct SpikingPair {
  Graph g;
  Ledger ledger;
  SpikingPair() {
    using namespace snnconv::test;
    ValueId x = input(g, "x", DType::f32, {4, 16});
    ValueId s0 = node(g, OpKind::SpikeNeuron, {x}, NeuronAttrs{})[0];
    ValueId w = g.add_constant("w", Tensor(DType::f32, {16, 32}));
    g.value(w).quant = QuantParams{8, -128, 127, {0.1f}, {}, -1, 0};
    ValueId y = node(g, OpKind::SynapseLinear, {s0, w})[0];
    ValueId s1 = node(g, OpKind::SpikeNeuron, {y}, NeuronAttrs{})[0];
    g.set_outputs({s1});
    ledger = Ledger::for_graph(g);
    ledger.samples = 2;
    ledger.per_node[0].spikes_pos = 40;  // 40 input spikes x fan-out 32 = 1,280 synaptic ops
    ledger.per_node[1].acs[8] = 1280;
    ledger.per_node[2].neuron_updates = 300;
    ledger.per_node[2].spikes_pos = 25;
    for (auto& c : ledger.per_node) c.timesteps = 8;
  }
};

std::string parse_message(const Profile& p, const std::string& key, double value) {
  try {
    with_value(p, key, value);
  } catch (const ParseError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("with_value validates a varied constant as the loader validates a file") {
  const Profile loihi = find_profile("loihi", kProfiles);
  const Profile faster = with_value(loihi, "synaptic_op_energy", 11.8);
  CHECK(faster.value("synaptic_op_energy") == 11.8);
  CHECK(loihi.value("synaptic_op_energy") == 23.6);  // the original is untouched
  CHECK(faster.constants.at("synaptic_op_energy").source == loihi.constants.at("synaptic_op_energy").source);
  CHECK(parse_message(loihi, "spike_energy", -1.0).find("constant 'spike_energy': negative value -1") != std::string::npos);
  CHECK(parse_message(loihi, "cores_per_tile", 2.5).find("constant 'cores_per_tile': must be a whole number >= 1") !=
        std::string::npos);
  CHECK(parse_message(loihi, "cores", 256).find("256 cores do not fit on a 8x4 mesh") != std::string::npos);
  CHECK(parse_message(loihi, "warp_factor", 1).find("unknown key 'warp_factor'") != std::string::npos);
  CHECK(parse_message(loihi, "cores", 64) == "no error");
}

TEST_CASE("price_on_profile dispatches on the profile kind") {
  SpikingPair m;
  const PricingSubject s = make_pricing_subject("snn", m.g, m.ledger);
  REQUIRE(s.layers.size() == 1);
  REQUIRE(s.workload.gemms.size() == 1);

  // ops: the compute-only convention with the profile's constants: 1,280 ACs x 0.9 pJ.
  const ProfilePrice ops = price_on_profile(s, find_profile("generic45", kProfiles));
  CHECK(ops.kind == "compute-only");
  CHECK(ops.profile == "generic45");
  CHECK_FALSE(ops.mapping.has_value());
  CHECK(ops.result.total.total_pj() == doctest::Approx(1280 * 0.9));
  CHECK(price_compute_only(s).result.total.total_pj() == doctest::Approx(1280 * 0.9));

  // neuromorphic: mapped, then 1,280 x 23.6 + 300 x 81 pJ of compute; 65 spikes x 1.7 pJ; the 40 input spikes
  // enter at tile (0,0) and reach the layer on core 0 (tile (0,0)): no hops.
  const ProfilePrice lo = price_on_profile(s, find_profile("loihi", kProfiles));
  CHECK(lo.kind == "neuromorphic");
  REQUIRE(lo.mapping.has_value());
  CHECK(lo.mapping->fits);
  CHECK(lo.mapping->cores_used == 1);
  CHECK(lo.result.total.compute_pj == doctest::Approx(1280 * 23.6 + 300 * 81.0));
  CHECK(lo.result.total.noc_pj == doctest::Approx(65 * 1.7));
  CHECK(lo.result.energy_per_inference_pj() == doctest::Approx(lo.result.total.total_pj() / 2));

  // dense: 1,280 ACs x 0.1 pJ plus 300 updates x 0.9 pJ on the vector unit; traffic from the tiled GEMM.
  const ProfilePrice sys = price_on_profile(s, find_profile("systolic_int8", kProfiles));
  CHECK(sys.kind == "dense");
  CHECK_FALSE(sys.mapping.has_value());
  CHECK(sys.result.total.compute_pj == doctest::Approx(1280 * 0.1 + 300 * 0.9));
  CHECK(sys.result.dram_bytes > 0);

  // A ledger of another graph is refused.
  Ledger other = m.ledger;
  other.node_names[1] = "renamed";
  CHECK_THROWS_AS(make_pricing_subject("snn", m.g, other), UsageError);
}

TEST_CASE("sensitivity: each constant halved and doubled re-prices every subject") {
  SpikingPair m;
  const std::vector<PricingSubject> subjects{make_pricing_subject("snn", m.g, m.ledger)};
  const Profile loihi = find_profile("loihi", kProfiles);
  const auto rows = sensitivity(loihi, subjects, {0.5, 2.0});
  CHECK(rows.size() == loihi.constants.size());
  const double base = price_on_profile(subjects[0], loihi).result.energy_per_inference_pj();
  auto row = [&](const std::string& key) {
    for (const auto& r : rows)
      if (r.key == key) return r;
    FAIL("no row " << key);
    return rows[0];
  };
  // The synaptic-op energy enters linearly: 1,280 SOPs over 2 samples x 23.6 pJ x (factor - 1).
  const SensitivityRow syn = row("synaptic_op_energy");
  CHECK(syn.base_energy_per_inference_pj[0] == doctest::Approx(base));
  REQUIRE(syn.points.size() == 2);
  CHECK(syn.points[0].factor == 0.5);
  CHECK(syn.points[0].value == doctest::Approx(11.8));
  CHECK(syn.points[0].energy_per_inference_pj[0] - base == doctest::Approx(-640 * 11.8));
  CHECK(syn.points[1].energy_per_inference_pj[0] - base == doctest::Approx(640 * 23.6));
  // Static power enters through P x latency only.
  const SensitivityRow stat = row("static_power");
  const double static_pj = price_on_profile(subjects[0], loihi).result.total.static_pj / 2;
  CHECK(stat.points[1].energy_per_inference_pj[0] - base == doctest::Approx(static_pj));
  // Twice the cores do not fit on the mesh: reported, not priced.
  const SensitivityRow cores = row("cores");
  CHECK(cores.points[0].valid);
  CHECK_FALSE(cores.points[1].valid);
  CHECK(cores.points[1].status.find("do not fit on a 8x4 mesh") != std::string::npos);
  // 100 neurons per core need 2 cores for the 128 neurons: one core (x 1/128) does not hold them.
  const Profile cramped = with_value(loihi, "neurons_per_core", 100);
  const auto tight = sensitivity(cramped, subjects, {1.0 / 128});
  bool unfit_seen = false;
  for (const auto& r : tight)
    if (r.key == "cores") {
      CHECK(r.points[0].valid);
      CHECK(r.points[0].value == 1);
      CHECK_FALSE(r.points[0].fits[0]);
      CHECK(r.points[0].energy_per_inference_pj[0] == 0);
      CHECK(r.points[0].status == "does not fit: snn");
      unfit_seen = true;
    }
  CHECK(unfit_seen);
  // An ops profile varies only the two convention constants its price reads.
  const auto ops_rows = sensitivity(find_profile("generic45", kProfiles), subjects, {2.0});
  REQUIRE(ops_rows.size() == 2);
  CHECK(ops_rows[0].key == "convention_ac_energy");
  CHECK(ops_rows[0].points[0].energy_per_inference_pj[0] == doctest::Approx(2 * 640 * 0.9));
}
}
