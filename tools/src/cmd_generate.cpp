// `snnconv generate MODEL --prompt TEXT --max-tokens N [--temperature T --top-k K --top-p P --seed S]
//  [--draft DRAFT [--gamma K|auto] [--gamma-max N] [--cost-ratio C]] [--threads N] [--json]
//  [--max-memory BYTES]
//  [--engine ann|qann|snn [--act-bits B] [--weight-bits W] [--weight-group G] [--mode strict|burst] [--max-steps T] [--seq N]
//   [--calib N] [--clip C] [--check-exact] [--resimulate] [--early-read] [--draft-steps K [--gamma G]]]`
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <optional>

#include "commands.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/ann_baseline/speculative.hpp"
#include "snnconv/pipeline/generate_window.hpp"
#include "snnconv/pipeline/spiking_generate.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/model_file.hpp"
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
  bool quiet = false;
  std::uint64_t max_memory = 0;  // 0: physical memory
  // --engine qann|snn: the post-training quantized model (pipeline::quantize_model) or an SNN model file
  std::string engine = "ann";
  pipeline::QuantizeModelOptions quant;
  std::string clip = kDefaultClip;
  std::string mode = "strict";
  int max_steps = kDefaultMaxSteps;
  bool check_exact = false;
  bool resimulate = false;
  bool early_read = false;
  int draft_steps = 0;  // snn: > 0 speculative decoding with the SNN read after this many steps as the draft
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

// The statistics go to stderr (stdout holds the text alone, so it can be piped); --quiet drops them.
template <typename... Args>
void note(const GenerateCliOptions& o, fmt::format_string<Args...> format, Args&&... args) {
  if (!o.quiet) fmt::print(stderr, format, std::forward<Args>(args)...);
}

double tokens_per_s(std::size_t tokens, double seconds) {
  return seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0;
}

double mean_of(const std::vector<pipeline::DecodeStepStats>& steps, double (*f)(const pipeline::DecodeStepStats&)) {
  if (steps.empty()) return 0.0;
  double sum = 0.0;
  for (const pipeline::DecodeStepStats& s : steps) sum += f(s);
  return sum / static_cast<double>(steps.size());
}

nlohmann::json step_json(const pipeline::DecodeStepStats& s, bool resimulated) {
  nlohmann::json j = {{"length", s.length},
                      {"token", s.token},
                      {"steps", s.steps},
                      {"quiescent", s.quiescent},
                      {"spikes", s.work.spikes()},
                      {"synaptic_ops", s.work.total_acs()},
                      {"neuron_updates", s.work.neuron_updates},
                      {"dense_ops", s.work.dense_ops},
                      {"seconds", s.seconds}};
  if (resimulated)
    j["resimulated"] = {{"steps", s.resimulated_steps},
                        {"seconds", s.resimulated_seconds},
                        {"spikes", s.resimulated.spikes()},
                        {"synaptic_ops", s.resimulated.total_acs()},
                        {"neuron_updates", s.resimulated.neuron_updates}};
  return j;
}

