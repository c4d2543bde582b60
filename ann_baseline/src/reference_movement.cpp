// Reference kernels of data movement, shape-only ops, Cast and Where. They move whole elements as bytes,
// so they work for every dtype (f16 included) without a per-type instantiation.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {
namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}
std::int64_t product(const Shape& s) { return product(s, 0, s.size()); }

void copy_elements(Tensor& out, std::int64_t out_index, const Tensor& in, std::int64_t in_index, std::int64_t count = 1) {
  if (count == 0) return;  // an empty tensor may have no buffer at all
  const std::size_t es = dtype_size(in.dtype());
  std::memcpy(out.raw() + static_cast<std::size_t>(out_index) * es, in.raw() + static_cast<std::size_t>(in_index) * es,
              static_cast<std::size_t>(count) * es);
}

// Calls f(out_index, in_offset) for every element of `shape` in row-major order, where
// in_offset = base + sum_d index[d] * strides[d] (strides may be negative).
template <typename F>
void for_each_strided(const Shape& shape, const std::vector<std::int64_t>& strides, std::int64_t base, F f) {
  const std::int64_t n = product(shape);
  std::vector<std::int64_t> index(shape.size(), 0);
  std::int64_t off = base;
  for (std::int64_t i = 0; i < n; ++i) {
    f(i, off);
    for (std::size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

// A 1-D integer tensor of dims or axes (Reshape shape, Expand shape, Unsqueeze axes...).
std::vector<std::int64_t> int_list(const NodeCall& c, const Tensor& t, const char* what) {
  if (t.rank() != 1) c.fail_shape(std::string(what) + " must be 1-D, got " + shape_to_string(t.shape()));
  return c.int_values(t, what);
}

// A scalar integer input (Trilu k); ONNX Runtime also takes a 1-element 1-D tensor.
std::int64_t int_scalar(const NodeCall& c, const Tensor& t, const char* what) {
  if (t.numel() != 1 || t.rank() > 1) c.fail_shape(std::string(what) + " must be a scalar");
  return c.int_values(t, what)[0];
}

// Axes normalised against `rank`, each at most once.
std::vector<int> unique_axes(const NodeCall& c, const std::vector<std::int64_t>& axes, int rank, const char* what) {
  std::vector<int> out;
  for (std::int64_t a : axes) {
    const int ax = c.axis(a, rank, what);
    if (std::find(out.begin(), out.end(), ax) != out.end())
      c.fail_shape(std::string(what) + " " + std::to_string(a) + " given twice");
    out.push_back(ax);
  }
  return out;
}

Tensor broadcast_to(const Tensor& in, const Shape& shape) {
  Tensor out(in.dtype(), shape);
  BroadcastWalker walk(shape, {in.shape()});
  for (std::int64_t i = 0; i < out.numel(); ++i, walk.next()) copy_elements(out, i, in, walk.offset(0));
  return out;
}

}  // namespace

Outputs eval_identity(const NodeCall& c) { return {c.input(0, "input")}; }

Outputs eval_transpose(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  const int rank = x.rank();
  std::vector<std::int64_t> perm = c.attrs<TransposeAttrs>().perm;
  if (perm.empty())
    for (int d = rank; d-- > 0;) perm.push_back(d);
  std::vector<bool> seen(static_cast<std::size_t>(rank), false);
  if (static_cast<int>(perm.size()) != rank) c.fail_shape("Transpose perm has the wrong length");
  for (std::int64_t p : perm) {
    if (p < 0 || p >= rank || seen[static_cast<std::size_t>(p)]) c.fail_shape("Transpose perm is not a permutation");
    seen[static_cast<std::size_t>(p)] = true;
  }
  const std::vector<std::int64_t> in_strides = strides_of(x.shape());
  Shape out_shape;
  std::vector<std::int64_t> strides;
  for (std::int64_t p : perm) {
    out_shape.push_back(x.dim(static_cast<int>(p)));
    strides.push_back(in_strides[static_cast<std::size_t>(p)]);
  }
  Tensor out(x.dtype(), out_shape);
  for_each_strided(out_shape, strides, 0, [&](std::int64_t i, std::int64_t off) { copy_elements(out, i, x, off); });
  return {std::move(out)};
}

Outputs eval_reshape(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  const std::vector<std::int64_t> spec = int_list(c, c.input(1, "shape"), "Reshape shape");
  const bool allowzero = c.attrs<ReshapeAttrs>().allowzero;
  Shape shape(spec.size());
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    std::int64_t d = spec[i];
    if (d == 0 && !allowzero) {
      if (i >= x.shape().size()) c.fail_shape("Reshape copies dim " + std::to_string(i) + " the input lacks");
      d = x.shape()[i];
    }
    if (d == -1) {
      if (infer >= 0) c.fail_shape("Reshape shape has more than one -1");
      infer = static_cast<int>(i);
      continue;
    }
    if (d < 0) c.fail_shape("Reshape shape has a negative dim " + std::to_string(d));
    shape[i] = d;
    known *= d;
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      c.fail_shape("Reshape cannot infer -1 for " + shape_to_string(x.shape()) + " -> " + shape_to_string(spec));
    shape[static_cast<std::size_t>(infer)] = x.numel() / known;
  } else if (known != x.numel()) {
    c.fail_shape("Reshape " + shape_to_string(x.shape()) + " -> " + shape_to_string(spec) + " changes the size");
  }
  return {x.reshaped(shape)};
}

Outputs eval_flatten(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const std::int64_t rank = x.rank();
  std::int64_t axis = c.attrs<AxisAttrs>().axis;
  // Flatten's axis ranges over [-r, r]: axis == r puts every dim in the outer factor.
  if (axis < -rank || axis > rank) c.fail_shape("Flatten axis " + std::to_string(axis) + " out of range");
  if (axis < 0) axis += rank;
  const auto ax = static_cast<std::size_t>(axis);
  return {x.reshaped({product(x.shape(), 0, ax), product(x.shape(), ax, x.shape().size())})};
}

Outputs eval_concat(const NodeCall& c) {
  const Tensor& first = c.input(0, "inputs");
  const int axis = c.axis(c.attrs<AxisAttrs>().axis, first.rank());
  const auto ax = static_cast<std::size_t>(axis);
  Shape out_shape = first.shape();
  out_shape[ax] = 0;
  for (std::size_t i = 0; i < c.num_inputs(); ++i) {
    const Tensor& t = c.input(i, "inputs");
    bool fits = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (std::size_t d = 0; fits && d < out_shape.size(); ++d) fits = d == ax || t.shape()[d] == first.shape()[d];
    if (!fits)
      c.fail_shape("Concat input " + std::to_string(i) + " " + shape_to_string(t.shape()) + " does not fit " +
                   shape_to_string(first.shape()) + " along axis " + std::to_string(axis));
    out_shape[ax] += t.shape()[ax];
  }
  Tensor out(first.dtype(), out_shape);
  const std::int64_t outer = product(out_shape, 0, ax), inner = product(out_shape, ax + 1, out_shape.size());
  std::int64_t pos = 0;
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::size_t i = 0; i < c.num_inputs(); ++i) {
      const Tensor& t = *c.optional_input(i);
      const std::int64_t block = t.shape()[ax] * inner;
      copy_elements(out, pos, t, o * block, block);
      pos += block;
    }
  return {std::move(out)};
}

