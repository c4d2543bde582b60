// Importers: fashion-mnist against the idx bytes (read here independently), corrupt idx input,
// python-code's file selection and split rule, and its byte-exact round trip.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>

#include "snnconv/datasets/importers.hpp"
#include "snnconv/datasets/reader.hpp"
#include "snnconv/datasets/tokenizer.hpp"
#include "temp_dir.hpp"

using namespace snnconv;
using namespace snnconv::datasets;
using snnconv::test::TempDir;

namespace fs = std::filesystem;

namespace {

const fs::path kFashionDir = "/usr/share/datasets/fashion-mnist";

// Gunzip with the gzip tool rather than zlib, so the test does not share the importer's code path.
std::string gunzip(const fs::path& gz, const TempDir& dir) {
  fs::path out = dir / (gz.stem().string() + ".raw");
  std::string command = "gzip -dc '" + gz.string() + "' > '" + out.string() + "'";
  REQUIRE(std::system(command.c_str()) == 0);
  std::string bytes = snnconv::test::read_bytes(out);
  fs::remove(out);
  return bytes;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A small, valid idx pair (n images of rows x cols) for the corruption tests.
void write_idx_pair(const fs::path& folder, const std::string& prefix, std::uint32_t n, std::uint32_t rows,
                    std::uint32_t cols) {
  std::string images = be32(0x803) + be32(n) + be32(rows) + be32(cols);
  for (std::uint32_t i = 0; i < n * rows * cols; ++i) images.push_back(static_cast<char>(i * 7));
  std::string labels = be32(0x801) + be32(n);
  for (std::uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<char>(i % 10));
  snnconv::test::write_bytes(folder / (prefix + "-images-idx3-ubyte"), images);
  snnconv::test::write_bytes(folder / (prefix + "-labels-idx1-ubyte"), labels);
}

// The output folder holds nothing at all (no output, no temporary) after a failed import.
void check_fails_cleanly(const fs::path& source, const std::string& needle, const fs::path& bad_file) {
  TempDir out;
  FashionMnistOptions options;
  options.source_dir = source;
  try {
    import_fashion_mnist(out / "fm.h5", options);
    FAIL("import accepted a corrupt idx file");
  } catch (const ParseError& e) {
    CHECK(e.context().file == bad_file.string());
    CHECK(e.message().find(needle) != std::string::npos);
    MESSAGE(std::string(e.what()));
  }
  CHECK(out.entries().empty());
}

}  // namespace

TEST_CASE("fashion-mnist: full import equals the idx bytes" * doctest::test_suite("slow")) {
  REQUIRE_MESSAGE(fs::exists(kFashionDir / "train-images-idx3-ubyte.gz"),
                  "dataset-fashion-mnist is installed (scripts/install-deps.sh)");
  TempDir dir;
  auto started = std::chrono::steady_clock::now();
  ImportSummary summary = import_fashion_mnist(dir / "fashion-mnist.h5");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE("fashion-mnist import: " << seconds << " s, " << summary.file_bytes / 1e6 << " MB");
  MESSAGE(format_summary(summary));
  CHECK(dir.entries() == std::vector<std::string>{"fashion-mnist.h5"});

  DatasetReader reader(dir / "fashion-mnist.h5");
  CHECK(reader.info().name == "fashion-mnist");
  CHECK(reader.info().class_names.size() == 10);
  CHECK(reader.info().class_names[9] == "Ankle boot");
  CHECK(reader.splits() == std::vector<std::string>{"train", "test"});
  CHECK(reader.count("train") == 60000);
  CHECK(reader.count("test") == 10000);
  CHECK(reader.shape("train", "inputs") == Shape{60000, 28, 28});
  CHECK(reader.dtype("train", "inputs") == DType::u8);
  CHECK(reader.dtype("test", "labels") == DType::i64);
  CHECK(reader.input_transform("test").scale == 1.0 / 255.0);
  CHECK(reader.input_transform("test").offset == 0.0);

  for (auto [split, prefix, n] : {std::tuple{"train", "train", 60000}, std::tuple{"test", "t10k", 10000}}) {
    CAPTURE(split);
    std::string images = gunzip(kFashionDir / (std::string(prefix) + "-images-idx3-ubyte.gz"), dir);
    std::string labels = gunzip(kFashionDir / (std::string(prefix) + "-labels-idx1-ubyte.gz"), dir);
    REQUIRE(images.size() == 16 + std::size_t(n) * 784);
    REQUIRE(labels.size() == 8 + std::size_t(n));
    for (std::int64_t row : {std::int64_t{0}, std::int64_t{n - 1}}) {
      Tensor image = reader.read_rows(split, "inputs", row, 1);
      CHECK(std::memcmp(image.raw(), images.data() + 16 + row * 784, 784) == 0);
      Tensor label = reader.read_rows(split, "labels", row, 1);
      CHECK(label.data<std::int64_t>()[0] == static_cast<unsigned char>(labels[8 + std::size_t(row)]));
    }
    // And every label, which is cheap.
    Tensor all = reader.read(split, "labels");
    bool same = true;
    for (std::int64_t i = 0; i < n; ++i)
      same = same && all.data<std::int64_t>()[i] == static_cast<unsigned char>(labels[8 + std::size_t(i)]);
    CHECK(same);
  }
}

TEST_CASE("fashion-mnist: corrupt idx input gives a ParseError and no output" * doctest::test_suite("unit")) {
  TempDir source;
  write_idx_pair(source.path(), "train", 6, 28, 28);
  write_idx_pair(source.path(), "t10k", 3, 28, 28);
  SUBCASE("the valid small files import") {
    TempDir out;
    FashionMnistOptions options;
    options.source_dir = source.path();
    ImportSummary summary = import_fashion_mnist(out / "fm.h5", options);
    CHECK(summary.splits.size() == 2);
    DatasetReader reader(out / "fm.h5");
    CHECK(reader.count("train") == 6);
    CHECK(reader.read_rows("test", "labels", 2, 1).data<std::int64_t>()[0] == 2);
  }
  SUBCASE("wrong magic number") {
    fs::path file = source / "train-images-idx3-ubyte";
    std::string bytes = snnconv::test::read_bytes(file);
    bytes[3] = 0x01;  // 0x00000801: a label file's magic
    snnconv::test::write_bytes(file, bytes);
    check_fails_cleanly(source.path(), "magic", file);
  }
  SUBCASE("wrong label magic number") {
    fs::path file = source / "t10k-labels-idx1-ubyte";
    std::string bytes = snnconv::test::read_bytes(file);
    bytes[0] = 0x12;
    snnconv::test::write_bytes(file, bytes);
    check_fails_cleanly(source.path(), "magic", file);
  }
  SUBCASE("truncated image file") {
    fs::path file = source / "t10k-images-idx3-ubyte";
    fs::resize_file(file, fs::file_size(file) - 100);
    check_fails_cleanly(source.path(), "truncated", file);
  }
  SUBCASE("truncated header") {
    fs::path file = source / "train-labels-idx1-ubyte";
    fs::resize_file(file, 5);
    check_fails_cleanly(source.path(), "header", file);
  }
  SUBCASE("trailing bytes") {
    fs::path file = source / "train-labels-idx1-ubyte";
    snnconv::test::write_bytes(file, snnconv::test::read_bytes(file) + "xx");
    check_fails_cleanly(source.path(), "trailing", file);
  }
  SUBCASE("image and label counts differ") {
    write_idx_pair(source.path(), "train", 6, 28, 28);
    fs::path file = source / "train-labels-idx1-ubyte";
    std::string labels = be32(0x801) + be32(5) + std::string(5, '\1');
    snnconv::test::write_bytes(file, labels);
    check_fails_cleanly(source.path(), "labels", source / "train-images-idx3-ubyte");
  }
  SUBCASE("a label that is not a class") {
    fs::path file = source / "train-labels-idx1-ubyte";
    std::string bytes = snnconv::test::read_bytes(file);
    bytes[9] = 10;
    snnconv::test::write_bytes(file, bytes);
    check_fails_cleanly(source.path(), "class", file);
  }
  SUBCASE("truncated gzip stream") {
    fs::path plain = source / "train-images-idx3-ubyte";
    REQUIRE(std::system(("gzip '" + plain.string() + "'").c_str()) == 0);  // replaces it by .gz
    fs::path gz = source / "train-images-idx3-ubyte.gz";
    fs::resize_file(gz, fs::file_size(gz) - 12);
    check_fails_cleanly(source.path(), "gzip", gz);
  }
  SUBCASE("a missing file") {
    fs::remove(source / "t10k-labels-idx1-ubyte");
    TempDir out;
    FashionMnistOptions options;
    options.source_dir = source.path();
    CHECK_THROWS_AS(import_fashion_mnist(out / "fm.h5", options), IoError);
    CHECK(out.entries().empty());
  }
}

TEST_CASE("python-code: FNV-1a 64 and the split rule" * doctest::test_suite("unit")) {
  // Published FNV-1a 64 test vectors.
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
  std::uint64_t h = fnv1a64("1234:os.py");
  std::string_view expected = h % 100 < 90 ? "train" : h % 100 < 95 ? "val" : "test";
  CHECK(python_code_split(1234, "os.py") == expected);
}

TEST_CASE("python-code: file selection rule" * doctest::test_suite("unit")) {
  TempDir root;
  auto touch = [&](const std::string& rel) {
    fs::create_directories((root / rel).parent_path());
    snnconv::test::write_bytes(root / rel, "# " + rel + "\n");
  };
  for (const char* rel : {"b.py", "a.py", "pkg/__init__.py", "pkg/Z.py", "pkg/sub/x.py", "notes.txt", "pkg/m.pyc",
                          "site-packages/s.py", "pkg/dist-packages/d.py", "pkg/__pycache__/c.py", "x.py.bak",
                          "site-packages.py", "deep/er/site-packagesX/ok.py"})
    touch(rel);
  fs::create_symlink(root / "a.py", root / "link.py");
  fs::create_directory_symlink(root / "pkg", root / "linkdir");
  std::vector<std::string> files = python_code_files(root.path());
  CHECK(files == std::vector<std::string>{"a.py", "b.py", "deep/er/site-packagesX/ok.py", "pkg/Z.py", "pkg/__init__.py",
                                          "pkg/sub/x.py", "site-packages.py"});
}

TEST_CASE("python-code: import, non-empty splits, byte-exact round trip of the test split" *
          doctest::test_suite("unit")) {
  PythonCodeOptions options;
  REQUIRE_MESSAGE(fs::is_directory(options.root), options.root << " exists (python3, scripts/install-deps.sh)");
  TempDir dir;
  auto started = std::chrono::steady_clock::now();
  ImportSummary summary = import_python_code(dir / "python-code.h5", options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE("python-code import: " << seconds << " s");
  MESSAGE(format_summary(summary));

  DatasetReader reader(dir / "python-code.h5");
  CHECK(reader.info().task == Task::language_model);
  CHECK(reader.integer_attribute("/", "split_seed") == 1234);
  CHECK(reader.splits() == std::vector<std::string>{"train", "val", "test"});
  std::vector<std::string> all = python_code_files(options.root);
  std::int64_t documents = 0;
  for (const std::string& split : reader.splits()) {
    CAPTURE(split);
    CHECK(reader.count(split) > 0);
    documents += reader.count(split);
    for (const std::string& name : reader.doc_names(split)) CHECK(python_code_split(1234, name) == split);
  }
  CHECK(documents == static_cast<std::int64_t>(all.size()));
  CHECK(reader.count("train") > 5 * reader.count("test"));

  ByteTokenizer tokenizer;
  std::vector<std::string> names = reader.doc_names("test");
  const std::vector<std::int64_t>& offsets = reader.doc_offsets("test");
  int exact = 0;
  for (std::size_t d = 0; d < names.size(); ++d) {
    std::string original = snnconv::test::read_bytes(options.root / names[d]);
    Tensor tokens = reader.read_range("test", "tokens", offsets[d], offsets[d + 1] - offsets[d]);
    std::vector<std::int64_t> ids = tokens.to_i64();
    std::vector<std::int32_t> ids32(ids.begin(), ids.end());
    bool same = tokenizer.decode(ids32) == original && tokenizer.encode(original) == ids32;
    if (!same) MESSAGE("round trip differs: " << names[d]);
    exact += same;
  }
  CHECK(exact == static_cast<int>(names.size()));

  // A different seed moves files between splits.
  TempDir other;
  PythonCodeOptions reseeded = options;
  reseeded.seed = 99;
  import_python_code(other / "pc.h5", reseeded);
  CHECK(DatasetReader(other / "pc.h5").doc_names("test") != names);
}

TEST_CASE("import_dataset dispatches by name" * doctest::test_suite("unit")) {
  CHECK(importer_names() == std::vector<std::string>{"fashion-mnist", "python-code"});
  TempDir dir;
  CHECK_THROWS_AS(import_dataset("imagenet", dir / "x.h5"), UsageError);
  CHECK(dir.entries().empty());
}
