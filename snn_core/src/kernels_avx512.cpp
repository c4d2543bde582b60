// AVX-512 + VNNI kernels of the SNN engine (kernels.hpp). Built with the AVX-512 flags (CMake:
// snnconv_avx512_sources) and called only when active_isa() says the CPU has them. Intrinsics only: the
// compiler's own vectoriser is off in this file (docs/reliability.md, "The compiler").
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <vector>

// g++ 12's avx512fintrin.h passes an undefined vector as the unused merge operand of the unmasked intrinsics (and of
// its reductions), and -Wmaybe-uninitialized flags it once inlined: a false positive about the header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels.hpp"
#include "kernels_batch.hpp"
#include "snnconv/ann_baseline/qann.hpp"

namespace snnconv::snn {
namespace {

__mmask16 tail_mask(std::int64_t cols) {
  return cols >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << cols) - 1u);
}

void add_events_avx512(std::int32_t* acc, const std::int8_t* w, const FastDiv& k, std::int64_t n, const Event* events,
                       std::size_t count, std::int64_t j0, std::int64_t j1) {
  for (std::size_t e = 0; e < count; ++e) {
    const std::int64_t r = k.div(events[e].index), kk = events[e].index - r * static_cast<std::int64_t>(k.d);
    const std::int8_t* wr = w + kk * n;
    std::int32_t* a = acc + r * n;
    const std::int32_t d = events[e].delta;
    const __m512i dv = _mm512_set1_epi32(d);
    for (std::int64_t j = j0; j < j1; j += 16) {
      const __mmask16 m = tail_mask(j1 - j);
      const __m512i wv = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, wr + j));
      const __m512i av = _mm512_maskz_loadu_epi32(m, a + j);
      __m512i sum;
      if (d == 1)
        sum = _mm512_add_epi32(av, wv);
      else if (d == -1)
        sum = _mm512_sub_epi32(av, wv);
      else
        sum = _mm512_add_epi32(av, _mm512_mullo_epi32(wv, dv));
      _mm512_mask_storeu_epi32(a + j, m, sum);
    }
  }
}

// One tile of NR rows x NB blocks of 16 columns: vpdpbusd adds four u8 x s8 products into each int32 lane
// without saturation, so codes up to 255 are exact.
template <int NR, int NB>
void gemm_tile_vnni(const std::uint8_t* codes, std::int64_t kp, const std::int8_t* packed, std::int64_t kq,
                    std::int64_t b, const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t n) {
  __m512i acc[NR][NB];
  for (int r = 0; r < NR; ++r)
    for (int c = 0; c < NB; ++c) acc[r][c] = _mm512_setzero_si512();
  const std::int8_t* blocks[NB];
  for (int c = 0; c < NB; ++c) blocks[c] = packed + (b + c) * kq * 64;
  for (std::int64_t q = 0; q < kq; ++q) {
    __m512i wv[NB];
    for (int c = 0; c < NB; ++c) wv[c] = _mm512_loadu_si512(blocks[c] + q * 64);
    for (int r = 0; r < NR; ++r) {
      std::int32_t quad;
      std::memcpy(&quad, codes + r * kp + 4 * q, 4);
      const __m512i e = _mm512_set1_epi32(quad);
      for (int c = 0; c < NB; ++c) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], e, wv[c]);
    }
  }
  for (int c = 0; c < NB; ++c) {
    const std::int64_t j = (b + c) * kPackCols;
    const __mmask16 m = tail_mask(n - j);
    const __m512i cv = _mm512_maskz_loadu_epi32(m, corr + j);
    for (int r = 0; r < NR; ++r) {
      std::int32_t* a = acc_rows[r] + j;
      _mm512_mask_storeu_epi32(a, m, _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, a), _mm512_sub_epi32(acc[r][c], cv)));
    }
  }
}

template <int NR>
void gemm_rows_vnni(const std::uint8_t* codes, std::int64_t kp, const std::int8_t* packed, std::int64_t kq,
                    const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t n, std::int64_t b0,
                    std::int64_t b1) {
  std::int64_t b = b0;
  for (; b + 4 <= b1; b += 4) gemm_tile_vnni<NR, 4>(codes, kp, packed, kq, b, corr, acc_rows, n);
  for (; b + 2 <= b1; b += 2) gemm_tile_vnni<NR, 2>(codes, kp, packed, kq, b, corr, acc_rows, n);
  for (; b < b1; ++b) gemm_tile_vnni<NR, 1>(codes, kp, packed, kq, b, corr, acc_rows, n);
}

void gemm_codes_vnni(const std::uint8_t* codes, std::int64_t rows, std::int64_t kp, const std::int8_t* packed,
                     const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t n, std::int64_t b0,
                     std::int64_t b1) {
  const std::int64_t kq = kp / 4;
  std::int64_t r = 0;
  for (; r + 4 <= rows; r += 4) gemm_rows_vnni<4>(codes + r * kp, kp, packed, kq, corr, acc_rows + r, n, b0, b1);
  for (; r < rows; ++r) gemm_rows_vnni<1>(codes + r * kp, kp, packed, kq, corr, acc_rows + r, n, b0, b1);
}

