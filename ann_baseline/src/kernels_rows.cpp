// Fast kernels for the per-row shapes the integer-form export's LayerNorm and Softmax on levels write
// (converter/src/onnx/onnx_export_integer.cpp): a binary op of a tensor and one value per row ([..., n] with
// [..., 1]: the row sums, the row maximum, the denominators), and ReduceSum / ReduceMax of int64 over the last axis.
// Each element is the reference's expression (f32 IEEE arithmetic; int64 wrapping as detail::wrap_*), each
// reduction runs over the row in increasing index as the reference's, so the results are the reference's bits.
#include <limits>

#include "kernels.hpp"
#include "reference_detail.hpp"

namespace snnconv::ann::kernels {
namespace {

// y[r, j] = f(x[r, j], z[r]) (ColumnB) or f(x[r], z[r, j]) (!ColumnB), rows of `n`.
template <typename T, bool ColumnB, typename F> void map_column(const KernelArgs& a, F f) {
  const T* x = a.in[0]->data<T>();
  const T* z = a.in[1]->data<T>();
  T* y = a.out[0].data<T>();
  const std::int64_t total = a.out[0].numel();
  const std::int64_t rows = ColumnB ? a.in[1]->numel() : a.in[0]->numel();
  const std::int64_t n = rows == 0 ? 0 : total / rows;
  for_chunks(
      rows, std::max<std::int64_t>(1, kElementChunk / std::max<std::int64_t>(n, 1)),
      [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const std::int64_t o = r * n;
          if constexpr (ColumnB) {
            const T c = z[r];
            for (std::int64_t j = 0; j < n; ++j) y[o + j] = f(x[o + j], c);
          } else {
            const T c = x[r];
            for (std::int64_t j = 0; j < n; ++j) y[o + j] = f(c, z[o + j]);
          }
        }
      },
      total);
}

template <bool B> void add_f32(const KernelArgs& a) { map_column<float, B>(a, [](float x, float y) { return x + y; }); }
template <bool B> void sub_f32(const KernelArgs& a) { map_column<float, B>(a, [](float x, float y) { return x - y; }); }
template <bool B> void mul_f32(const KernelArgs& a) { map_column<float, B>(a, [](float x, float y) { return x * y; }); }
template <bool B> void div_f32(const KernelArgs& a) { map_column<float, B>(a, [](float x, float y) { return x / y; }); }
template <bool B> void add_i64(const KernelArgs& a) {
  map_column<std::int64_t, B>(a, [](std::int64_t x, std::int64_t y) { return detail::wrap_add(x, y); });
}
template <bool B> void sub_i64(const KernelArgs& a) {
  map_column<std::int64_t, B>(a, [](std::int64_t x, std::int64_t y) { return detail::wrap_sub(x, y); });
}
template <bool B> void mul_i64(const KernelArgs& a) {
  map_column<std::int64_t, B>(a, [](std::int64_t x, std::int64_t y) { return detail::wrap_mul(x, y); });
}

template <bool B> KernelFn column_fn(OpKind kind, DType t) {
  if (t == DType::f32) {
    switch (kind) {
      case OpKind::Add: return add_f32<B>;
      case OpKind::Sub: return sub_f32<B>;
      case OpKind::Mul: return mul_f32<B>;
      case OpKind::Div: return div_f32<B>;
      default: return nullptr;
    }
  }
  if (t == DType::i64) {
    switch (kind) {
      case OpKind::Add: return add_i64<B>;
      case OpKind::Sub: return sub_i64<B>;
      case OpKind::Mul: return mul_i64<B>;
      default: return nullptr;
    }
  }
  return nullptr;
}

// `col` is `out` with its last dim 1 (leading 1s of a shorter rank allowed only where out has 1s too).
bool is_column_of(const Shape& col, const Shape& out) {
  if (out.empty() || col.size() > out.size() || out.back() <= 1) return false;
  const std::size_t lead = out.size() - col.size();
  for (std::size_t d = 0; d < lead; ++d)
    if (out[d] != 1) return false;
  for (std::size_t d = lead; d + 1 < out.size(); ++d)
    if (col[d - lead] != out[d]) return false;
  return !col.empty() && col.back() == 1;
}

// Reductions of int64 rows (the last axis), in increasing index.
template <bool Max> void reduce_rows_i64(const KernelArgs& a) {
  const std::int64_t* x = a.in[0]->data<std::int64_t>();
  std::int64_t* y = a.out[0].data<std::int64_t>();
  const std::int64_t rows = a.out[0].numel();
  const std::int64_t n = rows == 0 ? 0 : a.in[0]->numel() / rows;
  for_chunks(
      rows, std::max<std::int64_t>(1, kElementChunk / std::max<std::int64_t>(n, 1)),
      [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const std::int64_t* p = x + r * n;
          std::int64_t acc = Max ? std::numeric_limits<std::int64_t>::lowest() : 0;
          for (std::int64_t j = 0; j < n; ++j) {
            if constexpr (Max) acc = p[j] > acc ? p[j] : acc;
            else acc = detail::wrap_add(acc, p[j]);
          }
          y[r] = acc;
        }
      },
      a.in[0]->numel());
}

}  // namespace

KernelChoice choose_rows(const Graph& g, const Node& n, std::span<const TensorType* const> types) {
  const TensorType& out = g.value(n.outputs[0]).type;
  if (!out.is_static() || types.empty() || !types[0] || !types[0]->is_static()) return {};
  switch (n.kind) {
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div: {
      if (types.size() != 2 || !types[1] || !types[1]->is_static() || types[0]->dtype != types[1]->dtype ||
          out.dtype != types[0]->dtype)
        return {};
      const Shape os = out.static_shape(), sa = types[0]->static_shape(), sb = types[1]->static_shape();
      if (sa == os && is_column_of(sb, os)) {
        const KernelFn fn = column_fn<true>(n.kind, out.dtype);
        return fn ? KernelChoice{fn, "binary_column"} : KernelChoice{};
      }
      if (sb == os && is_column_of(sa, os)) {
        const KernelFn fn = column_fn<false>(n.kind, out.dtype);
        return fn ? KernelChoice{fn, "binary_column"} : KernelChoice{};
      }
      return {};
    }
    case OpKind::ReduceSum:
    case OpKind::ReduceMax: {
      // int64 over the last axis, given as an attribute (keepdims or not: the rows are the same).
      if (types.size() != 1 || types[0]->dtype != DType::i64 || out.dtype != DType::i64 || types[0]->rank() < 1)
        return {};
      const auto& at = std::get<ReduceAttrs>(n.attrs);
      const std::int64_t rank = types[0]->rank();
      if (at.axes.size() != 1 || (at.axes[0] != -1 && at.axes[0] != rank - 1)) return {};
      if (types[0]->static_shape().back() == 0) return {};
      return n.kind == OpKind::ReduceMax ? KernelChoice{reduce_rows_i64<true>, "reduce_rows"}
                                         : KernelChoice{reduce_rows_i64<false>, "reduce_rows"};
    }
    default: return {};
  }
}

}  // namespace snnconv::ann::kernels
