#include "onnx/proto_tensor.hpp"

#include <bit>
#include <charconv>
#include <cstring>
#include <fstream>
#include <vector>

namespace snnconv::onnx_import::detail {
namespace {

static_assert(std::endian::native == std::endian::little,
              "raw_data is little-endian and copied as is; a big-endian host needs byte swapping here");

using onnx::TensorProto;

ErrorContext context_of(const TensorSource& source, const std::string& name) {
  return ErrorContext{source.file, {}, {}, name};
}

std::int64_t parse_external_int(const std::string& text, const std::string& key, const std::string& what,
                                const ErrorContext& ctx) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || v < 0)
    throw ParseError(what + ": external data '" + key + "' is not a non-negative integer: '" + text + "'", ctx);
  return v;
}

// Reads `bytes` bytes of an external-data tensor into `out`. The location must stay inside the model's
// folder (ONNX's own rule), and offset/length must lie inside the file.
void read_external(const TensorProto& t, const std::string& what, const TensorSource& source, std::int64_t bytes,
                   std::byte* out) {
  const ErrorContext ctx = context_of(source, t.name());
  std::string location;
  std::int64_t offset = 0;
  std::optional<std::int64_t> length;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = parse_external_int(kv.value(), "offset", what, ctx);
    else if (kv.key() == "length")
      length = parse_external_int(kv.value(), "length", what, ctx);
  }
  if (location.empty()) throw ParseError(what + ": external data without a 'location'", ctx);
  const std::filesystem::path rel(location);
  if (rel.is_absolute()) throw ParseError(what + ": external data location '" + location + "' is absolute", ctx);
  for (const auto& part : rel)
    if (part == "..")
      throw ParseError(what + ": external data location '" + location + "' leaves the model's folder", ctx);
  if (length && *length != bytes)
    throw ParseError(what + ": external data length " + std::to_string(*length) + " contradicts its shape (" +
                         std::to_string(bytes) + " bytes)",
                     ctx);
  const std::filesystem::path full = source.model_dir / rel;
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(full, ec);
  if (ec) throw IoError(what + ": cannot open external data file '" + full.string() + "': " + ec.message(), ctx);
  if (static_cast<std::uintmax_t>(offset) > file_bytes ||
      static_cast<std::uintmax_t>(bytes) > file_bytes - static_cast<std::uintmax_t>(offset))
    throw ParseError(what + ": external data [" + std::to_string(offset) + ", +" + std::to_string(bytes) +
                         ") lies outside '" + full.string() + "' (" + std::to_string(file_bytes) + " bytes)",
                     ctx);
  std::ifstream in(full, std::ios::binary);
  if (!in) throw IoError(what + ": cannot open external data file '" + full.string() + "'", ctx);
  in.seekg(offset);
  in.read(reinterpret_cast<char*>(out), bytes);
  if (!in || in.gcount() != bytes)
    throw IoError(what + ": short read from external data file '" + full.string() + "'", ctx);
}

// Copies little-endian source bytes into the tensor, converting f64 -> f32 and normalising bools.
void decode_bytes(const std::byte* src, std::int64_t numel, bool is_double, Tensor& out) {
  if (is_double) {
    float* dst = out.data<float>();
    for (std::int64_t i = 0; i < numel; ++i) {
      double d;
      std::memcpy(&d, src + i * 8, 8);
      dst[i] = static_cast<float>(d);
    }
    return;
  }
  if (out.nbytes() != 0) std::memcpy(out.raw(), src, out.nbytes());
  if (out.dtype() == DType::boolean) {
    bool* dst = out.data<bool>();
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(src);
    for (std::int64_t i = 0; i < numel; ++i) dst[i] = bytes[i] != 0;
  }
}

template <typename Field>
void require_count(const Field& field, const char* field_name, std::int64_t numel, const std::string& what,
                   const Shape& shape, const ErrorContext& ctx) {
  if (static_cast<std::int64_t>(field.size()) != numel)
    throw ParseError(what + ": " + std::to_string(field.size()) + " values in " + field_name + " but its shape " +
                         shape_to_string(shape) + " needs " + std::to_string(numel),
                     ctx);
}

