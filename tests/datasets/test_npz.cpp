// The .npz / .npy reader against files written by real numpy (tests/data/npz/make_npz.py: np.savez stored,
// np.savez_compressed deflated, .npy versions 1-3), corrupted and truncated archives, refused dtypes, and the
// writer read back by numpy.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>

#include "snnconv/core/error.hpp"
#include "snnconv/datasets/npz.hpp"
#include "temp_dir.hpp"

using namespace snnconv;
using namespace snnconv::datasets;
using snnconv::test::TempDir;

namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(SNNCONV_SOURCE_DIR) / "tests/data/npz";

std::map<std::string, NpyArray> by_name(std::vector<NpyArray> arrays) {
  std::map<std::string, NpyArray> out;
  for (auto& a : arrays) out.emplace(a.name, std::move(a));
  return out;
}

std::vector<std::uint8_t> file_bytes(const fs::path& p) {
  const std::string s = snnconv::test::read_bytes(p);
  return {s.begin(), s.end()};
}

// The error message of parsing `bytes`, and its type through the exit code.
template <typename E>
std::string refusal(const std::vector<std::uint8_t>& bytes) {
  try {
    parse_npz(bytes, "x.npz");
  } catch (const E& e) {
    return e.what();
  } catch (const Error& e) {
    FAIL("wrong error type: " << std::string(e.what()));
  }
  FAIL("accepted");
  return {};
}

void check_dtypes(const fs::path& file) {
  const auto a = by_name(read_npz(file));
  REQUIRE(a.size() == 18);
  const Tensor& f32 = a.at("f32").values;
  CHECK(f32.dtype() == DType::f32);
  CHECK(f32.shape() == Shape{3, 2, 2});
  for (std::int64_t i = 0; i < 12; ++i) CHECK(f32.data<float>()[i] == static_cast<float>(i) * 0.5f - 1.0f);
  const Tensor& f64 = a.at("f64").values;
  CHECK(f64.dtype() == DType::f32);
  CHECK(a.at("f64").descr == "<f8");
  for (std::int64_t i = 0; i < 6; ++i) CHECK(f64.data<float>()[i] == static_cast<float>(static_cast<double>(i) / 3.0));
  const std::vector<float> f16 = a.at("f16").values.to_f32();
  CHECK(a.at("f16").values.dtype() == DType::f16);
  CHECK(f16 == std::vector<float>{0.5f, -2.0f, 65504.0f, std::ldexp(1.0f, -24)});
  CHECK(a.at("i8").values.to_i64() == std::vector<std::int64_t>{-128, -1, 0, 127});
  CHECK(a.at("u8").values.dtype() == DType::u8);
  CHECK(a.at("u8").values.to_i64() == std::vector<std::int64_t>{0, 1, 200, 255});
  CHECK(a.at("i16").values.to_i64() == std::vector<std::int64_t>{-32768, -1, 32767});
  CHECK(a.at("u16").values.to_i64() == std::vector<std::int64_t>{0, 65535});
  CHECK(a.at("i32").values.to_i64() == std::vector<std::int64_t>{-2147483648LL, 7, 2147483647LL});
  CHECK(a.at("u32").values.to_i64() == std::vector<std::int64_t>{0, 4294967295LL});
  CHECK(a.at("i64").values.to_i64() ==
        std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), 42, std::numeric_limits<std::int64_t>::max()});
  CHECK(a.at("u64").values.to_i64() == std::vector<std::int64_t>{0, std::numeric_limits<std::int64_t>::max()});
  CHECK(a.at("bool").values.dtype() == DType::boolean);
  CHECK(a.at("bool").values.to_i64() == std::vector<std::int64_t>{1, 0, 1});
  CHECK(a.at("be_f32").values.to_f32() == std::vector<float>{0.0f, 1.5f, 3.0f, 4.5f});
  CHECK(a.at("be_i64").values.to_i64() == std::vector<std::int64_t>{-3, std::int64_t{1} << 40});
  CHECK(a.at("be_f64").values.to_f32() == std::vector<float>{0.25f, -8.0f});
  CHECK(a.at("scalar").values.shape().empty());
  CHECK(a.at("scalar").values.to_f32() == std::vector<float>{3.5f});
  CHECK(a.at("empty").values.shape() == Shape{0, 4});
  CHECK(a.at("labels").values.to_i64() == std::vector<std::int64_t>{2, 0, 1});
}

}  // namespace

TEST_CASE("npz: every dtype numpy writes, stored (np.savez) and deflated (np.savez_compressed)" * doctest::test_suite("unit")) {
  check_dtypes(kDir / "dtypes.npz");
  check_dtypes(kDir / "dtypes_compressed.npz");
  CHECK(is_npz_file(kDir / "dtypes.npz"));
  CHECK(is_npz_file(kDir / "dtypes_compressed.npz"));
  CHECK_FALSE(is_npz_file(kDir / "single.npy"));
  CHECK_FALSE(is_npz_file(kDir / "no-such-file.npz"));
}

TEST_CASE("npz: .npy format versions 1, 2 and 3, positional names" * doctest::test_suite("unit")) {
  const auto v = by_name(read_npz(kDir / "versions.npz"));
  for (int k = 1; k <= 3; ++k)
    CHECK(v.at("v" + std::to_string(k)).values.to_i64() == std::vector<std::int64_t>{0, k, 2 * k, 3 * k, 4 * k});
  const auto p = by_name(read_npz(kDir / "positional.npz"));
  CHECK(p.count("arr_0") == 1);
  CHECK(p.at("arr_1").values.to_i64() == std::vector<std::int64_t>{0, 1});
}

