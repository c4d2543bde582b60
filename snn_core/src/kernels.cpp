// Reference and AVX2 kernels of the SNN engine (kernels.hpp). The AVX2 ones are the build's baseline; the
// AVX-512 + VNNI ones live in kernels_avx512.cpp and are used only when active_isa() allows them.
#include "kernels.hpp"
#include "kernels_batch.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "snnconv/ann_baseline/qann.hpp"

namespace snnconv::snn {

void EventList::write_lazy() {
  const std::int32_t* const counts = lazy_;
  const std::size_t elems = lazy_elems_, events = n_;
  lazy_ = nullptr;
  reserve(events + 1);  // one spare slot: every element is written, the position advances past nonzero ones
  Event* const out = buf_.data();
  std::size_t w = 0;
  for (std::size_t i = 0; i < elems && w < events; ++i) {
    const std::int32_t c = counts[i];
    out[w] = {static_cast<std::int32_t>(i), c};
    w += c != 0 ? 1 : 0;
  }
  if (w != events) throw std::logic_error("EventList: a lazy list's counts do not hold its events");
  n_ = events;
}

std::vector<std::int8_t> pack_weights(const std::int8_t* w, std::int64_t k, std::int64_t n) {
  const std::int64_t kq = padded_k(k) / 4, nb = column_blocks(n);
  std::vector<std::int8_t> p(static_cast<std::size_t>(nb * kq * 64), 0);
  for (std::int64_t b = 0; b < nb; ++b)
    for (std::int64_t q = 0; q < kq; ++q)
      for (std::int64_t c = 0; c < kPackCols; ++c)
        for (std::int64_t kk = 0; kk < 4; ++kk) {
          const std::int64_t row = 4 * q + kk, col = b * kPackCols + c;
          if (row < k && col < n)
            p[static_cast<std::size_t>((b * kq + q) * 64 + c * 4 + kk)] = w[row * n + col];
        }
  return p;
}

namespace {

void add_events_reference(std::int32_t* acc, const std::int8_t* w, const FastDiv& k, std::int64_t n,
                          const Event* events, std::size_t count, std::int64_t j0, std::int64_t j1) {
  for (std::size_t e = 0; e < count; ++e) {
    const std::int64_t r = k.div(events[e].index), kk = events[e].index - r * static_cast<std::int64_t>(k.d);
    const std::int8_t* wr = w + kk * n;
    std::int32_t* a = acc + r * n;
    const std::int32_t d = events[e].delta;
    for (std::int64_t j = j0; j < j1; ++j) a[j] += d * static_cast<std::int32_t>(wr[j]);
  }
}

void gemm_codes_reference(const std::uint8_t* codes, std::int64_t rows, std::int64_t kp, const std::int8_t* packed,
                          const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t n, std::int64_t b0,
                          std::int64_t b1) {
  const std::int64_t kq = kp / 4;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t b = b0; b < b1; ++b)
      for (std::int64_t c = 0; c < kPackCols; ++c) {
        const std::int64_t j = b * kPackCols + c;
        if (j >= n) break;
        std::int32_t sum = 0;
        for (std::int64_t q = 0; q < kq; ++q)
          for (std::int64_t kk = 0; kk < 4; ++kk)
            sum += static_cast<std::int32_t>(codes[r * kp + 4 * q + kk]) *
                   static_cast<std::int32_t>(packed[(b * kq + q) * 64 + c * 4 + kk]);
        acc_rows[r][j] += sum - corr[j];
      }
}

void quantize_row_reference(const float* x, std::int64_t n, Activation act, float s, std::int32_t n_min,
                            std::int32_t n_max, std::int32_t* out) {
  for (std::int64_t j = 0; j < n; ++j) out[j] = ann::quantize_level(x[j], act, s, n_min, n_max);
}

bool settle_reference(const std::int32_t* level, std::int32_t* target, const std::int32_t* count, std::int64_t n) {
  bool differs = false;
  for (std::int64_t j = 0; j < n; ++j) {
    target[j] = level[j];
    differs = differs || level[j] != count[j];
  }
  return differs;
}

std::int64_t fire_reference(std::int32_t* count, const std::int32_t* target, std::int64_t n, std::int32_t base,
                            bool burst, Event* out, FireTally& tally) {
  std::int64_t written = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int32_t d = target[j] - count[j];
    if (d == 0) continue;
    const std::int32_t delta = burst ? d : (d > 0 ? 1 : -1);
    count[j] += delta;
    out[written++] = {base + static_cast<std::int32_t>(j), delta};
    if (delta > 0)
      tally.pos += static_cast<std::uint64_t>(delta);
    else
      tally.neg += static_cast<std::uint64_t>(-delta);
    tally.remaining = tally.remaining || count[j] != target[j];
  }
  return written;
}

