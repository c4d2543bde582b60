// The ordered Conv of the SNN prologue (prologue_conv.hpp).
#include "prologue_conv.hpp"

#include <algorithm>

#include "snnconv/core/attrs.hpp"

namespace snnconv::snn {

std::optional<OrderedConv> plan_ordered_conv(const Graph& g, NodeId id) {
  const Node& nd = g.node(id);
  if (nd.kind != OpKind::Conv || nd.inputs.size() < 2) return std::nullopt;
  const auto& at = std::get<ConvAttrs>(nd.attrs);
  const Value& wv = g.value(nd.inputs[1]);
  if (!wv.constant || wv.constant->dtype() != DType::f32 || wv.constant->rank() != 4 || at.group != 1) return std::nullopt;
  auto all = [](const std::vector<std::int64_t>& v, std::int64_t x) {
    return std::all_of(v.begin(), v.end(), [x](std::int64_t e) { return e == x; });
  };
  // Padding is left to the reference: it skips the padded taps, and 0 * w is not always an exact zero.
  if (!all(at.pads, 0) || !all(at.dilations, 1) || (!at.strides.empty() && at.strides.size() != 2)) return std::nullopt;
  const Tensor& w = *wv.constant;
  OrderedConv c;
  c.maps = w.dim(0);
  c.channels = w.dim(1);
  c.kh = w.dim(2);
  c.kw = w.dim(3);
  if (!at.kernel_shape.empty() && at.kernel_shape != Shape{c.kh, c.kw}) return std::nullopt;
  if (!at.strides.empty()) {
    c.sh = at.strides[0];
    c.sw = at.strides[1];
  }
  if (c.sh < 1 || c.sw < 1) return std::nullopt;
  if (nd.inputs.size() > 2 && nd.inputs[2].valid()) {
    const Value& bv = g.value(nd.inputs[2]);
    if (!bv.constant || bv.constant->dtype() != DType::f32 || bv.constant->numel() != c.maps) return std::nullopt;
    c.bias.assign(bv.constant->data<float>(), bv.constant->data<float>() + c.maps);
  }
  const std::int64_t taps = c.channels * c.kh * c.kw;
  c.w_t.resize(static_cast<std::size_t>(taps * c.maps));
  const float* pw = w.data<float>();
  for (std::int64_t m = 0; m < c.maps; ++m)
    for (std::int64_t k = 0; k < taps; ++k) c.w_t[static_cast<std::size_t>(k * c.maps + m)] = pw[m * taps + k];
  return c;
}

std::optional<Tensor> run_ordered_conv(const OrderedConv& c, const Tensor& x) {
  if (x.dtype() != DType::f32 || x.rank() != 4 || x.dim(0) != 1 || x.dim(1) != c.channels) return std::nullopt;
  const std::int64_t h = x.dim(2), w = x.dim(3);
  if (h < c.kh || w < c.kw) return std::nullopt;
  const std::int64_t oh = (h - c.kh) / c.sh + 1, ow = (w - c.kw) / c.sw + 1, taps = c.channels * c.kh * c.kw;
  Tensor out(DType::f32, Shape{1, c.maps, oh, ow});
  const float* px = x.data<float>();
  float* py = out.data<float>();
  std::vector<float> patch(static_cast<std::size_t>(taps)), acc(static_cast<std::size_t>(c.maps));
  const std::int64_t maps = c.maps;
  for (std::int64_t oy = 0; oy < oh; ++oy)
    for (std::int64_t ox = 0; ox < ow; ++ox) {
      std::int64_t k = 0;
      for (std::int64_t ci = 0; ci < c.channels; ++ci)
        for (std::int64_t ky = 0; ky < c.kh; ++ky)
          for (std::int64_t kx = 0; kx < c.kw; ++kx)
            patch[static_cast<std::size_t>(k++)] = px[(ci * h + oy * c.sh + ky) * w + ox * c.sw + kx];
      float* a = acc.data();
      std::fill(acc.begin(), acc.end(), 0.0f);
      // The reference's order per output: acc = 0, then acc = acc + x * w tap by tap.
      for (std::int64_t t = 0; t < taps; ++t) {
        const float xt = patch[static_cast<std::size_t>(t)];
        const float* wt = c.w_t.data() + t * maps;
        for (std::int64_t m = 0; m < maps; ++m) a[m] = a[m] + xt * wt[m];
      }
      const std::int64_t oi = oy * ow + ox;
      if (c.bias.empty()) {
        for (std::int64_t m = 0; m < maps; ++m) py[m * oh * ow + oi] = a[m];
      } else {
        for (std::int64_t m = 0; m < maps; ++m) py[m * oh * ow + oi] = a[m] + c.bias[static_cast<std::size_t>(m)];
      }
    }
  return out;
}

}  // namespace snnconv::snn