TEST_CASE("npz: refused dtypes and layouts name the file, the array and the reason" * doctest::test_suite("unit")) {
  struct Case {
    const char* file;
    const char* words;
    bool unsupported;
  };
  for (const Case& c : {Case{"fortran.npz", "Fortran order", true}, Case{"object.npz", "pickled object array", true},
                        Case{"structured.npz", "structured dtype", true}, Case{"strings.npz", "strings", true},
                        Case{"complex.npz", "complex", true}, Case{"datetime.npz", "dates and times", true},
                        Case{"u64_big.npz", "above int64's range", true}, Case{"bad_bool.npz", "not 0 or 1", false},
                        Case{"single.npy", "np.savez", false}}) {
    const std::string file = c.file;
    CAPTURE(file);
    const auto bytes = file_bytes(kDir / c.file);
    const std::string msg = c.unsupported ? refusal<UnsupportedError>(bytes) : refusal<ParseError>(bytes);
    CHECK(msg.find(c.words) != std::string::npos);
    CHECK(msg.find("x.npz") != std::string::npos);
    if (std::string(c.file) != "single.npy") CHECK(msg.find("value 'x'") != std::string::npos);
  }
  const std::string big = refusal<NumericError>(file_bytes(kDir / "f64_overflow.npz"));
  CHECK(big.find("element 1 (1e+300) is outside float32's range") != std::string::npos);
}

TEST_CASE("npz: every truncation and every flipped byte is refused or read, never a crash" * doctest::test_suite("unit")) {
  for (const char* name : {"dtypes.npz", "dtypes_compressed.npz"}) {
    const std::string file = name;
    CAPTURE(file);
    const auto bytes = file_bytes(kDir / name);
    std::int64_t refused = 0;
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      try {
        parse_npz(cut, "x.npz");
      } catch (const Error&) {
        ++refused;
      }
    }
    CHECK(refused == static_cast<std::int64_t>(bytes.size()));  // every strict prefix loses the end record
    std::int64_t flips_refused = 0, flips_read = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      std::vector<std::uint8_t> bad = bytes;
      bad[i] ^= 0x5A;
      try {
        parse_npz(bad, "x.npz");
        ++flips_read;  // e.g. a timestamp or an unused field
      } catch (const Error&) {
        ++flips_refused;
      }
    }
    MESSAGE(file << ": " << flips_refused << " flipped bytes refused, " << flips_read << " harmless");
    // Every byte of the members' data is covered by the CRC: most flips are caught.
    CHECK(flips_refused > static_cast<std::int64_t>(bytes.size()) / 2);
  }
  const auto stored = file_bytes(kDir / "dtypes.npz");
  // The first member's data starts after its local header; a flipped data byte fails the CRC.
  std::vector<std::uint8_t> bad = stored;
  const std::size_t data_at = 30 + (bad[26] | bad[27] << 8) + (bad[28] | bad[29] << 8);
  bad[data_at + 100] ^= 1;
  CHECK(refusal<ParseError>(bad).find("CRC-32 mismatch") != std::string::npos);
}

TEST_CASE("npz: what we write, numpy reads (and so do we)" * doctest::test_suite("unit")) {
  TempDir dir;
  const fs::path out = dir / "out.npz";
  std::vector<std::pair<std::string, Tensor>> arrays;
  arrays.emplace_back("logits", Tensor::from_vector<float>({2, 3}, {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -7.0f}));
  arrays.emplace_back("ids", Tensor::from_vector<std::int64_t>({3}, {-1, 0, std::int64_t{1} << 40}));
  arrays.emplace_back("mask", Tensor::from_vector<bool>({2}, {true, false}));
  arrays.emplace_back("one", Tensor::from_vector<std::int32_t>({1}, {7}));
  write_npz(out, arrays);
  CHECK(dir.entries() == std::vector<std::string>{"out.npz"});  // no temporary left
  const auto back = by_name(read_npz(out));
  for (const auto& [name, t] : arrays) CHECK(back.at(name).values.identical(t));
  CHECK_THROWS_AS(write_npz(dir / "dup.npz", {{"a", Tensor::scalar(1.0f)}, {"a", Tensor::scalar(2.0f)}}), UsageError);
  CHECK_THROWS_AS(write_npz(dir / "no-such-dir" / "x.npz", arrays), IoError);
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    MESSAGE("skipped the numpy half: /usr/bin/python3 cannot import numpy");
    return;
  }
  const std::string script = "import numpy as np, sys\n"
                             "d = np.load(sys.argv[1], allow_pickle=False)\n"
                             "assert sorted(d.files) == ['ids', 'logits', 'mask', 'one'], d.files\n"
                             "assert d['logits'].dtype == np.float32 and d['logits'].shape == (2, 3)\n"
                             "assert d['logits'].tolist() == [[1.5, -2.0, 0.0], [3.25, float(np.float32(1e-30)), -7.0]]\n"
                             "assert d['ids'].tolist() == [-1, 0, 1 << 40] and d['ids'].dtype == np.int64\n"
                             "assert d['mask'].tolist() == [True, False] and d['mask'].dtype == np.bool_\n"
                             "assert d['one'].tolist() == [7] and d['one'].dtype == np.int32\n";
  snnconv::test::write_bytes(dir / "check.py", script);
  CHECK(std::system(("/usr/bin/python3 '" + (dir / "check.py").string() + "' '" + out.string() + "'").c_str()) == 0);
}
