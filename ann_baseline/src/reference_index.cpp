// Reference kernels of indexing and data movement added for broader ONNX coverage: GatherElements, GatherND,
// Tile, Pad, DepthToSpace, SpaceToDepth, OneHot, CastLike and Size. Like reference_movement.cpp they copy
// whole elements as bytes, so they work for every dtype.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {
namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

void copy_elements(Tensor& out, std::int64_t out_index, const Tensor& in, std::int64_t in_index, std::int64_t count = 1) {
  if (count == 0) return;
  const std::size_t es = dtype_size(in.dtype());
  std::memcpy(out.raw() + static_cast<std::size_t>(out_index) * es, in.raw() + static_cast<std::size_t>(in_index) * es,
              static_cast<std::size_t>(count) * es);
}

// Calls f(flat_out_index, multi_index) for every element of `shape` in row-major order.
template <typename F> void for_each_index(const Shape& shape, F f) {
  const std::int64_t n = checked_numel(shape);
  std::vector<std::int64_t> idx(shape.size(), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    f(i, idx);
    for (std::size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

std::vector<std::int64_t> int_list(const NodeCall& c, const Tensor& t, const char* what) {
  if (t.rank() != 1) c.fail_shape(std::string(what) + " must be 1-D, got " + shape_to_string(t.shape()));
  return c.int_values(t, what);
}

}  // namespace

Outputs eval_gather_elements(const NodeCall& c) {
  const Tensor& data = c.input(0, "data");
  const Tensor& indices = c.input(1, "indices");
  if (indices.rank() != data.rank()) c.fail_shape("GatherElements data and indices must have the same rank");
  const int axis = c.axis(c.attrs<AxisAttrs>().axis, data.rank());
  const auto ax = static_cast<std::size_t>(axis);
  for (int i = 0; i < data.rank(); ++i)
    if (i != axis && indices.dim(i) > data.dim(i)) c.fail_shape("GatherElements indices exceed the data's dims");
  const std::vector<std::int64_t> idx = c.int_values(indices, "GatherElements indices");
  const std::vector<std::int64_t> stride = strides_of(data.shape());
  const std::int64_t dim = data.dim(axis);
  Tensor out(data.dtype(), indices.shape());
  for_each_index(indices.shape(), [&](std::int64_t i, const std::vector<std::int64_t>& at) {
    std::int64_t k = idx[static_cast<std::size_t>(i)];
    if (k < -dim || k >= dim)
      c.fail_shape("GatherElements index " + std::to_string(k) + " out of range for dim " + std::to_string(dim));
    if (k < 0) k += dim;
    std::int64_t off = 0;
    for (std::size_t d = 0; d < at.size(); ++d) off += (d == ax ? k : at[d]) * stride[d];
    copy_elements(out, i, data, off);
  });
  return {std::move(out)};
}

Outputs eval_gather_nd(const NodeCall& c) {
  const Tensor& data = c.input(0, "data");
  const Tensor& indices = c.input(1, "indices");
  const std::int64_t b = c.attrs<AxisAttrs>().axis;  // batch_dims
  const int r = data.rank(), q = indices.rank();
  if (q < 1 || b < 0 || b >= std::min(r, q)) c.fail_shape("GatherND batch_dims out of range");
  const std::int64_t m = indices.dim(q - 1);
  if (m < 1 || m > r - b) c.fail_shape("GatherND index tuples longer than the data's rank");
  const auto bu = static_cast<std::size_t>(b);
  for (std::size_t i = 0; i < bu; ++i)
    if (indices.shape()[i] != data.shape()[i]) c.fail_shape("GatherND batch dims of data and indices differ");
  const std::vector<std::int64_t> idx = c.int_values(indices, "GatherND indices");
  const std::int64_t batches = product(data.shape(), 0, bu);
  const std::int64_t tuples = product(indices.shape(), bu, indices.shape().size() - 1);
  const std::int64_t slice = product(data.shape(), bu + static_cast<std::size_t>(m), data.shape().size());
  const std::int64_t batch_stride = product(data.shape(), bu, data.shape().size());
  Shape out_shape(indices.shape().begin(), indices.shape().end() - 1);
  out_shape.insert(out_shape.end(), data.shape().begin() + b + m, data.shape().end());
  Tensor out(data.dtype(), out_shape);
  std::int64_t pos = 0;
  for (std::int64_t bi = 0; bi < batches; ++bi)
    for (std::int64_t t = 0; t < tuples; ++t) {
      std::int64_t off = bi * batch_stride;
      for (std::int64_t j = 0; j < m; ++j) {
        const std::int64_t dim = data.dim(static_cast<int>(b + j));
        std::int64_t k = idx[static_cast<std::size_t>((bi * tuples + t) * m + j)];
        if (k < -dim || k >= dim)
          c.fail_shape("GatherND index " + std::to_string(k) + " out of range for dim " + std::to_string(dim));
        if (k < 0) k += dim;
        off += k * product(data.shape(), bu + static_cast<std::size_t>(j) + 1, data.shape().size());
      }
      copy_elements(out, pos, data, off, slice);
      pos += slice;
    }
  return {std::move(out)};
}

Outputs eval_tile(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const std::vector<std::int64_t> reps = int_list(c, c.input(1, "repeats"), "Tile repeats");
  if (static_cast<int>(reps.size()) != x.rank()) c.fail_shape("Tile repeats must have one entry per input dim");
  Shape out_shape = x.shape();
  for (std::size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] < 0) c.fail_shape("Tile repeat is negative");
    out_shape[i] *= reps[i];
  }
  checked_numel(out_shape, "Tile output");
  const std::vector<std::int64_t> stride = strides_of(x.shape());
  Tensor out(x.dtype(), out_shape);
  for_each_index(out_shape, [&](std::int64_t i, const std::vector<std::int64_t>& at) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d < at.size(); ++d) off += (at[d] % x.shape()[d]) * stride[d];
    copy_elements(out, i, x, off);
  });
  return {std::move(out)};
}

