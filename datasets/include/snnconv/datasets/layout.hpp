// Names and constants of the dataset file layout (docs/datasets.md, format version 1), shared by the
// reader, the writer and the importers so that the strings exist in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace snnconv::datasets {

inline constexpr std::string_view kFormatName = "snnconv-dataset";
inline constexpr std::int64_t kFormatVersion = 1;

// Split groups in their canonical order; only these root groups are splits.
inline constexpr std::string_view kSplitNames[] = {"train", "val", "test"};

enum class Task : std::uint8_t { classification, language_model, vqa, program_synthesis };

std::string_view task_name(Task task);
std::optional<Task> task_from_name(std::string_view name);

// Root attributes and root datasets of one file. Written by DatasetWriter::write_info, read by
// DatasetReader::info.
struct DatasetInfo {
  std::string name;  // e.g. "fashion-mnist"
  Task task = Task::classification;
  std::string source;         // where the bytes came from
  std::string license;        // licence of the original data
  std::string preprocessing;  // one line: what was done to the original data
  std::int64_t format_version = kFormatVersion;
  std::vector<std::string> class_names;  // classification and vqa; empty otherwise
  std::string tokenizer;                 // language_model: "byte"; empty otherwise
  std::int64_t vocab_size = 0;           // language_model: 256; 0 otherwise
};

// The model's input is `inputs * scale + offset` (classification `inputs` attributes).
struct InputTransform {
  double scale = 1.0;
  double offset = 0.0;
};

}  // namespace snnconv::datasets
