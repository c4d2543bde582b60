// bench_speculative: target-only greedy decoding against speculative greedy decoding (draft + target) on the
// same prompts, side by side, plus per-call timings of the calls speculative decoding is made of.
//
//   bench_speculative [--target M] [--draft M] [--data F.h5] [--prompts 20] [--prompt-bytes 32]
//                     [--tokens 200] [--threads 1] [--gammas 2,3,4,5,auto] [--repeats 3] [--json]
//
// Prompts: slice i of the test split's token stream, tokens[i * stride, i * stride + prompt_bytes), stride =
// (stream length - prompt_bytes) / prompts. Every configuration checks that its output equals the
// target-only output byte for byte. The configurations run interleaved, `repeats` times, and each keeps its
// fastest repeat (wall-clock and process CPU time separately): on a shared machine the minimum is the
// figure least disturbed by other processes. Results: docs/benchmarks.md, docs/speculative.md.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/ann_baseline/speculative.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/datasets/reader.hpp"

using namespace snnconv;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Wall-clock and process CPU seconds of one call of f.
template <typename F>
std::pair<double, double> timed(F&& f) {
  const auto t0 = Clock::now();
  const std::clock_t c0 = std::clock();
  f();
  return {std::chrono::duration<double>(Clock::now() - t0).count(),
          static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC};
}

Tensor tokens_tensor(const std::vector<std::int64_t>& t) {
  return Tensor::from_vector<std::int64_t>({1, static_cast<std::int64_t>(t.size())}, t);
}

// Mean seconds (wall, CPU) of one window of `width` tokens at context length `context`, the fastest of
// `batches` batches of `reps` calls; the session is rolled back after each call so all see the same cache.
std::pair<double, double> time_window(ann::DecodeSession& s, std::int64_t context, std::int64_t width, int reps,
                                      int batches) {
  s.truncate(0);
  std::vector<std::int64_t> ctx(static_cast<std::size_t>(context));
  for (std::int64_t i = 0; i < context; ++i) ctx[static_cast<std::size_t>(i)] = 32 + (i * 7) % 90;
  s.prefill(tokens_tensor(ctx));
  const std::vector<std::int64_t> w(static_cast<std::size_t>(width), 101);
  s.prefill(tokens_tensor(w));  // warm-up: plans the window
  s.truncate(context);
  std::pair<double, double> best{kInf, kInf};
  for (int b = 0; b < batches; ++b) {
    const auto [wall, cpu] = timed([&] {
      for (int r = 0; r < reps; ++r) {
        s.prefill(tokens_tensor(w));
        s.truncate(context);
      }
    });
    best.first = std::min(best.first, wall / reps);
    best.second = std::min(best.second, cpu / reps);
  }
  return best;
}

struct Config {
  std::string name;
  bool speculative = false;
  ann::SpeculativeOptions options;
  double wall = kInf, cpu = kInf;  // fastest repeat, seconds over all prompts
  bool identical = true;
  ann::SpeculativeStats stats;  // summed over prompts (one repeat)
};

