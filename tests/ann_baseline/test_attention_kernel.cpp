// The online-softmax attention kernel against the reference Attention (the definition), as
// test-backend-ops does for ggml: random q, k, v; causal, additive and bool masks; sizes that are not
// multiples of the tiles; decode-shaped queries (Nq < Nk).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>

#include <tbb/task_arena.h>

#include "../../ann_baseline/src/attention_kernel.hpp"
#include "reference_test_util.hpp"
#include "snnconv/ann_baseline/gemm.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv {
namespace {

Tensor random_f32(Shape s, std::mt19937_64& rng, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(DType::f32, std::move(s));
  std::uniform_real_distribution<float> u(lo, hi);
  for (float& x : t.span<float>()) x = u(rng);
  return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0.0;
  const auto x = a.span<float>();
  const auto y = b.span<float>();
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(x[i]) - y[i]));
  return worst;
}

struct Case {
  std::int64_t b, h, nq, nk, d;
  bool causal;
  int mask;  // 0 none, 1 additive [B,1,1,Nk], 2 bool [Nq,Nk]
};

TEST_SUITE("conformance") {
  TEST_CASE("attention_online matches the reference Attention within 1e-5") {
    std::mt19937_64 rng(42);
    const std::vector<Case> cases{
        {1, 1, 1, 1, 4, false, 0},    {2, 3, 5, 5, 8, true, 0},     {1, 2, 17, 17, 16, false, 1},
        {2, 2, 33, 33, 8, true, 0},   {1, 4, 40, 70, 8, false, 2},  {1, 2, 1, 65, 16, true, 0},
        {2, 2, 7, 130, 8, true, 0},   {1, 1, 100, 100, 32, true, 1}, {3, 2, 64, 64, 8, false, 0},
        {1, 2, 70, 129, 12, true, 2},
    };
    for (const Case& c : cases) {
      CAPTURE(c.b);
      CAPTURE(c.h);
      CAPTURE(c.nq);
      CAPTURE(c.nk);
      CAPTURE(c.causal);
      CAPTURE(c.mask);
      const Tensor q = random_f32({c.b, c.h, c.nq, c.d}, rng);
      const Tensor k = random_f32({c.b, c.h, c.nk, c.d}, rng);
      const Tensor v = random_f32({c.b, c.h, c.nk, c.d}, rng);
      std::optional<Tensor> mask;
      if (c.mask == 1) {
        mask = random_f32({c.b, 1, 1, c.nk}, rng, -3.0f, 0.0f);
        mask->data<float>()[0] = -10000.0f;  // a padded key
      } else if (c.mask == 2) {
        std::vector<bool> attend(static_cast<std::size_t>(c.nq * c.nk));
        std::bernoulli_distribution coin(0.7);
        for (std::size_t i = 0; i < attend.size(); ++i) attend[i] = coin(rng) || i % static_cast<std::size_t>(c.nk) == 0;
        mask = test::boolean({c.nq, c.nk}, attend);
      }
      const AttentionAttrs attrs{0.35f, c.causal};
      const Tensor want = test::run1(test::OpSpec(OpKind::Attention, attrs), {q, k, v, mask});
      const Tensor got = ann::attention_online(q, k, v, mask ? &*mask : nullptr, attrs);
      CHECK(max_abs_diff(got, want) <= 1e-5);
    }
  }

  TEST_CASE("attention with steps inside (a QAT export): reference = the unfused chain, two-pass kernel close") {
    // The unfused chain a QAT export holds: MatMul(q, k^T) -> Mul(scale) -> FakeQuant(scores) -> [+ mask] ->
    // Softmax -> FakeQuant(probabilities) -> MatMul(., v), every op by its reference kernel.
    std::mt19937_64 rng(5);
    auto step = [](float s, std::int32_t lo, std::int32_t hi, int bits) {
      QuantParams qp;
      qp.bits = bits, qp.n_min = lo, qp.n_max = hi, qp.scale = {s};
      return qp;
    };
    struct QCase {
      std::int64_t b, h, nq, nk, d;
      bool causal;
      int mask;       // 0 none, 1 additive [B,1,1,Nk]
      int bits;       // 4: scores [-8, 7], probabilities [0, 15]; 8: [-128, 127], [0, 255]
      bool scores, probs;
    };
    const std::vector<QCase> cases{
        {1, 4, 8, 8, 8, false, 0, 4, true, true},   {2, 2, 17, 17, 16, false, 1, 8, true, true},
        {1, 2, 40, 70, 8, true, 0, 4, true, true},  {2, 3, 33, 100, 12, false, 1, 4, true, false},
        {1, 2, 5, 130, 8, true, 0, 8, false, true},
    };
    for (const QCase& c : cases) {
      CAPTURE(c.nq);
      CAPTURE(c.nk);
      CAPTURE(c.causal);
      CAPTURE(c.mask);
      CAPTURE(c.bits);
      const Tensor q = random_f32({c.b, c.h, c.nq, c.d}, rng, -2.0f, 2.0f);
      const Tensor k = random_f32({c.b, c.h, c.nk, c.d}, rng, -2.0f, 2.0f);
      const Tensor v = random_f32({c.b, c.h, c.nk, c.d}, rng);
      std::optional<Tensor> mask;
      if (c.mask == 1) {
        mask = random_f32({c.b, 1, 1, c.nk}, rng, -1.0f, 0.0f);
        mask->data<float>()[1] = -std::numeric_limits<float>::infinity();  // a padded key
      }
      const std::int32_t half = 1 << (c.bits - 1);
      const float scale = 0.4f;
      AttentionAttrs attrs{scale, c.causal};
      if (c.scores) attrs.scores_quant = step(c.bits == 4 ? 0.45f : 0.03f, -half, half - 1, c.bits);
      if (c.probs) attrs.probs_quant = step(1.0f / static_cast<float>(2 * half - 1), 0, 2 * half - 1, c.bits);
      // The chain. Causal: an additive -inf above the shifted diagonal, as torch's masks are.
      Tensor sc = test::run1(test::OpSpec(OpKind::MatMul),
                             {q, test::run1(test::OpSpec(OpKind::Transpose, TransposeAttrs{{0, 1, 3, 2}}), {k})});
      sc = test::run1(test::OpSpec(OpKind::Mul), {sc, test::f32({}, {scale})});
      if (attrs.scores_quant) sc = test::run1(test::OpSpec(OpKind::FakeQuant, NoAttrs{}, 1, attrs.scores_quant), {sc});
      if (mask) sc = test::run1(test::OpSpec(OpKind::Add), {sc, *mask});
      if (c.causal) {
        std::vector<float> tri(static_cast<std::size_t>(c.nq * c.nk), 0.0f);
        for (std::int64_t i = 0; i < c.nq; ++i)
          for (std::int64_t j = i + (c.nk - c.nq) + 1; j < c.nk; ++j)
            tri[static_cast<std::size_t>(i * c.nk + j)] = -std::numeric_limits<float>::infinity();
        sc = test::run1(test::OpSpec(OpKind::Add), {sc, test::f32({c.nq, c.nk}, tri)});
      }
      Tensor p = test::run1(test::OpSpec(OpKind::Softmax, SoftmaxAttrs{-1}), {sc});
      if (attrs.probs_quant) p = test::run1(test::OpSpec(OpKind::FakeQuant, NoAttrs{}, 1, attrs.probs_quant), {p});
      const Tensor chain = test::run1(test::OpSpec(OpKind::MatMul), {p, v});

      const Tensor ref = test::run1(test::OpSpec(OpKind::Attention, attrs), {q, k, v, mask});
      CHECK(ref.identical(chain));  // the same float operations in the same order
      const Tensor fast = ann::attention_online(q, k, v, mask ? &*mask : nullptr, attrs);
      CHECK(max_abs_diff(fast, chain) <= 1e-5);
      // The steps matter: without them the result moves by far more than the tolerance.
      const Tensor plain = ann::attention_online(q, k, v, mask ? &*mask : nullptr, AttentionAttrs{scale, c.causal});
      CHECK(max_abs_diff(plain, chain) > 1e-3);
    }
    // A step that is not one finite positive per-tensor step is refused, not run.
    AttentionAttrs bad{1.0f, false};
    bad.scores_quant = step(0.0f, -8, 7, 4);
    const Tensor q = random_f32({1, 1, 2, 4}, rng);
    CHECK_THROWS_AS(ann::attention_online(q, q, q, nullptr, bad), UnsupportedError);
    CHECK_THROWS(test::run1(test::OpSpec(OpKind::Attention, bad), {q, q, q}));
  }

  TEST_CASE("attention_online runs 3-D [B*H, N, D] operands as [1, B*H, N, D]") {
    std::mt19937_64 rng(11);
    const std::int64_t bh = 6, nq = 19, nk = 23, d = 8, dv = 12;
    const Tensor q = random_f32({bh, nq, d}, rng), k = random_f32({bh, nk, d}, rng), v = random_f32({bh, nk, dv}, rng);
    const Tensor mask = random_f32({nq, nk}, rng, -2.0f, 0.0f);
    const AttentionAttrs attrs{0.3f, false};
    const Tensor got = ann::attention_online(q, k, v, &mask, attrs);
    REQUIRE(got.shape() == Shape{bh, nq, dv});
    const Tensor want = ann::attention_online(q.reshaped({1, bh, nq, d}), k.reshaped({1, bh, nk, d}),
                                              v.reshaped({1, bh, nk, dv}), &mask, attrs);
    CHECK(got.identical(want.reshaped({bh, nq, dv})));
    const Tensor ref = test::run1(test::OpSpec(OpKind::Attention, attrs),
                                  {q.reshaped({1, bh, nq, d}), k.reshaped({1, bh, nk, d}), v.reshaped({1, bh, nk, dv}), mask});
    CHECK(max_abs_diff(got, ref.reshaped({bh, nq, dv})) <= 1e-5);
  }

  TEST_CASE("short-sequence attention (<= 64 keys) gives the tiled kernel's bits, in every layout") {
    // attention_online takes the short kernel for these sizes; attention_tiled is the general one. Same FMA
    // chains, same softmax per row, same query tiles: equal bit for bit (NaN rows: NaN in both).
    std::mt19937_64 rng(11);
    struct Short {
      std::int64_t b, h, nq, nk, d, dv;
      bool causal;
      int mask;  // 0 none, 1 additive [B,1,1,Nk], 2 bool [Nq,Nk], 3 additive with a fully masked row
    };
    const std::vector<Short> cases{
        {64, 4, 17, 17, 16, 16, false, 0}, {2, 3, 5, 5, 8, 8, true, 0},    {1, 2, 1, 64, 16, 16, true, 0},
        {2, 2, 40, 40, 32, 32, true, 1},   {1, 4, 33, 64, 12, 20, false, 2}, {3, 1, 7, 9, 5, 3, false, 3},
        {1, 2, 3, 1, 4, 4, false, 0},      {2, 1, 70, 50, 8, 24, true, 0},  {1, 1, 40, 2, 8, 8, true, 0},
    };
    for (const Short& c : cases) {
      CAPTURE(c.b);
      CAPTURE(c.h);
      CAPTURE(c.nq);
      CAPTURE(c.nk);
      CAPTURE(c.causal);
      CAPTURE(c.mask);
      const Tensor q = random_f32({c.b, c.h, c.nq, c.d}, rng, -2.0f, 2.0f);
      const Tensor k = random_f32({c.b, c.h, c.nk, c.d}, rng, -2.0f, 2.0f);
      const Tensor v = random_f32({c.b, c.h, c.nk, c.dv}, rng);
      Tensor mask;
      if (c.mask == 1 || c.mask == 3) {
        mask = random_f32({c.b, 1, c.mask == 3 ? c.nq : 1, c.nk}, rng, -3.0f, 0.0f);
        if (c.mask == 3)
          for (std::int64_t j = 0; j < c.nk; ++j) mask.data<float>()[c.nk + j] = -std::numeric_limits<float>::infinity();
      } else if (c.mask == 2) {
        std::vector<bool> attend(static_cast<std::size_t>(c.nq * c.nk));
        std::bernoulli_distribution coin(0.7);
        for (std::size_t i = 0; i < attend.size(); ++i) attend[i] = coin(rng);
        mask = test::boolean({c.nq, c.nk}, attend);
      }
      const Tensor* m = c.mask ? &mask : nullptr;
      const AttentionAttrs attrs{0.3f, c.causal};
      // Both kernels through the engine's entry, with q and y in the [B,N,H,D] layout (strided rows).
      const Tensor qs = test::run1(test::OpSpec(OpKind::Transpose, TransposeAttrs{{0, 2, 1, 3}}), {q});
      Tensor y_short, y_tiled;
      ann::attention_online_into(qs, k, v, m, attrs, ann::kLayoutQ | ann::kLayoutY, y_short);
      ann::AttentionArgs a;
      a.batch = c.b, a.heads = c.h, a.nq = c.nq, a.nk = c.nk, a.d = c.d, a.dv = c.dv;
      a.q = qs.data<float>(), a.q_head_stride = c.d, a.q_row_stride = c.h * c.d, a.q_batch_stride = c.nq * c.h * c.d;
      a.k = k.data<float>(), a.k_head_stride = c.nk * c.d;
      a.v = v.data<float>(), a.v_head_stride = c.nk * c.dv;
      y_tiled = Tensor(DType::f32, {c.b, c.nq, c.h, c.dv});
      a.y = y_tiled.data<float>(), a.y_head_stride = c.dv, a.y_row_stride = c.h * c.dv;
      a.y_batch_stride = c.nq * c.h * c.dv;
      a.scale = attrs.scale;
      a.causal = c.causal;
      Tensor additive;
      if (m) {
        additive = m->dtype() == DType::f32 ? *m : Tensor(DType::f32, m->shape());
        if (m->dtype() == DType::boolean)
          for (std::int64_t i = 0; i < m->numel(); ++i)
            additive.data<float>()[i] = m->data<bool>()[i] ? 0.0f : -std::numeric_limits<float>::infinity();
        a.mask = additive.data<float>();
        a.mask_strides = m->rank() == 2 ? std::array<std::int64_t, 4>{0, 0, c.nk, 1}
                                        : std::array<std::int64_t, 4>{additive.dim(2) * c.nk, 0, additive.dim(2) == 1 ? 0 : c.nk, 1};
      }
      ann::attention_tiled(a);
      REQUIRE(y_short.shape() == y_tiled.shape());
      std::int64_t differ = 0;
      for (std::int64_t i = 0; i < y_short.numel(); ++i) {
        const float x = y_short.data<float>()[i], t = y_tiled.data<float>()[i];
        differ += std::isnan(x) || std::isnan(t) ? std::isnan(x) != std::isnan(t) : std::memcmp(&x, &t, sizeof x) != 0;
      }
      CHECK(differ == 0);
      // And the definition, within 1e-5 where it is defined (a row whose keys are all masked has none).
      const Tensor want = test::run1(test::OpSpec(OpKind::Attention, attrs), {q, k, v, c.mask ? std::optional<Tensor>(mask) : std::nullopt});
      const Tensor got = test::run1(test::OpSpec(OpKind::Transpose, TransposeAttrs{{0, 2, 1, 3}}), {y_short});
      double worst = 0.0;
      std::int64_t defined = 0;
      for (std::int64_t i = 0; i < want.numel(); ++i) {
        const float x = got.data<float>()[i], w = want.data<float>()[i];
        if (std::isnan(w)) continue;
        defined += 1;
        worst = std::max(worst, std::isnan(x) ? 1e9 : std::abs(static_cast<double>(x) - w));
      }
      CHECK(defined > 0);
      CHECK(worst <= 1e-5);
    }
  }

  TEST_CASE("long-row attention (65..512 keys): the reference within 1e-5, row-invariant, thread-count invariant") {
    std::mt19937_64 rng(23);
    struct Long {
      std::int64_t b, h, nq, nk, d;
      bool causal;
      bool mask;  // additive [B,1,1,Nk]
    };
    for (const Long& c : std::vector<Long>{{2, 4, 128, 128, 32, true, false}, {1, 3, 70, 197, 16, false, true},
                                           {1, 2, 5, 300, 12, true, false}, {1, 1, 9, 512, 8, false, false}}) {
      CAPTURE(c.nq);
      CAPTURE(c.nk);
      const Tensor q = random_f32({c.b, c.h, c.nq, c.d}, rng, -2.0f, 2.0f);
      const Tensor k = random_f32({c.b, c.h, c.nk, c.d}, rng, -2.0f, 2.0f);
      const Tensor v = random_f32({c.b, c.h, c.nk, c.d}, rng);
      std::optional<Tensor> mask;
      if (c.mask) mask = random_f32({c.b, 1, 1, c.nk}, rng, -3.0f, 0.0f);
      const AttentionAttrs attrs{0.3f, c.causal};
      Tensor one, two;
      tbb::task_arena(1).execute([&] { one = ann::attention_online(q, k, v, mask ? &*mask : nullptr, attrs); });
      tbb::task_arena(2).execute([&] { two = ann::attention_online(q, k, v, mask ? &*mask : nullptr, attrs); });
      CHECK(one.identical(two));
      const Tensor want = test::run1(test::OpSpec(OpKind::Attention, attrs), {q, k, v, mask});
      CHECK(max_abs_diff(one, want) <= 1e-5);
      // The last query alone (a decode step: offset nk - 1) gives the bits it has inside all nq rows.
      Tensor last_q(DType::f32, {c.b, c.h, 1, c.d});
      for (std::int64_t x = 0; x < c.b * c.h; ++x)
        std::copy_n(q.data<float>() + (x * c.nq + c.nq - 1) * c.d, c.d, last_q.data<float>() + x * c.d);
      const Tensor last = ann::attention_online(last_q, k, v, mask ? &*mask : nullptr, attrs);
      for (std::int64_t x = 0; x < c.b * c.h; ++x)
        CHECK(std::memcmp(last.data<float>() + x * c.d, one.data<float>() + (x * c.nq + c.nq - 1) * c.d,
                          static_cast<std::size_t>(c.d) * sizeof(float)) == 0);
    }
  }

  TEST_CASE("attention_online reads strided K/V (a cache with spare capacity) and is repeatable") {
    std::mt19937_64 rng(7);
    const std::int64_t b = 1, h = 2, nq = 3, nk = 75, d = 8, capacity = 128;
    const Tensor q = random_f32({b, h, nq, d}, rng);
    const Tensor kc = random_f32({b, h, capacity, d}, rng);
    const Tensor vc = random_f32({b, h, capacity, d}, rng);
    Tensor k(DType::f32, {b, h, nk, d}), v(DType::f32, {b, h, nk, d});
    for (std::int64_t x = 0; x < h; ++x)
      for (std::int64_t j = 0; j < nk * d; ++j) {
        k.data<float>()[x * nk * d + j] = kc.data<float>()[x * capacity * d + j];
        v.data<float>()[x * nk * d + j] = vc.data<float>()[x * capacity * d + j];
      }
    const AttentionAttrs attrs{0.25f, true};
    const Tensor want = ann::attention_online(q, k, v, nullptr, attrs);
    Tensor got(DType::f32, {b, h, nq, d});
    ann::AttentionArgs a;
    a.batch = b, a.heads = h, a.nq = nq, a.nk = nk, a.d = d, a.dv = d;
    a.q = q.data<float>(), a.q_head_stride = nq * d;
    a.k = kc.data<float>(), a.k_head_stride = capacity * d;
    a.v = vc.data<float>(), a.v_head_stride = capacity * d;
    a.y = got.data<float>();
    a.scale = attrs.scale;
    a.causal = true;
    ann::attention_online(a);
    CHECK(got.identical(want));
    CHECK(ann::attention_online(q, k, v, nullptr, attrs).identical(want));
  }
}

