// Per-op shape inference (ONNX semantics, opsets 13-17).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "shape_fns.hpp"

namespace snnconv::shape_fns {
void binary(InferContext& c) {
  c.set_output(0, make(c.input(0).dtype, broadcast_dims(c.input(0).dims, c.input(1).dims, c)));
}

void comparison(InferContext& c) {
  c.set_output(0, make(DType::boolean, broadcast_dims(c.input(0).dims, c.input(1).dims, c)));
}

void where(InferContext& c) {
  auto d = broadcast_dims(c.input(0).dims, c.input(1).dims, c);
  d = broadcast_dims(d, c.input(2).dims, c);
  if (c.input(1).dtype != c.input(2).dtype) c.fail("Where branches have different dtypes");
  c.set_output(0, make(c.input(1).dtype, std::move(d)));
}

void unary(InferContext& c) { c.set_output(0, c.input(0)); }
void same_as_first(InferContext& c) { c.set_output(0, c.input(0)); }

void logical_not(InferContext& c) { c.set_output(0, make(DType::boolean, c.input(0).dims)); }

void cast(InferContext& c) { c.set_output(0, make(c.attrs<CastAttrs>().to, c.input(0).dims)); }

namespace {
void check_same(const InferContext& c, const Dim& a, const Dim& b, const char* what) {
  if (a.is_known() && b.is_known() && a.value != b.value)
    c.fail(std::string(what) + ": " + std::to_string(a.value) + " vs " + std::to_string(b.value));
}
}  // namespace

void matmul(InferContext& c) {
  auto a = c.input(0).dims;
  auto b = c.input(1).dims;
  if (a.empty() || b.empty()) c.fail("MatMul operands must have rank >= 1");
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), Dim::known(1));
  if (b_vec) b.push_back(Dim::known(1));
  check_same(c, a.back(), b[b.size() - 2], "MatMul inner dims differ");
  std::vector<Dim> ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  auto out = broadcast_dims(ab, bb, c);
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  c.set_output(0, make(c.input(0).dtype, std::move(out)));
}

void gemm(InferContext& c) {
  const auto& at = c.attrs<GemmAttrs>();
  const auto& a = c.input(0).dims;
  const auto& b = c.input(1).dims;
  if (a.size() != 2 || b.size() != 2) c.fail("Gemm operands must be 2-D");
  const Dim m = at.trans_a ? a[1] : a[0];
  const Dim ka = at.trans_a ? a[0] : a[1];
  const Dim kb = at.trans_b ? b[1] : b[0];
  const Dim n = at.trans_b ? b[0] : b[1];
  check_same(c, ka, kb, "Gemm inner dims differ");
  if (c.has_input(2)) broadcast_dims({m, n}, c.input(2).dims, c);  // C must broadcast to [M,N]
  c.set_output(0, make(c.input(0).dtype, {m, n}));
}

