// `snnconv generate MODEL --prompt TEXT --max-tokens N [--temperature T --top-k K --top-p P --seed S]
//  [--draft DRAFT [--gamma K|auto] [--gamma-max N] [--cost-ratio C]] [--threads N] [--json]
//  [--max-memory BYTES]`
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "commands.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/ann_baseline/speculative.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/core/error.hpp"
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
  std::string draft;
  std::string gamma = "4";
  int gamma_max = 8;
  double cost_ratio = ann::SpeculativeOptions{}.cost_ratio;
  int threads = 0;
  bool json = false;
  std::string max_memory;  // empty: physical memory
};

// "--gamma 3" or "--gamma auto" into the options; UsageError otherwise.
void parse_gamma(const std::string& text, ann::SpeculativeOptions& o) {
  if (text == "auto") {
    if (o.gamma_max < 1) throw UsageError("--gamma-max must be >= 1, got " + std::to_string(o.gamma_max));
    o.gamma_auto = true;
    o.gamma = std::min(4, o.gamma_max);
    return;
  }
  std::size_t used = 0;
  int k = 0;
  try {
    k = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw UsageError("--gamma must be a positive integer or 'auto', got '" + text + "'");
  if (k < 1) throw UsageError("--gamma must be >= 1, got " + text);
  o.gamma = k;
}

nlohmann::json stats_json(const ann::SpeculativeStats& s) {
  nlohmann::json j;
  j["emitted"] = s.emitted;
  j["rounds"] = s.rounds;
  j["proposed"] = s.proposed;
  j["accepted"] = s.accepted;
  j["rejected"] = s.rejected;
  j["alpha"] = s.alpha();
  j["acceptance_fraction"] = s.acceptance_fraction();
  j["target_passes"] = s.target_passes;
  j["draft_passes"] = s.draft_passes;
  j["tokens_per_target_pass"] = s.tokens_per_target_pass();
  j["mean_gamma"] = s.mean_gamma();
  j["expected_tokens_per_pass"] = s.expected_tokens_per_pass();
  j["target_seconds"] = s.target_seconds;
  j["draft_seconds"] = s.draft_seconds;
  j["rounds_by_gamma"] = s.rounds_by_gamma;
  return j;
}

int run_generate(const GenerateCliOptions& o) {
  if (o.prompt.empty()) throw UsageError("--prompt must not be empty");
  if (o.max_tokens < 1) throw UsageError("--max-tokens must be >= 1");
  if (o.threads < 0) throw UsageError("--threads must be >= 0");
  const datasets::ByteTokenizer tokenizer;
  std::vector<std::int64_t> prompt;
  for (std::int32_t t : tokenizer.encode(o.prompt)) prompt.push_back(t);
  const ann::SamplingOptions sampling{o.temperature, o.top_k, o.top_p, o.seed};
  const ann::DecodeOptions decode{o.threads};
  ann::SpeculativeOptions spec;  // checked before any model is read
  spec.max_tokens = o.max_tokens;
  spec.sampling = sampling;
  spec.gamma_max = o.gamma_max;
  spec.cost_ratio = o.cost_ratio;
  if (!o.draft.empty()) parse_gamma(o.gamma, spec);
  const std::uint64_t max_memory =
      o.max_memory.empty() ? physical_memory_bytes() : parse_bytes(o.max_memory, "--max-memory");
  DecoderGraphCache graphs(o.model);
  // The prompt's window is the largest graph the session runs (each later step is one token); its plan
  // is refused before anything runs when it needs more than --max-memory. The graph stays cached.
  if (max_memory != 0) check_plan_memory(graphs.get(static_cast<std::int64_t>(prompt.size())), max_memory);
  ann::DecodeSession session(graphs.provider(), decode);

  std::vector<std::int64_t> out;
  std::optional<ann::SpeculativeStats> stats;
  if (o.draft.empty()) {
    ann::GenerateOptions options;
    options.max_tokens = o.max_tokens;
    options.sampling = sampling;
    out = ann::generate(session, prompt, options);
  } else {
    DecoderGraphCache draft_graphs(o.draft);
    ann::DecodeSession draft(draft_graphs.provider(), decode);
    ann::SpeculativeResult r = ann::speculative_generate(session, draft, prompt, spec);
    out = std::move(r.tokens);
    stats = r.stats;
  }
  std::vector<std::int32_t> ids(out.begin(), out.end());
  const std::string text = tokenizer.decode(ids);
  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["prompt"] = o.prompt;
    j["completion"] = text;
    j["tokens"] = out;
    if (stats) {
      j["draft"] = o.draft;
      j["gamma"] = o.gamma;
      j["speculative"] = stats_json(*stats);
    }
    // Bytes that are not valid UTF-8 are replaced rather than refused: the model is byte-level.
    fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  fmt::print("{}{}\n", o.prompt, text);
  if (stats) {
    const ann::SpeculativeStats& s = *stats;
    fmt::print("-- speculative: gamma {} (mean {:.2f}), proposed {}, accepted {}, alpha {:.3f}\n", o.gamma,
               s.mean_gamma(), s.proposed, s.accepted, s.alpha());
    fmt::print("-- target passes {}, draft passes {}, tokens per target pass {:.2f} (expected {:.2f})\n",
               s.target_passes, s.draft_passes, s.tokens_per_target_pass(), s.expected_tokens_per_pass());
    fmt::print("-- time in target {:.1f} ms, in draft {:.1f} ms\n", 1e3 * s.target_seconds, 1e3 * s.draft_seconds);
  }
  return 0;
}
}  // namespace

