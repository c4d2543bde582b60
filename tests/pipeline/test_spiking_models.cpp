// The quantize -> convert -> simulate path on the bundled example models and data: the QANN keeps the float
// model's accuracy at 8 bits, and the SNN's outputs at quiescence equal the QANN's bit for bit, in strict
// and burst mode, at activation bits 2, 3, 4 and 6.
//
// Inputs per (model, bits, mode): SNNCONV_EXACT_SAMPLES (default 12 for the classifiers, 1 window of 256
// positions for code_gpt, to keep CI short). The recorded 256-input run (docs/spiking.md) sets it to 256.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

pipeline::QuantizedModel quantize(const char* model, int wbits, int abits, std::int64_t calib = 32) {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / "examples" / model).string();
  o.calib_samples = calib;
  o.quant.weight_bits = wbits;
  o.quant.act_bits = abits;
  return pipeline::quantize_model(o);
}

std::int64_t samples_for(std::int64_t fallback) {
  if (const char* e = std::getenv("SNNCONV_EXACT_SAMPLES")) return std::max(1, std::atoi(e));
  return fallback;
}

const char* mode_name(snn::FireMode m) { return m == snn::FireMode::strict ? "strict" : "burst"; }

TEST_CASE("fashion_vit at W8A8 keeps its accuracy and its SNN equals the QANN exactly" * doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = quantize("fashion_vit/fashion_vit_relu.onnx", 8, 8);
  const auto samples = pipeline::load_samples(m, "test", 200);
  pipeline::EvalOptions eo;
  eo.model = m.model;
  eo.limit = 200;
  eo.threads = 1;
  const double fp32 = pipeline::evaluate(eo).value;
  pipeline::SpikingRunOptions q;
  q.engine = pipeline::SpikingEngine::qann;
  const auto qr = pipeline::run_spiking(m, samples, q);
  MESSAGE("fp32 " << fp32 << " W8A8 QANN " << qr.value);
  CHECK(qr.value >= fp32 - 0.02);
  const std::vector<pipeline::Sample> few(samples.begin(), samples.begin() + 2);
  for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
    pipeline::SpikingRunOptions s;
    s.mode = mode;
    s.check_exact = true;
    const auto sr = pipeline::run_spiking(m, few, s);
    MESSAGE("SNN " << std::string(mode_name(mode)) << ": mean steps " << sr.mean_steps << ", spikes/inference "
                   << sr.spikes_per_inference);
    CHECK(sr.output_mismatches == 0);
    CHECK(sr.not_quiescent == 0);
    CHECK(sr.spikes_per_inference > 0.0);
  }
}

// Exactness needs inputs, not labels: `split` may be the training split when the test split is small
// (breast_cancer has 114 test rows).
void check_exact(const char* model, std::int64_t default_samples, const char* split = "test") {
  for (int bits : {2, 3, 4, 6}) {
    const pipeline::QuantizedModel m = quantize(model, 8, bits, 8);
    const auto samples = pipeline::load_samples(m, split, samples_for(default_samples));
    REQUIRE(!samples.empty());
    for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
      pipeline::SpikingRunOptions s;
      s.mode = mode;
      s.check_exact = true;
      s.threads = 2;  // also exercises the threaded synapse path
      const auto sr = pipeline::run_spiking(m, samples, s);
      CAPTURE(bits);
      MESSAGE(std::string(model) << " A" << bits << " " << std::string(mode_name(mode)) << ": " << sr.samples << " inputs, mean steps "
                    << sr.mean_steps << " (max " << sr.max_steps << "), spikes/inference " << sr.spikes_per_inference
                    << ", " << sr.metric << " " << sr.value);
      CHECK(sr.output_mismatches == 0);  // bit for bit, every output value
      CHECK(sr.not_quiescent == 0);
      CHECK(sr.spikes_per_inference > 0.0);  // not vacuous
    }
  }
}

TEST_CASE("fashion_vit SNN equals its QANN at activation bits 2 3 4 6 in both modes" * doctest::test_suite("slow")) {
  check_exact("fashion_vit/fashion_vit_relu.onnx", 12);
}

TEST_CASE("medical_tab SNN equals its QANN at activation bits 2 3 4 6 in both modes" * doctest::test_suite("slow")) {
  check_exact("medical_tab/medical_tab.onnx", 12, "train");
}

TEST_CASE("fashion_vqa SNN equals its QANN at activation bits 2 3 4 6 in both modes" * doctest::test_suite("slow")) {
  check_exact("fashion_vqa/fashion_vqa.onnx", 4);
}

TEST_CASE("fashion_vqa at W8A8 answers like the float model" * doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = quantize("fashion_vqa/fashion_vqa.onnx", 8, 8, 16);
  const auto samples = pipeline::load_samples(m, "test", 40);
  REQUIRE(samples.size() == 40);
  CHECK(samples[0].inputs.size() == 2);
  pipeline::SpikingRunOptions q;
  q.engine = pipeline::SpikingEngine::qann;
  const auto qr = pipeline::run_spiking(m, samples, q);
  CHECK(qr.metric == "exact_match");
  MESSAGE("fashion_vqa W8A8 QANN exact match " << qr.value << " on 40 questions (float model: 95.4% on the test split)");
  CHECK(qr.value >= 0.85);
}

TEST_CASE("code_gpt SNN next-byte logits equal the QANN's at activation bits 2 3 4 6 in both modes" *
          doctest::test_suite("slow")) {
  check_exact("code_gpt/code_gpt.onnx", 1);
}

