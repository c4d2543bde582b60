// The SNN engine's kernels (snn_core/src/kernels.hpp) against their references: every instruction-set
// variant of the event row adds and of the event-matrix GEMM gives the reference's integers, and the row
// forms of the current functions give ann::linear_value / grouped_linear_value / product_value bit for bit.
#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <random>

#include "graph_builder.hpp"
#include "kernels.hpp"
#include "unit_diff.hpp"
#include "unit_movement.hpp"
#include "prologue_conv.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv {
namespace {

std::vector<snn::Kernels> variants() {
  std::vector<snn::Kernels> v{snn::detail::avx2_kernels()};
  if (detected_isa() >= Isa::avx512_vnni) v.push_back(snn::detail::avx512_kernels());
  return v;
}

// Two runs of a fire kernel (a fast one against the reference) left the same counts, targets, fired chunks,
// tallies and events, in the same order.
template <typename Run> void check_same_fire(const Run& a, const Run& b) {
  CHECK(b.count == a.count);
  CHECK(b.target == a.target);
  CHECK(b.fired == a.fired);
  CHECK(b.remaining == a.remaining);
  CHECK(b.tally.pos == a.tally.pos);
  CHECK(b.tally.neg == a.tally.neg);
  bool same_events = b.events.size() == a.events.size();
  for (std::size_t e = 0; same_events && e < a.events.size(); ++e)
    same_events = a.events[e].index == b.events[e].index && a.events[e].delta == b.events[e].delta;
  CHECK(same_events);
}

// From rest (from_rest), a marked row's counts after the step are a function of its targets alone: the target in
// burst mode, its sign in strict mode. Returns the number of marked neurons whose count is not.
int off_from_rest(const std::vector<std::int32_t>& count, const std::vector<std::int32_t>& target,
                  const std::vector<std::int32_t>& rows, std::int64_t w, bool burst) {
  int off = 0;
  for (std::int32_t r : rows)
    for (std::int64_t j = 0; j < w; ++j) {
      const auto i = static_cast<std::size_t>(r * w + j);
      const std::int32_t t = target[i];
      off += count[i] != (burst ? t : (t > 0) - (t < 0));
    }
  return off;
}

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("event row adds: every instruction set equals the reference") {
    std::mt19937_64 rng(11);
    const snn::Kernels ref = snn::reference_kernels();
    int cases = 0;
    for (std::int64_t n : {1, 7, 8, 16, 17, 64, 100}) {
      for (std::int64_t k : {1, 5, 64}) {
        const std::int64_t rows = 6;
        std::uniform_int_distribution<int> wd(-128, 127);
        std::vector<std::int8_t> w(static_cast<std::size_t>(k * n));
        for (auto& x : w) x = static_cast<std::int8_t>(wd(rng));
        std::uniform_int_distribution<std::int32_t> idx(0, static_cast<std::int32_t>(rows * k - 1));
        for (int burst = 0; burst < 2; ++burst) {
          std::uniform_int_distribution<std::int32_t> dd(-300, 300);
          std::vector<snn::Event> events(40);
          for (auto& e : events) e = {idx(rng), burst ? dd(rng) : (rng() % 2 ? 1 : -1)};
          std::vector<std::int32_t> expect(static_cast<std::size_t>(rows * n), 5);
          const std::int64_t j0 = n > 3 ? 1 : 0, j1 = n > 3 ? n - 1 : n;
          ref.add_events(expect.data(), w.data(), snn::FastDiv(k), n, events.data(), events.size(), j0, j1);
          for (const snn::Kernels& kern : variants()) {
            std::vector<std::int32_t> got(static_cast<std::size_t>(rows * n), 5);
            kern.add_events(got.data(), w.data(), snn::FastDiv(k), n, events.data(), events.size(), j0, j1);
            CAPTURE(isa_name(kern.isa));
            CAPTURE(n);
            CAPTURE(k);
            CHECK(got == expect);
            ++cases;
          }
        }
      }
    }
    CHECK(cases >= 42);
  }

