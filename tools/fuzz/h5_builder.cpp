#include "h5_builder.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace snnconv::fuzz {
namespace {

// Reads choices from the fuzzer's bytes; zeros once they run out.
class Choices {
 public:
  explicit Choices(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  std::uint8_t byte() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  std::uint32_t below(std::uint32_t n) { return n == 0 ? 0 : byte() % n; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{byte()} << (8 * i);
    return v;
  }
  std::string text() {
    const std::uint32_t n = below(12);
    std::string s;
    for (std::uint32_t i = 0; i < n; ++i) s += static_cast<char>(byte());
    return s;
  }
  // The next `n` bytes (zero-padded).
  std::vector<std::uint8_t> take(std::size_t n) {
    std::vector<std::uint8_t> out(n, 0);
    for (std::size_t i = 0; i < n && pos_ < bytes_.size(); ++i) out[i] = bytes_[pos_++];
    return out;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

const H5::PredType& element_type(std::uint32_t k) {
  static const std::array<const H5::PredType*, 12> types = {
      &H5::PredType::NATIVE_UINT8,  &H5::PredType::NATIVE_INT8,   &H5::PredType::NATIVE_INT16,
      &H5::PredType::NATIVE_UINT16, &H5::PredType::NATIVE_INT32,  &H5::PredType::NATIVE_UINT32,
      &H5::PredType::NATIVE_INT64,  &H5::PredType::NATIVE_UINT64, &H5::PredType::NATIVE_FLOAT,
      &H5::PredType::NATIVE_DOUBLE, &H5::PredType::STD_I16BE,     &H5::PredType::NATIVE_HBOOL};
  return *types[k % types.size()];
}

std::int64_t special_integer(Choices& c) {
  static const std::int64_t values[] = {0, 1, 2, 3, 4, 8, 256, -1, -2, 1 << 20, std::int64_t{1} << 31,
                                        std::int64_t{1} << 33, std::int64_t{1} << 40, INT64_MAX, INT64_MIN};
  const std::uint32_t k = c.below(18);
  if (k < std::size(values)) return values[k];
  return static_cast<std::int64_t>(c.u64());
}

void string_attribute(const H5::H5Object& o, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  o.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
}

// An attribute that is usually `right` (a string or an integer), sometimes of another type or shape.
void attribute(Choices& c, const H5::H5Object& o, const std::string& name, const std::string* right_text,
               const std::int64_t* right_int) {
  switch (c.below(24)) {  // 0-5 wrong in one way each, else right
    case 0:
      return;  // missing
    case 1:
      string_attribute(o, name, c.text());
      return;
    case 2: {
      const std::int64_t v = special_integer(c);
      o.createAttribute(name, H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR))
          .write(H5::PredType::NATIVE_INT64, &v);
      return;
    }
    case 3: {
      const double v = static_cast<double>(special_integer(c)) / 3.0;
      o.createAttribute(name, H5::PredType::NATIVE_DOUBLE, H5::DataSpace(H5S_SCALAR))
          .write(H5::PredType::NATIVE_DOUBLE, &v);
      return;
    }
    case 4: {  // an array of several integers
      const hsize_t n = 1 + c.below(3);
      std::vector<std::int64_t> v(n);
      for (auto& x : v) x = special_integer(c);
      o.createAttribute(name, H5::PredType::NATIVE_INT64, H5::DataSpace(1, &n)).write(H5::PredType::NATIVE_INT64, v.data());
      return;
    }
    case 5: {  // a fixed-length string
      const std::string s = right_text ? *right_text : c.text();
      H5::StrType type(H5::PredType::C_S1, std::max<std::size_t>(1, s.size()));
      o.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, s);
      return;
    }
    default:
      if (right_text) string_attribute(o, name, *right_text);
      if (right_int)
        o.createAttribute(name, H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR))
            .write(H5::PredType::NATIVE_INT64, right_int);
      return;
  }
}

void string_dataset(Choices& c, const H5::Group& g, const std::string& name, hsize_t n) {
  std::vector<std::string> values(n);
  for (auto& s : values) s = c.text();
  std::vector<const char*> pointers;
  for (const auto& s : values) pointers.push_back(s.c_str());
  if (c.below(4) == 0) {  // fixed-length, space- or null-padded
    H5::StrType type(H5::PredType::C_S1, 1 + c.below(8));
    if (c.below(2)) type.setStrpad(H5T_STR_SPACEPAD);
    H5::DataSet d = g.createDataSet(name, type, H5::DataSpace(1, &n));
    std::vector<char> buffer(n * type.getSize(), ' ');
    for (hsize_t i = 0; i < n; ++i)
      std::memcpy(buffer.data() + i * type.getSize(), values[i].data(), std::min(values[i].size(), type.getSize()));
    if (n > 0) d.write(buffer.data(), type);
    return;
  }
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  H5::DataSet d = g.createDataSet(name, type, H5::DataSpace(1, &n));
  if (n > 0) d.write(pointers.data(), type);
}

// A numeric dataset of `rows` rows: type, rank, other dims and values from the choices. Values are
// written only when small; larger shapes stay unwritten (they read as zeros), as a sparse file would.
void numeric_dataset(Choices& c, const H5::Group& g, const std::string& name, hsize_t rows) {
  const H5::PredType& type = element_type(c.below(12) < 6 ? 0 : c.byte());
  const int rank = static_cast<int>(c.below(4));
  std::vector<hsize_t> dims;
  if (rank > 0) dims.push_back(rows);
  for (int d = 1; d < rank; ++d) dims.push_back(c.below(8) == 0 ? hsize_t{1} << (10 + c.below(8)) : c.below(6));
  H5::DataSpace space = rank == 0 ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(rank, dims.data());
  hsize_t elements = 1;
  for (hsize_t d : dims) elements *= d;
  H5::DSetCreatPropList create;
  if (rank > 0 && elements > 0) {
    std::vector<hsize_t> chunk(dims);
    for (hsize_t& d : chunk) d = std::clamp<hsize_t>(d, 1, 16);
    create.setChunk(rank, chunk.data());
    if (c.below(3) == 0) create.setDeflate(1);
  }
  H5::DataSet d = g.createDataSet(name, type, space, create);
  const std::size_t bytes = elements * type.getSize();
  if (elements > 0 && bytes <= 4096) d.write(c.take(bytes).data(), type);
  if (name == "inputs") {
    const double one = 1.0 / 255.0;
    for (const char* a : {"scale", "offset"}) {
      switch (c.below(6)) {
        case 0:
          break;
        case 1:
          string_attribute(d, a, c.text());
          break;
        case 2: {
          const std::int64_t v = special_integer(c);
          d.createAttribute(a, H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR)).write(H5::PredType::NATIVE_INT64, &v);
          break;
        }
        default: {
          double v = c.below(4) == 0 ? static_cast<double>(static_cast<std::int64_t>(c.u64())) : one;
          if (c.below(16) == 0) std::memcpy(&v, c.take(8).data(), 8);  // any bit pattern: NaN, Inf
          d.createAttribute(a, H5::PredType::NATIVE_DOUBLE, H5::DataSpace(H5S_SCALAR)).write(H5::PredType::NATIVE_DOUBLE, &v);
        }
      }
    }
  }
}