// ann::qann_gelu lane by lane (see the AVX2 twin in kernels.cpp).
__m512 qann_gelu_avx512(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-ann::kQannErfClamp), hi = _mm512_set1_ps(ann::kQannErfClamp);
  const __m512 u = _mm512_div_ps(x, _mm512_set1_ps(1.41421356237309504880f));
  __m512 t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(u, lo, _CMP_LT_OQ), u, lo);  // std::max(u, lo)
  t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(hi, t, _CMP_LT_OQ), t, hi);         // std::min(t, hi)
  const __m512 z = _mm512_mul_ps(t, t);
  __m512 p = _mm512_set1_ps(ann::kQannErfP[5]), q = _mm512_set1_ps(ann::kQannErfQ[5]);
  for (int k = 4; k >= 0; --k) {
    p = _mm512_add_ps(_mm512_mul_ps(p, z), _mm512_set1_ps(ann::kQannErfP[k]));
    q = _mm512_add_ps(_mm512_mul_ps(q, z), _mm512_set1_ps(ann::kQannErfQ[k]));
  }
  const __m512 erf = _mm512_div_ps(_mm512_mul_ps(t, p), q);
  const __m512 a = _mm512_add_ps(_mm512_set1_ps(1.0f), erf);
  return _mm512_mul_ps(_mm512_mul_ps(x, a), _mm512_set1_ps(0.5f));
}

void quantize_row_avx512(const float* x, std::int64_t n, Activation act, float s, std::int32_t n_min,
                         std::int32_t n_max, std::int32_t* out) {
  // Vectorised: none, relu, gelu; any other activation (gelu_tanh, tanh, silu) through the QANN's function.
  if (act != Activation::none && act != Activation::relu && act != Activation::gelu) {
    for (std::int64_t j = 0; j < n; ++j) out[j] = ann::quantize_level(x[j], act, s, n_min, n_max);
    return;
  }
  const __m512 sv = _mm512_set1_ps(s), half = _mm512_set1_ps(0.5f), zero = _mm512_setzero_ps();
  const __m512 lo = _mm512_set1_ps(static_cast<float>(n_min)), hi = _mm512_set1_ps(static_cast<float>(n_max));
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    __m512 f = _mm512_maskz_loadu_ps(m, x + j);
    if (act == Activation::relu) f = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(f, zero, _CMP_LT_OQ), f, zero);
    if (act == Activation::gelu) f = qann_gelu_avx512(f);
    const __m512 q = _mm512_roundscale_ps(_mm512_add_ps(_mm512_div_ps(f, sv), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    // max returns its second operand for a NaN first operand: NaN becomes n_min, as in quantize_level.
    const __m512 c = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
    _mm512_mask_storeu_epi32(out + j, m, _mm512_cvttps_epi32(c));
  }
}

bool settle_avx512(const std::int32_t* level, std::int32_t* target, const std::int32_t* count, std::int64_t n) {
  __mmask16 ne = 0;
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    const __m512i lv = _mm512_maskz_loadu_epi32(m, level + j);
    _mm512_mask_storeu_epi32(target + j, m, lv);
    ne |= _mm512_mask_cmpneq_epi32_mask(m, lv, _mm512_maskz_loadu_epi32(m, count + j));
  }
  return ne != 0;
}

// The constants of the fire step (built once per call, not per vector).
struct FireConsts {
  __m512i iota, lo_perm, hi_perm, one, minus, zero;
  FireConsts()
      : iota(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
        lo_perm(_mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)),
        hi_perm(_mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)),
        one(_mm512_set1_epi32(1)),
        minus(_mm512_set1_epi32(-1)),
        zero(_mm512_setzero_si512()) {}
};

// A kernel call's spike tallies, kept in registers and added to the caller's FireTally once at the end: the
// masked event stores may alias any memory, so a tally updated through a reference was loaded and stored back
// per vector, and burst mode summed every vector's deltas across its lanes (two horizontal sums). Burst deltas'
// positive and negative parts are summed lane by lane in uint32 and folded into the scalars every `every`
// vectors, before a lane could wrap (`bound`: the largest size of one delta).
struct TallySums {
  __m512i pos_v = _mm512_setzero_si512(), neg_v = _mm512_setzero_si512();
  std::uint64_t pos = 0, neg = 0;
  std::int64_t every = 1, left = 1;
  explicit TallySums(std::uint64_t bound) {
    every = left = static_cast<std::int64_t>(std::max<std::uint64_t>(1, std::uint64_t{0xFFFFFFFFu} / std::max<std::uint64_t>(bound, 1)));
  }
  // The count range bounds a delta: counts start at 0 and step toward targets in [n_min, n_max].
  TallySums(std::int32_t n_min, std::int32_t n_max)
      : TallySums(static_cast<std::uint64_t>(std::max<std::int64_t>(n_max, 0) - std::min<std::int64_t>(n_min, 0))) {}
  static std::uint64_t lanes_sum(__m512i v) {  // uint32 lanes, summed in int64
    const __m512i wide = _mm512_add_epi64(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(v)),
                                          _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(v, 1)));
    return static_cast<std::uint64_t>(_mm512_reduce_add_epi64(wide));
  }
  void fold() {
    pos += lanes_sum(pos_v);
    neg += lanes_sum(neg_v);
    pos_v = neg_v = _mm512_setzero_si512();
    left = every;
  }
  void add_burst(__m512i delta, __m512i zero) {
    pos_v = _mm512_add_epi32(pos_v, _mm512_max_epi32(delta, zero));
    neg_v = _mm512_add_epi32(neg_v, _mm512_max_epi32(_mm512_sub_epi32(zero, delta), zero));
    if (--left == 0) fold();
  }
  void into(FireTally& tally, bool burst) {
    if (burst) fold();
    tally.pos += pos;
    tally.neg += neg;
  }
};

