#include "snnconv/pipeline/metrics.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "snnconv/core/error.hpp"

namespace snnconv::pipeline {

std::int64_t argmax_row(std::span<const float> row) {
  std::int64_t best = 0;
  for (std::size_t j = 1; j < row.size(); ++j) {
    const float v = row[j], b = row[static_cast<std::size_t>(best)];
    if (!std::isnan(v) && (v > b || std::isnan(b))) best = static_cast<std::int64_t>(j);
  }
  return best;
}

float two_class_probability(float logit0, float logit1) {
  const float m = std::max(logit0, logit1);
  const float e0 = std::exp(logit0 - m), e1 = std::exp(logit1 - m);
  return e1 / (e0 + e1);
}

double roc_auc(std::span<const float> score, std::span<const std::int64_t> label) {
  if (score.size() != label.size())
    throw UsageError(fmt::format("roc_auc: {} scores but {} labels", score.size(), label.size()));
  for (std::size_t i = 0; i < score.size(); ++i)
    if (std::isnan(score[i])) throw NumericError(fmt::format("roc_auc: the score of sample {} is nan", i));
  std::vector<std::size_t> order(score.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  double rank_sum = 0.0, positives = 0.0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i + 1;  // a group holds at least its first element: i advances on every pass
    while (j < order.size() && score[order[j]] == score[order[i]]) ++j;
    const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t t = i; t < j; ++t)
      if (label[order[t]] == 1) {
        rank_sum += avg_rank;
        positives += 1.0;
      }
    i = j;
  }
  const double negatives = static_cast<double>(score.size()) - positives;
  if (positives == 0.0 || negatives == 0.0) return std::nan("");
  return (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives);
}

double cross_entropy_nats(std::span<const float> logits, std::int64_t vocab, std::span<const std::int64_t> target) {
  if (vocab < 1 || logits.size() < target.size() * static_cast<std::size_t>(vocab))
    throw UsageError(fmt::format("cross_entropy_nats: {} logits do not hold {} rows of {}", logits.size(),
                                 target.size(), vocab));
  double nats = 0.0;
  for (std::size_t t = 0; t < target.size(); ++t) {
    if (target[t] < 0) continue;
    if (target[t] >= vocab)
      throw UsageError(fmt::format("cross_entropy_nats: target {} of row {} is outside the vocabulary of {}",
                                   target[t], t, vocab));
    const std::span<const float> row = logits.subspan(t * static_cast<std::size_t>(vocab), static_cast<std::size_t>(vocab));
    const float mx = row[static_cast<std::size_t>(argmax_row(row))];
    double sum = 0.0;
    for (float v : row) sum += std::exp(static_cast<double>(v - mx));
    nats += std::log(sum) - static_cast<double>(row[static_cast<std::size_t>(target[t])] - mx);
  }
  return nats;
}

}  // namespace snnconv::pipeline
