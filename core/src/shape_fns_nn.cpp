// Shape inference of the ops added for broader ONNX coverage (op.hpp, after DequantizeLinear): variadic
// elementwise, Clip, logical ops, arg/top-k selection, normalisations, pooling, losses and indexing.
#include <algorithm>

#include "shape_fns.hpp"
#include "snnconv/core/pooling.hpp"

namespace snnconv::shape_fns {
namespace {

void require_same_dtype(const InferContext& c, std::size_t a, std::size_t b, const char* what) {
  if (c.input(a).dtype != c.input(b).dtype)
    c.fail(std::string(what) + ": dtypes " + std::string(dtype_name(c.input(a).dtype)) + " and " +
           std::string(dtype_name(c.input(b).dtype)) + " differ");
}

// A known dim of `t` at `i`, or -1.
std::int64_t known_or(const TensorType& t, std::size_t i) {
  return i < t.dims.size() && t.dims[i].is_known() ? t.dims[i].value : -1;
}

}  // namespace

void variadic(InferContext& c) {
  std::vector<Dim> dims = c.input(0).dims;
  for (std::size_t i = 1; i < c.num_inputs(); ++i) {
    require_same_dtype(c, 0, i, "operands");
    dims = broadcast_dims(dims, c.input(i).dims, c);
  }
  c.set_output(0, make(c.input(0).dtype, std::move(dims)));
}

void layer_norm(InferContext& c) {
  const auto& x = c.input(0);
  const std::int64_t a = c.axis(c.attrs<LayerNormAttrs>().axis, x.rank());
  c.set_output(0, x);
  // Mean and InvStdDev: X's shape with the normalised dims set to 1 (stash_type f32).
  std::vector<Dim> stat(x.dims.begin(), x.dims.begin() + a);
  stat.resize(x.dims.size(), Dim::known(1));
  for (std::size_t i = 1; i < c.num_outputs(); ++i) c.set_output(i, make(DType::f32, stat));
}

void clip(InferContext& c) {
  for (std::size_t i = 1; i < 3; ++i) {
    if (!c.has_input(i)) continue;
    require_same_dtype(c, 0, i, "Clip bound");
    const auto& b = c.input(i);
    for (const Dim& d : b.dims)
      if (d.is_known() && d.value != 1) c.fail("Clip bounds must be scalars, got " + type_to_string(b));
  }
  c.set_output(0, c.input(0));
}

void to_bool(InferContext& c) { c.set_output(0, make(DType::boolean, c.input(0).dims)); }

void prelu(InferContext& c) {
  require_same_dtype(c, 0, 1, "PRelu slope");
  const auto& x = c.input(0);
  const auto out = broadcast_dims(x.dims, c.input(1).dims, c);
  if (out.size() != x.dims.size()) c.fail("PRelu slope has a higher rank than X");
  for (std::size_t i = 0; i < out.size(); ++i)
    if (x.dims[i].is_known() && out[i].is_known() && out[i].value != x.dims[i].value)
      c.fail("PRelu slope does not broadcast to X (unidirectionally)");
  c.set_output(0, x);
}

void logical_binary(InferContext& c) {
  if (c.input(0).dtype != DType::boolean || c.input(1).dtype != DType::boolean) c.fail("operands must be bool");
  c.set_output(0, make(DType::boolean, broadcast_dims(c.input(0).dims, c.input(1).dims, c)));
}

void arg_reduce(InferContext& c) {
  const auto& at = c.attrs<ArgReduceAttrs>();
  const auto& x = c.input(0);
  const auto a = static_cast<std::size_t>(c.axis(at.axis, x.rank()));
  std::vector<Dim> out;
  for (std::size_t i = 0; i < x.dims.size(); ++i) {
    if (i != a) out.push_back(x.dims[i]);
    else if (at.keepdims) out.push_back(Dim::known(1));
  }
  c.set_output(0, make(DType::i64, std::move(out)));
}

void top_k(InferContext& c) {
  const auto& x = c.input(0);
  const auto a = static_cast<std::size_t>(c.axis(c.attrs<TopKAttrs>().axis, x.rank()));
  std::vector<Dim> out = x.dims;
  if (auto k = const_ints(c, 1)) {
    if (k->size() != 1) c.fail("TopK K must hold one value");
    const std::int64_t kv = (*k)[0];
    if (kv < 0) c.fail("TopK K is negative");
    if (x.dims[a].is_known() && kv > x.dims[a].value)
      c.fail("TopK K " + std::to_string(kv) + " exceeds dim " + std::to_string(x.dims[a].value));
    out[a] = Dim::known(kv);
  } else {
    out[a] = Dim::unknown();
  }
  c.set_output(0, make(x.dtype, out));
  if (c.num_outputs() > 1) c.set_output(1, make(DType::i64, out));
}

namespace {
// Per-channel parameter inputs [C] of a normalisation over [N, C, ...].
void check_channel_params(const InferContext& c, std::size_t first, std::size_t last) {
  const auto& x = c.input(0);
  if (x.rank() < 2) c.fail("input must have rank >= 2 [N, C, ...]");
  const std::int64_t ch = known_or(x, 1);
  for (std::size_t i = first; i <= last; ++i) {
    const auto& p = c.input(i);
    if (p.rank() != 1) c.fail("input " + std::to_string(i) + " must be 1-D [C]");
    if (ch >= 0 && p.dims[0].is_known() && p.dims[0].value != ch)
      c.fail("input " + std::to_string(i) + " has " + std::to_string(p.dims[0].value) + " entries for " +
             std::to_string(ch) + " channels");
  }
}
}  // namespace

void batch_norm(InferContext& c) {
  check_channel_params(c, 1, 4);
  c.set_output(0, c.input(0));
}

void instance_norm(InferContext& c) {
  check_channel_params(c, 1, 2);
  c.set_output(0, c.input(0));
}

void pool(InferContext& c) {
  const auto& at = c.attrs<PoolAttrs>();
  const auto& x = c.input(0);
  if (x.rank() < 3) c.fail("pooling needs an input [N, C, D1, ...] of rank >= 3");
  const std::size_t spatial = x.dims.size() - 2;
  std::vector<Dim> out{x.dims[0], x.dims[1]};
  for (std::size_t i = 0; i < spatial; ++i) {
    const Dim& in = x.dims[2 + i];
    PoolDim d;
    // Attribute errors do not depend on the input size: check them with a large one when the dim is unknown.
    const std::string err = pool_dim(at, i, spatial, in.is_known() ? in.value : kMaxDim, d);
    if (!err.empty()) c.fail(err);
    out.push_back(in.is_known() ? Dim::known(d.out) : Dim::unknown());
  }
  c.set_output(0, make(x.dtype, out));
  if (c.num_outputs() > 1) c.set_output(1, make(DType::i64, out));
}

void global_pool(InferContext& c) {
  const auto& x = c.input(0);
  if (x.rank() < 3) c.fail("global pooling needs an input [N, C, D1, ...] of rank >= 3");
  std::vector<Dim> out{x.dims[0], x.dims[1]};
  out.resize(x.dims.size(), Dim::known(1));
  c.set_output(0, make(x.dtype, std::move(out)));
}

namespace {
// The loss of input [N, C, d1...] against target [N, d1...]; `reduction` none keeps the target's shape.
TensorType loss_output(const InferContext& c) {
  const auto& x = c.input(0);
  const auto& t = c.input(1);
  if (!is_integer(t.dtype)) c.fail("target must be an integer tensor");
  if (x.rank() < 2) c.fail("input must have rank >= 2 [N, C, ...]");
  if (t.rank() != x.rank() - 1) c.fail("target must have the input's rank minus 1");
  for (std::size_t i = 0; i < t.dims.size(); ++i) {
    const std::size_t xi = i == 0 ? 0 : i + 1;
    if (t.dims[i].is_known() && x.dims[xi].is_known() && t.dims[i].value != x.dims[xi].value)
      c.fail("target dim " + std::to_string(i) + " differs from the input's");
  }
  if (c.has_input(2)) {
    const auto& w = c.input(2);
    if (w.rank() != 1) c.fail("weight must be 1-D [C]");
    if (w.dims[0].is_known() && x.dims[1].is_known() && w.dims[0].value != x.dims[1].value)
      c.fail("weight has " + std::to_string(w.dims[0].value) + " entries for " + std::to_string(x.dims[1].value) +
             " classes");
  }
  return c.attrs<LossAttrs>().reduction == LossReduction::none ? make(x.dtype, t.dims) : make(x.dtype, {});
}
}  // namespace

void nll_loss(InferContext& c) { c.set_output(0, loss_output(c)); }

void softmax_cross_entropy(InferContext& c) {
  c.set_output(0, loss_output(c));
  if (c.num_outputs() > 1) c.set_output(1, c.input(0));
}

void gather_elements(InferContext& c) {
  const auto& data = c.input(0);
  const auto& idx = c.input(1);
  if (!is_integer(idx.dtype)) c.fail("GatherElements indices must be integers");
  if (idx.rank() != data.rank()) c.fail("GatherElements data and indices must have the same rank");
  const auto a = static_cast<std::size_t>(c.axis(c.attrs<AxisAttrs>().axis, data.rank()));
  for (std::size_t i = 0; i < idx.dims.size(); ++i)
    if (i != a && idx.dims[i].is_known() && data.dims[i].is_known() && idx.dims[i].value > data.dims[i].value)
      c.fail("GatherElements indices dim " + std::to_string(i) + " exceeds the data's");
  c.set_output(0, make(data.dtype, idx.dims));
}

void gather_nd(InferContext& c) {
  const auto& data = c.input(0);
  const auto& idx = c.input(1);
  if (!is_integer(idx.dtype)) c.fail("GatherND indices must be integers");
  const std::int64_t b = c.attrs<AxisAttrs>().axis;  // batch_dims
  const int r = data.rank(), q = idx.rank();
  if (q < 1 || b < 0 || b >= std::min(r, q)) c.fail("GatherND batch_dims out of range");
  const Dim& last = idx.dims.back();
  if (!last.is_known()) { c.set_output(0, unknown_rank(data.dtype)); return; }
  if (last.value < 1 || last.value > r - b) c.fail("GatherND index tuples longer than the data's rank");
  std::vector<Dim> out(idx.dims.begin(), idx.dims.end() - 1);
  out.insert(out.end(), data.dims.begin() + b + last.value, data.dims.end());
  c.set_output(0, make(data.dtype, std::move(out)));
}

void tile(InferContext& c) {
  const auto& x = c.input(0);
  auto reps = const_ints(c, 1);
  if (!reps) { c.set_output(0, make(x.dtype, std::vector<Dim>(x.dims.size(), Dim::unknown()))); return; }
  if (static_cast<int>(reps->size()) != x.rank()) c.fail("Tile repeats must have one entry per input dim");
  std::vector<Dim> out;
  for (std::size_t i = 0; i < x.dims.size(); ++i) {
    const std::int64_t r = (*reps)[i];
    if (r < 0 || r > kMaxDim) c.fail("Tile repeat " + std::to_string(r) + " out of range");
    out.push_back(x.dims[i].is_known() ? Dim::known(x.dims[i].value * r) : Dim::unknown());
  }
  c.set_output(0, make(x.dtype, std::move(out)));
}

void pad(InferContext& c) {
  const auto& x = c.input(0);
  const int r = x.rank();
  if (c.has_input(2)) {
    require_same_dtype(c, 0, 2, "Pad constant_value");
    for (const Dim& d : c.input(2).dims)
      if (d.is_known() && d.value != 1) c.fail("Pad constant_value must be a scalar");
  }
  auto pads = const_ints(c, 1);
  std::optional<std::vector<std::int64_t>> axes;
  if (c.has_input(3)) axes = const_ints(c, 3);
  if (!pads || (c.has_input(3) && !axes)) {
    c.set_output(0, make(x.dtype, std::vector<Dim>(x.dims.size(), Dim::unknown())));
    return;
  }
  std::vector<std::int64_t> ax;
  if (axes) for (auto a : *axes) ax.push_back(c.axis(a, r));
  else for (int i = 0; i < r; ++i) ax.push_back(i);
  if (pads->size() != 2 * ax.size())
    c.fail("Pad pads has " + std::to_string(pads->size()) + " entries for " + std::to_string(ax.size()) + " axes");
  std::vector<Dim> out = x.dims;
  for (std::size_t k = 0; k < ax.size(); ++k) {
    const auto i = static_cast<std::size_t>(ax[k]);
    const std::int64_t p0 = (*pads)[k], p1 = (*pads)[k + ax.size()];
    if (p0 < -kMaxDim || p0 > kMaxDim || p1 < -kMaxDim || p1 > kMaxDim) c.fail("Pad pads out of range");
    if (!x.dims[i].is_known()) continue;
    const std::int64_t n = x.dims[i].value + p0 + p1;
    if (n < 0) c.fail("Pad removes more than dim " + std::to_string(i) + " holds");
    out[i] = Dim::known(n);
  }
  c.set_output(0, make(x.dtype, std::move(out)));
}

void depth_to_space(InferContext& c) {
  const auto& x = c.input(0);
  const std::int64_t b = c.attrs<BlockAttrs>().blocksize;
  if (x.rank() != 4) c.fail("DepthToSpace needs a 4-D input [N, C, H, W]");
  if (b < 1 || b > 65536) c.fail("DepthToSpace blocksize out of range");
  if (x.dims[1].is_known() && x.dims[1].value % (b * b) != 0) c.fail("channels not divisible by blocksize^2");
  auto scale = [](const Dim& d, std::int64_t f, bool mul) {
    return d.is_known() ? Dim::known(mul ? d.value * f : d.value / f) : Dim::unknown();
  };
  c.set_output(0, make(x.dtype, {x.dims[0], scale(x.dims[1], b * b, false), scale(x.dims[2], b, true),
                                 scale(x.dims[3], b, true)}));
}

void space_to_depth(InferContext& c) {
  const auto& x = c.input(0);
  const std::int64_t b = c.attrs<BlockAttrs>().blocksize;
  if (x.rank() != 4) c.fail("SpaceToDepth needs a 4-D input [N, C, H, W]");
  if (b < 1 || b > 65536) c.fail("SpaceToDepth blocksize out of range");
  for (std::size_t i = 2; i < 4; ++i)
    if (x.dims[i].is_known() && x.dims[i].value % b != 0) c.fail("spatial dims not divisible by blocksize");
  auto scale = [](const Dim& d, std::int64_t f, bool mul) {
    return d.is_known() ? Dim::known(mul ? d.value * f : d.value / f) : Dim::unknown();
  };
  c.set_output(0, make(x.dtype, {x.dims[0], scale(x.dims[1], b * b, true), scale(x.dims[2], b, false),
                                 scale(x.dims[3], b, false)}));
}

void one_hot(InferContext& c) {
  const auto& idx = c.input(0);
  const auto& values = c.input(2);
  if (values.rank() != 1 || (values.dims[0].is_known() && values.dims[0].value != 2))
    c.fail("OneHot values must be [off_value, on_value]");
  const int r = idx.rank() + 1;
  const auto a = static_cast<std::size_t>(c.axis(c.attrs<AxisAttrs>().axis, r));
  Dim depth = Dim::unknown();
  if (const Tensor* t = c.constant(1)) {
    if (t->numel() != 1) c.fail("OneHot depth must be a scalar");
    const double dv = t->to_f32()[0];
    if (!(dv >= 1 && dv <= static_cast<double>(kMaxDim))) c.fail("OneHot depth must lie in 1.." + std::to_string(kMaxDim));
    depth = Dim::known(static_cast<std::int64_t>(dv));
  }
  std::vector<Dim> out = idx.dims;
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(a), depth);
  c.set_output(0, make(values.dtype, std::move(out)));
}

void cast_like(InferContext& c) { c.set_output(0, make(c.input(1).dtype, c.input(0).dims)); }

void size(InferContext& c) { c.set_output(0, make(DType::i64, {})); }

}  // namespace snnconv::shape_fns