void add_scaled_row_reference(std::int32_t* acc, const std::int32_t* src, std::int32_t a, std::int64_t n) {
  for (std::int64_t j = 0; j < n; ++j) acc[j] += a * src[j];
}

void matmul_i32_reference(const std::int32_t* a, const std::int32_t* b, std::int32_t* c, std::int64_t m, std::int64_t k,
                          std::int64_t n) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int32_t sum = 0;
      for (std::int64_t q = 0; q < k; ++q) sum += a[i * k + q] * b[q * n + j];
      c[i * n + j] = sum;
    }
}

// eval_fire_acc_rows by its definition: each row's currents formed as linear_row / product_row do, then the
// reference eval_fire_rows.
std::int64_t eval_fire_acc_rows_reference(const std::int32_t* acc, const float* c, std::int64_t c_step, const float* b,
                                          const std::int32_t* rows, std::int64_t nrows, std::int64_t w, Activation act,
                                          float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                                          std::int32_t* count, bool burst, bool from_rest, Event* out,
                                          std::int32_t* fired, std::uint8_t* remaining, std::int64_t& nfired,
                                          FireTally& tally) {
  std::vector<float> cur(static_cast<std::size_t>(w)), cs(static_cast<std::size_t>(w));
  std::vector<std::int32_t> level(static_cast<std::size_t>(w));
  for (std::int64_t j = 0; j < w; ++j) cs[static_cast<std::size_t>(j)] = c[j * c_step];
  std::int64_t written = 0;
  for (std::int64_t k = 0; k < nrows; ++k) {
    const std::int32_t* a = acc + std::int64_t{rows[k]} * w;
    if (b)
      linear_row(a, cs.data(), b, w, cur.data());
    else
      for (std::int64_t j = 0; j < w; ++j) product_row(a + j, cs[static_cast<std::size_t>(j)], 1, cur.data() + j);
    written += detail::eval_fire_rows_impl<quantize_row_reference, settle_reference, fire_reference>(
        cur.data(), rows + k, 1, w, act, s, n_min, n_max, target, count, level.data(), burst, from_rest, out + written, fired,
        remaining, nfired, tally);
  }
  return written;
}

// eval_fire_src_rows by its definition: each row's currents copied from y, or formed as sum_row does, then the
// reference eval_fire_rows.
std::int64_t eval_fire_src_rows_reference(const float* y, const std::int32_t* q_a, float s_a, const std::int32_t* q_b,
                                          float s_b, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                          Activation act, float s, std::int32_t n_min, std::int32_t n_max,
                                          std::int32_t* target, std::int32_t* count, bool burst, bool from_rest,
                                          Event* out, std::int32_t* fired, std::uint8_t* remaining,
                                          std::int64_t& nfired, FireTally& tally) {
  return detail::eval_fire_src_rows_impl<quantize_row_reference, settle_reference, fire_reference>(
      y, q_a, s_a, q_b, s_b, rows, nrows, w, act, s, n_min, n_max, target, count, burst, from_rest, out, fired, remaining, nfired,
      tally);
}

}  // namespace

void diff_row_reference(const DiffRow& p, const std::int32_t* q, float* y, std::int64_t valid_cols) {
  ann::whole_vector_row(p.fn, q, p.s, p.cols, p.epsilon, p.gamma, p.beta, y, valid_cols, nullptr);
}