void conv(InferContext& c) {
  const auto& at = c.attrs<ConvAttrs>();
  const auto& x = c.input(0).dims;
  const auto& w = c.input(1).dims;
  if (x.size() < 3 || w.size() != x.size()) c.fail("Conv needs input and weight of equal rank >= 3");
  const std::size_t sp = x.size() - 2;
  auto pick = [&](const std::vector<std::int64_t>& v, std::size_t i, std::int64_t def) {
    return v.empty() ? def : v.at(i);
  };
  if ((!at.strides.empty() && at.strides.size() != sp) || (!at.dilations.empty() && at.dilations.size() != sp) ||
      (!at.pads.empty() && at.pads.size() != 2 * sp) || (!at.kernel_shape.empty() && at.kernel_shape.size() != sp))
    c.fail("Conv attribute lengths do not match " + std::to_string(sp) + " spatial dims");
  if (at.group < 1) c.fail("Conv group must be >= 1");
  if (x[1].is_known() && w[1].is_known() && x[1].value != w[1].value * at.group)
    c.fail("Conv input channels " + std::to_string(x[1].value) + " != weight channels " + std::to_string(w[1].value) +
           " x group " + std::to_string(at.group));
  std::vector<Dim> out{x[0], w[0]};
  for (std::size_t i = 0; i < sp; ++i) {
    const Dim& in = x[2 + i];
    const std::int64_t k = at.kernel_shape.empty() ? (w[2 + i].is_known() ? w[2 + i].value : -1) : at.kernel_shape[i];
    if (!in.is_known() || k < 0) { out.push_back(Dim::unknown()); continue; }
    const std::int64_t s = pick(at.strides, i, 1), d = pick(at.dilations, i, 1);
    const std::int64_t p0 = pick(at.pads, i, 0), p1 = pick(at.pads, i + sp, 0);
    if (s < 1 || d < 1) c.fail("Conv strides and dilations must be >= 1");
    if (p0 < 0 || p1 < 0 || p0 > kMaxDim || p1 > kMaxDim || k > kMaxDim || d > kMaxDim)
      c.fail("Conv pads, kernel and dilations must lie in 0.." + std::to_string(kMaxDim));
    const std::int64_t p = p0 + p1;
    const std::int64_t span = d * (k > 0 ? k - 1 : 0) + 1;  // <= 2^64 / 4: no overflow
    if (in.value + p < span) c.fail("Conv kernel larger than the padded input");
    out.push_back(Dim::known((in.value + p - span) / s + 1));
  }
  c.set_output(0, make(c.input(0).dtype, std::move(out)));
}

void reduce(InferContext& c) {
  const auto& at = c.attrs<ReduceAttrs>();
  const auto& in = c.input(0);
  std::vector<std::int64_t> axes = at.axes;
  if (c.has_input(1)) {
    auto v = const_ints(c, 1);
    if (!v) { c.set_output(0, unknown_rank(in.dtype)); return; }
    axes = *v;
  }
  const int r = in.rank();
  std::vector<bool> reduced(static_cast<std::size_t>(r), false);
  if (axes.empty()) {
    if (!at.noop_with_empty_axes) std::fill(reduced.begin(), reduced.end(), true);
  } else {
    for (auto a : axes) reduced[static_cast<std::size_t>(c.axis(a, r))] = true;
  }
  std::vector<Dim> out;
  for (int i = 0; i < r; ++i) {
    if (!reduced[static_cast<std::size_t>(i)]) out.push_back(in.dims[static_cast<std::size_t>(i)]);
    else if (at.keepdims) out.push_back(Dim::known(1));
  }
  c.set_output(0, make(in.dtype, std::move(out)));
}

void transpose(InferContext& c) {
  const auto& in = c.input(0);
  auto perm = c.attrs<TransposeAttrs>().perm;
  const int r = in.rank();
  if (perm.empty()) {
    perm.resize(static_cast<std::size_t>(r));
    std::iota(perm.rbegin(), perm.rend(), 0);
  }
  if (static_cast<int>(perm.size()) != r) c.fail("Transpose perm length differs from the rank");
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  std::vector<Dim> out;
  for (auto p : perm) {
    if (p < 0 || p >= r || seen[static_cast<std::size_t>(p)]) c.fail("Transpose perm is not a permutation");
    seen[static_cast<std::size_t>(p)] = true;
    out.push_back(in.dims[static_cast<std::size_t>(p)]);
  }
  c.set_output(0, make(in.dtype, std::move(out)));
}

