#include "snnconv/datasets/reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "h5_io.hpp"
#include "hdf5_probe.hpp"

namespace snnconv::datasets {

using detail::Where;

namespace {
// Per open dataset: several 1 MiB chunks, so a batch straddling two chunks decompresses each once.
constexpr std::size_t kChunkCacheBytes = std::size_t{8} << 20;
constexpr std::size_t kChunkCacheSlots = 521;  // a prime well above the chunk count held

// The probe (hdf5_probe.hpp) reads every array of a file in blocks of at most kProbeBlockBytes; past
// kProbeFullReadBytes of data per file it reads only the first and the last block of each dataset.
constexpr std::int64_t kProbeBlockBytes = std::int64_t{16} << 20;
constexpr std::int64_t kProbeFullReadBytes = std::int64_t{1} << 30;

// One dataset as the probe reads it: strings whole, numbers in blocks within the budget.
void probe_dataset(const DatasetReader& reader, const std::string& split, const std::string& name,
                   std::int64_t& budget) {
  const Shape shape = reader.shape(split, name);
  DType dtype{};
  try {
    dtype = reader.dtype(split, name);
  } catch (const UnsupportedError&) {
    (void)reader.read_strings(split, name);
    return;
  }
  if (shape.empty()) {
    (void)reader.read(split, name);
    return;
  }
  if (reader.info().task == Task::classification && name == "inputs") (void)reader.input_transform(split, name);
  std::int64_t row_bytes = static_cast<std::int64_t>(dtype_size(dtype));
  for (std::size_t d = 1; d < shape.size(); ++d)  // saturating: a crafted shape must not overflow here
    row_bytes = shape[d] > 0 && row_bytes > kProbeFullReadBytes / shape[d] ? kProbeFullReadBytes + 1
                                                                            : row_bytes * std::max<std::int64_t>(shape[d], 1);
  const std::int64_t rows_per_block = std::max<std::int64_t>(1, kProbeBlockBytes / row_bytes);
  const std::int64_t rows = shape[0];
  auto read_block = [&](std::int64_t begin) {
    const std::int64_t count = std::min(rows_per_block, rows - begin);
    (void)reader.read_rows(split, name, begin, count);
    budget -= count * row_bytes;
  };
  if (rows <= budget / row_bytes) {
    for (std::int64_t begin = 0; begin < rows; begin += rows_per_block) read_block(begin);
  } else if (rows > 0) {  // over the limit: the first and the last block
    read_block(0);
    if (rows > rows_per_block) read_block(rows - rows_per_block);
  }
}

// What the probe child reads: the layout validation (the constructor; its error is the constructor's error
// in the parent too), then every split's arrays and the attributes readers use. An error of one of these
// reads is left for the parent to meet if it ever does that read: the probe goes on with the next dataset.
void probe_reads(const std::filesystem::path& path) {
  const DatasetReader reader(path);
  std::int64_t budget = kProbeFullReadBytes;
  for (const std::string& split : reader.splits())
    for (const std::string& name : reader.dataset_names(split)) {
      try {
        probe_dataset(reader, split, name, budget);
      } catch (const Error&) {
      }
    }
}
}  // namespace

struct DatasetReader::Impl {
  std::filesystem::path path;
  std::string file_name;
  H5::H5File file;
  detail::Layout layout;

  const detail::SplitMeta& split(std::string_view name) const {
    for (const detail::SplitMeta& s : layout.splits)
      if (s.name == name) return s;
    std::string present;
    for (const detail::SplitMeta& s : layout.splits) present += (present.empty() ? "" : ", ") + s.name;
    throw UsageError(fmt::format("no split '{}' (present: {})", name, present),
                     ErrorContext{file_name, "", "", "/" + std::string(name)});
  }

  const detail::DatasetMeta& meta(std::string_view split_name, std::string_view dataset) const {
    const detail::SplitMeta& s = split(split_name);
    auto found = s.datasets.find(dataset);
    if (found == s.datasets.end())
      throw UsageError(fmt::format("no dataset '{}' in split '{}'", dataset, split_name),
                       ErrorContext{file_name, "", "", detail::object_path(split_name, dataset)});
    return found->second;
  }

