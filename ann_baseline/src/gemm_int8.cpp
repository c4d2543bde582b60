// The W8A8 GEMM (gemm_int8.hpp): weight packing per kernel, the int64 reference loop, the AVX2 block kernel
// (vpmaddwd on int16-widened operands) and the driver that packs activation rows per task and cuts the product
// into row chunks x column blocks of sizes fixed by the shapes. The AVX-512 VNNI block kernel is in
// gemm_int8_avx512.cpp. Built without FMA contraction (the project default), so the scalar epilogue rounds once
// per operation like the vector ones.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdlib>

#include "gemm_int8_kernels.hpp"
#include "kernels.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::ann {
namespace gemm {

const char* int8_kernel_name(Int8Kernel k) {
  switch (k) {
    case Int8Kernel::reference: return "int8_reference";
    case Int8Kernel::avx2_madd16: return "int8_avx2";
    case Int8Kernel::avx512_vnni: return "int8_vnni";
  }
  return "int8_reference";
}

Int8Kernel int8_kernel_for(Isa isa) {
  return isa >= Isa::avx512_vnni ? Int8Kernel::avx512_vnni : Int8Kernel::avx2_madd16;
}

std::int32_t max_abs_level(bool is_signed, std::int32_t zero_point) {
  const std::int32_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
  return std::max(std::abs(lo - zero_point), std::abs(hi - zero_point));
}

namespace {

// W [k, n] into panels of 16 columns, each row of a panel in groups of `group` consecutive k (zero past k):
// element (i, j) at ((j / 16 * ceil(k / group) + i / group) * 16 + j % 16) * group + i % group.
template <typename T, typename Alloc>
void pack_groups(const std::int8_t* w, std::int64_t k, std::int64_t n, std::int64_t panels, std::int64_t group,
                 std::vector<T, Alloc>& out) {
  const std::int64_t kg = (k + group - 1) / group;
  out.assign(static_cast<std::size_t>(panels * kg * 16 * group), 0);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      out[static_cast<std::size_t>(((j / 16 * kg + i / group) * 16 + j % 16) * group + i % group)] = w[i * n + j];
}

}  // namespace

PackedS8 pack_s8(const std::int8_t* w, std::int64_t k, std::int64_t n, Int8Kernel kernel) {
  PackedS8 p;
  p.k = k;
  p.n = n;
  p.kernel = kernel;
  p.column_sum.assign(static_cast<std::size_t>(n), 0);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int32_t v = w[i * n + j];
      p.column_sum[static_cast<std::size_t>(j)] += v;
      p.max_abs = std::max(p.max_abs, std::abs(v));
    }
  const std::int64_t panels = (n + kernels::kInt8Cols - 1) / kernels::kInt8Cols;
  switch (kernel) {
    case Int8Kernel::reference:
      p.rows.assign(w, w + k * n);
      break;
    case Int8Kernel::avx512_vnni: pack_groups(w, k, n, panels, 4, p.quads); break;
    case Int8Kernel::avx2_madd16: pack_groups(w, k, n, panels, 2, p.pairs); break;
  }
  return p;
}

void accumulate_s8_reference(const Int8Rows& a, std::int64_t rows, const std::int8_t* w, std::int64_t k,
                             std::int64_t n, std::int64_t* acc) {
  const auto* au = static_cast<const std::uint8_t*>(a.data);
  const auto* as = static_cast<const std::int8_t*>(a.data);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int64_t s = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        const std::int64_t level = a.is_signed ? as[r * k + i] : au[r * k + i];
        s += (level - a.zero_point) * w[i * n + j];
      }
      acc[r * n + j] = s;
    }
}

}  // namespace gemm

namespace kernels {
namespace {

// c[R rows][16] for one panel, AVX2: per pair of k, two panel loads, R broadcasts of (a[2q], a[2q+1]) as one
// int32, 2R vpmaddwd + 2R vpaddd.
template <int R>
void tile_avx2(const Int8Block& b, const std::int16_t* a, std::int64_t kh, std::int64_t p, float* y) {
  const gemm::PackedS8& w = *b.w;
  __m256i acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  const std::int16_t* panel = w.pairs.data() + p * kh * 32;
  for (std::int64_t q = 0; q < kh; ++q) {
    const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel + q * 32));
    const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel + q * 32 + 16));
    for (int r = 0; r < R; ++r) {
      std::int32_t pair;
      std::memcpy(&pair, a + r * kh * 2 + 2 * q, 4);
      const __m256i e = _mm256_set1_epi32(pair);
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(e, w0));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(e, w1));
    }
  }
  const std::int64_t j = p * kInt8Cols, cols = std::min<std::int64_t>(kInt8Cols, w.n - j);
  alignas(32) float out[16];
  for (int r = 0; r < R; ++r) {
    for (int h = 0; h < 2; ++h) _mm256_store_ps(out + 8 * h, _mm256_cvtepi32_ps(acc[r][h]));
    float* yr = y + r * b.ldy + j;
    for (std::int64_t c = 0; c < cols; ++c) {
      float v = out[c];
      if (b.scale) v = b.scale[j + c] * v;
      if (b.bias) v = v + b.bias[j + c];
      if (b.relu) v = v < 0.0f ? 0.0f : v;
      yr[c] = v;
    }
  }
}

