#include "h5_io.hpp"

#include "snnconv/core/atomic_output.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>

namespace snnconv::datasets::detail {

namespace {

// Chunks of about 1 MiB: streaming reads of a batch decompress little more than the batch, and
// h5py reads them at full speed.
constexpr std::uint64_t kChunkBytes = std::uint64_t{1} << 20;

bool attribute_exists(const H5::H5Object& object, const std::string& name) {
  return object.attrExists(name);
}

// Attributes written by h5py from a list become 1-element arrays; accept those as scalars.
void require_single_element(const H5::Attribute& attribute, const std::string& name, const Where& where) {
  H5::DataSpace space = attribute.getSpace();
  if (space.getSimpleExtentNpoints() != 1)
    fail_parse(where, fmt::format("attribute '{}' must be a scalar, it has {} elements", name,
                                  space.getSimpleExtentNpoints()));
}

}  // namespace

ErrorContext context_of(const Where& where) {
  ErrorContext context;
  context.file = where.file;
  context.value = where.object;
  return context;
}

void fail_parse(const Where& where, const std::string& message) {
  std::string text = where.object.empty() ? message : where.object + ": " + message;
  throw ParseError(text, context_of(where));
}

void silence_hdf5() {
  H5::Exception::dontPrint();
}

std::string describe(const H5::Exception& e) {
  std::string detail = e.getDetailMsg();
  std::string function = e.getFuncName();
  return function.empty() ? detail : function + ": " + detail;
}

std::string object_path(std::string_view split, std::string_view dataset) {
  if (split.empty()) return fmt::format("/{}", dataset);
  return fmt::format("/{}/{}", split, dataset);
}

H5::H5File open_read_only(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw IoError("cannot open: no such file", ErrorContext{path, "", "", ""});
  if (!std::filesystem::is_regular_file(path, ec))
    throw IoError("cannot open: not a regular file", ErrorContext{path, "", "", ""});
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) throw IoError("cannot open: HDF5 could not read the file", ErrorContext{path, "", "", ""});
  if (is_hdf5 == 0) throw ParseError("not an HDF5 file", ErrorContext{path, "", "", ""});
  try {
    return H5::H5File(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    throw IoError("cannot open: " + describe(e), ErrorContext{path, "", "", ""});
  }
}

std::optional<Object> open_object(const H5::H5File& file, const std::string& path) {
  if (path == "/" || path.empty()) return Object{file.openGroup("/")};
  // H5Lexists fails (rather than answering false) when an intermediate group is missing, so walk the path.
  std::string prefix;
  std::size_t start = path[0] == '/' ? 1 : 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end == start) return std::nullopt;  // empty component ("//" or trailing '/')
    prefix += '/';
    prefix.append(path, start, end - start);
    if (H5Lexists(file.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;
    if (H5Oexists_by_name(file.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) return std::nullopt;  // dangling
    start = end + 1;
  }
  switch (file.childObjType(prefix)) {
    case H5O_TYPE_GROUP:
      return Object{file.openGroup(prefix)};
    case H5O_TYPE_DATASET:
      return Object{file.openDataSet(prefix)};
    default:
      return std::nullopt;
  }
}

std::optional<DType> exact_dtype(const H5::DataType& stored) {
  std::size_t size = stored.getSize();
  switch (stored.getClass()) {
    case H5T_INTEGER: {
      bool is_signed = H5Tget_sign(stored.getId()) == H5T_SGN_2;
      if (size == 1) return is_signed ? DType::i8 : DType::u8;
      if (size == 4 && is_signed) return DType::i32;
      if (size == 8 && is_signed) return DType::i64;
      return std::nullopt;
    }
    case H5T_FLOAT:
      if (size == 4) return DType::f32;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<DType> read_dtype(const H5::DataType& stored) {
  if (auto exact = exact_dtype(stored)) return exact;
  std::size_t size = stored.getSize();
  switch (stored.getClass()) {
    case H5T_INTEGER: {
      bool is_signed = H5Tget_sign(stored.getId()) == H5T_SGN_2;
      if (size == 2) return DType::i32;
      if (size == 4 && !is_signed) return DType::i64;
      return std::nullopt;  // uint64 does not fit int64
    }
    case H5T_FLOAT:
      // Reference dumps from numpy are easily float64 by accident; engines compare in f32 anyway.
      if (size == 2 || size == 8) return DType::f32;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::string describe_type(const H5::DataType& stored) {
  std::size_t bits = stored.getSize() * 8;
  switch (stored.getClass()) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(stored.getId()) == H5T_SGN_2 ? "" : "u", bits);
    case H5T_FLOAT:
      return fmt::format("float{}", bits);
    case H5T_STRING:
      return "string";
    case H5T_ENUM:
      return "enum (bool?)";
    case H5T_COMPOUND:
      return "compound";
    default:
      return "an unsupported HDF5 type";
  }
}

bool is_string_type(const H5::DataType& stored) {
  return stored.getClass() == H5T_STRING;
}

const H5::PredType& memory_type(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return H5::PredType::NATIVE_FLOAT;
    case DType::i8:
      return H5::PredType::NATIVE_INT8;
    case DType::u8:
      return H5::PredType::NATIVE_UINT8;
    case DType::i32:
      return H5::PredType::NATIVE_INT32;
    case DType::i64:
      return H5::PredType::NATIVE_INT64;
    case DType::f16:
    case DType::boolean:
      break;
  }
  throw UnsupportedError(
      fmt::format("datasets: element type {} cannot be stored (use f32, i8, u8, i32 or i64)", dtype_name(dtype)));
}

Shape dataset_shape(const H5::DataSet& dataset) {
  H5::DataSpace space = dataset.getSpace();
  int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) space.getSimpleExtentDims(dims.data());
  return Shape(dims.begin(), dims.end());
}

Tensor read_rows(const H5::DataSet& dataset, DType dtype, const Shape& shape, std::int64_t row_begin,
                 std::int64_t row_count) {
  if (shape.empty() || row_count < 0) {
    Tensor whole(dtype, shape);
    if (whole.numel() > 0) dataset.read(whole.raw(), memory_type(dtype));
    return whole;
  }
  Shape out_shape = shape;
  out_shape[0] = row_count;
  Tensor rows(dtype, out_shape);
  if (rows.numel() == 0) return rows;
  std::vector<hsize_t> start(shape.size(), 0);
  std::vector<hsize_t> count(shape.begin(), shape.end());
  start[0] = static_cast<hsize_t>(row_begin);
  count[0] = static_cast<hsize_t>(row_count);
  H5::DataSpace file_space = dataset.getSpace();
  file_space.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
  H5::DataSpace memory_space(static_cast<int>(count.size()), count.data());
  dataset.read(rows.raw(), memory_type(dtype), memory_space, file_space);
  return rows;
}

std::vector<std::string> read_strings(const H5::DataSet& dataset, const Where& where) {
  H5::DataType stored = dataset.getDataType();
  if (!is_string_type(stored)) fail_parse(where, "expected strings, found " + describe_type(stored));
  Shape shape = dataset_shape(dataset);
  if (shape.size() != 1)
    fail_parse(where, fmt::format("expected a 1-D array of strings, found shape {}", shape_to_string(shape)));
  std::size_t n = static_cast<std::size_t>(shape[0]);
  std::vector<std::string> out;
  out.reserve(n);
  if (n == 0) return out;
  H5::StrType stored_string = dataset.getStrType();
  if (stored_string.isVariableStr()) {
    H5::StrType memory(H5::PredType::C_S1, H5T_VARIABLE);
    memory.setCset(stored_string.getCset());
    std::vector<char*> pointers(n, nullptr);
    // HDF5 allocates each string; whatever it filled in is freed on every path, also when copying them out
    // throws. (A read that fails inside HDF5's conversion leaks its own buffer: libhdf5 1.10.8, upstream.)
    struct Reclaim {
      std::vector<char*>& pointers;
      ~Reclaim() {
        for (char*& p : pointers) {
          if (p) H5free_memory(p);
          p = nullptr;
        }
      }
    } reclaim{pointers};
    dataset.read(pointers.data(), memory);
    for (char* p : pointers) out.emplace_back(p ? p : "");
  } else {
    std::size_t width = stored_string.getSize();
    H5::StrType memory(H5::PredType::C_S1, width);
    memory.setCset(stored_string.getCset());
    memory.setStrpad(stored_string.getStrpad());
    std::vector<char> buffer(n * width);
    dataset.read(buffer.data(), memory);
    bool space_padded = stored_string.getStrpad() == H5T_STR_SPACEPAD;
    for (std::size_t i = 0; i < n; ++i) {
      std::string_view cell(buffer.data() + i * width, width);
      std::size_t length = space_padded ? cell.find_last_not_of(' ') + 1 : cell.find('\0');
      out.emplace_back(cell.substr(0, std::min(length, width)));
    }
  }
  return out;
}

namespace {

// A name for an in-memory file that no disk file can have: libhdf5's core driver refuses to open an image
// under the name of a file that exists. "/dev/null/..." never exists (ENOTDIR).
std::string image_name(const std::string& label) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("/dev/null/snnconv-image-{}-{}-{}", ::getpid(), counter++, label);
}

H5::FileAccPropList in_memory_access() {
  H5::FileAccPropList access;
  // 1 MiB growth steps, no backing store: libhdf5 never opens, writes or closes a disk file.
  if (H5Pset_fapl_core(access.getId(), std::size_t{1} << 20, 0) < 0)
    throw H5::PropListIException("in_memory_access", "H5Pset_fapl_core failed");
  return access;
}

}  // namespace

H5::H5File create_file(const std::string& label) {
  silence_hdf5();
  H5::FileCreatPropList create;
  if (H5Pset_obj_track_times(create.getId(), 0) < 0) throw H5::PropListIException("create_file", "track times");
  return H5::H5File(image_name(std::filesystem::path(label).filename().string()), H5F_ACC_TRUNC, create,
                    in_memory_access());
}

std::string file_image(const H5::H5File& file) {
  const hid_t id = file.getId();
  if (H5Fflush(id, H5F_SCOPE_GLOBAL) < 0) throw H5::FileIException("file_image", "H5Fflush failed");
  const ssize_t size = H5Fget_file_image(id, nullptr, 0);
  if (size < 0) throw H5::FileIException("file_image", "H5Fget_file_image failed");
  std::string image(static_cast<std::size_t>(size), '\0');
  if (H5Fget_file_image(id, image.data(), image.size()) != size)
    throw H5::FileIException("file_image", "H5Fget_file_image returned another size");
  return image;
}

namespace {

// File image callbacks that hand libhdf5 the caller's buffer itself (udata is its address): every "allocation"
// of the image is that buffer, every "copy" is onto itself, nothing is freed. A read-only open never grows the
// image, so realloc refuses.
void* image_in_place(size_t, H5FD_file_image_op_t, void* udata) { return udata; }
void* copy_in_place(void* dest, const void* src, size_t, H5FD_file_image_op_t, void*) {
  return dest == src ? dest : nullptr;
}
void* no_realloc(void*, size_t, H5FD_file_image_op_t, void*) { return nullptr; }
herr_t keep_image(void*, H5FD_file_image_op_t, void*) { return 0; }
void* same_udata(void* udata) { return udata; }
herr_t keep_udata(void*) { return 0; }

}  // namespace

H5::H5File open_image(const std::string& image, const std::string& label) {
  silence_hdf5();
  // Read in place, read-only: libhdf5 neither copies the buffer nor frees it (the caller keeps `image` alive
  // while the file is open), so reading back a model file of a 100M-parameter model does not hold a second copy
  // of it (ViT-B/16 at A4: 823 MB). The const_casts are the C API's signatures; nothing writes through them.
  H5::FileAccPropList access = in_memory_access();
  void* buffer = const_cast<char*>(image.data());
  H5FD_file_image_callbacks_t in_place{image_in_place, copy_in_place, no_realloc, keep_image,
                                       same_udata,     keep_udata,    buffer};
  if (H5Pset_file_image_callbacks(access.getId(), &in_place) < 0)
    throw H5::PropListIException("open_image", "H5Pset_file_image_callbacks failed");
  if (H5Pset_file_image(access.getId(), buffer, image.size()) < 0)
    throw H5::PropListIException("open_image", "H5Pset_file_image failed");
  return H5::H5File(image_name(std::filesystem::path(label).filename().string()), H5F_ACC_RDONLY,
                    H5::FileCreatPropList::DEFAULT, access);
}

std::string build_file_image(const std::filesystem::path& path, const std::string& what,
                             const std::function<void(H5::H5File&)>& build,
                             const std::function<void(const H5::H5File&)>& check) {
  silence_hdf5();
  std::string image;
  try {
    H5::H5File file = create_file(path.string());
    build(file);
    image = file_image(file);
    file.close();
  } catch (const H5::Exception& e) {
    throw IoError("cannot build the " + what + ": " + describe(e), {path.string(), "", "", ""});
  }
  if (check) {
    try {
      const H5::H5File back = open_image(image, path.string());
      check(back);
    } catch (const H5::Exception& e) {
      throw IoError("the " + what + " does not read back: " + describe(e), {path.string(), "", "", ""});
    }
  }
  return image;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& what,
                           const std::function<void(H5::H5File&)>& build,
                           const std::function<void(const H5::H5File&)>& check) {
  const std::string image = build_file_image(path, what, build, check);
  snnconv::write_file_atomically(path, image, what);
}

namespace {

// The group at PATH below parent, created without times when absent.
void ensure_group(const H5::Group& parent, const std::string& path) {
  if (H5Lexists(parent.getId(), path.c_str(), H5P_DEFAULT) > 0) return;
  const hid_t create = H5Pcreate(H5P_GROUP_CREATE);
  H5Pset_obj_track_times(create, 0);
  const hid_t g = H5Gcreate2(parent.getId(), path.c_str(), H5P_DEFAULT, create, H5P_DEFAULT);
  H5Pclose(create);
  if (g < 0) throw H5::GroupIException("create_group", "H5Gcreate2 failed for '" + path + "'");
  H5Gclose(g);
}

// Creates the groups above the last component of NAME.
void ensure_parents(const H5::Group& parent, const std::string& name) {
  for (std::size_t slash = name.find('/', 1); slash != std::string::npos; slash = name.find('/', slash + 1))
    ensure_group(parent, name.substr(0, slash));
}

}  // namespace

H5::Group create_group(const H5::Group& parent, const std::string& name) {
  ensure_parents(parent, name);
  ensure_group(parent, name);
  return parent.openGroup(name);
}

void write_tensor(const H5::Group& parent, const std::string& name, const Tensor& values, int deflate_level) {
  const H5::PredType& type = memory_type(values.dtype());
  std::vector<hsize_t> dims(values.shape().begin(), values.shape().end());
  H5::DataSpace space =
      dims.empty() ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
  H5::DSetCreatPropList create;
  H5Pset_obj_track_times(create.getId(), 0);
  if (!dims.empty() && values.numel() > 0) {
    std::uint64_t row_bytes = std::max<std::uint64_t>(1, values.nbytes() / dims[0]);
    std::vector<hsize_t> chunk = dims;
    chunk[0] = std::clamp<hsize_t>(kChunkBytes / row_bytes, 1, dims[0]);
    create.setChunk(static_cast<int>(chunk.size()), chunk.data());
    if (deflate_level > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) {
      // Byte shuffling groups the (mostly zero) high bytes of int64 labels and offsets together.
      if (dtype_size(values.dtype()) > 1) create.setShuffle();
      create.setDeflate(static_cast<unsigned>(std::min(deflate_level, 9)));
    }
  }
  ensure_parents(parent, name);
  H5::DataSet dataset = parent.createDataSet(name, type, space, create);
  if (values.numel() > 0) dataset.write(values.raw(), type);
}

void write_strings(const H5::Group& parent, const std::string& name, const std::vector<std::string>& values) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  hsize_t n = values.size();
  H5::DataSpace space(1, &n);
  H5::DSetCreatPropList create;
  H5Pset_obj_track_times(create.getId(), 0);
  ensure_parents(parent, name);
  H5::DataSet dataset = parent.createDataSet(name, type, space, create);
  if (values.empty()) return;
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const std::string& s : values) pointers.push_back(s.c_str());
  dataset.write(pointers.data(), type);
}

