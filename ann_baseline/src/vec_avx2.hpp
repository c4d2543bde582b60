// Vectorised math on 8 floats (AVX2 + FMA), shared by the fast kernels that need exp on whole rows
// (softmax, the decode path). Inline, so each kernel file compiles them with its own flags; the operations are
// explicit intrinsics, so contraction flags do not change their bits.
#pragma once

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#define SNNCONV_VEC_AVX2 1

namespace snnconv::ann::vec {

// e^x for x <= 88 (below -87.3: 0): x = n ln2 + r with |r| <= ln2/2 (ln2 split in a part exact in float and
// the rest), e^r by its Taylor polynomial to degree 7 (remainder < 6e-9 relative), times 2^n from the
// exponent bits.
inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 e = _mm256_set1_ps(1.0f / 5040.0f);
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 720.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 120.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 24.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 6.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(0.5f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(underflow, y);
}

// y[i] = f(x[i]) for i < n with every element through the 8-wide code (the tail via a padded copy), so an
// element's result does not depend on its position.
template <typename F>
inline void map8(float* x, std::int64_t n, F f) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, f(_mm256_loadu_ps(x + i)));
  if (i == n) return;
  alignas(32) float pad[8] = {};
  std::copy(x + i, x + n, pad);
  _mm256_store_ps(pad, f(_mm256_load_ps(pad)));
  std::copy(pad, pad + (n - i), x + i);
}
// Lane mask of the first `n` (0..8) lanes, for the partial last vector of a row.
inline __m256i lanes(std::int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace snnconv::ann::vec

#endif
