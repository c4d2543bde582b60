// bench_speculative: target-only greedy decoding against speculative greedy decoding (draft + target) on the
// same prompts, side by side, plus per-call timings of the calls speculative decoding is made of.
//
//   bench_speculative [--target M] [--draft M] [--data F.h5] [--prompts 20] [--prompt-bytes 32]
//                     [--tokens 200] [--threads 1] [--gammas 2,3,4,5,auto] [--json]
//
// Prompts: slice i of the test split's token stream, tokens[i * stride, i * stride + prompt_bytes), stride =
// (stream length - prompt_bytes) / prompts. Each configuration checks that its output equals the
// target-only output byte for byte. Results go to docs/benchmarks.md and docs/speculative.md.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/ann_baseline/speculative.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/datasets/reader.hpp"

using namespace snnconv;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Tensor tokens_tensor(const std::vector<std::int64_t>& t) {
  return Tensor::from_vector<std::int64_t>({1, static_cast<std::int64_t>(t.size())}, t);
}

// Mean seconds of one call of a window of `width` tokens at context length `context`: the session is
// rolled back after each call so every call sees the same cache.
double time_window(ann::DecodeSession& s, std::int64_t context, std::int64_t width, int reps,
                   double* cpu_seconds = nullptr) {
  s.truncate(0);
  std::vector<std::int64_t> ctx(static_cast<std::size_t>(context));
  for (std::int64_t i = 0; i < context; ++i) ctx[static_cast<std::size_t>(i)] = 32 + (i * 7) % 90;
  s.prefill(tokens_tensor(ctx));
  const std::vector<std::int64_t> w(static_cast<std::size_t>(width), 101);
  s.prefill(tokens_tensor(w));  // warm-up: plans the window
  s.truncate(context);
  const auto t0 = Clock::now();
  const std::clock_t c0 = std::clock();
  for (int r = 0; r < reps; ++r) {
    s.prefill(tokens_tensor(w));
    s.truncate(context);
  }
  if (cpu_seconds) *cpu_seconds = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC / reps;
  return seconds_since(t0) / reps;
}

struct Row {
  std::string config;
  double seconds = 0.0;
  double cpu_seconds = 0.0;
  bool identical = true;
  ann::SpeculativeStats stats;  // summed over prompts
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
  int prompts = 20, prompt_bytes = 32, tokens = 200, threads = 1, reps = 200, max_width = 6;
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
  app.add_option("--reps", reps, "Repetitions of each timed call");
  app.add_option("--max-width", max_width, "Widest target window timed (2..6)");
  app.add_option("--cost-ratio", cost_ratio, "cost_ratio of --gamma auto");
  app.add_flag("--json", json);
  app.add_flag("--calls-only", calls_only, "Only the per-call timings");
  CLI11_PARSE(app, argc, argv);

  datasets::DatasetReader reader(data);
  const std::int64_t stream = reader.shape("test", "tokens").at(0);
  const std::int64_t stride = (stream - prompt_bytes) / prompts;
  std::vector<std::vector<std::int64_t>> prompt_set;
  for (int i = 0; i < prompts; ++i)
    prompt_set.push_back(reader.read_range("test", "tokens", i * stride, prompt_bytes).to_i64());

  DecoderGraphCache target_graphs(target_path), draft_graphs(draft_path);
  ann::DecodeSession target(target_graphs.provider(), {threads}), draft(draft_graphs.provider(), {threads});

  // Per-call timings at a mid-generation context (prompt + half the tokens).
  const std::int64_t context = prompt_bytes + tokens / 2;
  double t_step_cpu = 0.0, d_step_cpu = 0.0;
  const double t_step = time_window(target, context, 1, reps, &t_step_cpu);
  const double d_step = time_window(draft, context, 1, reps, &d_step_cpu);
  std::vector<double> t_verify(7, 0.0), t_verify_cpu(7, 0.0);
  for (std::size_t w = 2; w <= static_cast<std::size_t>(std::clamp(max_width, 1, 6)); ++w)
    t_verify[w] = time_window(target, context, static_cast<std::int64_t>(w), reps, &t_verify_cpu[w]);
  const double c = d_step / t_step;
  if (calls_only) {
    fmt::print("target step {:.1f} us (cpu {:.1f}), draft step {:.1f} us (cpu {:.1f})\n", 1e6 * t_step, 1e6 * t_step_cpu,
               1e6 * d_step, 1e6 * d_step_cpu);
    for (std::size_t w = 2; w < t_verify.size(); ++w)
      fmt::print("target window {}: {:.1f} us (cpu {:.1f}) = {:.2f} steps\n", w, 1e6 * t_verify[w],
                 1e6 * t_verify_cpu[w], t_verify_cpu[w] / t_step_cpu);
    return 0;
  }