Outputs eval_split(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const auto& at = c.attrs<SplitAttrs>();
  const int axis = c.axis(at.axis, x.rank());
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t dim = x.dim(axis);
  const auto parts = static_cast<std::int64_t>(c.num_outputs());
  std::vector<std::int64_t> sizes;
  if (const Tensor* s = c.optional_input(1)) {
    sizes = int_list(c, *s, "Split split");
    std::int64_t total = 0;
    for (std::int64_t v : sizes) {
      if (v < 0) c.fail_shape("Split sizes must be >= 0");
      total += v;
    }
    if (static_cast<std::int64_t>(sizes.size()) != parts || total != dim)
      c.fail_shape("Split sizes " + shape_to_string(sizes) + " do not split dim " + std::to_string(dim) + " into " +
                   std::to_string(parts) + " outputs");
  } else if (at.ceil_parts) {  // opset 18 num_outputs: ceil(dim / n) each, the last part smaller
    const std::int64_t part = (dim + parts - 1) / parts;
    if (part * (parts - 1) >= dim && dim > 0)
      c.fail_shape("Split of dim " + std::to_string(dim) + " into " + std::to_string(parts) +
                   " parts leaves an empty last part");
    for (std::int64_t i = 0; i < parts; ++i) sizes.push_back(std::min(part, dim - i * part));
  } else {
    if (dim % parts != 0)
      c.fail_shape("Split cannot cut dim " + std::to_string(dim) + " into " + std::to_string(parts) + " equal parts");
    sizes.assign(static_cast<std::size_t>(parts), dim / parts);
  }
  const std::int64_t outer = product(x.shape(), 0, ax), inner = product(x.shape(), ax + 1, x.shape().size());
  Outputs outs;
  std::int64_t begin = 0;
  for (std::int64_t size : sizes) {
    Shape shape = x.shape();
    shape[ax] = size;
    Tensor out(x.dtype(), shape);
    for (std::int64_t o = 0; o < outer; ++o) copy_elements(out, o * size * inner, x, (o * dim + begin) * inner, size * inner);
    begin += size;
    outs.push_back(std::move(out));
  }
  return outs;
}

