// Writing dataset files (docs/datasets.md). The file is built in memory (libhdf5's core driver) and written
// by commit() only after the finished image passed the same layout validation the reader applies, through
// core/atomic_output.hpp (a temporary in the target folder, flushed, size-checked, renamed; a full disk is an
// IoError in the OS's words). If commit() is never reached (an exception, an early return) nothing was
// written, so a failed import never leaves a file behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/tensor.hpp"
#include "snnconv/datasets/layout.hpp"

namespace snnconv::datasets {

struct WriterOptions {
  // gzip level of numeric datasets (0 = uncompressed). Level 1 already gets Fashion-MNIST from 56 to
  // 32 MB; higher levels gain < 2% for 1.3x the time. Rows are chunked (~1 MiB) either way, so streaming
  // reads of a few rows stay cheap.
  int deflate_level = 1;
};

class DatasetWriter {
 public:
  // Creates the in-memory file and writes `format` and `format_version`. IoError when the target's folder
  // does not exist.
  explicit DatasetWriter(std::filesystem::path final_path, WriterOptions options = {});
  // Discards the in-memory file unless commit() succeeded. Never throws.
  ~DatasetWriter();
  DatasetWriter(DatasetWriter&&) noexcept;
  DatasetWriter& operator=(DatasetWriter&&) = delete;
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  const std::filesystem::path& final_path() const;
  const std::filesystem::path& temporary_path() const;

  // Root attributes name/task/source/license/preprocessing, tokenizer/vocab_size when set, and the
  // class_names dataset when non-empty.
  void write_info(const DatasetInfo& info);

  // A numeric dataset /SPLIT/DATASET (f32, i8, u8, i32 or i64; any rank >= 1). The split group is
  // created on first use.
  void write_tensor(std::string_view split, std::string_view dataset, const Tensor& values);
  // A 1-D dataset of variable-length UTF-8 strings. split "" writes at the root (class_names).
  void write_strings(std::string_view split, std::string_view dataset, const std::vector<std::string>& values);
  // `scale` and `offset` float attributes of a classification input dataset (written before).
  void set_input_transform(std::string_view split, std::string_view dataset, InputTransform transform);

  // Attributes on an existing object ("/", "/train", "/train/inputs"). Scalar; strings are vlen UTF-8.
  void set_string_attribute(std::string_view object, std::string_view name, std::string_view value);
  void set_integer_attribute(std::string_view object, std::string_view name, std::int64_t value);
  void set_float_attribute(std::string_view object, std::string_view name, double value);

  // Writes each split's `count` (the common first dimension; documents for language_model), validates the
  // image and writes it atomically onto final_path. ParseError/ShapeError when the content breaks the layout,
  // IoError when writing fails (nothing is left behind either way). Returns the file size in bytes.
  std::uintmax_t commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `.NAME.tmp-PID` in the folder of `final_path`: hidden, and unique per process.
std::filesystem::path temporary_path_for(const std::filesystem::path& final_path);

}  // namespace snnconv::datasets