// The typed repeated fields (float_data, int32_data, int64_data, double_data). Which field holds which
// element type is fixed by onnx.proto; a value in any other field contradicts the data type.
void decode_typed(const TensorProto& t, const std::string& what, const Shape& shape, std::int64_t numel, Tensor& out,
                  const ErrorContext& ctx) {
  const int elem = t.data_type();
  const int fields_used = (t.float_data_size() > 0) + (t.int32_data_size() > 0) + (t.int64_data_size() > 0) +
                          (t.double_data_size() > 0) + (t.uint64_data_size() > 0) + (t.string_data_size() > 0);
  if (fields_used > 1)
    throw ParseError(what + ": values in more than one typed field of " + onnx_dtype_name(elem) + " tensor", ctx);
  switch (elem) {
    case TensorProto::FLOAT: {
      require_count(t.float_data(), "float_data", numel, what, shape, ctx);
      float* dst = out.data<float>();
      for (std::int64_t i = 0; i < numel; ++i) dst[i] = t.float_data(static_cast<int>(i));
      return;
    }
    case TensorProto::DOUBLE: {
      require_count(t.double_data(), "double_data", numel, what, shape, ctx);
      float* dst = out.data<float>();
      for (std::int64_t i = 0; i < numel; ++i) dst[i] = static_cast<float>(t.double_data(static_cast<int>(i)));
      return;
    }
    case TensorProto::INT64: {
      require_count(t.int64_data(), "int64_data", numel, what, shape, ctx);
      std::int64_t* dst = out.data<std::int64_t>();
      for (std::int64_t i = 0; i < numel; ++i) dst[i] = t.int64_data(static_cast<int>(i));
      return;
    }
    case TensorProto::INT32:
    case TensorProto::INT8:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
    case TensorProto::FLOAT16: {
      require_count(t.int32_data(), "int32_data", numel, what, shape, ctx);
      for (std::int64_t i = 0; i < numel; ++i) {
        const std::int32_t v = t.int32_data(static_cast<int>(i));
        switch (out.dtype()) {
          case DType::i32:
            out.data<std::int32_t>()[i] = v;
            break;
          case DType::i8:
            out.data<std::int8_t>()[i] = static_cast<std::int8_t>(v);
            break;
          case DType::u8:
            out.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(v);
            break;
          case DType::boolean:
            out.data<bool>()[i] = v != 0;
            break;
          case DType::f16: {  // the 16 bits of each half are stored in the low half of an int32
            const auto bits = static_cast<std::uint16_t>(v);
            std::memcpy(out.raw() + i * 2, &bits, 2);
            break;
          }
          default:
            break;
        }
      }
      return;
    }
    default:
      throw UnsupportedError(what + ": element type " + onnx_dtype_name(elem) + " is not supported", ctx);
  }
}

}  // namespace

std::optional<DType> dtype_from_onnx(int elem_type) {
  switch (elem_type) {
    case TensorProto::FLOAT:
      return DType::f32;
    case TensorProto::FLOAT16:
      return DType::f16;
    case TensorProto::INT8:
      return DType::i8;
    case TensorProto::UINT8:
      return DType::u8;
    case TensorProto::INT32:
      return DType::i32;
    case TensorProto::INT64:
      return DType::i64;
    case TensorProto::BOOL:
      return DType::boolean;
    default:
      return std::nullopt;
  }
}

std::string onnx_dtype_name(int elem_type) {
  if (onnx::TensorProto_DataType_IsValid(elem_type))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elem_type));
  return "data type " + std::to_string(elem_type);
}

