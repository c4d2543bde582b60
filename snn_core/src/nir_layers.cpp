#include "nir_layers.hpp"

#include <fmt/format.h>

#include <cmath>

namespace snnconv::snn::nirk {

namespace {

ErrorContext where(const nir::Node& node) { return ErrorContext{{}, node.name, std::string(nir::node_type_name(node.type)), {}}; }

// An input of integer value k (a spike, or k spikes summed by a SumPool2d on their way) is k synaptic events
// per target, as a chip delivers them; any other value (a current, an LI voltage, an average) is a
// multiply-accumulate per target.
constexpr double kMaxEventCount = 64;
void count_event(double v, std::int64_t targets, Counters& c) {
  const auto t = static_cast<std::uint64_t>(targets);
  const double k = std::abs(v);
  if (k <= kMaxEventCount && k == std::floor(k)) c.acs[kFloatWidth] += t * static_cast<std::uint64_t>(k);
  else c.macs[kFloatWidth] += t;
  c.bytes_read[static_cast<std::size_t>(MemClass::weights)] += t * 4;
}

}  // namespace

std::vector<std::int64_t> int_param(const nir::Node& node, const char* name, std::size_t count, std::int64_t fallback) {
  const nir::Param* p = node.find(name);
  if (!p) return std::vector<std::int64_t>(count, fallback);
  if (p->numel() != 1 && static_cast<std::size_t>(p->numel()) != count)
    throw ShapeError(fmt::format("NIR node '{}': '{}' has {} values, expected {}", node.name, name, p->numel(), count),
                     where(node));
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < count; ++i) {
    const double v = p->values[p->numel() == 1 ? 0 : i];
    if (v != static_cast<double>(static_cast<std::int64_t>(v)) || v < -(1 << 30) || v > (1 << 30))
      throw ShapeError(fmt::format("NIR node '{}': '{}' = {} is not a usable integer", node.name, name, v), where(node));
    out.push_back(static_cast<std::int64_t>(v));
  }
  return out;
}

DenseLayer dense_layer(const nir::Node& node, std::int64_t in_numel) {
  const nir::Param& w = node.require("weight");
  if (w.shape.size() != 2)
    throw ShapeError(fmt::format("NIR node '{}': weight must be [out, in], found {}", node.name, shape_to_string(w.shape)),
                     where(node));
  DenseLayer l;
  l.out = w.shape[0];
  l.in = w.shape[1];
  if (l.in != in_numel)
    throw ShapeError(fmt::format("NIR node '{}': weight {} expects {} inputs, its input has {}", node.name,
                                 shape_to_string(w.shape), l.in, in_numel),
                     where(node));
  l.wt.resize(w.values.size());
  for (std::int64_t o = 0; o < l.out; ++o)
    for (std::int64_t i = 0; i < l.in; ++i)
      l.wt[static_cast<std::size_t>(i * l.out + o)] = w.values[static_cast<std::size_t>(o * l.in + i)];
  if (node.type == nir::NodeType::Affine) {
    const nir::Param& b = node.require("bias");
    if (b.numel() != l.out)
      throw ShapeError(fmt::format("NIR node '{}': bias has {} values for {} outputs", node.name, b.numel(), l.out),
                       where(node));
    l.bias = b.values;
  }
  return l;
}

void dense_step(const DenseLayer& l, const double* x, double* y, Counters& c) {
  const auto out = static_cast<std::size_t>(l.out);
  if (l.bias.empty()) std::fill(y, y + out, 0.0);
  else std::copy(l.bias.begin(), l.bias.end(), y);
  for (std::int64_t i = 0; i < l.in; ++i) {
    const double v = x[i];
    if (v == 0.0) continue;
    const double* row = l.wt.data() + static_cast<std::size_t>(i) * out;
    for (std::size_t o = 0; o < out; ++o) y[o] += row[o] * v;
    count_event(v, l.out, c);
  }
  if (!l.bias.empty()) c.dense_ops += out;  // the bias current, every step
}

