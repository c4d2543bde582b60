#include "snnconv/core/tensor.hpp"

#include <cmath>
#include <cstring>

namespace snnconv {

std::int64_t checked_numel(const Shape& shape, const std::string& what) {
  if (static_cast<int>(shape.size()) > kMaxRank)
    throw LimitError(what + ": rank " + std::to_string(shape.size()) + " exceeds the limit " +
                     std::to_string(kMaxRank));
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw LimitError(what + ": negative dim " + std::to_string(d) + " in shape " + shape_to_string(shape));
    if (d > kMaxDim)
      throw LimitError(what + ": dim " + std::to_string(d) + " exceeds the limit " + std::to_string(kMaxDim) +
                       " in shape " + shape_to_string(shape));
    if (d != 0 && n > kMaxTensorElements / d)
      throw LimitError(what + ": shape " + shape_to_string(shape) + " has more than " +
                       std::to_string(kMaxTensorElements) + " elements (the limit)");
    n *= d;
  }
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = checked_numel(shape_);
  bytes_.assign(static_cast<std::size_t>(numel_) * dtype_size(dtype_), std::byte{0});
}

void Tensor::check_type(DType requested) const {
  if (requested != dtype_)
    throw Error("tensor of dtype " + std::string(dtype_name(dtype_)) + " accessed as " +
                std::string(dtype_name(requested)));
}

Tensor Tensor::reshaped(Shape shape) const& {
  return Tensor(*this).reshaped(std::move(shape));
}

Tensor Tensor::reshaped(Shape shape) && {
  if (checked_numel(shape) != numel_)
    throw ShapeError("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  Tensor t = std::move(*this);
  t.shape_ = std::move(shape);
  return t;
}

namespace {
// Reads element i of any dtype as double (exact for every integer up to 2^53 and for f32).
double load(const Tensor& t, std::int64_t i) {
  const std::byte* p = t.raw();
  switch (t.dtype()) {
    case DType::f32: { float v; std::memcpy(&v, p + i * 4, 4); return v; }
    case DType::f16: { std::uint16_t v; std::memcpy(&v, p + i * 2, 2); return half_to_float(v); }
    case DType::i8: return static_cast<double>(reinterpret_cast<const std::int8_t*>(p)[i]);
    case DType::u8: return static_cast<double>(reinterpret_cast<const std::uint8_t*>(p)[i]);
    case DType::i32: { std::int32_t v; std::memcpy(&v, p + i * 4, 4); return v; }
    case DType::i64: { std::int64_t v; std::memcpy(&v, p + i * 8, 8); return static_cast<double>(v); }
    case DType::boolean: return reinterpret_cast<const std::uint8_t*>(p)[i] ? 1.0 : 0.0;
  }
  return 0.0;
}
std::int64_t load_int(const Tensor& t, std::int64_t i) {
  const std::byte* p = t.raw();
  switch (t.dtype()) {
    case DType::i8: return reinterpret_cast<const std::int8_t*>(p)[i];
    case DType::u8: return reinterpret_cast<const std::uint8_t*>(p)[i];
    case DType::i32: { std::int32_t v; std::memcpy(&v, p + i * 4, 4); return v; }
    case DType::i64: { std::int64_t v; std::memcpy(&v, p + i * 8, 8); return v; }
    case DType::boolean: return reinterpret_cast<const std::uint8_t*>(p)[i] ? 1 : 0;
    case DType::f32:
    case DType::f16: break;
  }
  throw Error("integer values requested from a " + std::string(dtype_name(t.dtype())) + " tensor");
}
template <typename T> T saturate_from_double(double v) {
  // Float -> integer casts in ONNX are undefined out of range; we truncate toward zero and saturate so the
  // result is at least deterministic.
  if (std::isnan(v)) return T{0};
  const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
  const double hi = static_cast<double>(std::numeric_limits<T>::max());
  v = std::trunc(v);
  if (v <= lo) return std::numeric_limits<T>::lowest();
  if (v >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}
}  // namespace

Tensor Tensor::cast(DType to) const {
  Tensor out(to, shape_);
  const bool src_int = is_integer(dtype_) || dtype_ == DType::boolean;
  for (std::int64_t i = 0; i < numel_; ++i) {
    switch (to) {
      case DType::f32: out.data<float>()[i] = src_int ? static_cast<float>(load_int(*this, i)) : static_cast<float>(load(*this, i)); break;
      case DType::f16: {
        const std::uint16_t h = float_to_half(static_cast<float>(load(*this, i)));
        std::memcpy(out.raw() + i * 2, &h, 2);
        break;
      }
      case DType::boolean: out.data<bool>()[i] = load(*this, i) != 0.0; break;
      case DType::i64:
        out.data<std::int64_t>()[i] = src_int ? load_int(*this, i) : saturate_from_double<std::int64_t>(load(*this, i));
        break;
      case DType::i32:
        out.data<std::int32_t>()[i] = src_int ? static_cast<std::int32_t>(load_int(*this, i))
                                              : saturate_from_double<std::int32_t>(load(*this, i));
        break;
      case DType::i8:
        out.data<std::int8_t>()[i] = src_int ? static_cast<std::int8_t>(load_int(*this, i))
                                             : saturate_from_double<std::int8_t>(load(*this, i));
        break;
      case DType::u8:
        out.data<std::uint8_t>()[i] = src_int ? static_cast<std::uint8_t>(load_int(*this, i))
                                              : saturate_from_double<std::uint8_t>(load(*this, i));
        break;
    }
  }
  return out;
}

std::vector<std::int64_t> Tensor::to_i64() const {
  std::vector<std::int64_t> v(static_cast<std::size_t>(numel_));
  for (std::int64_t i = 0; i < numel_; ++i) v[static_cast<std::size_t>(i)] = load_int(*this, i);
  return v;
}

std::vector<float> Tensor::to_f32() const {
  std::vector<float> v(static_cast<std::size_t>(numel_));
  for (std::int64_t i = 0; i < numel_; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(load(*this, i));
  return v;
}

bool Tensor::identical(const Tensor& o) const {
  return dtype_ == o.dtype_ && shape_ == o.shape_ &&
         (bytes_.empty() || std::memcmp(bytes_.data(), o.bytes_.data(), bytes_.size()) == 0);
}

bool Tensor::all_finite() const {
  if (dtype_ == DType::f32) {
    for (float v : span<float>())
      if (!std::isfinite(v)) return false;
    return true;
  }
  if (dtype_ == DType::f16) {
    for (std::int64_t i = 0; i < numel_; ++i)
      if (!std::isfinite(load(*this, i))) return false;
  }
  return true;
}

}  // namespace snnconv