std::optional<std::string> get_string_attribute(const H5::H5Object& object, const std::string& name,
                                                const Where& where) {
  if (!attribute_exists(object, name)) return std::nullopt;
  H5::Attribute attribute = object.openAttribute(name);
  if (attribute.getTypeClass() != H5T_STRING)
    fail_parse(where,
               fmt::format("attribute '{}' must be a string, found {}", name, describe_type(attribute.getDataType())));
  require_single_element(attribute, name, where);
  const H5::StrType stored = attribute.getStrType();
  if (!stored.isVariableStr()) {
    std::string value;
    attribute.read(stored, value);
    return value;
  }
  // Variable length: read the pointer ourselves. A corrupted heap makes libhdf5 hand back no string, which
  // the C++ wrapper's own read would pass to strlen (found by the snn_model fuzz harness).
  H5::StrType memory(H5::PredType::C_S1, H5T_VARIABLE);
  memory.setCset(stored.getCset());
  char* text = nullptr;
  attribute.read(memory, &text);
  if (text == nullptr) fail_parse(where, fmt::format("attribute '{}' holds no string (corrupt file)", name));
  std::string value(text);
  H5free_memory(text);
  return value;
}

std::optional<std::int64_t> get_integer_attribute(const H5::H5Object& object, const std::string& name,
                                                  const Where& where) {
  if (!attribute_exists(object, name)) return std::nullopt;
  H5::Attribute attribute = object.openAttribute(name);
  if (attribute.getTypeClass() != H5T_INTEGER)
    fail_parse(where, fmt::format("attribute '{}' must be an integer, found {}", name,
                                  describe_type(attribute.getDataType())));
  require_single_element(attribute, name, where);
  std::int64_t value = 0;
  attribute.read(H5::PredType::NATIVE_INT64, &value);
  return value;
}

