// Generation on the SNN (prefill, then one extend per token with earlier positions' state kept) equals
// generation on the QANN token for token, and each token costs only its own position's work.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "snnconv/pipeline/spiking_generate.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

pipeline::QuantizedModel code_gpt(int abits, std::int64_t seq, std::int64_t calib) {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / "examples" / "code_gpt" / "code_gpt.onnx").string();
  o.calib_samples = calib;
  o.seq = seq;
  o.quant.weight_bits = 8;
  o.quant.act_bits = abits;
  return pipeline::quantize_model(o);
}

std::vector<std::int64_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

const char* mode_name(snn::FireMode m) { return m == snn::FireMode::strict ? "strict" : "burst"; }

// Greedy tokens of the SNN equal the QANN's; every next-token logit row is bitwise equal; every call is
// quiescent; every generated token's work is below a from-rest re-simulation of the same window.
void check_generation(const pipeline::QuantizedModel& m, const std::vector<std::string>& prompts, int tokens,
                      std::initializer_list<snn::FireMode> modes) {
  for (const std::string& text : prompts) {
    const std::vector<std::int64_t> prompt = bytes_of(text);
    pipeline::SpikingGenerateOptions q;
    q.engine = pipeline::SpikingEngine::qann;
    q.max_tokens = tokens;
    const pipeline::SpikingGenerateResult qr = pipeline::generate_spiking(m, prompt, q);
    REQUIRE(qr.tokens.size() == static_cast<std::size_t>(tokens));
    for (snn::FireMode mode : modes) {
      pipeline::SpikingGenerateOptions s;
      s.mode = mode;
      s.max_tokens = tokens;
      s.check_exact = true;
      s.resimulate = true;
      const pipeline::SpikingGenerateResult sr = pipeline::generate_spiking(m, prompt, s);
      CAPTURE(text);
      const std::string mode_text = mode_name(mode);
      CAPTURE(mode_text);
      CHECK(sr.tokens == qr.tokens);
      CHECK(sr.logit_mismatches == 0);
      CHECK(sr.prefill.quiescent);
      REQUIRE(sr.steps.size() == static_cast<std::size_t>(tokens - 1));
      double ratio_sum = 0.0;
      for (const pipeline::DecodeStepStats& st : sr.steps) {
        CHECK(st.quiescent);
        CHECK(st.work.total_acs() > 0);
        CHECK(st.work.total_acs() < st.resimulated.total_acs());
        CHECK(st.work.neuron_updates < st.resimulated.neuron_updates);
        CHECK(st.work.spikes() < st.resimulated.spikes());
        ratio_sum += static_cast<double>(st.work.total_acs()) / static_cast<double>(st.resimulated.total_acs());
      }
      // The prefill equals a from-rest simulation of the prompt: same work.
      CHECK(sr.prefill.work == sr.prefill.resimulated);
      MESSAGE(mode_text << " '" << text << "': prefill " << sr.prefill.steps << " steps, per token ACs "
                              << "/ re-simulated ACs mean " << ratio_sum / static_cast<double>(sr.steps.size()));
    }
  }
}

TEST_CASE("code_gpt greedy generation on the SNN equals the QANN at A4 (short)" * doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = code_gpt(4, 24, 8);
  check_generation(m, {"x = [1, 2, 3]\ny = "}, 6, {snn::FireMode::strict, snn::FireMode::burst});
  // Read early (the SNN at fewer steps, as a draft): same tokens; at the last step every token is final.
  pipeline::SpikingGenerateOptions e;
  e.max_tokens = 6;
  e.early_read = true;
  const pipeline::SpikingGenerateResult er = pipeline::generate_spiking(m, bytes_of("x = [1, 2, 3]\ny = "), e);
  pipeline::SpikingGenerateOptions q;
  q.engine = pipeline::SpikingEngine::qann;
  q.max_tokens = 6;
  CHECK(er.tokens == pipeline::generate_spiking(m, bytes_of("x = [1, 2, 3]\ny = "), q).tokens);
  CHECK(er.prefill.argmax_by_step.size() == static_cast<std::size_t>(er.prefill.steps));
  const std::vector<double> agree = pipeline::early_read_agreement(er);
  REQUIRE(!agree.empty());
  CHECK(agree.back() == 1.0);
  CHECK(agree.front() <= 1.0);
  // Bit-identical tokens and per-call ledgers for 1 and 2 threads.
  pipeline::SpikingGenerateOptions one, two;
  one.max_tokens = two.max_tokens = 4;
  two.threads = 2;
  const auto r1 = pipeline::generate_spiking(m, bytes_of("import "), one);
  const auto r2 = pipeline::generate_spiking(m, bytes_of("import "), two);
  CHECK(r1.tokens == r2.tokens);
  CHECK(r1.ledger == r2.ledger);
}

