// Differential units (DiffUnit: LayerNorm, softmax over the last axis): they keep the accumulated integer
// input (the input population's counts) and, for every row whose input changed in a step, recompute f on
// the row with the QANN's own row function, so downstream neurons read f(X_t) itself (docs/spiking.md,
// section 4). Work is dense and counted as such. Another whole-vector unit (RMSNorm, mean pooling) is a new
// DiffUnitAttrs function with its row function in ann_baseline and its op counts here.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels.hpp"
#include "state_vector.hpp"
#include "snnconv/core/attrs.hpp"

namespace snnconv::snn {

struct DiffParams {
  int in = -1, out = -1;
  DiffUnitAttrs::Fn fn = DiffUnitAttrs::Fn::layer_norm;
  float epsilon = 0.0f;
  std::int64_t cols = 0, rows = 0;  // rows per sample
  std::vector<float> gamma, beta;
  float s_a = 1.0f;
  bool causal = false;  // causal softmax over [..., M, cols]
  std::int64_t causal_m = 0;  // causal softmax: M; rotary: T, the positions of the cos/sin tables
  FastDiv div_cols;
  // Masked softmax: the mask value (input 1: a constant, graph input or prologue output, known at step 1).
  int mask_in = -1;
  // The row kernels' constants (Kernels::diff_row): LayerNorm's epsilon term; softmax's weights
  // ann::softmax_weight(k, s_a) for k up to the widest span of the input's counts (2 max|count|) or the first
  // weight 0, at most kSoftmaxTableMax of them.
  float eps_term = 0.0f;
  std::vector<std::int32_t> softmax_table;
  bool table_ends_zero = false;
};

inline constexpr std::int64_t kSoftmaxTableMax = std::int64_t{1} << 16;

struct DiffState {
  StateVector<float> y;  // [batch * rows * cols] f of the current input
  // Masked softmax: the keep flag of every score element, read from the mask at step 1 with the QANN's own
  // ann::attention_keep, so both sides mask the same entries. [batch * rows * cols]
  std::vector<std::uint8_t> keep;
};

struct DiffScratch {
  std::vector<std::uint8_t> row_flag;
  std::vector<std::int32_t> rows_changed;
};

}  // namespace snnconv::snn
