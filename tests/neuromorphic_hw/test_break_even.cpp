// Break-even analysis (neuromorphic_hw/break_even.hpp) against a hand computation (docs/energy-model.md,
// "Break-even": the worked example is this test).
#include <doctest/doctest.h>

#include <cmath>

#include "graph_builder.hpp"
#include "snnconv/neuromorphic_hw/break_even.hpp"

using namespace snnconv;
using namespace snnconv::hw;

namespace {

// A two-core chip on one tile (no hops) with round numbers.
constexpr const char* kChip = R"({"name": "hand", "kind": "neuromorphic", "constants": {
  "synaptic_op_energy": {"value": 2, "unit": "pJ", "source": "test"},
  "neuron_update_energy": {"value": 5, "unit": "pJ", "source": "test"},
  "spike_energy": {"value": 1, "unit": "pJ", "source": "test"},
  "hop_energy_x": {"value": 7, "unit": "pJ", "source": "test"},
  "hop_energy_y": {"value": 7, "unit": "pJ", "source": "test"},
  "mac_energy": {"value": 4, "unit": "pJ", "source": "test"},
  "dense_op_energy": {"value": 3, "unit": "pJ", "source": "test"},
  "nonlinear_op_energy": {"value": 30, "unit": "pJ", "source": "test"},
  "dram_energy_per_byte": {"value": 100, "unit": "pJ/byte", "source": "test"},
  "dram_bandwidth": {"value": 1e9, "unit": "bytes/s", "source": "test"},
  "link_energy_per_byte": {"value": 100, "unit": "pJ/byte", "source": "test"},
  "static_power": {"value": 0.001, "unit": "W", "source": "test"},
  "synaptic_op_time": {"value": 1, "unit": "ns", "source": "test"},
  "neuron_update_time": {"value": 2, "unit": "ns", "source": "test"},
  "step_barrier_time": {"value": 100, "unit": "ns", "source": "test"},
  "cores": {"value": 2, "unit": "count", "source": "test"},
  "cores_per_tile": {"value": 2, "unit": "count", "source": "test"},
  "mesh_x": {"value": 1, "unit": "count", "source": "test"},
  "mesh_y": {"value": 1, "unit": "count", "source": "test"},
  "neurons_per_core": {"value": 1024, "unit": "count", "source": "test"},
  "synapse_memory_per_core": {"value": 1000000, "unit": "bytes", "source": "test"},
  "membrane_bytes_per_neuron": {"value": 4, "unit": "bytes", "source": "test"}}})";

// Rows: 0 Add (the dense prologue), 1 the input population (16 neurons), 2 a synaptic layer 16 -> 32, 3 its
// population (32 neurons). Two samples of 10 steps: 24 spikes per inference over 48 neurons, r0 = 0.5.
struct Example {
  Graph g;
  Ledger l;
  Example() {
    using namespace snnconv::test;
    ValueId x = input(g, "x", DType::f32, {1, 16});
    ValueId a = node(g, OpKind::Add, {x, g.add_constant("b", Tensor(DType::f32, {16}))})[0];
    ValueId s0 = node(g, OpKind::SpikeNeuron, {a}, NeuronAttrs{})[0];
    ValueId y = node(g, OpKind::SynapseLinear, {s0, g.add_constant("w", Tensor(DType::f32, {16, 32}))})[0];
    ValueId s1 = node(g, OpKind::SpikeNeuron, {y}, NeuronAttrs{})[0];
    g.set_outputs({s1});
    l = Ledger::for_graph(g);
    l.samples = 2;
    l.per_node[0].dense_ops = 32;
    l.per_node[1].neuron_updates = 40;
    l.per_node[1].spikes_pos = 30;
    l.per_node[2].acs[8] = 960;
    l.per_node[3].neuron_updates = 100;
    l.per_node[3].spikes_pos = 18;
    for (auto& c : l.per_node) c.timesteps = 20;
  }
};

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("the activity model splits the SNN's energy into fixed, spike-driven and step-driven parts (by hand)") {
  Example ex;
  const Profile chip = parse_profile(kChip, "hand.json");
  const PricingSubject snn = make_pricing_subject("snn", ex.g, ex.l);
  CHECK(snn.neurons == 48);
  CHECK(snn.event_driven == std::vector<bool>{false, true, true, true});
  // Whole ledger (2 samples), by hand:
  //   compute  960 SOPs x 2 + 140 updates x 5 + 32 prologue ops x 3 = 1920 + 700 + 96 = 2716 pJ
  //   noc      48 packets x 1 (one tile: no hops)                                          = 48 pJ
  //   latency  busiest core 960 x 1 ns + 100 x 2 ns = 1160 ns; unclaimed rows (32 x 1 + 40 x 2) / 2 cores
  //            = 56 ns; barriers 20 x 100 ns = 2000 ns: 3216 ns, static 0.001 W x 3216 ns = 3216 pJ
  //   total 5980 pJ = 2990 pJ per inference
  // Spike-driven: 1920 + 700 + 48 + static of (1160 + 40) ns = 3868 pJ -> 1934 per inference;
  // step-driven: 2000 pJ of barrier static -> 1000; fixed: 96 + 16 ns of static -> 56.
  const ActivityModel m = activity_model(snn, chip);
  REQUIRE(m.fits);
  CHECK(m.rate == doctest::Approx(0.5));
  CHECK(m.steps == doctest::Approx(10));
  CHECK(m.spike_pj == doctest::Approx(1934).epsilon(1e-9));
  CHECK(m.step_pj == doctest::Approx(1000).epsilon(1e-9));
  CHECK(m.fixed_pj == doctest::Approx(56).epsilon(1e-9));
  CHECK(m.per_rate_pj() == doctest::Approx(3868));
  CHECK(m.per_step_pj() == doctest::Approx(100));
  CHECK(m.energy_pj(0.5, 10) == doctest::Approx(2990));
  const PriceResult r = price_on_profile(snn, chip).result;
  CHECK(r.energy_per_inference_pj() == doctest::Approx(2990));
  // The compute split by counter (the causes a comparison names).
  CHECK(r.compute_terms.synaptic_pj == doctest::Approx(1920));
  CHECK(r.compute_terms.neuron_pj == doctest::Approx(700));
  CHECK(r.compute_terms.dense_pj == doctest::Approx(96));
  CHECK(r.compute_terms.mac_pj == 0);
  CHECK(r.compute_terms.total_pj() == doctest::Approx(r.total.compute_pj));
}