  TEST_CASE("event-matrix GEMM: every instruction set equals the reference and the plain sum") {
    std::mt19937_64 rng(12);
    const snn::Kernels ref = snn::reference_kernels();
    for (std::int64_t n : {3, 16, 40, 64, 130}) {
      for (std::int64_t k : {1, 6, 64, 77}) {
        for (std::int64_t rows : {1, 3, 4, 9}) {
          std::uniform_int_distribution<int> wd(-128, 127);
          std::vector<std::int8_t> w(static_cast<std::size_t>(k * n));
          for (auto& x : w) x = static_cast<std::int8_t>(wd(rng));
          const std::vector<std::int8_t> packed = snn::pack_weights(w.data(), k, n);
          const std::int64_t kp = snn::padded_k(k), nb = snn::column_blocks(n);
          for (const snn::Kernels& kern : variants()) {
            const int c = kern.max_code / 2;
            std::uniform_int_distribution<int> dd(-c, c);
            std::vector<std::uint8_t> codes(static_cast<std::size_t>(rows * kp), static_cast<std::uint8_t>(c));
            std::vector<std::int32_t> deltas(static_cast<std::size_t>(rows * k), 0);
            for (std::int64_t r = 0; r < rows; ++r)
              for (std::int64_t kk = 0; kk < k; ++kk)
                if (rng() % 3 == 0) {
                  const int d = dd(rng);
                  deltas[static_cast<std::size_t>(r * k + kk)] = d;
                  codes[static_cast<std::size_t>(r * kp + kk)] = static_cast<std::uint8_t>(c + d);
                }
            std::vector<std::int32_t> corr(static_cast<std::size_t>(nb * snn::kPackCols), 0);
            for (std::int64_t j = 0; j < n; ++j) {
              std::int32_t sum = 0;
              for (std::int64_t kk = 0; kk < k; ++kk) sum += w[static_cast<std::size_t>(kk * n + j)];
              corr[static_cast<std::size_t>(j)] = c * sum;
            }
            std::vector<std::int32_t> plain(static_cast<std::size_t>(rows * n), -3), a(plain), b(plain);
            for (std::int64_t r = 0; r < rows; ++r)
              for (std::int64_t j = 0; j < n; ++j)
                for (std::int64_t kk = 0; kk < k; ++kk)
                  plain[static_cast<std::size_t>(r * n + j)] +=
                      deltas[static_cast<std::size_t>(r * k + kk)] * w[static_cast<std::size_t>(kk * n + j)];
            std::vector<std::int32_t*> ra(static_cast<std::size_t>(rows)), rb(static_cast<std::size_t>(rows));
            for (std::int64_t r = 0; r < rows; ++r) {
              ra[static_cast<std::size_t>(r)] = a.data() + r * n;
              rb[static_cast<std::size_t>(r)] = b.data() + r * n;
            }
            ref.gemm_codes(codes.data(), rows, kp, packed.data(), corr.data(), ra.data(), n, 0, nb);
            // The variant in two column ranges, as the threads split it.
            const std::int64_t mid = nb / 2;
            kern.gemm_codes(codes.data(), rows, kp, packed.data(), corr.data(), rb.data(), n, 0, mid);
            kern.gemm_codes(codes.data(), rows, kp, packed.data(), corr.data(), rb.data(), n, mid, nb);
            CAPTURE(isa_name(kern.isa));
            CAPTURE(n);
            CAPTURE(k);
            CAPTURE(rows);
            CHECK(a == plain);
            CHECK(b == plain);
          }
        }
      }
    }
  }

