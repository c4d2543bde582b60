// Reading dataset files (docs/datasets.md). Opening validates the whole layout once, so that a bad file
// fails at open with a ParseError naming the file and the dataset path, never halfway through training.
// Reads are streamed: only the requested rows leave the disk. A reader keeps the datasets it has read
// open (their chunk caches make consecutive batches cheap); HDF5 here is not thread-safe, so use a reader
// from one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/dtype.hpp"
#include "snnconv/core/tensor.hpp"
#include "snnconv/datasets/layout.hpp"

namespace snnconv::datasets {

class DatasetReader {
 public:
  // Opens and validates. IoError when the file cannot be opened, ParseError when it is not HDF5 or
  // breaks the layout.
  explicit DatasetReader(const std::filesystem::path& path);
  ~DatasetReader();
  DatasetReader(DatasetReader&&) noexcept;
  DatasetReader& operator=(DatasetReader&&) noexcept;
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;

  const std::filesystem::path& path() const;
  const DatasetInfo& info() const;

  // Present splits in canonical order (train, val, test).
  std::vector<std::string> splits() const;
  bool has_split(std::string_view split) const;
  // The split's `count` attribute: samples, or documents for language_model.
  std::int64_t count(std::string_view split) const;

  // Datasets of a split, sorted by name.
  std::vector<std::string> dataset_names(std::string_view split) const;
  bool has_dataset(std::string_view split, std::string_view dataset) const;
  Shape shape(std::string_view split, std::string_view dataset) const;
  // Element type as read (float16/float64 are read as f32; throws UnsupportedError for strings).
  DType dtype(std::string_view split, std::string_view dataset) const;

  // Whole numeric dataset.
  Tensor read(std::string_view split, std::string_view dataset) const;
  // Rows [row_begin, row_begin + row_count) along the first dimension: shape [row_count, ...].
  // Reads only those rows (hyperslab). ShapeError when the range leaves the dataset.
  Tensor read_rows(std::string_view split, std::string_view dataset, std::int64_t row_begin,
                   std::int64_t row_count) const;
  // Elements [begin, begin + count) of a 1-D dataset, e.g. the language-model `tokens` stream.
  Tensor read_range(std::string_view split, std::string_view dataset, std::int64_t begin, std::int64_t count) const;
  // A 1-D dataset of strings (doc_names); root datasets use split "".
  std::vector<std::string> read_strings(std::string_view split, std::string_view dataset) const;

  // `scale`/`offset` attributes of a classification input dataset.
  InputTransform input_transform(std::string_view split, std::string_view dataset = "inputs") const;

  // Attributes of any object ("/", "/train", "/train/inputs"); nullopt when absent. ParseError when
  // present with the wrong type.
  std::optional<std::string> string_attribute(std::string_view object, std::string_view name) const;
  std::optional<std::int64_t> integer_attribute(std::string_view object, std::string_view name) const;
  std::optional<double> float_attribute(std::string_view object, std::string_view name) const;

  // language_model helpers. doc_offsets has count(split) + 1 entries.
  const std::vector<std::int64_t>& doc_offsets(std::string_view split) const;
  std::vector<std::string> doc_names(std::string_view split) const;
  // The bytes of document `doc` (a slice of `tokens`).
  std::string read_document(std::string_view split, std::int64_t doc) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One batch of a classification split: what a model consumes.
struct ClassificationBatch {
  std::int64_t row_begin = 0;
  Tensor inputs;  // f32 [B, ...], `scale`/`offset` applied
  Tensor labels;  // i64 [B]
};

// Reads rows [row_begin, row_begin + row_count) of a classification split as one batch. NumericError naming
// the file, "/SPLIT/inputs", the sample index and the element when an input is NaN or infinite after the
// scale/offset transform.
ClassificationBatch read_classification_batch(const DatasetReader& reader, std::string_view split,
                                              std::int64_t row_begin, std::int64_t row_count);

// Consecutive batches over a row range of a classification split (the last batch may be short).
// Usable in range-for; every step reads one batch from disk.
class ClassificationBatches {
 public:
  // row_count < 0 means "to the end of the split".
  ClassificationBatches(const DatasetReader& reader, std::string split, std::int64_t batch_size,
                        std::int64_t row_begin = 0, std::int64_t row_count = -1);

  std::int64_t batch_size() const { return batch_size_; }
  std::int64_t row_count() const { return row_count_; }
  std::int64_t batch_count() const;
  ClassificationBatch batch(std::int64_t index) const;

  class Iterator {
   public:
    Iterator(const ClassificationBatches* owner, std::int64_t index) : owner_(owner), index_(index) {}
    const ClassificationBatch& operator*();
    const ClassificationBatch* operator->() { return &**this; }
    Iterator& operator++();
    bool operator==(const Iterator& other) const { return index_ == other.index_; }
    bool operator!=(const Iterator& other) const { return index_ != other.index_; }

   private:
    const ClassificationBatches* owner_;
    std::int64_t index_;
    std::optional<ClassificationBatch> current_;  // loaded on first dereference
  };
  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const { return Iterator(this, batch_count()); }

 private:
  const DatasetReader* reader_;
  std::string split_;
  std::int64_t batch_size_;
  std::int64_t row_begin_;
  std::int64_t row_count_;
};

}  // namespace snnconv::datasets
