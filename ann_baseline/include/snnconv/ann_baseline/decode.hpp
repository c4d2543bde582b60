// KV-cache decoding of a causal decoder: prefill a prompt, then step one token at a time, each Attention
// node attending over its cached keys/values plus the new ones (docs/fusion.md, "KV cache").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv::ann {

// The decoder graph for a window of `new_tokens` tokens: canonical (fused) and prepared by prepare_decoder,
// so its inputs are `tokens` i64 [B, new_tokens] and `positions` i64 [new_tokens], its first output the
// logits [B, new_tokens, V]. Shapes are bound per window length, so the provider (converter side) imports
// and caches one graph per length; the reference stays valid for the session's lifetime.
using DecoderGraphs = std::function<const Graph&(std::int64_t new_tokens)>;

struct DecodeOptions {
  int threads = 0;  // 0: every core; results are bit-identical for any count
};

// Each window length is planned once (first use) and reused. A token's logits are bit-identical whatever
// the window it runs in (a step, a speculative verification window, a prefill): the decode path uses
// row-invariant kernels, so speculative greedy decoding reproduces plain greedy decoding exactly.
class DecodeSession {
 public:
  explicit DecodeSession(DecoderGraphs graphs, DecodeOptions options = {});
  ~DecodeSession();
  DecodeSession(DecodeSession&&) noexcept;
  DecodeSession& operator=(DecodeSession&&) noexcept;

  // Appends tokens i64 [B, n] at positions length()..length()+n-1; returns their logits [B, n, V].
  Tensor prefill(const Tensor& tokens);
  // One new token per batch row; returns logits [B, 1, V].
  Tensor step(std::span<const std::int64_t> tokens);
  Tensor step(std::int64_t token) { return step(std::span<const std::int64_t>(&token, 1)); }
  // Rolls the cache back to its first `length` positions (speculative decoding rejects a draft this way).
  // UsageError when length exceeds the current length.
  void truncate(std::int64_t length);
  std::int64_t length() const;
  // Positions the model's table covers (metadata "snnconv.max_positions"); 0 when unknown.
  std::int64_t max_positions() const;
  // The vocabulary size V of the logits (the graph's first output [B, n, V]); ShapeError if not static.
  std::int64_t vocab_size() const;
  // Bytes held by the K/V caches (their capacity), for ledgers and reports.
  std::int64_t cache_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace snnconv::ann
