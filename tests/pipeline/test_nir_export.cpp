// NIR export of a converted SNN (docs/nir.md, "Export"): the spiking MLP fixture (examples/fixtures/spiking_mlp.onnx,
// a stock nn.Sequential of Linear/ReLU) converted at W8A4, written as NIR with its ST-BIF populations as
// Integrator/Threshold/Scale compositions, and simulated by the NIR simulator at dt = 1 on every test row:
// the same spikes (count per sample), the same integer read-out accumulator (hence the engine's logits bit for
// bit through linear_value), the NIR graph's own float read-out within one float32 ulp, the same prediction.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/nir_export.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/snn_core/nir_network.hpp"

using namespace snnconv;

namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

pipeline::QuantizedModel spiking_mlp(int act_bits) {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / "examples/fixtures/spiking_mlp.onnx").string();
  o.quant.weight_bits = 8;
  o.quant.act_bits = act_bits;
  return pipeline::quantize_model(o);
}

std::int64_t ulp_distance(float a, float b) {
  const auto key = [](float f) {
    const auto i = std::bit_cast<std::int32_t>(f);
    return i >= 0 ? std::int64_t{i} : -std::int64_t{i & 0x7fffffff};
  };
  return std::abs(key(a) - key(b));
}

}  // namespace

TEST_CASE("the spiking MLP leaves as NIR and re-imports to the engine's spikes and outputs" * doctest::test_suite("unit")) {
  for (int bits : {2, 4}) {
    CAPTURE(bits);
    const pipeline::QuantizedModel m = spiking_mlp(bits);
    const std::vector<pipeline::Sample> samples = pipeline::load_samples(m, "test", -1);
    REQUIRE(samples.size() == 114);
    pipeline::SpikingRunOptions so;
    so.keep_outputs = true;
    const pipeline::SpikingRunResult sr = pipeline::run_spiking(m, samples, so);
    REQUIRE(sr.not_quiescent == 0);
    std::uint64_t engine_spikes = 0;
    for (const Counters& c : sr.ledger.per_node) engine_spikes += c.spikes_pos + c.spikes_neg;

    const nir_export::NirExport e = nir_export::to_nir(m.snn, "spiking_mlp");
    CHECK(e.populations == 2);
    CHECK(e.threshold_nodes == 2 * ((1 << bits) - 1));  // ReLU populations: levels 0 .. 2^bits - 1
    REQUIRE(e.settle_steps >= sr.max_steps);
    const snn::NirNetwork net(e.graph, {1.0, snn::NirMethod::euler});
    const Tensor& logits = sr.outputs[0];  // [114, 2]
    const std::int64_t T = e.settle_steps, F = e.input_features, N = e.outputs;
    REQUIRE(N == 2);
    const nir::Node* readout = nullptr;
    for (const nir::Edge& ed : e.graph.edges)
      if (ed.src == e.readout) readout = e.graph.find(ed.dst);
    REQUIRE(readout != nullptr);
    const nir::Param& diag = readout->require("weight");
    const nir::Param& bias = readout->require("bias");

    std::int64_t acc_differ = 0, bits_differ = 0, worst_ulp = 0, argmax_differ = 0;
    std::uint64_t nir_spikes = 0;
    for (std::size_t s = 0; s < samples.size(); ++s) {
      Tensor x(DType::f32, {T, F});  // the features at every step: the prologue's constant current
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t f = 0; f < F; ++f) x.data<float>()[t * F + f] = samples[s].inputs[0].data<float>()[f];
      Ledger ledger;
      snn::NirProbe probe{e.readout, {}};
      const Tensor y = net.run(x, &ledger, &probe);
      for (std::size_t i = 0; i < ledger.node_names.size(); ++i) {
        const std::string& name = ledger.node_names[i];
        if (name.ends_with(".up") || name.ends_with(".down")) nir_spikes += ledger.per_node[i].spikes_pos;
      }
      REQUIRE(probe.voltage.size() == static_cast<std::size_t>(T * N));
      std::int64_t best_nir = 0, best_engine = 0;
      for (std::int64_t o = 0; o < N; ++o) {
        const double acc = probe.voltage[static_cast<std::size_t>((T - 1) * N + o)];
        const float engine = logits.data<float>()[static_cast<std::int64_t>(s) * N + o];
        // The integer accumulator through the engine's own read-out function: c = s_in * s_w is the diagonal.
        const float from_acc = ann::linear_value(static_cast<std::int64_t>(acc), static_cast<float>(diag.values[static_cast<std::size_t>(o * N + o)]),
                                                 1.0f, static_cast<float>(bias.values[static_cast<std::size_t>(o)]));
        acc_differ += std::bit_cast<std::uint32_t>(from_acc) != std::bit_cast<std::uint32_t>(engine) || acc != std::floor(acc);
        const float nir = y.data<float>()[(T - 1) * N + o];
        bits_differ += std::bit_cast<std::uint32_t>(nir) != std::bit_cast<std::uint32_t>(engine);
        worst_ulp = std::max(worst_ulp, ulp_distance(nir, engine));
        if (nir > y.data<float>()[(T - 1) * N + best_nir]) best_nir = o;
        if (engine > logits.data<float>()[static_cast<std::int64_t>(s) * N + best_engine]) best_engine = o;
      }
      argmax_differ += best_nir != best_engine;
    }
    MESSAGE("A" << bits << ": engine max steps " << sr.max_steps << ", export settles within " << T << "; "
                << bits_differ << " of " << 114 * N << " NIR float read-outs differ from the engine's bits (worst "
                << worst_ulp << " ulp); spikes " << nir_spikes << " (engine " << engine_spikes << ")");
    CHECK(acc_differ == 0);
    CHECK(nir_spikes == engine_spikes);
    CHECK(worst_ulp <= 1);
    CHECK(argmax_differ == 0);
  }
}

