// Shape functions referenced by the op table (private to core).
#pragma once

#include "snnconv/core/shape_inference.hpp"

namespace snnconv::shape_fns {

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

}  // namespace snnconv::shape_fns
