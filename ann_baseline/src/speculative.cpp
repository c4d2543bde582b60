// Speculative decoding. Bookkeeping: the sequence so far (prompt + emitted) has length S; each model holds a
// prefix of it in its KV cache and a backlog of the tokens it has not processed yet (the prompt at first,
// then the last emitted token, plus, after a round where every proposal was accepted, the draft's last
// proposal, which the draft proposed but never fed itself). A round:
//   1. draft: one call on its backlog gives q_0; propose x_0 ~ q_0; feed x_i to get q_{i+1}; ... x_{K-1}
//      (K draft calls; x_{K-1} is not fed);
//   2. target: one call on [backlog, x_0 .. x_{K-1}] gives p_0 .. p_K (rows backlog-1 .. backlog-1+K);
//   3. accept x_0, x_1, ... while the rule says so; at the first rejection emit the correction, or after K
//      acceptances the bonus token drawn from p_K;
//   4. truncate both caches to the accepted prefix; the emitted last token becomes the backlog.
#include "snnconv/ann_baseline/speculative.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "snnconv/core/error.hpp"

namespace snnconv::ann {

double expected_tokens_per_pass(double alpha, double gamma) {
  if (alpha >= 1.0) return gamma + 1.0;
  return (1.0 - std::pow(alpha, gamma + 1.0)) / (1.0 - alpha);
}

double expected_speedup(double alpha, double gamma, double cost_ratio) {
  return expected_tokens_per_pass(alpha, gamma) / (gamma * cost_ratio + 1.0);
}

double SpeculativeStats::alpha() const {
  const std::int64_t checked = accepted + rejected;
  return checked > 0 ? static_cast<double>(accepted) / static_cast<double>(checked) : 0.0;
}

double SpeculativeStats::acceptance_fraction() const {
  return proposed > 0 ? static_cast<double>(accepted) / static_cast<double>(proposed) : 0.0;
}

double SpeculativeStats::tokens_per_target_pass() const {
  return target_passes > 0 ? static_cast<double>(emitted) / static_cast<double>(target_passes) : 0.0;
}

double SpeculativeStats::mean_gamma() const {
  return rounds > 0 ? static_cast<double>(proposed) / static_cast<double>(rounds) : 0.0;
}

double SpeculativeStats::expected_tokens_per_pass() const {
  if (rounds == 0) return 0.0;
  double sum = 0.0;
  for (std::size_t k = 0; k < rounds_by_gamma.size(); ++k)
    sum += static_cast<double>(rounds_by_gamma[k]) * ann::expected_tokens_per_pass(alpha(), static_cast<double>(k));
  return sum / static_cast<double>(rounds);
}

Verdict verify_proposal(std::span<const double> p, std::span<const double> q, std::int64_t x, std::mt19937_64& rng) {
  if (p.size() != q.size())
    throw UsageError("verify_proposal: the target's distribution has " + std::to_string(p.size()) +
                     " entries, the draft's " + std::to_string(q.size()));
  if (x < 0 || x >= static_cast<std::int64_t>(q.size()))
    throw UsageError("verify_proposal: token " + std::to_string(x) + " outside the vocabulary");
  const double px = p[static_cast<std::size_t>(x)], qx = q[static_cast<std::size_t>(x)];
  if (!(qx > 0.0)) throw UsageError("verify_proposal: the proposed token " + std::to_string(x) + " has q(x) = 0");
  // u < p/q, written without the division: certain acceptance when p(x) >= q(x).
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  if (u * qx < px) return {true, x};
  std::vector<double> residual(p.size());
  double mass = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    residual[i] = std::max(0.0, p[i] - q[i]);
    mass += residual[i];
  }
  // p(x) < q(x) implies some p(i) > q(i) (both sum to 1); only rounding could leave no mass: fall back to p.
  return {false, sample_from(mass > 0.0 ? std::span<const double>(residual) : p, rng)};
}

