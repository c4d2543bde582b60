// The per-window-length decoder graphs a DecodeSession runs on: an ONNX causal decoder imported with its
// sequence dim bound to the window length, fused and prepared (explicit positions), cached per length.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "snnconv/ann_baseline/decode.hpp"
#include "snnconv/core/graph.hpp"

namespace snnconv {

class DecoderGraphCache {
public:
  // Reads the model once to find its token input's symbolic [batch, seq] dims. UnsupportedError when the
  // token input has no symbolic sequence dim (a static export cannot decode step by step).
  explicit DecoderGraphCache(std::string onnx_path, std::int64_t batch = 1);

  // The graph for `new_tokens` new tokens (imported on first use; the reference stays valid).
  const Graph& get(std::int64_t new_tokens);
  // A provider for ann::DecodeSession; `this` must outlive the sessions using it.
  ann::DecoderGraphs provider() {
    return [this](std::int64_t n) -> const Graph& { return get(n); };
  }
  const std::string& seq_symbol() const { return seq_symbol_; }

private:
  std::string path_;
  std::int64_t batch_;
  std::string batch_symbol_, seq_symbol_;
  std::map<std::int64_t, std::unique_ptr<Graph>> graphs_;
};

}  // namespace snnconv
