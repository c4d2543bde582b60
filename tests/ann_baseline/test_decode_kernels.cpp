// The decode path's kernels against the reference (the definition), and their defining property: row
// invariance — a row's result is bit-identical whatever the number of rows computed with it.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "../../ann_baseline/src/decode_kernels.hpp"
#include "../../ann_baseline/src/reference_detail.hpp"
#include "reference_test_util.hpp"

namespace snnconv {
namespace {

std::vector<float> random_vec(std::size_t n, std::mt19937_64& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

Tensor tensor(Shape s, const std::vector<float>& v) {
  return Tensor::from_vector<float>(std::move(s), v);
}

TEST_SUITE("unit") {
  TEST_CASE("decode linear_rows: row-invariant and equal to the reference Linear within 1e-5") {
    std::mt19937_64 rng(5);
    struct Shape3 {
      std::int64_t k, n;
    };
    for (const Shape3 s : {Shape3{128, 128}, Shape3{56, 56}, Shape3{37, 45}, Shape3{512, 128}, Shape3{128, 512},
                           Shape3{9, 3}, Shape3{128, 264}}) {
      for (Activation act : {Activation::none, Activation::gelu, Activation::relu}) {
        CAPTURE(s.k);
        CAPTURE(s.n);
        CAPTURE(static_cast<int>(act));
        const std::int64_t m = 13;
        const auto x = random_vec(static_cast<std::size_t>(m * s.k), rng);
        const auto w = random_vec(static_cast<std::size_t>(s.k * s.n), rng, -0.3f, 0.3f);
        const auto b = random_vec(static_cast<std::size_t>(s.n), rng);
        std::vector<float> all(static_cast<std::size_t>(m * s.n));
        ann::decode_kernels::linear_rows(x.data(), w.data(), b.data(), all.data(), m, s.k, s.n, act);
        // Every window [r0, r0 + width) reproduces the same rows bit for bit.
        for (std::int64_t width = 1; width <= 7; ++width)
          for (std::int64_t r0 = 0; r0 + width <= m; r0 += 3) {
            std::vector<float> part(static_cast<std::size_t>(width * s.n));
            ann::decode_kernels::linear_rows(x.data() + r0 * s.k, w.data(), b.data(), part.data(), width, s.k, s.n,
                                             act);
            CHECK(std::memcmp(part.data(), all.data() + r0 * s.n, part.size() * sizeof(float)) == 0);
          }
        const Tensor want = test::run1(test::OpSpec(OpKind::Linear, LinearAttrs{act}),
                                       {tensor({m, s.k}, x), tensor({s.k, s.n}, w), tensor({s.n}, b)});
        double worst = 0.0;
        for (std::size_t i = 0; i < all.size(); ++i)
          worst = std::max(worst, std::abs(static_cast<double>(all[i]) - want.data<float>()[i]) /
                                      std::max(1.0, std::abs(static_cast<double>(want.data<float>()[i]))));
        CHECK(worst <= 1e-5);
      }
    }
  }

  TEST_CASE("decode linear_rows: the vectorised GELU is within 3e-7 of the exact one") {
    // k = 1, w = 1: y = gelu(x) on a grid covering both tails.
    std::vector<float> x;
    for (float v = -12.0f; v <= 12.0f; v += 0.00731f) x.push_back(v);
    for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-6f, 40.0f, -40.0f}) x.push_back(v);
    const float one = 1.0f;
    std::vector<float> y(x.size());
    ann::decode_kernels::linear_rows(x.data(), &one, nullptr, y.data(), static_cast<std::int64_t>(x.size()), 1, 1,
                                     Activation::gelu);
    double worst = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double want = ann::detail::gelu_exact(x[i]);
      worst = std::max(worst, std::abs(y[i] - want) / std::max(1.0, std::abs(static_cast<double>(x[i]))));
    }
    MESSAGE("worst GELU error (relative to max(1, |x|)): " << worst);
    CHECK(worst <= 3e-7);
  }

