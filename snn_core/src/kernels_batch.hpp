// Loops over many rows or chunks around one instruction set's row kernels, so that a neuron population's
// step makes one indirect call instead of one per row. Included by kernels.cpp and kernels_avx512.cpp, each
// instantiating it with its own (inlined) row kernels; plain scalar control flow, no vector constants.
#pragma once

#include <algorithm>
#include <vector>

#include "kernels.hpp"

namespace snnconv::snn::detail {

// Rows `rows[0 .. nrows)` (global row indices, width w) with their currents in cur[k * w ..]: targets
// quantized, and every chunk of kChunk neurons whose targets differ from its counts fires at once, while its
// targets and counts are in cache: its events go to `out`, its global index (r * chunks_per_row + c) to
// fired[nfired] and whether a count still differs to remaining[nfired]. Returns the events written.
template <auto Quantize, auto Settle, auto Fire>
std::int64_t eval_fire_rows_impl(const float* cur, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                 Activation act, float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                                 std::int32_t* count, std::int32_t* level, bool burst, bool from_rest, Event* out,
                                 std::int32_t* fired, std::uint8_t* remaining, std::int64_t& nfired, FireTally& tally) {
  const std::int64_t cpr = (w + kChunk - 1) / kChunk;
  std::int64_t written = 0;
  for (std::int64_t k = 0; k < nrows; ++k) {
    const std::int64_t r = rows[k], base = r * w;
    if (from_rest) std::fill_n(count + base, w, 0);  // the definition of from_rest (kernels.hpp)
    Quantize(cur + k * w, w, act, s, n_min, n_max, level);
    for (std::int64_t c = 0; c < cpr; ++c) {
      const std::int64_t lo = c * kChunk, n = std::min(kChunk, w - lo);
      if (!Settle(level + lo, target + base + lo, count + base + lo, n)) continue;
      tally.remaining = false;
      written += Fire(count + base + lo, target + base + lo, n, static_cast<std::int32_t>(base + lo), burst, out + written,
                      tally);
      fired[nfired] = static_cast<std::int32_t>(r * cpr + c);
      remaining[nfired++] = tally.remaining ? 1 : 0;
    }
  }
  return written;
}

// eval_fire_src_rows row by row (kernels.hpp): each row's currents copied from y, or formed as sum_row does from
// the two level operands, then eval_fire_rows_impl on that one row. The reference, and the fallback of an
// instruction set's fused form for the activations it does not fuse.
template <auto Quantize, auto Settle, auto Fire>
std::int64_t eval_fire_src_rows_impl(const float* y, const std::int32_t* q_a, float s_a, const std::int32_t* q_b,
                                     float s_b, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                     Activation act, float s, std::int32_t n_min, std::int32_t n_max,
                                     std::int32_t* target, std::int32_t* count, bool burst, bool from_rest,
                                     Event* out, std::int32_t* fired, std::uint8_t* remaining, std::int64_t& nfired,
                                     FireTally& tally) {
  std::vector<float> cur(static_cast<std::size_t>(w));
  std::vector<std::int32_t> level(static_cast<std::size_t>(w));
  std::int64_t written = 0;
  for (std::int64_t k = 0; k < nrows; ++k) {
    const std::int64_t first = std::int64_t{rows[k]} * w;
    if (q_a)
      sum_row(q_a + first, s_a, q_b + first, s_b, w, cur.data());
    else
      std::copy_n(y + first, w, cur.data());
    written += eval_fire_rows_impl<Quantize, Settle, Fire>(cur.data(), rows + k, 1, w, act, s, n_min, n_max, target,
                                                           count, level.data(), burst, from_rest, out + written, fired,
                                                           remaining, nfired, tally);
  }
  return written;
}

// Fires the chunks `chunks[0 .. nchunks)` (as above): events appended to `out`, chunks whose counts still
// differ from their targets kept (compacted in place, their number returned in nchunks), the others' flags
// cleared. Returns the events written.
template <auto Fire>
std::int64_t fire_chunks_impl(std::int32_t* count, const std::int32_t* target, std::int32_t* chunks,
                              std::int64_t& nchunks, std::int64_t w, const FastDiv& cpr, bool burst,
                              std::uint8_t* chunk_flag, Event* out, FireTally& tally) {
  std::int64_t written = 0, keep = 0;
  const auto chunks_per_row = static_cast<std::int64_t>(cpr.d);
  for (std::int64_t e = 0; e < nchunks; ++e) {
    const std::int64_t ch = chunks[e], r = cpr.div(ch), lo = r * w + (ch - r * chunks_per_row) * kChunk;
    const std::int64_t n = std::min(kChunk, (r + 1) * w - lo);
    tally.remaining = false;
    written += Fire(count + lo, target + lo, n, static_cast<std::int32_t>(lo), burst, out + written, tally);
    if (tally.remaining)
      chunks[keep++] = static_cast<std::int32_t>(ch);
    else
      chunk_flag[ch] = 0;
  }
  nchunks = keep;
  return written;
}

}  // namespace snnconv::snn::detail
