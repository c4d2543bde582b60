// Kernels private to DecodeSession. Their defining property is row invariance: every output row is computed
// by the same sequence of floating-point operations whatever the number of rows in the call, so a token's
// logits are bit-identical whether it runs alone (step), in a verification window of K+1 tokens
// (speculative decoding) or inside a prompt prefill. (The Linears run the packed GEMM, gemm.hpp, which has the
// same property: one FMA chain per element whatever the rows beside it.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention_kernel.hpp"
#include "snnconv/core/attrs.hpp"

namespace snnconv::ann::decode_kernels {

// Causal attention of the window's nq queries over a KV cache (AttentionArgs with causal = true, no mask):
// query i sees keys 0 .. nk - nq + i. Per query row: scores s_j = (q . k_j) * scale (a dot product of
// fixed order), m = max s_j, p_j = exp(s_j - m) (with AVX2 a vectorised exp, ~2 ulp), l = sum p_j in key
// order, y = (sum_j p_j v_j) / l. Rows are independent of each other, so the result of a row does not
// depend on nq. Work is split over (batch, head) only.
void attention_rows(const AttentionArgs& args);

// Data movement without the reference kernels' per-element index arithmetic (bit-exact copies).
// y = x permuted: y[i_0..i_r] = x[i_perm...]; shapes are x's; `elem` bytes per element.
void transpose(const std::byte* x, const std::vector<std::int64_t>& x_shape, const std::vector<std::int64_t>& perm,
               std::byte* y, std::size_t elem);
// y[i, :] = table[index[i] (negative: + rows), :] for `count` indices; ShapeError for an index out of range.
void gather_rows(const std::byte* table, std::int64_t rows, std::int64_t row_bytes, const std::int64_t* index,
                 std::int64_t count, std::byte* y);

}  // namespace snnconv::ann::decode_kernels
