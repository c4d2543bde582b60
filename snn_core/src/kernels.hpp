// The SNN engine's integer kernels, one reference (plain C++) and one variant per instruction set, chosen
// once per engine from snnconv::active_isa() (AVX-512 + VNNI, or the AVX2 baseline). Every variant computes
// the same integers as the reference (tests/snn_core/test_snn_kernels.cpp): sums of integers are exact in
// any order, so the kernel choice never changes a result or a ledger.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "snnconv/core/attrs.hpp"
#include "snnconv/core/cpu_features.hpp"

namespace snnconv::snn {

// One spike event of a population: neuron `index` (global within a pass) changed its count by `delta`
// (+-1 in strict mode, the whole difference in burst mode).
struct Event {
  std::int32_t index;
  std::int32_t delta;
};
static_assert(sizeof(Event) == 8, "the kernels write events as pairs of int32");

// A step's events of one population, in a buffer laid out once: a population gets at most one event per
// neuron per step (every movement map gives each output element one source), so its size bounds the list.
class EventList {
 public:
  void reserve(std::size_t n) {
    if (buf_.size() < n) buf_.resize(n);
  }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  // The events themselves: not of a lazy list (Step::events materializes one before any reader sees it).
  const Event* begin() const { return buf_.data(); }
  const Event* end() const { return buf_.data() + n_; }
  const Event* data() const { return buf_.data(); }
  void clear() {
    n_ = 0;
    lazy_ = nullptr;
  }
  void push_back(Event e) {
    materialize();
    if (n_ == buf_.size()) buf_.resize(2 * n_ + 16);
    buf_[n_++] = e;
  }
  // Room for k more events at tail(); advance(k) keeps those written.
  Event* tail(std::size_t k) {
    materialize();
    reserve(n_ + k);
    return buf_.data() + n_;
  }
  void advance(std::size_t k) { n_ += k; }

  // A lazy list (a population's first step from rest, unit_neuron.cpp): its events are the nonzero counts of
  // counts[0, elems), in increasing index, each with its count as delta (every count was 0 before the step).
  // size() is known at once; the events are written out by materialize() only when a reader needs them, which
  // most readers of a first step do not (they read the counts).
  void set_lazy(const std::int32_t* counts, std::size_t elems, std::size_t events) {
    lazy_ = counts;
    lazy_elems_ = elems;
    n_ = events;
  }
  bool lazy() const { return lazy_ != nullptr; }
  const std::int32_t* lazy_counts() const { return lazy_; }
  std::size_t lazy_elems() const { return lazy_elems_; }
  void materialize() {
    if (lazy_) write_lazy();
  }

