// Reference kernels of the reductions (every Reduce*), ArgMax / ArgMin and TopK. A reduction accumulates
// each output element over its inputs in row-major index order, in the element type (integer sums and
// products in int64, wrapping to the element type at the end as numpy's do), so the result is one fixed
// function of the input.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {
namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

struct ReduceLayout {
  Shape keep_shape;  // the input shape with reduced dims set to 1 (the accumulators' layout)
  Shape out_shape;
  std::int64_t count = 1;  // elements reduced into each output
};

ReduceLayout reduce_layout(const NodeCall& c, const Shape& in, const std::vector<std::int64_t>& axes, bool keepdims) {
  const int rank = static_cast<int>(in.size());
  std::vector<bool> reduced(in.size(), axes.empty());
  for (std::int64_t a : axes) {
    const auto ax = static_cast<std::size_t>(c.axis(a, rank, "reduce axis"));
    if (reduced[ax] && !axes.empty()) c.fail_shape("reduce axis " + std::to_string(a) + " given twice");
    reduced[ax] = true;
  }
  ReduceLayout l;
  l.keep_shape = in;
  for (std::size_t d = 0; d < in.size(); ++d) {
    if (reduced[d]) {
      l.count *= in[d];
      l.keep_shape[d] = 1;
      if (keepdims) l.out_shape.push_back(1);
    } else {
      l.out_shape.push_back(in[d]);
    }
  }
  return l;
}

// Calls f(acc_index, flat_input_index) for every input element in row-major order.
template <typename F> void for_each_reduced(const Shape& in, const Shape& keep_shape, F f) {
  BroadcastWalker walk(in, {keep_shape});
  const std::int64_t n = checked_numel(in);
  for (std::int64_t i = 0; i < n; ++i, walk.next()) f(static_cast<std::size_t>(walk.offset(0)), i);
}

template <typename T> constexpr T highest() {
  if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}
template <typename T> constexpr T lowest_value() {
  if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}

template <typename T> Tensor reduce_typed(const NodeCall& c, OpKind kind, const Tensor& x, const ReduceLayout& l) {
  constexpr bool is_fp = std::is_floating_point_v<T>;
  using Acc = std::conditional_t<is_fp, T, std::int64_t>;
  const T* px = x.data<T>();
  const auto n_out = static_cast<std::size_t>(checked_numel(l.keep_shape));
  Tensor out(x.dtype(), l.out_shape);
  T* py = out.data<T>();

  if (kind == OpKind::ReduceMax || kind == OpKind::ReduceMin) {
    const bool is_max = kind == OpKind::ReduceMax;
    std::vector<T> acc(n_out, is_max ? lowest_value<T>() : highest<T>());
    for_each_reduced(x.shape(), l.keep_shape, [&](std::size_t o, std::int64_t i) {
      const T v = px[i];
      T& a = acc[o];
      if constexpr (is_fp)
        if (std::isnan(a)) return;  // numpy's max / min propagate NaN
      if constexpr (is_fp)
        if (std::isnan(v)) { a = v; return; }
      if (is_max ? v > a : v < a) a = v;
    });
    std::copy(acc.begin(), acc.end(), py);
    return out;
  }

  if (kind == OpKind::ReduceLogSumExp) {
    if constexpr (is_fp) {
      // m + log(sum(exp(x - m))) with m the row maximum: log(sum(exp(x))) without overflow.
      std::vector<T> m(n_out, lowest_value<T>());
      for_each_reduced(x.shape(), l.keep_shape, [&](std::size_t o, std::int64_t i) {
        if (std::isnan(px[i]) || px[i] > m[o]) m[o] = px[i];
      });
      std::vector<T> acc(n_out, T{0});
      for_each_reduced(x.shape(), l.keep_shape, [&](std::size_t o, std::int64_t i) {
        if (std::isfinite(m[o])) acc[o] += std::exp(px[i] - m[o]);
      });
      for (std::size_t o = 0; o < n_out; ++o) py[o] = std::isfinite(m[o]) ? m[o] + std::log(acc[o]) : m[o];
      return out;
    }
    c.fail_unsupported("ReduceLogSumExp of integers is not supported");
  }

  const bool prod = kind == OpKind::ReduceProd;
  std::vector<Acc> acc(n_out, prod ? Acc{1} : Acc{0});
  for_each_reduced(x.shape(), l.keep_shape, [&](std::size_t o, std::int64_t i) {
    const Acc v = static_cast<Acc>(px[i]);
    Acc& a = acc[o];
    switch (kind) {
      case OpKind::ReduceProd: a = wrap_mul(a, v); break;
      case OpKind::ReduceL1: a = wrap_add(a, v < Acc{0} ? wrap_sub(Acc{0}, v) : v); break;
      case OpKind::ReduceL2:
      case OpKind::ReduceSumSquare: a = wrap_add(a, wrap_mul(v, v)); break;
      default: a = wrap_add(a, v); break;  // ReduceSum, ReduceMean, ReduceLogSum
    }
  });
  for (std::size_t o = 0; o < n_out; ++o) {
    switch (kind) {
      case OpKind::ReduceMean:
        if constexpr (is_fp) py[o] = acc[o] / static_cast<T>(l.count);
        else py[o] = l.count == 0 ? T{0} : static_cast<T>(acc[o] / l.count);  // truncation, as numpy's astype
        break;
      case OpKind::ReduceL2:
        if constexpr (is_fp) py[o] = std::sqrt(acc[o]);
        else py[o] = static_cast<T>(std::sqrt(static_cast<double>(acc[o])));
        break;
      case OpKind::ReduceLogSum:
        if constexpr (is_fp) py[o] = std::log(acc[o]);
        else c.fail_unsupported("ReduceLogSum of integers is not supported");
        break;
      default: py[o] = static_cast<T>(acc[o]); break;  // narrow integers wrap, as numpy's sums do
    }
  }
  return out;
}

}  // namespace

