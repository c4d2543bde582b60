// `datasets import npz|images|text`: the user's own files in the HDF5 layout. Images against the pixels PIL
// decodes (tests/data/images/make_images.py), .npz round trips and refusals (no output file left behind).
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "snnconv/datasets/image_file.hpp"
#include "snnconv/datasets/importers.hpp"
#include "snnconv/datasets/npz.hpp"
#include "snnconv/datasets/reader.hpp"
#include "temp_dir.hpp"

using namespace snnconv;
using namespace snnconv::datasets;
using snnconv::test::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path kImages = fs::path(SNNCONV_SOURCE_DIR) / "tests/data/images";

std::map<std::string, Tensor> arrays_of(const fs::path& npz) {
  std::map<std::string, Tensor> out;
  for (NpyArray& a : read_npz(npz)) out.emplace(a.name, std::move(a.values));
  return out;
}

template <typename E, typename F> std::string refusal(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("no " << typeid(E).name() << " thrown");
  return {};
}

}  // namespace

TEST_CASE("import images: an ImageFolder tree of PNG (RGB, RGBA, palette) and PPM equals PIL's pixels" * doctest::test_suite("unit")) {
  TempDir dir;
  const auto summary = import_images(kImages / "folder", dir / "img.h5");
  REQUIRE(summary.splits.size() == 1);
  CHECK(summary.splits[0].count == 5);
  const DatasetReader r(dir / "img.h5");
  CHECK(r.info().task == Task::classification);
  CHECK(r.info().class_names == std::vector<std::string>{"cat", "dog"});
  const auto expected = arrays_of(kImages / "expected.npz");
  const Tensor inputs = r.read("test", "inputs");
  CHECK(inputs.shape() == Shape{5, 3, 5, 6});
  CHECK(inputs.identical(expected.at("inputs")));
  CHECK(r.read("test", "labels").identical(expected.at("labels")));
  const InputTransform t = r.input_transform("test");
  CHECK(t.scale == doctest::Approx(1.0 / 255.0));
  CHECK(t.offset == 0.0);
}

TEST_CASE("import images: gray PNG, gray+alpha PNG and PGM, refusals name the file" * doctest::test_suite("unit")) {
  TempDir dir;
  import_images(kImages / "gray", dir / "g.h5", FileImportOptions{"val", "g", "", {}});
  const DatasetReader r(dir / "g.h5");
  CHECK(r.read("val", "inputs").identical(arrays_of(kImages / "expected_gray.npz").at("inputs")));

  const std::string jpeg = refusal<UnsupportedError>([&] { read_image(kImages / "refused/photo.jpg"); });
  CHECK(jpeg.find("JPEG") != std::string::npos);
  CHECK(jpeg.find("photo.jpg") != std::string::npos);
  CHECK(refusal<UnsupportedError>([&] { read_image(kImages / "refused/deep.png"); }).find("bit depth 16") != std::string::npos);
  const std::string mixed = refusal<UsageError>([&] { import_images(kImages / "mixed", dir / "m.h5"); });
  CHECK(mixed.find("4x4") != std::string::npos);
  CHECK(mixed.find("6x5") != std::string::npos);
  CHECK(mixed.find("b.png") != std::string::npos);
  CHECK(refusal<UsageError>([&] { import_images(kImages / "folder/cat", dir / "n.h5"); }).find("sub-folder per class") !=
        std::string::npos);
  CHECK(dir.entries() == std::vector<std::string>{"g.h5"});  // refused imports leave nothing
}

TEST_CASE("import images: every truncation and flipped byte of a PNG is refused or read, never a crash" * doctest::test_suite("unit")) {
  const std::string text = snnconv::test::read_bytes(kImages / "folder/dog/a.png");
  const std::vector<std::uint8_t> png(text.begin(), text.end());
  const Image good = decode_image(png, "a.png");
  CHECK(good.channels == 3);
  for (std::size_t n = 0; n < png.size(); ++n)
    CHECK_THROWS_AS(decode_image(std::span(png.data(), n), "cut.png"), Error);
  int refused = 0;
  for (std::size_t i = 8; i < png.size(); ++i) {
    std::vector<std::uint8_t> bad = png;
    bad[i] ^= 0x10;
    try {
      decode_image(bad, "flip.png");
    } catch (const Error&) {
      ++refused;
    }
  }
  CHECK(refused == static_cast<int>(png.size()) - 8);  // every byte is covered by a chunk CRC
}