namespace {

// diff_row in loops the compiler vectorises for the build's baseline (AVX2): the same integers and, per element,
// the same float operations as ann::whole_vector_row, one loop per operation. LayerNorm forms cols * q - S1 in
// int32 when it fits (the same integer, so the same float), and softmax reads its weights from the unit's table.
void diff_row_loops(const DiffRow& p, const std::int32_t* __restrict q, float* __restrict y, std::int64_t valid_cols) {
  const std::int64_t cols = p.cols;
  if (p.fn == DiffUnitAttrs::Fn::layer_norm) {
    std::int64_t s1 = 0, top = 0;
    std::uint64_t s2 = 0;  // wraps (defined) on rows the reference takes; exact on the others
    for (std::int64_t j = 0; j < cols; ++j) {
      const std::int64_t v = q[j];
      s1 += v;
      s2 += static_cast<std::uint64_t>(v * v);
      top = std::max(top, v < 0 ? -v : v);
    }
    if (cols * top + (s1 < 0 ? -s1 : s1) > std::numeric_limits<std::int32_t>::max())
      return diff_row_reference(p, q, y, valid_cols);
    const std::int64_t var_n2 = cols * static_cast<std::int64_t>(s2) - s1 * s1;
    const float denom = std::sqrt(static_cast<float>(var_n2) + p.eps_term);
    const auto c32 = static_cast<std::int32_t>(cols), s32 = static_cast<std::int32_t>(s1);
    for (std::int64_t j = 0; j < cols; ++j) y[j] = static_cast<float>(c32 * q[j] - s32) / denom;
    for (std::int64_t j = 0; j < cols; ++j) y[j] = y[j] * p.gamma[j];
    if (p.beta)
      for (std::int64_t j = 0; j < cols; ++j) y[j] = y[j] + p.beta[j];
    return;
  }
  if (p.fn != DiffUnitAttrs::Fn::softmax) return diff_row_reference(p, q, y, valid_cols);
  const std::int64_t n = valid_cols >= 0 && valid_cols < cols ? valid_cols : cols;
  std::fill(y + n, y + cols, 0.0f);
  if (n == 0) return;
  std::int32_t top = q[0], low = q[0];
  for (std::int64_t j = 1; j < n; ++j) {
    top = std::max(top, q[j]);
    low = std::min(low, q[j]);
  }
  const std::int64_t span = std::int64_t{top} - low;
  if (p.table_len == 0 || (span >= p.table_len && !p.ends_zero)) return diff_row_reference(p, q, y, valid_cols);
  const auto last = static_cast<std::uint32_t>(p.table_len - 1);
  std::int64_t sum = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    const std::uint32_t k = std::min(static_cast<std::uint32_t>(top) - static_cast<std::uint32_t>(q[j]), last);
    const std::int32_t w = p.table[k];
    sum += w;
    y[j] = static_cast<float>(w);  // <= 2^23: exact
  }
  const float denom = static_cast<float>(sum);
  for (std::int64_t j = 0; j < n; ++j) y[j] = y[j] / denom;
}

// ---- AVX2 -------------------------------------------------------------------------------------------

void add_events_avx2(std::int32_t* acc, const std::int8_t* w, const FastDiv& k, std::int64_t n, const Event* events,
                     std::size_t count, std::int64_t j0, std::int64_t j1) {
  const std::int64_t vec_end = j0 + (j1 - j0) / 8 * 8;
  for (std::size_t e = 0; e < count; ++e) {
    const std::int64_t r = k.div(events[e].index), kk = events[e].index - r * static_cast<std::int64_t>(k.d);
    const std::int8_t* wr = w + kk * n;
    std::int32_t* a = acc + r * n;
    const std::int32_t d = events[e].delta;
    std::int64_t j = j0;
    if (d == 1) {
      for (; j < vec_end; j += 8) {
        const __m256i wv = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(wr + j)));
        __m256i* p = reinterpret_cast<__m256i*>(a + j);
        _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p), wv));
      }
    } else if (d == -1) {
      for (; j < vec_end; j += 8) {
        const __m256i wv = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(wr + j)));
        __m256i* p = reinterpret_cast<__m256i*>(a + j);
        _mm256_storeu_si256(p, _mm256_sub_epi32(_mm256_loadu_si256(p), wv));
      }
    } else {
      const __m256i dv = _mm256_set1_epi32(d);
      for (; j < vec_end; j += 8) {
        const __m256i wv = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(wr + j)));
        __m256i* p = reinterpret_cast<__m256i*>(a + j);
        _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p), _mm256_mullo_epi32(wv, dv)));
      }
    }
    for (; j < j1; ++j) a[j] += d * static_cast<std::int32_t>(wr[j]);
  }
}