// --engine qann|snn: quantize (or load the model file), then generate on the QANN or the SNN.
int run_generate_quantized(GenerateCliOptions& o, const std::vector<std::int64_t>& prompt,
                           const ann::SamplingOptions& sampling) {
  if (!o.draft.empty())
    throw UsageError("--draft runs on the dense engine only (--engine ann); with --engine snn use --draft-steps K");
  if (o.draft_steps != 0 && o.engine != "snn") throw UsageError("--draft-steps needs --engine snn");
  if (o.draft_steps < 0) throw UsageError("--draft-steps must be >= 1, got " + std::to_string(o.draft_steps));
  if (o.draft_steps > 0 && (o.check_exact || o.resimulate || o.early_read))
    throw UsageError("--draft-steps cannot be combined with --check-exact, --resimulate or --early-read");
  if (o.draft_steps > 0 && sampling.temperature > 0.0f)
    throw UsageError("--draft-steps: speculative decoding on the SNN is greedy only (--temperature 0)");
  if ((o.check_exact || o.resimulate || o.early_read) && o.engine != "snn")
    throw UsageError("--check-exact, --resimulate and --early-read need --engine snn");
  const bool from_file = datasets::is_model_file(o.model);
  o.quant.model = o.model;
  o.quant.quant.clip = parse_clip_method(o.clip);
  o.quant.quant.threads = o.threads;  // calibration's float passes
  pipeline::QuantizedModel m;
  if (from_file) {
    m = pipeline::load_quantized_model(o.model);
  } else {
    // One read of the model; the window: --seq, else the prompt and the tokens to generate (at most the model's
    // trained context), else the export's fixed length.
    pipeline::SourceOptions so;
    so.model = o.model;
    so.task = o.quant.task;
    so.data = o.quant.data;
    so.calib_data = o.quant.calib_data;
    so.seq = o.quant.seq;
    pipeline::ModelSource src = pipeline::open_model(so);
    if (o.quant.seq <= 0 && !src.seq_symbol.empty()) {
      std::int64_t w = static_cast<std::int64_t>(prompt.size()) + o.max_tokens - 1;
      if (src.window > 0) w = std::min(w, src.window);
      src.window = std::max<std::int64_t>(w, static_cast<std::int64_t>(prompt.size()));
    }
    Graph canonical = src.bind(1);
    fuse_graph(canonical);
    m = pipeline::prepare_model(src, std::move(canonical), o.quant);
    pipeline::quantize_prepared(m, o.quant);
  }
  if (o.draft_steps > 0) {
    pipeline::SpikingSpeculativeOptions so;
    so.mode = o.mode == "burst" ? snn::FireMode::burst : snn::FireMode::strict;
    so.max_steps = o.max_steps;
    so.draft_steps = o.draft_steps;
    try {
      so.gamma = std::stoi(o.gamma);
    } catch (const std::exception&) {
      throw UsageError("--gamma with --draft-steps must be a positive integer, got '" + o.gamma + "'");
    }
    so.threads = o.threads > 0 ? o.threads : 1;
    so.max_tokens = o.max_tokens;
    const pipeline::SpikingSpeculativeResult r = pipeline::speculative_generate_spiking(m, prompt, so);
    const datasets::ByteTokenizer tok;
    const std::string text = tok.decode(std::vector<std::int32_t>(r.tokens.begin(), r.tokens.end()));
    const double alpha = r.proposed > 0 ? static_cast<double>(r.accepted) / static_cast<double>(r.proposed) : 0.0;
    const double n = std::max<double>(1.0, static_cast<double>(r.tokens.size()));
    if (o.json) {
      nlohmann::json j;
      j["model"] = o.model;
      j["engine"] = "snn";
      j["mode"] = o.mode;
      j["prompt"] = o.prompt;
      j["completion"] = text;
      j["tokens"] = r.tokens;
      j["window"] = r.window;
      j["seconds"] = r.seconds;
      j["speculative"] = {{"draft_steps", o.draft_steps},
                          {"gamma", so.gamma},
                          {"rounds", r.rounds},
                          {"proposed", r.proposed},
                          {"accepted", r.accepted},
                          {"acceptance_fraction", alpha},
                          {"target_calls", r.target_calls},
                          {"target_steps", r.target_steps},
                          {"draft_calls", r.draft_calls},
                          {"draft_steps_simulated", r.draft_steps},
                          {"target_synaptic_ops", r.target_work.total_acs()},
                          {"draft_synaptic_ops", r.draft_work.total_acs()},
                          {"target_spikes", r.target_work.spikes()},
                          {"draft_spikes", r.draft_work.spikes()}};
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
      return 0;
    }
    fmt::print("{}{}\n", o.prompt, text);
    note(o, "-- speculative on the SNN ({}): draft = the SNN read after {} steps, gamma {}, window {}, {:.2f} s\n",
               o.mode, o.draft_steps, so.gamma, r.window, r.seconds);
    note(o, "-- rounds {}, proposed {}, accepted {} ({:.0f}%)\n", r.rounds, r.proposed, r.accepted, 100.0 * alpha);
    note(o, "-- target: {} calls, {} steps ({:.1f} per token), {} synaptic ops ({:.0f} per token)\n", r.target_calls,
               r.target_steps, static_cast<double>(r.target_steps) / n, r.target_work.total_acs(),
               static_cast<double>(r.target_work.total_acs()) / n);
    note(o, "-- draft: {} calls, {} steps, {} synaptic ops\n", r.draft_calls, r.draft_steps, r.draft_work.total_acs());
    return 0;
  }
  pipeline::SpikingGenerateOptions go;
  go.engine = o.engine == "qann" ? pipeline::SpikingEngine::qann : pipeline::SpikingEngine::snn;
  go.mode = o.mode == "burst" ? snn::FireMode::burst : snn::FireMode::strict;
  go.max_steps = o.max_steps;
  go.threads = o.threads > 0 ? o.threads : 1;
  go.max_tokens = o.max_tokens;
  go.sampling = sampling;
  go.check_exact = o.check_exact;
  go.resimulate = o.resimulate;
  go.early_read = o.early_read;
  go.on_token = sample_progress(o.quiet, o.engine + " ", "tokens");
  const pipeline::SpikingGenerateResult r = pipeline::generate_spiking(m, prompt, go);
  const datasets::ByteTokenizer tokenizer;
  const std::vector<std::int32_t> ids(r.tokens.begin(), r.tokens.end());
  const std::string text = tokenizer.decode(ids);
  const bool snn = go.engine == pipeline::SpikingEngine::snn;
  const double steps_mean = mean_of(r.steps, [](const pipeline::DecodeStepStats& s) { return double(s.steps); });
  const double spikes_mean = mean_of(r.steps, [](const pipeline::DecodeStepStats& s) { return double(s.work.spikes()); });
  const double ops_mean =
      mean_of(r.steps, [](const pipeline::DecodeStepStats& s) { return double(s.work.total_acs()); });
  const double resim_ops_mean =
      mean_of(r.steps, [](const pipeline::DecodeStepStats& s) { return double(s.resimulated.total_acs()); });
  int steps_max = 0;
  std::int64_t not_quiescent = r.prefill.quiescent ? 0 : 1;
  for (const pipeline::DecodeStepStats& s : r.steps) {
    steps_max = std::max(steps_max, s.steps);
    not_quiescent += s.quiescent ? 0 : 1;
  }
  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["engine"] = o.engine;
    j["prompt"] = o.prompt;
    j["completion"] = text;
    j["tokens"] = r.tokens;
    j["window"] = r.window;
    j["seconds"] = r.seconds;
    j["weight_bits"] = m.weight_bits;  // the model's: a model file keeps its own
    j["weight_group"] = m.weight_group;
    j["act_bits"] = m.act_bits;
    j["tokens_per_s"] = tokens_per_s(r.tokens.size(), r.seconds);
    if (snn) {
      j["mode"] = o.mode;
      j["max_steps"] = o.max_steps;
      j["not_quiescent"] = not_quiescent;
      j["prefill"] = step_json(r.prefill, o.resimulate);
      j["per_token"] = nlohmann::json::array();
      for (const pipeline::DecodeStepStats& s : r.steps) j["per_token"].push_back(step_json(s, o.resimulate));
      j["per_token_mean"] = {{"steps", steps_mean},
                             {"spikes", spikes_mean},
                             {"synaptic_ops", ops_mean},
                             {"seconds", mean_of(r.steps, [](const pipeline::DecodeStepStats& s) { return s.seconds; })}};
      if (o.resimulate) {
        j["per_token_mean"]["resimulated_synaptic_ops"] = resim_ops_mean;
        j["per_token_mean"]["resimulated_seconds"] =
            mean_of(r.steps, [](const pipeline::DecodeStepStats& s) { return s.resimulated_seconds; });
      }
      if (o.check_exact) j["logit_mismatches_vs_qann"] = r.logit_mismatches;
      if (o.early_read) j["early_read_agreement"] = pipeline::early_read_agreement(r);
    }
    fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  fmt::print("{}{}\n", o.prompt, text);
  note(o, "-- engine {} {}{}, window {} positions, {} tokens in {:.2f} s, {:.1f} tokens/s\n", o.engine, m.bits_label(),
       snn ? " (" + o.mode + ")" : "", r.window, r.tokens.size(), r.seconds, tokens_per_s(r.tokens.size(), r.seconds));
  if (!snn) return 0;
  note(o, "-- prefill of {} positions: {} steps to quiescence, {} spikes, {} synaptic ops\n", r.prefill.length,
             r.prefill.steps, r.prefill.work.spikes(), r.prefill.work.total_acs());
  if (!r.steps.empty()) {
    note(o, "-- per generated token (1 new position each): steps mean {:.1f} (max {}), spikes {:.0f}, synaptic ops {:.0f}\n",
               steps_mean, steps_max, spikes_mean, ops_mean);
    note(o, "-- steps per token:");
    for (const pipeline::DecodeStepStats& s : r.steps) note(o, " {}", s.steps);
    note(o, "\n");
    if (o.resimulate)
      note(o, "-- re-simulating the whole window per token instead: synaptic ops {:.0f} ({:.1f}x)\n", resim_ops_mean,
                 ops_mean > 0 ? resim_ops_mean / ops_mean : 0.0);
  }
  if (not_quiescent > 0) note(o, "-- {} calls stopped at --max-steps {} before quiescence\n", not_quiescent, o.max_steps);
  if (o.check_exact) note(o, "-- exactness: {} next-token logits differ from the QANN\n", r.logit_mismatches);
  if (o.early_read) {
    const std::vector<double> agree = pipeline::early_read_agreement(r);
    note(o, "-- greedy token read at step k equals the quiescent one:");
    for (std::size_t k = 1; k <= agree.size(); k *= 2) note(o, " k={}: {:.0f}%", k, 100.0 * agree[k - 1]);
    if (!agree.empty()) note(o, " (100% from step {})", [&] {
      std::size_t k = agree.size();
      while (k > 1 && agree[k - 2] >= 1.0) --k;
      return k;
    }());
    note(o, "\n");
  }
  return 0;
}