// Rows of scores for the long-row softmax: random, a wide range (scores far below the max give exp below 2^-126
// and the kExpLow cut), one row with a NaN among its live keys.
std::vector<float> long_row_scores(std::int64_t rows, std::int64_t lds, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-30.0f, 30.0f);
  std::vector<float> s(static_cast<std::size_t>(rows * lds) + 16);
  for (float& x : s) x = u(rng);
  if (rows > 3) s[static_cast<std::size_t>(3 * lds + 1)] = std::numeric_limits<float>::quiet_NaN();
  return s;
}

TEST_CASE("long-row softmax: probabilities within 1e-6 of the double softmax, exactly 0 past each row's limit") {
  std::mt19937_64 rng(11);
  for (const auto& [rows, keys, limit0, causal] : std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t, bool>>{
           {8, 128, 121, true}, {8, 128, -3, true}, {5, 300, 0, false}, {7, 77, 70, true}, {4, 512, 0, false}}) {
    CAPTURE(keys);
    CAPTURE(limit0);
    const std::int64_t lds = (keys + 15) / 16 * 16;
    const float scale = 0.7f;
    ann::gemm::AlignedFloats s(static_cast<std::size_t>(rows * lds));
    const std::vector<float> in = long_row_scores(rows, lds, rng);
    std::copy_n(in.begin(), s.size(), s.begin());
    std::vector<float> inv(static_cast<std::size_t>(rows));
    ann::softmax_long_rows_avx2(s.data(), lds, rows, keys, limit0, causal, scale, inv.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      CAPTURE(r);
      const std::int64_t limit = causal ? std::clamp<std::int64_t>(limit0 + r, 0, keys) : keys;
      const float* in_r = in.data() + r * lds;
      const float* p = s.data() + r * lds;
      if (limit == 0 || std::any_of(in_r, in_r + limit, [](float x) { return std::isnan(x); })) {
        CHECK(std::isnan(inv[static_cast<std::size_t>(r)]));  // no softmax defined, or a NaN score
        continue;
      }
      double m = -1e300, sum = 0.0, worst = 0.0;
      for (std::int64_t j = 0; j < limit; ++j) m = std::max(m, double{in_r[j] * scale});
      for (std::int64_t j = 0; j < limit; ++j) sum += std::exp(double{in_r[j] * scale} - m);
      for (std::int64_t j = 0; j < limit; ++j)
        worst = std::max(worst, std::abs(double{p[j]} * inv[static_cast<std::size_t>(r)] - std::exp(double{in_r[j] * scale} - m) / sum));
      CHECK(worst <= 1e-6);
      std::int64_t nonzero = 0;
      for (std::int64_t j = limit; j < lds; ++j) nonzero += p[j] != 0.0f;
      CHECK(nonzero == 0);
    }
  }
}

