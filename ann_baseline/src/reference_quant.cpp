// Reference kernels of quantization: ONNX QuantizeLinear / DequantizeLinear (opset 13, per-tensor or
// per-axis) and the QANN's FakeQuant, whose levels the SNN neurons must reproduce exactly.
#include <algorithm>
#include <cmath>
#include <limits>

#include "reference_detail.hpp"

namespace snnconv::ann::detail {

float round_half_even(float v) {
  const float low = std::floor(v);
  const float diff = v - low;  // exact: low and v are within one unit of each other
  if (diff < 0.5f) return low;
  if (diff > 0.5f) return low + 1.0f;
  return std::fmod(low, 2.0f) == 0.0f ? low : low + 1.0f;
}

std::uint8_t quantize_linear_byte(float x, float scale, float zero, float lo, float hi) {
  // rint(x / scale) + zero_point, saturated; a NaN has no level and maps to the zero point.
  const float r = round_half_even(x / scale);
  const float q = std::isnan(r) ? zero : std::clamp(r + zero, lo, hi);
  return lo < 0.0f ? static_cast<std::uint8_t>(static_cast<std::int8_t>(q)) : static_cast<std::uint8_t>(q);
}

namespace {

// Which scale / zero point applies to each element: one for the whole tensor, or one per index along
// `axis` (optionally per group of `group_size` indices), or per block (a group along `axis` at every index
// of the other axes: the scale has the tensor's shape with `axis` reduced to ceil(dim/group), types.hpp).
struct ChannelMap {
  bool per_tensor = true;
  bool blocked = false;
  std::int64_t inner = 1;  // elements per step along the axis
  std::int64_t dim = 1;    // size of the axis
  std::int64_t group = 1;  // indices per scale

  std::size_t operator()(std::int64_t flat) const {
    if (per_tensor) return 0;
    const std::int64_t a = (flat / inner) % dim;
    if (!blocked) return static_cast<std::size_t>(a / group);
    const std::int64_t groups = (dim + group - 1) / group, outer = flat / (inner * dim);
    return static_cast<std::size_t>((outer * groups + a / group) * inner + flat % inner);
  }
};

ChannelMap channel_map(const NodeCall& c, const Shape& shape, std::size_t count, std::int64_t axis_attr,
                       std::int64_t group_size, const char* what) {
  ChannelMap m;
  if (count == 1) return m;
  m.per_tensor = false;
  const int axis = c.axis(axis_attr, static_cast<int>(shape.size()), "quantization axis");
  m.dim = shape[static_cast<std::size_t>(axis)];
  for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < shape.size(); ++d) m.inner *= shape[d];
  m.group = group_size > 0 ? group_size : 1;
  const std::int64_t expected = (m.dim + m.group - 1) / m.group;
  if (group_size > 0 && m.dim > 0 && static_cast<std::int64_t>(count) != expected &&
      static_cast<std::int64_t>(count) == expected * (checked_numel(shape, what) / m.dim)) {
    m.blocked = true;
    return m;
  }
  if (static_cast<std::int64_t>(count) != expected)
    c.fail_shape(std::string(what) + " has " + std::to_string(count) + " entries, axis " + std::to_string(axis) +
                 " of " + shape_to_string(shape) + " needs " + std::to_string(expected));
  return m;
}

// ONNX per-axis parameters are 1-D; a scalar or a 1-element tensor means per tensor.
void check_param_rank(const NodeCall& c, const Tensor& t, const char* what) {
  if (t.rank() > 1) c.fail_shape(std::string(what) + " must be a scalar or 1-D, got " + shape_to_string(t.shape()));
}

}  // namespace