// One vector of the fire step: the lanes of m whose count c differs from its target t step toward it (count
// stored at cp, also in the lanes of `also_store`, which do not fire and keep c), their events appended at
// out + written (increasing lane), tallies added; returns the lanes that fired and ors into `rem` those whose
// count still differs.
inline __mmask16 fire_vector(std::int32_t* cp, __m512i t, __m512i c, __mmask16 m, std::int32_t base, bool burst,
                             const FireConsts& k, Event* out, std::int64_t& written, TallySums& tally, __mmask16& rem,
                             __mmask16 also_store = 0, bool emit = true) {
  const __m512i d = _mm512_sub_epi32(t, c);
  const __mmask16 fire = _mm512_mask_cmpneq_epi32_mask(m, d, k.zero);
  // No early exit when no lane fires: whether one does is data-dependent and mispredicted often enough to cost
  // more than the masked-off work below.
  const __m512i delta = burst ? d : _mm512_max_epi32(_mm512_min_epi32(d, k.one), k.minus);
  const __m512i c2 = _mm512_add_epi32(c, delta);
  _mm512_mask_storeu_epi32(cp, fire | also_store, c2);
  rem |= _mm512_mask_cmpneq_epi32_mask(fire, c2, t);
  if (burst) {
    tally.add_burst(delta, k.zero);  // 0 in the lanes that do not fire
  } else {  // deltas of +-1: count the lanes (two mask popcounts instead of two horizontal sums)
    const auto up = static_cast<unsigned>(_mm512_mask_cmpgt_epi32_mask(fire, delta, k.zero));
    tally.pos += static_cast<std::uint64_t>(__builtin_popcount(up));
    tally.neg += static_cast<std::uint64_t>(__builtin_popcount(static_cast<unsigned>(fire) & ~up));
  }
  const int n = __builtin_popcount(static_cast<unsigned>(fire));
  if (!emit) {  // FireTally::count_only: the caller reads the events off the counts if at all
    written += n;
    return fire;
  }
  // The firing lanes' (index, delta) pairs, packed and interleaved into Events.
  const __m512i idx = _mm512_maskz_compress_epi32(fire, _mm512_add_epi32(k.iota, _mm512_set1_epi32(base)));
  const __m512i dl = _mm512_maskz_compress_epi32(fire, delta);
  std::int32_t* dst = reinterpret_cast<std::int32_t*>(out + written);
  // Both halves stored under the mask of their 2n words, the second with an empty mask when n <= 8 (a masked-off
  // store writes and faults nothing): no branch on the number of lanes that fired.
  const std::uint32_t words = _bzhi_u32(0xFFFFFFFFu, static_cast<unsigned>(2 * n));
  _mm512_mask_storeu_epi32(dst, static_cast<__mmask16>(words), _mm512_permutex2var_epi32(idx, k.lo_perm, dl));
  _mm512_mask_storeu_epi32(dst + 16, static_cast<__mmask16>(words >> 16), _mm512_permutex2var_epi32(idx, k.hi_perm, dl));
  written += n;
  return fire;
}

std::int64_t fire_avx512(std::int32_t* count, const std::int32_t* target, std::int64_t n, std::int32_t base, bool burst,
                         Event* out, FireTally& tally_out) {
  const FireConsts k;
  TallySums tally(std::uint64_t{1} << 31);  // any int32 delta's positive or negative part
  std::int64_t written = 0;
  __mmask16 rem = 0;
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    const __m512i t = _mm512_maskz_loadu_epi32(m, target + j);
    const __m512i c = _mm512_maskz_loadu_epi32(m, count + j);
    fire_vector(count + j, t, c, m, base + static_cast<std::int32_t>(j), burst, k, out, written, tally, rem);
  }
  tally.into(tally_out, burst);
  tally_out.remaining = tally_out.remaining || rem != 0;
  return written;
}

// eval_fire_rows (kernels_batch.hpp) in one pass per vector: the level is quantized, stored as the target and
// compared with the count in registers, and the vector fires at once, so no level buffer is written and read
// back, nor a target just stored through a mask (which the load after it cannot take from the store buffer).
// Same targets, counts, events (in the same order), fired chunks and tallies as the generic loop; activations
// that quantize_row_avx512 does not vectorise take the generic loop.

// The currents of eval_fire_rows_fused: read from a buffer, or formed from an int32 accumulator as linear_row
// (c * float(acc) + b) and product_row (c * float(acc)) do.
struct BufferCurrents {
  bool column_free() const { return true; }
  const float* cur;
  __m512 at(std::int64_t row, std::int64_t w, std::int64_t, std::int64_t j, __mmask16 m) const {
    return _mm512_maskz_loadu_ps(m, cur + row * w + j);
  }
};
// A synapse's current, linear_row: c[j] * float(acc) + b[j].
struct LinearCurrents {
  const std::int32_t* acc;
  const float* c;
  const float* b;
  bool column_free() const { return false; }
  __m512 at(std::int64_t, std::int64_t, std::int64_t base, std::int64_t j, __mmask16 m) const {
    const __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, c + j), _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + base + j)));
    return _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, b + j));
  }
};
// A product's current, product_row: one factor times float(acc), whatever the column.
struct ScaledCurrents {
  const std::int32_t* acc;
  __m512 c;
  bool column_free() const { return true; }
  __m512 at(std::int64_t, std::int64_t, std::int64_t base, std::int64_t j, __mmask16 m) const {
    return _mm512_mul_ps(c, _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + base + j)));
  }
};
// Any other combination of a factor per column or one factor, with or without a bias, as given.
struct AccCurrents {
  const std::int32_t* acc;
  const float* c;
  std::int64_t c_step;
  const float* b;
  bool column_free() const { return c_step == 0 && b == nullptr; }
  __m512 at(std::int64_t, std::int64_t, std::int64_t base, std::int64_t j, __mmask16 m) const {
    const __m512 cv = c_step == 1 ? _mm512_maskz_loadu_ps(m, c + j) : _mm512_set1_ps(c[0]);
    const __m512 y = _mm512_mul_ps(cv, _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + base + j)));
    return b ? _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, b + j)) : y;
  }
};

