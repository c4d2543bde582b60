// The scoring functions evaluate() and run_spiking() apply to model outputs, public so that tests and the
// `metrics` fuzz harness (tools/fuzz) call exactly what the product calls. Each terminates on any input:
// loops advance by construction (an index moves on every iteration, whatever the comparisons say), and a
// non-finite value where a number must be ordered is refused with a NumericError rather than sorted.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace snnconv::pipeline {

// Index of the largest value, the first on ties. NaN entries are never chosen unless every entry is NaN
// (then 0). Callers refuse non-finite outputs first (core/finite.hpp); this only has to terminate.
std::int64_t argmax_row(std::span<const float> row);

// Softmax probability of class 1 of a two-class output, in f32 as torch.softmax computes it (its
// saturation to 1.0 makes the same ties the recorded AUC saw).
float two_class_probability(float logit0, float logit1);

// Area under the ROC curve of `score` for label 1 against every other label: the Mann-Whitney statistic
// with tied scores ranked at their average rank. NaN when one class is absent; NumericError when a score is
// NaN (a NaN has no rank). Sizes must match (UsageError).
double roc_auc(std::span<const float> score, std::span<const std::int64_t> label);

// Summed -log softmax(row)[target] in nats over `count` rows of `vocab` logits; rows whose target is < 0 are
// skipped. A target >= vocab is a UsageError. The caller refuses non-finite logits first.
double cross_entropy_nats(std::span<const float> logits, std::int64_t vocab, std::span<const std::int64_t> target);

}  // namespace snnconv::pipeline
