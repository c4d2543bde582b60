// .npz: a zip archive of .npy members (PKWARE APPNOTE 6.3: end of central directory, zip64 records and extra
// fields, central and local headers). The central directory is authoritative for sizes and offsets: numpy
// writes members with force_zip64, so a local header may carry placeholder sizes.
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "snnconv/core/error.hpp"
#include "snnconv/core/temp_files.hpp"
#include "snnconv/datasets/npz.hpp"

namespace snnconv::datasets {

namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::uint32_t kZip64EndSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::uint16_t kZip64ExtraId = 0x0001;

// Bounds-checked little-endian reads; every failure is a ParseError naming what was being read.
class Cursor {
 public:
  Cursor(std::span<const std::uint8_t> bytes, const std::string& file) : b_(bytes), file_(file) {}

  std::uint64_t uint(std::uint64_t at, int size, const char* what) const {
    if (at > b_.size() || static_cast<std::uint64_t>(size) > b_.size() - at)
      throw ParseError(fmt::format("truncated zip archive: {} at byte {} lies beyond the {} bytes of the file", what,
                                   at, b_.size()),
                       {file_, "", "", ""});
    std::uint64_t v = 0;
    for (int i = 0; i < size; ++i) v |= std::uint64_t{b_[at + static_cast<std::uint64_t>(i)]} << (8 * i);
    return v;
  }
  std::uint16_t u16(std::uint64_t at, const char* what) const { return static_cast<std::uint16_t>(uint(at, 2, what)); }
  std::uint32_t u32(std::uint64_t at, const char* what) const { return static_cast<std::uint32_t>(uint(at, 4, what)); }
  std::uint64_t u64(std::uint64_t at, const char* what) const { return uint(at, 8, what); }
  std::span<const std::uint8_t> slice(std::uint64_t at, std::uint64_t size, const std::string& what) const {
    if (at > b_.size() || size > b_.size() - at)
      throw ParseError(fmt::format("truncated zip archive: {} ({} bytes at {}) lies beyond the {} bytes of the file",
                                   what, size, at, b_.size()),
                       {file_, "", "", ""});
    return b_.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(size));
  }
  std::uint64_t size() const { return b_.size(); }

 private:
  std::span<const std::uint8_t> b_;
  const std::string& file_;
};

struct Member {
  std::string name;
  std::uint16_t flags = 0, method = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0, uncompressed = 0, local_offset = 0;
};

// The end of central directory record, searched backwards over the comment (at most 65535 bytes).
std::uint64_t find_end_record(const Cursor& c, const std::string& file) {
  if (c.size() < 22) throw ParseError(fmt::format("not a zip archive: {} bytes", c.size()), {file, "", "", ""});
  const std::uint64_t lowest = c.size() >= 22 + 65535 ? c.size() - 22 - 65535 : 0;
  for (std::uint64_t at = c.size() - 22;; --at) {
    if (c.u32(at, "end record") == kEndSig && at + 22 + c.u16(at + 20, "comment length") == c.size()) return at;
    if (at == lowest) break;
  }
  throw ParseError("not a zip archive (no end of central directory record; truncated?)", {file, "", "", ""});
}