Outputs eval_slice(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  const int rank = x.rank();
  const std::vector<std::int64_t> starts = int_list(c, c.input(1, "starts"), "Slice starts");
  const std::vector<std::int64_t> ends = int_list(c, c.input(2, "ends"), "Slice ends");
  std::vector<std::int64_t> axes_in, steps(starts.size(), 1);
  if (const Tensor* t = c.optional_input(3)) {
    axes_in = int_list(c, *t, "Slice axes");
  } else {
    for (std::size_t i = 0; i < starts.size(); ++i) axes_in.push_back(static_cast<std::int64_t>(i));
  }
  if (const Tensor* t = c.optional_input(4)) steps = int_list(c, *t, "Slice steps");
  if (ends.size() != starts.size() || axes_in.size() != starts.size() || steps.size() != starts.size())
    c.fail_shape("Slice starts, ends, axes and steps differ in length");
  const std::vector<int> axes = unique_axes(c, axes_in, rank, "Slice axis");

  Shape out_shape = x.shape();
  std::vector<std::int64_t> begin(static_cast<std::size_t>(rank), 0), step(static_cast<std::size_t>(rank), 1);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const auto ax = static_cast<std::size_t>(axes[i]);
    const std::int64_t dim = x.shape()[ax], st = steps[i];
    if (st == 0) c.fail_shape("Slice step must not be 0");
    std::int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    // ONNX clamping: [0, dim] for positive steps, [0, dim-1] / [-1, dim-1] for negative ones. This is the
    // spec's text, not numpy's: a backward slice starting before element 0 still takes element 0 where
    // numpy gives nothing. Counts are 1 + (distance - 1) / |step| so a huge step cannot overflow.
    std::int64_t n = 0;
    if (dim == 0) {
      s = 0;
    } else if (st > 0) {
      s = std::clamp<std::int64_t>(s, 0, dim);
      e = std::clamp<std::int64_t>(e, 0, dim);
      if (e > s) n = 1 + (e - s - 1) / st;
    } else {
      s = std::clamp<std::int64_t>(s, 0, dim - 1);
      e = std::clamp<std::int64_t>(e, -1, dim - 1);
      const std::uint64_t magnitude = std::uint64_t{0} - static_cast<std::uint64_t>(st);
      if (s > e) n = 1 + static_cast<std::int64_t>(static_cast<std::uint64_t>(s - e - 1) / magnitude);
    }
    begin[ax] = s;
    step[ax] = st;
    out_shape[ax] = n;
  }
  const std::vector<std::int64_t> in_strides = strides_of(x.shape());
  std::vector<std::int64_t> strides(static_cast<std::size_t>(rank));
  std::int64_t base = 0;
  for (std::size_t d = 0; d < strides.size(); ++d) {
    strides[d] = out_shape[d] > 1 ? in_strides[d] * step[d] : 0;  // a huge step taken once must not overflow
    base += begin[d] * in_strides[d];
  }
  Tensor out(x.dtype(), out_shape);
  for_each_strided(out_shape, strides, base, [&](std::int64_t i, std::int64_t off) { copy_elements(out, i, x, off); });
  return {std::move(out)};
}