// A dataset of the given type and dims, values from the choices when small (zeros past their end).
void typed_dataset(Choices& c, const H5::Group& g, const std::string& name, const H5::PredType& type,
                   std::vector<hsize_t> dims, const void* values = nullptr) {
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  hsize_t elements = 1;
  for (hsize_t d : dims) elements *= d;
  H5::DataSet d = g.createDataSet(name, type, space);
  if (elements == 0) return;
  if (values) {
    d.write(values, type);
  } else if (elements * type.getSize() <= 4096) {
    d.write(c.take(elements * type.getSize()).data(), type);
  }
}

void scale_offset(Choices& c, const H5::DataSet& inputs) {
  for (const char* a : {"scale", "offset"}) {
    double v = std::string_view(a) == "scale" ? 1.0 / 255.0 : 0.0;
    if (c.below(8) == 0) std::memcpy(&v, c.take(8).data(), 8);  // any bit pattern: NaN, Inf, huge
    inputs.createAttribute(a, H5::PredType::NATIVE_DOUBLE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_DOUBLE, &v);
  }
}

// The datasets the task requires, with the right names, types, ranks and row counts (values from the
// choices), so that most files get past the layout checks to the reads behind them.
void faithful_split(Choices& c, const H5::Group& g, const std::string& task, hsize_t count) {
  const hsize_t width = 1 + c.below(4), length = 1 + c.below(6);
  if (task == "classification") {
    const bool as_float = c.below(2) == 0;
    typed_dataset(c, g, "inputs", as_float ? H5::PredType::NATIVE_FLOAT : H5::PredType::NATIVE_UINT8,
                  {count, width, width});
    scale_offset(c, g.openDataSet("inputs"));
    std::vector<std::int64_t> labels(count);
    for (auto& l : labels) l = c.below(12);
    typed_dataset(c, g, "labels", H5::PredType::NATIVE_INT64, {count}, labels.data());
  } else if (task == "language_model") {
    std::vector<std::int64_t> offsets{0};
    for (hsize_t d = 0; d < count; ++d) offsets.push_back(offsets.back() + c.below(8));
    if (c.below(8) == 0 && !offsets.empty()) offsets[c.below(static_cast<std::uint32_t>(offsets.size()))] += 3;
    typed_dataset(c, g, "tokens", H5::PredType::NATIVE_UINT8, {static_cast<hsize_t>(offsets.back())});
    typed_dataset(c, g, "doc_offsets", H5::PredType::NATIVE_INT64, {offsets.size()}, offsets.data());
    string_dataset(c, g, "doc_names", count);
  } else {
    if (task == "vqa") typed_dataset(c, g, "images", H5::PredType::NATIVE_UINT8, {count, width, width});
    for (const char* part : {"prompt", "answer"}) {
      typed_dataset(c, g, std::string(part) + "_tokens", H5::PredType::NATIVE_UINT8, {count, length});
      typed_dataset(c, g, std::string(part) + "_lengths", H5::PredType::NATIVE_INT32, {count});
    }
    if (task == "program_synthesis")
      for (const char* io : {"io_inputs", "io_outputs", "test_inputs", "test_outputs"})
        typed_dataset(c, g, io, H5::PredType::NATIVE_INT64, {count, width});
  }
}

