// Write + read round trips of every task layout, streaming reads, layout validation, reference files.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "snnconv/datasets/reader.hpp"
#include "snnconv/datasets/reference.hpp"
#include "snnconv/datasets/tokenizer.hpp"
#include "snnconv/datasets/writer.hpp"
#include "temp_dir.hpp"

using namespace snnconv;
using namespace snnconv::datasets;
using snnconv::test::TempDir;

namespace {

template <typename T>
Tensor random_tensor(Shape shape, std::mt19937& rng, int low, int high) {
  std::uniform_int_distribution<int> dist(low, high);
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<T> values(static_cast<std::size_t>(n));
  for (auto& v : values) v = static_cast<T>(dist(rng));
  return Tensor::from_vector<T>(std::move(shape), values);
}

Tensor random_floats(Shape shape, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> values(static_cast<std::size_t>(n));
  for (auto& v : values) v = dist(rng);
  return Tensor::from_vector<float>(std::move(shape), values);
}

// Rows [begin, begin + count) of `whole`, by bytes.
bool rows_equal(const Tensor& part, const Tensor& whole, std::int64_t begin, std::int64_t count) {
  if (part.dtype() != whole.dtype() || part.dim(0) != count) return false;
  std::size_t row_bytes = whole.dim(0) == 0 ? 0 : whole.nbytes() / static_cast<std::size_t>(whole.dim(0));
  return part.nbytes() == row_bytes * static_cast<std::size_t>(count) &&
         std::memcmp(part.raw(), whole.raw() + row_bytes * static_cast<std::size_t>(begin), part.nbytes()) == 0;
}

DatasetInfo info_for(Task task, std::string name) {
  DatasetInfo info;
  info.name = std::move(name);
  info.task = task;
  info.source = "unit test";
  info.license = "CC0";
  info.preprocessing = "random numbers";
  if (task == Task::classification || task == Task::vqa) info.class_names = {"zero", "one", "two"};
  if (task == Task::language_model) {
    info.tokenizer = "byte";
    info.vocab_size = 256;
  }
  return info;
}

}  // namespace

TEST_CASE("classification uint8: round trip, streaming rows, batches" * doctest::test_suite("unit")) {
  TempDir dir;
  std::mt19937 rng(7);
  std::map<std::string, std::pair<Tensor, Tensor>> splits;
  splits["train"] = {random_tensor<std::uint8_t>({37, 4, 3}, rng, 0, 255),
                     random_tensor<std::int64_t>({37}, rng, 0, 2)};
  splits["val"] = {random_tensor<std::uint8_t>({5, 4, 3}, rng, 0, 255), random_tensor<std::int64_t>({5}, rng, 0, 2)};
  splits["test"] = {random_tensor<std::uint8_t>({11, 4, 3}, rng, 0, 255), random_tensor<std::int64_t>({11}, rng, 0, 2)};
  auto path = dir / "cls.h5";
  {
    DatasetWriter writer(path);
    CHECK(writer.temporary_path().parent_path() == dir.path());
    writer.write_info(info_for(Task::classification, "cls"));
    for (auto& [split, data] : splits) {
      writer.write_tensor(split, "inputs", data.first);
      writer.set_input_transform(split, "inputs", {1.0 / 255.0, 0.0});
      writer.write_tensor(split, "labels", data.second);
    }
    CHECK_FALSE(std::filesystem::exists(path));  // nothing under the final name before commit
    CHECK(writer.commit() > 0);
  }
  CHECK(dir.entries() == std::vector<std::string>{"cls.h5"});

  DatasetReader reader(path);
  CHECK(reader.info().name == "cls");
  CHECK(reader.info().task == Task::classification);
  CHECK(reader.info().source == "unit test");
  CHECK(reader.info().license == "CC0");
  CHECK(reader.info().class_names == std::vector<std::string>{"zero", "one", "two"});
  CHECK(reader.splits() == std::vector<std::string>{"train", "val", "test"});
  CHECK(reader.count("train") == 37);
  CHECK(reader.dataset_names("train") == std::vector<std::string>{"inputs", "labels"});
  CHECK(reader.shape("train", "inputs") == Shape{37, 4, 3});
  CHECK(reader.dtype("train", "inputs") == DType::u8);
  CHECK(reader.input_transform("train").scale == doctest::Approx(1.0 / 255.0));
  CHECK(reader.integer_attribute("/", "format_version") == 1);
  for (auto& [split, data] : splits) {
    CHECK(reader.read(split, "inputs").identical(data.first));
    CHECK(reader.read(split, "labels").identical(data.second));
  }

  const Tensor& whole = splits["train"].first;
  for (auto [begin, count] :
       {std::pair<std::int64_t, std::int64_t>{0, 37}, {0, 1}, {36, 1}, {10, 17}, {37, 0}, {5, 0}}) {
    CAPTURE(begin);
    CAPTURE(count);
    CHECK(rows_equal(reader.read_rows("train", "inputs", begin, count), whole, begin, count));
    CHECK(rows_equal(reader.read_rows("train", "labels", begin, count), splits["train"].second, begin, count));
  }
  CHECK_THROWS_AS(reader.read_rows("train", "inputs", 30, 8), ShapeError);
  CHECK_THROWS_AS(reader.read_rows("train", "inputs", -1, 2), ShapeError);
  CHECK_THROWS_AS(reader.read("nope", "inputs"), UsageError);
  CHECK_THROWS_AS(reader.read("train", "nope"), UsageError);

  ClassificationBatches batches(reader, "train", 8);
  CHECK(batches.batch_count() == 5);
  std::int64_t rows = 0;
  for (const ClassificationBatch& batch : batches) {
    CHECK(batch.row_begin == rows);
    CHECK(batch.inputs.dtype() == DType::f32);
    CHECK(batch.inputs.dim(1) == 4);
    CHECK(batch.labels.dtype() == DType::i64);
    const std::uint8_t* raw = whole.data<std::uint8_t>() + rows * 12;
    bool exact = true;  // the same float torchvision's ToTensor computes: x / 255.0f
    for (std::int64_t i = 0; i < batch.inputs.numel(); ++i)
      exact = exact && batch.inputs.data<float>()[i] == static_cast<float>(raw[i]) / 255.0f;
    CHECK(exact);
    CHECK(rows_equal(batch.labels, splits["train"].second, rows, batch.labels.dim(0)));
    rows += batch.labels.dim(0);
  }
  CHECK(rows == 37);
  CHECK(batches.batch(4).labels.dim(0) == 5);
  ClassificationBatches window(reader, "test", 4, 3, 6);
  CHECK(window.batch_count() == 2);
  CHECK(window.batch(1).row_begin == 7);
  CHECK_THROWS_AS(ClassificationBatches(reader, "test", 4, 3, 9), ShapeError);
}

