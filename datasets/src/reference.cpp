#include "snnconv/datasets/reference.hpp"

#include <fmt/format.h>

#include "h5_io.hpp"
#include "snnconv/core/temp_files.hpp"
#include "snnconv/datasets/writer.hpp"

namespace snnconv::datasets {

namespace fs = std::filesystem;

namespace {

// Depth-first over a group; nested groups (names with '/') become joined names.
void read_group(const H5::H5File& file, const std::string& file_name, const std::string& group_path,
                const std::string& prefix, std::map<std::string, Tensor>& out) {
  H5::Group group = file.openGroup(group_path);
  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    std::string child = group.getObjnameByIdx(i);
    std::string path = group_path + "/" + child;
    std::string name = prefix.empty() ? child : prefix + "/" + child;
    H5O_type_t type = group.childObjType(child);
    if (type == H5O_TYPE_GROUP) {
      read_group(file, file_name, path, name, out);
      continue;
    }
    detail::Where where{file_name, path};
    if (type != H5O_TYPE_DATASET) detail::fail_parse(where, "neither a group nor a dataset");
    H5::DataSet dataset = file.openDataSet(path);
    H5::DataType stored = dataset.getDataType();
    auto dtype = detail::is_string_type(stored) ? std::nullopt : detail::read_dtype(stored);
    if (!dtype)
      detail::fail_parse(where, fmt::format("element type {} is not a tensor type (f32, f64, i64, i32, u8, i8)",
                                            detail::describe_type(stored)));
    Shape shape = detail::dataset_shape(dataset);
    if (static_cast<int>(shape.size()) > kMaxRank)
      throw LimitError(fmt::format("rank {} exceeds the limit {}", shape.size(), kMaxRank), detail::context_of(where));
    out.emplace(name, detail::read_rows(dataset, *dtype, shape, 0, -1));
  }
}

}  // namespace

ReferenceData read_reference_file(const fs::path& path) {
  std::string file_name = path.string();
  H5::H5File file = detail::open_read_only(file_name);
  ReferenceData data;
  try {
    for (const char* group : {"inputs", "outputs"}) {
      std::string group_path = detail::object_path("", group);
      if (H5Lexists(file.getId(), group_path.c_str(), H5P_DEFAULT) <= 0 ||
          file.childObjType(group_path) != H5O_TYPE_GROUP)
        detail::fail_parse({file_name, group_path}, "missing group (a reference file holds /inputs and /outputs)");
      read_group(file, file_name, group_path, "", group == std::string("inputs") ? data.inputs : data.outputs);
    }
  } catch (const H5::Exception& e) {
    throw ParseError("unreadable reference file: " + detail::describe(e), ErrorContext{file_name, "", "", ""});
  }
  return data;
}

void write_reference_file(const fs::path& path, const ReferenceData& data) {
  detail::write_file_atomically(path, "reference file", [&](H5::H5File& file) {
    for (const auto& [group_name, tensors] : {std::pair{"inputs", &data.inputs}, std::pair{"outputs", &data.outputs}}) {
      H5::Group group = detail::create_group(file, std::string("/") + group_name);
      // Exact values matter more than size here: no compression.
      for (const auto& [name, tensor] : *tensors) detail::write_tensor(group, name, tensor, 0);
    }
  });
}

}  // namespace snnconv::datasets
