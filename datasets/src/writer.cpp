#include "snnconv/datasets/writer.hpp"
#include "snnconv/core/atomic_output.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>

#include "h5_io.hpp"

namespace snnconv::datasets {

namespace fs = std::filesystem;

fs::path temporary_path_for(const fs::path& final_path) {
  return temporary_name_for(final_path);
}

struct DatasetWriter::Impl {
  fs::path final_path;
  fs::path temporary_path;
  std::string file_name;  // final path, for error messages: that is the file the user asked for
  WriterOptions options;
  std::optional<H5::H5File> file;  // in memory until commit() (h5_io.hpp)
  bool committed = false;
  // split -> dataset -> first dimension, to compute `count` and report disagreements clearly.
  std::map<std::string, std::map<std::string, std::int64_t>> first_dims;

  ErrorContext context(const std::string& object = "") const { return ErrorContext{file_name, "", "", object}; }

  template <typename F>
  auto guarded(const std::string& object, F&& operation) {
    if (!file) throw Error("dataset writer: used after commit", context(object));
    try {
      return operation();
    } catch (const H5::Exception& e) {
      throw IoError("write failed: " + detail::describe(e), context(object));
    }
  }

  void check_split(std::string_view split) const {
    if (std::find(std::begin(kSplitNames), std::end(kSplitNames), split) == std::end(kSplitNames))
      throw UsageError(fmt::format("split '{}' is not one of train, val, test", split),
                       context("/" + std::string(split)));
  }

  void check_name(std::string_view split, std::string_view dataset) const {
    if (dataset.empty() || dataset.find('/') != std::string_view::npos)
      throw UsageError(fmt::format("dataset name '{}' must be non-empty without '/'", dataset),
                       context(detail::object_path(split, dataset)));
    std::string path = detail::object_path(split, dataset);
    // H5Lexists fails on a path whose group is missing, so ask about the group first.
    bool group_exists =
        split.empty() || H5Lexists(file->getId(), detail::object_path("", split).c_str(), H5P_DEFAULT) > 0;
    if (group_exists && H5Lexists(file->getId(), path.c_str(), H5P_DEFAULT) > 0)
      throw UsageError("dataset written twice", context(path));
  }