TEST_CASE("classification float32 with feature standardisation" * doctest::test_suite("unit")) {
  TempDir dir;
  std::mt19937 rng(3);
  Tensor inputs = random_floats({20, 6}, rng);
  Tensor labels = random_tensor<std::int64_t>({20}, rng, 0, 1);
  auto path = dir / "tab.h5";
  DatasetWriter writer(path, WriterOptions{0});
  writer.write_info(info_for(Task::classification, "tab"));
  writer.write_tensor("test", "inputs", inputs);
  writer.set_input_transform("test", "inputs", {1.0, 0.0});
  writer.write_tensor("test", "labels", labels);
  writer.commit();
  DatasetReader reader(path);
  CHECK(reader.splits() == std::vector<std::string>{"test"});
  ClassificationBatch batch = read_classification_batch(reader, "test", 0, 20);
  CHECK(batch.inputs.identical(inputs));
  CHECK(rows_equal(reader.read_rows("test", "inputs", 4, 9), inputs, 4, 9));
}

TEST_CASE("language_model: documents, token ranges, byte tokenizer" * doctest::test_suite("unit")) {
  TempDir dir;
  std::vector<std::string> docs = {"print('hi')\n", "", std::string("\0\xff\x80zero and high bytes", 21), "x = 1\n"};
  std::vector<std::uint8_t> tokens;
  std::vector<std::int64_t> offsets{0};
  for (const auto& d : docs) {
    tokens.insert(tokens.end(), d.begin(), d.end());
    offsets.push_back(static_cast<std::int64_t>(tokens.size()));
  }
  std::vector<std::string> names = {"a.py", "empty.py", "bin/zero.py", "x.py"};
  auto path = dir / "lm.h5";
  DatasetWriter writer(path);
  writer.write_info(info_for(Task::language_model, "lm"));
  writer.write_tensor("train", "tokens",
                      Tensor::from_vector<std::uint8_t>({static_cast<std::int64_t>(tokens.size())}, tokens));
  writer.write_tensor("train", "doc_offsets", Tensor::from_vector<std::int64_t>({5}, offsets));
  writer.write_strings("train", "doc_names", names);
  // An empty split is legal (tiny corpora, tests).
  writer.write_tensor("test", "tokens", Tensor(DType::u8, {0}));
  writer.write_tensor("test", "doc_offsets", Tensor::from_vector<std::int64_t>({1}, {0}));
  writer.write_strings("test", "doc_names", {});
  writer.commit();

  DatasetReader reader(path);
  CHECK(reader.info().tokenizer == "byte");
  CHECK(reader.info().vocab_size == 256);
  CHECK(reader.count("train") == 4);
  CHECK(reader.count("test") == 0);
  CHECK(reader.doc_offsets("train") == offsets);
  CHECK(reader.doc_names("train") == names);
  ByteTokenizer tokenizer;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    CHECK(reader.read_document("train", static_cast<std::int64_t>(d)) == docs[d]);
    Tensor range = reader.read_range("train", "tokens", offsets[d], offsets[d + 1] - offsets[d]);
    CHECK(tokenizer.decode(range) == docs[d]);
  }
  CHECK(reader.read_range("train", "tokens", 3, 10).numel() == 10);
  CHECK_THROWS_AS(reader.read_range("train", "tokens", 30, 10), ShapeError);
  CHECK_THROWS_AS(reader.read_document("train", 4), ShapeError);
}