ConvLayer conv_layer(const nir::Node& node, const Shape& in, Shape& out_shape) {
  const bool two_d = node.type == nir::NodeType::Conv2d;
  const std::size_t sd = two_d ? 2 : 1;
  const nir::Param& w = node.require("weight");
  if (in.size() != sd + 1)
    throw ShapeError(fmt::format("NIR node '{}': a {} takes [C, {}] inputs, found {}", node.name,
                                 nir::node_type_name(node.type), two_d ? "H, W" : "L", shape_to_string(in)),
                     where(node));
  if (w.shape.size() != sd + 2)
    throw ShapeError(fmt::format("NIR node '{}': weight must have rank {}, found {}", node.name, sd + 2,
                                 shape_to_string(w.shape)),
                     where(node));
  if (const nir::Param* pad = node.find("padding"); pad && pad->type != nir::ParamType::i64)
    throw UnsupportedError("NIR node '" + node.name + "': non-integer padding", where(node));
  ConvLayer l;
  l.groups = int_param(node, "groups", 1, 1)[0];
  const auto stride = int_param(node, "stride", sd, 1), padding = int_param(node, "padding", sd, 0),
             dilation = int_param(node, "dilation", sd, 1);
  l.co = w.shape[0];
  l.ci = in[0];
  if (l.groups < 1 || l.ci % l.groups != 0 || l.co % l.groups != 0 || w.shape[1] * l.groups != l.ci)
    throw ShapeError(fmt::format("NIR node '{}': weight {} with {} groups does not fit an input of {} channels",
                                 node.name, shape_to_string(w.shape), l.groups, l.ci),
                     where(node));
  if (two_d) {
    l.h = in[1], l.w = in[2], l.kh = w.shape[2], l.kw = w.shape[3];
    l.sh = stride[0], l.sw = stride[1], l.ph = padding[0], l.pw = padding[1], l.dh = dilation[0], l.dw = dilation[1];
  } else {
    l.w = in[1], l.kw = w.shape[2], l.sw = stride[0], l.pw = padding[0], l.dw = dilation[0];
  }
  if (const nir::Param* is = node.find("input_shape"); is && is->numel() == static_cast<std::int64_t>(sd)) {
    const bool same = two_d ? (is->values[0] == static_cast<double>(l.h) && is->values[1] == static_cast<double>(l.w))
                            : is->values[0] == static_cast<double>(l.w);
    if (!same)
      throw ShapeError(fmt::format("NIR node '{}': input_shape says {}, the input is {}", node.name,
                                   shape_to_string(Shape(is->values.begin(), is->values.end())), shape_to_string(in)),
                       where(node));
  }
  if (l.sh < 1 || l.sw < 1 || l.dh < 1 || l.dw < 1 || l.ph < 0 || l.pw < 0)
    throw ShapeError("NIR node '" + node.name + "': stride and dilation must be >= 1, padding >= 0", where(node));
  l.ho = (l.h + 2 * l.ph - l.dh * (l.kh - 1) - 1) / l.sh + 1;
  l.wo = (l.w + 2 * l.pw - l.dw * (l.kw - 1) - 1) / l.sw + 1;
  if (l.ho < 1 || l.wo < 1)
    throw ShapeError(fmt::format("NIR node '{}': the kernel does not fit the input {}", node.name, shape_to_string(in)),
                     where(node));
  l.weight = w.values;
  if (const nir::Param* b = node.find("bias")) {
    if (b->numel() != l.co)
      throw ShapeError(fmt::format("NIR node '{}': bias has {} values for {} channels", node.name, b->numel(), l.co),
                       where(node));
    l.bias = b->values;
  }
  out_shape = two_d ? Shape{l.co, l.ho, l.wo} : Shape{l.co, l.wo};
  return l;
}

