// Model outputs meet a metric, a softmax or a sort only when finite. A NaN makes every comparison false: a
// loop that groups equal scores stops advancing, a sort's ordering is no longer strict weak (undefined
// behaviour in std::sort), an argmax returns whatever came first, and a metric of it is no number a user
// can defend. So every place that scores model outputs refuses a non-finite one here, naming the output,
// the sample and the element (docs/reliability.md, "Non-finite values").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "snnconv/core/error.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv {

struct NonFinite {
  std::int64_t index = 0;  // flat index of the first NaN or Inf
  float value = 0.0f;
};

// The first NaN or +-Inf of `values`, if any.
std::optional<NonFinite> first_non_finite(std::span<const float> values);

// Where an output was produced, for the message: "model output 'logits' of sample 3 of split 'test'".
struct OutputSite {
  std::string output;  // the graph output's name ("" when unknown)
  std::string item;    // "sample 3 of split 'test'", "window 7 of split 'val'", "the token at position 12"
  std::string hint;    // appended as is: what to check (an input far out of range, weights, ...)
};

// Throws NumericError "model output 'O' of ITEM is nan at [i, j] (of f32[a, b]): a metric of a non-finite
// output is undefined; HINT" when `values` (one item's output, `shape` without the batch dim; empty shape:
// a flat vector) holds a NaN or an Inf. Cost: one pass over the values, no allocation.
void require_finite_output(std::span<const float> values, const Shape& shape, const OutputSite& site,
                           const ErrorContext& context = {});

// The same for a whole f32 tensor whose first dim counts items: item i is named by `item_name(i)`.
// `first_item` numbers the first row (a batch starting at sample 64).
void require_finite_rows(const Tensor& values, std::int64_t first_item, const std::string& output,
                         const std::string& item_kind, const std::string& split, const std::string& hint,
                         const ErrorContext& context = {});

}  // namespace snnconv
