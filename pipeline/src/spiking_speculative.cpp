// speculative_generate_spiking: greedy speculative decoding with the SNN read at fewer steps as the draft
// and the SNN at quiescence as the target (spiking_generate.hpp).
#include <chrono>
#include <random>

#include "snnconv/pipeline/spiking_generate.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::pipeline {
namespace {

std::int64_t greedy_at(const Tensor& logits, std::int64_t row, std::int64_t T) {
  const std::int64_t v = logits.numel() / T;
  std::mt19937_64 unused;  // greedy draws no random number
  return ann::sample_token(std::span<const float>(logits.data<float>() + row * v, static_cast<std::size_t>(v)),
                           ann::SamplingOptions{}, unused);
}

}  // namespace

SpikingSpeculativeResult speculative_generate_spiking(const QuantizedModel& m, std::span<const std::int64_t> prompt,
                                                      const SpikingSpeculativeOptions& o) {
  if (prompt.empty()) throw UsageError("generation needs a non-empty prompt");
  if (o.max_tokens < 1) throw UsageError("--max-tokens must be >= 1, got " + std::to_string(o.max_tokens));
  if (o.gamma < 1) throw UsageError("--gamma must be >= 1, got " + std::to_string(o.gamma));
  if (o.draft_steps < 1) throw UsageError("--draft-steps must be >= 1, got " + std::to_string(o.draft_steps));
  const Graph& g = m.snn;
  const TensorType& it = g.value(g.inputs().at(0)).type;
  if (g.inputs().size() != 1 || !it.is_static() || it.static_shape().size() != 2 || it.static_shape()[0] != 1)
    throw UnsupportedError("generation needs a decoder with one token input [1, T]");
  const std::int64_t T = it.static_shape()[1];
  const auto P = static_cast<std::int64_t>(prompt.size());
  if (P > T) throw UsageError("the prompt does not fit the window of " + std::to_string(T) + " positions");

  std::vector<std::int64_t> window(static_cast<std::size_t>(T), 0);
  std::copy(prompt.begin(), prompt.end(), window.begin());
  auto input = [&] {
    std::vector<Tensor> in;
    in.push_back(Tensor::from_vector<std::int64_t>({1, T}, window).cast(it.dtype));
    return in;
  };
  snn::Engine target(g, {o.mode, o.max_steps, o.threads});
  snn::Engine draft(g, {o.mode, o.draft_steps, o.threads});
  Ledger lt = Ledger::for_graph(g), ld = Ledger::for_graph(g);
  SpikingSpeculativeResult r;
  r.window = T;
  const auto t0 = std::chrono::steady_clock::now();
  auto target_call = [&](bool first, std::int64_t length) {
    const std::vector<Tensor> in = input();
    snn::RunResult rr = first ? target.prefill(in, length, &lt) : target.extend(in, length, &lt);
    ++r.target_calls;
    r.target_steps += rr.steps;
    return rr;
  };
  auto draft_call = [&](bool first, std::int64_t length) {
    const std::vector<Tensor> in = input();
    snn::RunResult rr = first ? draft.prefill(in, length, &ld) : draft.extend(in, length, &ld);
    ++r.draft_calls;
    r.draft_steps += rr.steps;
    return rr;
  };

  // Invariant at a round's start: the target has simulated positions [0, C); window[0..C] are committed,
  // window[C] (the target's greedy token from row C-1) is emitted but not simulated yet. The draft has
  // simulated a prefix of at most C committed positions (continued from a non-quiescent state).
  std::int64_t C = P;
  r.tokens.push_back(greedy_at(target_call(true, P).outputs.at(0), P - 1, T));
  draft_call(true, P);
  while (static_cast<int>(r.tokens.size()) < o.max_tokens && C < T) {
    window[static_cast<std::size_t>(C)] = r.tokens.back();
    const auto room = static_cast<std::int64_t>(o.max_tokens) - static_cast<std::int64_t>(r.tokens.size());
    const std::int64_t gam = std::min<std::int64_t>({o.gamma, room - 1, T - C - 1});
    std::vector<std::int64_t> d;
    if (gam > 0) {
      snn::RunResult dr = draft_call(false, C + 1);  // positions d_len..C
      draft.checkpoint();                             // the draft at C + 1 committed positions
      for (std::int64_t i = 1; i <= gam; ++i) {
        d.push_back(greedy_at(dr.outputs.at(0), C + i - 1, T));
        if (i == gam) break;
        window[static_cast<std::size_t>(C + i)] = d.back();
        dr = draft_call(false, C + i + 1);
      }
      ++r.rounds;
      r.proposed += gam;
      for (std::int64_t i = 1; i <= gam; ++i) window[static_cast<std::size_t>(C + i)] = d[static_cast<std::size_t>(i - 1)];
      target.checkpoint();
    }
    const snn::RunResult tr = target_call(false, C + gam + 1);
    std::int64_t n = 0;
    while (n < gam && d[static_cast<std::size_t>(n)] == greedy_at(tr.outputs.at(0), C + n, T)) ++n;
    const std::int64_t bonus = greedy_at(tr.outputs.at(0), C + n, T);
    r.accepted += n;
    for (std::int64_t i = 0; i < n; ++i) r.tokens.push_back(d[static_cast<std::size_t>(i)]);
    r.tokens.push_back(bonus);
    if (n < gam) {  // drop the rejected positions: back to C, then the accepted ones again
      target.rollback();
      const snn::RunResult redo = target_call(false, C + n + 1);
      if (greedy_at(redo.outputs.at(0), C + n, T) != bonus)
        throw NumericError("speculative SNN decoding: the target's re-extended row differs from its checked row");
    }
    // The draft simulated up to C + gam with d_1..d_{gam-1}; keep that when they were all accepted, else
    // go back to its checkpoint at C + 1 (it catches up in one extend next round).
    if (gam > 0 && n < gam - 1) draft.rollback();
    C += n + 1;
    if (C >= T) break;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.target_work = lt.total();
  r.draft_work = ld.total();
  if (static_cast<int>(r.tokens.size()) > o.max_tokens) r.tokens.resize(static_cast<std::size_t>(o.max_tokens));
  return r;
}

}  // namespace snnconv::pipeline