std::vector<Member> central_directory(const Cursor& c, const std::string& file) {
  const ErrorContext ctx{file, "", "", ""};
  const std::uint64_t end = find_end_record(c, file);
  if (c.u16(end + 4, "disk number") != 0 || c.u16(end + 6, "central directory disk") != 0)
    throw UnsupportedError("multi-part (spanned) zip archives are not supported", ctx);
  std::uint64_t entries = c.u16(end + 10, "entry count");
  std::uint64_t cd_size = c.u32(end + 12, "central directory size");
  std::uint64_t cd_offset = c.u32(end + 16, "central directory offset");
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (end < 20 || c.u32(end - 20, "zip64 locator") != kZip64LocatorSig)
      throw ParseError("zip64 fields without a zip64 end of central directory locator", ctx);
    const std::uint64_t z = c.u64(end - 12, "zip64 end record offset");
    if (c.u32(z, "zip64 end record") != kZip64EndSig) throw ParseError("bad zip64 end of central directory record", ctx);
    entries = c.u64(z + 32, "zip64 entry count");
    cd_size = c.u64(z + 40, "zip64 central directory size");
    cd_offset = c.u64(z + 48, "zip64 central directory offset");
  }
  c.slice(cd_offset, cd_size, "the central directory");
  // Each entry takes at least 46 bytes: an absurd count is refused before reserving anything.
  if (entries > cd_size / 46) throw ParseError(fmt::format("{} entries cannot fit a {}-byte central directory", entries, cd_size), ctx);
  std::vector<Member> out;
  std::uint64_t at = cd_offset;
  for (std::uint64_t e = 0; e < entries; ++e) {
    if (c.u32(at, "central directory entry") != kCentralSig)
      throw ParseError(fmt::format("bad central directory entry {} at byte {}", e, at), ctx);
    Member m;
    m.flags = c.u16(at + 8, "flags");
    m.method = c.u16(at + 10, "compression method");
    m.crc = c.u32(at + 16, "crc");
    m.compressed = c.u32(at + 20, "compressed size");
    m.uncompressed = c.u32(at + 24, "size");
    const std::uint16_t name_len = c.u16(at + 28, "name length");
    const std::uint16_t extra_len = c.u16(at + 30, "extra length");
    const std::uint16_t comment_len = c.u16(at + 32, "comment length");
    m.local_offset = c.u32(at + 42, "local header offset");
    const auto name = c.slice(at + 46, name_len, "a member name");
    m.name.assign(name.begin(), name.end());
    // zip64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in this order.
    std::uint64_t x = at + 46 + name_len;
    const std::uint64_t x_end = x + extra_len;
    c.slice(x, extra_len, "an extra field");
    while (x + 4 <= x_end) {
      const std::uint16_t id = c.u16(x, "extra id");
      const std::uint16_t len = c.u16(x + 2, "extra size");
      if (x + 4 + len > x_end) throw ParseError("extra field of '" + m.name + "' overruns its entry", ctx);
      if (id == kZip64ExtraId) {
        std::uint64_t y = x + 4;
        auto take = [&](std::uint64_t& field) {
          if (y + 8 > x + 4 + len) throw ParseError("zip64 extra field of '" + m.name + "' is too short", ctx);
          field = c.u64(y, "zip64 size");
          y += 8;
        };
        if (m.uncompressed == 0xFFFFFFFF) take(m.uncompressed);
        if (m.compressed == 0xFFFFFFFF) take(m.compressed);
        if (m.local_offset == 0xFFFFFFFF) take(m.local_offset);
      }
      x += 4 + std::uint64_t{len};
    }
    out.push_back(std::move(m));
    at += 46 + std::uint64_t{name_len} + extra_len + comment_len;
  }
  return out;
}

std::vector<std::uint8_t> inflate_member(std::span<const std::uint8_t> in, std::uint64_t size, const ErrorContext& ctx) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(size));
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw Error("zlib could not start", ctx);
  std::size_t in_at = 0, out_at = 0;
  int rc = Z_OK;
  const std::size_t chunk = std::size_t{1} << 30;  // avail_in / avail_out are 32-bit
  for (;;) {
    if (z.avail_in == 0 && in_at < in.size()) {
      const std::size_t n = std::min(chunk, in.size() - in_at);
      z.next_in = const_cast<Bytef*>(in.data() + in_at);
      z.avail_in = static_cast<uInt>(n);
      in_at += n;
    }
    if (z.avail_out == 0 && out_at < out.size()) {
      const std::size_t n = std::min(chunk, out.size() - out_at);
      z.next_out = out.data() + out_at;
      z.avail_out = static_cast<uInt>(n);
      out_at += n;
    }
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_OK) continue;
    std::string why;
    if (rc == Z_BUF_ERROR && z.avail_out == 0 && out_at == out.size())
      why = fmt::format("deflate data inflates to more than the {} bytes the directory declares", size);
    else if (rc == Z_BUF_ERROR)
      why = "truncated deflate data";
    else
      why = std::string("corrupt deflate data: ") + (z.msg ? z.msg : "zlib error " + std::to_string(rc));
    inflateEnd(&z);
    throw ParseError(why, ctx);
  }
  const std::uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (produced != size)
    throw ParseError(fmt::format("deflate data inflates to {} bytes, the directory declares {}", produced, size), ctx);
  return out;
}