void add(ann::SpeculativeStats& a, const ann::SpeculativeStats& b) {
  a.emitted += b.emitted;
  a.rounds += b.rounds;
  a.proposed += b.proposed;
  a.accepted += b.accepted;
  a.rejected += b.rejected;
  a.target_passes += b.target_passes;
  a.draft_passes += b.draft_passes;
  a.target_seconds += b.target_seconds;
  a.draft_seconds += b.draft_seconds;
  if (a.rounds_by_gamma.size() < b.rounds_by_gamma.size()) a.rounds_by_gamma.resize(b.rounds_by_gamma.size());
  for (std::size_t k = 0; k < b.rounds_by_gamma.size(); ++k) a.rounds_by_gamma[k] += b.rounds_by_gamma[k];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Target-only vs speculative greedy decoding, side by side"};
  std::string target_path = "examples/code_gpt/code_gpt.onnx", draft_path = "examples/code_gpt/code_gpt_draft.onnx";
  std::string data = "examples/data/python_code_small.h5", gammas_text = "2,3,4,5,auto";
  int prompts = 20, prompt_bytes = 32, tokens = 200, threads = 1, reps = 200, repeats = 3, max_width = 6;
  double cost_ratio = ann::SpeculativeOptions{}.cost_ratio;
  bool json = false, calls_only = false;
  app.add_option("--target", target_path);
  app.add_option("--draft", draft_path);
  app.add_option("--data", data);
  app.add_option("--prompts", prompts);
  app.add_option("--prompt-bytes", prompt_bytes);
  app.add_option("--tokens", tokens);
  app.add_option("--threads", threads);
  app.add_option("--gammas", gammas_text);
  app.add_option("--repeats", repeats, "Interleaved repeats of every configuration (the fastest counts)");
  app.add_option("--reps", reps, "Calls per timed batch of the per-call timings");
  app.add_option("--max-width", max_width, "Widest target window timed (2..8; rounds up to K = max-width - 1)");
  app.add_option("--cost-ratio", cost_ratio, "cost_ratio of --gamma auto");
  app.add_flag("--json", json);
  app.add_flag("--calls-only", calls_only, "Only the per-call timings");
  CLI11_PARSE(app, argc, argv);
  max_width = std::clamp(max_width, 2, 8);

  datasets::DatasetReader reader(data);
  const std::int64_t stream = reader.shape("test", "tokens").at(0);
  const std::int64_t stride = (stream - prompt_bytes) / prompts;
  std::vector<std::vector<std::int64_t>> prompt_set;
  for (int i = 0; i < prompts; ++i)
    prompt_set.push_back(reader.read_range("test", "tokens", i * stride, prompt_bytes).to_i64());

  DecoderGraphCache target_graphs(target_path), draft_graphs(draft_path);
  ann::DecodeSession target(target_graphs.provider(), {threads}), draft(draft_graphs.provider(), {threads});

  // Per-call timings at a mid-generation context (prompt + half the tokens): window[w] is a target call
  // of w tokens (w = 1: a step), draft_step a draft call of one token.
  const std::int64_t context = prompt_bytes + tokens / 2;
  std::vector<std::pair<double, double>> window(static_cast<std::size_t>(max_width) + 1);
  std::pair<double, double> draft_step{kInf, kInf};
  for (int round = 0; round < 3; ++round) {  // interleaved, fastest kept
    auto keep = [](std::pair<double, double>& best, std::pair<double, double> t) {
      best.first = std::min(best.first, t.first);
      best.second = std::min(best.second, t.second);
    };
    if (round == 0)
      for (auto& w : window) w = {kInf, kInf};
    for (int w = 1; w <= max_width; ++w)
      keep(window[static_cast<std::size_t>(w)], time_window(target, context, w, reps, 2));
    keep(draft_step, time_window(draft, context, 1, reps, 2));
  }
  const double step_cpu = window[1].second;
  const double c = draft_step.second / step_cpu;  // CPU times: the least disturbed by other processes
  auto print_calls = [&] {
    fmt::print("per-call times at context {} (fastest batch; wall / CPU):\n", context);
    fmt::print("  target step        {:7.1f} / {:7.1f} us\n", 1e6 * window[1].first, 1e6 * window[1].second);
    fmt::print("  draft step         {:7.1f} / {:7.1f} us  (c = {:.3f})\n", 1e6 * draft_step.first,
               1e6 * draft_step.second, c);
    for (int w = 2; w <= max_width; ++w)
      fmt::print("  target window of {} {:7.1f} / {:7.1f} us  = {:.2f} steps, +{:.2f} step per extra token\n", w,
                 1e6 * window[static_cast<std::size_t>(w)].first, 1e6 * window[static_cast<std::size_t>(w)].second,
                 window[static_cast<std::size_t>(w)].second / step_cpu,
                 (window[static_cast<std::size_t>(w)].second / step_cpu - 1.0) / (w - 1));
  };
  // The same calls interleaved as in a round with K proposals, each call timed on its own: the draft's
  // first call of a round (a window of 2 tokens, as after a fully accepted round: the last proposal and the
  // bonus token; else 1), K - 1 draft steps, then the target window of K + 1. The caches now also hold the
  // other model's weights and KV rows. round[K] = {draft step, draft window of 2, target window} CPU s,
  // the fastest of 4 batches of `reps` rounds.
  struct RoundCost {
    double draft_step = kInf, draft_two = kInf, target = kInf;
  };
  std::vector<RoundCost> round(static_cast<std::size_t>(max_width));
  for (int k = 1; k < max_width; ++k) {
    target.truncate(0);
    draft.truncate(0);
    std::vector<std::int64_t> ctx(static_cast<std::size_t>(context));
    for (std::int64_t i = 0; i < context; ++i) ctx[static_cast<std::size_t>(i)] = 32 + (i * 7) % 90;
    target.prefill(tokens_tensor(ctx));
    draft.prefill(tokens_tensor(ctx));
    RoundCost& best = round[static_cast<std::size_t>(k)];
    for (int batch = 0; batch < 4; ++batch) {
      double step_s = 0.0, two_s = 0.0, target_s = 0.0;
      for (int r = 0; r < reps; ++r) {
        two_s += timed([&] { draft.prefill(tokens_tensor({101, 101})); }).second;
        for (int i = 1; i < k; ++i) step_s += timed([&] { draft.step(101); }).second;
        draft.truncate(context);
        target_s += timed([&] {
                      target.prefill(tokens_tensor(std::vector<std::int64_t>(static_cast<std::size_t>(k + 1), 101)));
                    }).second;
        target.truncate(context);
      }
      if (k > 1) best.draft_step = std::min(best.draft_step, step_s / (static_cast<double>(k - 1) * reps));
      best.draft_two = std::min(best.draft_two, two_s / reps);
      best.target = std::min(best.target, target_s / reps);
    }
  }
  auto print_rounds = [&] {
    fmt::print("interleaved as in a round of K (CPU, fastest of 4 batches of {} rounds):\n", reps);
    for (int k = 1; k < max_width; ++k) {
      const RoundCost& r = round[static_cast<std::size_t>(k)];
      fmt::print(
          "  K = {}: draft window of 2 {:6.1f} us, draft step {}, target window of {} {:6.1f} us = {:.2f} steps\n", k,
          1e6 * r.draft_two, k > 1 ? fmt::format("{:6.1f} us", 1e6 * r.draft_step) : std::string("-"), k + 1,
          1e6 * r.target, r.target / step_cpu);
    }
  };
  if (calls_only) {
    print_calls();
    print_rounds();
    return 0;
  }

  std::vector<Config> configs;
  Config base_config;
  base_config.name = "target only";
  configs.push_back(base_config);
  std::stringstream ss(gammas_text);
  for (std::string g; std::getline(ss, g, ',');) {
    Config cfg;
    cfg.name = "K = " + g;
    cfg.speculative = true;
    cfg.options.max_tokens = tokens;
    cfg.options.cost_ratio = cost_ratio;
    if (g == "auto")
      cfg.options.gamma_auto = true;
    else
      cfg.options.gamma = std::stoi(g);
    configs.push_back(cfg);
  }
  ann::GenerateOptions gen;
  gen.max_tokens = tokens;
  std::vector<std::vector<std::int64_t>> baseline;
  for (const auto& p : prompt_set) {  // also warms every window plan the baseline needs
    target.truncate(0);
    baseline.push_back(ann::generate(target, p, gen));
  }
  for (Config& cfg : configs)
    if (cfg.speculative) {  // warm-up: plans every window this configuration uses
      target.truncate(0);
      draft.truncate(0);
      (void)ann::speculative_generate(target, draft, prompt_set[0], cfg.options);
    }
  for (int rep = 0; rep < repeats; ++rep) {
    for (Config& cfg : configs) {
      double wall = 0.0, cpu = 0.0;
      ann::SpeculativeStats stats;
      for (std::size_t i = 0; i < prompt_set.size(); ++i) {
        target.truncate(0);
        draft.truncate(0);
        std::vector<std::int64_t> out;
        const auto [w, cp] = timed([&] {
          if (!cfg.speculative) {
            out = ann::generate(target, prompt_set[i], gen);
            return;
          }
          ann::SpeculativeResult r = ann::speculative_generate(target, draft, prompt_set[i], cfg.options);
          out = std::move(r.tokens);
          add(stats, r.stats);
        });
        wall += w;
        cpu += cp;
        cfg.identical = cfg.identical && out == baseline[i];
      }
      cfg.wall = std::min(cfg.wall, wall);
      cfg.cpu = std::min(cfg.cpu, cpu);
      cfg.stats = stats;
    }
  }
  const Config& base = configs[0];

  // What the interleaved call timings predict: tokens per round x step time / round cost. A round costs
  // the target window of K + 1, K - 1 draft steps and a first draft call of 2 tokens after a fully accepted
  // round (else 1 token, priced as a step).
  auto predicted = [&](const Config& cfg) -> double {
    const double k = cfg.stats.mean_gamma();
    const auto kw = static_cast<std::size_t>(std::lround(k));
    if (std::abs(k - static_cast<double>(kw)) > 0.05 || kw < 2 || kw >= round.size()) return 0.0;
    const RoundCost& r = round[kw];
    const double full = 1.0 - static_cast<double>(cfg.stats.rejected) / static_cast<double>(cfg.stats.rounds);
    const double draft_cost = (k - 1.0) * r.draft_step + full * r.draft_two + (1.0 - full) * r.draft_step;
    return cfg.stats.tokens_per_target_pass() * step_cpu / (draft_cost + r.target);
  };

  nlohmann::json j;
  j["prompts"] = prompts;
  j["tokens"] = tokens;
  j["threads"] = threads;
  j["repeats"] = repeats;
  j["context"] = context;
  j["target_step_us"] = 1e6 * window[1].second;
  j["draft_step_us"] = 1e6 * draft_step.second;
  j["cost_ratio_measured"] = c;
  for (int w = 2; w <= max_width; ++w)
    j["target_window_us"][std::to_string(w)] = 1e6 * window[static_cast<std::size_t>(w)].second;
  for (int k = 1; k < max_width; ++k) {
    const RoundCost& r = round[static_cast<std::size_t>(k)];
    if (k > 1) j["interleaved"][std::to_string(k)]["draft_step_us"] = 1e6 * r.draft_step;
    j["interleaved"][std::to_string(k)]["draft_window2_us"] = 1e6 * r.draft_two;
    j["interleaved"][std::to_string(k)]["target_window_us"] = 1e6 * r.target;
  }
  for (const Config& cfg : configs) {
    nlohmann::json x;
    x["config"] = cfg.name;
    x["wall_seconds"] = cfg.wall;
    x["cpu_seconds"] = cfg.cpu;
    x["speedup_wall"] = base.wall / cfg.wall;
    x["speedup_cpu"] = base.cpu / cfg.cpu;
    x["identical"] = cfg.identical;
    if (cfg.speculative) {
      x["alpha"] = cfg.stats.alpha();
      x["tokens_per_target_pass"] = cfg.stats.tokens_per_target_pass();
      x["expected_tokens_per_pass"] = cfg.stats.expected_tokens_per_pass();
      x["mean_gamma"] = cfg.stats.mean_gamma();
      x["formula_speedup"] = ann::expected_speedup(cfg.stats.alpha(), cfg.stats.mean_gamma(), c);
      x["predicted_speedup"] = predicted(cfg);
      x["target_us_per_pass"] = 1e6 * cfg.stats.target_seconds / static_cast<double>(cfg.stats.target_passes);
      x["draft_us_per_pass"] = 1e6 * cfg.stats.draft_seconds / static_cast<double>(cfg.stats.draft_passes);
    }
    j["configs"].push_back(x);
  }
  if (json) {
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{} prompts x {} tokens, {} thread(s), fastest of {} interleaved repeats\n", prompts, tokens, threads,
               repeats);
    print_calls();
    print_rounds();
    fmt::print(
        "\nInside the runs (wall, last repeat): mean target pass and draft pass, against the isolated calls "
        "above (target window of K+1, draft step):\n");
    for (const Config& cfg : configs)
      if (cfg.speculative)
        fmt::print("  {}: target {:.1f} us/pass, draft {:.1f} us/pass, {} target passes, {} draft passes\n", cfg.name,
                   1e6 * cfg.stats.target_seconds / static_cast<double>(cfg.stats.target_passes),
                   1e6 * cfg.stats.draft_seconds / static_cast<double>(cfg.stats.draft_passes), cfg.stats.target_passes,
                   cfg.stats.draft_passes);
    fmt::print(
        "\n| config | wall s | CPU s | speedup wall | speedup CPU | identical | alpha | tokens/pass | "
        "formula tokens/pass | formula speedup (c = {:.3f}) | predicted from interleaved calls |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n",
        c);
    for (const Config& cfg : configs) {
      if (!cfg.speculative) {
        fmt::print("| {} | {:.3f} | {:.3f} | 1.00 | 1.00 | - | - | 1.00 | 1.00 | 1.00 | 1.00 |\n", cfg.name, cfg.wall,
                   cfg.cpu);
        continue;
      }
      const double pred = predicted(cfg);
      fmt::print("| {} | {:.3f} | {:.3f} | {:.2f} | {:.2f} | {} | {:.3f} | {:.2f} | {:.2f} | {:.2f} | {} |\n", cfg.name,
                 cfg.wall, cfg.cpu, base.wall / cfg.wall, base.cpu / cfg.cpu, cfg.identical ? "yes" : "NO",
                 cfg.stats.alpha(), cfg.stats.tokens_per_target_pass(), cfg.stats.expected_tokens_per_pass(),
                 ann::expected_speedup(cfg.stats.alpha(), cfg.stats.mean_gamma(), c),
                 pred > 0.0 ? fmt::format("{:.2f}", pred) : std::string("-"));
    }
  }
  for (const Config& cfg : configs)
    if (!cfg.identical) return 1;
  return 0;
}