TEST_CASE("long-row softmax, AVX-512: the AVX2 form's bits (needs AVX-512)") {
  if (detected_isa() < Isa::avx512) {
    MESSAGE("skipped: this CPU has no AVX-512 (ctest ann_kernels_avx512 reports the skip)");
    return;
  }
  std::mt19937_64 rng(12);
  for (std::int64_t keys : {65, 72, 100, 128, 129, 197, 300, 512})
    for (const auto& [limit0, causal] : std::vector<std::pair<std::int64_t, bool>>{{0, false}, {keys - 7, true},
                                                                                 {keys / 2 - 3, true}, {-2, true}}) {
      CAPTURE(keys);
      CAPTURE(limit0);
      const std::int64_t rows = 8, lds = (keys + 15) / 16 * 16;
      const std::vector<float> in = long_row_scores(rows, lds, rng);
      ann::gemm::AlignedFloats a(static_cast<std::size_t>(rows * lds)), b(a.size());
      std::copy_n(in.begin(), a.size(), a.begin());
      std::copy_n(in.begin(), b.size(), b.begin());
      std::vector<float> inv_a(rows), inv_b(rows);
      ann::softmax_long_rows_avx2(a.data(), lds, rows, keys, limit0, causal, 0.3f, inv_a.data());
      ann::attention_avx512::softmax_long_rows(b.data(), lds, rows, keys, limit0, causal, 0.3f, inv_b.data());
      std::int64_t differ = 0;
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t j = 0; j < keys; ++j)
          differ += std::memcmp(&a[static_cast<std::size_t>(r * lds + j)], &b[static_cast<std::size_t>(r * lds + j)], 4) != 0;
        differ += std::memcmp(&inv_a[static_cast<std::size_t>(r)], &inv_b[static_cast<std::size_t>(r)], 4) != 0;
      }
      CHECK(differ == 0);
    }
}

