// Reference kernels of MatMul, Gemm, Conv, Linear and Attention against hand-computed values.
#include <cmath>
#include <limits>

#include "reference_test_util.hpp"

using namespace snnconv;
using namespace snnconv::test;

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// An independent attention in double: softmax written out with explicit exp/sum, for one [Nq, Nk] block.
// mask_at(i, j) gives the additive mask (or -inf), already broadcast.
template <typename MaskAt>
std::vector<float> manual_attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                    int nq, int nk, int d, int dv, double scale, MaskAt mask_at) {
  std::vector<float> y(static_cast<std::size_t>(nq * dv), 0.0f);
  for (int i = 0; i < nq; ++i) {
    std::vector<double> s(static_cast<std::size_t>(nk));
    double max = -INFINITY;
    for (int j = 0; j < nk; ++j) {
      double dot = 0;
      for (int e = 0; e < d; ++e) dot += double(q[i * d + e]) * k[j * d + e];
      s[j] = dot * scale + mask_at(i, j);
      max = std::max(max, s[j]);
    }
    double sum = 0;
    for (int j = 0; j < nk; ++j) sum += (s[j] = std::exp(s[j] - max));
    for (int e = 0; e < dv; ++e) {
      double acc = 0;
      for (int j = 0; j < nk; ++j) acc += s[j] / sum * v[j * dv + e];
      y[i * dv + e] = static_cast<float>(acc);
    }
  }
  return y;
}

std::vector<float> ramp(int n, float scale, float offset) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[i] = std::sin(scale * static_cast<float>(i) + offset);
  return v;
}

}  // namespace

TEST_SUITE("unit") {

TEST_CASE("reference MatMul 2-D, vectors and batch broadcasting") {
  // [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = f32({3, 2}, {7, 8, 9, 10, 11, 12});
  check_exact<float>(run1({OpKind::MatMul}, {a, b}), {2, 2}, {58, 64, 139, 154});
  // vector x matrix: [1,1,1] x b = [27, 30]; matrix x vector: a x [1,0,-1] = [-2, -2]
  check_exact<float>(run1({OpKind::MatMul}, {f32({3}, {1, 1, 1}), b}), {2}, {27, 30});
  check_exact<float>(run1({OpKind::MatMul}, {a, f32({3}, {1, 0, -1})}), {2}, {-2, -2});
  // [2,1,1,2] x [3,2,1] -> [2,3,1,1]: out[i,j] = a_i . b_j with a = ([1,2],[3,4]), b = ([1,0],[0,1],[1,1])
  check_exact<float>(run1({OpKind::MatMul}, {f32({2, 1, 1, 2}, {1, 2, 3, 4}), f32({3, 2, 1}, {1, 0, 0, 1, 1, 1})}),
                     {2, 3, 1, 1}, {1, 2, 3, 3, 4, 7});
  // [2,1,2] x [2,2]: the matrix is shared by both batches
  check_exact<float>(run1({OpKind::MatMul}, {f32({2, 1, 2}, {1, 2, 3, 4}), f32({2, 2}, {1, 0, 1, 1})}), {2, 1, 2},
                     {3, 2, 7, 4});
  check_exact<std::int32_t>(run1({OpKind::MatMul}, {i32({1, 2}, {2, -3}), i32({2, 1}, {4, 5})}), {1, 1}, {-7});
  check_exact<std::int64_t>(run1({OpKind::MatMul}, {i64({1, 2}, {1, 1}), i64({2, 1}, {1LL << 40, 1})}), {1, 1},
                            {(1LL << 40) + 1});
  CHECK_THROWS_AS(run1({OpKind::MatMul}, {a, a}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::MatMul}, {f32({2, 2, 3}, std::vector<float>(12)), f32({3, 3, 1}, std::vector<float>(9))}),
                  ShapeError);
}