TEST_CASE("code_gpt greedy generation on the SNN equals the QANN at A4 and A6 over prompts" *
          doctest::test_suite("slow")) {
  const std::vector<std::string> prompts = {"import numpy as np\nimport ", "class Foo:\n    def __init__(self",
                                            "x = [1, 2, 3]\ny = "};
  for (int abits : {4, 6}) {
    const pipeline::QuantizedModel m = code_gpt(abits, 64, 16);
    check_generation(m, prompts, 16, {snn::FireMode::strict, snn::FireMode::burst});
  }
}

TEST_CASE("speculative SNN decoding with the SNN read at fewer steps as draft equals greedy decoding" *
          doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = code_gpt(4, 24, 8);
  const std::vector<std::int64_t> prompt = bytes_of("x = [1, 2, 3]\ny = ");
  pipeline::SpikingGenerateOptions q;
  q.engine = pipeline::SpikingEngine::qann;
  q.max_tokens = 7;
  const std::vector<std::int64_t> want = pipeline::generate_spiking(m, prompt, q).tokens;
  for (int draft_steps : {1, 12, 4096}) {  // 4096: the draft is the target itself, every proposal accepted
    for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
      pipeline::SpikingSpeculativeOptions o;
      o.mode = mode;
      o.draft_steps = draft_steps;
      o.gamma = 3;
      o.max_tokens = 7;
      const pipeline::SpikingSpeculativeResult r = pipeline::speculative_generate_spiking(m, prompt, o);
      CAPTURE(draft_steps);
      CHECK(r.tokens == want);
      CHECK(r.rounds > 0);
      CHECK(r.accepted <= r.proposed);
      if (draft_steps == 4096) CHECK(r.accepted == r.proposed);
      if (mode == snn::FireMode::burst) CHECK(r.accepted == r.proposed);  // burst settles in its first step
      if (mode == snn::FireMode::strict && draft_steps == 1) CHECK(r.accepted < r.proposed);  // rollbacks ran
    }
  }
  pipeline::SpikingSpeculativeOptions bad;
  bad.gamma = 0;
  CHECK_THROWS_AS(pipeline::speculative_generate_spiking(m, prompt, bad), UsageError);
}

TEST_CASE("SNN incremental decoding refuses bad lengths and an extend without a prefill" *
          doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = code_gpt(4, 16, 2);
  snn::Engine e(m.snn, {snn::FireMode::burst, 64, 1});
  CHECK(e.sequence_length() == 16);
  std::vector<Tensor> in;
  in.push_back(Tensor::from_vector<std::int64_t>({1, 16}, std::vector<std::int64_t>(16, 32))
                   .cast(m.snn.value(m.snn.inputs()[0]).type.dtype));
  CHECK_THROWS_AS(e.extend(in, 2), UsageError);
  CHECK_THROWS_AS(e.prefill(in, 0), UsageError);
  CHECK_THROWS_AS(e.prefill(in, 17), UsageError);
  e.prefill(in, 3);
  CHECK(e.live_length() == 3);
  CHECK_THROWS_AS(e.extend(in, 3), UsageError);
  e.extend(in, 16);
  CHECK(e.live_length() == 16);
  e.run(in);
  CHECK(e.live_length() == 0);
  CHECK_THROWS_AS(e.extend(in, 4), UsageError);
}

}  // namespace
}  // namespace snnconv