void reshape(InferContext& c) {
  const auto& in = c.input(0);
  auto target = const_ints(c, 1);
  if (!target) {
    const auto& st = c.input(1);
    if (st.rank() == 1 && st.dims[0].is_known())
      c.set_output(0, make(in.dtype, std::vector<Dim>(static_cast<std::size_t>(st.dims[0].value), Dim::unknown())));
    else
      c.set_output(0, unknown_rank(in.dtype));
    return;
  }
  const bool allowzero = c.attrs<ReshapeAttrs>().allowzero;
  std::vector<Dim> out;
  int infer_at = -1;
  std::int64_t known_product = 1;
  for (std::size_t i = 0; i < target->size(); ++i) {
    std::int64_t v = (*target)[i];
    if (v == -1) {
      if (infer_at >= 0) c.fail("Reshape shape has more than one -1");
      infer_at = static_cast<int>(i);
      out.push_back(Dim::unknown());
      continue;
    }
    if (v < -1) c.fail("Reshape shape has a negative dim " + std::to_string(v));
    if (v > kMaxDim) c.fail("Reshape shape has dim " + std::to_string(v) + " above the limit " + std::to_string(kMaxDim));
    if (v == 0 && !allowzero) {
      if (i >= in.dims.size()) c.fail("Reshape copies dim " + std::to_string(i) + " the input lacks");
      out.push_back(in.dims[i]);
      v = in.dims[i].is_known() ? in.dims[i].value : -1;
    } else {
      out.push_back(Dim::known(v));
    }
    if (v < 0) known_product = -1;
    else if (known_product >= 0 && __builtin_mul_overflow(known_product, v, &known_product))
      c.fail("Reshape shape " + shape_to_string(*target) + " has more elements than int64 holds");
  }
  if (in.is_static()) {
    const std::int64_t total = checked_numel(in.static_shape(), "Reshape input");
    if (infer_at >= 0) {
      if (known_product <= 0 || total % known_product != 0)
        c.fail("Reshape cannot infer -1: " + std::to_string(total) + " elements into " + shape_to_string(*target));
      out[static_cast<std::size_t>(infer_at)] = Dim::known(total / known_product);
    } else if (known_product >= 0 && known_product != total) {
      c.fail("Reshape of " + std::to_string(total) + " elements to " + shape_to_string(*target));
    }
  }
  c.set_output(0, make(in.dtype, std::move(out)));
}

void flatten(InferContext& c) {
  const auto& in = c.input(0);
  const int r = in.rank();
  std::int64_t a = c.attrs<AxisAttrs>().axis;
  if (a < -r || a > r) c.fail("Flatten axis out of range");
  if (a < 0) a += r;
  auto prod = [&](int b, int e) {
    std::int64_t p = 1;
    for (int i = b; i < e; ++i) {
      const Dim& d = in.dims[static_cast<std::size_t>(i)];
      if (!d.is_known()) return Dim::unknown();
      p *= d.value;
    }
    return Dim::known(p);
  };
  c.set_output(0, make(in.dtype, {prod(0, static_cast<int>(a)), prod(static_cast<int>(a), r)}));
}

void concat(InferContext& c) {
  const auto& first = c.input(0);
  const int r = first.rank();
  const std::int64_t a = c.axis(c.attrs<AxisAttrs>().axis, r);
  std::vector<Dim> out = first.dims;
  std::int64_t total = 0;
  bool total_known = true;
  for (std::size_t i = 0; i < c.num_inputs(); ++i) {
    const auto& t = c.input(i);
    if (t.rank() != r) c.fail("Concat inputs have different ranks");
    if (t.dtype != first.dtype) c.fail("Concat inputs have different dtypes");
    for (int k = 0; k < r; ++k) {
      if (k == a) continue;
      check_same(c, t.dims[static_cast<std::size_t>(k)], out[static_cast<std::size_t>(k)], "Concat dims differ");
      if (!out[static_cast<std::size_t>(k)].is_known()) out[static_cast<std::size_t>(k)] = t.dims[static_cast<std::size_t>(k)];
    }
    const Dim& d = t.dims[static_cast<std::size_t>(a)];
    if (d.is_known()) total += d.value; else total_known = false;
  }
  out[static_cast<std::size_t>(a)] = total_known ? Dim::known(total) : Dim::unknown();
  c.set_output(0, make(first.dtype, std::move(out)));
}