// Flat sweeps (eval_fire_fused) take runs of up to kFlatRows rows of fewer than 64 lanes: bitmaps of
// kFlatWords 64-bit words (one more, zero, so that a row's bits can always be read from two words).
constexpr std::int64_t kFlatRows = 32;
constexpr std::int64_t kFlatWords = kFlatRows;

// Currents read in place (eval_fire_src_rows): a float array laid out like the population, or the residual
// sum of two count arrays as sum_row forms it (s_a * float(q_a) + s_b * float(q_b), two roundings and an add).
struct PlaceCurrents {
  const float* y;
  bool column_free() const { return true; }
  __m512 at(std::int64_t, std::int64_t, std::int64_t base, std::int64_t j, __mmask16 m) const {
    return _mm512_maskz_loadu_ps(m, y + base + j);
  }
};
struct SumCurrents {
  const std::int32_t* q_a;
  const std::int32_t* q_b;
  __m512 s_a, s_b;
  bool column_free() const { return true; }
  __m512 at(std::int64_t, std::int64_t, std::int64_t base, std::int64_t j, __mmask16 m) const {
    const __m512 x = _mm512_mul_ps(s_a, _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, q_a + base + j)));
    const __m512 y = _mm512_mul_ps(s_b, _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, q_b + base + j)));
    return _mm512_add_ps(x, y);
  }
};

// FromRest (kernels.hpp): the counts are not loaded but taken as 0, and every lane's count is stored. A template
// parameter, not a run-time flag: a per-vector select cost the later steps' sweeps 2-5 % (fashion_vit strict).
template <bool FromRest, typename Currents>
std::int64_t eval_fire_fused_as(const Currents src, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                Activation act, float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                                std::int32_t* count, bool burst, Event* out, std::int32_t* fired,
                                std::uint8_t* remaining, std::int64_t& nfired_out, FireTally& tally_out) {
  const FireConsts k;
  constexpr __mmask16 rest_lanes = FromRest ? 0xFFFF : 0;
  const bool emit = !tally_out.count_only;
  // Tallies and the fired-chunk count in locals, written back once (an event store may alias any memory).
  TallySums tally(n_min, n_max);
  std::int64_t nfired = nfired_out;
  int last_remaining = -1;  // tally.remaining as the last fired chunk left it (-1: no chunk fired)
  const __m512 sv = _mm512_set1_ps(s), half = _mm512_set1_ps(0.5f), zero = _mm512_setzero_ps();
  const __m512 lo = _mm512_set1_ps(static_cast<float>(n_min)), hi = _mm512_set1_ps(static_cast<float>(n_max));
  const std::int64_t cpr = (w + kChunk - 1) / kChunk;
  std::int64_t written = 0;
  // Rows narrower than a chunk whose width is not a multiple of 16 (attention's 17 tokens) waste most lanes
  // of their last vector. When the current does not depend on the column, a run of consecutive rows is swept
  // as one flat range of vectors; each vector's fire and remaining lanes go into bitmaps of the run, split
  // into the rows' chunks afterwards. The same lanes are evaluated and fired in the same order, so targets,
  // counts, events and fired chunks are those of the row-by-row sweep.
  const bool flat = cpr == 1 && w % 16 != 0 && src.column_free();
  for (std::int64_t row = 0; row < nrows; ++row) {
    const std::int64_t r = rows[row], base = r * w;
    if (flat) {
      std::int64_t run = 1;
      while (row + run < nrows && run < kFlatRows && rows[row + run] == r + run) ++run;
      if (run > 1) {
        std::uint64_t fire_bits[kFlatWords + 1] = {}, rem_bits[kFlatWords + 1] = {};
        const std::int64_t len = run * w;
        for (std::int64_t o = 0; o < len; o += 16) {
          const __mmask16 m = tail_mask(len - o);
          const std::int64_t i = base + o;
          __m512 f = src.at(row, w, base, o, m);
          if (act == Activation::relu) f = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(f, zero, _CMP_LT_OQ), f, zero);
          if (act == Activation::gelu) f = qann_gelu_avx512(f);
          const __m512 q = _mm512_roundscale_ps(_mm512_add_ps(_mm512_div_ps(f, sv), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
          const __m512i t = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(q, lo), hi));
          _mm512_mask_storeu_epi32(target + i, m, t);
          const __m512i c = FromRest ? k.zero : _mm512_maskz_loadu_epi32(m, count + i);
          __mmask16 rem = 0;
          const __mmask16 fired_lanes = fire_vector(count + i, t, c, m, static_cast<std::int32_t>(i), burst, k, out,
                                                    written, tally, rem, m & rest_lanes, emit);
          fire_bits[o / 64] |= std::uint64_t{fired_lanes} << (o % 64);
          rem_bits[o / 64] |= std::uint64_t{rem} << (o % 64);
        }
        const std::uint64_t row_mask = (std::uint64_t{1} << w) - 1;  // w < 64 here
        auto bits_of = [&](const std::uint64_t* bm, std::int64_t at) {
          const std::int64_t word = at / 64, sh = at % 64;
          const std::uint64_t v = sh == 0 ? bm[word] : (bm[word] >> sh) | (bm[word + 1] << (64 - sh));
          return v & row_mask;
        };
        for (std::int64_t q = 0; q < run; ++q) {
          if (bits_of(fire_bits, q * w) == 0) continue;
          const bool rem = bits_of(rem_bits, q * w) != 0;
          last_remaining = rem ? 1 : 0;
          fired[nfired] = static_cast<std::int32_t>(r + q);  // one chunk per row
          remaining[nfired++] = rem ? 1 : 0;
        }
        row += run - 1;
        continue;
      }
    }
    for (std::int64_t ch = 0; ch < cpr; ++ch) {
      const std::int64_t j0 = ch * kChunk, n = std::min(kChunk, w - j0);
      __mmask16 rem = 0, any = 0;
      for (std::int64_t v = 0; v < n; v += 16) {
        const __mmask16 m = tail_mask(n - v);
        const std::int64_t i = base + j0 + v;
        // quantize_row_avx512, lane by lane the same operations.
        __m512 f = src.at(row, w, base, j0 + v, m);
        if (act == Activation::relu) f = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(f, zero, _CMP_LT_OQ), f, zero);
        if (act == Activation::gelu) f = qann_gelu_avx512(f);
        const __m512 q = _mm512_roundscale_ps(_mm512_add_ps(_mm512_div_ps(f, sv), half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        const __m512i t = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(q, lo), hi));
        __m512i c;
        if (m == 0xFFFF) {
          _mm512_storeu_si512(target + i, t);
          c = FromRest ? k.zero : _mm512_loadu_si512(count + i);
        } else {
          _mm512_mask_storeu_epi32(target + i, m, t);
          c = FromRest ? k.zero : _mm512_maskz_loadu_epi32(m, count + i);
        }
        any |= fire_vector(count + i, t, c, m, static_cast<std::int32_t>(i), burst, k, out, written, tally, rem,
                           m & rest_lanes, emit);
      }
      if (!any) continue;
      last_remaining = rem != 0 ? 1 : 0;
      fired[nfired] = static_cast<std::int32_t>(r * cpr + ch);
      remaining[nfired++] = rem != 0 ? 1 : 0;
    }
  }
  tally.into(tally_out, burst);
  if (last_remaining >= 0) tally_out.remaining = last_remaining != 0;
  nfired_out = nfired;
  return written;
}

