// generate_window (generate_window.hpp): whole-window dense decoding of a fixed-length export.
#include "snnconv/pipeline/generate_window.hpp"

#include <fmt/format.h>

#include <chrono>
#include <random>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::pipeline {

WindowGenerateResult generate_window(const ModelSource& src, std::span<const std::int64_t> prompt,
                                     const ann::GenerateOptions& o, int threads) {
  const ErrorContext ctx{src.model, "", "", ""};
  if (prompt.empty()) throw UsageError("generation needs a non-empty prompt", ctx);
  if (o.max_tokens < 1) throw UsageError(fmt::format("--max-tokens must be >= 1, got {}", o.max_tokens), ctx);
  if (src.unbound.inputs().size() != 1 || src.token_input() != 0)
    throw UnsupportedError("generation needs a decoder with one integer token input [batch, seq]", ctx);
  Graph g = src.bind(1);
  fuse_graph(g);
  const TensorType& it = g.value(g.inputs()[0]).type;
  const std::int64_t B = it.static_shape()[0], T = it.static_shape()[1];
  const TensorType& ot = g.value(g.outputs()[0]).type;
  if (ot.rank() != 3 || !is_float(ot.dtype))
    throw UnsupportedError("generation needs logits [B, T, V] as the first output, got " + type_to_string(ot), ctx);
  if (static_cast<std::int64_t>(prompt.size()) > T)
    throw UsageError(fmt::format("the prompt has {} tokens, the export's window only {}", prompt.size(), T), ctx);
  ann::Engine engine(g, ann::EngineOptions{.threads = threads});
  WindowGenerateResult r;
  r.window = T;
  r.batch = B;
  std::vector<std::int64_t> window(static_cast<std::size_t>(T), 0);
  std::copy(prompt.begin(), prompt.end(), window.begin());
  std::int64_t length = static_cast<std::int64_t>(prompt.size());
  std::mt19937_64 rng(o.sampling.seed);
  const auto t0 = std::chrono::steady_clock::now();
  while (static_cast<int>(r.tokens.size()) < o.max_tokens) {
    std::vector<std::int64_t> rows;
    for (std::int64_t b = 0; b < B; ++b) rows.insert(rows.end(), window.begin(), window.end());
    const std::vector<Tensor> in{Tensor::from_vector<std::int64_t>({B, T}, rows).cast(it.dtype)};
    const Tensor logits = engine.run(in).at(0).cast(DType::f32);
    ++r.passes;
    const std::int64_t v = logits.shape().back();
    const std::span<const float> row(logits.data<float>() + (length - 1) * v, static_cast<std::size_t>(v));
    const std::int64_t tok = ann::sample_token(row, o.sampling, rng);
    r.tokens.push_back(tok);
    if (tok == o.stop_token || length >= T) break;
    window[static_cast<std::size_t>(length++)] = tok;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace snnconv::pipeline
