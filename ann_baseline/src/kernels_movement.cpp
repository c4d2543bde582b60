// Fast data-movement kernels: Transpose of any static tensor as a strided gather, one output row (the last
// output dim) at a time, in row chunks; Concat and Gather as block copies. Pure
// copies into the executor's pooled buffers, so they equal the reference bit for bit. (Reshape-like
// nodes on a dying buffer are not copied at all: plan.cpp makes them views.)
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <cstring>
#include <string>
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
  for_rows(rows, std::max<std::int64_t>(1, kElementChunk / inner), [&](std::int64_t r0, std::int64_t r1) {
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
  }, y.numel());
}

// Concat: per outer index, each input's contiguous block in turn (byte copies, any dtype).
void concat(const KernelArgs& a) {
  Tensor& y = a.out[0];
  const int rank = y.rank();
  const auto ax = static_cast<std::size_t>(std::get<AxisAttrs>(a.node.attrs).axis < 0
                                               ? std::get<AxisAttrs>(a.node.attrs).axis + rank
                                               : std::get<AxisAttrs>(a.node.attrs).axis);
  const std::size_t elem = dtype_size(y.dtype());
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < ax; ++d) outer *= y.shape()[d];
  for (std::size_t d = ax + 1; d < y.shape().size(); ++d) inner *= y.shape()[d];
  std::byte* dst = y.raw();
  for (std::int64_t o = 0; o < outer; ++o)
    for (const Tensor* t : a.in) {
      const auto block = static_cast<std::size_t>(t->shape()[ax] * inner) * elem;
      std::memcpy(dst, t->raw() + static_cast<std::size_t>(o) * block, block);
      dst += block;
    }
}

// Gather along any axis: for each outer index, one contiguous block per index (axis 0: the embedding
// lookup, one row per token). Indices are checked (an out-of-range token id is a ShapeError naming the node,
// as on the reference).
template <typename I> void gather_blocks(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const Tensor& idx = *a.in[1];
  Tensor& y = a.out[0];
  const std::int64_t raw_axis = std::get<AxisAttrs>(a.node.attrs).axis;
  const auto ax = static_cast<std::size_t>(raw_axis < 0 ? raw_axis + x.rank() : raw_axis);
  const std::int64_t dim = x.shape()[ax];
  std::int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < ax; ++d) outer *= x.shape()[d];
  for (std::size_t d = ax + 1; d < x.shape().size(); ++d) inner *= x.shape()[d];
  const std::size_t block = static_cast<std::size_t>(inner) * dtype_size(x.dtype());
  const I* pi = idx.data<I>();
  const std::int64_t count = idx.numel();
  for (std::int64_t i = 0; i < count; ++i) {
    const auto r = static_cast<std::int64_t>(pi[i]);
    if (r < -dim || r >= dim)
      throw ShapeError("Gather index " + std::to_string(r) + " out of range for dim " + std::to_string(dim),
                       {a.graph.source_file, a.node.name, std::string(op_name(a.node.kind)), ""});
  }
  std::byte* dst = y.raw();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < count; ++i) {
      const auto r = static_cast<std::int64_t>(pi[i]);
      std::memcpy(dst, x.raw() + static_cast<std::size_t>(o * dim + (r < 0 ? r + dim : r)) * block, block);
      dst += block;
    }
}

template <typename T> void affine_gather(const KernelArgs& a) {
  const AffineGather& m = *a.gather;
  Tensor& y = a.out[0];
  const Shape& os = y.shape();
  const std::size_t rank = os.size();
  const T* px = reinterpret_cast<const T*>(a.in[0]->raw()) + m.base;
  T* py = reinterpret_cast<T*>(y.raw());
  if (rank == 0) {
    if (y.numel() == 1) py[0] = px[0];
    return;
  }
  const std::int64_t inner = os.back(), inner_delta = m.delta.back();
  const std::int64_t rows = inner == 0 ? 0 : y.numel() / inner;
  for_rows(
      rows, std::max<std::int64_t>(1, kElementChunk / std::max<std::int64_t>(inner, 1)),
      [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          std::int64_t off = 0, rest = r;
          for (std::size_t d = rank - 1; d-- > 0;) {
            off += (rest % os[d]) * m.delta[d];
            rest /= os[d];
          }
          const T* src = px + off;
          T* dst = py + r * inner;
          if (inner_delta == 1) std::memcpy(dst, src, static_cast<std::size_t>(inner) * sizeof(T));
          else
            for (std::int64_t j = 0; j < inner; ++j) dst[j] = src[j * inner_delta];
        }
      },
      y.numel());
}