void split(InferContext& c) {
  const auto& in = c.input(0);
  const auto& at = c.attrs<SplitAttrs>();
  const int r = in.rank();
  const std::int64_t a = c.axis(at.axis, r);
  const std::size_t n = c.num_outputs();
  const Dim& d = in.dims[static_cast<std::size_t>(a)];
  std::vector<std::int64_t> sizes;
  if (c.has_input(1)) {
    auto s = const_ints(c, 1);
    // Sizes known only at run time would make the output shapes data-dependent: the engines plan static shapes.
    if (!s)
      c.refuse("Split sizes '" + c.input_name(1) +
               "' are computed at run time (the output shapes would depend on data); only constant sizes are supported");
    sizes = *s;
    if (sizes.size() != n) c.fail("Split has " + std::to_string(sizes.size()) + " sizes for " + std::to_string(n) + " outputs");
    std::int64_t sum = 0;
    for (auto v : sizes) {
      if (v < 0) c.fail("Split size is negative");
      if (__builtin_add_overflow(sum, v, &sum)) c.fail("Split sizes overflow int64");
    }
    if (d.is_known() && sum != d.value) c.fail("Split sizes sum to " + std::to_string(sum) + ", dim is " + std::to_string(d.value));
  } else if (d.is_known()) {
    const auto parts = static_cast<std::int64_t>(n);
    if (n == 0) c.fail("Split has no outputs");
    if (at.ceil_parts) {  // opset 18 num_outputs: ceil(dim / n) each, the last takes the rest
      const std::int64_t part = (d.value + parts - 1) / parts;
      if (part * (parts - 1) >= d.value && d.value > 0)
        c.fail("Split of dim " + std::to_string(d.value) + " into " + std::to_string(n) + " parts leaves an empty last part");
      for (std::int64_t i = 0; i < parts; ++i) sizes.push_back(std::min(part, d.value - i * part));
    } else {
      if (d.value % parts != 0)
        c.fail("Split of dim " + std::to_string(d.value) + " into " + std::to_string(n) + " equal parts");
      sizes.assign(n, d.value / parts);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    auto dims = in.dims;
    dims[static_cast<std::size_t>(a)] = sizes.empty() ? Dim::unknown() : Dim::known(sizes[i]);
    c.set_output(i, make(in.dtype, std::move(dims)));
  }
}

void slice(InferContext& c) {
  const auto& in = c.input(0);
  const int r = in.rank();
  auto starts = const_ints(c, 1), ends = const_ints(c, 2);
  std::optional<std::vector<std::int64_t>> axes, steps;
  if (c.has_input(3)) axes = const_ints(c, 3);
  if (c.has_input(4)) steps = const_ints(c, 4);
  if (!starts || !ends || (c.has_input(3) && !axes) || (c.has_input(4) && !steps)) {
    std::vector<Dim> dims(in.dims.size(), Dim::unknown());
    c.set_output(0, make(in.dtype, std::move(dims)));
    return;
  }
  const std::size_t k = starts->size();
  if (ends->size() != k || (axes && axes->size() != k) || (steps && steps->size() != k))
    c.fail("Slice starts/ends/axes/steps have different lengths");
  std::vector<Dim> out = in.dims;
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  for (std::size_t i = 0; i < k; ++i) {
    const std::int64_t ax = c.axis(axes ? (*axes)[i] : static_cast<std::int64_t>(i), r);
    if (seen[static_cast<std::size_t>(ax)]) c.fail("Slice repeats an axis");
    seen[static_cast<std::size_t>(ax)] = true;
    std::int64_t step = steps ? (*steps)[i] : 1;
    if (step == 0) c.fail("Slice step is 0");
    const Dim& d = in.dims[static_cast<std::size_t>(ax)];
    if (!d.is_known()) { out[static_cast<std::size_t>(ax)] = Dim::unknown(); continue; }
    const std::int64_t n = d.value;
    auto clampi = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return std::max(lo, std::min(v, hi)); };
    std::int64_t s = (*starts)[i], e = (*ends)[i];
    if (s < 0) s += n;
    if (e < 0) e += n;
    std::int64_t len;
    if (step > 0) {
      s = clampi(s, 0, n);
      e = clampi(e, 0, n);
      len = e > s ? (e - s - 1) / step + 1 : 0;  // not e - s + step - 1: a huge step would overflow
    } else {
      if (step == std::numeric_limits<std::int64_t>::min()) step = -n - 1;  // same slice; -step representable
      s = clampi(s, 0, n - 1);
      e = clampi(e, -1, n - 1);
      len = s > e ? (s - e - 1) / (-step) + 1 : 0;
    }
    out[static_cast<std::size_t>(ax)] = Dim::known(len);
  }
  c.set_output(0, make(in.dtype, std::move(out)));
}

