// Fast kernels for the per-row shapes the integer-form export's LayerNorm and Softmax on levels write
// (converter/src/onnx/onnx_export_integer.cpp): a binary op of a tensor and one value per row ([..., n] with
// [..., 1]: the row sums, the row maximum, the denominators), and ReduceSum / ReduceMax of int64 over the last axis.
// Each element is the reference's expression (f32 IEEE arithmetic; int64 wrapping as detail::wrap_*), each
// reduction runs over the row in increasing index as the reference's, so the results are the reference's bits.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "reference_detail.hpp"

namespace snnconv::ann::kernels {
namespace {

// y[r, j] = f(x[r, j], z[r]) (ColumnB) or f(x[r], z[r, j]) (!ColumnB), rows of `n`.
template <typename T, bool ColumnB, typename F>
void map_column(const KernelArgs& a, F f) {
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

template <bool B>
void add_f32(const KernelArgs& a) {
  map_column<float, B>(a, [](float x, float y) { return x + y; });
}
template <bool B>
void sub_f32(const KernelArgs& a) {
  map_column<float, B>(a, [](float x, float y) { return x - y; });
}
template <bool B>
void mul_f32(const KernelArgs& a) {
  map_column<float, B>(a, [](float x, float y) { return x * y; });
}
template <bool B>
void div_f32(const KernelArgs& a) {
  map_column<float, B>(a, [](float x, float y) { return x / y; });
}
template <bool B>
void add_i64(const KernelArgs& a) {
  map_column<std::int64_t, B>(a, [](std::int64_t x, std::int64_t y) { return detail::wrap_add(x, y); });
}
template <bool B>
void sub_i64(const KernelArgs& a) {
  map_column<std::int64_t, B>(a, [](std::int64_t x, std::int64_t y) { return detail::wrap_sub(x, y); });
}
template <bool B>
void mul_i64(const KernelArgs& a) {
  map_column<std::int64_t, B>(a, [](std::int64_t x, std::int64_t y) { return detail::wrap_mul(x, y); });
}

template <bool B>
KernelFn column_fn(OpKind kind, DType t) {
  if (t == DType::f32) {
    switch (kind) {
      case OpKind::Add:
        return add_f32<B>;
      case OpKind::Sub:
        return sub_f32<B>;
      case OpKind::Mul:
        return mul_f32<B>;
      case OpKind::Div:
        return div_f32<B>;
      default:
        return nullptr;
    }
  }
  if (t == DType::i64) {
    switch (kind) {
      case OpKind::Add:
        return add_i64<B>;
      case OpKind::Sub:
        return sub_i64<B>;
      case OpKind::Mul:
        return mul_i64<B>;
      default:
        return nullptr;
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
template <bool Max>
void reduce_rows_i64(const KernelArgs& a) {
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
            if constexpr (Max)
              acc = p[j] > acc ? p[j] : acc;
            else
              acc = detail::wrap_add(acc, p[j]);
          }
          y[r] = acc;
        }
      },
      a.in[0]->numel());
}

// Cast<i64> of an f32 (kernels_movement.cpp's rule): truncation toward zero, saturated, NaN gives 0.
inline std::int64_t to_i64(float v) {
  if (std::isnan(v)) return 0;
  const double t = std::trunc(static_cast<double>(v));
  if (t <= static_cast<double>(std::numeric_limits<std::int64_t>::lowest()))
    return std::numeric_limits<std::int64_t>::lowest();
  if (t >= static_cast<double>(std::numeric_limits<std::int64_t>::max()))
    return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(t);
}

// Levels as the export's bytes give them: every value of the row strictly inside +-2^15 (NaN fails the test). Then
// Cast<i64> is the int32 truncation, and the row's int64 results below are computed on narrower exact types.
constexpr float kSmallLevel = 32768.0f;
bool small_row(const float* x, std::int64_t n) {
  bool ok = true;
  for (std::int64_t j = 0; j < n; ++j) ok &= (x[j] > -kSmallLevel) & (x[j] < kSmallLevel);
  return ok;
}

// Softmax on levels, one row: qi = Cast<i64>(x); m = ReduceMax(qi); w = Gather(table, m - qi); s = ReduceSum(w);
// y = Cast<f32>(w) / Cast<f32>(s). An index outside the table fails as Gather does. `qi`: n scratch integers.
void softmax_row(const RowUnit& u, const float* x, float* y, std::int64_t n, std::int64_t* qi, std::int32_t* q32,
                 const KernelArgs& a) {
  const auto size = static_cast<std::int64_t>(u.table.size());
  auto out_of_range = [&](std::int64_t k) {
    return ShapeError("Gather index " + std::to_string(k) + " out of range for dim " + std::to_string(size),
                      {a.graph.source_file, a.node.name, std::string(op_name(a.node.kind)), ""});
  };
  std::int64_t sum = 0;
  if (small_row(x, n)) {
    // m - q is in [0, 2^16): an index, never negative. float(table[k]) is the Cast of the gathered weight.
    std::int32_t m = std::numeric_limits<std::int32_t>::lowest();
    for (std::int64_t j = 0; j < n; ++j) q32[j] = static_cast<std::int32_t>(x[j]);
    for (std::int64_t j = 0; j < n; ++j) m = q32[j] > m ? q32[j] : m;
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int32_t k = m - q32[j];
      if (k >= size) throw out_of_range(k);
      q32[j] = k;
      sum = detail::wrap_add(sum, u.table[static_cast<std::size_t>(k)]);
    }
    const float den = static_cast<float>(sum);
    for (std::int64_t j = 0; j < n; ++j) y[j] = u.table_f32[static_cast<std::size_t>(q32[j])] / den;
    return;
  }
  std::int64_t m = std::numeric_limits<std::int64_t>::lowest();
  for (std::int64_t j = 0; j < n; ++j) {
    qi[j] = to_i64(x[j]);
    m = qi[j] > m ? qi[j] : m;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t k = detail::wrap_sub(m, qi[j]);
    if (k < -size || k >= size) throw out_of_range(k);
    qi[j] = u.table[static_cast<std::size_t>(k < 0 ? k + size : k)];
    sum = detail::wrap_add(sum, qi[j]);
  }
  const float den = static_cast<float>(sum);
  for (std::int64_t j = 0; j < n; ++j) y[j] = static_cast<float>(qi[j]) / den;
}

// LayerNorm on levels, one row: qi = Cast<i64>(x); s1 = sum qi; s2 = sum qi*qi; d = qi*c - s1; v = s2*c - s1*s1
// (int64, wrapping: modular, so any order of the sums gives the same bits); y = float(d) / sqrt(float(v) + eps) *
// gamma + beta, one rounding per operation.
void layer_norm_row(const RowUnit& u, const float* x, float* y, std::int64_t n, std::int64_t* qi, std::int32_t* q32) {
  std::int64_t s1 = 0, s2 = 0;
  const std::int64_t c = u.cols_factor;
  const float* gamma = u.gamma.data();
  if (u.small_factor && small_row(x, n)) {
    // |q| < 2^15, |c| < 2^15, n < 2^15: |q*c| and |s1| below 2^30, so d = q*c - s1 is exact in int32, and its
    // float is the float of the int64 value.
    for (std::int64_t j = 0; j < n; ++j) q32[j] = static_cast<std::int32_t>(x[j]);
    std::int32_t t1 = 0;
    for (std::int64_t j = 0; j < n; ++j) t1 += q32[j];
    for (std::int64_t j = 0; j < n; ++j) s2 += static_cast<std::int64_t>(q32[j]) * q32[j];
    s1 = t1;
    const std::int64_t var = detail::wrap_sub(detail::wrap_mul(s2, c), detail::wrap_mul(s1, s1));
    const float den = std::sqrt(static_cast<float>(var) + u.eps_term);
    const auto c32 = static_cast<std::int32_t>(c);
    for (std::int64_t j = 0; j < n; ++j) y[j] = (static_cast<float>(q32[j] * c32 - t1) / den) * gamma[j];
  } else {
    for (std::int64_t j = 0; j < n; ++j) qi[j] = to_i64(x[j]);
    for (std::int64_t j = 0; j < n; ++j) s1 = detail::wrap_add(s1, qi[j]);
    for (std::int64_t j = 0; j < n; ++j) s2 = detail::wrap_add(s2, detail::wrap_mul(qi[j], qi[j]));
    const std::int64_t var = detail::wrap_sub(detail::wrap_mul(s2, c), detail::wrap_mul(s1, s1));
    const float den = std::sqrt(static_cast<float>(var) + u.eps_term);
    for (std::int64_t j = 0; j < n; ++j)
      y[j] = (static_cast<float>(detail::wrap_sub(detail::wrap_mul(qi[j], c), s1)) / den) * gamma[j];
  }
  if (!u.beta.empty())
    for (std::int64_t j = 0; j < n; ++j) y[j] = y[j] + u.beta[static_cast<std::size_t>(j)];
}

}  // namespace

void row_unit(const KernelArgs& a) {
  const RowUnit& u = *a.row;
  const float* x = a.in[0]->data<float>();
  float* y = a.out[0].data<float>();
  const std::int64_t total = a.out[0].numel();
  const std::int64_t n = a.out[0].shape().back();
  const std::int64_t rows = n == 0 ? 0 : total / n;
  for_chunks(
      rows, std::max<std::int64_t>(1, kElementChunk / std::max<std::int64_t>(n, 1)),
      [&](std::int64_t r0, std::int64_t r1) {
        std::vector<std::int64_t> qi(static_cast<std::size_t>(n));  // scratch, one per chunk
        std::vector<std::int32_t> q32(static_cast<std::size_t>(n));
        for (std::int64_t r = r0; r < r1; ++r) {
          if (u.softmax)
            softmax_row(u, x + r * n, y + r * n, n, qi.data(), q32.data(), a);
          else
            layer_norm_row(u, x + r * n, y + r * n, n, qi.data(), q32.data());
        }
      },
      total);
}

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
    default:
      return {};
  }
}

}  // namespace snnconv::ann::kernels