// One tile of NR rows x 16 columns (two registers of 8): codes are 4 bytes per k quad, broadcast; the packed
// block holds columns 0-7 in its first 32 bytes, 8-15 in the next. maddubs forms u8 x s8 pair sums in 16
// bits (exact for codes <= 127: 2 * 127 * 128 < 2^15), madd with ones adds the pairs into int32.
template <int NR>
void gemm_tile_avx2(const std::uint8_t* codes, std::int64_t kp, const std::int8_t* block, std::int64_t kq,
                    const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t j, std::int64_t cols) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i lo[NR], hi[NR];
  for (int r = 0; r < NR; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
  for (std::int64_t q = 0; q < kq; ++q) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + q * 64));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + q * 64 + 32));
    for (int r = 0; r < NR; ++r) {
      std::int32_t quad;
      std::memcpy(&quad, codes + r * kp + 4 * q, 4);
      const __m256i e = _mm256_set1_epi32(quad);
      lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(_mm256_maddubs_epi16(e, w0), ones));
      hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(_mm256_maddubs_epi16(e, w1), ones));
    }
  }
  alignas(32) std::int32_t tmp[16];
  for (int r = 0; r < NR; ++r) {
    std::int32_t* a = acc_rows[r] + j;
    if (cols == 16) {
      const __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + j));
      const __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + j + 8));
      __m256i* p0 = reinterpret_cast<__m256i*>(a);
      __m256i* p1 = reinterpret_cast<__m256i*>(a + 8);
      _mm256_storeu_si256(p0, _mm256_add_epi32(_mm256_loadu_si256(p0), _mm256_sub_epi32(lo[r], c0)));
      _mm256_storeu_si256(p1, _mm256_add_epi32(_mm256_loadu_si256(p1), _mm256_sub_epi32(hi[r], c1)));
    } else {
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), lo[r]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8), hi[r]);
      for (std::int64_t c = 0; c < cols; ++c) a[c] += tmp[c] - corr[j + c];
    }
  }
}

void gemm_codes_avx2(const std::uint8_t* codes, std::int64_t rows, std::int64_t kp, const std::int8_t* packed,
                     const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t n, std::int64_t b0,
                     std::int64_t b1) {
  const std::int64_t kq = kp / 4;
  for (std::int64_t b = b0; b < b1; ++b) {
    const std::int8_t* block = packed + b * kq * 64;
    const std::int64_t j = b * kPackCols, cols = std::min<std::int64_t>(kPackCols, n - j);
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) gemm_tile_avx2<4>(codes + r * kp, kp, block, kq, corr, acc_rows + r, j, cols);
    for (; r < rows; ++r) gemm_tile_avx2<1>(codes + r * kp, kp, block, kq, corr, acc_rows + r, j, cols);
  }
}

// ann::qann_erf and qann_gelu lane by lane: the same correctly rounded operations in the same order; the
// clamp keeps NaN as std::min/std::max do (compare, then select).
__m256 qann_gelu_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-ann::kQannErfClamp), hi = _mm256_set1_ps(ann::kQannErfClamp);
  const __m256 u = _mm256_div_ps(x, _mm256_set1_ps(1.41421356237309504880f));
  __m256 t = _mm256_blendv_ps(u, lo, _mm256_cmp_ps(u, lo, _CMP_LT_OQ));  // std::max(u, lo)
  t = _mm256_blendv_ps(t, hi, _mm256_cmp_ps(hi, t, _CMP_LT_OQ));         // std::min(t, hi)
  const __m256 z = _mm256_mul_ps(t, t);
  __m256 p = _mm256_set1_ps(ann::kQannErfP[5]), q = _mm256_set1_ps(ann::kQannErfQ[5]);
  for (int k = 4; k >= 0; --k) {
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(ann::kQannErfP[k]));
    q = _mm256_add_ps(_mm256_mul_ps(q, z), _mm256_set1_ps(ann::kQannErfQ[k]));
  }
  const __m256 erf = _mm256_div_ps(_mm256_mul_ps(t, p), q);
  const __m256 a = _mm256_add_ps(_mm256_set1_ps(1.0f), erf);
  return _mm256_mul_ps(_mm256_mul_ps(x, a), _mm256_set1_ps(0.5f));
}