TEST_CASE("real-model SNN outputs and ledgers are bit-identical for 1 and 2 threads" * doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = quantize("fashion_vit/fashion_vit_relu.onnx", 8, 4, 8);
  const auto samples = pipeline::load_samples(m, "test", 3);
  for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
    snn::Engine one(m.snn, {mode, 4096, 1}), two(m.snn, {mode, 4096, 2});
    Ledger l1 = Ledger::for_graph(m.snn), l2 = Ledger::for_graph(m.snn);
    for (const auto& s : samples) {
      const snn::RunResult a = one.run(s.inputs, &l1), b = two.run(s.inputs, &l2);
      CHECK(a.steps == b.steps);
      REQUIRE(a.outputs.size() == b.outputs.size());
      for (std::size_t k = 0; k < a.outputs.size(); ++k)
        CHECK(std::memcmp(a.outputs[k].raw(), b.outputs[k].raw(), a.outputs[k].nbytes()) == 0);
    }
    REQUIRE(l1.per_node.size() == l2.per_node.size());
    std::size_t differing = 0;
    for (std::size_t i = 0; i < l1.per_node.size(); ++i) differing += !(l1.per_node[i] == l2.per_node[i]);
    CHECK(differing == 0);
    CHECK(l1.per_step.size() == l2.per_step.size());
    CHECK(l1.total().spikes() > 0);
  }
}

TEST_CASE("folded data movements: every moved population reads its source's counts and events through the map" *
          doctest::test_suite("unit")) {
  // The attention heads' Reshape + Transpose chains (Q, K^T, V, the merged output) are folded into the products
  // and synapses that read them (docs/spiking.md, section 12): no copy exists, so the counts and the recorded
  // events of each moved population must still be its source's moved by the reference kernel's map.
  const pipeline::QuantizedModel m = quantize("fashion_vit/fashion_vit_relu.onnx", 8, 4, 8);
  const auto samples = pipeline::load_samples(m, "test", 1);
  const Graph& g = m.snn;
  std::vector<NodeId> moves;
  snn::Recording rec;
  for (NodeId id : g.topological_order()) {
    const Node& nd = g.node(id);
    if (nd.kind != OpKind::Transpose && nd.kind != OpKind::Reshape) continue;
    if (!g.value(nd.inputs[0]).quant) continue;  // the dense prologue's
    moves.push_back(id);
    rec.raster.push_back(g.value(nd.inputs[0]).name);
    rec.raster.push_back(g.value(nd.outputs[0]).name);
  }
  REQUIRE(moves.size() >= 4 * 6);  // 4 blocks: Q, K (twice), V, output transposes and their reshapes
  for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
    CAPTURE(mode_name(mode));
    snn::Engine e(g, {mode, 4096, 1});
    const snn::RunResult r = e.run(samples[0].inputs, nullptr, nullptr, &rec);
    CHECK(r.quiescent);
    std::int64_t nonzero = 0, events = 0;
    for (std::size_t k = 0; k < moves.size(); ++k) {
      const Node& nd = g.node(moves[k]);
      const std::vector<std::int64_t> src = ann::movement_source_map(g, moves[k]);
      const std::vector<std::int32_t> in = e.counts(g.value(nd.inputs[0]).name);
      const std::vector<std::int32_t> out = e.counts(g.value(nd.outputs[0]).name);
      REQUIRE(out.size() == src.size());
      std::int64_t bad = 0;
      for (std::size_t o = 0; o < out.size(); ++o) {
        bad += out[o] != in[static_cast<std::size_t>(src[o])];
        nonzero += out[o] != 0;
      }
      CHECK_MESSAGE(bad == 0, g.value(nd.outputs[0]).name);
      // The output's events are the input's, each at its moved index (every map here is a permutation).
      std::vector<std::tuple<std::int32_t, std::int64_t, std::int32_t>> from_in, from_out;
      for (const auto& ev : rec.raster_events[2 * k]) from_in.emplace_back(ev.step, ev.neuron, ev.delta);
      for (const auto& ev : rec.raster_events[2 * k + 1])
        from_out.emplace_back(ev.step, src[static_cast<std::size_t>(ev.neuron)], ev.delta);
      std::sort(from_in.begin(), from_in.end());
      std::sort(from_out.begin(), from_out.end());
      CHECK_MESSAGE(from_in == from_out, g.value(nd.outputs[0]).name);
      events += static_cast<std::int64_t>(from_out.size());
    }
    CHECK(nonzero > 1000);
    CHECK(events > 1000);
  }
}

TEST_CASE("bad quantization requests are refused" * doctest::test_suite("unit")) {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / "examples" / "medical_tab" / "medical_tab.onnx").string();
  o.calib_samples = 4;
  o.quant.act_bits = 1;
  CHECK_THROWS_AS(pipeline::quantize_model(o), UsageError);
  o.quant.act_bits = 4;
  o.quant.weight_bits = 9;
  CHECK_THROWS_AS(pipeline::quantize_model(o), UsageError);
  o.quant.weight_bits = 8;
  o.calib_samples = 0;
  CHECK_THROWS_AS(pipeline::quantize_model(o), UsageError);
  o.calib_samples = 4;
  o.quant.weight_bits_of["no such layer"] = 4;
  CHECK_THROWS_AS(pipeline::quantize_model(o), UsageError);
}

}  // namespace
}  // namespace snnconv