void add_generate(CLI::App& app, Action& action) {
  auto opts = std::make_shared<GenerateCliOptions>();
  auto* cmd = app.add_subcommand(
      "generate",
      "Generate text with a byte-level causal decoder (KV-cache decoding on the dense engine). With --draft, "
      "speculative decoding: the draft proposes --gamma tokens, the target verifies them in one pass; greedy "
      "output equals the target's own greedy output, sampled output follows the target's distribution. "
      "Prints the statistics (acceptance rate, tokens per target pass). The draft runs on the dense engine "
      "only for now (a spiking-engine draft comes later).");
  cmd->add_option("model", opts->model, "ONNX causal decoder with a dynamic seq axis (the target with --draft)")
      ->required();
  cmd->add_option("--prompt", opts->prompt, "Prompt text (byte tokenizer)")->required();
  cmd->add_option("--max-tokens", opts->max_tokens, "Tokens to generate (stops early at the last position)");
  cmd->add_option("--temperature", opts->temperature, "Sampling temperature; 0 = greedy");
  cmd->add_option("--top-k", opts->top_k, "Keep the K most likely tokens (0 = all)");
  cmd->add_option("--top-p", opts->top_p, "Nucleus sampling mass in (0, 1]");
  cmd->add_option("--seed", opts->seed, "Seed of the sampler (std::mt19937_64)");
  cmd->add_option("--draft", opts->draft,
                  "Draft model for speculative decoding (same vocabulary as the target; dense engine)");
  cmd->add_option("--gamma", opts->gamma,
                  "Draft tokens per target pass: a positive integer, or 'auto' to adapt it from the running "
                  "acceptance rate (default 4)");
  cmd->add_option("--gamma-max", opts->gamma_max, "Upper bound of --gamma auto (default 8)");
  cmd->add_option("--cost-ratio", opts->cost_ratio,
                  fmt::format("--gamma auto: cost of one more draft token (a draft step plus the wider verification "
                              "window) relative to one target step (default {})",
                              ann::SpeculativeOptions{}.cost_ratio));
  cmd->add_option("--threads", opts->threads, "Threads per model (0 = every core; output is identical for any)");
  cmd->add_flag("--json", opts->json, "Print the completion (and the speculative statistics) as JSON");
  cmd->add_option("--max-memory", opts->max_memory,
                  "Refuse a model whose engine plan for the prompt needs more than BYTES (K, M, G suffixes; "
                  "default: physical memory)");
  cmd->callback([opts, &action] { action = [opts] { return run_generate(*opts); }; });
}

}  // namespace snnconv::cli
