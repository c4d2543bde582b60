// One .npy array (NumPy's format description, numpy/lib/format.py): the magic "\x93NUMPY", a version, a
// header that is a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}, then the raw
// elements. The header is parsed by a small literal reader here, never evaluated.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <variant>

#include "snnconv/core/error.hpp"
#include "snnconv/datasets/npz.hpp"

namespace snnconv::datasets {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

ErrorContext where(const std::string& file, const std::string& name) {
  return ErrorContext{file, "", "", name};
}

// ---- the header dict ---------------------------------------------------------------------------------

struct Tuple {
  std::vector<std::int64_t> items;
};
struct ListMarker {};  // a structured dtype's descr: refused by the caller
using Literal = std::variant<std::string, bool, Tuple, ListMarker>;

class HeaderReader {
 public:
  HeaderReader(std::string_view text, const ErrorContext& ctx) : s_(text), ctx_(ctx) {}

  // key -> literal, in order; ParseError on anything that is not a flat dict of these literals.
  std::vector<std::pair<std::string, Literal>> dict() {
    std::vector<std::pair<std::string, Literal>> out;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') {
        ++i_;
        break;
      }
      std::string key = string_literal();
      expect(':');
      out.emplace_back(std::move(key), literal());
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      break;
    }
    skip_space();
    if (i_ != s_.size()) fail("text after the closing brace");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError(fmt::format("bad .npy header ({} at character {}): {}", what, i_, printable()), ctx_);
  }
  std::string printable() const {
    std::string out;
    for (char c : s_.substr(0, 160)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++i_;
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\') fail("escapes are not used by numpy headers");
      out += s_[i_++];
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  std::int64_t integer() {
    skip_space();
    const std::size_t start = i_;
    std::int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      const int d = s_[i_++] - '0';
      if (v > (std::numeric_limits<std::int64_t>::max() - d) / 10) fail("a dimension too large");
      v = v * 10 + d;
    }
    if (i_ == start) fail("expected a non-negative integer");
    if (peek() == 'L') ++i_;  // Python 2 longs, as old numpy wrote them
    return v;
  }
  Literal literal() {
    skip_space();
    const char c = peek();
    if (c == '\'' || c == '"') return string_literal();
    if (c == '[') {  // a structured dtype: skip to the matching bracket (quoted text and nesting included)
      int depth = 0;
      while (i_ < s_.size()) {
        const char ch = s_[i_];
        if (ch == '\'' || ch == '"') {
          string_literal();
          continue;
        }
        depth += ch == '[' || ch == '(' ? 1 : ch == ']' || ch == ')' ? -1 : 0;
        ++i_;
        if (depth == 0) return ListMarker{};
      }
      fail("unterminated list");
    }
    if (s_.substr(i_, 4) == "True") {
      i_ += 4;
      return true;
    }
    if (s_.substr(i_, 5) == "False") {
      i_ += 5;
      return false;
    }
    if (c == '(') {
      ++i_;
      Tuple t;
      for (;;) {
        skip_space();
        if (peek() == ')') {
          ++i_;
          return t;
        }
        t.items.push_back(integer());
        skip_space();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(')');
        return t;
      }
    }
    fail("expected a string, True, False or a tuple");
  }

  std::string_view s_;
  ErrorContext ctx_;
  std::size_t i_ = 0;
};

// ---- dtypes ------------------------------------------------------------------------------------------

struct StoredType {
  char order = '<';  // '<', '>' or '|'
  char kind = 'f';   // numpy kind: f, i, u, b
  int size = 4;      // bytes per element
  DType ours = DType::f32;
};

