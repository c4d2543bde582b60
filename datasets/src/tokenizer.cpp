#include "snnconv/datasets/tokenizer.hpp"

#include <fmt/format.h>

namespace snnconv::datasets {

std::vector<std::int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> tokens(text.size());
  // Through unsigned char: a plain char is signed here and bytes >= 0x80 must stay 128..255.
  for (std::size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
  return tokens;
}

std::string ByteTokenizer::decode(std::span<const std::int32_t> tokens) const {
  std::string text(tokens.size(), '\0');
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::int32_t token = tokens[i];
    if (token < 0 || token >= kVocabSize)
      throw ParseError(fmt::format("byte tokenizer: token {} at position {} is outside 0..255", token, i));
    text[i] = static_cast<char>(static_cast<unsigned char>(token));
  }
  return text;
}

std::string ByteTokenizer::decode(const Tensor& tokens) const {
  if (tokens.dtype() == DType::u8) {
    std::span<const std::uint8_t> bytes = tokens.span<std::uint8_t>();
    return std::string(bytes.begin(), bytes.end());
  }
  if (!is_integer(tokens.dtype()))
    throw UnsupportedError(fmt::format("byte tokenizer: cannot decode a {} tensor", dtype_name(tokens.dtype())));
  std::vector<std::int64_t> values = tokens.to_i64();
  std::string text(values.size(), '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] < 0 || values[i] >= kVocabSize)
      throw ParseError(fmt::format("byte tokenizer: token {} at position {} is outside 0..255", values[i], i));
    text[i] = static_cast<char>(static_cast<unsigned char>(values[i]));
  }
  return text;
}

}  // namespace snnconv::datasets