TEST_CASE("reference Gemm with transposes, alpha, beta and broadcast C") {
  // A stored [3,2] with transA (A' = [[1,2,3],[4,5,6]]), B stored [2,3] with transB (B' = [[7,8],[9,10],[11,12]]);
  // A'B' = [[58,64],[139,154]]; * 0.5 = [[29,32],[69.5,77]]; + 2 * C with C = [1,2] -> [[31,36],[71.5,81]]
  const Tensor at = f32({3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor bt = f32({2, 3}, {7, 9, 11, 8, 10, 12});
  const GemmAttrs attrs{0.5f, 2.0f, true, true};
  check_exact<float>(run1({OpKind::Gemm, attrs}, {at, bt, f32({2}, {1, 2})}), {2, 2}, {31, 36, 71.5f, 81});
  // C as a column [2,1] and as a scalar
  check_exact<float>(run1({OpKind::Gemm, attrs}, {at, bt, f32({2, 1}, {1, 2})}), {2, 2}, {31, 34, 73.5f, 81});
  check_exact<float>(run1({OpKind::Gemm, attrs}, {at, bt, Tensor::scalar(1.0f)}), {2, 2}, {31, 34, 71.5f, 79});
  // No transposes, no C
  check_exact<float>(run1({OpKind::Gemm, GemmAttrs{}}, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3, 2}, {7, 8, 9, 10, 11, 12}),
                                                        std::nullopt}),
                     {2, 2}, {58, 64, 139, 154});
  // beta = 0: C is not read, so a NaN there does not leak
  check_exact<float>(run1({OpKind::Gemm, GemmAttrs{1.0f, 0.0f, false, false}},
                          {f32({1, 1}, {2}), f32({1, 1}, {3}), f32({1}, {std::nanf("")})}),
                     {1, 1}, {6});
  check_exact<std::int64_t>(run1({OpKind::Gemm, GemmAttrs{2.0f, 1.0f, false, true}},
                                 {i64({1, 2}, {1, 2}), i64({1, 2}, {3, 4}), i64({1}, {1})}),
                            {1, 1}, {23});
  CHECK_THROWS_AS(run1({OpKind::Gemm, GemmAttrs{}}, {at, at}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Gemm, GemmAttrs{1, 1, true, true}}, {at, bt, f32({3}, {1, 2, 3})}), ShapeError);
}