Outputs eval_quantize_linear(const NodeCall& c) {
  const Tensor& x = c.input(0, "x");
  const Tensor& scale = c.input(1, "y_scale");
  const Tensor* zp = c.optional_input(2);
  if (x.dtype() != DType::f32 && x.dtype() != DType::i32)
    c.fail_unsupported("QuantizeLinear input of dtype " + std::string(dtype_name(x.dtype())) + " is not supported");
  if (scale.dtype() != DType::f32) c.fail_unsupported("QuantizeLinear scale must be f32");
  check_param_rank(c, scale, "y_scale");
  const DType out_type = zp ? zp->dtype() : DType::u8;  // ONNX: uint8 when the zero point is absent
  if (out_type != DType::u8 && out_type != DType::i8)
    c.fail_unsupported("QuantizeLinear output of dtype " + std::string(dtype_name(out_type)) + " is not supported");
  if (zp && zp->shape() != scale.shape())
    c.fail_shape("y_zero_point " + shape_to_string(zp->shape()) + " differs from y_scale " +
                 shape_to_string(scale.shape()));
  const ChannelMap map =
      channel_map(c, x.shape(), static_cast<std::size_t>(scale.numel()), c.attrs<AxisAttrs>().axis, 0, "y_scale");
  const std::vector<float> xs = x.to_f32();
  const float* ps = scale.data<float>();
  const std::vector<std::int64_t> zps = zp ? zp->to_i64() : std::vector<std::int64_t>(1, 0);
  const float lo = out_type == DType::u8 ? 0.0f : -128.0f;
  const float hi = out_type == DType::u8 ? 255.0f : 127.0f;
  Tensor out(out_type, x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::size_t ch = map(i);
    const float zero = static_cast<float>(zps[zp ? ch : 0]);
    reinterpret_cast<std::uint8_t*>(out.raw())[i] = quantize_linear_byte(xs[static_cast<std::size_t>(i)], ps[ch], zero, lo, hi);
  }
  return {std::move(out)};
}

Outputs eval_dequantize_linear(const NodeCall& c) {
  const Tensor& x = c.input(0, "x");
  const Tensor& scale = c.input(1, "x_scale");
  const Tensor* zp = c.optional_input(2);
  if (x.dtype() != DType::u8 && x.dtype() != DType::i8 && x.dtype() != DType::i32)
    c.fail_unsupported("DequantizeLinear input of dtype " + std::string(dtype_name(x.dtype())) + " is not supported");
  if (scale.dtype() != DType::f32) c.fail_unsupported("DequantizeLinear scale must be f32");
  check_param_rank(c, scale, "x_scale");
  if (zp && (zp->dtype() != x.dtype() || zp->shape() != scale.shape()))
    c.fail_shape("x_zero_point must match x's dtype and x_scale's shape");
  const ChannelMap map =
      channel_map(c, x.shape(), static_cast<std::size_t>(scale.numel()), c.attrs<AxisAttrs>().axis, 0, "x_scale");
  const std::vector<std::int64_t> xs = x.to_i64();
  const std::vector<std::int64_t> zps = zp ? zp->to_i64() : std::vector<std::int64_t>(1, 0);
  const float* ps = scale.data<float>();
  Tensor out(DType::f32, x.shape());
  float* py = out.data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::size_t ch = map(i);
    // Subtract in integers first (exact), as ONNX Runtime does.
    py[i] = static_cast<float>(xs[static_cast<std::size_t>(i)] - zps[zp ? ch : 0]) * ps[ch];
  }
  return {std::move(out)};
}

Outputs eval_fake_quant(const NodeCall& c) {
  const Tensor& x = c.input(0, "x");
  if (x.dtype() != DType::f32) c.fail_unsupported("FakeQuant input must be f32");
  const Value& out_value = c.graph().value(c.node().outputs[0]);
  if (!out_value.quant) c.fail_graph("FakeQuant output '" + out_value.name + "' has no QuantParams");
  const QuantParams& qp = *out_value.quant;
  if (qp.scale.empty()) c.fail_graph("FakeQuant QuantParams have no scale");
  if (!qp.zero_point.empty() && qp.zero_point.size() != qp.scale.size())
    c.fail_graph("FakeQuant QuantParams zero_point and scale differ in length");
  if (qp.n_min > qp.n_max) c.fail_graph("FakeQuant QuantParams have n_min > n_max");
  const ChannelMap map = channel_map(c, x.shape(), qp.scale.size(), qp.axis, qp.group_size, "FakeQuant scale");
  const float* px = x.data<float>();
  Tensor out(DType::f32, x.shape());
  float* py = out.data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) py[i] = FakeQuantStep(qp, map(i))(px[i]);
  return {std::move(out)};
}

}  // namespace snnconv::ann::detail