// Pad: constant (the optional scalar input, default 0), reflect (mirror without repeating the edge) or edge
// (repeat the edge); negative pads crop. Pads [begin..., end...] over every axis, or over `axes` (opset 18).
Outputs eval_pad(const NodeCall& c) {
  const Tensor& x = c.input(0, "data");
  const std::vector<std::int64_t> pads_in = int_list(c, c.input(1, "pads"), "Pad pads");
  const Tensor* value = c.optional_input(2);
  const int r = x.rank();
  std::vector<std::int64_t> axes;
  if (const Tensor* a = c.optional_input(3)) {
    for (std::int64_t v : int_list(c, *a, "Pad axes")) axes.push_back(c.axis(v, r, "Pad axis"));
  } else {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  if (pads_in.size() != 2 * axes.size()) c.fail_shape("Pad pads must have 2 entries per padded axis");
  std::vector<std::int64_t> begin(static_cast<std::size_t>(r), 0), end(static_cast<std::size_t>(r), 0);
  for (std::size_t k = 0; k < axes.size(); ++k) {
    begin[static_cast<std::size_t>(axes[k])] = pads_in[k];
    end[static_cast<std::size_t>(axes[k])] = pads_in[k + axes.size()];
  }
  const PadMode mode = c.attrs<PadAttrs>().mode;
  Shape out_shape = x.shape();
  for (std::size_t d = 0; d < out_shape.size(); ++d) {
    out_shape[d] += begin[d] + end[d];
    if (out_shape[d] < 0) c.fail_shape("Pad removes more than dim " + std::to_string(d) + " holds");
    if (mode != PadMode::constant && x.shape()[d] == 0 && out_shape[d] > 0)
      c.fail_shape("Pad reflect / edge of an empty dim");
    if (mode == PadMode::reflect && (begin[d] >= x.shape()[d] || end[d] >= x.shape()[d]) && (begin[d] > 0 || end[d] > 0))
      c.fail_shape("Pad reflect needs pads smaller than the dim");
  }
  if (value) {
    if (value->numel() != 1) c.fail_shape("Pad constant_value must be a scalar");
    require_same_dtype(c, x, *value);
  }
  const std::vector<std::int64_t> stride = strides_of(x.shape());
  Tensor out(x.dtype(), out_shape);
  for_each_index(out_shape, [&](std::int64_t i, const std::vector<std::int64_t>& at) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d < at.size(); ++d) {
      const std::int64_t n = x.shape()[d];
      std::int64_t p = at[d] - begin[d];
      if (p < 0 || p >= n) {
        if (mode == PadMode::constant) {
          if (value) copy_elements(out, i, *value, 0);  // else the zero the tensor was created with
          return;
        }
        if (mode == PadMode::edge) p = p < 0 ? 0 : n - 1;
        else p = p < 0 ? -p : 2 * (n - 1) - p;
      }
      off += p * stride[d];
    }
    copy_elements(out, i, x, off);
  });
  return {std::move(out)};
}