TEST_CASE("reference Conv: plain, bias, stride with pads, groups, dilation, 1-D asymmetric pads") {
  const Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // W = [[1,0],[0,1]]: out[i,j] = x[i,j] + x[i+1,j+1] = (1+5, 2+6, 4+8, 5+9)
  const Tensor diag = f32({1, 1, 2, 2}, {1, 0, 0, 1});
  check_exact<float>(run1({OpKind::Conv, ConvAttrs{}}, {x, diag}), {1, 1, 2, 2}, {6, 8, 12, 14});
  check_exact<float>(run1({OpKind::Conv, ConvAttrs{}}, {x, diag, f32({1}, {1})}), {1, 1, 2, 2}, {7, 9, 13, 15});
  // 3x3 ones, pads 1, stride 2: windows centred on the corners sum their 2x2 neighbourhoods
  // (1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9)
  ConvAttrs strided;
  strided.strides = {2, 2};
  strided.pads = {1, 1, 1, 1};
  check_exact<float>(run1({OpKind::Conv, strided}, {x, f32({1, 1, 3, 3}, std::vector<float>(9, 1.0f))}), {1, 1, 2, 2},
                     {12, 16, 24, 28});
  // group = 2: each channel scaled by its own 1x1 kernel (2 and 3)
  const Tensor x2 = f32({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  ConvAttrs grouped;
  grouped.group = 2;
  check_exact<float>(run1({OpKind::Conv, grouped}, {x2, f32({2, 1, 1, 1}, {2, 3})}), {1, 2, 2, 2},
                     {2, 4, 6, 8, 15, 18, 21, 24});
  // group = 1 mixes channels: maps (c0 + c1, c0 - c1)
  check_exact<float>(run1({OpKind::Conv, ConvAttrs{}}, {x2, f32({2, 2, 1, 1}, {1, 1, 1, -1})}), {1, 2, 2, 2},
                     {6, 8, 10, 12, -4, -4, -4, -4});
  // group = 2 with 2 maps per group on a 4-channel 1x1 input: maps 0,1 read c0,c1; maps 2,3 read c2,c3
  ConvAttrs grouped4;
  grouped4.group = 2;
  check_exact<float>(run1({OpKind::Conv, grouped4},
                          {f32({1, 4, 1, 1}, {1, 10, 100, 1000}), f32({4, 2, 1, 1}, {1, 1, 1, -1, 1, 1, 1, -1})}),
                     {1, 4, 1, 1}, {11, -9, 1100, -900});
  // 1-D, dilation 2: x = [1..5], W = [1,1] -> x[i] + x[i+2]
  const Tensor x1 = f32({1, 1, 5}, {1, 2, 3, 4, 5});
  ConvAttrs dilated;
  dilated.dilations = {2};
  check_exact<float>(run1({OpKind::Conv, dilated}, {x1, f32({1, 1, 2}, {1, 1})}), {1, 1, 3}, {4, 6, 8});
  // 1-D, pads [begin 1, end 0]: padded x = [0,1,2,3,4,5] -> pairwise sums
  ConvAttrs asym;
  asym.pads = {1, 0};
  asym.kernel_shape = {2};
  check_exact<float>(run1({OpKind::Conv, asym}, {x1, f32({1, 1, 2}, {1, 1})}), {1, 1, 5}, {1, 3, 5, 7, 9});
  // batch of 2 with stride 2 and no pads: [1,3,5] and [10,30,50]
  ConvAttrs s2;
  s2.strides = {2};
  check_exact<float>(run1({OpKind::Conv, s2}, {f32({2, 1, 5}, {1, 2, 3, 4, 5, 10, 20, 30, 40, 50}), f32({1, 1, 1}, {1})}),
                     {2, 1, 3}, {1, 3, 5, 10, 30, 50});

  CHECK_THROWS_AS(run1({OpKind::Conv, grouped}, {x, diag}), ShapeError);  // 1 channel, 2 groups
  CHECK_THROWS_AS(run1({OpKind::Conv, ConvAttrs{}}, {x, f32({1, 1, 4, 4}, std::vector<float>(16))}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Conv, ConvAttrs{}}, {x, diag, f32({2}, {1, 2})}), ShapeError);
}

TEST_CASE("reference Linear: x.W + b then the activation") {
  // x = [[1,2],[3,-4]], W = [[1,0,1],[0,1,1]] -> x.W = [[1,2,3],[3,-4,-1]]; + b = [0.5,-10,0]
  const Tensor x = f32({2, 2}, {1, 2, 3, -4});
  const Tensor w = f32({2, 3}, {1, 0, 1, 0, 1, 1});
  const Tensor b = f32({3}, {0.5f, -10, 0});
  check_exact<float>(run1({OpKind::Linear, LinearAttrs{}}, {x, w, b}), {2, 3}, {1.5f, -8, 3, 3.5f, -14, -1});
  check_exact<float>(run1({OpKind::Linear, LinearAttrs{Activation::relu}}, {x, w, b}), {2, 3}, {1.5f, 0, 3, 3.5f, 0, 0});
  check_exact<float>(run1({OpKind::Linear, LinearAttrs{}}, {x.reshaped({1, 2, 2}), w, std::nullopt}), {1, 2, 3},
                     {1, 2, 3, 3, -4, -1});
  // gelu(1) = 0.8413447, gelu(2) = 1.9544997, gelu(-1) = -0.15865526
  check_close(run1({OpKind::Linear, LinearAttrs{Activation::gelu}}, {f32({1, 1}, {1}), f32({1, 3}, {1, 2, -1})}),
              {1, 3}, {0.8413447f, 1.9544997f, -0.15865526f}, 1e-6f);
  CHECK_THROWS_AS(run1({OpKind::Linear, LinearAttrs{}}, {x, w.reshaped({3, 2})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Linear, LinearAttrs{}}, {x, w, f32({2}, {1, 2})}), ShapeError);
}

TEST_CASE("reference Attention by hand: softmax weights 1/4 and 3/4") {
  // D = 1, q = 1, k = [0, ln 3]: scores [0, ln 3] -> softmax [1/4, 3/4]; v = [4, 8] -> 1 + 6 = 7
  const Tensor q = f32({1, 1, 1, 1}, {1});
  const Tensor k = f32({1, 1, 2, 1}, {0, std::log(3.0f)});
  const Tensor v = f32({1, 1, 2, 1}, {4, 8});
  check_close(run1({OpKind::Attention, AttentionAttrs{}}, {q, k, v}), {1, 1, 1, 1}, {7.0f}, 1e-6f);
  // scale 0 makes the weights uniform: (4 + 8) / 2
  check_close(run1({OpKind::Attention, AttentionAttrs{0.0f, false}}, {q, k, v}), {1, 1, 1, 1}, {6.0f}, 1e-6f);
  // an additive -inf mask on key 1 leaves v0; a bool mask false on key 0 leaves v1
  check_close(run1({OpKind::Attention, AttentionAttrs{}}, {q, k, v, f32({2}, {0, kNegInf})}), {1, 1, 1, 1}, {4.0f});
  check_close(run1({OpKind::Attention, AttentionAttrs{}}, {q, k, v, boolean({1, 2}, {false, true})}), {1, 1, 1, 1},
              {8.0f});
}

TEST_CASE("reference Attention against a manual softmax: plain, causal, masked, decode offset") {
  const int b = 2, h = 2, n = 3, d = 4, dv = 2;
  const std::vector<float> qv = ramp(b * h * n * d, 0.37f, 0.1f);
  const std::vector<float> kv = ramp(b * h * n * d, 0.53f, 0.7f);
  const std::vector<float> vv = ramp(b * h * n * dv, 0.91f, 0.3f);
  const Tensor q = f32({b, h, n, d}, qv), k = f32({b, h, n, d}, kv), v = f32({b, h, n, dv}, vv);
  const float scale = 0.5f;
  // mask [1,1,n,n], broadcast over batch and heads
  const std::vector<float> mask_v{0, -1, 2, 0.5f, 0, kNegInf, 0, 0, -3};
  const Tensor mask = f32({1, 1, n, n}, mask_v);

  auto expected = [&](bool causal, bool masked, int nq) {
    std::vector<float> all;
    for (int bh = 0; bh < b * h; ++bh) {
      // the last nq queries of the block
      const std::vector<float> qb(qv.begin() + (bh * n + (n - nq)) * d, qv.begin() + (bh * n + n) * d);
      const std::vector<float> kb(kv.begin() + bh * n * d, kv.begin() + (bh + 1) * n * d);
      const std::vector<float> vb(vv.begin() + bh * n * dv, vv.begin() + (bh + 1) * n * dv);
      auto m = [&](int i, int j) -> double {
        if (causal && j > i + (n - nq)) return -INFINITY;
        return masked ? double(mask_v[i * n + j]) : 0.0;
      };
      const std::vector<float> y = manual_attention(qb, kb, vb, nq, n, d, dv, scale, m);
      all.insert(all.end(), y.begin(), y.end());
    }
    return all;
  };
  check_close(run1({OpKind::Attention, AttentionAttrs{scale, false}}, {q, k, v}), {b, h, n, dv},
              expected(false, false, n), 1e-5f);
  check_close(run1({OpKind::Attention, AttentionAttrs{scale, true}}, {q, k, v}), {b, h, n, dv},
              expected(true, false, n), 1e-5f);
  check_close(run1({OpKind::Attention, AttentionAttrs{scale, false}}, {q, k, v, mask}), {b, h, n, dv},
              expected(false, true, n), 1e-5f);
  check_close(run1({OpKind::Attention, AttentionAttrs{scale, true}}, {q, k, v, mask}), {b, h, n, dv},
              expected(true, true, n), 1e-5f);
  // causal row 0 sees only key 0: its output is exactly v0
  const Tensor causal = run1({OpKind::Attention, AttentionAttrs{scale, true}}, {q, k, v});
  CHECK(causal.data<float>()[0] == vv[0]);
  CHECK(causal.data<float>()[1] == vv[1]);

  // Decode step: one query (the last position) against all 3 keys; causal masks nothing.
  std::vector<float> q_last;
  for (int bh = 0; bh < b * h; ++bh)
    q_last.insert(q_last.end(), qv.begin() + (bh * n + n - 1) * d, qv.begin() + (bh * n + n) * d);
  check_close(run1({OpKind::Attention, AttentionAttrs{scale, true}}, {f32({b, h, 1, d}, q_last), k, v}), {b, h, 1, dv},
              expected(true, false, 1), 1e-5f);

  CHECK_THROWS_AS(run1({OpKind::Attention, AttentionAttrs{}}, {q, k, f32({b, h, n + 1, dv}, std::vector<float>(b * h * (n + 1) * dv))}),
                  ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Attention, AttentionAttrs{}}, {q, k, v, f32({2, n}, std::vector<float>(2 * n))}),
                  ShapeError);
}

}  // TEST_SUITE