void gather(InferContext& c) {
  const auto& data = c.input(0);
  const auto& idx = c.input(1);
  if (!is_integer(idx.dtype)) c.fail("Gather indices must be integers");
  const int r = data.rank();
  if (r < 1) c.fail("Gather data must have rank >= 1");
  const std::int64_t a = c.axis(c.attrs<AxisAttrs>().axis, r);
  std::vector<Dim> out(data.dims.begin(), data.dims.begin() + a);
  out.insert(out.end(), idx.dims.begin(), idx.dims.end());
  out.insert(out.end(), data.dims.begin() + a + 1, data.dims.end());
  if (const Tensor* t = c.constant(1); t && data.dims[static_cast<std::size_t>(a)].is_known()) {
    const std::int64_t n = data.dims[static_cast<std::size_t>(a)].value;
    for (auto v : t->to_i64())
      if (v < -n || v >= n) c.fail("Gather index " + std::to_string(v) + " out of range for dim " + std::to_string(n));
  }
  c.set_output(0, make(data.dtype, std::move(out)));
}

void unsqueeze(InferContext& c) {
  const auto& in = c.input(0);
  auto axes = const_ints(c, 1);
  if (!axes) { c.set_output(0, unknown_rank(in.dtype)); return; }
  const int r = in.rank() + static_cast<int>(axes->size());
  std::vector<bool> is_new(static_cast<std::size_t>(r), false);
  for (auto a : *axes) {
    const auto ax = static_cast<std::size_t>(c.axis(a, r));
    if (is_new[ax]) c.fail("Unsqueeze repeats an axis");
    is_new[ax] = true;
  }
  std::vector<Dim> out;
  std::size_t j = 0;
  for (int i = 0; i < r; ++i) out.push_back(is_new[static_cast<std::size_t>(i)] ? Dim::known(1) : in.dims[j++]);
  c.set_output(0, make(in.dtype, std::move(out)));
}

void squeeze(InferContext& c) {
  const auto& in = c.input(0);
  const int r = in.rank();
  std::vector<bool> drop(static_cast<std::size_t>(r), false);
  if (c.has_input(1)) {
    auto axes = const_ints(c, 1);
    if (!axes) { c.set_output(0, unknown_rank(in.dtype)); return; }
    for (auto a : *axes) {
      const auto ax = static_cast<std::size_t>(c.axis(a, r));
      if (in.dims[ax].is_known() && in.dims[ax].value != 1) c.fail("Squeeze of a dim that is not 1");
      drop[ax] = true;
    }
  } else {
    for (int i = 0; i < r; ++i) {
      const Dim& d = in.dims[static_cast<std::size_t>(i)];
      if (!d.is_known()) { c.set_output(0, unknown_rank(in.dtype)); return; }
      drop[static_cast<std::size_t>(i)] = d.value == 1;
    }
  }
  std::vector<Dim> out;
  for (int i = 0; i < r; ++i)
    if (!drop[static_cast<std::size_t>(i)]) out.push_back(in.dims[static_cast<std::size_t>(i)]);
  c.set_output(0, make(in.dtype, std::move(out)));
}

void expand(InferContext& c) {
  const auto& in = c.input(0);
  auto shape = const_ints(c, 1);
  if (!shape) { c.set_output(0, unknown_rank(in.dtype)); return; }
  for (auto v : *shape)
    if (v < 0) c.fail("Expand shape has a negative dim");
  c.set_output(0, make(in.dtype, broadcast_dims(in.dims, known_dims(*shape), c)));
}

void shape(InferContext& c) {
  const auto& in = c.input(0);
  if (!in.rank_known) { c.set_output(0, make(DType::i64, {Dim::unknown()})); return; }
  c.set_output(0, make(DType::i64, {Dim::known(in.rank())}));
}

