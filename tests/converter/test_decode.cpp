// KV-cache decoding: greedy tokens from the cached session equal those of a full recomputation (the imported,
// unfused graph run on the whole sequence at every step), truncate() rolls back exactly, and sampling is
// reproducible from its seed.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <limits>

#include "graph_runner.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"

namespace snnconv {
namespace {

namespace fs = std::filesystem;

fs::path example(const std::string& rel) { return fs::path(SNNCONV_SOURCE_DIR) / "examples" / rel; }

std::int64_t argmax_last(const Tensor& logits) {
  const std::int64_t v = logits.dim(2);
  const float* row = logits.data<float>() + (logits.dim(1) - 1) * v;
  return std::max_element(row, row + v) - row;
}

// Greedy decoding by full recomputation: the imported graph at seq = current length, every step.
std::vector<std::int64_t> greedy_full(const std::string& path, const std::string& seq_symbol,
                                      std::vector<std::int64_t> tokens, int steps, std::vector<Tensor>* logits) {
  std::vector<std::int64_t> out;
  for (int s = 0; s < steps; ++s) {
    const auto n = static_cast<std::int64_t>(tokens.size());
    onnx_import::ImportOptions options;
    options.dims = {{"batch", 1}, {seq_symbol, n}};
    const Graph g = onnx_import::import_onnx(path, options);
    const auto result = test::run_graph(g, {{g.value(g.inputs()[0]).name, Tensor::from_vector<std::int64_t>({1, n}, tokens)}});
    if (logits) logits->push_back(result[0]);
    out.push_back(argmax_last(result[0]));
    tokens.push_back(out.back());
  }
  return out;
}

void check_kv_matches_full(const std::string& path, int wanted_tokens) {
  CAPTURE(path);
  DecoderGraphCache graphs(path);
  ann::DecodeSession session(graphs.provider());
  const std::vector<std::int64_t> prompt{5, 17, 42};
  const std::int64_t room = session.max_positions() - static_cast<std::int64_t>(prompt.size()) + 1;
  REQUIRE(room > 1);
  const int steps = static_cast<int>(std::min<std::int64_t>(wanted_tokens, room));
  MESSAGE(path << ": " << steps << " greedy tokens (" << session.max_positions() << " positions)");
  ann::GenerateOptions options;
  options.max_tokens = steps;
  const auto cached = ann::generate(session, prompt, options);
  std::vector<Tensor> full_logits;
  const auto full = greedy_full(path, graphs.seq_symbol(), prompt, steps, &full_logits);
  CHECK(cached == full);

  // Roll back to the prompt plus 2 generated tokens and step again: the same logits as full recomputation.
  REQUIRE(cached.size() >= 4);
  session.truncate(static_cast<std::int64_t>(prompt.size()) + 2);
  const Tensor again = session.step(cached[2]);
  CHECK(test::max_rel_diff(again, [&] {
          const Tensor& f = full_logits[3];  // logits after prompt + 3 tokens: last row
          const std::int64_t v = f.dim(2);
          Tensor last(DType::f32, {1, 1, v});
          std::copy_n(f.data<float>() + (f.dim(1) - 1) * v, v, last.data<float>());
          return last;
        }()) <= 1e-4);
  CHECK(session.length() == static_cast<std::int64_t>(prompt.size()) + 3);
}

TEST_SUITE("golden") {
  TEST_CASE("decode: KV-cache greedy decoding equals full recomputation on the GPT fixtures") {
    for (const char* name : {"gpt_op13_dynamic.onnx", "gpt_op17_dynamic.onnx"}) {
      const fs::path p = example(std::string("fixtures/") + name);
      REQUIRE_MESSAGE(fs::exists(p), p.string() << " is committed");
      check_kv_matches_full(p.string(), 64);
    }
  }

  TEST_CASE("decode: the trained synth_code decoder decodes 64 tokens like full recomputation") {
    const fs::path p = example("synth_code/synth_code_small.onnx");
    REQUIRE_MESSAGE(fs::exists(p), p.string() << " is committed");
    check_kv_matches_full(p.string(), 64);
  }

  TEST_CASE("decode: sampling is reproducible from its seed and greedy at temperature 0") {
    const fs::path p = example("fixtures/gpt_op17_dynamic.onnx");
    REQUIRE_MESSAGE(fs::exists(p), p.string() << " is committed");
    DecoderGraphCache graphs(p.string());
    auto run = [&](ann::SamplingOptions s) {
      ann::DecodeSession session(graphs.provider());
      ann::GenerateOptions o;
      o.max_tokens = 10;
      o.sampling = s;
      return ann::generate(session, std::vector<std::int64_t>{1, 2, 3}, o);
    };
    const ann::SamplingOptions hot{1.0f, 20, 0.9f, 1234};
    CHECK(run(hot) == run(hot));
    CHECK(run(ann::SamplingOptions{}).size() == 10);
  }

  TEST_CASE("decode: prepare_decoder refuses a model without causal attention") {
    const fs::path p = example("fixtures/bert_op17_dynamic.onnx");
    REQUIRE_MESSAGE(fs::exists(p), p.string() << " is committed");
    Graph g = onnx_import::import_onnx(p.string(), {{{"batch", 1}, {"seq", 8}}});
    fuse_graph(g);
    CHECK_THROWS_AS(prepare_decoder(g), UnsupportedError);
  }
}

// Greedy decoding that fills the model's trained context exactly (prompt + generated = snnconv.max_seq):
// the KV-cache session on the fused graph against, at every step, the whole prefix run through the imported
// (non-cached, unfused) graph bound to that length on the engine, argmax of the last position (lowest id
// on ties, as generate()). Reports the smallest top-1/top-2 logit gap seen, which says how close a step
// came to a tie the two roundings could break differently.
void check_kv_fills_context(const std::string& path, const std::string& prompt_text) {
  CAPTURE(path);
  DecoderGraphCache graphs(path);
  const Graph probe = onnx_import::read_onnx(path);
  const std::int64_t max_seq = std::stoll(probe.metadata.at("snnconv.max_seq"));
  const std::vector<std::int64_t> prompt(prompt_text.begin(), prompt_text.end());
  const int steps = static_cast<int>(max_seq - static_cast<std::int64_t>(prompt.size()));
  ann::DecodeSession session(graphs.provider());
  ann::GenerateOptions options;
  options.max_tokens = steps;
  const std::vector<std::int64_t> cached = ann::generate(session, prompt, options);
  REQUIRE(cached.size() == static_cast<std::size_t>(steps));

  std::vector<std::int64_t> tokens = prompt;
  std::vector<std::int64_t> full;
  float smallest_gap = std::numeric_limits<float>::infinity();
  for (int s = 0; s < steps; ++s) {
    const auto n = static_cast<std::int64_t>(tokens.size());
    onnx_import::ImportOptions io;
    io.dims = {{"batch", 1}, {graphs.seq_symbol(), n}};
    const Graph g = onnx_import::import_onnx(path, io);
    ann::Engine engine(g, {.threads = 2, .fill_ledger = false});
    const std::vector<Tensor> in{Tensor::from_vector<std::int64_t>({1, n}, tokens)};
    const Tensor logits = engine.run(in)[0];
    const std::int64_t v = logits.dim(2);
    const float* row = logits.data<float>() + (n - 1) * v;
    const std::int64_t best = std::max_element(row, row + v) - row;
    float second = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < v; ++j)
      if (j != best) second = std::max(second, row[j]);
    smallest_gap = std::min(smallest_gap, row[best] - second);
    full.push_back(best);
    tokens.push_back(best);
  }
  std::size_t first_difference = 0;
  while (first_difference < full.size() && full[first_difference] == cached[first_difference]) ++first_difference;
  MESSAGE(path << ": prompt " << prompt.size() << " bytes + " << steps << " greedy tokens = " << max_seq
               << " positions; first difference at " << first_difference << " of " << full.size()
               << "; smallest top-1/top-2 logit gap " << smallest_gap);
  CHECK(cached == full);
}

TEST_SUITE("slow") {
  TEST_CASE("decode: code_gpt KV-cache greedy decoding of its 256 positions equals full recomputation") {
    const fs::path p = example("code_gpt/code_gpt.onnx");
    REQUIRE_MESSAGE(fs::exists(p), p.string() << " is committed");
    check_kv_fills_context(p.string(), "def ");
  }
}

}  // namespace
}  // namespace snnconv