StoredType stored_type(const std::string& descr, const ErrorContext& ctx) {
  if (descr.empty()) throw ParseError("empty dtype in the .npy header", ctx);
  std::size_t at = 0;
  StoredType t;
  t.order = '|';
  if (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=') {
    t.order = descr[0] == '=' ? (std::endian::native == std::endian::little ? '<' : '>') : descr[0];
    at = 1;
  }
  if (at >= descr.size()) throw ParseError("dtype '" + descr + "' has no kind", ctx);
  t.kind = descr[at];
  const std::string rest = descr.substr(at + 1);
  auto unsupported = [&](const std::string& what) {
    return UnsupportedError(fmt::format("dtype '{}' ({}) is not supported: save numeric arrays (float, int, bool)",
                                        descr, what),
                            ctx);
  };
  switch (t.kind) {
    case 'O':
      throw UnsupportedError(fmt::format("dtype '{}' is a pickled object array: save numeric arrays "
                                         "(np.asarray(x, dtype=...)); pickles are never loaded",
                                         descr),
                             ctx);
    case 'U': case 'S': case 'a': throw unsupported("strings");
    case 'V': throw unsupported("raw or structured records");
    case 'c': throw unsupported("complex numbers");
    case 'M': case 'm': throw unsupported("dates and times");
    case 'f': case 'i': case 'u': case 'b': break;
    default: throw ParseError("unknown dtype '" + descr + "' in the .npy header", ctx);
  }
  if (rest.empty() || rest.size() > 2 || !std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw ParseError("dtype '" + descr + "' has no valid element size", ctx);
  t.size = std::stoi(rest);
  switch (t.kind) {
    case 'f':
      if (t.size == 4) t.ours = DType::f32;
      else if (t.size == 8) t.ours = DType::f32;
      else if (t.size == 2) t.ours = DType::f16;
      else throw unsupported(fmt::format("{}-byte floats", t.size));
      break;
    case 'i':
      if (t.size == 1) t.ours = DType::i8;
      else if (t.size == 2 || t.size == 4) t.ours = DType::i32;
      else if (t.size == 8) t.ours = DType::i64;
      else throw ParseError("dtype '" + descr + "' has no valid element size", ctx);
      break;
    case 'u':
      if (t.size == 1) t.ours = DType::u8;
      else if (t.size == 2) t.ours = DType::i32;
      else if (t.size == 4 || t.size == 8) t.ours = DType::i64;
      else throw ParseError("dtype '" + descr + "' has no valid element size", ctx);
      break;
    case 'b':
      if (t.size != 1) throw ParseError("dtype '" + descr + "' has no valid element size", ctx);
      t.ours = DType::boolean;
      break;
    default: break;
  }
  return t;
}

// Little-endian value of `size` bytes at p (after swapping when the file is big-endian).
std::uint64_t load_bits(const std::uint8_t* p, int size, bool big) {
  std::uint64_t v = 0;
  for (int b = 0; b < size; ++b) {
    const std::uint64_t byte = p[big ? size - 1 - b : b];
    v |= byte << (8 * b);
  }
  return v;
}

template <typename T>
T as_signed(std::uint64_t bits, int size) {
  const std::uint64_t sign = std::uint64_t{1} << (8 * size - 1);
  const std::int64_t v = static_cast<std::int64_t>((bits ^ sign)) - static_cast<std::int64_t>(sign);
  return static_cast<T>(size == 8 ? static_cast<std::int64_t>(bits) : v);
}

Tensor convert(const std::uint8_t* data, const Shape& shape, const StoredType& t, const std::string& descr,
               const ErrorContext& ctx) {
  Tensor out(t.ours, shape);
  const std::int64_t n = out.numel();
  const bool big = t.order == '>';
  const int size = t.size;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint64_t bits = load_bits(data + i * size, size, big);
    switch (t.ours) {
      case DType::f32:
        if (size == 4) {
          out.data<float>()[i] = std::bit_cast<float>(static_cast<std::uint32_t>(bits));
        } else {
          const double d = std::bit_cast<double>(bits);
          if (std::isfinite(d) && std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max()))
            throw NumericError(fmt::format("element {} ({:g}) is outside float32's range", i, d), ctx);
          out.data<float>()[i] = static_cast<float>(d);
        }
        break;
      case DType::f16:
        reinterpret_cast<std::uint16_t*>(out.raw())[i] = static_cast<std::uint16_t>(bits);
        break;
      case DType::i8: out.data<std::int8_t>()[i] = as_signed<std::int8_t>(bits, 1); break;
      case DType::u8: out.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(bits); break;
      case DType::i32:
        out.data<std::int32_t>()[i] =
            t.kind == 'u' ? static_cast<std::int32_t>(bits) : as_signed<std::int32_t>(bits, size);
        break;
      case DType::i64:
        if (t.kind == 'u' && size == 8 && bits > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          throw UnsupportedError(fmt::format("dtype '{}': element {} ({}) is above int64's range", descr, i, bits), ctx);
        out.data<std::int64_t>()[i] =
            t.kind == 'u' ? static_cast<std::int64_t>(bits) : as_signed<std::int64_t>(bits, size);
        break;
      case DType::boolean:
        if (bits > 1) throw ParseError(fmt::format("bool element {} holds the byte {}, not 0 or 1", i, bits), ctx);
        out.data<bool>()[i] = bits != 0;
        break;
    }
  }
  return out;
}

void put_le16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

}  // namespace

NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& file, const std::string& name) {
  const ErrorContext ctx = where(file, name);
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
    throw ParseError(bytes.size() < 10 ? fmt::format("truncated .npy array: {} bytes", bytes.size())
                                       : std::string("not an .npy array (bad magic bytes)"),
                     ctx);
  const int major = bytes[6];
  std::size_t header_len = 0, header_at = 0;
  if (major == 1) {
    header_len = bytes[8] | (std::size_t{bytes[9]} << 8);
    header_at = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw ParseError("truncated .npy header", ctx);
    header_len = bytes[8] | (std::size_t{bytes[9]} << 8) | (std::size_t{bytes[10]} << 16) | (std::size_t{bytes[11]} << 24);
    header_at = 12;
  } else {
    throw UnsupportedError(fmt::format(".npy format version {}.{} is not supported (1, 2 and 3 are)", major, bytes[7]),
                           ctx);
  }
  if (header_len > bytes.size() - header_at)
    throw ParseError(fmt::format("truncated .npy header: {} bytes announced, {} present", header_len,
                                 bytes.size() - header_at),
                     ctx);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + header_at), header_len);
  std::optional<std::string> descr;
  std::optional<bool> fortran;
  std::optional<Tuple> shape_tuple;
  for (auto& [key, value] : HeaderReader(text, ctx).dict()) {
    if (key == "descr") {
      if (std::holds_alternative<ListMarker>(value))
        throw UnsupportedError("a structured dtype (record fields) is not supported: save one plain array per field",
                               ctx);
      if (!std::holds_alternative<std::string>(value)) throw ParseError("'descr' is not a string", ctx);
      descr = std::get<std::string>(value);
    } else if (key == "fortran_order") {
      if (!std::holds_alternative<bool>(value)) throw ParseError("'fortran_order' is not True or False", ctx);
      fortran = std::get<bool>(value);
    } else if (key == "shape") {
      if (!std::holds_alternative<Tuple>(value)) throw ParseError("'shape' is not a tuple", ctx);
      shape_tuple = std::get<Tuple>(value);
    } else {
      throw ParseError("unexpected key '" + key + "' in the .npy header", ctx);
    }
  }
  if (!descr || !fortran || !shape_tuple)
    throw ParseError("the .npy header lacks one of 'descr', 'fortran_order', 'shape'", ctx);
  const StoredType type = stored_type(*descr, ctx);
  Shape shape(shape_tuple->items.begin(), shape_tuple->items.end());
  if (shape.size() > static_cast<std::size_t>(kMaxRank))
    throw LimitError(fmt::format("rank {} is above the limit {}", shape.size(), kMaxRank), ctx);
  const std::int64_t numel = checked_numel(shape, "array '" + name + "'");
  if (*fortran && shape.size() > 1 && numel > 1)
    throw UnsupportedError("the array is stored in Fortran order: save np.ascontiguousarray(x) instead", ctx);
  const std::size_t data_at = header_at + header_len;
  const std::uint64_t need = static_cast<std::uint64_t>(numel) * static_cast<std::uint64_t>(type.size);
  const std::uint64_t have = bytes.size() - data_at;
  if (have != need)
    throw ParseError(fmt::format("{} data bytes for shape {} of '{}' ({} bytes expected){}", have,
                                 shape_to_string(shape), *descr, need, have < need ? ": truncated" : ""),
                     ctx);
  NpyArray a;
  a.name = name;
  a.descr = *descr;
  a.values = convert(bytes.data() + data_at, shape, type, *descr, ctx);
  return a;
}

std::vector<std::uint8_t> npy_bytes(const Tensor& values) {
  std::string descr;
  switch (values.dtype()) {
    case DType::f32: descr = "<f4"; break;
    case DType::f16: descr = "<f2"; break;
    case DType::i8: descr = "|i1"; break;
    case DType::u8: descr = "|u1"; break;
    case DType::i32: descr = "<i4"; break;
    case DType::i64: descr = "<i8"; break;
    case DType::boolean: descr = "|b1"; break;
  }
  std::string shape = "(";
  for (std::size_t i = 0; i < values.shape().size(); ++i)
    shape += fmt::format("{}{}", values.shape()[i], values.shape().size() == 1 ? "," : i + 1 < values.shape().size() ? ", " : "");
  shape += ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  // numpy pads the header with spaces and a newline so that the data starts on a 64-byte boundary.
  const std::size_t unpadded = kMagic.size() + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::vector<std::uint8_t> out(kMagic.begin(), kMagic.end());
  out.push_back(1);
  out.push_back(0);
  put_le16(out, static_cast<std::uint16_t>(header.size()));
  out.insert(out.end(), header.begin(), header.end());
  // Our tensors are little-endian on every machine the product builds for (x86-64).
  static_assert(std::endian::native == std::endian::little);
  const auto* raw = reinterpret_cast<const std::uint8_t*>(values.raw());
  out.insert(out.end(), raw, raw + values.nbytes());
  return out;
}

}  // namespace snnconv::datasets
