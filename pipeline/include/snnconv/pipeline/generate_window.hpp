// Generation on the dense engine for an export whose sequence length is fixed (torch's default export without
// dynamic_axes): no graph can be bound per window length, so there is no KV cache; the whole window runs once per
// token, the prompt zero-padded to the export's length (causal: the padding changes nothing before it) and, in a
// static-batch export, repeated in every row. `snnconv generate` uses it when the token input's length is fixed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "snnconv/ann_baseline/generate.hpp"
#include "snnconv/pipeline/model_source.hpp"

namespace snnconv::pipeline {

struct WindowGenerateResult {
  std::vector<std::int64_t> tokens;  // generated (prompt excluded)
  std::int64_t window = 0;           // the export's sequence length T (generation stops at it)
  std::int64_t batch = 1;            // the export's batch (the prompt runs in every row)
  std::int64_t passes = 0;           // whole-window runs
  double seconds = 0.0;
};

// UsageError for an empty prompt or one longer than the window; UnsupportedError for a model that is not a
// causal decoder with one token input [B, T] and logits [B, T, V].
WindowGenerateResult generate_window(const ModelSource& source, std::span<const std::int64_t> prompt,
                                     const ann::GenerateOptions& options, int threads = 0);

}  // namespace snnconv::pipeline