TEST_CASE("import npz: classification and token rows round trip, what the layout cannot hold is refused" * doctest::test_suite("unit")) {
  TempDir dir;
  const Tensor x = Tensor::from_vector<float>({3, 2}, {0.5f, -1.0f, 2.0f, 3.0f, 0.0f, 1e-3f});
  const Tensor y = Tensor::from_vector<std::int64_t>({3}, {2, 0, 1});
  write_npz(dir / "c.npz", {{"pixels", x}, {"labels", y}});
  import_npz(dir / "c.npz", dir / "c.h5");
  {
    const DatasetReader r(dir / "c.h5");
    CHECK(r.info().task == Task::classification);
    CHECK(r.info().class_names.size() == 3);
    CHECK(r.read("test", "inputs").identical(x));
    CHECK(r.read("test", "labels").identical(y));
  }
  const Tensor tokens = Tensor::from_vector<std::int32_t>({2, 4}, {104, 105, 10, 0, 255, 1, 2, 3});
  write_npz(dir / "t.npz", {{"input_ids", tokens}});
  import_npz(dir / "t.npz", dir / "t.h5", FileImportOptions{"train", "", "", {}});
  {
    const DatasetReader r(dir / "t.h5");
    CHECK(r.info().task == Task::language_model);
    CHECK(r.doc_offsets("train") == std::vector<std::int64_t>{0, 4, 8});
    CHECK(r.read("train", "tokens").identical(tokens.cast(DType::u8).reshaped({8})));
  }
  write_npz(dir / "rows.npz", {{"x", Tensor::from_vector<float>({2, 2}, {0.f, 1.f, 2.f, 3.f})}, {"labels", y}});
  CHECK(refusal<UsageError>([&] { import_npz(dir / "rows.npz", dir / "o.h5"); }).find("one integer per row") != std::string::npos);
  write_npz(dir / "nan2.npz", {{"x", Tensor::from_vector<float>({3, 1}, {0.f, INFINITY, 2.f})}, {"labels", y}});
  const std::string inf = refusal<UsageError>([&] { import_npz(dir / "nan2.npz", dir / "o.h5"); });
  CHECK(inf.find("'x' holds inf at index [1, 0]") != std::string::npos);
  write_npz(dir / "two.npz", {{"a", x}, {"b", x}, {"labels", y}});
  const std::string two = refusal<UsageError>([&] { import_npz(dir / "two.npz", dir / "o.h5"); });
  CHECK(two.find("a [3,2]") != std::string::npos);
  CHECK(two.find("--data") != std::string::npos);
  write_npz(dir / "big.npz", {{"ids", Tensor::from_vector<std::int64_t>({1, 2}, {5, 300})}});
  CHECK(refusal<UsageError>([&] { import_npz(dir / "big.npz", dir / "o.h5"); }).find("300 at index [0, 1]") != std::string::npos);
  CHECK(refusal<UsageError>([&] { import_npz(dir / "c.npz", dir / "o.h5", FileImportOptions{"dev", "", "", {}}); })
            .find("--split") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "o.h5"));
}

TEST_CASE("import text: each file one byte-level document" * doctest::test_suite("unit")) {
  TempDir dir;
  snnconv::test::write_bytes(dir / "a.txt", "hello\n");
  snnconv::test::write_bytes(dir / "b.txt", std::string("\0\xff", 2));
  import_text({dir / "a.txt", dir / "b.txt"}, dir / "t.h5");
  const DatasetReader r(dir / "t.h5");
  CHECK(r.doc_offsets("test") == std::vector<std::int64_t>{0, 6, 8});
  const Tensor tokens = r.read("test", "tokens");
  CHECK(tokens.data<std::uint8_t>()[0] == 'h');
  CHECK(tokens.data<std::uint8_t>()[7] == 0xff);
  CHECK(r.read_strings("test", "doc_names")[1] == (dir / "b.txt").string());
  CHECK_THROWS_AS(import_text({dir / "missing.txt"}, dir / "u.h5"), IoError);
}
