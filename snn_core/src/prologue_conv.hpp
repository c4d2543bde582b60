// A fast form of the reference Conv (ann_baseline eval_conv) for the SNN's dense prologue (a ViT's patch
// embedding), computing the very same floats: every output is the sum over (input channel, kernel row,
// kernel column) in the reference's order, one rounding per multiply and per add (-ffp-contract=off), then
// `+ bias`. Only the loop order across outputs changes (16 output maps side by side in vector lanes), which
// changes no rounding. Covers the common case (2-D, group 1, no padding, no dilation, constant weights);
// any other Conv keeps the reference kernel. Tested bit for bit against it (tests/snn_core).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv::snn {

struct OrderedConv {
  std::int64_t channels = 0, maps = 0, kh = 0, kw = 0, sh = 1, sw = 1;
  std::vector<float> w_t;   // [channels * kh * kw][maps]: the weights with the output map innermost
  std::vector<float> bias;  // [maps], empty without a bias
};

// The fast form of Conv node `id` of `g`, or nullopt when it does not cover the node.
std::optional<OrderedConv> plan_ordered_conv(const Graph& g, NodeId id);

// Y = Conv(X) for X [1, channels, h, w] (f32); nullopt when X does not fit (the caller runs the reference,
// which reports the error).
std::optional<Tensor> run_ordered_conv(const OrderedConv& c, const Tensor& x);

}  // namespace snnconv::snn
