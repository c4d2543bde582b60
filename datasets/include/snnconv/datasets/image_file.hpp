// Image files for `snnconv datasets import images DIR` (docs/datasets.md, "Your own files"), decoded without an
// image library: PNG (8-bit gray, gray+alpha, RGB, RGBA and palette; non-interlaced; every filter type; chunk
// CRCs checked) and binary netpbm (P5 gray, P6 RGB, maxval 255). Alpha is dropped, as PIL's convert("RGB") and
// torchvision's ImageFolder loader do; a palette expands to RGB. Other formats (JPEG, 16-bit, interlaced PNG,
// ...) are refused by name (UnsupportedError) so that nothing is silently approximated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace snnconv::datasets {

struct Image {
  std::int64_t height = 0, width = 0;
  int channels = 0;                  // 1 (gray) or 3 (RGB)
  std::vector<std::uint8_t> pixels;  // channel-first: [channels, height, width]
};

// Decodes `bytes`; `file` names the source in errors. ParseError for a malformed or truncated file (bad
// signature, chunk CRC, corrupt deflate data, a size that contradicts the header), UnsupportedError for a
// valid file of a kind listed above as refused, LimitError above 2^28 pixels.
Image decode_image(std::span<const std::uint8_t> bytes, const std::string& file);
Image read_image(const std::filesystem::path& path);

// File extensions read_image takes (lower case): .png .pgm .ppm .pnm
bool is_image_extension(const std::string& lowercase_extension);

}  // namespace snnconv::datasets