TEST_CASE("row attention products, AVX-512: each element the scalar FMA chain bit for bit (needs AVX-512)") {
  // What makes the AVX-512 row kernel give the AVX2 one's bits: both compute every score and output element as
  // this chain (the AVX2 side is pinned to it through attention_tiled in the short-row test above).
  if (detected_isa() < Isa::avx512) {
    MESSAGE("skipped: this CPU has no AVX-512 (ctest ann_kernels_avx512 reports the skip)");
    return;
  }
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const auto& [rows, d, keys, dv] : std::vector<std::array<std::int64_t, 4>>{{17, 16, 17, 16}, {32, 32, 128, 32},
                                                                                  {7, 5, 70, 20}, {9, 64, 200, 64}}) {
    const std::int64_t ldk = (keys + 15) / 16 * 16;
    ann::gemm::AlignedFloats q(static_cast<std::size_t>(rows * d)), kt(static_cast<std::size_t>(d * ldk), 0.0f);
    ann::gemm::AlignedFloats s(static_cast<std::size_t>(rows * ldk)), v(static_cast<std::size_t>(keys * dv));
    ann::gemm::AlignedFloats y(static_cast<std::size_t>(rows * dv));
    std::vector<float> inv(static_cast<std::size_t>(rows));
    for (float& x : q) x = u(rng);
    for (std::int64_t e = 0; e < d; ++e)
      for (std::int64_t j = 0; j < keys; ++j) kt[static_cast<std::size_t>(e * ldk + j)] = u(rng);
    for (float& x : v) x = u(rng);
    for (float& x : inv) x = 1.0f + u(rng);
    ann::attention_avx512::scores(q.data(), d, rows, d, kt.data(), ldk, ldk, s.data(), ldk);
    std::int64_t differ = 0;
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < keys; ++j) {
        float acc = 0.0f;
        for (std::int64_t e = 0; e < d; ++e) acc = std::fma(q[static_cast<std::size_t>(r * d + e)], kt[static_cast<std::size_t>(e * ldk + j)], acc);
        differ += std::memcmp(&acc, &s[static_cast<std::size_t>(r * ldk + j)], sizeof acc) != 0;
      }
    ann::attention_avx512::probs_times_v(s.data(), ldk, rows, keys, v.data(), dv, dv, inv.data(), y.data(), dv);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < dv; ++c) {
        float acc = 0.0f;
        for (std::int64_t j = 0; j < keys; ++j) acc = std::fma(s[static_cast<std::size_t>(r * ldk + j)], v[static_cast<std::size_t>(j * dv + c)], acc);
        const float want = (0.0f + acc) * inv[static_cast<std::size_t>(r)];
        differ += std::memcmp(&want, &y[static_cast<std::size_t>(r * dv + c)], sizeof want) != 0;
      }
    CAPTURE(keys);
    CHECK(differ == 0);
  }
}

}  // namespace
}  // namespace snnconv
