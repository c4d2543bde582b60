// decode_image (image_file.hpp): PNG and binary netpbm, checked completely before a pixel is returned.
#include "snnconv/datasets/image_file.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "snnconv/core/error.hpp"

namespace snnconv::datasets {
namespace {

constexpr std::int64_t kMaxPixels = std::int64_t{1} << 28;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

void check_size(std::int64_t w, std::int64_t h, const ErrorContext& ctx) {
  if (w < 1 || h < 1) throw ParseError(fmt::format("image size {}x{} is empty", w, h), ctx);
  if (w > kMaxPixels || h > kMaxPixels || w * h > kMaxPixels)
    throw LimitError(fmt::format("image size {}x{} is above the {} pixel limit", w, h, kMaxPixels), ctx);
}

// The PNG filter predictor of the byte `a` (left), `b` (up), `c` (up-left).
std::uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<std::uint8_t>(a);
  return static_cast<std::uint8_t>(pb <= pc ? b : c);
}

std::vector<std::uint8_t> inflate_all(const std::vector<std::uint8_t>& in, std::size_t expected, const ErrorContext& ctx) {
  std::vector<std::uint8_t> out(expected);
  z_stream z{};
  if (inflateInit(&z) != Z_OK) throw Error("zlib could not start", ctx);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  const std::size_t produced = out.size() - z.avail_out;
  const std::string msg = z.msg ? z.msg : "";
  inflateEnd(&z);
  if (rc == Z_BUF_ERROR && produced == expected)
    throw ParseError(fmt::format("image data inflates to more than the {} bytes the header implies", expected), ctx);
  if (rc != Z_STREAM_END)
    throw ParseError(rc == Z_BUF_ERROR ? fmt::format("image data is truncated: {} of {} bytes", produced, expected)
                                       : "corrupt deflate data in IDAT: " + msg,
                     ctx);
  if (produced != expected)
    throw ParseError(fmt::format("image data inflates to {} bytes, the header implies {}", produced, expected), ctx);
  return out;
}

Image decode_png(std::span<const std::uint8_t> b, const ErrorContext& ctx) {
  std::size_t pos = 8;
  std::uint32_t width = 0, height = 0;
  int depth = 0, color = -1, interlace = 0;
  std::vector<std::uint8_t> palette, idat;
  bool seen_header = false, ended = false;
  while (!ended) {
    if (b.size() - pos < 12) throw ParseError(fmt::format("truncated at byte {}: no IEND chunk", pos), ctx);
    const std::uint32_t length = be32(&b[pos]);
    if (length > b.size() - pos - 12)
      throw ParseError(fmt::format("chunk at byte {} declares {} bytes, past the end of the file", pos, length), ctx);
    const std::string type(reinterpret_cast<const char*>(&b[pos + 4]), 4);
    const std::uint8_t* data = &b[pos + 8];
    const std::uint32_t crc = static_cast<std::uint32_t>(crc32(0L, &b[pos + 4], length + 4));
    if (crc != be32(data + length)) throw ParseError(fmt::format("chunk '{}' at byte {}: CRC mismatch", type, pos), ctx);
    if (!seen_header && type != "IHDR") throw ParseError("the first chunk is '" + type + "', not IHDR", ctx);
    if (type == "IHDR") {
      if (seen_header || length != 13) throw ParseError("bad IHDR chunk", ctx);
      seen_header = true;
      width = be32(data);
      height = be32(data + 4);
      depth = data[8];
      color = data[9];
      interlace = data[12];
      if (data[10] != 0 || data[11] != 0) throw ParseError("unknown PNG compression or filter method", ctx);
    } else if (type == "PLTE") {
      if (length % 3 != 0 || length == 0 || length > 768) throw ParseError("bad PLTE chunk", ctx);
      palette.assign(data, data + length);
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data, data + length);
    } else if (type == "IEND") {
      ended = true;
    } else if ((type[0] & 0x20) == 0) {
      throw UnsupportedError("unknown critical PNG chunk '" + type + "'", ctx);
    }
    pos += std::size_t{length} + 12;
  }
  check_size(width, height, ctx);
  const bool known_color = color == 0 || color == 2 || color == 3 || color == 4 || color == 6;
  if (!known_color) throw ParseError(fmt::format("PNG color type {} does not exist", color), ctx);
  // Gray and palette images may pack 1, 2 or 4 bits per pixel; every other kind is 8 bits here (16 is refused).
  const bool packable = color == 0 || color == 3;
  if (depth != 8 && !(packable && (depth == 1 || depth == 2 || depth == 4)))
    throw UnsupportedError(fmt::format("PNG bit depth {} (8-bit images are read, and 1/2/4-bit gray or palette ones; "
                                       "convert the file to 8 bits)",
                                       depth),
                           ctx);
  if (interlace != 0) throw UnsupportedError("interlaced PNG (save the file without interlacing)", ctx);
  if (color == 3 && palette.empty()) throw ParseError("a palette image without a PLTE chunk", ctx);

  const int stored = color == 0 ? 1 : color == 2 ? 3 : color == 3 ? 1 : color == 4 ? 2 : 4;  // bytes per pixel (>= 1)
  const std::size_t stride = (static_cast<std::size_t>(width) * static_cast<std::size_t>(stored) * depth + 7) / 8;
  const std::vector<std::uint8_t> raw = inflate_all(idat, (stride + 1) * height, ctx);