  DType numeric_dtype(std::string_view split_name, std::string_view dataset) const {
    const detail::DatasetMeta& m = meta(split_name, dataset);
    if (!m.dtype)
      throw UnsupportedError("strings cannot be read as a tensor (use read_strings)",
                             ErrorContext{file_name, "", "", detail::object_path(split_name, dataset)});
    return *m.dtype;
  }

  // Datasets stay open between reads so that HDF5's chunk cache survives from one batch to the next:
  // reopening per batch decompressed every chunk once per batch that touched it (5x slower).
  mutable std::map<std::string, H5::DataSet, std::less<>> open_datasets;

  const H5::DataSet& dataset(const std::string& path) const {
    auto found = open_datasets.find(path);
    if (found != open_datasets.end()) return found->second;
    H5::DSetAccPropList access;
    access.setChunkCache(kChunkCacheSlots, kChunkCacheBytes, 1.0);
    return open_datasets.emplace(path, file.openDataSet(path, access)).first->second;
  }

  // Runs an HDF5 operation, turning its exceptions into IoError naming the file and object.
  template <typename F>
  auto guarded(const std::string& object, F&& operation) const {
    try {
      return operation();
    } catch (const H5::Exception& e) {
      throw IoError("read failed: " + detail::describe(e), ErrorContext{file_name, "", "", object});
    }
  }

  detail::Object object(std::string_view path) const {
    std::string p(path);
    auto found = guarded(p, [&] { return detail::open_object(file, p); });
    if (!found) throw UsageError("no such object", ErrorContext{file_name, "", "", p});
    return *found;
  }
};

DatasetReader::DatasetReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  // Every read in a child first: libhdf5 may crash or hang on a corrupt file (hdf5_probe.hpp).
  detail::probe_hdf5_file(path, [&] { probe_reads(path); });
  impl_->path = path;
  impl_->file_name = path.string();
  impl_->file = detail::open_read_only(impl_->file_name);
  impl_->layout = detail::validate_layout(impl_->file, impl_->file_name);
}

DatasetReader::~DatasetReader() = default;
DatasetReader::DatasetReader(DatasetReader&&) noexcept = default;
DatasetReader& DatasetReader::operator=(DatasetReader&&) noexcept = default;

const std::filesystem::path& DatasetReader::path() const {
  return impl_->path;
}
const DatasetInfo& DatasetReader::info() const {
  return impl_->layout.info;
}

std::vector<std::string> DatasetReader::splits() const {
  std::vector<std::string> out;
  for (const detail::SplitMeta& s : impl_->layout.splits) out.push_back(s.name);
  return out;
}

bool DatasetReader::has_split(std::string_view split) const {
  return std::any_of(impl_->layout.splits.begin(), impl_->layout.splits.end(),
                     [&](const detail::SplitMeta& s) { return s.name == split; });
}

std::int64_t DatasetReader::count(std::string_view split) const {
  return impl_->split(split).count;
}

std::vector<std::string> DatasetReader::dataset_names(std::string_view split) const {
  std::vector<std::string> out;
  for (const auto& [name, meta] : impl_->split(split).datasets) out.push_back(name);
  return out;
}

bool DatasetReader::has_dataset(std::string_view split, std::string_view dataset) const {
  const detail::SplitMeta& s = impl_->split(split);
  return s.datasets.find(dataset) != s.datasets.end();
}

Shape DatasetReader::shape(std::string_view split, std::string_view dataset) const {
  return impl_->meta(split, dataset).shape;
}

DType DatasetReader::dtype(std::string_view split, std::string_view dataset) const {
  return impl_->numeric_dtype(split, dataset);
}

Tensor DatasetReader::read(std::string_view split, std::string_view dataset) const {
  DType dtype = impl_->numeric_dtype(split, dataset);
  const Shape& shape = impl_->meta(split, dataset).shape;
  std::string path = detail::object_path(split, dataset);
  return impl_->guarded(path, [&] { return detail::read_rows(impl_->dataset(path), dtype, shape, 0, -1); });
}