TEST_CASE("break-even rate and steps: r* = (E_ANN - E_fixed - b T0) / a and T* = (E_ANN - E_fixed - a r0) / b") {
  Example ex;
  const Profile chip = parse_profile(kChip, "hand.json");
  const PricingSubject snn = make_pricing_subject("snn", ex.g, ex.l);
  const ActivityModel m = activity_model(snn, chip);
  // An ANN at 4000 pJ: r* = (4000 - 56 - 1000) / 3868 = 0.761117..., T* = (4000 - 56 - 1934) / 100 = 20.1.
  const BreakEven hi = break_even(snn, chip, m, 4000);
  CHECK(hi.formula_rate == doctest::Approx(2944.0 / 3868.0).epsilon(1e-12));
  CHECK(hi.formula_steps == doctest::Approx(20.1).epsilon(1e-12));
  // Solved on the pricing functions (linear here): the same to the rounding of scaled counts.
  CHECK(hi.rate == doctest::Approx(2944.0 / 3868.0).epsilon(1e-4));
  CHECK(hi.steps == doctest::Approx(20.1).epsilon(1e-4));
  // The SNN priced at the break-even rate costs what the ANN does.
  const Ledger at = scale_activity(ex.l, snn.event_driven, hi.rate / m.rate, 1.0);
  PricingSubject s = snn;
  s.ledger = &at;
  CHECK(price_on_profile(s, chip).result.energy_per_inference_pj() == doctest::Approx(4000).epsilon(1e-3));
  // An ANN at 1500 pJ: r* = 444 / 3868 = 0.1148; no step count breaks even (the spikes alone cost 1934 pJ).
  const BreakEven lo = break_even(snn, chip, m, 1500);
  CHECK(lo.rate == doctest::Approx(444.0 / 3868.0).epsilon(1e-4));
  CHECK(std::isnan(lo.steps));
  CHECK(std::isnan(lo.formula_steps));
  // An ANN cheaper than the fixed part and the steps: no firing rate breaks even either.
  const BreakEven none = break_even(snn, chip, m, 1000);
  CHECK(std::isnan(none.rate));
  CHECK(std::isnan(none.formula_rate));
}

TEST_CASE("steps that cost nothing give an unbounded break-even step count") {
  Example ex;
  // No static power: the steps cost nothing on this chip, the spikes everything.
  std::string text = kChip;
  text.replace(text.find("\"value\": 0.001"), 14, "\"value\": 0");
  const Profile chip = parse_profile(text, "hand.json");
  const PricingSubject snn = make_pricing_subject("snn", ex.g, ex.l);
  const ActivityModel m = activity_model(snn, chip);
  CHECK(m.step_pj == doctest::Approx(0));
  CHECK(m.spike_pj == doctest::Approx((1920 + 700 + 48) / 2.0));
  const BreakEven b = break_even(snn, chip, m, 2000);
  CHECK(std::isinf(b.steps));
  CHECK(std::isinf(b.formula_steps));
  CHECK(b.rate == doctest::Approx((2000 - 48.0) / 2668.0).epsilon(1e-4));
}
}