template <typename Currents>
std::int64_t eval_fire_fused(const Currents src, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                             Activation act, float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                             std::int32_t* count, bool burst, bool from_rest, Event* out, std::int32_t* fired,
                             std::uint8_t* remaining, std::int64_t& nfired, FireTally& tally) {
  if (from_rest)
    return eval_fire_fused_as<true>(src, rows, nrows, w, act, s, n_min, n_max, target, count, burst, out, fired,
                                    remaining, nfired, tally);
  return eval_fire_fused_as<false>(src, rows, nrows, w, act, s, n_min, n_max, target, count, burst, out, fired,
                                   remaining, nfired, tally);
}

bool fused_activation(Activation act) {
  return act == Activation::none || act == Activation::relu || act == Activation::gelu;
}

std::int64_t eval_fire_rows_fused(const float* cur, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                  Activation act, float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                                  std::int32_t* count, std::int32_t* level, bool burst, bool from_rest, Event* out,
                                  std::int32_t* fired, std::uint8_t* remaining, std::int64_t& nfired, FireTally& tally) {
  if (!fused_activation(act))
    return detail::eval_fire_rows_impl<quantize_row_avx512, settle_avx512, fire_avx512>(
        cur, rows, nrows, w, act, s, n_min, n_max, target, count, level, burst, from_rest, out, fired, remaining, nfired, tally);
  return eval_fire_fused(BufferCurrents{cur}, rows, nrows, w, act, s, n_min, n_max, target, count, burst, from_rest, out, fired,
                         remaining, nfired, tally);
}

// eval_fire_acc_rows: the currents formed in registers too (activations quantize_row_avx512 does not vectorise
// go through a row buffer and the generic loop).
std::int64_t eval_fire_acc_rows_avx512(const std::int32_t* acc, const float* c, std::int64_t c_step, const float* b,
                                       const std::int32_t* rows, std::int64_t nrows, std::int64_t w, Activation act,
                                       float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                                       std::int32_t* count, bool burst, bool from_rest, Event* out,
                                       std::int32_t* fired, std::uint8_t* remaining, std::int64_t& nfired,
                                       FireTally& tally) {
  if (!fused_activation(act)) {
    std::vector<float> cur(static_cast<std::size_t>(w));
    std::vector<std::int32_t> level(static_cast<std::size_t>(w));
    std::int64_t written = 0;
    for (std::int64_t k = 0; k < nrows; ++k) {
      const std::int32_t* a = acc + std::int64_t{rows[k]} * w;
      for (std::int64_t j = 0; j < w; ++j) {
        const float y = c[j * c_step] * static_cast<float>(a[j]);
        cur[static_cast<std::size_t>(j)] = b ? y + b[j] : y;
      }
      written += detail::eval_fire_rows_impl<quantize_row_avx512, settle_avx512, fire_avx512>(
          cur.data(), rows + k, 1, w, act, s, n_min, n_max, target, count, level.data(), burst, from_rest, out + written, fired,
          remaining, nfired, tally);
    }
    return written;
  }
  // The two forms the planner makes get their own instantiation (no per-vector test of c_step and b).
  if (c_step == 1 && b)
    return eval_fire_fused(LinearCurrents{acc, c, b}, rows, nrows, w, act, s, n_min, n_max, target, count, burst, from_rest, out,
                           fired, remaining, nfired, tally);
  if (c_step == 0 && !b)
    return eval_fire_fused(ScaledCurrents{acc, _mm512_set1_ps(c[0])}, rows, nrows, w, act, s, n_min, n_max, target,
                           count, burst, from_rest, out, fired, remaining, nfired, tally);
  return eval_fire_fused(AccCurrents{acc, c, c_step, b}, rows, nrows, w, act, s, n_min, n_max, target, count, burst,
                         from_rest, out, fired, remaining, nfired, tally);
}

