// generate_spiking: greedy or sampled decoding on the SNN (incremental: prefill, then extend per token) or
// on the QANN reference (run_qann on the window, read the last live row; the model is causal, so the rows
// after it do not matter).
#include "snnconv/pipeline/spiking_generate.hpp"

#include <chrono>
#include <cstring>
#include <random>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Position `row` of the first batch row of the first graph output [B, T, V] (or [T, V]).
std::span<const float> logits_row(const Tensor& logits, std::int64_t row, std::int64_t T, std::int64_t B = 1) {
  if (logits.dtype() != DType::f32 || logits.numel() % (T * B) != 0)
    throw UnsupportedError("generation: the model's first output must be f32 logits [B, T, V], got " +
                           shape_to_string(logits.shape()));
  const std::int64_t v = logits.numel() / (T * B);
  return {logits.data<float>() + row * v, static_cast<std::size_t>(v)};
}

}  // namespace

SpikingGenerateResult generate_spiking(const QuantizedModel& m, std::span<const std::int64_t> prompt,
                                       const SpikingGenerateOptions& o) {
  if (prompt.empty()) throw UsageError("generation needs a non-empty prompt");
  if (o.max_tokens < 1) throw UsageError("--max-tokens must be >= 1, got " + std::to_string(o.max_tokens));
  const Graph& g = m.snn;
  if (g.inputs().size() != 1 || g.outputs().empty())
    throw UnsupportedError("generation needs a decoder with one token input [1, T]");
  const TensorType& it = g.value(g.inputs()[0]).type;
  if (!it.is_static() || it.static_shape().size() != 2 || !is_integer(it.dtype))
    throw UnsupportedError("generation needs a token input [B, T], got " + type_to_string(it));
  // A static-batch export (B > 1) runs the prompt in its first row and repeats it in the others; the SNN then
  // re-simulates the whole window per token (incremental decoding keeps the state of batch-1 graphs only).
  const std::int64_t B = it.static_shape()[0];
  const std::int64_t T = it.static_shape()[1];
  if (B > 1 && (o.resimulate || o.early_read))
    throw UsageError("--resimulate and --early-read need a batch-1 export (this one fixes the batch at " +
                     std::to_string(B) + ")");
  if (static_cast<std::int64_t>(prompt.size()) > T)
    throw UsageError("the prompt has " + std::to_string(prompt.size()) + " tokens, the window only " +
                     std::to_string(T) + " (--seq)");

  std::vector<std::int64_t> window(static_cast<std::size_t>(T), 0);
  std::copy(prompt.begin(), prompt.end(), window.begin());
  auto input = [&] {
    std::vector<std::int64_t> rows;
    for (std::int64_t b = 0; b < B; ++b) rows.insert(rows.end(), window.begin(), window.end());
    std::vector<Tensor> in;
    in.push_back(Tensor::from_vector<std::int64_t>({B, T}, rows).cast(it.dtype));
    return in;
  };
  std::mt19937_64 rng(o.sampling.seed);
  SpikingGenerateResult r;
  r.window = T;
  std::int64_t length = static_cast<std::int64_t>(prompt.size());

  if (o.engine == SpikingEngine::qann) {
    ann::QannCache qcache;  // the W8A8 GEMM's packed weights, once for the whole generation
    const auto t0 = Clock::now();
    while (static_cast<int>(r.tokens.size()) < o.max_tokens) {
      const std::vector<Tensor> in = input();
      const auto t1 = Clock::now();
      const ann::QannResult q = ann::run_qann(m.qann, in, {.int8_kernels = true, .cache = &qcache});
      const double sec = seconds_since(t1);
      const std::int64_t tok = ann::sample_token(logits_row(q.outputs.at(0), length - 1, T, B), o.sampling, rng);
      r.tokens.push_back(tok);
      DecodeStepStats s;
      s.length = length;
      s.token = tok;
      s.seconds = sec;
      (r.tokens.size() == 1 ? r.prefill : r.steps.emplace_back()) = s;
      if (o.on_token) o.on_token(static_cast<std::int64_t>(r.tokens.size()), o.max_tokens);
      if (length >= T) break;
      window[static_cast<std::size_t>(length++)] = tok;
    }
    const auto made = static_cast<std::int64_t>(r.tokens.size());
    if (o.on_token && made < o.max_tokens) o.on_token(made, made);  // stopped at the window's end
    r.seconds = seconds_since(t0);
    return r;
  }

  snn::Engine engine(g, {o.mode, o.max_steps, o.threads});
  std::unique_ptr<snn::Engine> fresh;  // resimulation from rest
  if (o.resimulate) fresh = std::make_unique<snn::Engine>(g, snn::EngineOptions{o.mode, o.max_steps, o.threads});
  r.ledger = Ledger::for_graph(g);
  r.logit_mismatches = o.check_exact ? 0 : -1;
  while (static_cast<int>(r.tokens.size()) < o.max_tokens) {
    const std::vector<Tensor> in = input();
    Ledger call = Ledger::for_graph(g);
    std::vector<std::int64_t> by_step;
    const snn::StepObserver read_early = [&](int, const std::vector<Tensor>& outs) {
      std::mt19937_64 unused;  // greedy draws no random number
      by_step.push_back(ann::sample_token(logits_row(outs.at(0), length - 1, T, B), ann::SamplingOptions{}, unused));
    };
    const snn::StepObserver* obs = o.early_read ? &read_early : nullptr;
    const auto t0 = Clock::now();
    const snn::RunResult sr = B > 1              ? engine.run(in, &call, obs)
                              : r.tokens.empty() ? engine.prefill(in, length, &call, obs)
                                                 : engine.extend(in, length, &call, obs);
    const double sec = seconds_since(t0);
    r.seconds += sec;
    r.ledger.merge(call);
    const std::span<const float> row = logits_row(sr.outputs.at(0), length - 1, T, B);
    const std::int64_t tok = ann::sample_token(row, o.sampling, rng);
    DecodeStepStats s;
    s.length = length;
    s.token = tok;
    s.steps = sr.steps;
    s.quiescent = sr.quiescent;
    s.work = call.total();
    s.seconds = sec;
    s.argmax_by_step = std::move(by_step);
    if (fresh) {
      Ledger whole = Ledger::for_graph(g);
      const auto t1 = Clock::now();
      const snn::RunResult fr = fresh->prefill(in, length, &whole);
      s.resimulated_seconds = seconds_since(t1);
      s.resimulated = whole.total();
      s.resimulated_steps = fr.steps;
    }
    if (o.check_exact) {
      const ann::QannResult q = ann::run_qann(m.qann, in);  // the definition the SNN is checked against
      const std::span<const float> qrow = logits_row(q.outputs.at(0), length - 1, T, B);
      for (std::size_t i = 0; i < row.size(); ++i)
        r.logit_mismatches += std::memcmp(&row[i], &qrow[i], sizeof(float)) != 0;
    }
    r.tokens.push_back(tok);
    (r.tokens.size() == 1 ? r.prefill : r.steps.emplace_back()) = s;
    if (o.on_token) o.on_token(static_cast<std::int64_t>(r.tokens.size()), o.max_tokens);
    if (length >= T) break;
    window[static_cast<std::size_t>(length++)] = tok;
  }
  const auto made = static_cast<std::int64_t>(r.tokens.size());
  if (o.on_token && made < o.max_tokens) o.on_token(made, made);  // stopped at the window's end
  r.ledger.tokens = r.tokens.size();
  return r;
}

std::vector<double> early_read_agreement(const SpikingGenerateResult& r) {
  std::vector<const DecodeStepStats*> calls = {&r.prefill};
  for (const DecodeStepStats& s : r.steps) calls.push_back(&s);
  std::size_t longest = 0;
  for (const DecodeStepStats* c : calls) longest = std::max(longest, c->argmax_by_step.size());
  std::vector<double> agree(longest, 0.0);
  std::size_t n = 0;
  for (const DecodeStepStats* c : calls) {
    if (c->argmax_by_step.empty()) continue;
    ++n;
    for (std::size_t k = 0; k < longest; ++k)
      agree[k] += c->argmax_by_step[std::min(k, c->argmax_by_step.size() - 1)] == c->token ? 1.0 : 0.0;
  }
  for (double& a : agree) a = n ? a / static_cast<double>(n) : 0.0;
  return agree;
}

}  // namespace snnconv::pipeline
