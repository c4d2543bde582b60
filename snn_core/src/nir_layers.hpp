// The stateless NIR nodes of the step loop (nir_network.cpp): Affine / Linear, Conv1d / Conv2d, SumPool2d /
// AvgPool2d, Scale. Each scatters the non-zero inputs only (one contiguous weight row per input for Affine),
// so the work and the ledger follow the events; an input of integer value k is k synaptic accumulates per
// target (spikes, or spikes summed by a SumPool2d), any other non-zero value one multiply-accumulate. Parameters are prepared once from the node (validated there).
#pragma once

#include <cstdint>
#include <vector>

#include "snnconv/core/ledger.hpp"
#include "snnconv/core/nir_graph.hpp"

namespace snnconv::snn::nirk {

struct DenseLayer {  // Affine (bias) and Linear (none)
  std::int64_t in = 0, out = 0;
  std::vector<double> wt;    // [in][out]: the weight transposed, one contiguous row per input
  std::vector<double> bias;  // [out] or empty
};
// weight [out, in]; input of `in_numel` elements. ShapeError naming the node when they disagree.
DenseLayer dense_layer(const nir::Node& node, std::int64_t in_numel);
void dense_step(const DenseLayer& l, const double* x, double* y, Counters& c);

struct ConvLayer {  // Conv1d runs as a Conv2d of height 1
  std::int64_t ci = 0, co = 0, groups = 1, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  std::int64_t h = 1, w = 1, ho = 1, wo = 1;
  std::vector<double> weight;  // [co][ci/groups][kh][kw]
  std::vector<double> bias;    // [co] or empty
};
// input_shape [C, H, W] (Conv2d) or [C, L] (Conv1d); output [co, ho, wo] or [co, lo].
ConvLayer conv_layer(const nir::Node& node, const Shape& input_shape, Shape& output_shape);
void conv_step(const ConvLayer& l, const double* x, double* y, Counters& c);

struct PoolLayer {
  std::int64_t c = 0, h = 0, w = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, ho = 0, wo = 0;
  double scale = 1;  // 1 for SumPool2d, 1 / (kh kw) for AvgPool2d
};
PoolLayer pool_layer(const nir::Node& node, const Shape& input_shape, Shape& output_shape);
void pool_step(const PoolLayer& l, const double* x, double* y, Counters& c);

// Integer hyper-parameters (stride, padding, ...): `count` values, a scalar broadcast, or `fallback` when
// absent. ShapeError / UnsupportedError naming the node otherwise.
std::vector<std::int64_t> int_param(const nir::Node& node, const char* name, std::size_t count,
                                    std::int64_t fallback);

}  // namespace snnconv::snn::nirk
