// Layout validation: everything docs/datasets.md promises, checked once when a file is opened (and by the
// writer before it renames a finished file into place).
#include <fmt/format.h>

#include <algorithm>

#include "h5_io.hpp"

namespace snnconv::datasets {

std::string_view task_name(Task task) {
  switch (task) {
    case Task::classification:
      return "classification";
    case Task::language_model:
      return "language_model";
    case Task::vqa:
      return "vqa";
    case Task::program_synthesis:
      return "program_synthesis";
  }
  return "unknown";
}

std::optional<Task> task_from_name(std::string_view name) {
  for (Task task : {Task::classification, Task::language_model, Task::vqa, Task::program_synthesis})
    if (task_name(task) == name) return task;
  return std::nullopt;
}

namespace detail {

namespace {

// A dataset a task requires: its dtype and rank (rank 0 = any rank >= 1).
struct Required {
  std::string_view name;
  DType dtype;
  int rank;
};

constexpr Required kPromptAnswer[] = {{"prompt_tokens", DType::u8, 2},
                                      {"prompt_lengths", DType::i32, 1},
                                      {"answer_tokens", DType::u8, 2},
                                      {"answer_lengths", DType::i32, 1}};
constexpr Required kIoExamples[] = {{"io_inputs", DType::i64, 2},
                                    {"io_outputs", DType::i64, 2},
                                    {"test_inputs", DType::i64, 2},
                                    {"test_outputs", DType::i64, 2}};

std::vector<Required> required_datasets(Task task) {
  std::vector<Required> out;
  switch (task) {
    case Task::classification:
      out.push_back({"labels", DType::i64, 1});  // `inputs` has two allowed dtypes: checked apart
      break;
    case Task::language_model:
      out.push_back({"tokens", DType::u8, 1});
      out.push_back({"doc_offsets", DType::i64, 1});
      break;
    case Task::vqa:
      out.push_back({"images", DType::u8, 3});
      out.insert(out.end(), std::begin(kPromptAnswer), std::end(kPromptAnswer));
      break;
    case Task::program_synthesis:
      out.insert(out.end(), std::begin(kPromptAnswer), std::end(kPromptAnswer));
      out.insert(out.end(), std::begin(kIoExamples), std::end(kIoExamples));
      break;
  }
  return out;
}

std::string require_string(const H5::H5Object& object, const std::string& name, const Where& where) {
  auto value = get_string_attribute(object, name, where);
  if (!value) fail_parse(where, fmt::format("root attribute '{}' is missing", name));
  return *value;
}

DatasetInfo read_info(const H5::H5File& file, const std::string& file_name) {
  Where root{file_name, "/"};
  H5::Group group = file.openGroup("/");
  DatasetInfo info;
  auto format = get_string_attribute(group, "format", root);
  if (!format) fail_parse(root, fmt::format("root attribute 'format' is missing: not an {} file", kFormatName));
  if (*format != kFormatName)
    fail_parse(root, fmt::format("root attribute 'format' is '{}', expected '{}'", *format, kFormatName));
  auto version = get_integer_attribute(group, "format_version", root);
  if (!version) fail_parse(root, "root attribute 'format_version' is missing");
  if (*version != kFormatVersion)
    fail_parse(root, fmt::format("format_version {} is not supported (this reader reads version {})", *version,
                                 kFormatVersion));
  info.format_version = *version;
  std::string task = require_string(group, "task", root);
  auto parsed = task_from_name(task);
  if (!parsed)
    fail_parse(root, fmt::format("unknown task '{}' (classification, language_model, vqa, program_synthesis)", task));
  info.task = *parsed;
  info.name = require_string(group, "name", root);
  // Descriptive attributes: absent ones read as empty rather than making the data unusable.
  info.source = get_string_attribute(group, "source", root).value_or("");
  info.license = get_string_attribute(group, "license", root).value_or("");
  info.preprocessing = get_string_attribute(group, "preprocessing", root).value_or("");

  bool needs_classes = info.task == Task::classification || info.task == Task::vqa;
  if (auto names = open_object(file, "/class_names")) {
    const H5::DataSet* dataset = names->dataset();
    if (!dataset) fail_parse({file_name, "/class_names"}, "must be a dataset of strings, found a group");
    info.class_names = read_strings(*dataset, {file_name, "/class_names"});
  }
  if (needs_classes && info.class_names.empty())
    fail_parse({file_name, "/class_names"},
               fmt::format("a {} dataset needs a non-empty 1-D string dataset /class_names", task));

  if (info.task == Task::language_model) {
    info.tokenizer = require_string(group, "tokenizer", root);
    if (info.tokenizer != "byte")
      fail_parse(root, fmt::format("tokenizer '{}' is not supported (only 'byte')", info.tokenizer));
    auto vocab = get_integer_attribute(group, "vocab_size", root);
    if (!vocab) fail_parse(root, "root attribute 'vocab_size' is missing");
    if (*vocab != 256) fail_parse(root, fmt::format("vocab_size is {}, the byte tokenizer has 256", *vocab));
    info.vocab_size = *vocab;
  }
  return info;
}

void check_language_model_split(const H5::H5File& file, const std::string& file_name, SplitMeta& split) {
  const Shape& tokens = split.datasets.at("tokens").shape;
  const Shape& offsets = split.datasets.at("doc_offsets").shape;
  std::string offsets_path = object_path(split.name, "doc_offsets");
  Where where{file_name, offsets_path};
  if (offsets[0] != split.count + 1)
    fail_parse(where, fmt::format("has {} entries, expected count + 1 = {}", offsets[0], split.count + 1));
  auto names = split.datasets.find("doc_names");
  if (names == split.datasets.end())
    fail_parse({file_name, object_path(split.name, "doc_names")}, "missing (language_model split)");
  if (!names->second.is_string || names->second.shape.size() != 1 || names->second.shape[0] != split.count)
    fail_parse({file_name, object_path(split.name, "doc_names")},
               fmt::format("must be {} strings (one per document)", split.count));
  // Offsets are tiny (one per document) and a wrong one would silently mix documents: check them all.
  H5::DataSet dataset = file.openDataSet(offsets_path);
  Tensor values = read_rows(dataset, DType::i64, offsets, 0, -1);
  split.doc_offsets.assign(values.span<std::int64_t>().begin(), values.span<std::int64_t>().end());
  if (split.doc_offsets.front() != 0) fail_parse(where, "must start at 0");
  for (std::size_t d = 1; d < split.doc_offsets.size(); ++d)
    if (split.doc_offsets[d] < split.doc_offsets[d - 1])
      fail_parse(where, fmt::format("decreases at document {}", d - 1));
  if (split.doc_offsets.back() != tokens[0])
    fail_parse(where, fmt::format("ends at {}, but tokens has {} entries", split.doc_offsets.back(), tokens[0]));
}

SplitMeta read_split(const H5::H5File& file, const std::string& file_name, const DatasetInfo& info,
                     std::string_view name) {
  SplitMeta split;
  split.name = std::string(name);
  std::string group_path = "/" + split.name;
  Where where{file_name, group_path};
  H5::Group group = file.openGroup(group_path);
  auto count = get_integer_attribute(group, "count", where);
  if (!count) fail_parse(where, "split attribute 'count' is missing");
  if (*count < 0) fail_parse(where, fmt::format("count is negative ({})", *count));
  split.count = *count;

  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    std::string child = group.getObjnameByIdx(i);
    std::string child_path = object_path(split.name, child);
    Where child_where{file_name, child_path};
    if (group.childObjType(child) != H5O_TYPE_DATASET) fail_parse(child_where, "a split holds only datasets");
    H5::DataSet dataset = group.openDataSet(child);
    H5::DataType stored = dataset.getDataType();
    DatasetMeta meta;
    meta.is_string = is_string_type(stored);
    meta.dtype = meta.is_string ? std::nullopt : read_dtype(stored);
    meta.shape = dataset_shape(dataset);
    if (meta.shape.empty()) fail_parse(child_where, "scalar dataset in a split (every dataset has N rows)");
    if (!meta.is_string && !meta.dtype)
      fail_parse(child_where, fmt::format("unsupported element type {}", describe_type(stored)));
    // Language-model streams are the one exception to "first dimension = count".
    bool is_stream = info.task == Task::language_model && (child == "tokens" || child == "doc_offsets");
    if (!is_stream && meta.shape[0] != split.count)
      fail_parse(child_where,
                 fmt::format("first dimension {} differs from the split's count {}", meta.shape[0], split.count));
    split.datasets.emplace(child, std::move(meta));
  }

