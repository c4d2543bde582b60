// The W8A8 GEMM (snnconv/ann_baseline/gemm_int8.hpp) against its int64 reference loop and the QANN's own Linear
// (ann::linear_value), bit for bit, per kernel: AVX2 (vpmaddwd on int16) always, AVX-512 VNNI when the CPU has it
// (ctest `ann_kernels_avx512` runs those cases; skipped with code 77 on a CPU without AVX-512).
#include <doctest/doctest.h>

#include <tbb/task_arena.h>

#include <cstring>
#include <random>
#include <vector>

#include "snnconv/ann_baseline/gemm_int8.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv {
namespace {

using ann::gemm::Int8Kernel;

struct Case {
  std::int64_t m, k, n;
  bool is_signed;
  std::int32_t zero_point;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  // Odd and aligned sizes: every row remainder of the 6-row tiles, partial panels of 16, k not a multiple of 2
  // or 4, more than one task of 64 rows and of 256 columns; u8 and s8 levels, zero points 0 and not 0.
  for (std::int64_t m : {1, 5, 6, 7, 13, 65, 131})
    for (std::int64_t k : {1, 3, 4, 17, 64, 127})
      for (std::int64_t n : {1, 15, 16, 33, 64, 70, 300}) {
        const std::size_t i = out.size();
        out.push_back({m, k, n, i % 2 == 1, std::int32_t(i % 3 == 0 ? 0 : (i % 3 == 1 ? 3 : -7))});
      }
  return out;
}

struct Data {
  std::vector<std::uint8_t> a;  // u8 or s8 bytes
  std::vector<std::int8_t> w;
  std::vector<float> s_w, bias, scale;
  float s_in = 0.0f;
};

Data make(const Case& c, std::mt19937& rng, int w_lo = -127, int w_hi = 127) {
  Data d;
  std::uniform_int_distribution<int> byte(0, 255), wd(w_lo, w_hi);
  std::uniform_real_distribution<float> step(1e-3f, 5e-2f), b(-2.0f, 2.0f);
  d.a.resize(static_cast<std::size_t>(c.m * c.k));
  for (auto& v : d.a) v = static_cast<std::uint8_t>(byte(rng));
  d.w.resize(static_cast<std::size_t>(c.k * c.n));
  for (auto& v : d.w) v = static_cast<std::int8_t>(wd(rng));
  d.s_in = step(rng);
  for (std::int64_t j = 0; j < c.n; ++j) {
    d.s_w.push_back(step(rng));
    d.bias.push_back(b(rng));
    d.scale.push_back(d.s_in * d.s_w.back());  // the QANN's (s_in * s_w) product
  }
  return d;
}

// y = linear_value(acc, s_in, s_w[n], bias[n]) from the int64 reference accumulators: the QANN's Linear.
std::vector<float> qann_linear(const Case& c, const Data& d) {
  std::vector<std::int64_t> acc(static_cast<std::size_t>(c.m * c.n));
  ann::gemm::accumulate_s8_reference({d.a.data(), c.is_signed, c.zero_point}, c.m, d.w.data(), c.k, c.n, acc.data());
  std::vector<float> y(acc.size());
  for (std::int64_t r = 0; r < c.m; ++r)
    for (std::int64_t j = 0; j < c.n; ++j)
      y[static_cast<std::size_t>(r * c.n + j)] =
          ann::linear_value(acc[static_cast<std::size_t>(r * c.n + j)], d.s_in, d.s_w[static_cast<std::size_t>(j)],
                            d.bias[static_cast<std::size_t>(j)]);
  return y;
}

std::vector<float> run(const Case& c, const Data& d, Int8Kernel kernel, int threads, bool epilogue = true) {
  const ann::gemm::PackedS8 p = ann::gemm::pack_s8(d.w.data(), c.k, c.n, kernel);
  std::vector<float> y(static_cast<std::size_t>(c.m * c.n), -1.0f);
  tbb::task_arena arena(threads);
  arena.execute([&] {
    ann::gemm::multiply_s8({d.a.data(), c.is_signed, c.zero_point}, c.m, p, epilogue ? d.scale.data() : nullptr,
                           epilogue ? d.bias.data() : nullptr, y.data());
  });
  return y;
}

std::int64_t differing_bits(const std::vector<float>& x, const std::vector<float>& y) {
  if (x.size() != y.size()) return -1;
  std::int64_t diff = 0;
  for (std::size_t i = 0; i < x.size(); ++i) diff += std::memcmp(&x[i], &y[i], sizeof(float)) != 0;
  return diff;
}

void check_kernel(Int8Kernel kernel) {
  std::mt19937 rng(2112);
  for (const Case& c : cases()) {
    CAPTURE(c.m);
    CAPTURE(c.k);
    CAPTURE(c.n);
    CAPTURE(c.is_signed);
    CAPTURE(c.zero_point);
    const Data d = make(c, rng);
    const std::vector<float> want = qann_linear(c, d);
    const std::vector<float> one = run(c, d, kernel, 1);
    CHECK(differing_bits(one, want) == 0);
    CHECK(differing_bits(run(c, d, kernel, 2), one) == 0);
    CHECK(differing_bits(run(c, d, Int8Kernel::reference, 1), want) == 0);
  }
}

// Sums far beyond 2^24 (where float sums of the levels would round): the int32 accumulators stay exact. Weights
// at the type's extremes (-128 too) and the largest levels.
void check_large(Int8Kernel kernel) {
  for (bool is_signed : {false, true}) {
    const Case c{7, 2049, 37, is_signed, 0};
    std::mt19937 rng(7);
    Data d = make(c, rng, -128, 127);
    for (std::size_t i = 0; i < d.a.size(); ++i) d.a[i] = is_signed ? 0x80 : 255;  // -128 or 255 everywhere
    for (std::size_t i = 0; i < d.w.size(); ++i) d.w[i] = static_cast<std::int8_t>(i % 5 == 0 ? 127 : -128);
    std::vector<std::int64_t> acc(static_cast<std::size_t>(c.m * c.n));
    ann::gemm::accumulate_s8_reference({d.a.data(), is_signed, 0}, c.m, d.w.data(), c.k, c.n, acc.data());
    std::int64_t biggest = 0;
    for (std::int64_t v : acc) biggest = std::max(biggest, v < 0 ? -v : v);
    CHECK(biggest > (std::int64_t{1} << 24));
    // Without an epilogue the output is float(acc): compare with the int64 sums converted once.
    std::vector<float> want(acc.size());
    for (std::size_t i = 0; i < acc.size(); ++i) want[i] = static_cast<float>(acc[i]);
    CHECK(differing_bits(run(c, d, kernel, 2, false), want) == 0);
    CHECK(differing_bits(run(c, d, kernel, 1), qann_linear(c, d)) == 0);
  }
}

bool has_vnni() {
  if (detected_isa() >= Isa::avx512_vnni) return true;
  MESSAGE("skipped: this CPU has no AVX-512 VNNI (ctest ann_kernels_avx512 reports the skip)");
  return false;
}

TEST_SUITE("unit") {

TEST_CASE("W8A8 GEMM, AVX2 (vpmaddwd): equals the QANN's Linear bit for bit, 1 and 2 threads") {
  check_kernel(Int8Kernel::avx2_madd16);
  check_large(Int8Kernel::avx2_madd16);
}

TEST_CASE("W8A8 GEMM, AVX-512 VNNI (vpdpbusd): equals the QANN's Linear bit for bit, 1 and 2 threads") {
  if (!has_vnni()) return;
  check_kernel(Int8Kernel::avx512_vnni);
  check_large(Int8Kernel::avx512_vnni);
}

TEST_CASE("W8A8 GEMM: the kernel follows the instruction set, capped by SNNCONV_ISA") {
  CHECK(ann::gemm::int8_kernel_for(Isa::avx2) == Int8Kernel::avx2_madd16);
  CHECK(ann::gemm::int8_kernel_for(Isa::avx512) == Int8Kernel::avx2_madd16);
  CHECK(ann::gemm::int8_kernel_for(Isa::avx512_vnni) == Int8Kernel::avx512_vnni);
  CHECK(ann::gemm::max_abs_level(false, 0) == 255);
  CHECK(ann::gemm::max_abs_level(true, 0) == 128);
  CHECK(ann::gemm::max_abs_level(false, 128) == 128);
}

}  // TEST_SUITE

}  // namespace
}  // namespace snnconv
