// The window geometry of MaxPool / AveragePool along one spatial dim, shared by shape inference and the
// kernels so that the two can never disagree on an output size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "snnconv/core/attrs.hpp"

namespace snnconv {

struct PoolDim {
  std::int64_t kernel = 1;
  std::int64_t stride = 1;
  std::int64_t dilation = 1;
  std::int64_t pad_begin = 0;
  std::int64_t pad_end = 0;
  std::int64_t out = 0;  // number of windows
};

// Geometry of spatial dim `i` (of `spatial` dims) for an input of size `in`. ONNX's rules: explicit pads, or
// auto_pad SAME_UPPER / SAME_LOWER (output ceil(in / stride), the odd pad at the end / the beginning) or
// VALID; out = floor or (ceil_mode) ceil of (in + pads - effective kernel) / stride, plus 1. With ceil_mode a
// window that would start past the input and its begin pad is dropped (PyTorch's and ONNX Runtime's rule).
// Returns an empty string, or what is wrong with the attributes.
std::string pool_dim(const PoolAttrs& a, std::size_t i, std::size_t spatial, std::int64_t in, PoolDim& d);

}  // namespace snnconv
