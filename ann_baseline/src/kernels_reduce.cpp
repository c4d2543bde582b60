// Fast Split and ReduceMean / ReduceSum (f32). Split is block copies (bit-identical to the reference); the
// reductions sum each output element's inputs in increasing flat index, as the reference does, so they are
// bit-identical too: over a contiguous block of reduced axes, out[o, i] = (x[o, 0, i] + x[o, 1, i] + ...) with
// the vector lanes running along i (different output elements), never along the summed axis.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.hpp"

namespace snnconv::ann::kernels {
namespace {

std::int64_t product(const Shape& s, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// Split along one axis: output k takes its run of the axis from every outer index (byte copies, any dtype).
void split(const KernelArgs& a) {
  const Tensor& x = *a.in[0];
  const int rank = x.rank();
  const std::int64_t axis_attr = std::get<AxisAttrs>(a.node.attrs).axis;
  const auto ax = static_cast<std::size_t>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  const std::size_t elem = dtype_size(x.dtype());
  const std::int64_t outer = product(x.shape(), 0, ax), inner = product(x.shape(), ax + 1, x.shape().size());
  const std::int64_t dim = x.shape()[ax];
  const std::byte* px = x.raw();
  std::int64_t begin = 0;
  for (Tensor& y : a.out) {
    const std::int64_t size = y.shape()[ax];
    const auto run = static_cast<std::size_t>(size * inner) * elem;
    std::byte* py = y.raw();
    const std::int64_t b = begin;
    for_chunks(outer, std::max<std::int64_t>(1, kElementChunk / std::max<std::int64_t>(1, size * inner)),
               [&](std::int64_t o0, std::int64_t o1) {
                 for (std::int64_t o = o0; o < o1; ++o)
                   std::memcpy(py + static_cast<std::size_t>(o) * run,
                               px + static_cast<std::size_t>((o * dim + b) * inner) * elem, run);
               },
               outer * size * inner);
    begin += size;
  }
}

// The reduced axes as one block [outer, reduced, inner] of x.
struct ReduceGeometry {
  std::int64_t outer = 1, reduced = 1, inner = 1;
};

template <bool Mean> void reduce_block(const KernelArgs& a, const ReduceGeometry& geo) {
  const float* px = a.in[0]->data<float>();
  float* py = a.out[0].data<float>();
  const std::int64_t inner = geo.inner, red = geo.reduced;
  const float count = static_cast<float>(red);
  for_chunks(geo.outer, std::max<std::int64_t>(1, kElementChunk / std::max<std::int64_t>(1, red * inner)),
             [&](std::int64_t o0, std::int64_t o1) {
               for (std::int64_t o = o0; o < o1; ++o) {
                 float* out = py + o * inner;
                 const float* src = px + o * red * inner;
                 std::fill_n(out, inner, 0.0f);
                 for (std::int64_t r = 0; r < red; ++r)  // increasing flat index per output element
                   for (std::int64_t i = 0; i < inner; ++i) out[i] += src[r * inner + i];
                 if (Mean)
                   for (std::int64_t i = 0; i < inner; ++i) out[i] /= count;
               }
             },
             geo.outer * red * inner);
}

// One kernel per (Mean, geometry) would need the geometry at run time: it is recomputed from the static shapes.
ReduceGeometry geometry_of(const Node& n, const Shape& xs) {
  const auto& at = std::get<ReduceAttrs>(n.attrs);
  const int rank = static_cast<int>(xs.size());
  std::vector<bool> red(xs.size(), at.axes.empty());
  for (std::int64_t ax : at.axes) red[static_cast<std::size_t>(ax < 0 ? ax + rank : ax)] = true;
  ReduceGeometry g;
  std::size_t d = 0;
  for (; d < xs.size() && !red[d]; ++d) g.outer *= xs[d];
  for (; d < xs.size() && red[d]; ++d) g.reduced *= xs[d];
  for (; d < xs.size(); ++d) g.inner *= xs[d];
  return g;
}

void reduce_mean(const KernelArgs& a) { reduce_block<true>(a, geometry_of(a.node, a.in[0]->shape())); }
void reduce_sum(const KernelArgs& a) { reduce_block<false>(a, geometry_of(a.node, a.in[0]->shape())); }

}  // namespace

KernelChoice choose_split_reduce(const Graph& g, const Node& n, std::span<const TensorType* const> types) {
  switch (n.kind) {
    case OpKind::Split: {
      if (types.empty() || !types[0] || !types[0]->is_static() || types[0]->rank() == 0) return {};
      const int rank = types[0]->rank();
      const std::int64_t axis = std::get<AxisAttrs>(n.attrs).axis;
      if (axis < -rank || axis >= rank) return {};
      const auto ax = static_cast<std::size_t>(axis < 0 ? axis + rank : axis);
      std::int64_t total = 0;
      for (ValueId o : n.outputs) {
        const TensorType& t = g.value(o).type;
        if (!t.is_static() || t.dtype != types[0]->dtype || t.rank() != rank) return {};
        total += t.static_shape()[ax];
      }
      if (total != types[0]->static_shape()[ax]) return {};  // let the reference report it
      return {split, "split"};
    }
    case OpKind::ReduceMean:
    case OpKind::ReduceSum: {
      // Axes as an attribute only (an axes input is the reference's), f32, the reduced axes one block.
      if (types.size() != 1 || !types[0] || types[0]->dtype != DType::f32 || !types[0]->is_static()) return {};
      const auto& at = std::get<ReduceAttrs>(n.attrs);
      if (at.axes.empty() && at.noop_with_empty_axes) return {};
      const int rank = types[0]->rank();
      std::vector<bool> red(static_cast<std::size_t>(rank), at.axes.empty());
      for (std::int64_t ax : at.axes) {
        if (ax < -rank || ax >= rank || red[static_cast<std::size_t>(ax < 0 ? ax + rank : ax)]) return {};
        red[static_cast<std::size_t>(ax < 0 ? ax + rank : ax)] = true;
      }
      int blocks = 0;
      for (int d = 0; d < rank; ++d)
        if (red[static_cast<std::size_t>(d)] && (d == 0 || !red[static_cast<std::size_t>(d - 1)])) ++blocks;
      if (blocks > 1) return {};
      if (!g.value(n.outputs[0]).type.is_static()) return {};
      return n.kind == OpKind::ReduceMean ? KernelChoice{reduce_mean, "reduce_mean"}
                                          : KernelChoice{reduce_sum, "reduce_sum"};
    }
    default: return {};
  }
}

}  // namespace snnconv::ann::kernels
