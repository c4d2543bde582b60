// Private HDF5 helpers of datasets/: type mapping, attributes, hyperslab reads, chunked writes, and the
// layout validation shared by the reader and the writer. The only place (with its .cpp users) that
// includes H5Cpp.h.
#pragma once

#include <H5Cpp.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "snnconv/core/error.hpp"
#include "snnconv/core/tensor.hpp"
#include "snnconv/datasets/layout.hpp"

namespace snnconv::datasets::detail {

// The file and the object inside it that an error is about.
struct Where {
  std::string file;
  std::string object;  // "/train/labels"; empty for the file itself
};
ErrorContext context_of(const Where& where);
// ParseError "OBJECT: MESSAGE" with the file and object in the context.
[[noreturn]] void fail_parse(const Where& where, const std::string& message);

// HDF5 prints its error stack to stderr by default; we turn its exceptions into ours instead.
void silence_hdf5();
std::string describe(const H5::Exception& e);

// "/SPLIT/DATASET", or "/DATASET" for split "".
std::string object_path(std::string_view split, std::string_view dataset);

// Opens a file read-only: IoError when missing/unreadable, ParseError when not HDF5.
H5::H5File open_read_only(const std::string& path);
// An opened group or dataset (H5Object's destructor is protected, so no pointer to the base).
struct Object {
  std::variant<H5::Group, H5::DataSet> handle;
  const H5::H5Object& get() const {
    return std::visit([](const auto& h) -> const H5::H5Object& { return h; }, handle);
  }
  const H5::DataSet* dataset() const { return std::get_if<H5::DataSet>(&handle); }
};
// A group or dataset by absolute path; nullopt when absent.
std::optional<Object> open_object(const H5::H5File& file, const std::string& path);

// The DType a stored element type is read as: exact types map to themselves; float16/float64 read as
// f32, int16/uint16 as i32, uint32 as i64. nullopt for strings, enums, compounds, uint64.
std::optional<DType> read_dtype(const H5::DataType& stored);
// The DType a stored type is without any conversion (the layout's dtype rules use this).
std::optional<DType> exact_dtype(const H5::DataType& stored);
// "uint8", "float64", "string", ... for messages.
std::string describe_type(const H5::DataType& stored);
bool is_string_type(const H5::DataType& stored);
// Memory type for a DType; UnsupportedError for f16 and bool.
const H5::PredType& memory_type(DType dtype);

Shape dataset_shape(const H5::DataSet& dataset);

// Rows [row_begin, row_begin + row_count) of a dataset of shape `shape` (rank >= 1), or the whole dataset
// when row_count < 0 (also rank 0), converted to `dtype`.
Tensor read_rows(const H5::DataSet& dataset, DType dtype, const Shape& shape, std::int64_t row_begin,
                 std::int64_t row_count);
// A 1-D dataset of variable- or fixed-length strings. ParseError when not strings.
std::vector<std::string> read_strings(const H5::DataSet& dataset, const Where& where);

// HDF5 files are built in memory (libhdf5's core driver without a backing store) and their bytes written by
// core/atomic_output.hpp. So libhdf5 never writes to a disk: a full disk or an I/O error is met by our own
// write(2) and reported in the OS's words, and libhdf5's failure paths on a failed write (which leaked
// handles and crashed in H5close at exit after a failed H5Fclose) are never taken.
//
// Reproducible files: HDF5 stamps every object with creation/modification times by default, so two runs
// would differ in bytes. Files, groups and datasets are created through these helpers with times off.
// `label` only names the in-memory file (messages of libhdf5).
H5::H5File create_file(const std::string& label);
// The bytes of an in-memory file (flushed first).
std::string file_image(const H5::H5File& file);
// A read-only view of an image: what is about to be written, read back before it is.
H5::H5File open_image(const std::string& image, const std::string& label);
// Builds a file in memory with `build`, reads it back with `check` (optional; its errors stop the write),
// and returns its bytes. HDF5 exceptions become IoError naming `what` and `path`.
std::string build_file_image(const std::filesystem::path& path, const std::string& what,
                             const std::function<void(H5::H5File&)>& build,
                             const std::function<void(const H5::H5File&)>& check = {});
// build_file_image, then the bytes written atomically to `path` (AtomicFile).
void write_file_atomically(const std::filesystem::path& path, const std::string& what,
                           const std::function<void(H5::H5File&)>& build,
                           const std::function<void(const H5::H5File&)>& check = {});
// Creates PARENT/NAME, and the missing groups on the way when NAME has several components.
H5::Group create_group(const H5::Group& parent, const std::string& name);

// Creates PARENT/NAME (intermediate groups too) chunked by rows and optionally deflated.
void write_tensor(const H5::Group& parent, const std::string& name, const Tensor& values, int deflate_level);
void write_strings(const H5::Group& parent, const std::string& name, const std::vector<std::string>& values);

// Attributes: nullopt when absent, ParseError when present with another type or not one element.
std::optional<std::string> get_string_attribute(const H5::H5Object& object, const std::string& name,
                                                const Where& where);
std::optional<std::int64_t> get_integer_attribute(const H5::H5Object& object, const std::string& name,
                                                  const Where& where);
// Accepts float or integer attributes.
std::optional<double> get_float_attribute(const H5::H5Object& object, const std::string& name, const Where& where);
// Scalar attributes, replacing an existing one of the same name.
void set_string_attribute(const H5::H5Object& object, const std::string& name, std::string_view value);
void set_integer_attribute(const H5::H5Object& object, const std::string& name, std::int64_t value);
void set_float_attribute(const H5::H5Object& object, const std::string& name, double value);

// ---- layout validation --------------------------------------------------------------------------

struct DatasetMeta {
  bool is_string = false;
  std::optional<DType> dtype;  // read dtype; nullopt for strings and unsupported types
  Shape shape;
};

struct SplitMeta {
  std::string name;
  std::int64_t count = 0;
  std::map<std::string, DatasetMeta, std::less<>> datasets;
  std::vector<std::int64_t> doc_offsets;  // language_model only
};

struct Layout {
  DatasetInfo info;
  std::vector<SplitMeta> splits;  // canonical order
};

// Checks everything docs/datasets.md promises about a file; ParseError naming `file_name` and the
// object at fault otherwise.
Layout validate_layout(const H5::H5File& file, const std::string& file_name);

}  // namespace snnconv::datasets::detail