namespace {

using Clock = std::chrono::steady_clock;

std::span<const float> row(const Tensor& logits, std::int64_t r) {
  const std::int64_t v = logits.dim(2);
  return {logits.data<float>() + r * v, static_cast<std::size_t>(v)};
}

std::int64_t argmax(std::span<const float> x) {
  require_finite_logits(x);
  return std::distance(x.begin(), std::max_element(x.begin(), x.end()));
}

Tensor run_window(DecodeSession& s, const std::vector<std::int64_t>& tokens, double& seconds) {
  const auto t0 = Clock::now();
  Tensor out = s.prefill(Tensor::from_vector<std::int64_t>({1, static_cast<std::int64_t>(tokens.size())}, tokens));
  seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

// The adaptive K (SpeculativeOptions::gamma_auto): the argmax of the expected speedup at the estimate a.
int best_gamma(double a, double cost_ratio, int gamma_max) {
  int best = 1;
  double best_value = -1.0;
  for (int k = 1; k <= gamma_max; ++k) {
    const double v = expected_speedup(a, k, cost_ratio);
    if (v > best_value + 1e-12) {
      best_value = v;
      best = k;
    }
  }
  return best;
}

}  // namespace

SpeculativeResult speculative_generate(DecodeSession& target, DecodeSession& draft,
                                       std::span<const std::int64_t> prompt, const SpeculativeOptions& o) {
  if (prompt.empty()) throw UsageError("speculative_generate: the prompt is empty");
  if (o.gamma < 1) throw UsageError("speculative decoding: gamma must be >= 1, got " + std::to_string(o.gamma));
  if (o.gamma_auto && o.gamma_max < o.gamma)
    throw UsageError("speculative decoding: gamma_max (" + std::to_string(o.gamma_max) + ") is below gamma (" +
                     std::to_string(o.gamma) + ")");
  if (o.gamma_auto && !(o.cost_ratio >= 0.0)) throw UsageError("speculative decoding: cost_ratio must be >= 0");
  const std::int64_t vocab = target.vocab_size(), draft_vocab = draft.vocab_size();
  if (vocab != draft_vocab)
    throw UsageError("speculative decoding needs one vocabulary: the target has " + std::to_string(vocab) +
                     " tokens, the draft " + std::to_string(draft_vocab));
  if (target.length() != draft.length())
    throw UsageError("speculative decoding: the target holds " + std::to_string(target.length()) +
                     " positions, the draft " + std::to_string(draft.length()));
  {
    const float probe = 0.0f;  // validates temperature / top-k / top-p before any work
    (void)sampling_distribution(std::span<const float>(&probe, 1), o.sampling);
  }
  const bool greedy = o.sampling.temperature <= 0.0f;
  std::mt19937_64 rng(o.sampling.seed);
  const std::int64_t target_limit = target.max_positions(), draft_limit = draft.max_positions();

  SpeculativeResult result;
  SpeculativeStats& st = result.stats;
  std::vector<std::int64_t>& out = result.tokens;
  std::vector<std::int64_t> target_backlog(prompt.begin(), prompt.end());
  std::vector<std::int64_t> draft_backlog = target_backlog;
  std::int64_t seq = target.length() + static_cast<std::int64_t>(prompt.size());  // S, backlog included
  int gamma = o.gamma;
  double a_hat = 0.7;
  std::vector<std::vector<double>> q;  // the draft's distributions of one round (sampling mode)
  std::vector<std::int64_t> x;         // the proposals of one round
  bool stopped = false;

  while (!stopped && static_cast<int>(out.size()) < o.max_tokens) {
    // As generate(): stop when the last emitted token has no position left (the first round's prompt is
    // refused by the session itself when too long).
    if (!out.empty() && target_limit > 0 && seq > target_limit) break;
    std::int64_t k = std::min<std::int64_t>(gamma, o.max_tokens - static_cast<std::int64_t>(out.size()) - 1);
    if (target_limit > 0) k = std::min(k, target_limit - seq);
    if (draft_limit > 0) k = std::min(k, draft_limit - seq + 1);
    k = std::max<std::int64_t>(k, 0);

    // 1. Proposals.
    x.clear();
    q.clear();
    const std::int64_t draft_base = draft.length();
    if (k > 0) {
      Tensor dl = run_window(draft, draft_backlog, st.draft_seconds);
      ++st.draft_passes;
      for (std::int64_t i = 0; i < k; ++i) {
        const std::span<const float> r = row(dl, dl.dim(1) - 1);
        if (greedy) {
          x.push_back(argmax(r));
        } else {
          q.push_back(sampling_distribution(r, o.sampling));
          x.push_back(sample_from(q.back(), rng));
        }
        if (i + 1 < k) {
          dl = run_window(draft, {x.back()}, st.draft_seconds);
          ++st.draft_passes;
        }
      }
    }

    // 2. One target pass over the backlog and the proposals.
    const std::int64_t target_base = target.length();
    const auto tb = static_cast<std::int64_t>(target_backlog.size());
    std::vector<std::int64_t> window = target_backlog;
    window.insert(window.end(), x.begin(), x.end());
    const Tensor tl = run_window(target, window, st.target_seconds);
    ++st.target_passes;

    // 3. Accept the longest prefix the rule allows, then the correction or the bonus token.
    std::int64_t n = 0, next = -1;
    for (; n < k; ++n) {
      const std::span<const float> r = row(tl, tb - 1 + n);
      if (greedy) {
        const std::int64_t want = argmax(r);
        if (want == x[static_cast<std::size_t>(n)]) continue;
        next = want;
        break;
      }
      const std::vector<double> p = sampling_distribution(r, o.sampling);
      const Verdict v = verify_proposal(p, q[static_cast<std::size_t>(n)], x[static_cast<std::size_t>(n)], rng);
      if (v.accepted) continue;
      next = v.token;
      break;
    }
    if (n == k) {
      const std::span<const float> r = row(tl, tb - 1 + k);
      next = greedy ? argmax(r) : sample_from(sampling_distribution(r, o.sampling), rng);
    } else {
      ++st.rejected;
    }
    st.proposed += k;
    st.accepted += n;
    ++st.rounds;
    if (st.rounds_by_gamma.size() <= static_cast<std::size_t>(k))
      st.rounds_by_gamma.resize(static_cast<std::size_t>(k) + 1);
    ++st.rounds_by_gamma[static_cast<std::size_t>(k)];

    for (std::int64_t i = 0; i <= n && !stopped; ++i) {
      const std::int64_t t = i < n ? x[static_cast<std::size_t>(i)] : next;
      out.push_back(t);
      stopped = t == o.stop_token;
    }

    // 4. Roll back to the accepted prefix; the emitted last token is what both models see next.
    target.truncate(target_base + tb + n);
    target_backlog.assign(1, next);
    if (k > 0) {
      if (n < k) {
        draft.truncate(draft_base + static_cast<std::int64_t>(draft_backlog.size()) + n);
        draft_backlog.assign(1, next);
      } else {
        draft_backlog = {x.back(), next};  // the last proposal was accepted but never fed to the draft
      }
    } else {
      draft_backlog.push_back(next);
    }
    seq += n + 1;

    if (o.gamma_auto && k > 0) {
      for (std::int64_t i = 0; i < n + (n < k ? 1 : 0); ++i) a_hat += ((i < n ? 1.0 : 0.0) - a_hat) / 16.0;
      a_hat = std::clamp(a_hat, 0.0, 0.99);
      gamma = best_gamma(a_hat, o.cost_ratio, o.gamma_max);
    }
  }
  st.emitted = static_cast<std::int64_t>(out.size());
  return result;
}

}  // namespace snnconv::ann
