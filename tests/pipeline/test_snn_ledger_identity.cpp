// The SNN engine's ledger is event-exact: it counts events, neuron updates and bytes as neuromorphic hardware
// would see them, never the kernel the CPU happened to use. So a faster engine must leave every ledger as it
// was. tests/common/legacy_snn is the engine as it stood before the scale-up (a frozen copy, kept callable
// here only); on every example model, in strict and burst mode, whole-sample runs, batched runs, generation
// (prefill, extend, checkpoint/rollback) and grouped weights, its ledgers (every node's counters and every
// step's), step counts and outputs must equal the current engine's exactly.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include "legacy_snn/legacy_engine.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

pipeline::QuantizedModel quantize(const char* model, int abits, std::int64_t seq = 0, int group = 0) {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / "examples" / model).string();
  o.calib_samples = 8;
  o.seq = seq;
  o.quant.weight_bits = group > 0 ? 4 : 8;
  o.quant.weight_group = group;
  o.quant.act_bits = abits;
  return pipeline::quantize_model(o);
}

bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k].nbytes() != b[k].nbytes() || std::memcmp(a[k].raw(), b[k].raw(), a[k].nbytes()) != 0) return false;
  return true;
}

// Rows of the two ledgers that differ (per node and per step); 0 when identical.
std::size_t differing_rows(const Ledger& a, const Ledger& b) {
  std::size_t d = a.per_node.size() != b.per_node.size() || a.per_step.size() != b.per_step.size() ? 1 : 0;
  for (std::size_t i = 0; i < std::min(a.per_node.size(), b.per_node.size()); ++i) d += !(a.per_node[i] == b.per_node[i]);
  for (std::size_t i = 0; i < std::min(a.per_step.size(), b.per_step.size()); ++i) d += !(a.per_step[i] == b.per_step[i]);
  d += a.samples != b.samples;
  return d;
}

const char* mode_name(snn::FireMode m) { return m == snn::FireMode::strict ? "strict" : "burst"; }

legacy_snn::FireMode legacy_mode(snn::FireMode m) {
  return m == snn::FireMode::strict ? legacy_snn::FireMode::strict : legacy_snn::FireMode::burst;
}

