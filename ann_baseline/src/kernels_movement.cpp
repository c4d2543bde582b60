// Fast data-movement kernels: Transpose of any static tensor as a strided gather, one output row (the last
// output dim) at a time, in row chunks. Pure copies, so they equal the reference bit for bit. (Reshape-like
// nodes on a dying buffer are not copied at all: plan.cpp makes them views.)
#include <cstring>
#include <vector>

#include "kernels.hpp"

namespace snnconv::ann::kernels {
namespace {

template <typename T> void transpose_rows(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  Tensor& y = a.out[0];
  const auto& perm = std::get<TransposeAttrs>(a.node.attrs).perm;
  const std::size_t rank = x.shape().size();
  if (rank == 0 || y.numel() == 0) {
    if (y.numel() == 1) std::memcpy(y.raw(), x.raw(), sizeof(T));
    return;
  }
  // Input stride of each output dim (perm empty: the dims reversed).
  std::vector<std::int64_t> in_stride(rank), stride_of_out(rank);
  std::int64_t s = 1;
  for (std::size_t d = rank; d-- > 0;) {
    in_stride[d] = s;
    s *= x.shape()[d];
  }
  for (std::size_t d = 0; d < rank; ++d)
    stride_of_out[d] = in_stride[static_cast<std::size_t>(perm.empty() ? static_cast<std::int64_t>(rank - 1 - d) : perm[d])];
  const Shape& os = y.shape();
  const std::int64_t inner = os.back(), inner_stride = stride_of_out.back();
  const std::int64_t rows = y.numel() / inner;
  const T* px = reinterpret_cast<const T*>(x.raw());
  T* py = reinterpret_cast<T*>(y.raw());
  for_chunks(rows, std::max<std::int64_t>(1, kElementChunk / inner), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      // Input offset of output row r: its index digits over the output dims but the last.
      std::int64_t off = 0, rest = r;
      for (std::size_t d = rank - 1; d-- > 0;) {
        off += (rest % os[d]) * stride_of_out[d];
        rest /= os[d];
      }
      const T* src = px + off;
      T* dst = py + r * inner;
      if (inner_stride == 1) std::memcpy(dst, src, static_cast<std::size_t>(inner) * sizeof(T));
      else
        for (std::int64_t j = 0; j < inner; ++j) dst[j] = src[j * inner_stride];
    }
  });
}

}  // namespace

KernelChoice choose_movement(const Graph& g, const Node& n, std::span<const TensorType* const> types) {
  switch (n.kind) {
    case OpKind::Transpose: {
      if (types.size() != 1 || !types[0] || !types[0]->is_static()) return {};
      const Value& out = g.value(n.outputs[0]);
      if (!out.type.is_static() || out.type.dtype != types[0]->dtype) return {};
      switch (dtype_size(types[0]->dtype)) {
        case 1: return {transpose_rows<std::uint8_t>, "transpose"};
        case 2: return {transpose_rows<std::uint16_t>, "transpose"};
        case 4: return {transpose_rows<std::uint32_t>, "transpose"};
        case 8: return {transpose_rows<std::uint64_t>, "transpose"};
        default: return {};
      }
    }
    default: return {};
  }
}

}  // namespace snnconv::ann::kernels