Outputs eval_gather(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  const Tensor& indices = c.input(1, "indices");
  if (indices.dtype() != DType::i32 && indices.dtype() != DType::i64)
    c.fail_shape("Gather indices must be i32 or i64");
  const int axis = c.axis(c.attrs<AxisAttrs>().axis, x.rank());
  const auto ax = static_cast<std::size_t>(axis);
  const std::int64_t dim = x.dim(axis);
  std::vector<std::int64_t> idx = indices.to_i64();
  for (std::int64_t& i : idx) {
    if (i < -dim || i >= dim)
      c.fail_shape("Gather index " + std::to_string(i) + " out of range for dim " + std::to_string(dim));
    if (i < 0) i += dim;
  }
  Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor out(x.dtype(), out_shape);
  const std::int64_t outer = product(x.shape(), 0, ax), inner = product(x.shape(), ax + 1, x.shape().size());
  std::int64_t pos = 0;
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i : idx) {
      copy_elements(out, pos, x, (o * dim + i) * inner, inner);
      pos += inner;
    }
  return {std::move(out)};
}

Outputs eval_unsqueeze(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  const std::vector<std::int64_t> axes_in = int_list(c, c.input(1, "axes"), "Unsqueeze axes");
  const int out_rank = x.rank() + static_cast<int>(axes_in.size());
  const std::vector<int> axes = unique_axes(c, axes_in, out_rank, "Unsqueeze axis");
  Shape shape;
  auto it = x.shape().begin();
  for (int d = 0; d < out_rank; ++d)
    shape.push_back(std::find(axes.begin(), axes.end(), d) != axes.end() ? 1 : *it++);
  return {x.reshaped(shape)};
}

Outputs eval_squeeze(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  std::vector<int> axes;
  if (const Tensor* t = c.optional_input(1)) {
    axes = unique_axes(c, int_list(c, *t, "Squeeze axes"), x.rank(), "Squeeze axis");
    for (int a : axes)
      if (x.dim(a) != 1) c.fail_shape("Squeeze axis " + std::to_string(a) + " has size " + std::to_string(x.dim(a)));
  } else {
    for (int d = 0; d < x.rank(); ++d)
      if (x.dim(d) == 1) axes.push_back(d);
  }
  Shape shape;
  for (int d = 0; d < x.rank(); ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) shape.push_back(x.dim(d));
  return {x.reshaped(shape)};
}

Outputs eval_expand(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const std::vector<std::int64_t> spec = int_list(c, c.input(1, "shape"), "Expand shape");
  for (std::int64_t d : spec)
    if (d < 0) c.fail_shape("Expand shape has a negative dim " + std::to_string(d));
  // Bidirectional: a 1 in the requested shape keeps the input's dim.
  return {broadcast_to(x, broadcast_shapes(c, {x.shape(), spec}))};
}

Outputs eval_trilu(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  if (x.rank() < 2) c.fail_shape("Trilu needs rank >= 2, got " + shape_to_string(x.shape()));
  const std::int64_t k = c.optional_input(1) ? int_scalar(c, *c.optional_input(1), "Trilu k") : 0;
  const bool upper = c.attrs<TriluAttrs>().upper;
  const std::int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
  Tensor out(x.dtype(), x.shape());  // zero-filled: the bytes of zero are 0 for every dtype
  for (std::int64_t base = 0; base < x.numel(); base += rows * cols)
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j)
        if (upper ? j - i >= k : j - i <= k) copy_elements(out, base + i * cols + j, x, base + i * cols + j);
  return {std::move(out)};
}

Outputs eval_shape(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  return {Tensor::from_vector<std::int64_t>({x.rank()}, x.shape())};
}

namespace {
// Truncates toward zero and saturates to T's range (NaN -> 0).
template <typename T>
T saturate_to(double v) {
  if (std::isnan(v)) return T{0};
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}
}  // namespace

