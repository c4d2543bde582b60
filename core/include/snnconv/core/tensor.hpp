// An owning, contiguous, row-major tensor of one element type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "snnconv/core/dtype.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv {

using Shape = std::vector<std::int64_t>;

// Documented limits (docs/architecture.md): refused before any allocation.
inline constexpr int kMaxRank = 8;
inline constexpr std::int64_t kMaxDim = std::int64_t{1} << 32;
inline constexpr std::int64_t kMaxTensorElements = std::int64_t{1} << 33;  // 8 Gi elements

// Product of dims with checks: negative dims, int64 overflow and kMaxTensorElements all throw LimitError
// naming `what`.
std::int64_t checked_numel(const Shape& shape, const std::string& what = "tensor");
std::string shape_to_string(const Shape& shape);

template <typename T, std::size_t Align = 64> struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U> AlignedAllocator(const AlignedAllocator<U, Align>&) {}
  T* allocate(std::size_t n) {
    std::size_t bytes = ((n * sizeof(T) + Align - 1) / Align) * Align;
    void* p = std::aligned_alloc(Align, bytes == 0 ? Align : bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { std::free(p); }
  template <typename U> struct rebind { using other = AlignedAllocator<U, Align>; };
  bool operator==(const AlignedAllocator&) const { return true; }
  bool operator!=(const AlignedAllocator&) const { return false; }
};

class Tensor {
public:
  Tensor() = default;
  // Zero-filled tensor. Throws LimitError when the shape is absurd.
  Tensor(DType dtype, Shape shape);

  template <typename T> static Tensor from_vector(Shape shape, const std::vector<T>& values);
  template <typename T> static Tensor scalar(T value) { return from_vector<T>({}, {value}); }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int i) const { return shape_[static_cast<std::size_t>(i)]; }
  std::int64_t numel() const { return numel_; }
  std::size_t nbytes() const { return bytes_.size(); }

  std::byte* raw() { return bytes_.data(); }
  const std::byte* raw() const { return bytes_.data(); }

  // Typed views; throw Error when T does not match the dtype (a programming error, caught in tests).
  template <typename T> T* data();
  template <typename T> const T* data() const;
  template <typename T> std::span<T> span() { return {data<T>(), static_cast<std::size_t>(numel_)}; }
  template <typename T> std::span<const T> span() const {
    return {data<T>(), static_cast<std::size_t>(numel_)};
  }

  // Same bytes, new shape with the same element count. On an rvalue the bytes are moved, not copied (the
  // engine's zero-copy Reshape).
  Tensor reshaped(Shape shape) const&;
  Tensor reshaped(Shape shape) &&;
  // Element-wise conversion to another dtype (ONNX Cast semantics for the numeric types).
  Tensor cast(DType to) const;
  // Values of an integer tensor as int64 (any integer dtype or bool).
  std::vector<std::int64_t> to_i64() const;
  // Values as float (any dtype).
  std::vector<float> to_f32() const;
  // Bitwise equality of dtype, shape and bytes.
  bool identical(const Tensor& other) const;
  // True when every element of a float tensor is finite (integers: always true).
  bool all_finite() const;

private:
  void check_type(DType requested) const;
  DType dtype_ = DType::f32;
  Shape shape_;
  std::int64_t numel_ = 0;
  std::vector<std::byte, AlignedAllocator<std::byte>> bytes_;
};

template <typename T> T* Tensor::data() {
  check_type(dtype_of<T>::value);
  return reinterpret_cast<T*>(bytes_.data());
}
template <typename T> const T* Tensor::data() const {
  check_type(dtype_of<T>::value);
  return reinterpret_cast<const T*>(bytes_.data());
}
template <typename T> Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t(dtype_of<T>::value, std::move(shape));
  if (static_cast<std::int64_t>(values.size()) != t.numel())
    throw ShapeError("tensor: " + std::to_string(values.size()) + " values for shape " +
                     shape_to_string(t.shape()));
  T* out = t.data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

}  // namespace snnconv
