// Speculative decoding end to end with the bundled code_gpt (target) and code_gpt_draft: greedy output is
// byte-identical to target-only greedy decoding (stop token and last position included), sampled first
// tokens follow the target's distribution (chi-square), and bad configurations are refused.
#include <doctest/doctest.h>

#include <filesystem>

#include "chi_square.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/ann_baseline/speculative.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/reader.hpp"

namespace snnconv {
namespace {

namespace fs = std::filesystem;

fs::path example(const std::string& rel) {
  return fs::path(SNNCONV_SOURCE_DIR) / "examples" / rel;
}

bool have_models() {
  return fs::exists(example("code_gpt/code_gpt.onnx")) && fs::exists(example("code_gpt/code_gpt_draft.onnx")) &&
         fs::exists(example("data/python_code_small.h5"));
}

// Prompt i: tokens[i * stride, i * stride + bytes) of the test split, stride = (length - bytes) / count
// (the prompts of tools/bench/bench_speculative).
std::vector<std::vector<std::int64_t>> test_prompts(int count, int bytes) {
  datasets::DatasetReader reader(example("data/python_code_small.h5"));
  const std::int64_t length = reader.shape("test", "tokens").at(0);
  const std::int64_t stride = (length - bytes) / count;
  std::vector<std::vector<std::int64_t>> prompts;
  for (int i = 0; i < count; ++i) prompts.push_back(reader.read_range("test", "tokens", i * stride, bytes).to_i64());
  return prompts;
}

struct Models {
  DecoderGraphCache target_graphs{example("code_gpt/code_gpt.onnx").string()};
  DecoderGraphCache draft_graphs{example("code_gpt/code_gpt_draft.onnx").string()};
  ann::DecodeSession target{target_graphs.provider(), {1}};
  ann::DecodeSession draft{draft_graphs.provider(), {1}};
  void reset() {
    target.truncate(0);
    draft.truncate(0);
  }
};

// Greedy speculative decoding against target-only greedy decoding on `prompts`, for each K.
void check_greedy_identical(const std::vector<std::vector<std::int64_t>>& prompts, int tokens,
                            const std::vector<ann::SpeculativeOptions>& configs) {
  Models m;
  ann::GenerateOptions plain;
  plain.max_tokens = tokens;
  ann::SpeculativeStats total;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    m.reset();
    const std::vector<std::int64_t> want = ann::generate(m.target, prompts[i], plain);
    REQUIRE(static_cast<int>(want.size()) == tokens);
    for (const ann::SpeculativeOptions& o : configs) {
      CAPTURE(i);
      CAPTURE(o.gamma);
      CAPTURE(o.gamma_auto);
      m.reset();
      const ann::SpeculativeResult got = ann::speculative_generate(m.target, m.draft, prompts[i], o);
      CHECK(got.tokens == want);
      CHECK(got.stats.emitted == tokens);
      CHECK(got.stats.target_passes == got.stats.rounds);
      CHECK(got.stats.accepted + got.stats.rounds == got.stats.emitted);
      total.accepted += got.stats.accepted;
      total.rejected += got.stats.rejected;
    }
  }
  MESSAGE(prompts.size() << " prompts x " << tokens << " tokens, " << configs.size()
                         << " configurations: alpha = " << total.alpha());
}

std::vector<ann::SpeculativeOptions> greedy_configs(int tokens, std::vector<int> gammas, bool with_auto) {
  std::vector<ann::SpeculativeOptions> out;
  for (int g : gammas) {
    ann::SpeculativeOptions o;
    o.max_tokens = tokens;
    o.gamma = g;
    out.push_back(o);
  }
  if (with_auto) {
    ann::SpeculativeOptions o;
    o.max_tokens = tokens;
    o.gamma_auto = true;
    out.push_back(o);
  }
  return out;
}

TEST_SUITE("unit") {
  TEST_CASE("speculative: greedy code_gpt with code_gpt_draft equals target-only greedy (3 prompts)") {
    REQUIRE_MESSAGE(have_models(), "code_gpt, code_gpt_draft and python_code_small.h5 are committed");
    check_greedy_identical(test_prompts(3, 32), 200, greedy_configs(200, {1, 4}, true));
  }

  TEST_CASE("speculative: stop token and last position end generation exactly as generate() does") {
    REQUIRE_MESSAGE(have_models(), "code_gpt, code_gpt_draft and python_code_small.h5 are committed");
    Models m;
    const auto prompt = test_prompts(1, 32)[0];
    // Stop at the first newline.
    ann::GenerateOptions plain;
    plain.max_tokens = 200;
    plain.stop_token = '\n';
    m.reset();
    const auto want = ann::generate(m.target, prompt, plain);
    REQUIRE(want.back() == '\n');
    REQUIRE(want.size() < 200);
    for (int gamma : {1, 3, 6}) {
      ann::SpeculativeOptions o;
      o.max_tokens = 200;
      o.stop_token = '\n';
      o.gamma = gamma;
      m.reset();
      CHECK(ann::speculative_generate(m.target, m.draft, prompt, o).tokens == want);
    }
    // A prompt ending 20 positions before the model's last one: both stop there (21 tokens).
    const std::int64_t last = m.target.max_positions();
    REQUIRE(last > 40);
    std::vector<std::int64_t> long_prompt;
    while (static_cast<std::int64_t>(long_prompt.size()) < last - 20)
      long_prompt.push_back(prompt[long_prompt.size() % prompt.size()]);
    plain.stop_token = -1;
    plain.max_tokens = 100;
    m.reset();
    const auto want_end = ann::generate(m.target, long_prompt, plain);
    CHECK(want_end.size() == 21);
    for (int gamma : {2, 5}) {
      ann::SpeculativeOptions o;
      o.max_tokens = 100;
      o.gamma = gamma;
      m.reset();
      CHECK(ann::speculative_generate(m.target, m.draft, long_prompt, o).tokens == want_end);
    }
  }

  TEST_CASE("speculative: sampled first tokens follow the target's transformed distribution (chi-square)") {
    REQUIRE_MESSAGE(have_models(), "code_gpt, code_gpt_draft and python_code_small.h5 are committed");
    Models m;
    const auto prompt = test_prompts(2, 24)[1];
    const std::vector<std::int64_t> prefix(prompt.begin(), prompt.end() - 1);
    const std::vector<std::int64_t> last{prompt.back()};
    const ann::SamplingOptions sampling{1.3f, 50, 0.97f, 0};
    // The target's distribution of the token after the prompt.
    m.target.prefill(Tensor::from_vector<std::int64_t>({1, static_cast<std::int64_t>(prefix.size())}, prefix));
    const Tensor logits = m.target.step(last.back());
    const std::vector<double> p = ann::sampling_distribution(
        std::span<const float>(logits.data<float>(), static_cast<std::size_t>(logits.dim(2))), sampling);
    m.draft.prefill(Tensor::from_vector<std::int64_t>({1, static_cast<std::int64_t>(prefix.size())}, prefix));
    // Trials: both sessions hold the prefix; the first emitted token comes from one proposal (K = 1 because
    // max_tokens = 2) accepted or corrected by the rule.
    const int trials = 6000;
    std::vector<std::int64_t> counts(p.size(), 0);
    ann::SpeculativeStats total;
    for (int t = 0; t < trials; ++t) {
      m.target.truncate(static_cast<std::int64_t>(prefix.size()));
      m.draft.truncate(static_cast<std::int64_t>(prefix.size()));
      ann::SpeculativeOptions o;
      o.max_tokens = 2;
      o.gamma = 3;
      o.sampling = sampling;
      o.sampling.seed = 1000 + static_cast<std::uint64_t>(t);
      const ann::SpeculativeResult r = ann::speculative_generate(m.target, m.draft, last, o);
      REQUIRE(r.tokens.size() == 2);
      ++counts[static_cast<std::size_t>(r.tokens[0])];
      total.accepted += r.stats.accepted;
      total.rejected += r.stats.rejected;
    }
    const test::ChiSquare chi = test::chi_square(counts, p);
    const double limit = test::chi_square_quantile(chi.degrees_of_freedom, test::kZ999);
    MESSAGE("first token over " << trials << " trials: chi2 = " << chi.statistic << ", df = " << chi.degrees_of_freedom
                                << ", 0.999 quantile = " << limit << "; proposals accepted " << total.accepted
                                << ", rejected " << total.rejected);
    REQUIRE(total.rejected > trials / 20);  // the correction path is exercised
    REQUIRE(total.accepted > trials / 20);
    REQUIRE(chi.degrees_of_freedom >= 3);
    CHECK(chi.statistic < limit);
  }

  TEST_CASE("speculative: mismatched vocabularies and gamma < 1 are refused") {
    REQUIRE_MESSAGE(have_models(), "code_gpt, code_gpt_draft and python_code_small.h5 are committed");
    Models m;
    const std::vector<std::int64_t> prompt{1, 2, 3};
    ann::SpeculativeOptions o;
    o.gamma = 0;
    CHECK_THROWS_AS(ann::speculative_generate(m.target, m.draft, prompt, o), UsageError);
    o.gamma = -2;
    CHECK_THROWS_AS(ann::speculative_generate(m.target, m.draft, prompt, o), UsageError);
    o.gamma = 4;
    o.gamma_auto = true;
    o.gamma_max = 2;
    CHECK_THROWS_AS(ann::speculative_generate(m.target, m.draft, prompt, o), UsageError);
    const fs::path other = example("fixtures/gpt_op17_dynamic.onnx");  // a 64-token vocabulary
    REQUIRE_MESSAGE(fs::exists(other), other.string() << " is committed");
    DecoderGraphCache other_graphs(other.string());
    ann::DecodeSession small(other_graphs.provider());
    REQUIRE(small.vocab_size() != m.target.vocab_size());
    try {
      (void)ann::speculative_generate(m.target, small, prompt, ann::SpeculativeOptions{});
      FAIL("a draft with another vocabulary was accepted");
    } catch (const UsageError& e) {
      const std::string what = e.what();
      CHECK(what.find(std::to_string(m.target.vocab_size())) != std::string::npos);
      CHECK(what.find(std::to_string(small.vocab_size())) != std::string::npos);
    }
  }
}

TEST_SUITE("slow") {
  TEST_CASE("speculative: greedy code_gpt with code_gpt_draft equals target-only greedy (50 prompts x 200 tokens)") {
    REQUIRE_MESSAGE(have_models(), "code_gpt, code_gpt_draft and python_code_small.h5 are committed");
    check_greedy_identical(test_prompts(50, 32), 200, greedy_configs(200, {2, 3, 4, 5}, true));
  }
}

}  // namespace
}  // namespace snnconv