  H5::Group group(std::string_view split) {
    if (split.empty()) return file->openGroup("/");
    std::string path = detail::object_path("", split);
    if (H5Lexists(file->getId(), path.c_str(), H5P_DEFAULT) > 0) return file->openGroup(path);
    first_dims[std::string(split)];  // an empty split still gets its `count`
    return detail::create_group(*file, path);
  }
};

DatasetWriter::DatasetWriter(fs::path final_path, WriterOptions options) : impl_(std::make_unique<Impl>()) {
  detail::silence_hdf5();
  impl_->final_path = std::move(final_path);
  impl_->temporary_path = temporary_path_for(impl_->final_path);
  impl_->file_name = impl_->final_path.string();
  impl_->options = options;
  fs::path folder = impl_->final_path.parent_path();
  std::error_code ec;
  if (!folder.empty() && !fs::is_directory(folder, ec))
    throw IoError("cannot write: the folder does not exist", impl_->context());
  try {
    impl_->file.emplace(detail::create_file(impl_->file_name));
    H5::Group root = impl_->file->openGroup("/");
    detail::set_string_attribute(root, "format", kFormatName);
    detail::set_integer_attribute(root, "format_version", kFormatVersion);
  } catch (const H5::Exception& e) {
    impl_->file.reset();
    throw IoError("cannot create the dataset file: " + detail::describe(e), impl_->context());
  }
}

DatasetWriter::~DatasetWriter() {
  if (!impl_ || impl_->committed) return;
  try {
    impl_->file.reset();  // in memory: nothing reaches the disk
  } catch (...) {
  }
}

DatasetWriter::DatasetWriter(DatasetWriter&&) noexcept = default;

const fs::path& DatasetWriter::final_path() const {
  return impl_->final_path;
}
const fs::path& DatasetWriter::temporary_path() const {
  return impl_->temporary_path;
}

void DatasetWriter::write_info(const DatasetInfo& info) {
  set_string_attribute("/", "name", info.name);
  set_string_attribute("/", "task", task_name(info.task));
  set_string_attribute("/", "source", info.source);
  set_string_attribute("/", "license", info.license);
  set_string_attribute("/", "preprocessing", info.preprocessing);
  if (!info.tokenizer.empty()) {
    set_string_attribute("/", "tokenizer", info.tokenizer);
    set_integer_attribute("/", "vocab_size", info.vocab_size);
  }
  if (!info.class_names.empty()) write_strings("", "class_names", info.class_names);
}

void DatasetWriter::write_tensor(std::string_view split, std::string_view dataset, const Tensor& values) {
  impl_->check_split(split);
  std::string path = detail::object_path(split, dataset);
  impl_->guarded(path, [&] {
    impl_->check_name(split, dataset);
    if (values.rank() < 1)
      throw ShapeError("a split dataset needs at least one dimension (its rows)", impl_->context(path));
    detail::write_tensor(impl_->group(split), std::string(dataset), values, impl_->options.deflate_level);
    impl_->first_dims[std::string(split)][std::string(dataset)] = values.dim(0);
  });
}

void DatasetWriter::write_strings(std::string_view split, std::string_view dataset,
                                  const std::vector<std::string>& values) {
  if (!split.empty()) impl_->check_split(split);
  std::string path = detail::object_path(split, dataset);
  impl_->guarded(path, [&] {
    impl_->check_name(split, dataset);
    detail::write_strings(impl_->group(split), std::string(dataset), values);
    if (!split.empty())
      impl_->first_dims[std::string(split)][std::string(dataset)] = static_cast<std::int64_t>(values.size());
  });
}

void DatasetWriter::set_input_transform(std::string_view split, std::string_view dataset, InputTransform transform) {
  std::string path = detail::object_path(split, dataset);
  set_float_attribute(path, "scale", transform.scale);
  set_float_attribute(path, "offset", transform.offset);
}

namespace {
template <typename F>
void with_object(const H5::H5File& file, const std::string& path, const ErrorContext& context, F&& action) {
  auto object = detail::open_object(file, path);
  if (!object) throw UsageError("attribute on a missing object (write the dataset first)", context);
  action(object->get());
}
}  // namespace

void DatasetWriter::set_string_attribute(std::string_view object, std::string_view name, std::string_view value) {
  std::string path(object);
  impl_->guarded(path, [&] {
    with_object(*impl_->file, path, impl_->context(path),
                [&](const H5::H5Object& o) { detail::set_string_attribute(o, std::string(name), value); });
  });
}

void DatasetWriter::set_integer_attribute(std::string_view object, std::string_view name, std::int64_t value) {
  std::string path(object);
  impl_->guarded(path, [&] {
    with_object(*impl_->file, path, impl_->context(path),
                [&](const H5::H5Object& o) { detail::set_integer_attribute(o, std::string(name), value); });
  });
}

void DatasetWriter::set_float_attribute(std::string_view object, std::string_view name, double value) {
  std::string path(object);
  impl_->guarded(path, [&] {
    with_object(*impl_->file, path, impl_->context(path),
                [&](const H5::H5Object& o) { detail::set_float_attribute(o, std::string(name), value); });
  });
}

std::uintmax_t DatasetWriter::commit() {
  impl_->guarded("", [&] {
    for (const auto& [split, dims] : impl_->first_dims) {
      // Language-model streams have their own lengths; the split counts documents.
      bool is_stream_split = dims.count("doc_offsets") > 0;
      std::optional<std::int64_t> count;
      if (is_stream_split) count = dims.at("doc_offsets") - 1;
      std::string listing;
      bool agree = true;
      for (const auto& [dataset, first] : dims) {
        if (is_stream_split && (dataset == "tokens" || dataset == "doc_offsets")) continue;
        listing += fmt::format("{}{}={}", listing.empty() ? "" : ", ", dataset, first);
        if (!count) count = first;
        agree = agree && first == *count;
      }
      if (!agree)
        throw ShapeError(fmt::format("datasets of split '{}' disagree on the number of rows ({})", split, listing),
                         impl_->context("/" + split));
      detail::set_integer_attribute(impl_->file->openGroup("/" + split), "count",
                                    std::max<std::int64_t>(0, count.value_or(0)));
    }
  });
  std::string image;
  try {
    image = detail::file_image(*impl_->file);
    impl_->file->close();
    impl_->file.reset();
    // The reader's own validation: a file we rename into place is a file we can read.
    const H5::H5File check = detail::open_image(image, impl_->file_name);
    detail::validate_layout(check, impl_->file_name);
  } catch (const H5::Exception& e) {
    throw IoError("cannot build the dataset file: " + detail::describe(e), impl_->context());
  }
  write_file_atomically(impl_->final_path, image, "dataset file");
  impl_->committed = true;
  return image.size();
}

}  // namespace snnconv::datasets