TEST_CASE("vqa and program_synthesis layouts round trip" * doctest::test_suite("unit")) {
  TempDir dir;
  std::mt19937 rng(11);
  const std::int64_t n = 9;
  std::map<std::string, Tensor> common = {
      {"prompt_tokens", random_tensor<std::uint8_t>({n, 16}, rng, 0, 255)},
      {"prompt_lengths", random_tensor<std::int32_t>({n}, rng, 1, 16)},
      {"answer_tokens", random_tensor<std::uint8_t>({n, 8}, rng, 0, 255)},
      {"answer_lengths", random_tensor<std::int32_t>({n}, rng, 1, 8)},
  };
  SUBCASE("vqa") {
    std::map<std::string, Tensor> data = common;
    data["images"] = random_tensor<std::uint8_t>({n, 28, 28}, rng, 0, 255);
    auto path = dir / "vqa.h5";
    DatasetWriter writer(path);
    writer.write_info(info_for(Task::vqa, "vqa"));
    for (auto& [name, t] : data) writer.write_tensor("test", name, t);
    writer.commit();
    DatasetReader reader(path);
    CHECK(reader.info().task == Task::vqa);
    for (auto& [name, t] : data) CHECK(reader.read("test", name).identical(t));
    CHECK(rows_equal(reader.read_rows("test", "images", 2, 5), data["images"], 2, 5));
  }
  SUBCASE("program_synthesis") {
    std::map<std::string, Tensor> data = common;
    for (const char* name : {"io_inputs", "io_outputs", "test_inputs", "test_outputs"})
      data[name] = random_tensor<std::int64_t>({n, 4}, rng, -1000, 1000);
    auto path = dir / "ps.h5";
    DatasetWriter writer(path);
    writer.write_info(info_for(Task::program_synthesis, "ps"));
    for (auto& [name, t] : data) writer.write_tensor("train", name, t);
    writer.commit();
    DatasetReader reader(path);
    CHECK(reader.info().task == Task::program_synthesis);
    CHECK(reader.info().class_names.empty());
    for (auto& [name, t] : data) CHECK(reader.read("train", name).identical(t));
  }
}

TEST_CASE("the writer refuses broken layouts and leaves no file" * doctest::test_suite("unit")) {
  TempDir dir;
  std::mt19937 rng(5);
  auto path = dir / "bad.h5";
  SUBCASE("rows disagree") {
    DatasetWriter writer(path);
    writer.write_info(info_for(Task::classification, "bad"));
    writer.write_tensor("train", "inputs", random_tensor<std::uint8_t>({10, 2}, rng, 0, 9));
    writer.set_input_transform("train", "inputs", {1.0, 0.0});
    writer.write_tensor("train", "labels", random_tensor<std::int64_t>({9}, rng, 0, 2));
    CHECK_THROWS_AS(writer.commit(), ShapeError);
  }
  SUBCASE("a required dataset is missing") {
    DatasetWriter writer(path);
    writer.write_info(info_for(Task::classification, "bad"));
    writer.write_tensor("train", "inputs", random_tensor<std::uint8_t>({10, 2}, rng, 0, 9));
    writer.set_input_transform("train", "inputs", {1.0, 0.0});
    try {
      writer.commit();
      FAIL("commit accepted a split without labels");
    } catch (const ParseError& e) {
      CHECK(e.context().file == path.string());
      CHECK(e.context().value == "/train/labels");
      CHECK(std::string(e.what()).find("/train/labels") != std::string::npos);
    }
  }
  SUBCASE("wrong label dtype") {
    DatasetWriter writer(path);
    writer.write_info(info_for(Task::classification, "bad"));
    writer.write_tensor("train", "inputs", random_tensor<std::uint8_t>({10, 2}, rng, 0, 9));
    writer.set_input_transform("train", "inputs", {1.0, 0.0});
    writer.write_tensor("train", "labels", random_tensor<std::int32_t>({10}, rng, 0, 2));
    CHECK_THROWS_AS(writer.commit(), ParseError);
  }
  SUBCASE("not our format") {
    DatasetWriter writer(path);
    writer.write_info(info_for(Task::language_model, "bad"));
    writer.set_string_attribute("/", "format", "something-else");
    writer.write_tensor("train", "tokens", Tensor(DType::u8, {0}));
    writer.write_tensor("train", "doc_offsets", Tensor::from_vector<std::int64_t>({1}, {0}));
    writer.write_strings("train", "doc_names", {});
    CHECK_THROWS_WITH_AS(writer.commit(), doctest::Contains("format"), ParseError);
  }
  SUBCASE("an exception before commit") {
    try {
      DatasetWriter writer(path);
      writer.write_info(info_for(Task::classification, "bad"));
      throw std::runtime_error("importer failed halfway");
    } catch (const std::runtime_error&) {
    }
  }
  SUBCASE("bad names") {
    DatasetWriter writer(path);
    CHECK_THROWS_AS(writer.write_tensor("training", "inputs", Tensor(DType::u8, {1})), UsageError);
    CHECK_THROWS_AS(writer.write_tensor("train", "a/b", Tensor(DType::u8, {1})), UsageError);
    CHECK_THROWS_AS(writer.write_tensor("train", "scalar", Tensor(DType::u8, {})), ShapeError);
    writer.write_tensor("train", "x", Tensor(DType::u8, {1}));
    CHECK_THROWS_AS(writer.write_tensor("train", "x", Tensor(DType::u8, {1})), UsageError);
    CHECK_THROWS_AS(writer.set_float_attribute("/train/missing", "scale", 1.0), UsageError);
  }
  CHECK(dir.entries().empty());
}