// ---- Cast ----------------------------------------------------------------------------------------------
// Tensor::cast's rules element by element (core/tensor.cpp): integers and bool widen through int64 and convert
// once; a float to an integer truncates toward zero, saturates, and NaN gives 0.
template <typename To, typename From> To cast_one(From v) {
  if constexpr (std::is_same_v<From, float> && !std::is_same_v<To, float>) {
    if (std::isnan(v)) return To{0};
    const double lo = static_cast<double>(std::numeric_limits<To>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<To>::max());
    const double t = std::trunc(static_cast<double>(v));
    if (t <= lo) return std::numeric_limits<To>::lowest();
    if (t >= hi) return std::numeric_limits<To>::max();
    return static_cast<To>(t);
  } else {
    return static_cast<To>(static_cast<std::int64_t>(v));
  }
}

template <typename From, typename To> void cast_elements(const KernelArgs& a) {
  const From* x = a.in[0]->data<From>();
  To* y = a.out[0].data<To>();
  for_chunks(
      a.out[0].numel(), kElementChunk,
      [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) y[i] = cast_one<To>(x[i]);
      },
      a.out[0].numel());
}

template <typename To> KernelFn cast_from(DType from) {
  switch (from) {
    case DType::f32: return std::is_same_v<To, float> ? nullptr : cast_elements<float, To>;
    case DType::i8: return cast_elements<std::int8_t, To>;
    case DType::u8: return cast_elements<std::uint8_t, To>;
    case DType::i32: return cast_elements<std::int32_t, To>;
    case DType::i64: return cast_elements<std::int64_t, To>;
    case DType::boolean: return cast_elements<bool, To>;
    default: return nullptr;
  }
}

}  // namespace

KernelFn affine_gather_kernel(std::size_t element_bytes) {
  switch (element_bytes) {
    case 1: return affine_gather<std::uint8_t>;
    case 2: return affine_gather<std::uint16_t>;
    case 4: return affine_gather<std::uint32_t>;
    case 8: return affine_gather<std::uint64_t>;
    default: return nullptr;
  }
}

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
    case OpKind::Concat: {
      const Value& out = g.value(n.outputs[0]);
      if (types.empty() || !out.type.is_static()) return {};
      for (const TensorType* t : types)
        if (!t || !t->is_static() || t->dtype != out.type.dtype || t->rank() != out.type.rank()) return {};
      return {concat, "concat"};
    }
    case OpKind::Cast: {
      // Casts to f32, i32 and i64 (the integer-form export's levels, masks and counts), from the numeric types.
      const Value& out = g.value(n.outputs[0]);
      if (types.size() != 1 || !types[0] || !types[0]->is_static() || !out.type.is_static()) return {};
      KernelFn fn = nullptr;
      if (out.type.dtype == DType::f32) fn = cast_from<float>(types[0]->dtype);
      else if (out.type.dtype == DType::i32) fn = cast_from<std::int32_t>(types[0]->dtype);
      else if (out.type.dtype == DType::i64) fn = cast_from<std::int64_t>(types[0]->dtype);
      if (fn == nullptr) return {};
      return {fn, "cast"};
    }
    case OpKind::Gather: {
      const Value& out = g.value(n.outputs[0]);
      if (types.size() != 2 || !types[0] || !types[1] || !types[0]->is_static() || !types[1]->is_static() ||
          !out.type.is_static() || types[0]->rank() < 1)
        return {};
      const std::int64_t axis = std::get<AxisAttrs>(n.attrs).axis;
      if (axis < -types[0]->rank() || axis >= types[0]->rank() || out.type.dtype != types[0]->dtype) return {};
      if (types[1]->dtype == DType::i64) return {gather_blocks<std::int64_t>, "gather"};
      if (types[1]->dtype == DType::i32) return {gather_blocks<std::int32_t>, "gather"};
      return {};
    }
    default: return {};
  }
}

}  // namespace snnconv::ann::kernels