int run_generate(GenerateCliOptions& o) {
  if (o.prompt.empty()) throw UsageError("--prompt must not be empty");
  if (o.max_tokens < 1) throw UsageError("--max-tokens must be >= 1");
  const datasets::ByteTokenizer tokenizer;
  std::vector<std::int64_t> prompt;
  for (std::int32_t t : tokenizer.encode(o.prompt)) prompt.push_back(t);
  const ann::SamplingOptions sampling{o.temperature, o.top_k, o.top_p, o.seed};
  if (o.engine != "ann") return run_generate_quantized(o, prompt, sampling);
  if (datasets::is_model_file(o.model))
    throw UsageError("'" + o.model + "' is an SNN model file: generate with --engine snn or --engine qann");
  const ann::DecodeOptions decode{o.threads};
  ann::SpeculativeOptions spec;  // checked before any model is read
  spec.max_tokens = o.max_tokens;
  spec.sampling = sampling;
  spec.gamma_max = o.gamma_max;
  spec.cost_ratio = o.cost_ratio;
  if (!o.draft.empty()) parse_gamma(o.gamma, spec);
  const std::uint64_t max_memory = max_memory_or_physical(o.max_memory);
  // An export whose sequence length is fixed cannot be bound per window: the whole window runs per token.
  pipeline::SourceOptions so;
  so.model = o.model;
  const pipeline::ModelSource src = pipeline::open_model(so);
  if (src.seq_symbol.empty() && src.token_input() >= 0) {
    if (!o.draft.empty()) throw UsageError("--draft needs exports with a symbolic sequence dim (KV-cache decoding)");
    ann::GenerateOptions options;
    options.max_tokens = o.max_tokens;
    options.sampling = sampling;
    const pipeline::WindowGenerateResult w = pipeline::generate_window(src, prompt, options, o.threads);
    const std::string text = tokenizer.decode(std::vector<std::int32_t>(w.tokens.begin(), w.tokens.end()));
    if (o.json) {
      nlohmann::json j;
      j["model"] = o.model;
      j["prompt"] = o.prompt;
      j["completion"] = text;
      j["tokens"] = w.tokens;
      j["window"] = w.window;
      j["batch"] = w.batch;
      j["decoding"] = "whole_window";
      j["passes"] = w.passes;
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
      return 0;
    }
    fmt::print("{}{}\n", o.prompt, text);
    fmt::print("-- the export fixes the window at {} (batch {}): no KV cache, the whole window ran {} times ({:.2f} s)\n",
               w.window, w.batch, w.passes, w.seconds);
    return 0;
  }
  DecoderGraphCache graphs(o.model);
  // The prompt's window is the largest graph the session runs (each later step is one token); its plan
  // is refused before anything runs when it needs more than --max-memory. The graph stays cached.
  if (max_memory != 0) check_plan_memory(graphs.get(static_cast<std::int64_t>(prompt.size())), max_memory);
  ann::DecodeSession session(graphs.provider(), decode);

  // Target-only decoding always runs: it is the output without --draft and, with --draft, the baseline the
  // measured speedup is quoted against (same prompt, same sampling options, same threads).
  using Clock = std::chrono::steady_clock;
  ann::GenerateOptions options;
  options.max_tokens = o.max_tokens;
  options.sampling = sampling;
  auto t0 = Clock::now();
  std::vector<std::int64_t> out = ann::generate(session, prompt, options);
  const double target_only_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::size_t target_only_tokens = out.size();
  std::optional<ann::SpeculativeStats> stats;
  double speculative_seconds = 0.0;
  if (!o.draft.empty()) {
    DecoderGraphCache draft_graphs(o.draft);
    ann::DecodeSession draft(draft_graphs.provider(), decode);
    session.truncate(0);
    t0 = Clock::now();
    ann::SpeculativeResult r = ann::speculative_generate(session, draft, prompt, spec);
    speculative_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
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
      j["speculative"]["seconds"] = speculative_seconds;
      j["speculative"]["tokens_per_s"] = tokens_per_s(out.size(), speculative_seconds);
      j["target_only"] = {{"seconds", target_only_seconds},
                          {"tokens", target_only_tokens},
                          {"tokens_per_s", tokens_per_s(target_only_tokens, target_only_seconds)}};
      j["speedup_vs_target_only"] =
          tokens_per_s(out.size(), speculative_seconds) / std::max(1e-12, tokens_per_s(target_only_tokens, target_only_seconds));
    } else {
      j["seconds"] = target_only_seconds;
      j["tokens_per_s"] = tokens_per_s(out.size(), target_only_seconds);
    }
    // Bytes that are not valid UTF-8 are replaced rather than refused: the model is byte-level.
    fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  fmt::print("{}{}\n", o.prompt, text);
  note(o, "-- target only: {} tokens in {:.3f} s, {:.1f} tokens/s\n", target_only_tokens, target_only_seconds,
       tokens_per_s(target_only_tokens, target_only_seconds));
  if (stats) {
    const ann::SpeculativeStats& s = *stats;
    note(o, "-- speculative: gamma {} (mean {:.2f}), proposed {}, accepted {}, alpha {:.3f}\n", o.gamma,
               s.mean_gamma(), s.proposed, s.accepted, s.alpha());
    note(o, "-- target passes {}, draft passes {}, tokens per target pass {:.2f} (expected {:.2f})\n",
               s.target_passes, s.draft_passes, s.tokens_per_target_pass(), s.expected_tokens_per_pass());
    note(o, "-- time in target {:.1f} ms, in draft {:.1f} ms\n", 1e3 * s.target_seconds, 1e3 * s.draft_seconds);
    const double spec_rate = tokens_per_s(out.size(), speculative_seconds);
    const double plain_rate = tokens_per_s(target_only_tokens, target_only_seconds);
    note(o, "-- speculative: {} tokens in {:.3f} s, {:.1f} tokens/s: {:.2f}x the target alone (measured, same prompt)\n",
         out.size(), speculative_seconds, spec_rate, plain_rate > 0 ? spec_rate / plain_rate : 0.0);
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
      "The text goes to stdout, the statistics to stderr (tokens/s; with --draft the acceptance rate, tokens per "
      "target pass and the measured speedup against target-only decoding of the same prompt, which always runs "
      "first). A --draft model runs on the dense "
      "engine. With --engine snn|qann the model is quantized "
      "(--weight-bits/--act-bits, calibrated on windows of --seq) and generation runs on the SNN "
      "(prefill of the prompt, then one new position per token simulated to quiescence with the earlier "
      "positions' state kept) or on the QANN integer reference; reports steps, spikes and synaptic ops per "
      "token. --engine snn --draft-steps K: greedy speculative decoding with the same SNN read after K steps "
      "as the draft.");
  cmd->add_option("model", opts->model,
                  "ONNX causal decoder (the target with --draft); an export with a fixed sequence length runs its whole "
                  "window per token (no KV cache; the prompt repeated in every row of a static batch)")
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
                  "acceptance rate (default 4; auto: --draft only)");
  cmd->add_option("--gamma-max", opts->gamma_max, "Upper bound of --gamma auto (default 8)");
  cmd->add_option("--cost-ratio", opts->cost_ratio,
                  fmt::format("--gamma auto: cost of one more draft token (a draft step plus the wider verification "
                              "window) relative to one target step (default {})",
                              ann::SpeculativeOptions{}.cost_ratio));
  add_threads_option(cmd, opts->threads, "Threads per model (0 = every core; snn: 1; output is identical for any)");
  cmd->add_flag("--json", opts->json, "Print the completion (and the speculative statistics) as JSON");
  add_engine_option(cmd, opts->engine,
                    "ann (dense, KV cache), qann (quantized integer reference, the window re-run per token) or snn "
                    "(the QANN converted to spiking, incremental decoding); MODEL may be an SNN model file from "
                    "`snnconv convert` for qann/snn");
  add_quant_options(cmd,
                    {&opts->quant.quant.weight_bits, &opts->quant.quant.weight_group, &opts->quant.quant.act_bits,
                     &opts->clip, &opts->quant.calib_samples, nullptr},
                    "qann/snn (ignored for a model file, which keeps its own): ");
  cmd->add_option("--seq", opts->quant.seq,
                  "qann/snn: window length of the quantized graph and of its calibration windows (default: prompt "
                  "+ max-tokens - 1, at most snnconv.max_seq); generation stops at its last position");
  cmd->add_option("--data", opts->quant.data,
                  "qann/snn: data to calibrate on (.npz token rows or a 1-D token stream named after the token input, or "
                  ".h5); default: the model's snnconv.data");
  cmd->add_option("--calib-data", opts->quant.calib_data, "qann/snn: data to calibrate on; default: --data");
  add_snn_options(cmd, opts->mode, opts->max_steps, "snn: ");
  cmd->add_flag("--check-exact", opts->check_exact,
                "snn: also run the QANN per token and count next-token logits that differ in any bit");
  cmd->add_option("--draft-steps", opts->draft_steps,
                  "snn: greedy speculative decoding whose draft is the same SNN read after K steps per call; "
                  "--gamma K tokens per round (an integer), verified by the SNN at quiescence");
  cmd->add_flag("--early-read", opts->early_read,
                "snn: also read the greedy token at every step (the SNN read at fewer steps, as a draft would): "
                "share of tokens already final at step k");
  cmd->add_flag("--resimulate", opts->resimulate,
                "snn: also re-simulate the whole window from rest per token and report its synaptic ops (costly)");
  add_max_memory_option(cmd, opts->max_memory,
                        "ann: refuse a model whose engine plan for the prompt needs more than BYTES (default: "
                        "physical memory)");
  add_quiet_flag(cmd, opts->quiet);
  cmd->callback([opts, &action] { action = [opts] { return run_generate(*opts); }; });
}

}  // namespace snnconv::cli