// eval_fire_src_rows: the currents read in place (activations quantize_row_avx512 does not vectorise take
// the reference's way: a row buffer and the generic loop).
std::int64_t eval_fire_src_rows_avx512(const float* y, const std::int32_t* q_a, float s_a, const std::int32_t* q_b,
                                       float s_b, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                       Activation act, float s, std::int32_t n_min, std::int32_t n_max,
                                       std::int32_t* target, std::int32_t* count, bool burst, bool from_rest,
                                       Event* out, std::int32_t* fired, std::uint8_t* remaining,
                                       std::int64_t& nfired, FireTally& tally) {
  if (!fused_activation(act))
    return detail::eval_fire_src_rows_impl<quantize_row_avx512, settle_avx512, fire_avx512>(
        y, q_a, s_a, q_b, s_b, rows, nrows, w, act, s, n_min, n_max, target, count, burst, from_rest, out, fired, remaining,
        nfired, tally);
  if (q_a)
    return eval_fire_fused(SumCurrents{q_a, q_b, _mm512_set1_ps(s_a), _mm512_set1_ps(s_b)}, rows, nrows, w, act, s,
                           n_min, n_max, target, count, burst, from_rest, out, fired, remaining, nfired, tally);
  return eval_fire_fused(PlaceCurrents{y}, rows, nrows, w, act, s, n_min, n_max, target, count, burst, from_rest, out, fired,
                         remaining, nfired, tally);
}

void add_scaled_row_avx512(std::int32_t* acc, const std::int32_t* src, std::int32_t a, std::int64_t n) {
  const __m512i av = _mm512_set1_epi32(a);
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    const __m512i x = _mm512_maskz_loadu_epi32(m, src + j);
    _mm512_mask_storeu_epi32(acc + j, m, _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, acc + j), _mm512_mullo_epi32(x, av)));
  }
}

// c = a b by blocks of 16 columns and 4 rows of a: each vector of b's row q is loaded once for the four rows
// and every term is added, zero or not (a data-dependent skip mispredicts on the sparse count matrices of
// attention and cost more than the multiply it saved).
void matmul_i32_avx512(const std::int32_t* a, const std::int32_t* b, std::int32_t* c, std::int64_t m, std::int64_t k,
                       std::int64_t n) {
  for (std::int64_t j0 = 0; j0 < n; j0 += 16) {
    const __mmask16 mj = tail_mask(n - j0);
    std::int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      __m512i r0 = _mm512_setzero_si512(), r1 = r0, r2 = r0, r3 = r0;
      const std::int32_t* a0 = a + i * k;
      for (std::int64_t q = 0; q < k; ++q) {
        const __m512i bv = _mm512_maskz_loadu_epi32(mj, b + q * n + j0);
        r0 = _mm512_add_epi32(r0, _mm512_mullo_epi32(_mm512_set1_epi32(a0[q]), bv));
        r1 = _mm512_add_epi32(r1, _mm512_mullo_epi32(_mm512_set1_epi32(a0[k + q]), bv));
        r2 = _mm512_add_epi32(r2, _mm512_mullo_epi32(_mm512_set1_epi32(a0[2 * k + q]), bv));
        r3 = _mm512_add_epi32(r3, _mm512_mullo_epi32(_mm512_set1_epi32(a0[3 * k + q]), bv));
      }
      std::int32_t* ci = c + i * n + j0;
      _mm512_mask_storeu_epi32(ci, mj, r0);
      _mm512_mask_storeu_epi32(ci + n, mj, r1);
      _mm512_mask_storeu_epi32(ci + 2 * n, mj, r2);
      _mm512_mask_storeu_epi32(ci + 3 * n, mj, r3);
    }
    for (; i < m; ++i) {
      __m512i r0 = _mm512_setzero_si512();
      for (std::int64_t q = 0; q < k; ++q)
        r0 = _mm512_add_epi32(r0, _mm512_mullo_epi32(_mm512_set1_epi32(a[i * k + q]), _mm512_maskz_loadu_epi32(mj, b + q * n + j0)));
      _mm512_mask_storeu_epi32(c + i * n + j0, mj, r0);
    }
  }
}

// NR rows x NB blocks of 16 columns of matmul_i16: a's pairs [NR][kp], b's pairs [kp][ldb] from its first column,
// `cols` columns left.
// acc + the pairwise products of a and b's int16 pairs (vpdpwssd). In asm: GCC's intrinsic did not tie the
// accumulator to its register and copied (and spilled) every accumulator around each instruction.
inline __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

