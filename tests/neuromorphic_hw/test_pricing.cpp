#include <doctest/doctest.h>

#include <filesystem>

#include "graph_builder.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/mapping.hpp"
#include "snnconv/neuromorphic_hw/pricing.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

using namespace snnconv;
using namespace snnconv::hw;

namespace {

const std::filesystem::path kProfiles = std::filesystem::path(SNNCONV_SOURCE_DIR) / "neuromorphic_hw" / "profiles";

NeuromorphicChip loihi() { return neuromorphic_chip(find_profile("loihi", kProfiles)); }

Ledger empty_ledger(std::size_t rows) {
  Ledger l;
  l.per_node.resize(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    l.node_names.push_back("row" + std::to_string(i));
    l.node_ops.push_back(OpKind::Identity);
  }
  l.samples = 1;
  return l;
}

// A three-layer chain placed so that hops are known by hand on Loihi's 8x4 mesh of 4-core tiles:
// layer 0 (4,096 neurons) fills cores 0-3 = tile (0,0); layer 1 (28 x 1,024) fills cores 4-31 = tiles
// (1..7, 0); layer 2 (1,024) sits on core 32 = tile (0,1).
// Rows: 0 input population, 1 syn0, 2 neurons0, 3 syn1, 4 neurons1, 5 syn2, 6 neurons2 (the output).
struct Chain {
  std::vector<LayerShape> layers;
  Ledger ledger = empty_ledger(7);
  Chain() {
    layers = {LayerShape{"l0", 4096, 64, 1000, -1, 1, 2, -1}, LayerShape{"l1", 28 * 1024, 64, 1000, 0, 3, 4, 2},
              LayerShape{"l2", 1024, 64, 1000, 1, 5, 6, 4}};
    auto& r = ledger.per_node;
    r[1].acs[8] = 1000;
    r[2].neuron_updates = 200;
    r[2].spikes_pos = 50;
    r[2].spikes_neg = 10;
    r[3].acs[8] = 3000;
    r[4].neuron_updates = 400;
    r[4].spikes_pos = 20;
    r[5].acs[8] = 500;
    r[6].neuron_updates = 100;
    r[6].spikes_pos = 5;
    for (auto& c : r) c.timesteps = 10;
  }
};

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("compute-only convention reproduces 1.82 GMAC x 4.6 pJ = 8.372 mJ") {
  Ledger l = empty_ledger(2);
  l.per_node[0].macs[kFloatWidth] = 1'820'000'000;
  const PriceResult r = price_compute_only(l);
  // 8.372 mJ = 8.372e9 pJ; only the rounding of 4.6 in binary separates the product from the decimal.
  CHECK(r.total.compute_pj == doctest::Approx(8.372e9).epsilon(1e-15));
  CHECK(r.total.total_pj() * 1e-9 == doctest::Approx(8.372).epsilon(1e-15));
  CHECK(r.per_layer[0].energy.compute_pj == r.total.compute_pj);
  CHECK(r.total.dram_pj == 0);
  // ACs at 0.9 pJ whatever their width; the generic45 profile carries the same two constants.
  l.per_node[1].acs[1] = 1'000'000;
  l.per_node[1].acs[8] = 1'000'000;
  const auto k = compute_only_constants(op_energies(find_profile("generic45", kProfiles)));
  const PriceResult r2 = price_compute_only(l, k);
  CHECK(r2.per_layer[1].energy.compute_pj == doctest::Approx(1.8e6));
  CHECK(r2.energy_per_inference_pj() == doctest::Approx(8.372e9 + 1.8e6));
}

TEST_CASE("mapping: greedy placement by layer and mean Manhattan hops") {
  const Chain c;
  const Mapping m = map_layers(c.layers, loihi());
  REQUIRE(m.fits);
  CHECK(m.layers[0].cores == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(m.layers[1].cores.size() == 28);
  CHECK(m.layers[1].cores.front() == 4);
  CHECK(m.layers[2].cores == std::vector<std::int64_t>{32});
  CHECK(m.cores_used == 33);
  // Input enters at tile (0,0) = layer 0's tile.
  CHECK(m.layers[0].mean_hops_x == 0);
  // Tile (0,0) -> tiles x = 1..7: mean 4.
  CHECK(m.layers[1].mean_hops_x == doctest::Approx(4.0));
  CHECK(m.layers[1].mean_hops_y == 0);
  // Tiles (1..7, 0) -> (0, 1): mean |dx| 4, |dy| 1.
  CHECK(m.layers[2].mean_hops_x == doctest::Approx(4.0));
  CHECK(m.layers[2].mean_hops_y == doctest::Approx(1.0));
  CHECK(m.layers[0].synapse_bytes_spilled == 0);
}

TEST_CASE("Loihi workload priced at 23.6 pJ/SOP and 81 pJ/update and 1.7 pJ/spike and 3.0/4.2 pJ hops") {
  const Chain c;
  NeuromorphicChip chip = loihi();
  const Mapping m = map_layers(c.layers, chip);
  chip.static_power_w = 0;
  const PriceResult r = price_neuromorphic(c.ledger, chip, c.layers, m);
  REQUIRE(r.fits);
  // 4,500 SOPs x 23.6 + 700 updates x 81.
  CHECK(r.total.compute_pj == doctest::Approx(4500 * 23.6 + 700 * 81.0));
  // 85 spikes x 1.7; layer 1 receives 60 spikes over 4 E-W hops; layer 2 receives 20 over 4 E-W + 1 N-S.
  const double noc = 85 * 1.7 + 60 * (4 * 3.0) + 20 * (4 * 3.0 + 1 * 4.2);
  CHECK(r.total.noc_pj == doctest::Approx(noc));
  CHECK(r.total.noc_pj == doctest::Approx(1188.5));
  CHECK(r.per_layer[2].energy.noc_pj == doctest::Approx(60 * 1.7 + 720));
  CHECK(r.total.dram_pj == 0);
  CHECK(r.spikes == 85);
  CHECK(r.energy_per_spike_pj() == doctest::Approx((162900 + 1188.5) / 85.0));
  // The output population's spikes feed no layer: no hops, and a note says so.
  CHECK(r.notes.size() >= 2);

  // Latency: busiest core is layer 2's single core (500 SOPs x 4 ns + 100 updates x 9.7 ns = 2,970 ns),
  // plus 10 steps x 299 ns barrier; static = P x latency.
  CHECK(r.latency_s == doctest::Approx(5960e-9));
  chip.static_power_w = 0.05;
  const PriceResult with_static = price_neuromorphic(c.ledger, chip, c.layers, m);
  CHECK(with_static.total.static_pj == doctest::Approx(0.05 * 5960e-9 * 1e12));
  CHECK(with_static.total.compute_pj == r.total.compute_pj);
}

TEST_CASE("events sent to another chip (link_bytes) pay the profile's link energy on the emitting row") {
  Chain c;
  NeuromorphicChip chip = loihi();
  CHECK(chip.link_energy_per_byte_pj == 162.5);
  const Mapping m = map_layers(c.layers, chip);
  const PriceResult base = price_neuromorphic(c.ledger, chip, c.layers, m);
  c.ledger.per_node[2].link_events = 40;
  c.ledger.per_node[2].link_bytes = 160;  // 40 strict events of 4 bytes to another rank
  const PriceResult linked = price_neuromorphic(c.ledger, chip, c.layers, m);
  CHECK(linked.per_layer[2].energy.noc_pj - base.per_layer[2].energy.noc_pj == doctest::Approx(160 * 162.5));
  CHECK(linked.total.noc_pj - base.total.noc_pj == doctest::Approx(26000.0));
  CHECK(linked.total.compute_pj == base.total.compute_pj);
}

TEST_CASE("pricing is a pure function: a changed constant re-prices the same ledger without a re-run") {
  const Chain c;
  const Ledger before = c.ledger;
  NeuromorphicChip chip = loihi();
  const Mapping m = map_layers(c.layers, chip);
  const PriceResult a = price_neuromorphic(c.ledger, chip, c.layers, m);
  chip.synaptic_op_energy_pj = 30.0;
  const PriceResult b = price_neuromorphic(c.ledger, chip, c.layers, m);
  CHECK(b.total.compute_pj - a.total.compute_pj == doctest::Approx(4500 * (30.0 - 23.6)));
  CHECK(c.ledger == before);
  const PriceResult a2 = price_neuromorphic(c.ledger, loihi(), c.layers, m);
  CHECK(a2.total.total_pj() == a.total.total_pj());
}

TEST_CASE("a model larger than the chip is reported as not fitting with the shortfall") {
  const std::vector<LayerShape> big = {LayerShape{"a", 50'000, 10, 1000}, LayerShape{"b", 50'000, 10, 1000, 0},
                                       LayerShape{"c", 50'000, 10, 1000, 1}};
  const NeuromorphicChip chip = loihi();
  const Mapping m = map_layers(big, chip);
  CHECK_FALSE(m.fits);
  CHECK(m.shortfall_cores == 3 * 49 - 128);
  CHECK(m.shortfall_neurons == 150'000 - 128 * 1024);
  CHECK(m.shortfall.find("short by 19 cores") != std::string::npos);
  Ledger l = empty_ledger(1);
  l.per_node[0].acs[8] = 100;
  const PriceResult r = price_neuromorphic(l, chip, big, m);
  CHECK_FALSE(r.fits);
  CHECK(r.shortfall == m.shortfall);
  CHECK(r.total.total_pj() == 0);

  // With neuron spill allowed, cores are reused cyclically and the overflow swaps membrane state via DRAM.
  const Mapping s = map_layers(big, chip, MappingOptions{true, true});
  REQUIRE(s.fits);
  CHECK(s.layers[0].neurons_spilled == 0);
  CHECK(s.layers[1].neurons_spilled == 0);
  // Layer c: 49 cores of 1,021 (last 992); its 19 wrapped cores land on layer a's cores 0-18:
  // 18 x (2,042 - 1,024) + (1,021 + 992 - 1,024) = 19,313.
  CHECK(s.layers[2].neurons_spilled == 19'313);
  Ledger l3 = empty_ledger(1);
  l3.per_node[0].timesteps = 4;
  std::vector<LayerShape> big_rows = big;
  big_rows[2].synapse_row = 0;
  const PriceResult sp = price_neuromorphic(l3, chip, big_rows, s);
  CHECK(sp.dram_bytes == doctest::Approx(19'313.0 * 2 * 8 * 4));
  CHECK(sp.total.dram_pj == doctest::Approx(19'313.0 * 2 * 8 * 4 * 162.5));
}

TEST_CASE("synapse memory beyond the chip spills to DRAM or is refused when spill is off") {
  const std::vector<LayerShape> wide = {LayerShape{"w", 1024, 19'531, 20'000'000, -1, 0}};
  const NeuromorphicChip chip = loihi();
  const Mapping m = map_layers(wide, chip);
  REQUIRE(m.fits);
  CHECK(m.layers[0].cores.size() == 128);  // spread over every core for the synapse memory
  CHECK(m.layers[0].synapse_bytes_on_chip == 128 * 131'072);
  CHECK(m.layers[0].synapse_bytes_spilled == 20'000'000 - 128 * 131'072);
  Ledger l = empty_ledger(1);
  l.per_node[0].timesteps = 3;
  const PriceResult r = price_neuromorphic(l, chip, wide, m);
  CHECK(r.dram_bytes == doctest::Approx(3'222'784.0 * 3));  // re-read every timestep
  const Mapping refused = map_layers(wide, chip, MappingOptions{false, false});
  CHECK_FALSE(refused.fits);
  CHECK(refused.shortfall_synapse_bytes == 3'222'784);
}

TEST_CASE("layer shapes from a spiking graph: neurons and fan-in and synapse bytes and sources and ledger rows") {
  using namespace snnconv::test;
  Graph g;
  ValueId x = input(g, "x", DType::f32, {4, 16});
  ValueId s0 = node(g, OpKind::SpikeNeuron, {x}, NeuronAttrs{})[0];                                    // row 0
  ValueId w0 = g.add_constant("w0", Tensor(DType::f32, {16, 32}));
  ValueId y0 = node(g, OpKind::SynapseLinear, {s0, w0})[0];                                            // row 1
  ValueId s1 = node(g, OpKind::SpikeNeuron, {y0}, NeuronAttrs{})[0];                                   // row 2
  ValueId w1 = g.add_constant("w1", Tensor(DType::f32, {32, 8}));
  g.value(w1).quant = QuantParams{4, -8, 7, {0.1f}, {}, -1, 0};
  ValueId r1 = node(g, OpKind::Reshape, {s1, g.add_constant("shape", Tensor::from_vector<std::int64_t>({2}, {4, 32}))}, ReshapeAttrs{})[0];  // row 3
  ValueId y1 = node(g, OpKind::SynapseLinear, {r1, w1})[0];                                            // row 4
  ValueId s2 = node(g, OpKind::SpikeNeuron, {y1}, NeuronAttrs{})[0];                                   // row 5
  g.set_outputs({s2});
  const auto layers = layer_shapes_from_graph(g);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0].neurons == 4 * 32);
  CHECK(layers[0].fan_in == 16);
  CHECK(layers[0].synapse_bytes == 16 * 32 * 4);
  CHECK(layers[0].source == -1);
  CHECK(layers[0].input_row == 0);
  CHECK(layers[0].synapse_row == 1);
  CHECK(layers[0].neuron_row == 2);
  CHECK(layers[1].neurons == 4 * 8);
  CHECK(layers[1].fan_in == 32);
  CHECK(layers[1].synapse_bytes == 32 * 8 * 4 / 8);
  CHECK(layers[1].source == 0);
  CHECK(layers[1].input_row == 2);
  CHECK(layers[1].synapse_row == 4);
  CHECK(layers[1].neuron_row == 5);
}

TEST_CASE("layer shapes: grouped weight steps beyond one per channel count as synapse bytes") {
  using namespace snnconv::test;
  Graph g;
  ValueId x = input(g, "x", DType::f32, {4, 64});
  ValueId s0 = node(g, OpKind::SpikeNeuron, {x}, NeuronAttrs{})[0];
  ValueId w = g.add_constant("w", Tensor(DType::f32, {64, 8}));
  // W4, groups of 16 rows: steps [64/16][8] = 32 f32, 24 of them beyond one per output channel.
  g.value(w).quant = QuantParams{4, -7, 7, std::vector<float>(32, 0.1f), {}, 0, 16};
  ValueId y = node(g, OpKind::SynapseLinear, {s0, w})[0];
  g.set_outputs({node(g, OpKind::SpikeNeuron, {y}, NeuronAttrs{})[0]});
  const auto layers = layer_shapes_from_graph(g);
  REQUIRE(layers.size() == 1);
  CHECK(layers[0].synapse_bytes == 64 * 8 * 4 / 8 + 24 * 4);
}

TEST_CASE("graph to layers to mapping to price: spikes of a population pay the hops to the layer they feed") {
  using namespace snnconv::test;
  Graph g;
  ValueId x = input(g, "x", DType::f32, {4, 16});
  ValueId s0 = node(g, OpKind::SpikeNeuron, {x}, NeuronAttrs{})[0];  // row 0
  // 4 x 2048 = 8,192 neurons: 8 cores = tiles (0,0) and (1,0).
  ValueId y0 = node(g, OpKind::SynapseLinear, {s0, g.add_constant("w0", Tensor(DType::f32, {16, 2048}))})[0];  // row 1
  ValueId s1 = node(g, OpKind::SpikeNeuron, {y0}, NeuronAttrs{})[0];                                         // row 2
  // 4 x 1024 neurons (4 cores' worth), but 8 MB of fp32 weights.
  ValueId y1 = node(g, OpKind::SynapseLinear, {s1, g.add_constant("w1", Tensor(DType::f32, {2048, 1024}))})[0];  // row 3
  ValueId s2 = node(g, OpKind::SpikeNeuron, {y1}, NeuronAttrs{})[0];                                          // row 4
  g.set_outputs({s2});
  const auto layers = layer_shapes_from_graph(g);
  const Mapping m = map_layers(layers, loihi());
  REQUIRE(m.fits);
  // Layer 1's weights take 64 cores of 128 KB (cores 8..71 = tiles 2..17: x = 2..7 of row 0, all of row 1,
  // x = 0..1 of row 2) rather than spill; its neurons are spread over them.
  CHECK(m.layers[1].cores.size() == 64);
  CHECK(m.layers[1].synapse_bytes_spilled == 0);
  Ledger l = Ledger::for_graph(g);
  l.samples = 1;
  l.per_node[2].spikes_pos = 100;
  l.per_node[2].timesteps = 1;
  NeuromorphicChip chip = loihi();
  chip.static_power_w = 0;
  const PriceResult r = price_neuromorphic(l, chip, layers, m);
  const double hops = m.layers[1].mean_hops_x * 3.0 + m.layers[1].mean_hops_y * 4.2;
  CHECK(hops > 0);
  CHECK(r.per_layer[2].energy.noc_pj == doctest::Approx(100 * (1.7 + hops)));
  CHECK(r.total.total_pj() == doctest::Approx(100 * (1.7 + hops)));
}

TEST_CASE("ANN/SNN ratio and per-unit figures") {
  PriceResult ann, snn;
  ann.samples = snn.samples = 2;
  ann.total.compute_pj = 100;
  snn.total.compute_pj = 20;
  snn.total.dram_pj = 5;
  CHECK(ann_snn_ratio(ann, snn) == doctest::Approx(4.0));
  snn.tokens = 5;
  CHECK(snn.energy_per_token_pj() == doctest::Approx(5.0));
  PriceResult zero;
  CHECK(ann_snn_ratio(ann, zero) == 0);
  CHECK(zero.energy_per_spike_pj() == 0);
}
}