 private:
  void write_lazy();  // kernels.cpp
  std::vector<Event> buf_;
  std::size_t n_ = 0;
  const std::int32_t* lazy_ = nullptr;
  std::size_t lazy_elems_ = 0;
};

struct FireTally {
  std::uint64_t pos = 0, neg = 0;
  bool remaining = false;
  // Set by the caller: the events need not be written (the list is made lazy after the sweep). Kernels may
  // honour it (the AVX-512 sweeps do) or write them anyway into the room given; either way they return the
  // number of events fired.
  bool count_only = false;
};

// Exact n / d and n % d for 0 <= n < 2^32 by one 128-bit multiply instead of a division (Lemire, Kaser and
// Kurz, "Faster remainder by direct computation", 2019: with M = ceil(2^64 / d), n / d = (M * n) >> 64).
// Event indices are split into row and column this way on every event.
struct FastDiv {
  std::uint64_t d = 1, m = 0;
  FastDiv() = default;
  explicit FastDiv(std::int64_t divisor)
      : d(static_cast<std::uint64_t>(divisor)), m(divisor > 1 ? ~std::uint64_t{0} / d + 1 : 0) {}
  std::int64_t div(std::int64_t n) const {
    if (d == 1) return n;
    return static_cast<std::int64_t>((static_cast<unsigned __int128>(m) * static_cast<std::uint64_t>(n)) >> 64);
  }
  std::int64_t mod(std::int64_t n) const { return n - div(n) * static_cast<std::int64_t>(d); }
};

// Neurons are tracked and fired in chunks of up to kChunk consecutive neurons of one row.
inline constexpr std::int64_t kChunk = 64;

// Columns per block of the packed weight layout (one AVX-512 register of int32 accumulators).
inline constexpr std::int64_t kPackCols = 16;

// Weights [K][N] (int8 levels) in the GEMM kernels' layout: per block of 16 columns and quad of 4 rows k,
// 64 bytes [column][k % 4]; K is padded to a multiple of 4 and N to a multiple of 16 with zeros.
std::vector<std::int8_t> pack_weights(const std::int8_t* w, std::int64_t k, std::int64_t n);
inline std::int64_t padded_k(std::int64_t k) { return (k + 3) / 4 * 4; }
inline std::int64_t column_blocks(std::int64_t n) { return (n + kPackCols - 1) / kPackCols; }

// Row forms of ann::linear_value, grouped_linear_value and product_value (the same operations in the same
// order: the float factor s_in * s_w, or s_a * s_b, formed first, then one rounding per multiply and per add,
// no fused multiply-add), and of ann::quantize_level. Tested bit for bit against those functions.
//   linear:  out[j] = in_step[j] * float(acc[j]) + bias[j]
//   grouped: out[j] = ((in_step[0][j] * float(acc[0][j]) + in_step[1][j] * float(acc[1][j])) + ...) + bias[j],
//            acc and in_step [groups][stride]
//   product: out[j] = ab_step * float(acc[j])
template <typename Acc>
void linear_row(const Acc* acc, const float* in_step, const float* bias, std::int64_t n, float* out) {
  for (std::int64_t j = 0; j < n; ++j) {
    const float y = in_step[j] * static_cast<float>(acc[j]);
    out[j] = y + bias[j];
  }
}
template <typename Acc>
void grouped_row(const Acc* acc, const float* in_step, const float* bias, std::int64_t groups, std::int64_t stride,
                 std::int64_t n, float* out) {
  for (std::int64_t j = 0; j < n; ++j) out[j] = in_step[j] * static_cast<float>(acc[j]);
  for (std::int64_t g = 1; g < groups; ++g)
    for (std::int64_t j = 0; j < n; ++j) {
      const float term = in_step[g * stride + j] * static_cast<float>(acc[g * stride + j]);
      out[j] = out[j] + term;
    }
  for (std::int64_t j = 0; j < n; ++j) out[j] = out[j] + bias[j];
}
template <typename Acc>
void product_row(const Acc* acc, float ab_step, std::int64_t n, float* out) {
  for (std::int64_t j = 0; j < n; ++j) out[j] = ab_step * static_cast<float>(acc[j]);
}

// ann::sum_value row by row: out[j] = s_a * float(q_a[j]) + s_b * float(q_b[j]).
inline void sum_row(const std::int32_t* q_a, float s_a, const std::int32_t* q_b, float s_b, std::int64_t n, float* out) {
  for (std::int64_t j = 0; j < n; ++j) {
    const float x = s_a * static_cast<float>(q_a[j]);
    const float y = s_b * static_cast<float>(q_b[j]);
    out[j] = x + y;
  }
}

// A LayerNorm or softmax row of a differential unit as the diff_row kernels see it (unit_diff.cpp builds it once
// per unit): the constants of ann::whole_vector_row, the LayerNorm's epsilon term
// (ann::layer_norm_eps_term(cols, epsilon, s), a function of the unit alone) and the softmax's weights
// table[k] = ann::softmax_weight(k, s) for k < table_len. The weights do not increase with k, so when the last
// one is 0 every k beyond the table has weight 0 too (ends_zero).
struct DiffRow {
  DiffUnitAttrs::Fn fn = DiffUnitAttrs::Fn::layer_norm;
  float s = 1.0f;
  std::int64_t cols = 0;
  float epsilon = 0.0f;
  float eps_term = 0.0f;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const std::int32_t* table = nullptr;
  std::int64_t table_len = 0;
  bool ends_zero = false;
};

// The reference of diff_row: ann::whole_vector_row itself (no mask).
void diff_row_reference(const DiffRow& p, const std::int32_t* q, float* y, std::int64_t valid_cols);

struct Kernels {
  Isa isa = Isa::avx2;
  // y = ann::whole_vector_row(p.fn, q, p.s, p.cols, p.epsilon, p.gamma, p.beta, y, valid_cols, no mask) bit for
  // bit, for LayerNorm and softmax rows (the caller gives any other function, and masked rows, to the QANN's
  // function). Vectorised: the integer sums are exact in any order and every float step is the same single
  // IEEE operation per element; a row whose integers would leave the vector form's range takes the reference.
  void (*diff_row)(const DiffRow& p, const std::int32_t* q, float* y, std::int64_t valid_cols) = nullptr;
  // Sparse path: for every event e, acc[(e.index / k) * n + j] += e.delta * w[(e.index % k) * n + j] for j in
  // [j0, j1): one contiguous weight row per event.
  void (*add_events)(std::int32_t* acc, const std::int8_t* w, const FastDiv& k, std::int64_t n, const Event* events,
                     std::size_t count, std::int64_t j0, std::int64_t j1) = nullptr;
  // Dense path: for r < rows and j in [16 * b0, min(n, 16 * b1)):
  //   acc_rows[r][j] += sum_k codes[r * kp + k] * W[k][j] - corr[j]
  // with `packed` from pack_weights (kp = padded_k(K)) and corr[j] = c * sum_k W[k][j] for codes d + c.
  // Exact for codes up to max_code (the AVX2 kernel's 16-bit pair sums saturate above 127).
  void (*gemm_codes)(const std::uint8_t* codes, std::int64_t rows, std::int64_t kp, const std::int8_t* packed,
                     const std::int32_t* corr, std::int32_t* const* acc_rows, std::int64_t n, std::int64_t b0,
                     std::int64_t b1) = nullptr;
  int max_code = 127;
  // out[j] = ann::quantize_level(x[j], act, s, n_min, n_max) for j < n, bit for bit (a GELU target with
  // tanh, which calls libm, goes through the scalar function).
  void (*quantize_row)(const float* x, std::int64_t n, Activation act, float s, std::int32_t n_min,
                       std::int32_t n_max, std::int32_t* out) = nullptr;
  // A neuron chunk's new levels: target[j] = level[j]; true when some level[j] != count[j].
  bool (*settle)(const std::int32_t* level, std::int32_t* target, const std::int32_t* count, std::int64_t n) = nullptr;
  // Fires a chunk of neurons toward their targets: every j with count[j] != target[j] steps its count by
  // sign(target - count) (strict) or to the target (burst) and appends {base + j, delta} to `out` (in
  // increasing j). Returns the events written; `tally` gets their summed positive and negative deltas and
  // whether some count still differs from its target.
  // acc[j] += a * src[j] for j < n (an operand row of a product against one count).
  void (*add_scaled_row)(std::int32_t* acc, const std::int32_t* src, std::int32_t a, std::int64_t n) = nullptr;
  // Batched neuron kernels (kernels_batch.hpp): evaluate and fire many rows, fire many chunks. from_rest (the first
  // step of a run from rest over a reused state): the rows' counts are taken as 0, whatever the array holds, and
  // every count of the rows is written (the levels in burst mode, their signs in strict mode), so that the
  // simulator need not clear a population whose rows are all evaluated at that step.
  std::int64_t (*eval_fire_rows)(const float* cur, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                 Activation act, float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                                 std::int32_t* count, std::int32_t* level, bool burst, bool from_rest, Event* out,
                                 std::int32_t* fired, std::uint8_t* remaining, std::int64_t& nfired,
                                 FireTally& tally) = nullptr;
  // eval_fire_rows with the current formed in registers from an int32 accumulator (a synapse's or a
  // product's), the float operations of linear_row / product_row: cur[j] = c[j * c_step] * float(acc[r * w + j]),
  // then + b[j] when b is not null. nullptr: not available (the caller forms the currents with current_row).
  std::int64_t (*eval_fire_acc_rows)(const std::int32_t* acc, const float* c, std::int64_t c_step, const float* b,
                                     const std::int32_t* rows, std::int64_t nrows, std::int64_t w, Activation act,
                                     float s, std::int32_t n_min, std::int32_t n_max, std::int32_t* target,
                                     std::int32_t* count, bool burst, bool from_rest, Event* out, std::int32_t* fired,
                                     std::uint8_t* remaining, std::int64_t& nfired, FireTally& tally) = nullptr;
  // eval_fire_rows with the currents read in place instead of from a row buffer: y[r * w + j] of a float array
  // laid out like the population (a differential unit's outputs) when q_a is null, else the residual sum of
  // sum_row, s_a * float(q_a[r * w + j]) + s_b * float(q_b[r * w + j]). nullptr: not available (the caller
  // forms the currents with current_row).
  std::int64_t (*eval_fire_src_rows)(const float* y, const std::int32_t* q_a, float s_a, const std::int32_t* q_b,
                                     float s_b, const std::int32_t* rows, std::int64_t nrows, std::int64_t w,
                                     Activation act, float s, std::int32_t n_min, std::int32_t n_max,
                                     std::int32_t* target, std::int32_t* count, bool burst, bool from_rest,
                                     Event* out, std::int32_t* fired, std::uint8_t* remaining, std::int64_t& nfired,
                                     FireTally& tally) = nullptr;
  std::int64_t (*fire_chunks)(std::int32_t* count, const std::int32_t* target, std::int32_t* chunks,
                              std::int64_t& nchunks, std::int64_t w, const FastDiv& cpr, bool burst,
                              std::uint8_t* chunk_flag, Event* out, FireTally& tally) = nullptr;
  // c = a * b for int32 matrices a [m][k], b [k][n], c [m][n] (every entry overwritten; the caller ensures
  // the sums fit in int32).
  void (*matmul_i32)(const std::int32_t* a, const std::int32_t* b, std::int32_t* c, std::int64_t m, std::int64_t k,
                     std::int64_t n) = nullptr;
  // matmul_i32 when every entry of a and b lies in [-32767, 32767] (the caller ensures it, and that the sums fit in
  // int32); `pack` has room for matmul_i16_pack_words(m, k, n) int32. Null where the instruction set has no
  // faster form than matmul_i32 (AVX-512 VNNI: pairs of k summed by vpdpwssd).
  void (*matmul_i16)(const std::int32_t* a, const std::int32_t* b, std::int32_t* c, std::int64_t m, std::int64_t k,
                     std::int64_t n, std::int32_t* pack) = nullptr;
  int lanes = 8;  // int32 lanes per vector register of this instruction set
  std::int64_t (*fire)(std::int32_t* count, const std::int32_t* target, std::int64_t n, std::int32_t base, bool burst,
                       Event* out, FireTally& tally) = nullptr;
};

// Scratch of matmul_i16: a's rows and b's pairs of rows as int16 pairs, k padded to even.
inline std::int64_t matmul_i16_pack_words(std::int64_t m, std::int64_t k, std::int64_t n) {
  return (m + n) * ((k + 1) / 2);
}

// The kernels of instruction set `isa` (the reference ones for nothing faster).
Kernels kernels_for(Isa isa);
Kernels reference_kernels();

namespace detail {
Kernels avx2_kernels();
Kernels avx512_kernels();  // kernels_avx512.cpp (built with AVX-512 flags)
}  // namespace detail

}  // namespace snnconv::snn