template <int R>
void rows_avx2(const Int8Block& b, const std::int16_t* a, std::int64_t kh, float* y) {
  for (std::int64_t p = b.panel0; p < b.panel1; ++p) tile_avx2<R>(b, a, kh, p, y);
}

}  // namespace

void int8_block_avx2(const Int8Block& b) {
  const std::int64_t kh = (b.w->k + 1) / 2;
  const auto* a = static_cast<const std::int16_t*>(b.a);
  std::int64_t r = 0;
  for (; r + 6 <= b.rows; r += 6) rows_avx2<6>(b, a + r * kh * 2, kh, b.y + r * b.ldy);
  const std::int16_t* ar = a + r * kh * 2;
  float* yr = b.y + r * b.ldy;
  switch (b.rows - r) {
    case 5: rows_avx2<5>(b, ar, kh, yr); break;
    case 4: rows_avx2<4>(b, ar, kh, yr); break;
    case 3: rows_avx2<3>(b, ar, kh, yr); break;
    case 2: rows_avx2<2>(b, ar, kh, yr); break;
    case 1: rows_avx2<1>(b, ar, kh, yr); break;
    default: break;
  }
}

}  // namespace kernels

namespace gemm {
namespace {

constexpr std::int64_t kRowsPerTask = 64;

// The stored level of a real input (Int8Rows::real): the FakeQuant kernel's rounding, NaN to lo.
inline std::int32_t level_of(const Int8Rows& a, float x) {
  const float v = std::floor(x / a.step + 0.5f) + static_cast<float>(a.zero_point);
  if (!(v >= a.lo)) return static_cast<std::int32_t>(a.lo);
  return static_cast<std::int32_t>(v > a.hi ? a.hi : v);
}

// out[i] = level_of(a, x[i]) + offset for one row, eight at a time with the same IEEE operations (a true division,
// + 0.5f, floor, + zero point, then max with lo, which also maps NaN to lo, and min with hi).
template <typename T>
void quantize_row(const Int8Rows& a, const float* x, std::int64_t k, std::int32_t offset, T* out) {
  const __m256 step = _mm256_set1_ps(a.step), half = _mm256_set1_ps(0.5f),
               zero = _mm256_set1_ps(static_cast<float>(a.zero_point)), lo = _mm256_set1_ps(a.lo),
               hi = _mm256_set1_ps(a.hi);
  const __m256i off = _mm256_set1_epi32(offset);
  alignas(32) std::int32_t lv[8];
  std::int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 v = _mm256_add_ps(_mm256_floor_ps(_mm256_add_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), step), half)), zero);
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);  // maxps returns its second operand when the first is NaN
    _mm256_store_si256(reinterpret_cast<__m256i*>(lv), _mm256_add_epi32(_mm256_cvttps_epi32(v), off));
    for (int j = 0; j < 8; ++j) out[i + j] = static_cast<T>(lv[j]);
  }
  for (; i < k; ++i) out[i] = static_cast<T>(level_of(a, x[i]) + offset);
}
constexpr std::int64_t kPanelsPerTask = 16;  // 256 columns

// Rows [r0, r1) of the activation operand in the layout the kernel reads, into `out`.
void pack_rows_vnni(const Int8Rows& a, std::int64_t k, std::int64_t r0, std::int64_t r1, std::uint8_t* out) {
  const std::int64_t kp = (k + 3) / 4 * 4;
  for (std::int64_t r = r0; r < r1; ++r) {
    std::uint8_t* o = out + (r - r0) * kp;
    const auto* src = static_cast<const std::uint8_t*>(a.data) + r * k;
    if (a.real) {
      quantize_row(a, a.real + r * k, k, a.is_signed ? 128 : 0, o);  // s8 levels flipped to u8, as below
    } else if (a.is_signed) {
      for (std::int64_t i = 0; i < k; ++i) o[i] = static_cast<std::uint8_t>(src[i] ^ 0x80u);  // a + 128
    } else {
      std::memcpy(o, src, static_cast<std::size_t>(k));
    }
    std::memset(o + k, 0, static_cast<std::size_t>(kp - k));
  }
}