TEST_CASE("NIR export refuses what it cannot write, naming every node" * doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = spiking_mlp(4);
  Graph g = m.snn;
  // A folded GELU is not monotone: no threshold per level boundary writes it.
  for (std::uint32_t i = 0; i < g.num_nodes(); ++i)
    if (g.node(NodeId(i)).kind == OpKind::SpikeNeuron) std::get<NeuronAttrs>(g.node(NodeId(i)).attrs).target = Activation::gelu;
  try {
    (void)nir_export::to_nir(g, "gelu_mlp");
    FAIL("expected an UnsupportedError");
  } catch (const UnsupportedError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("2 nodes have no NIR equivalent") != std::string::npos);
    CHECK(msg.find("gelu") != std::string::npos);
  }
  // 2^20 levels on a population: one Threshold node per boundary would be absurd; refused before any is built.
  Graph many = m.snn;
  for (std::uint32_t i = 0; i < many.num_nodes(); ++i)
    if (many.node(NodeId(i)).kind == OpKind::SpikeNeuron) {
      many.value(many.node(NodeId(i)).outputs[0]).quant->n_max = 1 << 20;
      break;
    }
  CHECK_THROWS_WITH_AS((void)nir_export::to_nir(many, "many_levels"),
                       doctest::Contains("1048576 level boundaries"), UnsupportedError);
  // A weight level of 2^20 in the second synapse: its accumulator leaves float32's exact integers.
  Graph wide = m.snn;
  for (std::uint32_t i = 0; i < wide.num_nodes(); ++i) {
    const Node& n = wide.node(NodeId(i));
    if (n.kind != OpKind::SynapseLinear) continue;
    Value& w = wide.value(n.inputs[1]);
    w.quant->n_max = 1 << 21;
    w.quant->n_min = -(1 << 21);
    w.constant->data<float>()[0] = static_cast<float>(1 << 20);
    break;
  }
  CHECK_THROWS_WITH_AS((void)nir_export::to_nir(wide, "wide_mlp"), doctest::Contains("below 2^23"), UnsupportedError);
}