  // Unfilter row by row into `rows` (the previous row is the "up" reference; a zero row above the first).
  std::vector<std::uint8_t> rows(stride * height);
  const std::vector<std::uint8_t> zero(stride, 0);
  for (std::uint32_t y = 0; y < height; ++y) {
    const std::uint8_t filter = raw[y * (stride + 1)];
    const std::uint8_t* in = &raw[y * (stride + 1) + 1];
    std::uint8_t* out = &rows[y * stride];
    const std::uint8_t* up = y == 0 ? zero.data() : out - stride;
    if (filter > 4) throw ParseError(fmt::format("row {}: unknown filter type {}", y, filter), ctx);
    for (std::size_t i = 0; i < stride; ++i) {
      const int a = i >= static_cast<std::size_t>(stored) ? out[i - stored] : 0;
      const int c = i >= static_cast<std::size_t>(stored) ? up[i - stored] : 0;
      const int u = up[i];
      int predicted = 0;
      switch (filter) {
        case 1: predicted = a; break;
        case 2: predicted = u; break;
        case 3: predicted = (a + u) / 2; break;
        case 4: predicted = paeth(a, u, c); break;
        default: break;
      }
      out[i] = static_cast<std::uint8_t>(in[i] + predicted);
    }
  }

  Image img;
  img.width = width;
  img.height = height;
  img.channels = color == 0 || color == 4 ? 1 : 3;
  const std::size_t plane = static_cast<std::size_t>(width) * height;
  img.pixels.resize(plane * static_cast<std::size_t>(img.channels));
  const int per_byte = 8 / depth;
  const unsigned sample_max = (1u << depth) - 1;
  for (std::size_t p = 0; p < plane; ++p) {
    const std::uint8_t* px = depth == 8 ? &rows[p * static_cast<std::size_t>(stored)] : nullptr;
    unsigned sample = px ? px[0] : 0;
    if (depth < 8) {  // packed, most significant bits first; rows start on a byte
      const std::size_t x = p % width, y = p / width;
      const std::uint8_t byte = rows[y * stride + x / per_byte];
      sample = (byte >> (8 - depth * (1 + static_cast<int>(x % per_byte)))) & sample_max;
    }
    if (color == 3) {
      if (std::size_t{sample} * 3 >= palette.size())
        throw ParseError(fmt::format("pixel {} indexes palette entry {} of {}", p, sample, palette.size() / 3), ctx);
      for (int ch = 0; ch < 3; ++ch) img.pixels[ch * plane + p] = palette[sample * 3u + static_cast<unsigned>(ch)];
    } else if (depth < 8) {  // gray samples span the full range: scaled to 0..255 as the PNG spec says
      img.pixels[p] = static_cast<std::uint8_t>(sample * 255u / sample_max);
    } else {
      for (int ch = 0; ch < img.channels; ++ch) img.pixels[ch * plane + p] = px[ch];  // alpha (last) dropped
    }
  }
  return img;
}

// One whitespace-separated header number of a netpbm file; '#' starts a comment up to the end of the line.
std::int64_t pnm_number(std::span<const std::uint8_t> b, std::size_t& pos, const ErrorContext& ctx) {
  for (;;) {
    while (pos < b.size() && std::isspace(b[pos])) ++pos;
    if (pos < b.size() && b[pos] == '#') {
      while (pos < b.size() && b[pos] != '\n') ++pos;
      continue;
    }
    break;
  }
  std::int64_t v = 0;
  const std::size_t start = pos;
  while (pos < b.size() && std::isdigit(b[pos]) && pos - start < 10) v = v * 10 + (b[pos++] - '0');
  if (pos == start || pos >= b.size() || !std::isspace(b[pos])) throw ParseError("malformed netpbm header", ctx);
  return v;
}

Image decode_pnm(std::span<const std::uint8_t> b, const ErrorContext& ctx) {
  const int channels = b[1] == '5' ? 1 : 3;
  std::size_t pos = 2;
  const std::int64_t width = pnm_number(b, pos, ctx);
  const std::int64_t height = pnm_number(b, pos, ctx);
  const std::int64_t maxval = pnm_number(b, pos, ctx);
  ++pos;  // the single whitespace byte before the pixels
  check_size(width, height, ctx);
  if (maxval < 1 || maxval > 65535) throw ParseError(fmt::format("netpbm maxval {} is out of range", maxval), ctx);
  if (maxval != 255)
    throw UnsupportedError(fmt::format("netpbm maxval {} (only 255 is read: the pixels would need rescaling)", maxval), ctx);
  const std::size_t plane = static_cast<std::size_t>(width * height);
  const std::size_t need = plane * static_cast<std::size_t>(channels);
  if (b.size() - pos < need) throw ParseError(fmt::format("truncated: {} pixel bytes of {}", b.size() - pos, need), ctx);
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.resize(need);
  for (std::size_t p = 0; p < plane; ++p)  // interleaved -> channel-first
    for (int ch = 0; ch < channels; ++ch) img.pixels[ch * plane + p] = b[pos + p * channels + ch];
  return img;
}

}  // namespace

bool is_image_extension(const std::string& e) {
  return e == ".png" || e == ".pgm" || e == ".ppm" || e == ".pnm";
}

Image decode_image(std::span<const std::uint8_t> b, const std::string& file) {
  const ErrorContext ctx{file, "", "", ""};
  static constexpr std::uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() >= 8 && std::equal(kPng, kPng + 8, b.begin())) return decode_png(b, ctx);
  if (b.size() >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) return decode_pnm(b, ctx);
  if (b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
    throw UnsupportedError("JPEG is not decoded (convert the images to PNG, e.g. with PIL: Image.open(f).save(g))", ctx);
  if (b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '4')
    throw UnsupportedError("plain-text or bitmap netpbm (only binary P5/P6 are read)", ctx);
  throw UnsupportedError("not a PNG or binary PGM/PPM file", ctx);
}

Image read_image(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open", ErrorContext{path.string(), "", "", ""});
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError("read failed", ErrorContext{path.string(), "", "", ""});
  return decode_image(bytes, path.string());
}

}  // namespace snnconv::datasets