void pack_rows_avx2(const Int8Rows& a, std::int64_t k, std::int64_t r0, std::int64_t r1, std::int16_t* out) {
  const std::int64_t kp = (k + 1) / 2 * 2;
  for (std::int64_t r = r0; r < r1; ++r) {
    std::int16_t* o = out + (r - r0) * kp;
    if (a.real) {
      quantize_row(a, a.real + r * k, k, -a.zero_point, o);
    } else if (a.is_signed) {
      const auto* src = static_cast<const std::int8_t*>(a.data) + r * k;
      for (std::int64_t i = 0; i < k; ++i) o[i] = static_cast<std::int16_t>(src[i] - a.zero_point);
    } else {
      const auto* src = static_cast<const std::uint8_t*>(a.data) + r * k;
      for (std::int64_t i = 0; i < k; ++i) o[i] = static_cast<std::int16_t>(src[i] - a.zero_point);
    }
    if (kp > k) o[k] = 0;
  }
}

void multiply_reference(const Int8Rows& a, std::int64_t rows, const PackedS8& w, const float* scale,
                        const float* bias, float* y, bool relu) {
  std::vector<std::int64_t> acc(static_cast<std::size_t>(w.n));
  std::vector<std::uint8_t> levels(static_cast<std::size_t>(w.k));
  const std::size_t row_bytes = static_cast<std::size_t>(w.k);
  for (std::int64_t r = 0; r < rows; ++r) {
    Int8Rows one = a;
    if (a.real) {
      for (std::int64_t i = 0; i < w.k; ++i) levels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(level_of(a, a.real[r * w.k + i]));
      one.data = levels.data();
      one.real = nullptr;
    } else {
      one.data = static_cast<const std::uint8_t*>(a.data) + r * row_bytes;
    }
    accumulate_s8_reference(one, 1, w.rows.data(), w.k, w.n, acc.data());
    for (std::int64_t j = 0; j < w.n; ++j) {
      float v = static_cast<float>(acc[static_cast<std::size_t>(j)]);
      if (scale) v = scale[j] * v;
      if (bias) v = v + bias[j];
      if (relu) v = v < 0.0f ? 0.0f : v;
      y[r * w.n + j] = v;
    }
  }
}

}  // namespace

void multiply_s8(const Int8Rows& a, std::int64_t rows, const PackedS8& w, const float* scale, const float* bias,
                 float* y, bool relu) {
  if (rows <= 0 || w.n <= 0) return;
  if (w.kernel == Int8Kernel::reference) return multiply_reference(a, rows, w, scale, bias, y, relu);
  const std::int64_t panels = (w.n + kernels::kInt8Cols - 1) / kernels::kInt8Cols;
  const std::int64_t row_tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  const std::int64_t col_tasks = (panels + kPanelsPerTask - 1) / kPanelsPerTask;
  const bool vnni = w.kernel == Int8Kernel::avx512_vnni;
  const std::int64_t row_bytes = vnni ? (w.k + 3) / 4 * 4 : (w.k + 1) / 2 * 4;
  const std::int32_t correction = vnni ? (a.is_signed ? 128 : 0) + a.zero_point : 0;
  kernels::for_chunks(row_tasks * col_tasks, 1, [&](std::int64_t t0, std::int64_t t1) {
    // Scratch per thread, kept between calls: the packed rows of one task (64 rows).
    thread_local std::vector<std::int16_t, AlignedAllocator<std::int16_t>> scratch;
    const std::size_t need = static_cast<std::size_t>(kRowsPerTask * row_bytes / 2 + 32);
    if (scratch.size() < need) scratch.resize(need);
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t rt = t / col_tasks, ct = t % col_tasks;
      const std::int64_t r0 = rt * kRowsPerTask, r1 = std::min(rows, r0 + kRowsPerTask);
      kernels::Int8Block b;
      b.a = scratch.data();
      b.rows = r1 - r0;
      b.w = &w;
      b.panel0 = ct * kPanelsPerTask;
      b.panel1 = std::min(panels, b.panel0 + kPanelsPerTask);
      b.correction = correction;
      b.scale = scale;
      b.bias = bias;
      b.relu = relu;
      b.y = y + r0 * w.n;
      b.ldy = w.n;
      if (vnni) {
        pack_rows_vnni(a, w.k, r0, r1, reinterpret_cast<std::uint8_t*>(scratch.data()));
        kernels::int8_block_vnni(b);
      } else {
        pack_rows_avx2(a, w.k, r0, r1, scratch.data());
        kernels::int8_block_avx2(b);
      }
    }
  });
}

}  // namespace gemm
}  // namespace snnconv::ann