std::uint32_t crc_of(std::span<const std::uint8_t> data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  std::size_t at = 0;
  while (at < data.size()) {
    const std::size_t n = std::min<std::size_t>(data.size() - at, std::size_t{1} << 30);
    crc = crc32(crc, data.data() + at, static_cast<uInt>(n));
    at += n;
  }
  return static_cast<std::uint32_t>(crc);
}

void put(std::vector<std::uint8_t>& out, std::uint64_t v, int size) {
  for (int i = 0; i < size; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

}  // namespace

std::vector<NpyArray> parse_npz(std::span<const std::uint8_t> bytes, const std::string& file) {
  const Cursor c(bytes, file);
  if (bytes.size() >= 6 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0)
    throw ParseError("this is a single .npy array (np.save), not an .npz archive: save with np.savez(FILE, name=array)",
                     {file, "", "", ""});
  std::vector<NpyArray> out;
  std::set<std::string> seen;
  for (const Member& m : central_directory(c, file)) {
    if (m.name.empty() || m.name.back() == '/') continue;  // a directory entry
    const bool npy = m.name.size() > 4 && m.name.compare(m.name.size() - 4, 4, ".npy") == 0;
    const std::string key = npy ? m.name.substr(0, m.name.size() - 4) : m.name;
    const ErrorContext ctx{file, "", "", key};
    if (!npy) throw ParseError("member '" + m.name + "' is not an .npy array (an .npz holds NAME.npy members)", ctx);
    if (!seen.insert(key).second) throw ParseError("the archive holds two arrays named '" + key + "'", ctx);
    if (m.flags & 0x1) throw UnsupportedError("encrypted zip members are not supported", ctx);
    if (m.uncompressed > kMaxNpyBytes)
      throw LimitError(fmt::format("{} bytes uncompressed, above the limit of {}", m.uncompressed, kMaxNpyBytes), ctx);
    if (c.u32(m.local_offset, "local header") != kLocalSig)
      throw ParseError(fmt::format("no local header at byte {} for '{}'", m.local_offset, m.name), ctx);
    const std::uint64_t data_at = m.local_offset + 30 + c.u16(m.local_offset + 26, "local name length") +
                                  c.u16(m.local_offset + 28, "local extra length");
    const auto stored = c.slice(data_at, m.compressed, "the data of '" + m.name + "'");
    std::vector<std::uint8_t> inflated;
    std::span<const std::uint8_t> data;
    if (m.method == 0) {
      if (m.compressed != m.uncompressed)
        throw ParseError(fmt::format("stored member of {} bytes declares {} uncompressed", m.compressed, m.uncompressed),
                         ctx);
      data = stored;
    } else if (m.method == 8) {
      inflated = inflate_member(stored, m.uncompressed, ctx);
      data = inflated;
    } else {
      throw UnsupportedError(
          fmt::format("compression method {} is not supported (stored and deflate are: np.savez, np.savez_compressed)",
                      m.method),
          ctx);
    }
    if (crc_of(data) != m.crc) throw ParseError("CRC-32 mismatch: the array's bytes are corrupt", ctx);
    out.push_back(parse_npy(data, file, key));
  }
  return out;
}

std::vector<NpyArray> read_npz(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw IoError("cannot open the .npz file", {path.string(), "", "", ""});
  const std::streamoff size = in.tellg();
  if (size < 0) throw IoError("cannot read the .npz file", {path.string(), "", "", ""});
  if (static_cast<std::uint64_t>(size) > 4 * kMaxNpyBytes)
    throw LimitError(fmt::format("{} bytes, above the limit of {}", size, 4 * kMaxNpyBytes), {path.string(), "", "", ""});
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  if (!in) throw IoError("cannot read the .npz file", {path.string(), "", "", ""});
  return parse_npz(bytes, path.string());
}

bool is_npz_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[6] = {};
  in.read(head, 6);
  if (in.gcount() < 4) return false;
  return std::memcmp(head, "PK\x03\x04", 4) == 0 || std::memcmp(head, "PK\x05\x06", 4) == 0;
}