void conv_step(const ConvLayer& l, const double* x, double* y, Counters& c) {
  const std::int64_t plane = l.ho * l.wo, cig = l.ci / l.groups, cog = l.co / l.groups;
  for (std::int64_t oc = 0; oc < l.co; ++oc) {
    const double b = l.bias.empty() ? 0.0 : l.bias[static_cast<std::size_t>(oc)];
    std::fill(y + oc * plane, y + (oc + 1) * plane, b);
  }
  if (!l.bias.empty()) c.dense_ops += static_cast<std::uint64_t>(l.co * plane);
  for (std::int64_t ic = 0; ic < l.ci; ++ic) {
    const std::int64_t g = ic / cig, icg = ic % cig;
    for (std::int64_t iy = 0; iy < l.h; ++iy)
      for (std::int64_t ix = 0; ix < l.w; ++ix) {
        const double v = x[(ic * l.h + iy) * l.w + ix];
        if (v == 0.0) continue;
        std::int64_t targets = 0;
        for (std::int64_t ky = 0; ky < l.kh; ++ky) {
          const std::int64_t ny = iy + l.ph - ky * l.dh;
          if (ny < 0 || ny % l.sh != 0 || ny / l.sh >= l.ho) continue;
          for (std::int64_t kx = 0; kx < l.kw; ++kx) {
            const std::int64_t nx = ix + l.pw - kx * l.dw;
            if (nx < 0 || nx % l.sw != 0 || nx / l.sw >= l.wo) continue;
            const std::int64_t at = (ny / l.sh) * l.wo + nx / l.sw;
            for (std::int64_t oc = g * cog; oc < (g + 1) * cog; ++oc)
              y[oc * plane + at] += l.weight[static_cast<std::size_t>(((oc * cig + icg) * l.kh + ky) * l.kw + kx)] * v;
            targets += cog;
          }
        }
        count_event(v, targets, c);
      }
  }
}

PoolLayer pool_layer(const nir::Node& node, const Shape& in, Shape& out_shape) {
  if (in.size() != 3)
    throw ShapeError(fmt::format("NIR node '{}': a {} takes [C, H, W] inputs, found {}", node.name,
                                 nir::node_type_name(node.type), shape_to_string(in)),
                     where(node));
  PoolLayer l;
  const auto k = int_param(node, "kernel_size", 2, -1);
  if (k[0] < 1 || k[1] < 1) throw ShapeError("NIR node '" + node.name + "': kernel_size missing or < 1", where(node));
  const auto s = int_param(node, "stride", 2, k[0]), p = int_param(node, "padding", 2, 0);
  l.c = in[0], l.h = in[1], l.w = in[2], l.kh = k[0], l.kw = k[1], l.sh = s[0], l.sw = s[1], l.ph = p[0], l.pw = p[1];
  if (l.sh < 1 || l.sw < 1 || l.ph < 0 || l.pw < 0)
    throw ShapeError("NIR node '" + node.name + "': stride must be >= 1, padding >= 0", where(node));
  l.ho = (l.h + 2 * l.ph - l.kh) / l.sh + 1;
  l.wo = (l.w + 2 * l.pw - l.kw) / l.sw + 1;
  if (l.ho < 1 || l.wo < 1)
    throw ShapeError(fmt::format("NIR node '{}': the window does not fit the input {}", node.name, shape_to_string(in)),
                     where(node));
  l.scale = node.type == nir::NodeType::AvgPool2d ? 1.0 / static_cast<double>(l.kh * l.kw) : 1.0;
  out_shape = {l.c, l.ho, l.wo};
  return l;
}

void pool_step(const PoolLayer& l, const double* x, double* y, Counters& c) {
  const std::int64_t plane = l.ho * l.wo;
  std::fill(y, y + l.c * plane, 0.0);
  for (std::int64_t ch = 0; ch < l.c; ++ch)
    for (std::int64_t iy = 0; iy < l.h; ++iy)
      for (std::int64_t ix = 0; ix < l.w; ++ix) {
        const double v = x[(ch * l.h + iy) * l.w + ix];
        if (v == 0.0) continue;
        for (std::int64_t ky = 0; ky < l.kh; ++ky) {
          const std::int64_t ny = iy + l.ph - ky;
          if (ny < 0 || ny % l.sh != 0 || ny / l.sh >= l.ho) continue;
          for (std::int64_t kx = 0; kx < l.kw; ++kx) {
            const std::int64_t nx = ix + l.pw - kx;
            if (nx < 0 || nx % l.sw != 0 || nx / l.sw >= l.wo) continue;
            y[ch * plane + (ny / l.sh) * l.wo + nx / l.sw] += v * l.scale;
            c.dense_ops += 1;
          }
        }
      }
}

}  // namespace snnconv::snn::nirk