Tensor DatasetReader::read_rows(std::string_view split, std::string_view dataset, std::int64_t row_begin,
                                std::int64_t row_count) const {
  DType dtype = impl_->numeric_dtype(split, dataset);
  const Shape& shape = impl_->meta(split, dataset).shape;
  std::string path = detail::object_path(split, dataset);
  if (row_begin < 0 || row_count < 0 || row_begin > shape[0] || row_count > shape[0] - row_begin)
    throw ShapeError(
        fmt::format("rows [{}, {}) are outside the {} rows of the dataset", row_begin, row_begin + row_count, shape[0]),
        ErrorContext{impl_->file_name, "", "", path});
  return impl_->guarded(path,
                        [&] { return detail::read_rows(impl_->dataset(path), dtype, shape, row_begin, row_count); });
}

Tensor DatasetReader::read_range(std::string_view split, std::string_view dataset, std::int64_t begin,
                                 std::int64_t count) const {
  const Shape& shape = impl_->meta(split, dataset).shape;
  if (shape.size() != 1)
    throw ShapeError(fmt::format("read_range needs a 1-D dataset, this one has shape {}", shape_to_string(shape)),
                     ErrorContext{impl_->file_name, "", "", detail::object_path(split, dataset)});
  return read_rows(split, dataset, begin, count);
}

std::vector<std::string> DatasetReader::read_strings(std::string_view split, std::string_view dataset) const {
  std::string path = detail::object_path(split, dataset);
  auto object = impl_->object(path);
  const H5::DataSet* data = object.dataset();
  if (!data) throw UsageError("not a dataset", ErrorContext{impl_->file_name, "", "", path});
  return impl_->guarded(path, [&] { return detail::read_strings(*data, Where{impl_->file_name, path}); });
}

InputTransform DatasetReader::input_transform(std::string_view split, std::string_view dataset) const {
  std::string path = detail::object_path(split, dataset);
  InputTransform transform;
  transform.scale = float_attribute(path, "scale").value_or(1.0);
  transform.offset = float_attribute(path, "offset").value_or(0.0);
  return transform;
}

std::optional<std::string> DatasetReader::string_attribute(std::string_view object, std::string_view name) const {
  auto found = impl_->object(object);
  Where where{impl_->file_name, std::string(object)};
  return impl_->guarded(where.object,
                        [&] { return detail::get_string_attribute(found.get(), std::string(name), where); });
}

std::optional<std::int64_t> DatasetReader::integer_attribute(std::string_view object, std::string_view name) const {
  auto found = impl_->object(object);
  Where where{impl_->file_name, std::string(object)};
  return impl_->guarded(where.object,
                        [&] { return detail::get_integer_attribute(found.get(), std::string(name), where); });
}

std::optional<double> DatasetReader::float_attribute(std::string_view object, std::string_view name) const {
  auto found = impl_->object(object);
  Where where{impl_->file_name, std::string(object)};
  return impl_->guarded(where.object,
                        [&] { return detail::get_float_attribute(found.get(), std::string(name), where); });
}

const std::vector<std::int64_t>& DatasetReader::doc_offsets(std::string_view split) const {
  const detail::SplitMeta& s = impl_->split(split);
  if (impl_->layout.info.task != Task::language_model)
    throw UsageError("doc_offsets exist only in language_model files", ErrorContext{impl_->file_name, "", "", ""});
  return s.doc_offsets;
}

std::vector<std::string> DatasetReader::doc_names(std::string_view split) const {
  doc_offsets(split);  // task check
  return read_strings(split, "doc_names");
}

std::string DatasetReader::read_document(std::string_view split, std::int64_t doc) const {
  const std::vector<std::int64_t>& offsets = doc_offsets(split);
  std::int64_t documents = static_cast<std::int64_t>(offsets.size()) - 1;
  if (doc < 0 || doc >= documents)
    throw ShapeError(fmt::format("document {} is outside 0..{}", doc, documents - 1),
                     ErrorContext{impl_->file_name, "", "", detail::object_path(split, "doc_offsets")});
  std::size_t d = static_cast<std::size_t>(doc);
  Tensor bytes = read_range(split, "tokens", offsets[d], offsets[d + 1] - offsets[d]);
  std::span<const std::uint8_t> view = bytes.span<std::uint8_t>();
  return std::string(view.begin(), view.end());
}

// ---- classification batches ------------------------------------------------------------------------