void quantize_row_avx2(const float* x, std::int64_t n, Activation act, float s, std::int32_t n_min,
                       std::int32_t n_max, std::int32_t* out) {
  // Vectorised: none, relu, gelu; any other activation (gelu_tanh, tanh, silu) through the QANN's function.
  if (act != Activation::none && act != Activation::relu && act != Activation::gelu)
    return quantize_row_reference(x, n, act, s, n_min, n_max, out);
  const __m256 sv = _mm256_set1_ps(s), half = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
  const __m256 lo = _mm256_set1_ps(static_cast<float>(n_min)), hi = _mm256_set1_ps(static_cast<float>(n_max));
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 f = _mm256_loadu_ps(x + j);
    if (act == Activation::relu) f = _mm256_blendv_ps(f, zero, _mm256_cmp_ps(f, zero, _CMP_LT_OQ));
    if (act == Activation::gelu) f = qann_gelu_avx2(f);
    const __m256 q = _mm256_round_ps(_mm256_add_ps(_mm256_div_ps(f, sv), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    // max returns its second operand for a NaN first operand: NaN becomes n_min, as in quantize_level.
    const __m256 c = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), _mm256_cvttps_epi32(c));
  }
  quantize_row_reference(x + j, n - j, act, s, n_min, n_max, out + j);
}

bool settle_avx2(const std::int32_t* level, std::int32_t* target, const std::int32_t* count, std::int64_t n) {
  std::int64_t j = 0;
  __m256i ne = _mm256_setzero_si256();
  for (; j + 8 <= n; j += 8) {
    const __m256i lv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(level + j));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(target + j), lv);
    ne = _mm256_or_si256(ne, _mm256_xor_si256(lv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(count + j))));
  }
  const bool differs = !_mm256_testz_si256(ne, ne);
  return settle_reference(level + j, target + j, count + j, n - j) || differs;
}

std::int64_t fire_avx2(std::int32_t* count, const std::int32_t* target, std::int64_t n, std::int32_t base, bool burst,
                       Event* out, FireTally& tally) {
  std::int64_t written = 0, j = 0;
  const __m256i one = _mm256_set1_epi32(1), minus = _mm256_set1_epi32(-1), zero = _mm256_setzero_si256();
  __m256i rem = zero;
  for (; j + 8 <= n; j += 8) {
    __m256i* cp = reinterpret_cast<__m256i*>(count + j);
    const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(target + j));
    const __m256i c = _mm256_loadu_si256(cp);
    const __m256i d = _mm256_sub_epi32(t, c);
    auto fire = static_cast<unsigned>(~_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(d, zero))) & 0xFF);
    if (!fire) continue;
    const __m256i delta = burst ? d : _mm256_max_epi32(_mm256_min_epi32(d, one), minus);
    const __m256i c2 = _mm256_add_epi32(c, delta);
    _mm256_storeu_si256(cp, c2);
    rem = _mm256_or_si256(rem, _mm256_xor_si256(c2, t));
    alignas(32) std::int32_t dl[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(dl), delta);
    while (fire) {
      const int b = __builtin_ctz(fire);
      fire &= fire - 1;
      out[written++] = {base + static_cast<std::int32_t>(j + b), dl[b]};
      if (dl[b] > 0)
        tally.pos += static_cast<std::uint64_t>(dl[b]);
      else
        tally.neg += static_cast<std::uint64_t>(-dl[b]);
    }
  }
  tally.remaining = tally.remaining || !_mm256_testz_si256(rem, rem);
  return written + fire_reference(count + j, target + j, n - j, base + static_cast<std::int32_t>(j), burst,
                                  out + written, tally);
}

void add_scaled_row_avx2(std::int32_t* acc, const std::int32_t* src, std::int32_t a, std::int64_t n) {
  const __m256i av = _mm256_set1_epi32(a);
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256i* p = reinterpret_cast<__m256i*>(acc + j);
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + j));
    _mm256_storeu_si256(p, _mm256_add_epi32(_mm256_loadu_si256(p), _mm256_mullo_epi32(x, av)));
  }
  for (; j < n; ++j) acc[j] += a * src[j];
}