const char* const kTasks[] = {"classification", "language_model", "vqa", "program_synthesis"};
const char* const kDatasetNames[] = {"inputs",         "labels",        "tokens",         "doc_offsets",
                                     "doc_names",      "images",        "prompt_tokens",  "prompt_lengths",
                                     "answer_tokens",  "answer_lengths", "io_inputs",     "io_outputs",
                                     "test_inputs",    "test_outputs",  "extra"};

void build(Choices& c, const std::string& path) {
  H5::H5File file(path, H5F_ACC_TRUNC);
  H5::Group root = file.openGroup("/");
  const std::string format = "snnconv-dataset", task = kTasks[c.below(4)], name = "fuzz", byte = "byte";
  const std::int64_t version = 1, vocab = 256;
  attribute(c, root, "format", &format, nullptr);
  attribute(c, root, "format_version", nullptr, &version);
  attribute(c, root, "task", &task, nullptr);
  attribute(c, root, "name", &name, nullptr);
  attribute(c, root, "tokenizer", &byte, nullptr);
  attribute(c, root, "vocab_size", nullptr, &vocab);
  switch (c.below(12)) {
    case 0:
      break;
    case 1:
      root.createGroup("class_names");
      break;
    case 2:
      numeric_dataset(c, root, "class_names", c.below(4));
      break;
    default:
      string_dataset(c, root, "class_names", 1 + c.below(5));
  }
  for (const char* split : {"train", "val", "test"}) {
    const std::uint32_t mode = c.below(8);
    if (mode == 0) continue;
    if (mode == 1) {
      numeric_dataset(c, root, split, 1);
      continue;
    }
    H5::Group g = root.createGroup(split);
    if (c.below(4) != 0) {  // mostly a split that fits the task, sometimes with one stray dataset
      const std::int64_t count = c.below(9);
      g.createAttribute("count", H5::PredType::NATIVE_INT64, H5::DataSpace(H5S_SCALAR))
          .write(H5::PredType::NATIVE_INT64, &count);
      faithful_split(c, g, task, static_cast<hsize_t>(count));
      if (c.below(8) == 0) numeric_dataset(c, g, kDatasetNames[c.below(15)], static_cast<hsize_t>(count));
      continue;
    }
    const std::int64_t count = c.below(6) == 0 ? special_integer(c) : c.below(9);
    attribute(c, g, "count", nullptr, &count);
    if (c.below(10) == 0) g.createGroup("subgroup");
    for (const char* dataset : kDatasetNames) {
      if (c.below(3) == 0) continue;
      const std::uint32_t rows_choice = c.below(8);
      const hsize_t rows = rows_choice == 0 ? c.below(10) : rows_choice == 1 ? hsize_t{1} << (8 + c.below(28))
                                                                              : static_cast<hsize_t>(std::max<std::int64_t>(count, 0) % 4096);
      if (std::string_view(dataset) == "doc_names" || c.below(16) == 0)
        string_dataset(c, g, dataset, std::min<hsize_t>(rows, 64));
      else
        numeric_dataset(c, g, dataset, rows);
    }
  }
}

}  // namespace

void build_h5_file(std::span<const std::uint8_t> bytes, const std::string& path) {
  Choices c(bytes);
  H5::Exception::dontPrint();
  try {
    build(c, path);
  } catch (const H5::Exception&) {
    // A combination HDF5 refuses to write: the file stays as far as it got.
  }
}

}  // namespace snnconv::fuzz
