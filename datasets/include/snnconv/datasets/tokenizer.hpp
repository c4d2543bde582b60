// The byte-level tokenizer of every text model: token id = byte value (vocabulary 256), so decoding is an
// exact round trip of any byte string, valid UTF-8 or not.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/tensor.hpp"

namespace snnconv::datasets {

class ByteTokenizer {
 public:
  static constexpr std::int32_t kVocabSize = 256;
  // Answers of the prompt -> answer tasks end with this byte (docs/datasets.md).
  static constexpr std::int32_t kEndToken = '\n';

  std::int32_t vocab_size() const { return kVocabSize; }
  std::vector<std::int32_t> encode(std::string_view text) const;
  // ParseError naming the position when a token is outside 0..255.
  std::string decode(std::span<const std::int32_t> tokens) const;
  // Any integer tensor (u8 token streams of the files, i32/i64 model outputs), flattened.
  std::string decode(const Tensor& tokens) const;
};

}  // namespace snnconv::datasets