Outputs eval_reduce(const NodeCall& c) {
  const OpKind kind = c.node().kind;
  const auto& at = c.attrs<ReduceAttrs>();
  const Tensor& x = c.input(0, "data");
  // Axes given as an input (ReduceSum-13, every reduction from opset 18) win over the folded attribute.
  std::vector<std::int64_t> axes = at.axes;
  if (const Tensor* t = c.optional_input(1)) axes = c.int_values(*t, "axes");
  if (axes.empty() && at.noop_with_empty_axes) return {x};
  const ReduceLayout l = reduce_layout(c, x.shape(), axes, at.keepdims);
  return {visit_dtype(NumericTypes{}, c, x.dtype(), "reduce input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return reduce_typed<T>(c, kind, x, l);
  })};
}

// ArgMax / ArgMin: the index of the first extreme along the axis (the last with select_last_index); a NaN
// counts as the extreme, as numpy's argmax / argmin do.
Outputs eval_arg_reduce(const NodeCall& c) {
  const auto& at = c.attrs<ArgReduceAttrs>();
  const bool is_max = c.node().kind == OpKind::ArgMax;
  const Tensor& x = c.input(0, "data");
  const int axis = c.axis(at.axis, x.rank());
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t outer = product(x.shape(), 0, ax), n = x.dim(axis);
  const std::int64_t inner = product(x.shape(), ax + 1, x.shape().size());
  if (n == 0) c.fail_shape("ArgMax / ArgMin over an empty axis");
  Shape out_shape = x.shape();
  if (at.keepdims) out_shape[ax] = 1;
  else out_shape.erase(out_shape.begin() + axis);
  Tensor out(DType::i64, out_shape);
  std::int64_t* py = out.data<std::int64_t>();
  visit_dtype(NumericTypes{}, c, x.dtype(), "ArgMax / ArgMin input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) {
        const T* row = px + o * n * inner + i;
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < n; ++k) {
          const T v = row[k * inner], b = row[best * inner];
          bool take;
          if constexpr (std::is_floating_point_v<T>) {
            if (std::isnan(b)) take = at.select_last_index && std::isnan(v);
            else if (std::isnan(v)) take = true;
            else take = is_max ? (v > b || (at.select_last_index && v == b)) : (v < b || (at.select_last_index && v == b));
          } else {
            take = is_max ? (v > b || (at.select_last_index && v == b)) : (v < b || (at.select_last_index && v == b));
          }
          if (take) best = k;
        }
        py[o * inner + i] = best;
      }
    return 0;
  });
  return {std::move(out)};
}

// TopK: the K largest (smallest) values along the axis, sorted, ties broken by the lower index; NaN ranks
// above every number (as ONNX Runtime orders them).
Outputs eval_top_k(const NodeCall& c) {
  const auto& at = c.attrs<TopKAttrs>();
  const Tensor& x = c.input(0, "X");
  const Tensor& k_t = c.input(1, "K");
  if (k_t.numel() != 1) c.fail_shape("TopK K must hold one value");
  const std::int64_t k = c.int_values(k_t, "TopK K")[0];
  const int axis = c.axis(at.axis, x.rank());
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t outer = product(x.shape(), 0, ax), n = x.dim(axis);
  const std::int64_t inner = product(x.shape(), ax + 1, x.shape().size());
  if (k < 0 || k > n) c.fail_shape("TopK K " + std::to_string(k) + " out of range for dim " + std::to_string(n));
  Shape out_shape = x.shape();
  out_shape[ax] = k;
  Tensor values(x.dtype(), out_shape), indices(DType::i64, out_shape);
  std::int64_t* pi = indices.data<std::int64_t>();
  visit_dtype(NumericTypes{}, c, x.dtype(), "TopK input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* pv = values.data<T>();
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) {
        const T* row = px + o * n * inner + i;
        auto key = [&](std::int64_t j) { return row[j * inner]; };
        auto before = [&](std::int64_t a, std::int64_t b) {  // a strictly ranks before b
          const T va = key(a), vb = key(b);
          if constexpr (std::is_floating_point_v<T>) {
            if (std::isnan(va) || std::isnan(vb)) return std::isnan(va) && !std::isnan(vb) ? at.largest : (!std::isnan(va) && std::isnan(vb) ? !at.largest : false);
          }
          return at.largest ? va > vb : va < vb;
        };
        std::iota(order.begin(), order.end(), std::int64_t{0});
        std::stable_sort(order.begin(), order.end(), before);
        for (std::int64_t j = 0; j < k; ++j) {
          const std::int64_t pos = (o * k + j) * inner + i;
          pv[pos] = key(order[static_cast<std::size_t>(j)]);
          pi[pos] = order[static_cast<std::size_t>(j)];
        }
      }
    return 0;
  });
  return {std::move(values), std::move(indices)};
}

}  // namespace snnconv::ann::detail