Outputs eval_depth_to_space(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const auto& at = c.attrs<BlockAttrs>();
  const std::int64_t b = at.blocksize;
  if (x.rank() != 4 || b < 1 || x.dim(1) % (b * b) != 0)
    c.fail_shape("DepthToSpace needs [N, C, H, W] with C divisible by blocksize^2");
  const std::int64_t n = x.dim(0), ch = x.dim(1) / (b * b), h = x.dim(2), w = x.dim(3);
  Tensor out(x.dtype(), {n, ch, h * b, w * b});
  for_each_index(out.shape(), [&](std::int64_t i, const std::vector<std::int64_t>& o) {
    const std::int64_t bi = o[2] % b, bj = o[3] % b;
    const std::int64_t in_c = at.crd ? (o[1] * b + bi) * b + bj : (bi * b + bj) * ch + o[1];
    copy_elements(out, i, x, ((o[0] * x.dim(1) + in_c) * h + o[2] / b) * w + o[3] / b);
  });
  return {std::move(out)};
}

Outputs eval_space_to_depth(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const std::int64_t b = c.attrs<BlockAttrs>().blocksize;
  if (x.rank() != 4 || b < 1 || x.dim(2) % b != 0 || x.dim(3) % b != 0)
    c.fail_shape("SpaceToDepth needs [N, C, H, W] with H and W divisible by blocksize");
  const std::int64_t n = x.dim(0), ch = x.dim(1), h = x.dim(2) / b, w = x.dim(3) / b;
  Tensor out(x.dtype(), {n, ch * b * b, h, w});
  for_each_index(out.shape(), [&](std::int64_t i, const std::vector<std::int64_t>& o) {
    const std::int64_t blk = o[1] / ch, in_c = o[1] % ch, bi = blk / b, bj = blk % b;
    copy_elements(out, i, x, ((o[0] * ch + in_c) * x.dim(2) + o[2] * b + bi) * x.dim(3) + o[3] * b + bj);
  });
  return {std::move(out)};
}

// OneHot: values[1] where the (possibly negative, wrapped once) index equals the position along the new
// axis, values[0] elsewhere; out-of-range indices give a row of off values.
Outputs eval_one_hot(const NodeCall& c) {
  const Tensor& indices = c.input(0, "indices");
  const Tensor& depth_t = c.input(1, "depth");
  const Tensor& values = c.input(2, "values");
  if (depth_t.numel() != 1) c.fail_shape("OneHot depth must be a scalar");
  if (values.rank() != 1 || values.numel() != 2) c.fail_shape("OneHot values must be [off_value, on_value]");
  const float depth_f = depth_t.to_f32()[0];
  if (!(depth_f >= 1.0f && depth_f <= static_cast<float>(kMaxDim))) c.fail_shape("OneHot depth out of range");
  const auto depth = static_cast<std::int64_t>(depth_f);
  const int axis = c.axis(c.attrs<AxisAttrs>().axis, indices.rank() + 1);
  const auto ax = static_cast<std::size_t>(axis);
  Shape out_shape = indices.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  const std::vector<float> idx = indices.to_f32();
  Tensor out(values.dtype(), out_shape);
  const std::int64_t inner = product(indices.shape(), ax, indices.shape().size());
  for_each_index(out_shape, [&](std::int64_t i, const std::vector<std::int64_t>& at) {
    // The index element this output belongs to: the output position without the new axis.
    const std::int64_t outer_pos = i / (depth * inner), inner_pos = i % inner;
    auto k = static_cast<std::int64_t>(idx[static_cast<std::size_t>(outer_pos * inner + inner_pos)]);
    if (k < 0) k += depth;
    copy_elements(out, i, values, at[ax] == k ? 1 : 0);
  });
  return {std::move(out)};
}

Outputs eval_cast_like(const NodeCall& c) {
  return {c.input(0, "input").cast(c.input(1, "target_type").dtype())};
}

Outputs eval_size(const NodeCall& c) { return {Tensor::scalar<std::int64_t>(c.input(0, "data").numel())}; }

}  // namespace snnconv::ann::detail