void constant_of_shape(InferContext& c) {
  const auto& at = c.attrs<ConstantOfShapeAttrs>();
  auto shape = const_ints(c, 0);
  if (!shape) {
    const auto& st = c.input(0);
    if (st.rank() == 1 && st.dims[0].is_known())
      c.set_output(0, make(at.dtype, std::vector<Dim>(static_cast<std::size_t>(st.dims[0].value), Dim::unknown())));
    else
      c.set_output(0, unknown_rank(at.dtype));
    return;
  }
  checked_numel(*shape, "ConstantOfShape output");
  c.set_output(0, make(at.dtype, known_dims(*shape)));
}

void range(InferContext& c) {
  const DType t = c.input(0).dtype;
  const Tensor *s = c.constant(0), *l = c.constant(1), *d = c.constant(2);
  if (!s || !l || !d) { c.set_output(0, make(t, {Dim::unknown()})); return; }
  const auto sv = s->to_f32(), lv = l->to_f32(), dv = d->to_f32();
  if (sv.size() != 1 || lv.size() != 1 || dv.size() != 1) c.fail("Range inputs must be scalars");
  if (dv[0] == 0.0f) c.fail("Range delta is 0");
  double n;
  if (is_integer(t)) {
    const auto si = s->to_i64()[0], li = l->to_i64()[0], di = d->to_i64()[0];
    if (di == 0) c.fail("Range delta is 0");
    // In double: li - si in int64 can overflow; the count is checked against the limits below.
    n = std::ceil((static_cast<double>(li) - static_cast<double>(si)) / static_cast<double>(di));
  } else {
    n = std::ceil((static_cast<double>(lv[0]) - sv[0]) / dv[0]);
  }
  if (!(n <= static_cast<double>(kMaxTensorElements)))  // also NaN
    c.fail("Range output has more than " + std::to_string(kMaxTensorElements) + " elements (the limit)");
  const auto count = static_cast<std::int64_t>(std::max(0.0, n));
  checked_numel({count}, "Range output");
  c.set_output(0, make(t, {Dim::known(count)}));
}

void quantize_linear(InferContext& c) {
  const DType t = c.has_input(2) ? c.input(2).dtype : DType::u8;
  if (t != DType::u8 && t != DType::i8) c.fail("QuantizeLinear output must be int8 or uint8");
  c.set_output(0, make(t, c.input(0).dims));
}

void dequantize_linear(InferContext& c) { c.set_output(0, make(DType::f32, c.input(0).dims)); }

void linear(InferContext& c) {
  const auto& x = c.input(0);
  const auto& w = c.input(1);
  if (w.rank() != 2 || x.rank() < 1) c.fail("Linear needs x [..., K] and W [K, N]");
  check_same(c, x.dims.back(), w.dims[0], "Linear K differs");
  if (c.has_input(2)) {
    const auto& b = c.input(2);
    if (b.rank() != 1) c.fail("Linear bias must be 1-D");
    check_same(c, b.dims[0], w.dims[1], "Linear bias length differs from N");
  }
  auto out = x.dims;
  out.back() = w.dims[1];
  c.set_output(0, make(x.dtype, std::move(out)));
}

void attention(InferContext& c) {
  const auto& q = c.input(0);
  const auto& k = c.input(1);
  const auto& v = c.input(2);
  if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) c.fail("Attention needs q, k, v of rank 4 [B,H,N,D]");
  check_same(c, q.dims[3], k.dims[3], "Attention q and k head dims differ");
  check_same(c, k.dims[2], v.dims[2], "Attention k and v lengths differ");
  if (c.has_input(3)) {
    std::vector<Dim> scores{q.dims[0], q.dims[1], q.dims[2], k.dims[2]};
    auto b = broadcast_dims(scores, c.input(3).dims, c);
    if (b.size() != 4) c.fail("Attention mask does not broadcast to [B,H,Nq,Nk]");
  }
  c.set_output(0, make(q.dtype, {q.dims[0], q.dims[1], q.dims[2], v.dims[3]}));
}

}  // namespace snnconv::shape_fns