ClassificationBatch read_classification_batch(const DatasetReader& reader, std::string_view split,
                                              std::int64_t row_begin, std::int64_t row_count) {
  if (reader.info().task != Task::classification)
    throw UsageError(
        fmt::format("'{}' is a {} dataset, not classification", reader.info().name, task_name(reader.info().task)),
        ErrorContext{reader.path().string(), "", "", ""});
  ClassificationBatch batch;
  batch.row_begin = row_begin;
  batch.labels = reader.read_rows(split, "labels", row_begin, row_count);
  Tensor raw = reader.read_rows(split, "inputs", row_begin, row_count);
  InputTransform transform = reader.input_transform(split);
  batch.inputs = Tensor(DType::f32, raw.shape());
  float* out = batch.inputs.data<float>();
  // Computed in double, then rounded once: for scale = 1/255 this gives exactly float(x) / 255.0f, the
  // value torchvision's ToTensor feeds the reference model (x/255 is never near a float rounding midpoint).
  auto convert = [&](auto values) {
    for (std::size_t i = 0; i < values.size(); ++i)
      out[i] = static_cast<float>(static_cast<double>(values[i]) * transform.scale + transform.offset);
  };
  if (raw.dtype() == DType::u8)
    convert(raw.span<std::uint8_t>());
  else
    convert(raw.span<float>());
  // A NaN or infinity in a sample would flow silently into the model's outputs: name the sample instead.
  const std::int64_t row_elements = row_count > 0 ? batch.inputs.numel() / row_count : 0;
  for (std::int64_t i = 0; i < batch.inputs.numel(); ++i) {
    if (std::isfinite(out[i])) continue;
    const std::int64_t row = i / row_elements, element = i % row_elements;
    const double stored = raw.dtype() == DType::u8 ? static_cast<double>(raw.span<std::uint8_t>()[static_cast<std::size_t>(i)])
                                                   : static_cast<double>(raw.span<float>()[static_cast<std::size_t>(i)]);
    std::string path = detail::object_path(split, "inputs");
    throw NumericError(
        std::isfinite(stored)
            ? fmt::format("{}: sample {} element {} is {} after scale {} and offset {} (stored value {})", path,
                          row_begin + row, element, out[i], transform.scale, transform.offset, stored)
            : fmt::format("{}: sample {} element {} is {}", path, row_begin + row, element, out[i]),
        ErrorContext{reader.path().string(), "", "", path});
  }
  return batch;
}

ClassificationBatches::ClassificationBatches(const DatasetReader& reader, std::string split, std::int64_t batch_size,
                                             std::int64_t row_begin, std::int64_t row_count)
    : reader_(&reader), split_(std::move(split)), batch_size_(batch_size), row_begin_(row_begin) {
  std::int64_t rows = reader.count(split_);
  if (batch_size <= 0) throw UsageError(fmt::format("batch size must be positive, got {}", batch_size));
  if (row_begin < 0 || row_begin > rows)
    throw ShapeError(fmt::format("first row {} is outside the {} rows of split '{}'", row_begin, rows, split_),
                     ErrorContext{reader.path().string(), "", "", "/" + split_});
  row_count_ = row_count < 0 ? rows - row_begin : row_count;
  if (row_count_ > rows - row_begin)
    throw ShapeError(fmt::format("rows [{}, {}) are outside the {} rows of split '{}'", row_begin,
                                 row_begin + row_count_, rows, split_),
                     ErrorContext{reader.path().string(), "", "", "/" + split_});
}

std::int64_t ClassificationBatches::batch_count() const {
  return (row_count_ + batch_size_ - 1) / batch_size_;
}

ClassificationBatch ClassificationBatches::batch(std::int64_t index) const {
  if (index < 0 || index >= batch_count())
    throw ShapeError(fmt::format("batch {} is outside 0..{}", index, batch_count() - 1));
  std::int64_t begin = index * batch_size_;
  std::int64_t size = std::min(batch_size_, row_count_ - begin);
  return read_classification_batch(*reader_, split_, row_begin_ + begin, size);
}

const ClassificationBatch& ClassificationBatches::Iterator::operator*() {
  if (!current_) current_ = owner_->batch(index_);
  return *current_;
}

ClassificationBatches::Iterator& ClassificationBatches::Iterator::operator++() {
  ++index_;
  current_.reset();
  return *this;
}

}  // namespace snnconv::datasets
