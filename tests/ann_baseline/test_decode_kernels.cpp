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
  TEST_CASE("decode attention_rows: the reference causal Attention within 1e-5 and row-invariant") {
    std::mt19937_64 rng(9);
    for (const std::int64_t d : {32, 8, 12, 5}) {
      for (const std::int64_t nk : {1, 7, 64, 131, 300}) {
        CAPTURE(d);
        CAPTURE(nk);
        const std::int64_t b = 1, h = 3, nq = std::min<std::int64_t>(nk, 13);  // 13: groups of 6, 6, 1
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
        // The last query alone, and the last five (one group of queries, which the whole window cuts
        // differently), give the same bits as inside the window.
        for (const std::int64_t rows : {std::int64_t{1}, std::min<std::int64_t>(nq, 5)}) {
          const std::vector<float> part = run(rows);
          std::size_t differ = 0;
          for (std::int64_t x = 0; x < b * h; ++x)
            differ += std::memcmp(part.data() + x * rows * d, all.data() + (x * nq + nq - rows) * d,
                                  static_cast<std::size_t>(rows * d) * 4) != 0;
          CHECK(differ == 0);
        }
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