// Whole-sample runs, one at a time and as one batch, against the old engine sample by sample.
void check_runs(const pipeline::QuantizedModel& m, std::int64_t samples, const char* split = "test") {
  const std::vector<pipeline::Sample> ss = pipeline::load_samples(m, split, samples);
  REQUIRE(!ss.empty());
  for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
    CAPTURE(mode_name(mode));
    legacy_snn::Engine old(m.snn, {legacy_mode(mode), 4096, 1});
    Ledger lo = Ledger::for_graph(m.snn);
    std::vector<legacy_snn::RunResult> ro;
    for (const auto& s : ss) ro.push_back(old.run(s.inputs, &lo));
    // One sample per run, 1 and 2 threads.
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      snn::Engine now(m.snn, {mode, 4096, threads});
      Ledger ln = Ledger::for_graph(m.snn);
      int mismatches = 0;
      for (std::size_t i = 0; i < ss.size(); ++i) {
        const snn::RunResult r = now.run(ss[i].inputs, &ln);
        mismatches += r.steps != ro[i].steps || r.last_event_step != ro[i].last_event_step ||
                      r.quiescent != ro[i].quiescent || !same_bits(r.outputs, ro[i].outputs);
      }
      CHECK(mismatches == 0);
      CHECK(differing_rows(lo, ln) == 0);
    }
    // Batched passes (several samples per pass, thread shards): per-sample results and the summed ledger.
    std::vector<std::vector<Tensor>> inputs;
    for (const auto& s : ss) inputs.push_back(s.inputs);
    for (int threads : {1, 2})
      for (int batch : {2, 64}) {
        CAPTURE(threads);
        CAPTURE(batch);
        snn::EngineOptions eo{mode, 4096, threads};
        eo.batch = batch;
        eo.pass_bytes = 0;  // passes of `batch` samples, whatever their state (the default caps them at 4 MiB)
        snn::Engine now(m.snn, eo);
        Ledger ln = Ledger::for_graph(m.snn);
        const std::vector<snn::RunResult> rn = now.run_batch(inputs, &ln);
        REQUIRE(rn.size() == ss.size());
        int mismatches = 0;
        for (std::size_t i = 0; i < ss.size(); ++i)
          mismatches += rn[i].steps != ro[i].steps || rn[i].last_event_step != ro[i].last_event_step ||
                        rn[i].quiescent != ro[i].quiescent || !same_bits(rn[i].outputs, ro[i].outputs);
        CHECK(mismatches == 0);
        CHECK(differing_rows(lo, ln) == 0);
      }
    CHECK(lo.total().spikes() > 0);  // not vacuous
  }
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("SNN ledgers equal the pre-scale-up engine's: fashion_vit A4 and A2") {
    check_runs(quantize("fashion_vit/fashion_vit_relu.onnx", 4), 6);
    check_runs(quantize("fashion_vit/fashion_vit_relu.onnx", 2), 3);
  }
  TEST_CASE("SNN ledgers equal the pre-scale-up engine's: medical_tab A3, fashion_vqa A4") {
    check_runs(quantize("medical_tab/medical_tab.onnx", 3), 6, "train");
    check_runs(quantize("fashion_vqa/fashion_vqa.onnx", 4), 2);
  }
  TEST_CASE("SNN ledgers equal the pre-scale-up engine's: code_gpt A4 window 32, grouped weights") {
    check_runs(quantize("code_gpt/code_gpt.onnx", 4, 32), 2);
    check_runs(quantize("fashion_vit/fashion_vit_relu.onnx", 4, 0, 16), 3);
  }
  TEST_CASE("SNN generation ledgers equal the pre-scale-up engine's: prefill, extend, checkpoint and rollback") {
    const pipeline::QuantizedModel m = quantize("code_gpt/code_gpt.onnx", 4, 24);
    const std::string text = "x = [1, 2, 3]\ny = ";
    std::vector<std::int64_t> tokens(24, 0);
    for (std::size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
    for (std::size_t i = text.size(); i < tokens.size(); ++i) tokens[i] = 'a' + static_cast<std::int64_t>(i % 7);
    const Tensor in = Tensor::from_vector<std::int64_t>({1, 24}, tokens).cast(m.snn.value(m.snn.inputs()[0]).type.dtype);
    const std::span<const Tensor> inputs(&in, 1);
    const auto prompt = static_cast<std::int64_t>(text.size());
    for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
      CAPTURE(mode_name(mode));
      legacy_snn::Engine old(m.snn, {legacy_mode(mode), 4096, 1});
      snn::Engine now(m.snn, {mode, 4096, 1});
      int mismatches = 0;
      std::size_t rows = 0;
      auto compare = [&](const auto& ro, const snn::RunResult& rn, const Ledger& lo, const Ledger& ln) {
        mismatches += ro.steps != rn.steps || ro.quiescent != rn.quiescent || !same_bits(ro.outputs, rn.outputs);
        rows += differing_rows(lo, ln);
      };
      {
        Ledger lo = Ledger::for_graph(m.snn), ln = Ledger::for_graph(m.snn);
        compare(old.prefill(inputs, prompt, &lo), now.prefill(inputs, prompt, &ln), lo, ln);
      }
      for (std::int64_t len = prompt + 1; len <= prompt + 3; ++len) {
        Ledger lo = Ledger::for_graph(m.snn), ln = Ledger::for_graph(m.snn);
        compare(old.extend(inputs, len, &lo), now.extend(inputs, len, &ln), lo, ln);
      }
      old.checkpoint();
      now.checkpoint();
      {
        Ledger lo = Ledger::for_graph(m.snn), ln = Ledger::for_graph(m.snn);
        compare(old.extend(inputs, prompt + 6, &lo), now.extend(inputs, prompt + 6, &ln), lo, ln);
      }
      old.rollback();
      now.rollback();
      CHECK(now.live_length() == prompt + 3);
      {
        Ledger lo = Ledger::for_graph(m.snn), ln = Ledger::for_graph(m.snn);
        compare(old.extend(inputs, prompt + 4, &lo), now.extend(inputs, prompt + 4, &ln), lo, ln);
      }
      CHECK(mismatches == 0);
      CHECK(rows == 0);
    }
  }
}

}  // namespace snnconv
