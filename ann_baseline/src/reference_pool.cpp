// Reference kernels of pooling (MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool) and of the
// per-channel normalisations over [N, C, D1, ...] (BatchNormalization in inference form,
// InstanceNormalization). The window geometry comes from core's pool_dim, which shape inference uses too.
#include <cmath>
#include <limits>

#include "reference_detail.hpp"
#include "snnconv/core/pooling.hpp"

namespace snnconv::ann::detail {
namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// One spatial dim of a pooling: per output position, the in-bounds input positions of its window and the
// window's size counting padding (for AveragePool's count_include_pad).
struct DimWindows {
  std::vector<std::vector<std::int64_t>> positions;
  std::vector<std::int64_t> padded_count;
};

DimWindows windows_of(const PoolDim& d, std::int64_t in) {
  DimWindows w;
  for (std::int64_t o = 0; o < d.out; ++o) {
    const std::int64_t start = o * d.stride - d.pad_begin;
    std::vector<std::int64_t> pos;
    std::int64_t padded = 0;
    for (std::int64_t k = 0; k < d.kernel; ++k) {
      const std::int64_t p = start + k * d.dilation;
      if (p < in + d.pad_end) ++padded;  // windows may overhang the end pad in ceil mode: that part is not counted
      if (p >= 0 && p < in) pos.push_back(p);
    }
    w.positions.push_back(std::move(pos));
    w.padded_count.push_back(padded);
  }
  return w;
}

}  // namespace

Outputs eval_pool(const NodeCall& c) {
  const auto& at = c.attrs<PoolAttrs>();
  const bool is_max = c.node().kind == OpKind::MaxPool;
  const Tensor& x = c.input(0, "X");
  if (x.rank() < 3) c.fail_shape("pooling needs an input [N, C, D1, ...], got " + shape_to_string(x.shape()));
  const std::size_t spatial = x.shape().size() - 2;
  std::vector<DimWindows> dims;
  Shape out_shape{x.dim(0), x.dim(1)};
  for (std::size_t i = 0; i < spatial; ++i) {
    PoolDim d;
    const std::string err = pool_dim(at, i, spatial, x.shape()[2 + i], d);
    if (!err.empty()) c.fail_shape(err);
    dims.push_back(windows_of(d, x.shape()[2 + i]));
    out_shape.push_back(d.out);
  }
  const std::int64_t planes = x.dim(0) * x.dim(1);
  const std::int64_t in_plane = product(x.shape(), 2, x.shape().size());
  const std::int64_t out_plane = product(out_shape, 2, out_shape.size());
  // Strides of the spatial dims in the input plane: row-major, or column-major for storage_order = 1.
  std::vector<std::int64_t> stride(spatial, 1), index_stride(spatial, 1);
  for (std::size_t i = spatial; i-- > 1;) stride[i - 1] = stride[i] * x.shape()[2 + i];
  for (std::size_t i = 1; i < spatial; ++i) index_stride[i] = index_stride[i - 1] * x.shape()[1 + i];
  if (!at.column_major_indices) index_stride = stride;

  Tensor y(x.dtype(), out_shape);
  Tensor indices(DType::i64, out_shape);
  std::int64_t* pidx = indices.data<std::int64_t>();
  const auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_floating_point_v<T>)
      if (!is_max) c.fail_unsupported("AveragePool of integers is not supported");
    const T* px = x.data<T>();
    T* py = y.data<T>();
    std::vector<std::int64_t> out_pos(spatial), win(spatial);
    for (std::int64_t p = 0; p < planes; ++p) {
      const T* plane = px + p * in_plane;
      std::fill(out_pos.begin(), out_pos.end(), 0);
      for (std::int64_t o = 0; o < out_plane; ++o) {
        // Walk the cartesian product of this output's per-dim window positions.
        std::int64_t cells = 1, padded = 1;
        for (std::size_t i = 0; i < spatial; ++i) {
          cells *= static_cast<std::int64_t>(dims[i].positions[static_cast<std::size_t>(out_pos[i])].size());
          padded *= dims[i].padded_count[static_cast<std::size_t>(out_pos[i])];
        }
        std::fill(win.begin(), win.end(), 0);
        T best = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                      : std::numeric_limits<T>::lowest();
        std::int64_t best_index = -1;
        T sum{0};
        for (std::int64_t w = 0; w < cells; ++w) {
          std::int64_t off = 0, idx = 0;
          for (std::size_t i = 0; i < spatial; ++i) {
            const std::int64_t q = dims[i].positions[static_cast<std::size_t>(out_pos[i])][static_cast<std::size_t>(win[i])];
            off += q * stride[i];
            idx += q * index_stride[i];
          }
          const T v = plane[off];
          if (is_max) {
            if (best_index < 0 || v > best) best = v, best_index = idx;
          } else {
            sum += v;
          }
          for (std::size_t i = spatial; i-- > 0;) {
            if (++win[i] < static_cast<std::int64_t>(dims[i].positions[static_cast<std::size_t>(out_pos[i])].size())) break;
            win[i] = 0;
          }
        }
        const std::int64_t at_out = p * out_plane + o;
        if (is_max) {
          py[at_out] = best;
          pidx[at_out] = best_index < 0 ? -1 : p * in_plane + best_index;
        } else {
          const std::int64_t divisor = at.count_include_pad ? padded : cells;
          py[at_out] = sum / static_cast<T>(divisor);
        }
        for (std::size_t i = spatial; i-- > 0;) {
          if (++out_pos[i] < out_shape[2 + i]) break;
          out_pos[i] = 0;
        }
      }
    }
    return 0;
  };
  visit_dtype(NumericTypes{}, c, x.dtype(), "pooling input", run);
  Outputs out;
  out.push_back(std::move(y));
  if (c.num_outputs() > 1) out.push_back(std::move(indices));
  return out;
}

