#include "snnconv/core/pooling.hpp"

#include <algorithm>

#include "snnconv/core/tensor.hpp"

namespace snnconv {

std::string pool_dim(const PoolAttrs& a, std::size_t i, std::size_t spatial, std::int64_t in, PoolDim& d) {
  if (a.kernel_shape.size() != spatial)
    return "kernel_shape has " + std::to_string(a.kernel_shape.size()) + " dims for " + std::to_string(spatial) +
           " spatial dims";
  if ((!a.strides.empty() && a.strides.size() != spatial) || (!a.dilations.empty() && a.dilations.size() != spatial) ||
      (!a.pads.empty() && a.pads.size() != 2 * spatial))
    return "strides / dilations / pads do not match " + std::to_string(spatial) + " spatial dims";
  d.kernel = a.kernel_shape[i];
  d.stride = a.strides.empty() ? 1 : a.strides[i];
  d.dilation = a.dilations.empty() ? 1 : a.dilations[i];
  constexpr std::int64_t kMaxWindow = std::int64_t{1} << 20;  // span <= 2^40: no overflow below
  if (d.kernel < 1 || d.kernel > kMaxWindow || d.dilation < 1 || d.dilation > kMaxWindow || d.stride < 1 ||
      d.stride > kMaxDim)
    return "kernel and dilations must lie in 1.." + std::to_string(kMaxWindow) + ", strides in 1.." +
           std::to_string(kMaxDim);
  const std::int64_t span = d.dilation * (d.kernel - 1) + 1;
  switch (a.auto_pad) {
    case AutoPad::notset:
      d.pad_begin = a.pads.empty() ? 0 : a.pads[i];
      d.pad_end = a.pads.empty() ? 0 : a.pads[i + spatial];
      if (d.pad_begin < 0 || d.pad_end < 0 || d.pad_begin > kMaxDim || d.pad_end > kMaxDim)
        return "pads must lie in 0.." + std::to_string(kMaxDim);
      break;
    case AutoPad::valid:
      d.pad_begin = d.pad_end = 0;
      break;
    case AutoPad::same_upper:
    case AutoPad::same_lower: {
      const std::int64_t out = (in + d.stride - 1) / d.stride;
      const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * d.stride + span - in);
      const std::int64_t small = total / 2, large = total - small;
      d.pad_begin = a.auto_pad == AutoPad::same_upper ? small : large;
      d.pad_end = total - d.pad_begin;
      d.out = out;
      return {};
    }
  }
  const std::int64_t padded = in + d.pad_begin + d.pad_end;
  if (padded < span)
    return "window of " + std::to_string(span) + " is larger than the padded input " + std::to_string(padded);
  const std::int64_t room = padded - span;
  d.out = (a.ceil_mode ? (room + d.stride - 1) / d.stride : room / d.stride) + 1;
  if (a.ceil_mode && (d.out - 1) * d.stride >= in + d.pad_begin) --d.out;
  return {};
}

}  // namespace snnconv