template <int NR, int NB>
void matmul_i16_tile(const std::int32_t* ap, std::int64_t kp, const std::int32_t* bp, std::int64_t cols, std::int64_t ldb,
                     std::int32_t* c) {
  static_assert(NR == 1 || NR == 4, "one or four rows");
  static_assert(NB == 1 || NB == 2, "one or two blocks");
  // Named accumulators (arrays of them were kept in memory and stored back every iteration).
  const __mmask16 m0 = tail_mask(cols), m1 = NB == 2 ? tail_mask(cols - 16) : __mmask16{0};
  __m512i r00 = _mm512_setzero_si512(), r01 = r00, r10 = r00, r11 = r00, r20 = r00, r21 = r00, r30 = r00, r31 = r00;
  for (std::int64_t p = 0; p < kp; ++p) {
    const __m512i b0 = _mm512_maskz_loadu_epi32(m0, bp + p * ldb);
    const __m512i b1 = NB == 2 ? _mm512_maskz_loadu_epi32(m1, bp + p * ldb + 16) : b0;
    const __m512i e0 = _mm512_set1_epi32(ap[p]);
    r00 = dpwssd(r00, e0, b0);
    if constexpr (NB == 2) r01 = dpwssd(r01, e0, b1);
    if constexpr (NR == 4) {
      const __m512i e1 = _mm512_set1_epi32(ap[kp + p]);
      r10 = dpwssd(r10, e1, b0);
      if constexpr (NB == 2) r11 = dpwssd(r11, e1, b1);
      const __m512i e2 = _mm512_set1_epi32(ap[2 * kp + p]);
      r20 = dpwssd(r20, e2, b0);
      if constexpr (NB == 2) r21 = dpwssd(r21, e2, b1);
      const __m512i e3 = _mm512_set1_epi32(ap[3 * kp + p]);
      r30 = dpwssd(r30, e3, b0);
      if constexpr (NB == 2) r31 = dpwssd(r31, e3, b1);
    }
  }
  _mm512_mask_storeu_epi32(c, m0, r00);
  if constexpr (NB == 2) _mm512_mask_storeu_epi32(c + 16, m1, r01);
  if constexpr (NR == 4) {
    _mm512_mask_storeu_epi32(c + ldb, m0, r10);
    _mm512_mask_storeu_epi32(c + 2 * ldb, m0, r20);
    _mm512_mask_storeu_epi32(c + 3 * ldb, m0, r30);
    if constexpr (NB == 2) {
      _mm512_mask_storeu_epi32(c + ldb + 16, m1, r11);
      _mm512_mask_storeu_epi32(c + 2 * ldb + 16, m1, r21);
      _mm512_mask_storeu_epi32(c + 3 * ldb + 16, m1, r31);
    }
  }
}

// matmul_i32 for int16 entries: the four rows of a and 16 columns as in matmul_i32_avx512, but each instruction
// multiplies a pair of k and adds both products (vpdpwssd; exact: the caller bounds every sum to int32). a's rows
// are narrowed to int16, so one int32 of a row holds the pair (a[i][2p], a[i][2p+1]); b's rows 2p and 2p + 1
// are interleaved column by column into int32 pairs the same way. An odd k pads the last pair with 0.
void matmul_i16_avx512(const std::int32_t* a, const std::int32_t* b, std::int32_t* c, std::int64_t m, std::int64_t k,
                       std::int64_t n, std::int32_t* pack) {
  const std::int64_t kp = (k + 1) / 2;
  std::int32_t* const ap = pack;           // [m][kp]
  std::int32_t* const bp = pack + m * kp;  // [kp][n]
  // a narrowed row by row, 16 pairs per vector, lanes past the row loaded as 0 (an odd k's padding); with k even no
  // pair straddles two rows and a is narrowed as one flat row.
  const std::int64_t rows = k % 2 == 0 ? 1 : m, len = k % 2 == 0 ? m * k : k, len_pairs = (len + 1) / 2;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t q = 0; q < len; q += 32) {
      const std::int32_t* const from = a + i * len + q;
      const __m256i h0 = _mm512_cvtepi32_epi16(_mm512_maskz_loadu_epi32(tail_mask(len - q), from));
      const __m256i h1 =
          _mm512_cvtepi32_epi16(_mm512_maskz_loadu_epi32(len - q > 16 ? tail_mask(len - q - 16) : __mmask16{0}, from + 16));
      _mm512_mask_storeu_epi32(ap + i * len_pairs + q / 2, tail_mask(len_pairs - q / 2),
                               _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1));
    }
  const __m512i low = _mm512_set1_epi32(0xffff);
  for (std::int64_t p = 0; p < kp; ++p) {
    const std::int32_t* b0 = b + 2 * p * n;
    const bool pair = 2 * p + 1 < k;
    for (std::int64_t j = 0; j < n; j += 16) {
      const __mmask16 mj = tail_mask(n - j);
      const __m512i lo = _mm512_and_si512(_mm512_maskz_loadu_epi32(mj, b0 + j), low);
      const __m512i hi = pair ? _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mj, b0 + n + j), 16) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(bp + p * n + j, mj, _mm512_or_si512(lo, hi));
    }
  }
  for (std::int64_t j0 = 0; j0 < n; j0 += 32) {
    std::int64_t i = 0;
    if (n - j0 > 16) {
      for (; i + 4 <= m; i += 4) matmul_i16_tile<4, 2>(ap + i * kp, kp, bp + j0, n - j0, n, c + i * n + j0);
      for (; i < m; ++i) matmul_i16_tile<1, 2>(ap + i * kp, kp, bp + j0, n - j0, n, c + i * n + j0);
    } else {
      for (; i + 4 <= m; i += 4) matmul_i16_tile<4, 1>(ap + i * kp, kp, bp + j0, n - j0, n, c + i * n + j0);
      for (; i < m; ++i) matmul_i16_tile<1, 1>(ap + i * kp, kp, bp + j0, n - j0, n, c + i * n + j0);
    }
  }
}