std::optional<double> get_float_attribute(const H5::H5Object& object, const std::string& name, const Where& where) {
  if (!attribute_exists(object, name)) return std::nullopt;
  H5::Attribute attribute = object.openAttribute(name);
  H5T_class_t type_class = attribute.getTypeClass();
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER)
    fail_parse(where,
               fmt::format("attribute '{}' must be a number, found {}", name, describe_type(attribute.getDataType())));
  require_single_element(attribute, name, where);
  double value = 0;
  attribute.read(H5::PredType::NATIVE_DOUBLE, &value);
  return value;
}

namespace {
H5::Attribute fresh_attribute(const H5::H5Object& object, const std::string& name, const H5::DataType& type) {
  if (object.attrExists(name)) object.removeAttr(name);
  return object.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
}
}  // namespace

void set_string_attribute(const H5::H5Object& object, const std::string& name, std::string_view value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  fresh_attribute(object, name, type).write(type, std::string(value));
}

void set_integer_attribute(const H5::H5Object& object, const std::string& name, std::int64_t value) {
  fresh_attribute(object, name, H5::PredType::NATIVE_INT64).write(H5::PredType::NATIVE_INT64, &value);
}

void set_float_attribute(const H5::H5Object& object, const std::string& name, double value) {
  fresh_attribute(object, name, H5::PredType::NATIVE_DOUBLE).write(H5::PredType::NATIVE_DOUBLE, &value);
}

}  // namespace snnconv::datasets::detail