Tensor tensor_from_proto(const TensorProto& t, const std::string& what, const TensorSource& source) {
  const ErrorContext ctx = context_of(source, t.name());
  if (t.dims_size() > kMaxRank)
    throw LimitError(
        what + ": rank " + std::to_string(t.dims_size()) + " is above the limit " + std::to_string(kMaxRank), ctx);
  Shape shape(t.dims().begin(), t.dims().end());
  for (std::int64_t d : shape)
    if (d < 0) throw ParseError(what + ": negative dim in shape " + shape_to_string(shape), ctx);
  const int elem = t.data_type();
  const bool is_double = elem == TensorProto::DOUBLE;
  const std::optional<DType> dtype = is_double ? std::optional<DType>(DType::f32) : dtype_from_onnx(elem);
  if (!dtype) throw UnsupportedError(what + ": element type " + onnx_dtype_name(elem) + " is not supported", ctx);
  if (t.has_segment()) throw UnsupportedError(what + ": segmented tensors are not supported", ctx);

  // Before any allocation: an absurd claimed shape must fail here, not in operator new.
  std::int64_t numel = 0;
  try {
    numel = checked_numel(shape, what);
  } catch (const LimitError& e) {
    throw LimitError(e.message(), ctx);
  }
  const std::int64_t elem_bytes = is_double ? 8 : static_cast<std::int64_t>(dtype_size(*dtype));
  const std::int64_t bytes = numel * elem_bytes;  // numel <= kMaxTensorElements: cannot overflow

  if (t.data_location() == TensorProto::EXTERNAL) {
    if (t.has_raw_data()) throw ParseError(what + ": both external data and raw_data", ctx);
    Tensor out(*dtype, shape);
    if (is_double || *dtype == DType::boolean) {
      std::vector<std::byte> buffer(static_cast<std::size_t>(bytes));
      read_external(t, what, source, bytes, buffer.data());
      decode_bytes(buffer.data(), numel, is_double, out);
    } else {
      read_external(t, what, source, bytes, out.raw());
    }
    return out;
  }
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (static_cast<std::int64_t>(raw.size()) != bytes)
      throw ParseError(what + ": raw_data has " + std::to_string(raw.size()) + " bytes but its shape " +
                           shape_to_string(shape) + " of " + onnx_dtype_name(elem) + " needs " + std::to_string(bytes),
                       ctx);
    Tensor out(*dtype, shape);
    decode_bytes(reinterpret_cast<const std::byte*>(raw.data()), numel, is_double, out);
    return out;
  }
  // Typed fields: the count is checked against numel before the tensor is allocated.
  const std::int64_t stored = std::max({t.float_data_size(), t.int32_data_size(), t.int64_data_size(),
                                        t.double_data_size(), t.uint64_data_size(), t.string_data_size()});
  if (stored != numel)
    throw ParseError(what + ": " + std::to_string(stored) + " stored values but its shape " + shape_to_string(shape) +
                         " needs " + std::to_string(numel),
                     ctx);
  Tensor out(*dtype, shape);
  decode_typed(t, what, shape, numel, out, ctx);
  return out;
}

TensorType type_from_proto(const onnx::TypeProto& t, const std::string& what, const std::string& file) {
  const ErrorContext ctx{file, {}, {}, {}};
  if (!t.has_tensor_type()) throw UnsupportedError(what + ": only tensor types are supported", ctx);
  const auto& tt = t.tensor_type();
  const std::optional<DType> dtype = dtype_from_onnx(tt.elem_type());
  if (!dtype)
    throw UnsupportedError(what + ": element type " + onnx_dtype_name(tt.elem_type()) + " is not supported", ctx);
  TensorType type;
  type.dtype = *dtype;
  if (!tt.has_shape()) {
    type.rank_known = false;
    return type;
  }
  if (tt.shape().dim_size() > kMaxRank)
    throw LimitError(
        what + ": rank " + std::to_string(tt.shape().dim_size()) + " is above the limit " + std::to_string(kMaxRank),
        ctx);
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) throw ParseError(what + ": negative dim " + std::to_string(d.dim_value()), ctx);
      if (d.dim_value() > kMaxDim)
        throw LimitError(
            what + ": dim " + std::to_string(d.dim_value()) + " is above the limit " + std::to_string(kMaxDim), ctx);
      type.dims.push_back(Dim::known(d.dim_value()));
    } else if (d.has_dim_param() && !d.dim_param().empty()) {
      type.dims.push_back(Dim::named(d.dim_param()));
    } else {
      type.dims.push_back(Dim::unknown());
    }
  }
  return type;
}

}  // namespace snnconv::onnx_import::detail
