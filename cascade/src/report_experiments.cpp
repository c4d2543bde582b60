// The report's optional experiments (report_experiments.hpp).
#include "snnconv/cascade/report_experiments.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>

#include "snnconv/ann_baseline/decode.hpp"
#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/ann_baseline/speculative.hpp"
#include "snnconv/converter/decoder.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/reader.hpp"

namespace snnconv::cascade {

PipelineResult::Speculative measure_speculative(const std::string& target, const std::string& data,
                                                const std::string& split, int threads,
                                                const SpeculativeExperimentOptions& o) {
  using Clock = std::chrono::steady_clock;
  if (o.gamma < 1 || o.prompts < 1 || o.max_tokens < 1 || o.prompt_tokens < 1)
    throw UsageError("--gamma, --spec-prompts and --spec-tokens must be >= 1");
  if (data.empty()) throw UsageError("--draft needs the model's dataset (--data) for its prompts");
  const datasets::DatasetReader reader(data);
  if (!reader.has_split(split) || reader.info().task != datasets::Task::language_model)
    throw UsageError(fmt::format("--draft: '{}' split '{}' is not a language-model token stream", data, split));
  const std::int64_t stream = reader.shape(split, "tokens").at(0);
  const std::int64_t stride = (stream - o.prompt_tokens) / o.prompts;
  if (stride < 1) throw UsageError("--draft: the token stream is too short for the prompts asked for");
  DecoderGraphCache target_graphs(target), draft_graphs(o.draft);
  const int n_threads = std::max(1, threads);
  ann::DecodeSession target_session(target_graphs.provider(), {n_threads});
  ann::DecodeSession draft_session(draft_graphs.provider(), {n_threads});
  PipelineResult::Speculative s;
  s.draft = o.draft;
  s.data = data;
  s.split = split;
  s.prompts = o.prompts;
  s.prompt_tokens = o.prompt_tokens;
  s.max_tokens = o.max_tokens;
  s.gamma = o.gamma;
  s.identical = true;
  ann::SpeculativeStats sum;
  for (int i = 0; i < o.prompts; ++i) {
    const std::vector<std::int64_t> prompt = reader.read_range(split, "tokens", i * stride, o.prompt_tokens).to_i64();
    target_session.truncate(0);
    ann::GenerateOptions g;
    g.max_tokens = o.max_tokens;
    auto t0 = Clock::now();
    const std::vector<std::int64_t> plain = ann::generate(target_session, prompt, g);
    s.target_only_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    target_session.truncate(0);
    draft_session.truncate(0);
    ann::SpeculativeOptions so;
    so.max_tokens = o.max_tokens;
    so.gamma = o.gamma;
    t0 = Clock::now();
    const ann::SpeculativeResult spec = ann::speculative_generate(target_session, draft_session, prompt, so);
    s.speculative_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    s.identical = s.identical && spec.tokens == plain;
    sum.emitted += spec.stats.emitted;
    sum.rounds += spec.stats.rounds;
    sum.proposed += spec.stats.proposed;
    sum.accepted += spec.stats.accepted;
    sum.rejected += spec.stats.rejected;
    sum.target_passes += spec.stats.target_passes;
    sum.draft_passes += spec.stats.draft_passes;
    if (sum.rounds_by_gamma.size() < spec.stats.rounds_by_gamma.size())
      sum.rounds_by_gamma.resize(spec.stats.rounds_by_gamma.size());
    for (std::size_t k = 0; k < spec.stats.rounds_by_gamma.size(); ++k)
      sum.rounds_by_gamma[k] += spec.stats.rounds_by_gamma[k];
  }
  s.emitted = sum.emitted;
  s.target_passes = sum.target_passes;
  s.draft_passes = sum.draft_passes;
  s.alpha = sum.alpha();
  s.tokens_per_target_pass = sum.tokens_per_target_pass();
  s.expected_tokens_per_pass = sum.expected_tokens_per_pass();
  s.speedup = s.speculative_seconds > 0 ? s.target_only_seconds / s.speculative_seconds : 0.0;
  return s;
}

std::int64_t user_cascade_rows(const PipelineResult& r) {
  const std::int64_t n =
      r.snn ? r.snn->samples : std::min<std::int64_t>(200, r.ann.samples > 0 ? r.ann.samples : 200);
  return std::max<std::int64_t>(n, 4);
}

std::string user_cascade_profile(const PipelineResult& r) {
  for (const hw::Profile& p : r.profiles)
    if (p.kind == hw::ProfileKind::neuromorphic) return p.name;
  return r.profiles.empty() ? "loihi" : r.profiles.front().name;
}

CascadeResult run_user_cascade(const PipelineResult& r, const UserCascadeOptions& o) {
  CascadeOptions co;
  co.stages = o.stages;
  co.self_test = o.self_test;
  co.tolerance = o.tolerance;
  co.data = r.ann.data;
  co.calib_samples = o.calib_samples;
  co.threads = std::max(1, o.threads);
  const std::int64_t n = user_cascade_rows(r);
  co.calib_split = fmt::format("{}:0:{}", o.split, n / 2);
  co.eval_split = fmt::format("{}:{}:{}", o.split, n / 2, n);
  co.profile = user_cascade_profile(r);
  return run_cascade(co);
}

}  // namespace snnconv::cascade
