// Shape functions referenced by the op table (private to core).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "snnconv/core/shape_inference.hpp"

namespace snnconv::shape_fns {

// Helpers shared by the shape function files.
inline TensorType make(DType t, std::vector<Dim> dims) {
  TensorType r;
  r.dtype = t;
  r.dims = std::move(dims);
  return r;
}
inline TensorType unknown_rank(DType t) {
  TensorType r;
  r.dtype = t;
  r.rank_known = false;
  return r;
}
inline std::vector<Dim> known_dims(const std::vector<std::int64_t>& v) {
  std::vector<Dim> d;
  for (auto x : v) d.push_back(Dim::known(x));
  return d;
}
// Values of a constant integer input, or nullopt when it is not constant.
inline std::optional<std::vector<std::int64_t>> const_ints(const InferContext& c, std::size_t i) {
  const Tensor* t = c.constant(i);
  if (!t) return std::nullopt;
  if (!is_integer(t->dtype())) c.fail("input " + std::to_string(i) + " must be an integer tensor");
  return t->to_i64();
}

void binary(InferContext& c);
void comparison(InferContext& c);
void where(InferContext& c);
void unary(InferContext& c);
void logical_not(InferContext& c);
void cast(InferContext& c);
void matmul(InferContext& c);
void gemm(InferContext& c);
void conv(InferContext& c);
void same_as_first(InferContext& c);
void reduce(InferContext& c);
void transpose(InferContext& c);
void reshape(InferContext& c);
void flatten(InferContext& c);
void concat(InferContext& c);
void split(InferContext& c);
void slice(InferContext& c);
void gather(InferContext& c);
void unsqueeze(InferContext& c);
void squeeze(InferContext& c);
void expand(InferContext& c);
void shape(InferContext& c);
void constant_of_shape(InferContext& c);
void range(InferContext& c);
void quantize_linear(InferContext& c);
void dequantize_linear(InferContext& c);
void linear(InferContext& c);
void attention(InferContext& c);

// shape_fns_nn.cpp: the ops added for broader ONNX coverage.
void variadic(InferContext& c);
void layer_norm(InferContext& c);
void clip(InferContext& c);
void to_bool(InferContext& c);
void prelu(InferContext& c);
void logical_binary(InferContext& c);
void arg_reduce(InferContext& c);
void top_k(InferContext& c);
void batch_norm(InferContext& c);
void instance_norm(InferContext& c);
void pool(InferContext& c);
void global_pool(InferContext& c);
void nll_loss(InferContext& c);
void softmax_cross_entropy(InferContext& c);
void gather_elements(InferContext& c);
void gather_nd(InferContext& c);
void tile(InferContext& c);
void pad(InferContext& c);
void depth_to_space(InferContext& c);
void space_to_depth(InferContext& c);
void one_hot(InferContext& c);
void cast_like(InferContext& c);
void size(InferContext& c);

}  // namespace snnconv::shape_fns