  // Target-only greedy: the baseline (plans warmed by a first pass).
  ann::GenerateOptions gen;
  gen.max_tokens = tokens;
  target.truncate(0);
  (void)ann::generate(target, prompt_set[0], gen);
  std::vector<std::vector<std::int64_t>> baseline;
  Row base{"target only", 0.0, 0.0, true, {}};
  for (const auto& p : prompt_set) {
    target.truncate(0);
    const auto t0 = Clock::now();
    const std::clock_t c0 = std::clock();
    baseline.push_back(ann::generate(target, p, gen));
    base.cpu_seconds += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    base.seconds += seconds_since(t0);
    base.stats.emitted += static_cast<std::int64_t>(baseline.back().size());
    base.stats.target_passes += static_cast<std::int64_t>(baseline.back().size());
  }

  std::vector<Row> rows;
  std::stringstream ss(gammas_text);
  for (std::string g; std::getline(ss, g, ',');) {
    ann::SpeculativeOptions o;
    o.max_tokens = tokens;
    o.cost_ratio = cost_ratio;
    if (g == "auto") o.gamma_auto = true;
    else o.gamma = std::stoi(g);
    Row row{"K = " + g, 0.0, 0.0, true, {}};
    target.truncate(0);
    draft.truncate(0);
    (void)ann::speculative_generate(target, draft, prompt_set[0], o);  // warm-up: plans every window
    for (std::size_t i = 0; i < prompt_set.size(); ++i) {
      target.truncate(0);
      draft.truncate(0);
      const auto t0 = Clock::now();
      const std::clock_t c0 = std::clock();
      const ann::SpeculativeResult r = ann::speculative_generate(target, draft, prompt_set[i], o);
      row.cpu_seconds += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
      row.seconds += seconds_since(t0);
      row.identical = row.identical && r.tokens == baseline[i];
      add(row.stats, r.stats);
    }
    rows.push_back(row);
  }

  nlohmann::json j;
  j["prompts"] = prompts;
  j["tokens"] = tokens;
  j["threads"] = threads;
  j["context"] = context;
  j["target_step_us"] = 1e6 * t_step;
  j["draft_step_us"] = 1e6 * d_step;
  j["cost_ratio_measured"] = c;
  for (std::size_t w = 2; w < t_verify.size(); ++w) j["target_window_us"][std::to_string(w)] = 1e6 * t_verify[w];
  j["baseline_seconds"] = base.seconds;
  j["baseline_cpu_seconds"] = base.cpu_seconds;
  for (const Row& r : rows) {
    nlohmann::json x;
    x["config"] = r.config;
    x["seconds"] = r.seconds;
    x["speedup"] = base.seconds / r.seconds;
    x["cpu_seconds"] = r.cpu_seconds;
    x["cpu_speedup"] = base.cpu_seconds / r.cpu_seconds;
    x["identical"] = r.identical;
    x["alpha"] = r.stats.alpha();
    x["tokens_per_target_pass"] = r.stats.tokens_per_target_pass();
    x["expected_tokens_per_pass"] = r.stats.expected_tokens_per_pass();
    x["mean_gamma"] = r.stats.mean_gamma();
    x["expected_speedup"] = ann::expected_speedup(r.stats.alpha(), r.stats.mean_gamma(), c);
    x["target_seconds"] = r.stats.target_seconds;
    x["draft_seconds"] = r.stats.draft_seconds;
    j["rows"].push_back(x);
  }
  if (json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} prompts x {} tokens, {} thread(s); per-call times at context {}:\n", prompts, tokens, threads, context);
  fmt::print("  target step {:.1f} us (cpu {:.1f}), draft step {:.1f} us (cpu {:.1f}); c = {:.3f}\n", 1e6 * t_step,
             1e6 * t_step_cpu, 1e6 * d_step, 1e6 * d_step_cpu, c);
  for (std::size_t w = 2; w < t_verify.size(); ++w)
    fmt::print("  target window of {} tokens {:.1f} us (cpu {:.1f}) = {:.2f} steps\n", w, 1e6 * t_verify[w],
               1e6 * t_verify_cpu[w], t_verify[w] / t_step);
  fmt::print("\n| config | wall s | CPU s | speedup (wall) | speedup (CPU) | identical | alpha | tokens/pass | "
             "formula tokens/pass | formula speedup (c = {:.3f}) |\n|---|---|---|---|---|---|---|---|---|---|\n",
             c);
  fmt::print("| target only | {:.3f} | {:.3f} | 1.00 | 1.00 | - | - | 1.00 | 1.00 | 1.00 |\n", base.seconds,
             base.cpu_seconds);
  for (const Row& r : rows)
    fmt::print("| {} | {:.3f} | {:.3f} | {:.2f} | {:.2f} | {} | {:.3f} | {:.2f} | {:.2f} | {:.2f} |\n", r.config,
               r.seconds, r.cpu_seconds, base.seconds / r.seconds, base.cpu_seconds / r.cpu_seconds,
               r.identical ? "yes" : "NO", r.stats.alpha(), r.stats.tokens_per_target_pass(),
               r.stats.expected_tokens_per_pass(), ann::expected_speedup(r.stats.alpha(), r.stats.mean_gamma(), c));
  for (const Row& r : rows)
    if (!r.identical) return 1;
  return 0;
}
