// Kernels private to DecodeSession. Their defining property is row invariance: every output row is computed
// by the same sequence of floating-point operations whatever the number of rows in the call, so a token's
// logits are bit-identical whether it runs alone (step), in a verification window of K+1 tokens
// (speculative decoding) or inside a prompt prefill. Eigen's GEMM does not have it (it switches to GEMV for
// one row and blocks by the matrix sizes), which is why the decode path does not use the engine's GEMM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention_kernel.hpp"
#include "snnconv/core/attrs.hpp"

namespace snnconv::ann::decode_kernels {

// y[m, n] = act(x[m, k] . w[k, n] + bias[n]) (bias may be null). Each y[r, j] is one fused multiply-add
// chain over k = 0..k-1 starting from 0, then + bias, then the activation. Rows are processed in register
// tiles that load each weight vector once for up to six rows, so a window of m tokens reads the weights
// once instead of m times. Columns may be split across threads: each element is computed the same way by
// whichever thread owns it. With AVX2 the exact GELU uses a vectorised erf (Abramowitz & Stegun 7.1.26,
// absolute error <= 1.5e-7) instead of std::erf: the same function as the reference up to ~1e-7 relative.
void linear_rows(const float* x, const float* w, const float* bias, float* y, std::int64_t m, std::int64_t k,
                 std::int64_t n, Activation act);

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
