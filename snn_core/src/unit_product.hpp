// Products of two spiking operands (SpikeMatMul: Q.K^T, P.V) by the product rule on accumulated integer
// operands, Δ(AB)_t = a_t B_{t-1} + A_{t-1} b_t + a_t b_t, computed only where events occurred (docs/spiking.md,
// section 4). The unit reads A_t in place (its population's counts) and keeps its own copy of the accumulated B
// (stepped after A's events); with the populations' counts they are the spiking KV cache of a decoder.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels.hpp"
#include "state_vector.hpp"

namespace snnconv::snn {

struct ProductParams {
  int a = -1, b = -1, out = -1;
  std::int64_t batch = 0, m = 0, k = 0, n = 0;  // per sample: A [batch, M, K] x B [batch, K, N]
  float s_a = 1.0f, s_b = 1.0f;
  float ab_step = 1.0f;  // s_a * s_b, the factor product_value forms first
  bool acc64 = false;    // int64 accumulators (the int32 bound K * max|a| * max|b| does not hold)
  bool i16 = false;      // int32 accumulators and both operands' counts within int16: Kernels::matmul_i16 applies
  FastDiv div_mk, div_k, div_kn, div_n;  // splitting event indices of A [.., M, K] and B [.., K, N]
};

struct ProductState {
  // B's accumulated counts [samples * batch * K * N], stepped after A's events (a_t B_{t-1} needs B before this
  // step); A_t is its population's counts, read in place.
  StateVector<std::int32_t> b;
  StateVector<std::int32_t> acc32;  // [samples * batch * M * N]
  StateVector<std::int64_t> acc64;
};

struct ProductScratch {
  std::vector<std::uint8_t> row_flag;      // [samples * batch * M] rows with A events
  std::vector<std::int32_t> rows_changed;  // causal decoding: those rows (an ungated step reads the flags)
  std::vector<std::uint8_t> col_flag;      // [samples * batch * N] columns with B events
  StateVector<std::int32_t> db;            // [samples * batch * K * N] B's events of the step, by row
  std::vector<std::uint8_t> db_flag;       // [samples * batch * K] rows of db holding events
  std::vector<std::int32_t> db_rows;
  // Per batch entry: A and B events of the step, and whether its product is recomputed densely.
  std::vector<std::int32_t> a_events, b_events;
  std::vector<std::uint8_t> dense;
  std::vector<std::int32_t> touched;
  // Operands that are views of a population (a folded Transpose: the heads' split, K^T): their events with
  // the view's indices (a gated step of causal decoding; an ungated step translates them inside its loops), and
  // A_t gathered through the map for the batch entries a step reads.
  EventList a_view_events, b_view_events;
  StateVector<std::int32_t> a_gather;  // [samples * batch * M * K] when A is a view, else empty
  std::vector<std::int32_t> pack;      // matmul_i16's scratch for one batch entry (i16), else empty
};

}  // namespace snnconv::snn
