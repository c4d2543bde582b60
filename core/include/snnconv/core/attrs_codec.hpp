// A lossless flat encoding of Attrs as 64-bit words (floats and doubles bit-cast, vectors length-prefixed),
// for model files (datasets/model_file.hpp). Decoding checks the word count and every enum's range.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "snnconv/core/attrs.hpp"

namespace snnconv {

std::vector<std::int64_t> encode_attrs(const Attrs& a);
// `index` is the Attrs alternative (Attrs::index()). Throws ParseError naming `what` on a malformed encoding.
Attrs decode_attrs(std::size_t index, std::span<const std::int64_t> words, const std::string& what);

}  // namespace snnconv