Outputs eval_global_pool(const NodeCall& c) {
  const bool is_max = c.node().kind == OpKind::GlobalMaxPool;
  const Tensor& x = c.input(0, "X");
  require_f32(c, x, "global pooling input");
  if (x.rank() < 3) c.fail_shape("global pooling needs an input [N, C, D1, ...], got " + shape_to_string(x.shape()));
  Shape out_shape{x.dim(0), x.dim(1)};
  out_shape.resize(x.shape().size(), 1);
  const std::int64_t planes = x.dim(0) * x.dim(1), n = product(x.shape(), 2, x.shape().size());
  Tensor y(DType::f32, out_shape);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* row = px + p * n;
    float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (std::int64_t i = 0; i < n; ++i) {
      if (!is_max) acc += row[i];
      else if (std::isnan(row[i]) || row[i] > acc) acc = row[i];
    }
    py[p] = is_max ? acc : acc / static_cast<float>(n);
  }
  return {std::move(y)};
}

// BatchNormalization (inference): y = (x - mean) / sqrt(var + epsilon) * scale + B, per channel.
Outputs eval_batch_norm(const NodeCall& c) {
  const Tensor& x = c.input(0, "X");
  const float eps = c.attrs<EpsilonAttrs>().epsilon;
  require_f32(c, x, "BatchNormalization input");
  if (x.rank() < 2) c.fail_shape("BatchNormalization needs an input [N, C, ...]");
  const std::int64_t ch = x.dim(1), inner = product(x.shape(), 2, x.shape().size());
  std::vector<const float*> p;
  const char* names[] = {"scale", "B", "input_mean", "input_var"};
  for (std::size_t i = 1; i <= 4; ++i) {
    const Tensor& t = c.input(i, names[i - 1]);
    require_f32(c, t, names[i - 1]);
    if (t.rank() != 1 || t.dim(0) != ch) c.fail_shape(std::string(names[i - 1]) + " must be [C]");
    p.push_back(t.data<float>());
  }
  Tensor y(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::int64_t k = (i / inner) % ch;
    py[i] = (px[i] - p[2][k]) / std::sqrt(p[3][k] + eps) * p[0][k] + p[1][k];
  }
  return {std::move(y)};
}

// InstanceNormalization: per (sample, channel), y = scale * (x - mean) / sqrt(var + epsilon) + B over the
// spatial dims.
Outputs eval_instance_norm(const NodeCall& c) {
  const Tensor& x = c.input(0, "input");
  const Tensor& scale = c.input(1, "scale");
  const Tensor& bias = c.input(2, "B");
  const float eps = c.attrs<EpsilonAttrs>().epsilon;
  for (const Tensor* t : {&x, &scale, &bias}) require_f32(c, *t, "InstanceNormalization operand");
  if (x.rank() < 3) c.fail_shape("InstanceNormalization needs an input [N, C, D1, ...]");
  const std::int64_t ch = x.dim(1), n = product(x.shape(), 2, x.shape().size());
  if (scale.numel() != ch || bias.numel() != ch) c.fail_shape("scale and B must be [C]");
  Tensor y(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (std::int64_t p = 0; p < x.dim(0) * ch; ++p) {
    const float* row = px + p * n;
    float sum = 0.0f;
    for (std::int64_t i = 0; i < n; ++i) sum += row[i];
    const float mean = sum / static_cast<float>(n);
    float sq = 0.0f;
    for (std::int64_t i = 0; i < n; ++i) sq += (row[i] - mean) * (row[i] - mean);
    const float denom = std::sqrt(sq / static_cast<float>(n) + eps);
    const float s = scale.data<float>()[p % ch], b = bias.data<float>()[p % ch];
    for (std::int64_t i = 0; i < n; ++i) py[p * n + i] = s * (row[i] - mean) / denom + b;
  }
  return {std::move(y)};
}

}  // namespace snnconv::ann::detail