  auto check = [&](std::string_view dataset_name, std::initializer_list<DType> dtypes, int rank) {
    std::string path = object_path(split.name, dataset_name);
    Where dataset_where{file_name, path};
    auto found = split.datasets.find(dataset_name);
    if (found == split.datasets.end())
      fail_parse(dataset_where, fmt::format("missing (required by task {})", task_name(info.task)));
    H5::DataType stored = file.openDataSet(path).getDataType();
    auto exact = exact_dtype(stored);
    if (!exact || std::find(dtypes.begin(), dtypes.end(), *exact) == dtypes.end()) {
      std::string expected;
      for (DType d : dtypes) expected += (expected.empty() ? "" : " or ") + std::string(dtype_name(d));
      fail_parse(dataset_where, fmt::format("element type is {}, expected {}", describe_type(stored), expected));
    }
    if (rank > 0 && static_cast<int>(found->second.shape.size()) != rank)
      fail_parse(dataset_where, fmt::format("shape {} has rank {}, expected {}", shape_to_string(found->second.shape),
                                            found->second.shape.size(), rank));
  };
  for (const Required& required : required_datasets(info.task)) check(required.name, {required.dtype}, required.rank);
  if (info.task == Task::classification) {
    check("inputs", {DType::u8, DType::f32}, 0);
    std::string path = object_path(split.name, "inputs");
    H5::DataSet inputs = file.openDataSet(path);
    for (const char* attribute : {"scale", "offset"})
      if (!get_float_attribute(inputs, attribute, {file_name, path}))
        fail_parse({file_name, path}, fmt::format("float attribute '{}' is missing", attribute));
  }
  if (info.task == Task::language_model) check_language_model_split(file, file_name, split);
  return split;
}

}  // namespace

Layout validate_layout(const H5::H5File& file, const std::string& file_name) {
  Layout layout;
  try {
    layout.info = read_info(file, file_name);
    for (std::string_view name : kSplitNames) {
      std::string path = object_path("", name);
      if (H5Lexists(file.getId(), path.c_str(), H5P_DEFAULT) <= 0) continue;
      if (file.childObjType(path) != H5O_TYPE_GROUP) fail_parse({file_name, path}, "a split must be a group");
      layout.splits.push_back(read_split(file, file_name, layout.info, name));
    }
  } catch (const H5::Exception& e) {
    throw ParseError("unreadable dataset file: " + describe(e), ErrorContext{file_name, "", "", ""});
  }
  if (layout.splits.empty()) fail_parse({file_name, "/"}, "no split group (/train, /val or /test)");
  return layout;
}

}  // namespace detail
}  // namespace snnconv::datasets