// diff_row (kernels.hpp) with intrinsics: LayerNorm's sums in int64 lanes (vpmullq squares them exactly), then
// per element cols * q - S1 in int32 (range checked: the same integer, so the same float), the division, the
// scale and the shift, each one IEEE operation as in ann::whole_vector_row; softmax's weights gathered from the
// unit's table and summed in int64 lanes. Rows beyond the vector form's range take the reference.
void diff_row_avx512(const DiffRow& p, const std::int32_t* q, float* y, std::int64_t valid_cols) {
  const std::int64_t cols = p.cols;
  if (p.fn == DiffUnitAttrs::Fn::layer_norm) {
    __m512i s1v = _mm512_setzero_si512(), s2v = _mm512_setzero_si512(), topv = _mm512_setzero_si512();
    for (std::int64_t j = 0; j < cols; j += 16) {
      const __m512i v = _mm512_maskz_loadu_epi32(tail_mask(cols - j), q + j);
      const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
      const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1));
      s1v = _mm512_add_epi64(s1v, _mm512_add_epi64(lo, hi));
      s2v = _mm512_add_epi64(s2v, _mm512_add_epi64(_mm512_mullo_epi64(lo, lo), _mm512_mullo_epi64(hi, hi)));
      topv = _mm512_max_epu32(topv, _mm512_abs_epi32(v));  // |INT32_MIN| reads as 2^31: out of range below
    }
    const std::int64_t s1 = _mm512_reduce_add_epi64(s1v), s2 = _mm512_reduce_add_epi64(s2v);
    const auto top = static_cast<std::int64_t>(static_cast<std::uint32_t>(_mm512_reduce_max_epu32(topv)));
    if (cols * top + (s1 < 0 ? -s1 : s1) > std::numeric_limits<std::int32_t>::max())
      return diff_row_reference(p, q, y, valid_cols);
    const std::int64_t var_n2 = cols * s2 - s1 * s1;
    const float denom = std::sqrt(static_cast<float>(var_n2) + p.eps_term);
    const __m512i cv = _mm512_set1_epi32(static_cast<std::int32_t>(cols)), sv = _mm512_set1_epi32(static_cast<std::int32_t>(s1));
    const __m512 dv = _mm512_set1_ps(denom);
    for (std::int64_t j = 0; j < cols; j += 16) {
      const __mmask16 m = tail_mask(cols - j);
      const __m512i v = _mm512_maskz_loadu_epi32(m, q + j);
      __m512 x = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_mullo_epi32(cv, v), sv)), dv);
      x = _mm512_mul_ps(x, _mm512_maskz_loadu_ps(m, p.gamma + j));
      if (p.beta) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, p.beta + j));
      _mm512_mask_storeu_ps(y + j, m, x);
    }
    return;
  }
  if (p.fn != DiffUnitAttrs::Fn::softmax) return diff_row_reference(p, q, y, valid_cols);
  const std::int64_t n = valid_cols >= 0 && valid_cols < cols ? valid_cols : cols;
  for (std::int64_t j = n; j < cols; j += 16) _mm512_mask_storeu_ps(y + j, tail_mask(cols - j), _mm512_setzero_ps());
  if (n == 0) return;
  __m512i topv = _mm512_set1_epi32(std::numeric_limits<std::int32_t>::min());
  __m512i lowv = _mm512_set1_epi32(std::numeric_limits<std::int32_t>::max());
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    topv = _mm512_mask_max_epi32(topv, m, topv, _mm512_maskz_loadu_epi32(m, q + j));
    lowv = _mm512_mask_min_epi32(lowv, m, lowv, _mm512_maskz_loadu_epi32(m, q + j));
  }
  const std::int32_t top = _mm512_reduce_max_epi32(topv), low = _mm512_reduce_min_epi32(lowv);
  if (p.table_len == 0 || (std::int64_t{top} - low >= p.table_len && !p.ends_zero))
    return diff_row_reference(p, q, y, valid_cols);
  const __m512i tv = _mm512_set1_epi32(top), last = _mm512_set1_epi32(static_cast<std::int32_t>(p.table_len - 1));
  // Rows of up to kHeld vectors keep their weights in registers between the sum and the division (a load
  // behind a masked store of the same data would wait for the store to retire).
  constexpr std::int64_t kHeld = 4;
  __m512 held[kHeld];
  __m512i sum = _mm512_setzero_si512();
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    const __m512i k = _mm512_min_epu32(_mm512_sub_epi32(tv, _mm512_maskz_loadu_epi32(m, q + j)), last);
    const __m512i w = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, k, p.table, 4);
    sum = _mm512_add_epi64(sum, _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(w)),
                                                 _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(w, 1))));
    const __m512 wf = _mm512_cvtepi32_ps(w);  // <= 2^23: exact
    if (n <= 16 * kHeld)
      held[j / 16] = wf;
    else
      _mm512_mask_storeu_ps(y + j, m, wf);
  }
  const __m512 dv = _mm512_set1_ps(static_cast<float>(_mm512_reduce_add_epi64(sum)));
  for (std::int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j);
    const __m512 wf = n <= 16 * kHeld ? held[j / 16] : _mm512_maskz_loadu_ps(m, y + j);
    _mm512_mask_storeu_ps(y + j, m, _mm512_div_ps(wf, dv));
  }
}

}  // namespace

namespace detail {
Kernels avx512_kernels() {
  Kernels k;
  k.isa = Isa::avx512_vnni;
  k.add_events = add_events_avx512;
  k.gemm_codes = gemm_codes_vnni;
  k.max_code = 255;
  k.quantize_row = quantize_row_avx512;
  k.settle = settle_avx512;
  k.fire_chunks = detail::fire_chunks_impl<fire_avx512>;
  k.eval_fire_rows = eval_fire_rows_fused;
  k.eval_fire_acc_rows = eval_fire_acc_rows_avx512;
  k.eval_fire_src_rows = eval_fire_src_rows_avx512;
  k.add_scaled_row = add_scaled_row_avx512;
  k.matmul_i32 = matmul_i32_avx512;
  k.matmul_i16 = matmul_i16_avx512;
  k.lanes = 16;
  k.fire = fire_avx512;
  k.diff_row = diff_row_avx512;
  return k;
}
}  // namespace detail

}  // namespace snnconv::snn