void write_npz(const fs::path& path, const std::vector<std::pair<std::string, Tensor>>& arrays) {
  std::set<std::string> names;
  for (const auto& [name, t] : arrays)
    if (name.empty() || !names.insert(name).second)
      throw UsageError("write_npz: array names must be unique and non-empty ('" + name + "')", {path.string(), "", "", ""});
  // Plain zip (no zip64): members and offsets must stay below 4 GiB.
  std::vector<std::uint8_t> out, central;
  for (const auto& [name, t] : arrays) {
    const std::vector<std::uint8_t> data = npy_bytes(t);
    const std::string member = name + ".npy";
    if (data.size() >= 0xFFFFFFFFu || out.size() + data.size() >= 0xFFFFFFFFu)
      throw LimitError("write_npz: the archive would exceed 4 GiB", {path.string(), "", "", name});
    const std::uint32_t crc = crc_of(data);
    const std::uint64_t offset = out.size();
    auto header = [&](std::vector<std::uint8_t>& h, bool central_entry) {
      put(h, central_entry ? kCentralSig : kLocalSig, 4);
      if (central_entry) put(h, 20, 2);  // made by: version 2.0
      put(h, 20, 2);                     // needed: 2.0
      put(h, 0, 2);                      // flags
      put(h, 0, 2);                      // stored
      put(h, 0, 2);                      // time
      put(h, (1980 - 1980) << 9 | 1 << 5 | 1, 2);  // date 1980-01-01: reproducible bytes
      put(h, crc, 4);
      put(h, data.size(), 4);
      put(h, data.size(), 4);
      put(h, member.size(), 2);
      put(h, 0, 2);  // extra
      if (central_entry) {
        put(h, 0, 2);  // comment
        put(h, 0, 2);  // disk
        put(h, 0, 2);  // internal attributes
        put(h, 0x81A4u << 16, 4);  // external: a regular file, mode 0644
        put(h, offset, 4);
      }
      h.insert(h.end(), member.begin(), member.end());
    };
    header(out, false);
    out.insert(out.end(), data.begin(), data.end());
    header(central, true);
  }
  const std::uint64_t cd_offset = out.size();
  out.insert(out.end(), central.begin(), central.end());
  put(out, kEndSig, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, arrays.size(), 2);
  put(out, arrays.size(), 2);
  put(out, central.size(), 4);
  put(out, cd_offset, 4);
  put(out, 0, 2);

  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const fs::path tmp = dir / fmt::format(".{}.tmp-{}", path.filename().string(), ::getpid());
  TempFileGuard guard(tmp.string());
  const ErrorContext ctx{path.string(), "", "", ""};
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw IoError(fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)), ctx);
  const bool written = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  const int write_errno = errno;
  const bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  std::error_code ec;
  if (!written || !flushed || !closed) {
    fs::remove(tmp, ec);
    throw IoError(fmt::format("cannot write the .npz file: {}", std::strerror(written ? errno : write_errno)), ctx);
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError("cannot rename the .npz file into place: " + ec.message(), ctx);
  }
  guard.release();
}

}  // namespace snnconv::datasets