  TEST_CASE("decode attention_rows: the reference causal Attention within 1e-5 and row-invariant") {
    std::mt19937_64 rng(9);
    for (const std::int64_t d : {32, 8, 12, 5}) {
      for (const std::int64_t nk : {1, 7, 64, 131, 300}) {
        CAPTURE(d);
        CAPTURE(nk);
        const std::int64_t b = 1, h = 3, nq = std::min<std::int64_t>(nk, 6);
        const Tensor q = tensor({b, h, nq, d}, random_vec(static_cast<std::size_t>(b * h * nq * d), rng, -2, 2));
        const Tensor k = tensor({b, h, nk, d}, random_vec(static_cast<std::size_t>(b * h * nk * d), rng, -2, 2));
        const Tensor v = tensor({b, h, nk, d}, random_vec(static_cast<std::size_t>(b * h * nk * d), rng));
        auto run = [&](std::int64_t rows) {  // the last `rows` queries over all keys
          ann::AttentionArgs a;
          a.batch = b;
          a.heads = h;
          a.nq = rows;
          a.nk = nk;
          a.d = d;
          a.dv = d;
          std::vector<float> qs(static_cast<std::size_t>(b * h * rows * d));
          for (std::int64_t x = 0; x < b * h; ++x)
            std::copy_n(q.data<float>() + (x * nq + nq - rows) * d, rows * d, qs.data() + x * rows * d);
          a.q = qs.data();
          a.q_head_stride = rows * d;
          a.k = k.data<float>();
          a.k_head_stride = nk * d;
          a.v = v.data<float>();
          a.v_head_stride = nk * d;
          a.scale = 0.4f;
          a.causal = true;
          std::vector<float> y(static_cast<std::size_t>(b * h * rows * d));
          a.y = y.data();
          ann::decode_kernels::attention_rows(a);
          return y;
        };
        const std::vector<float> all = run(nq);
        // The reference: the queries are the last nq of nk positions, so the causal mask is bottom-right aligned.
        std::vector<bool> attend(static_cast<std::size_t>(nq * nk));
        for (std::int64_t i = 0; i < nq; ++i)
          for (std::int64_t j = 0; j < nk; ++j) attend[static_cast<std::size_t>(i * nk + j)] = j <= nk - nq + i;
        const Tensor want = test::run1(test::OpSpec(OpKind::Attention, AttentionAttrs{0.4f, false}),
                                       {q, k, v, test::boolean({nq, nk}, attend)});
        double worst = 0.0;
        for (std::size_t i = 0; i < all.size(); ++i)
          worst = std::max(worst, std::abs(static_cast<double>(all[i]) - want.data<float>()[i]));
        CHECK(worst <= 1e-5);
        // The last query alone gives the same bits as inside the window.
        const std::vector<float> last = run(1);
        for (std::int64_t x = 0; x < b * h; ++x)
          CHECK(std::memcmp(last.data() + x * d, all.data() + (x * nq + nq - 1) * d, static_cast<std::size_t>(d) * 4) ==
                0);
      }
    }
  }

  TEST_CASE("decode transpose and gather_rows equal the reference Transpose and Gather") {
    std::mt19937_64 rng(1);
    const Shape shape{2, 3, 4, 5};
    const Tensor x = tensor(shape, random_vec(120, rng));
    for (const std::vector<std::int64_t>& perm :
         std::vector<std::vector<std::int64_t>>{{0, 2, 1, 3}, {3, 2, 1, 0}, {1, 0, 3, 2}, {0, 1, 2, 3}, {2, 3, 0, 1}}) {
      const Tensor want = test::run1(test::OpSpec(OpKind::Transpose, TransposeAttrs{perm}), {x});
      Tensor got(DType::f32, want.shape());
      ann::decode_kernels::transpose(x.raw(), x.shape(), perm, got.raw(), sizeof(float));
      CHECK(got.identical(want));
    }
    const Tensor table = tensor({6, 4}, random_vec(24, rng));
    const Tensor index = Tensor::from_vector<std::int64_t>({1, 3}, {5, 0, -1});
    const Tensor want = test::run1(test::OpSpec(OpKind::Gather, AxisAttrs{0}), {table, index});
    Tensor got(DType::f32, want.shape());
    ann::decode_kernels::gather_rows(table.raw(), 6, 16, index.data<std::int64_t>(), 3, got.raw());
    CHECK(got.identical(want));
    const std::int64_t bad = 6;
    CHECK_THROWS_AS(ann::decode_kernels::gather_rows(table.raw(), 6, 16, &bad, 1, got.raw()), ShapeError);
  }
}

}  // namespace
}  // namespace snnconv