Outputs eval_constant_of_shape(const NodeCall& c) {
  const auto& at = c.attrs<ConstantOfShapeAttrs>();
  const std::vector<std::int64_t> shape = int_list(c, c.input(0, "input"), "ConstantOfShape shape");
  for (std::int64_t d : shape)
    if (d < 0) c.fail_shape("ConstantOfShape shape has a negative dim " + std::to_string(d));
  const Tensor one = Tensor::scalar(static_cast<float>(at.value));
  Tensor value;
  switch (at.dtype) {
    // Integers straight from the double: a float detour would round values above 2^24. Saturated, as
    // Tensor::cast does: converting an out-of-range double is undefined behaviour (fuzz finding).
    case DType::i64: value = Tensor::scalar(saturate_to<std::int64_t>(at.value)); break;
    case DType::i32: value = Tensor::scalar(saturate_to<std::int32_t>(at.value)); break;
    case DType::i8: value = Tensor::scalar(saturate_to<std::int8_t>(at.value)); break;
    case DType::u8: value = Tensor::scalar(saturate_to<std::uint8_t>(at.value)); break;
    case DType::boolean: value = Tensor::scalar(at.value != 0.0); break;
    case DType::f32:
    case DType::f16: value = one.cast(at.dtype); break;
  }
  return {broadcast_to(value, shape)};
}

Outputs eval_range(const NodeCall& c) {
  const Tensor& start = c.input(0, "start");
  const Tensor& limit = c.input(1, "limit");
  const Tensor& delta = c.input(2, "delta");
  for (const Tensor* t : {&start, &limit, &delta}) {
    if (t->numel() != 1 || t->rank() > 1) c.fail_shape("Range inputs must be scalars");
    if (t->dtype() != start.dtype()) c.fail_shape("Range inputs must share one dtype");
  }
  return {visit_dtype(TypeList<float, std::int32_t, std::int64_t>{}, c, start.dtype(), "Range input", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T s = start.data<T>()[0], l = limit.data<T>()[0], d = delta.data<T>()[0];
    if (d == T{0}) c.fail_shape("Range delta must not be 0");
    std::int64_t n = 0;
    if constexpr (std::is_floating_point_v<T>) {
      // ONNX Runtime's count: ceil of (limit - start) taken in T, divided in double.
      const double q = std::ceil(static_cast<double>(l - s) / static_cast<double>(d));
      if (!std::isfinite(q)) c.fail_shape("Range count is not finite");
      n = q > 0 ? static_cast<std::int64_t>(std::min(q, 9.0e18)) : 0;
    } else {
      // Exact integer ceil division, in 128 bits so limit - start cannot overflow.
      const __int128 span = static_cast<__int128>(l) - s, step = d;
      if ((span > 0 && step > 0) || (span < 0 && step < 0)) {
        const __int128 q = (span + step + (step > 0 ? -1 : 1)) / step;
        n = static_cast<std::int64_t>(std::min<__int128>(q, std::numeric_limits<std::int64_t>::max()));
      }
    }
    Tensor out(start.dtype(), {n});
    T* py = out.data<T>();
    for (std::int64_t i = 0; i < n; ++i) {
      // start + i * delta, as the ONNX spec writes it (not a running sum, which drifts in float).
      if constexpr (std::is_floating_point_v<T>) py[i] = s + static_cast<T>(i) * d;
      else py[i] = wrap_add(s, wrap_mul(static_cast<T>(i), d));
    }
    return out;
  })};
}

Outputs eval_cast(const NodeCall& c) { return {c.input(0, "input").cast(c.attrs<CastAttrs>().to)}; }

Outputs eval_where(const NodeCall& c) {
  const Tensor& cond = c.input(0, "condition");
  const Tensor& x = c.input(1, "X");
  const Tensor& y = c.input(2, "Y");
  if (cond.dtype() != DType::boolean) c.fail_shape("Where condition must be bool");
  if (x.dtype() != y.dtype()) c.fail_shape("Where X and Y have different dtypes");
  const Shape shape = broadcast_shapes(c, {cond.shape(), x.shape(), y.shape()});
  Tensor out(x.dtype(), shape);
  const bool* pc = cond.data<bool>();
  BroadcastWalker walk(shape, {cond.shape(), x.shape(), y.shape()});
  for (std::int64_t i = 0; i < out.numel(); ++i, walk.next()) {
    if (pc[walk.offset(0)]) copy_elements(out, i, x, walk.offset(1));
    else copy_elements(out, i, y, walk.offset(2));
  }
  return {std::move(out)};
}

}  // namespace snnconv::ann::detail