TEST_CASE("the reader rejects files that are not datasets" * doctest::test_suite("unit")) {
  TempDir dir;
  CHECK_THROWS_AS(DatasetWriter(dir / "no-such-folder" / "x.h5"), IoError);
  CHECK_THROWS_AS(DatasetReader(dir / "missing.h5"), IoError);
  snnconv::test::write_bytes(dir / "text.h5", "not hdf5 at all");
  CHECK_THROWS_AS(DatasetReader(dir / "text.h5"), ParseError);
  // A reference file is HDF5 but not a dataset file.
  write_reference_file(dir / "ref.h5", ReferenceData{{{"x", Tensor(DType::f32, {2})}}, {}});
  CHECK_THROWS_WITH_AS(DatasetReader(dir / "ref.h5"), doctest::Contains("format"), ParseError);
}

TEST_CASE("reference files: every dtype, nested names, scalars" * doctest::test_suite("unit")) {
  TempDir dir;
  std::mt19937 rng(13);
  ReferenceData data;
  data.inputs["pixel_values"] = random_floats({2, 1, 28, 28}, rng);
  data.inputs["input_ids"] = random_tensor<std::int64_t>({2, 7}, rng, 0, 255);
  data.outputs["logits"] = random_floats({2, 10}, rng);
  data.outputs["blocks.0/attn/out"] = random_tensor<std::int32_t>({3, 4}, rng, -5, 5);
  data.outputs["mask"] = random_tensor<std::uint8_t>({5}, rng, 0, 1);
  data.outputs["loss"] = Tensor::scalar<float>(0.25f);
  auto path = dir / "ref.h5";
  write_reference_file(path, data);
  CHECK(dir.entries() == std::vector<std::string>{"ref.h5"});
  ReferenceData back = read_reference_file(path);
  REQUIRE(back.inputs.size() == 2);
  REQUIRE(back.outputs.size() == 4);
  for (auto& [name, t] : data.inputs) CHECK(back.inputs.at(name).identical(t));
  for (auto& [name, t] : data.outputs) {
    CAPTURE(name);
    CHECK(back.outputs.at(name).identical(t));
  }
}

TEST_CASE("byte tokenizer: exact round trip of every byte" * doctest::test_suite("unit")) {
  ByteTokenizer tokenizer;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::vector<std::int32_t> ids = tokenizer.encode(all);
  REQUIRE(ids.size() == 256);
  for (int b = 0; b < 256; ++b) CHECK(ids[static_cast<std::size_t>(b)] == b);
  CHECK(tokenizer.decode(ids) == all);
  CHECK(tokenizer.decode(Tensor::from_vector<std::int64_t>({3}, {104, 105, 10})) == "hi\n");
  CHECK(tokenizer.encode("").empty());
  CHECK_THROWS_AS(tokenizer.decode(std::vector<std::int32_t>{65, 256}), ParseError);
  CHECK_THROWS_AS(tokenizer.decode(std::vector<std::int32_t>{-1}), ParseError);
}
