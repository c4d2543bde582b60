// `snnconv generate MODEL --prompt TEXT --max-tokens N [--temperature T --top-k K --top-p P --seed S]
//  [--max-memory BYTES]`
#include <fmt/core.h>

#include "commands.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/datasets/tokenizer.hpp"

namespace snnconv::cli {

namespace {
struct GenerateCliOptions {
  std::string model;
  std::string prompt;
  int max_tokens = 64;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  std::uint64_t seed = 0;
  std::string max_memory;  // empty: physical memory
};

int run_generate(const GenerateCliOptions& o) {
  if (o.prompt.empty()) throw UsageError("--prompt must not be empty");
  if (o.max_tokens < 1) throw UsageError("--max-tokens must be >= 1");
  const datasets::ByteTokenizer tokenizer;
  std::vector<std::int64_t> prompt;
  for (std::int32_t t : tokenizer.encode(o.prompt)) prompt.push_back(t);
  const std::uint64_t max_memory =
      o.max_memory.empty() ? physical_memory_bytes() : parse_bytes(o.max_memory, "--max-memory");
  DecoderGraphCache graphs(o.model);
  // The prompt's window is the largest graph the session runs (each later step is one token); its plan
  // is refused before anything runs when it needs more than --max-memory. The graph stays cached.
  if (max_memory != 0) check_plan_memory(graphs.get(static_cast<std::int64_t>(prompt.size())), max_memory);
  ann::DecodeSession session(graphs.provider());
  ann::GenerateOptions options;
  options.max_tokens = o.max_tokens;
  options.sampling = {o.temperature, o.top_k, o.top_p, o.seed};
  const std::vector<std::int64_t> out = ann::generate(session, prompt, options);
  std::vector<std::int32_t> ids(out.begin(), out.end());
  fmt::print("{}{}\n", o.prompt, tokenizer.decode(ids));
  return 0;
}
}  // namespace

void add_generate(CLI::App& app, Action& action) {
  auto opts = std::make_shared<GenerateCliOptions>();
  auto* cmd = app.add_subcommand("generate", "Generate text with a byte-level causal decoder (KV-cache decoding)");
  cmd->add_option("model", opts->model, "ONNX causal decoder with a dynamic seq axis")->required();
  cmd->add_option("--prompt", opts->prompt, "Prompt text (byte tokenizer)")->required();
  cmd->add_option("--max-tokens", opts->max_tokens, "Tokens to generate (stops early at the last position)");
  cmd->add_option("--temperature", opts->temperature, "Sampling temperature; 0 = greedy");
  cmd->add_option("--top-k", opts->top_k, "Keep the K most likely tokens (0 = all)");
  cmd->add_option("--top-p", opts->top_p, "Nucleus sampling mass in (0, 1]");
  cmd->add_option("--seed", opts->seed, "Seed of the sampler (std::mt19937_64)");
  cmd->add_option("--max-memory", opts->max_memory,
                  "Refuse a model whose engine plan for the prompt needs more than BYTES (K, M, G suffixes; "
                  "default: physical memory)");
  cmd->callback([opts, &action] { action = [opts] { return run_generate(*opts); }; });
}

}  // namespace snnconv::cli