  TEST_CASE("quantize_row: every instruction set equals quantize_level bit for bit, NaN and infinities too") {
    std::mt19937_64 rng(14);
    std::vector<float> x;
    for (float v : {0.0f, -0.0f, 0.5f, -0.5f, 0.25f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(), 3.9999f,
                    -4.0f, 4.0f, 1e-40f})
      x.push_back(v);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    while (x.size() < 1000) x.push_back(nd(rng));
    // Exact ties of the rounding: multiples of s/2.
    for (int i = -40; i <= 40; ++i) x.push_back(0.0625f * static_cast<float>(i));
    int differing = 0, cases = 0;
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu, Activation::gelu_tanh, Activation::tanh,
                            Activation::silu})
      for (float s : {0.125f, 0.0370f, 1.0f})
        for (auto [lo, hi] : {std::pair{-8, 7}, std::pair{0, 15}, std::pair{-128, 127}})
          for (const snn::Kernels& kern : variants()) {
            std::vector<std::int32_t> got(x.size());
            // An odd length and an offset: the tails of every vector width.
            kern.quantize_row(x.data() + 1, static_cast<std::int64_t>(x.size()) - 1, act, s, lo, hi, got.data() + 1);
            for (std::size_t j = 1; j < x.size(); ++j) differing += got[j] != ann::quantize_level(x[j], act, s, lo, hi);
            ++cases;
          }
    CHECK(cases == 6 * 3 * 3 * static_cast<int>(variants().size()));
    CHECK(differing == 0);
  }

  TEST_CASE("settle and fire: every instruction set equals the reference (strict and burst)") {
    std::mt19937_64 rng(15);
    const snn::Kernels ref = snn::reference_kernels();
    for (std::int64_t n : {1, 7, 8, 15, 16, 33, 64, 100}) {
      for (bool burst : {false, true}) {
        std::uniform_int_distribution<int> d(-9, 9);
        std::vector<std::int32_t> level(static_cast<std::size_t>(n)), count(level.size());
        for (std::size_t j = 0; j < level.size(); ++j) {
          level[j] = d(rng);
          count[j] = rng() % 3 == 0 ? level[j] : d(rng);
        }
        std::vector<std::int32_t> t_ref(level.size(), 9), c_ref = count;
        const bool differs = ref.settle(level.data(), t_ref.data(), count.data(), n);
        std::vector<snn::Event> e_ref(level.size());
        snn::FireTally f_ref;
        const std::int64_t n_ref = ref.fire(c_ref.data(), t_ref.data(), n, 500, burst, e_ref.data(), f_ref);
        for (const snn::Kernels& kern : variants()) {
          std::vector<std::int32_t> t(level.size(), 9), c = count;
          CHECK(kern.settle(level.data(), t.data(), count.data(), n) == differs);
          CHECK(t == t_ref);
          std::vector<snn::Event> e(level.size() + 16, snn::Event{-1, -1});
          snn::FireTally f;
          const std::int64_t got = kern.fire(c.data(), t.data(), n, 500, burst, e.data(), f);
          CAPTURE(isa_name(kern.isa));
          CAPTURE(n);
          CAPTURE(burst);
          REQUIRE(got == n_ref);
          CHECK(c == c_ref);
          int differing = 0;
          for (std::int64_t k = 0; k < got; ++k)
            differing += e[static_cast<std::size_t>(k)].index != e_ref[static_cast<std::size_t>(k)].index ||
                         e[static_cast<std::size_t>(k)].delta != e_ref[static_cast<std::size_t>(k)].delta;
          CHECK(differing == 0);
          CHECK(e[static_cast<std::size_t>(got)].index == -1);  // nothing written past the events
          CHECK(f.pos == f_ref.pos);
          CHECK(f.neg == f_ref.neg);
          CHECK(f.remaining == f_ref.remaining);
        }
      }
    }
  }

  TEST_CASE("FastDiv equals integer division and add_scaled_row equals the reference") {
    std::mt19937_64 rng(16);
    int wrong = 0;
    for (std::int64_t d : {1, 2, 3, 7, 16, 17, 64, 197, 768, 3072, 65536, 1000003, 2147483647}) {
      const snn::FastDiv f(d);
      std::vector<std::int64_t> ns{0, 1, d - 1, d, d + 1, 2147483647, 4294967295};
      for (int i = 0; i < 2000; ++i) ns.push_back(static_cast<std::int64_t>(rng() % 4294967296ull));
      for (std::int64_t n : ns) wrong += f.div(n) != n / d || f.mod(n) != n % d;
    }
    CHECK(wrong == 0);
    const snn::Kernels ref = snn::reference_kernels();
    for (std::int64_t n : {1, 5, 16, 17, 40}) {
      std::vector<std::int32_t> src(static_cast<std::size_t>(n)), a(src.size());
      for (std::size_t j = 0; j < src.size(); ++j) {
        src[j] = static_cast<std::int32_t>(rng() % 255) - 127;
        a[j] = static_cast<std::int32_t>(rng() % 100000) - 50000;
      }
      std::vector<std::int32_t> expect = a;
      ref.add_scaled_row(expect.data(), src.data(), -7, n);
      for (const snn::Kernels& kern : variants()) {
        std::vector<std::int32_t> got = a;
        kern.add_scaled_row(got.data(), src.data(), -7, n);
        CHECK(got == expect);
      }
    }
  }

  TEST_CASE("diff_row: LayerNorm and softmax rows of every instruction set equal whole_vector_row bit for bit") {
    std::mt19937_64 rng(23);
    int rows = 0, wrong = 0;
    for (std::int64_t cols : {1, 3, 16, 17, 33, 64, 100}) {
      std::vector<float> gamma(static_cast<std::size_t>(cols)), beta(gamma.size());
      for (std::size_t j = 0; j < gamma.size(); ++j) {
        gamma[j] = static_cast<float>(static_cast<double>(rng() % 2000) / 997.0 - 1.0);
        beta[j] = static_cast<float>(static_cast<double>(rng() % 2000) / 1499.0 - 0.7);
      }
      // Counts of 4-bit and 9-bit populations, wide ones past the table's cap, and (LayerNorm) ones too large
      // for the int32 form: those rows take the reference's way.
      for (std::int32_t bound : {7, 300, 100000, 400000000}) {
        for (float s : {0.05f, 0.7f, 3.1f}) {
          std::vector<std::int32_t> table;
          bool ends_zero = false;
          const std::int64_t span = std::min<std::int64_t>(2 * std::int64_t{bound} + 1, snn::kSoftmaxTableMax);
          for (std::int64_t k = 0; k < span && !ends_zero; ++k) {
            table.push_back(static_cast<std::int32_t>(ann::softmax_weight(k, s)));
            ends_zero = table.back() == 0;
          }
          for (int rep = 0; rep < 6; ++rep) {
            std::vector<std::int32_t> q(static_cast<std::size_t>(cols));
            const std::int64_t spread = rep % 3 == 0 ? 2 : 2 * std::int64_t{bound} + 1;
            for (auto& x : q) x = static_cast<std::int32_t>(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(spread)) - std::min<std::int64_t>(bound, spread / 2));
            // (The reference softmax tabulates its weights up to the row's span: not for spans of 8e8.)
            for (int fn = 0; fn < (bound > 100000 ? 1 : 2); ++fn) {
              for (std::int64_t valid : {std::int64_t{-1}, std::int64_t{0}, std::int64_t{1}, cols / 2 + 1}) {
                snn::DiffRow p;
                p.fn = fn == 0 ? DiffUnitAttrs::Fn::layer_norm : DiffUnitAttrs::Fn::softmax;
                p.s = s;
                p.cols = cols;
                p.epsilon = 1e-5f;
                p.eps_term = ann::layer_norm_eps_term(cols, p.epsilon, s);
                p.gamma = gamma.data();
                p.beta = rep % 2 == 0 ? beta.data() : nullptr;
                // A table cut short (rep 5) sends rows whose span passes it to the reference.
                p.table = table.data();
                p.table_len = rep == 5 ? std::min<std::int64_t>(3, static_cast<std::int64_t>(table.size())) : static_cast<std::int64_t>(table.size());
                p.ends_zero = rep == 5 ? table[static_cast<std::size_t>(p.table_len - 1)] == 0 : ends_zero;
                std::vector<float> expect(static_cast<std::size_t>(cols), 7.0f);
                ann::whole_vector_row(p.fn, q.data(), s, cols, p.epsilon, p.gamma, p.beta, expect.data(),
                                      fn == 0 ? -1 : valid, nullptr);
                std::vector<snn::Kernels> all = variants();
                all.push_back(snn::reference_kernels());
                for (const snn::Kernels& kern : all) {
                  std::vector<float> got(expect.size(), 7.0f);
                  kern.diff_row(p, q.data(), got.data(), fn == 0 ? -1 : valid);
                  for (std::size_t j = 0; j < got.size(); ++j) wrong += bits_of(got[j]) != bits_of(expect[j]);
                  ++rows;
                }
              }
            }
          }
        }
      }
    }
    CHECK(rows > 0);
    CHECK(wrong == 0);
  }

  TEST_CASE("matmul_i32: every instruction set equals the reference") {
    std::mt19937_64 rng(17);
    const snn::Kernels ref = snn::reference_kernels();
    for (std::int64_t m : {1, 5, 17}) {
      for (std::int64_t k : {1, 16, 33}) {
        for (std::int64_t n : {1, 16, 17, 31, 32, 64, 70, 197}) {
          std::vector<std::int32_t> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
          for (auto& x : a) x = rng() % 3 == 0 ? 0 : static_cast<std::int32_t>(rng() % 31) - 15;
          for (auto& x : b) x = static_cast<std::int32_t>(rng() % 255) - 127;
          std::vector<std::int32_t> expect(static_cast<std::size_t>(m * n), 99);
          ref.matmul_i32(a.data(), b.data(), expect.data(), m, k, n);
          for (const snn::Kernels& kern : variants()) {
            std::vector<std::int32_t> got(expect.size(), -99);
            kern.matmul_i32(a.data(), b.data(), got.data(), m, k, n);
            CAPTURE(isa_name(kern.isa));
            CAPTURE(m);
            CAPTURE(k);
            CAPTURE(n);
            CHECK(got == expect);
          }
        }
      }
    }
  }

  TEST_CASE("matmul_i16: every instruction set that has it equals matmul_i32's reference") {
    std::mt19937_64 rng(19);
    const snn::Kernels ref = snn::reference_kernels();
    int checked = 0;
    for (std::int64_t m : {1, 3, 4, 9, 17}) {
      for (std::int64_t k : {1, 2, 15, 16, 33, 64}) {
        for (std::int64_t n : {1, 16, 17, 32, 50, 128}) {
          // Counts of A8 strict and burst, and the int16 extremes where k keeps the sums within int32.
          const std::int32_t top = k <= 2 ? 32767 : 255;
          std::vector<std::int32_t> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
          for (auto& x : a) x = rng() % 3 == 0 ? 0 : static_cast<std::int32_t>(rng() % (2 * top + 1)) - top;
          for (auto& x : b) x = static_cast<std::int32_t>(rng() % (2 * top + 1)) - top;
          std::vector<std::int32_t> expect(static_cast<std::size_t>(m * n), 99);
          ref.matmul_i32(a.data(), b.data(), expect.data(), m, k, n);
          for (const snn::Kernels& kern : variants()) {
            if (!kern.matmul_i16) continue;
            std::vector<std::int32_t> pack(static_cast<std::size_t>(snn::matmul_i16_pack_words(m, k, n)), -7);
            std::vector<std::int32_t> got(expect.size(), -99);
            kern.matmul_i16(a.data(), b.data(), got.data(), m, k, n, pack.data());
            CAPTURE(isa_name(kern.isa));
            CAPTURE(m);
            CAPTURE(k);
            CAPTURE(n);
            CHECK(got == expect);
            ++checked;
          }
        }
      }
    }
    MESSAGE("matmul_i16 variants checked: " << checked);
  }

  TEST_CASE("row currents equal linear_value, grouped_linear_value, product_value and sum_value bit for bit") {
    std::mt19937_64 rng(13);
    std::uniform_real_distribution<float> sd(1e-4f, 0.5f), bd(-3.0f, 3.0f);
    std::uniform_int_distribution<std::int64_t> ad(-(std::int64_t{1} << 40), std::int64_t{1} << 40);
    std::uniform_int_distribution<std::int32_t> a32(-5000000, 5000000);
    const std::int64_t n = 37, groups = 3;
    std::vector<float> s_w(static_cast<std::size_t>(groups * n)), in_step(s_w.size()), bias(static_cast<std::size_t>(n));
    int differing = 0;
    for (int rep = 0; rep < 200; ++rep) {
      const float s_in = sd(rng);
      for (std::size_t i = 0; i < s_w.size(); ++i) {
        s_w[i] = sd(rng);
        in_step[i] = s_in * s_w[i];
      }
      for (float& b : bias) b = bd(rng);
      std::vector<std::int64_t> acc64(s_w.size());
      std::vector<std::int32_t> acc32(s_w.size());
      for (std::size_t i = 0; i < acc64.size(); ++i) {
        acc64[i] = rep % 2 ? ad(rng) : a32(rng);
        acc32[i] = a32(rng);
      }
      std::vector<float> out(static_cast<std::size_t>(n));
      snn::linear_row(acc64.data(), in_step.data(), bias.data(), n, out.data());
      for (std::int64_t j = 0; j < n; ++j)
        differing += bits_of(out[static_cast<std::size_t>(j)]) !=
                     bits_of(ann::linear_value(acc64[static_cast<std::size_t>(j)], s_in, s_w[static_cast<std::size_t>(j)], bias[static_cast<std::size_t>(j)]));
      snn::linear_row(acc32.data(), in_step.data(), bias.data(), n, out.data());
      for (std::int64_t j = 0; j < n; ++j)
        differing += bits_of(out[static_cast<std::size_t>(j)]) !=
                     bits_of(ann::linear_value(acc32[static_cast<std::size_t>(j)], s_in, s_w[static_cast<std::size_t>(j)], bias[static_cast<std::size_t>(j)]));
      snn::grouped_row(acc64.data(), in_step.data(), bias.data(), groups, n, n, out.data());
      for (std::int64_t j = 0; j < n; ++j)
        differing += bits_of(out[static_cast<std::size_t>(j)]) !=
                     bits_of(ann::grouped_linear_value(acc64.data() + j, s_w.data() + j, groups, n, s_in, bias[static_cast<std::size_t>(j)]));
      std::vector<std::int32_t> qb(acc32.size());
      for (auto& q : qb) q = static_cast<std::int32_t>(rng() % 255) - 127;
      snn::sum_row(acc32.data(), s_in, qb.data(), s_w[1], n, out.data());
      for (std::int64_t j = 0; j < n; ++j)
        differing += bits_of(out[static_cast<std::size_t>(j)]) !=
                     bits_of(ann::sum_value(acc32[static_cast<std::size_t>(j)], s_in, qb[static_cast<std::size_t>(j)], s_w[1]));
      const float ab = s_in * s_w[0];
      snn::product_row(acc64.data(), ab, n, out.data());
      for (std::int64_t j = 0; j < n; ++j)
        differing += bits_of(out[static_cast<std::size_t>(j)]) != bits_of(ann::product_value(acc64[static_cast<std::size_t>(j)], s_in, s_w[0]));
    }
    CHECK(differing == 0);
  }
  TEST_CASE("ordered prologue Conv equals the reference Conv bit for bit, padded and grouped ones are left to it") {
    std::mt19937_64 rng(29);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    struct Case {
      std::int64_t c, h, w, m, kh, kw, sh, sw;
      bool bias;
    };
    // A ViT patch embedding (fashion_vit: 1 x 28 x 28, 64 maps, 7 x 7 stride 7), overlapping strides, odd sizes.
    for (const Case& k : {Case{1, 28, 28, 64, 7, 7, 7, 7, true}, Case{3, 13, 11, 21, 3, 2, 2, 1, true},
                          Case{2, 9, 9, 17, 4, 4, 4, 4, false}}) {
      Graph g;
      const ValueId x = test::input(g, "x", DType::f32, {1, k.c, k.h, k.w});
      std::vector<float> w(static_cast<std::size_t>(k.m * k.c * k.kh * k.kw)), b(static_cast<std::size_t>(k.m));
      for (float& v : w) v = nd(rng);
      for (float& v : b) v = nd(rng);
      std::vector<ValueId> ins{x, g.add_constant("W", Tensor::from_vector<float>({k.m, k.c, k.kh, k.kw}, w))};
      if (k.bias) ins.push_back(g.add_constant("b", Tensor::from_vector<float>({k.m}, b)));
      ConvAttrs at;
      at.strides = {k.sh, k.sw};
      test::node(g, OpKind::Conv, ins, at, 1, "conv");
      const NodeId id(0);
      const std::optional<snn::OrderedConv> fast = snn::plan_ordered_conv(g, id);
      REQUIRE(fast.has_value());
      std::uint64_t differing = 0, compared = 0;
      for (int rep = 0; rep < 4; ++rep) {
        std::vector<float> xv(static_cast<std::size_t>(k.c * k.h * k.w));
        for (float& v : xv) v = rep == 3 ? std::round(nd(rng) * 8.0f) : nd(rng) * 100.0f;
        const Tensor xt = Tensor::from_vector<float>({1, k.c, k.h, k.w}, xv);
        std::vector<const Tensor*> args{&xt, &*g.value(ins[1]).constant};
        if (k.bias) args.push_back(&*g.value(ins[2]).constant);
        const Tensor ref = ann::evaluate_reference(g, id, args).at(0);
        const std::optional<Tensor> got = snn::run_ordered_conv(*fast, xt);
        REQUIRE(got.has_value());
        REQUIRE(got->shape() == ref.shape());
        for (std::int64_t i = 0; i < ref.numel(); ++i, ++compared)
          differing += bits_of(got->data<float>()[i]) != bits_of(ref.data<float>()[i]);
      }
      CHECK(compared > 0);
      CHECK(differing == 0);
      // An input that does not fit is left to the reference (which names the error).
      CHECK_FALSE(snn::run_ordered_conv(*fast, Tensor::from_vector<float>({1, k.c + 1, k.h, k.w}, std::vector<float>(static_cast<std::size_t>((k.c + 1) * k.h * k.w)))).has_value());
    }
    // Padding and groups stay on the reference kernel.
    for (int variant = 0; variant < 2; ++variant) {
      Graph g;
      const ValueId x = test::input(g, "x", DType::f32, {1, 2, 8, 8});
      const ValueId w = g.add_constant("W", Tensor::from_vector<float>({2, variant == 0 ? 2 : 1, 3, 3}, std::vector<float>(variant == 0 ? 36 : 18, 1.0f)));
      ConvAttrs at;
      if (variant == 0) at.pads = {1, 1, 1, 1};
      else at.group = 2;
      test::node(g, OpKind::Conv, {x, w}, at, 1, "conv");
      CHECK_FALSE(snn::plan_ordered_conv(g, NodeId(0)).has_value());
    }
  }
  TEST_CASE("eval_fire_rows: every instruction set gives the reference's targets, counts, events, fired chunks and tallies") {
    std::mt19937_64 rng(41);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    const snn::Kernels ref = snn::reference_kernels();
    int checked = 0;
    for (const snn::Kernels& k : variants())
      for (Activation act : {Activation::none, Activation::relu, Activation::gelu, Activation::silu})
        for (bool burst : {false, true})
          for (std::int64_t w : {std::int64_t{17}, std::int64_t{37}, std::int64_t{64}, std::int64_t{200}})
            for (bool runs : {false, true})  // runs: consecutive rows, which the AVX-512 kernel sweeps flat
            for (bool from_rest : {false, true}) {  // from rest: the counts' stale values are never read
            CAPTURE(static_cast<int>(act));
            CAPTURE(from_rest);
            CAPTURE(burst);
            CAPTURE(w);
            CAPTURE(runs);
            const std::int64_t total_rows = 6;
            const std::vector<std::int32_t> rows = runs ? std::vector<std::int32_t>{1, 2, 3, 0, 4, 5} : std::vector<std::int32_t>{4, 1, 5, 2};
            const auto nrows = static_cast<std::int64_t>(rows.size());
            const float s = 0.37f;
            const std::int32_t n_min = -8, n_max = 7;
            std::vector<float> cur(static_cast<std::size_t>(nrows * w));
            for (float& v : cur) v = nd(rng);
            std::vector<std::int32_t> count(static_cast<std::size_t>(total_rows * w)), target(count.size());
            for (std::size_t i = 0; i < count.size(); ++i) {
              // Some counts already at their level (so whole chunks stay silent), others off by several levels.
              count[i] = rng() % 3 == 0 ? ann::quantize_level(cur[i % cur.size()], act, s, n_min, n_max)
                                        : static_cast<std::int32_t>(rng() % 16) - 8;
              target[i] = static_cast<std::int32_t>(rng() % 16) - 8;
            }
            if (w == 64)  // one row entirely at its levels: no chunk of it fires
              for (std::int64_t j = 0; j < w; ++j)
                count[static_cast<std::size_t>(rows[0] * w + j)] = ann::quantize_level(cur[static_cast<std::size_t>(j)], act, s, n_min, n_max);
            struct Run {
              std::vector<std::int32_t> count, target, fired;
              std::vector<std::uint8_t> remaining;
              std::vector<snn::Event> events;
              snn::FireTally tally;
              std::int64_t nfired = 0, written = 0;
            };
            auto run = [&](const snn::Kernels& kk) {
              Run r{count, target, std::vector<std::int32_t>(static_cast<std::size_t>(total_rows * 4)),
                    std::vector<std::uint8_t>(static_cast<std::size_t>(total_rows * 4)),
                    std::vector<snn::Event>(static_cast<std::size_t>(total_rows * w)), {}, 0, 0};
              std::vector<std::int32_t> level(static_cast<std::size_t>(w));
              r.written = kk.eval_fire_rows(cur.data(), rows.data(), nrows, w, act, s, n_min, n_max, r.target.data(),
                                            r.count.data(), level.data(), burst, from_rest, r.events.data(), r.fired.data(),
                                            r.remaining.data(), r.nfired, r.tally);
              r.events.resize(static_cast<std::size_t>(r.written));
              r.fired.resize(static_cast<std::size_t>(r.nfired));
              r.remaining.resize(static_cast<std::size_t>(r.nfired));
              return r;
            };
            const Run a = run(ref), b = run(k);
            REQUIRE(a.written > 0);
            CHECK(b.written == a.written);
            check_same_fire(a, b);
            if (from_rest) CHECK(off_from_rest(b.count, b.target, rows, w, burst) == 0);
            ++checked;
          }
    CHECK(checked >= 64);
  }
  TEST_CASE("eval_fire_rows: burst tallies of a wide count range (lane sums folded before they wrap) equal the reference's") {
    // Levels of +-2^29: the AVX-512 kernels fold their per-lane burst sums every 3 vectors here.
    std::mt19937_64 rng(53);
    std::normal_distribution<float> nd(0.0f, 300.0f);
    std::uniform_int_distribution<std::int32_t> cd(-(1 << 29), 1 << 29);
    const snn::Kernels ref = snn::reference_kernels();
    const std::int32_t n_min = -(1 << 29), n_max = 1 << 29;
    const float s = 1e-6f;
    const std::int64_t w = 200, total_rows = 8;
    const std::vector<std::int32_t> rows{0, 1, 2, 3, 5, 6, 7};
    std::vector<float> cur(rows.size() * static_cast<std::size_t>(w));
    for (float& v : cur) v = nd(rng);
    std::vector<std::int32_t> count(static_cast<std::size_t>(total_rows * w)), target(count.size(), 0);
    for (auto& c : count) c = cd(rng);
    for (const snn::Kernels& k : variants()) {
      CAPTURE(isa_name(k.isa));
      std::uint64_t pos[2] = {}, neg[2] = {};
      std::vector<std::int32_t> counts[2];
      int v = 0;
      for (const snn::Kernels* kk : {&ref, &k}) {
        std::vector<std::int32_t> c = count, t = target, level(static_cast<std::size_t>(w)), fired(static_cast<std::size_t>(total_rows * 4));
        std::vector<std::uint8_t> rem(fired.size());
        std::vector<snn::Event> ev(count.size());
        snn::FireTally tally;
        std::int64_t nf = 0;
        kk->eval_fire_rows(cur.data(), rows.data(), static_cast<std::int64_t>(rows.size()), w, Activation::none, s, n_min,
                           n_max, t.data(), c.data(), level.data(), true, false, ev.data(), fired.data(), rem.data(), nf, tally);
        pos[v] = tally.pos;
        neg[v] = tally.neg;
        counts[v++] = c;
      }
      CHECK(pos[0] > (std::uint64_t{1} << 36));  // far beyond what one int32 lane holds
      CHECK(pos[1] == pos[0]);
      CHECK(neg[1] == neg[0]);
      CHECK(counts[1] == counts[0]);
    }
  }
  TEST_CASE("eval_fire_src_rows: currents read in place (unit outputs, residual sums) give the reference's results") {
    std::mt19937_64 rng(47);
    std::normal_distribution<float> nd(0.0f, 2.0f);
    const snn::Kernels ref = snn::reference_kernels();
    int checked = 0;
    for (const snn::Kernels& k : variants()) {
      if (!k.eval_fire_src_rows) continue;  // this instruction set forms currents with current_row
      for (Activation act : {Activation::none, Activation::relu, Activation::gelu, Activation::silu})
        for (bool sum : {false, true})
          for (bool burst : {false, true})
            for (std::int64_t w : {std::int64_t{17}, std::int64_t{64}, std::int64_t{100}})
              for (bool from_rest : {false, true}) {
              CAPTURE(static_cast<int>(act));
              CAPTURE(from_rest);
              CAPTURE(sum);
              CAPTURE(burst);
              CAPTURE(w);
              const std::int64_t total_rows = 6;
              const std::vector<std::int32_t> rows{4, 5, 0, 2, 3};  // runs of consecutive rows, and a jump
              const auto nrows = static_cast<std::int64_t>(rows.size());
              const auto n = static_cast<std::size_t>(total_rows * w);
              std::vector<float> y(n);
              std::vector<std::int32_t> qa(n), qb(n), count(n), target(n);
              for (float& v : y) v = nd(rng);
              for (auto& q : qa) q = static_cast<std::int32_t>(rng() % 31) - 15;
              for (auto& q : qb) q = static_cast<std::int32_t>(rng() % 31) - 15;
              for (auto& c : count) c = static_cast<std::int32_t>(rng() % 16) - 8;
              for (auto& t : target) t = static_cast<std::int32_t>(rng() % 16) - 8;
              const float s_a = 0.173f, s_b = 0.291f, s = 0.37f;
              struct Run {
                std::vector<std::int32_t> count, target, fired;
                std::vector<std::uint8_t> remaining;
                std::vector<snn::Event> events;
                snn::FireTally tally;
              };
              auto run = [&](const snn::Kernels& kk) {
                Run r{count, target, std::vector<std::int32_t>(static_cast<std::size_t>(total_rows * 2)),
                      std::vector<std::uint8_t>(static_cast<std::size_t>(total_rows * 2)), std::vector<snn::Event>(n), {}};
                std::int64_t nf = 0;
                const std::int64_t written = kk.eval_fire_src_rows(
                    sum ? nullptr : y.data(), sum ? qa.data() : nullptr, s_a, sum ? qb.data() : nullptr, s_b, rows.data(),
                    nrows, w, act, s, -8, 7, r.target.data(), r.count.data(), burst, from_rest, r.events.data(), r.fired.data(),
                    r.remaining.data(), nf, r.tally);
                r.events.resize(static_cast<std::size_t>(written));
                r.fired.resize(static_cast<std::size_t>(nf));
                r.remaining.resize(static_cast<std::size_t>(nf));
                return r;
              };
              const Run a = run(ref), b = run(k);
              REQUIRE(!a.events.empty());
              check_same_fire(a, b);
              if (from_rest) CHECK(off_from_rest(b.count, b.target, rows, w, burst) == 0);
              // The reference's targets are quantize_level of the unit's output / of ann::sum_value.
              int off = 0;
              for (std::int32_t r : rows)
                for (std::int64_t j = 0; j < w; ++j) {
                  const auto i = static_cast<std::size_t>(r * w + j);
                  const float x = sum ? ann::sum_value(qa[i], s_a, qb[i], s_b) : y[i];
                  off += a.target[i] != ann::quantize_level(x, act, s, -8, 7);
                }
              CHECK(off == 0);
              ++checked;
            }
    }
    if (detected_isa() >= Isa::avx512_vnni) CHECK(checked == 96);
  }
  TEST_CASE("eval_fire_acc_rows: currents formed from accumulators give the reference's targets, counts and events") {
    std::mt19937_64 rng(43);
    std::uniform_int_distribution<std::int32_t> ad(-3000, 3000);
    std::uniform_real_distribution<float> cd(1e-4f, 2e-3f), bd(-1.0f, 1.0f);
    const snn::Kernels ref = snn::reference_kernels();
    int checked = 0;
    for (const snn::Kernels& k : variants()) {
      if (!k.eval_fire_acc_rows) continue;  // this instruction set forms currents with current_row
      for (Activation act : {Activation::none, Activation::relu, Activation::gelu, Activation::silu})
        for (bool product : {false, true})
          for (bool burst : {false, true}) {
            for (std::int64_t w : {std::int64_t{17}, std::int64_t{45}})
            for (bool from_rest : {false, true}) {
            CAPTURE(w);
            CAPTURE(from_rest);
            const std::int64_t total_rows = 5;
            // Rows 3, 4 and 0, 1 consecutive: the AVX-512 kernel sweeps product rows narrower than 64 flat.
            const std::vector<std::int32_t> rows{3, 4, 0, 1, 2};
            const auto nrows = static_cast<std::int64_t>(rows.size());
            std::vector<std::int32_t> acc(static_cast<std::size_t>(total_rows * w)), count(acc.size()), target(acc.size());
            for (auto& a : acc) a = ad(rng);
            for (auto& c : count) c = static_cast<std::int32_t>(rng() % 16) - 8;
            for (auto& t : target) t = static_cast<std::int32_t>(rng() % 16) - 8;
            std::vector<float> c(static_cast<std::size_t>(w)), b(static_cast<std::size_t>(w));
            for (float& v : c) v = cd(rng);
            for (float& v : b) v = bd(rng);
            const float* cp = c.data();
            const float* bp = product ? nullptr : b.data();
            const std::int64_t c_step = product ? 0 : 1;
            auto run = [&](const snn::Kernels& kk, std::vector<std::int32_t>& cnt, std::vector<std::int32_t>& tgt,
                           std::vector<snn::Event>& ev, snn::FireTally& tally, std::vector<std::int32_t>& fired,
                           std::vector<std::uint8_t>& rem) {
              ev.assign(static_cast<std::size_t>(total_rows * w), {});
              fired.assign(static_cast<std::size_t>(total_rows), 0);
              rem.assign(fired.size(), 0);
              std::int64_t nf = 0;
              const std::int64_t n = kk.eval_fire_acc_rows(acc.data(), cp, c_step, bp, rows.data(), nrows, w, act, 0.21f, -8, 7,
                                                           tgt.data(), cnt.data(), burst, from_rest, ev.data(), fired.data(), rem.data(),
                                                           nf, tally);
              ev.resize(static_cast<std::size_t>(n));
              fired.resize(static_cast<std::size_t>(nf));
              rem.resize(static_cast<std::size_t>(nf));
            };
            std::vector<std::int32_t> c1 = count, t1 = target, c2 = count, t2 = target, f1, f2;
            std::vector<snn::Event> e1, e2;
            snn::FireTally ta, tb;
            std::vector<std::uint8_t> r1, r2;
            run(ref, c1, t1, e1, ta, f1, r1);
            run(k, c2, t2, e2, tb, f2, r2);
            REQUIRE(!e1.empty());
            CHECK(c1 == c2);
            CHECK(t1 == t2);
            if (from_rest) CHECK(off_from_rest(c2, t2, rows, w, burst) == 0);
            CHECK(f1 == f2);
            CHECK(r1 == r2);
            CHECK(ta.pos == tb.pos);
            CHECK(ta.neg == tb.neg);
            bool same = e1.size() == e2.size();
            for (std::size_t e = 0; same && e < e1.size(); ++e) same = e1[e].index == e2[e].index && e1[e].delta == e2[e].delta;
            CHECK(same);
            // The reference's targets are quantize_level of linear_value / product_value of the accumulator.
            int off = 0;
            for (std::int32_t r : rows)
              for (std::int64_t j = 0; j < w; ++j) {
                const auto i = static_cast<std::size_t>(r * w + j);
                const float x = product ? ann::product_value(acc[i], c[0], 1.0f)
                                        : ann::linear_value(acc[i], c[static_cast<std::size_t>(j)], 1.0f, b[static_cast<std::size_t>(j)]);
                off += t1[i] != ann::quantize_level(x, act, 0.21f, -8, 7);
              }
            CHECK(off == 0);
            ++checked;
            }
          }
    }
    if (detected_isa() >= Isa::avx512_vnni) CHECK(checked == 64);
  }

  TEST_CASE("a first step's lazy event list (count-only sweep) writes out the events the sweep emits, and views count them") {
    std::mt19937_64 rng(47);
    std::uniform_int_distribution<std::int32_t> ad(-3000, 3000);
    int checked = 0;
    for (const snn::Kernels& k : variants()) {
      if (!k.eval_fire_acc_rows) continue;
      for (bool burst : {false, true})
        for (std::int64_t w : {std::int64_t{17}, std::int64_t{80}}) {
          CAPTURE(burst);
          CAPTURE(w);
          const std::int64_t total_rows = 6;  // two samples of three rows
          std::vector<std::int32_t> rows(static_cast<std::size_t>(total_rows));
          for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<std::int32_t>(r);
          std::vector<std::int32_t> acc(static_cast<std::size_t>(total_rows * w));
          for (auto& a : acc) a = rng() % 3 == 0 ? 0 : ad(rng);  // a third of the neurons stay at 0
          std::vector<float> c(static_cast<std::size_t>(w), 1e-3f), b(static_cast<std::size_t>(w), 0.0f);
          auto run = [&](bool count_only, std::vector<std::int32_t>& cnt, std::vector<snn::Event>& ev) {
            std::vector<std::int32_t> tgt(acc.size(), 0);
            cnt.assign(acc.size(), 0);
            ev.assign(acc.size(), {});
            std::vector<std::int32_t> fired(static_cast<std::size_t>(total_rows * 2));
            std::vector<std::uint8_t> rem(fired.size());
            std::int64_t nf = 0;
            snn::FireTally tally;
            tally.count_only = count_only;
            const std::int64_t n = k.eval_fire_acc_rows(acc.data(), c.data(), 1, b.data(), rows.data(), total_rows, w,
                                                        Activation::none, 0.21f, -8, 7, tgt.data(), cnt.data(), burst, true,
                                                        ev.data(), fired.data(), rem.data(), nf, tally);
            ev.resize(static_cast<std::size_t>(n));
          };
          std::vector<std::int32_t> c1, c2;
          std::vector<snn::Event> e1, e2;
          run(false, c1, e1);
          run(true, c2, e2);
          REQUIRE(!e1.empty());
          REQUIRE(e1.size() < acc.size());
          CHECK(c1 == c2);
          REQUIRE(e2.size() == e1.size());  // the count-only sweep still counts what fired
          snn::EventList lazy;
          lazy.set_lazy(c2.data(), c2.size(), e2.size());
          CHECK(lazy.lazy());
          CHECK(lazy.size() == e1.size());
          // A view holding every other element of a sample counts the lazy list's events as the written list's.
          snn::ViewMap view;
          view.n_storage = 3 * w;
          view.div_storage = snn::FastDiv(view.n_storage);
          view.dest.assign(static_cast<std::size_t>(view.n_storage), -1);
          for (std::int64_t i = 0; i < view.n_storage; i += 2) {
            view.dest[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(view.n_view++);
            view.src.push_back(static_cast<std::int32_t>(i));
          }
          const std::size_t seen_lazy = snn::view_event_count(view, lazy);
          lazy.materialize();
          CHECK(!lazy.lazy());
          CHECK(snn::view_event_count(view, lazy) == seen_lazy);
          REQUIRE(lazy.size() == e1.size());
          bool same = true;
          for (std::size_t e = 0; same && e < e1.size(); ++e)
            same = lazy.data()[e].index == e1[e].index && lazy.data()[e].delta == e1[e].delta;
          CHECK(same);
          ++checked;
        }
    }
    CHECK(checked >= 4);
  }
}

}  // namespace snnconv
