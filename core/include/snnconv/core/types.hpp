// Tensor types with possibly symbolic dims, and quantization parameters of a value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "snnconv/core/dtype.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv {

// One dimension: a known size (value >= 0) or a symbol (value < 0; an empty symbol means unknown).
struct Dim {
  std::int64_t value = -1;
  std::string symbol;

  static Dim known(std::int64_t v) { return Dim{v, {}}; }
  static Dim named(std::string s) { return Dim{-1, std::move(s)}; }
  static Dim unknown() { return Dim{}; }
  bool is_known() const { return value >= 0; }
  bool operator==(const Dim&) const = default;
};

struct TensorType {
  DType dtype = DType::f32;
  std::vector<Dim> dims;
  bool rank_known = true;  // false when even the rank is unknown

  static TensorType of(DType t, const Shape& s);
  int rank() const { return static_cast<int>(dims.size()); }
  bool is_static() const;  // rank and every dim known
  Shape static_shape() const;  // throws ShapeError unless is_static()
  bool operator==(const TensorType&) const = default;
};

std::string type_to_string(const TensorType& t);  // "f32[batch,1,28,28]"

// Quantization of a value: q = clamp(floor(x / scale + 1/2) + zero_point, n_min, n_max), x ~ scale * (q - zp).
struct QuantParams {
  int bits = 8;             // storage / pricing width: ceil(log2(n_max - n_min + 1))
  std::int32_t n_min = -128;
  std::int32_t n_max = 127;
  std::vector<float> scale;          // 1 entry per tensor, or one per channel / group
  std::vector<std::int32_t> zero_point;  // same length as scale (or empty = 0)
  int axis = -1;                     // channel axis for per-channel; -1 per tensor
  // > 0: scales per group of `group_size` consecutive indices along `axis`. `scale` then holds either
  // ceil(dim/G) entries (one per group, shared by every index of the other axes) or ceil(dim/G) * numel/dim
  // entries: the tensor's shape with `axis` reduced to ceil(dim/G), row-major (ONNX block quantization's
  // layout). A grouped Linear weight [K, N] (docs/compression.md, "Grouped weights"): axis 0, scale [K/G][N].
  int group_size = 0;

  bool per_tensor() const { return scale.size() == 1; }
  std::int64_t levels() const { return std::int64_t{n_max} - n_min + 1; }
  bool operator==(const QuantParams&) const = default;
};

}  // namespace snnconv