// c = a b by blocks of 8 columns and 4 rows of a (the AVX-512 kernel's scheme): each vector of b's row q is
// loaded once for the four rows and every term is added, zero or not; the last n % 8 columns in plain loops.
void matmul_i32_avx2(const std::int32_t* a, const std::int32_t* b, std::int32_t* c, std::int64_t m, std::int64_t k,
                     std::int64_t n) {
  const std::int64_t full = n / 8 * 8;
  for (std::int64_t j0 = 0; j0 < full; j0 += 8) {
    std::int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      __m256i r0 = _mm256_setzero_si256(), r1 = r0, r2 = r0, r3 = r0;
      const std::int32_t* a0 = a + i * k;
      for (std::int64_t q = 0; q < k; ++q) {
        const __m256i bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + q * n + j0));
        r0 = _mm256_add_epi32(r0, _mm256_mullo_epi32(_mm256_set1_epi32(a0[q]), bv));
        r1 = _mm256_add_epi32(r1, _mm256_mullo_epi32(_mm256_set1_epi32(a0[k + q]), bv));
        r2 = _mm256_add_epi32(r2, _mm256_mullo_epi32(_mm256_set1_epi32(a0[2 * k + q]), bv));
        r3 = _mm256_add_epi32(r3, _mm256_mullo_epi32(_mm256_set1_epi32(a0[3 * k + q]), bv));
      }
      std::int32_t* ci = c + i * n + j0;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ci), r0);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ci + n), r1);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ci + 2 * n), r2);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(ci + 3 * n), r3);
    }
    for (; i < m; ++i) {
      __m256i r0 = _mm256_setzero_si256();
      for (std::int64_t q = 0; q < k; ++q)
        r0 = _mm256_add_epi32(r0, _mm256_mullo_epi32(_mm256_set1_epi32(a[i * k + q]),
                                                     _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + q * n + j0))));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * n + j0), r0);
    }
  }
  if (full == n) return;
  for (std::int64_t i = 0; i < m; ++i) {
    std::int32_t* ci = c + i * n;
    for (std::int64_t j = full; j < n; ++j) ci[j] = 0;
    for (std::int64_t q = 0; q < k; ++q) {
      const std::int32_t x = a[i * k + q];
      const std::int32_t* bq = b + q * n;
      for (std::int64_t j = full; j < n; ++j) ci[j] += x * bq[j];
    }
  }
}

}  // namespace

Kernels reference_kernels() {
  Kernels k;
  k.isa = Isa::avx2;
  k.add_events = add_events_reference;
  k.gemm_codes = gemm_codes_reference;
  k.max_code = 255;
  k.quantize_row = quantize_row_reference;
  k.settle = settle_reference;
  k.fire_chunks = detail::fire_chunks_impl<fire_reference>;
  k.eval_fire_rows = detail::eval_fire_rows_impl<quantize_row_reference, settle_reference, fire_reference>;
  k.add_scaled_row = add_scaled_row_reference;
  k.matmul_i32 = matmul_i32_reference;
  k.fire = fire_reference;
  k.eval_fire_acc_rows = eval_fire_acc_rows_reference;
  k.eval_fire_src_rows = eval_fire_src_rows_reference;
  k.diff_row = diff_row_reference;
  return k;
}

namespace detail {
Kernels avx2_kernels() {
  Kernels k;
  k.isa = Isa::avx2;
  k.add_events = add_events_avx2;
  k.gemm_codes = gemm_codes_avx2;
  k.max_code = 127;
  k.quantize_row = quantize_row_avx2;
  k.settle = settle_avx2;
  k.fire_chunks = detail::fire_chunks_impl<fire_avx2>;
  k.eval_fire_rows = detail::eval_fire_rows_impl<quantize_row_avx2, settle_avx2, fire_avx2>;
  k.add_scaled_row = add_scaled_row_avx2;
  k.matmul_i32 = matmul_i32_avx2;
  k.lanes = 8;
  k.fire = fire_avx2;
  k.diff_row = diff_row_loops;
  return k;
}
}  // namespace detail

Kernels kernels_for(Isa isa) {
  if (isa >= Isa::avx512_vnni) return detail::avx512_kernels();
  return detail::avx2_kernels();
}

}  // namespace snnconv::snn
