// Synaptic layers (SynapseLinear): an exact integer accumulator per target; each input event (k, d) adds
// d * W[k, :] (docs/spiking.md, section 4). Per step the unit picks the fastest exact kernel by event density:
// row adds of the events when sparse, an integer GEMM of the step's event matrix against packed int8
// weights when dense (kernels.hpp). Integer sums are exact in any order, so the choice changes no bit, and
// the ledger counts the events and fan-out, never the kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels.hpp"
#include "state_vector.hpp"

namespace snnconv::snn {

struct SynapseParams {
  int in = -1, out = -1;
  std::int64_t k = 0, n = 0;      // weight [K, N]
  std::int64_t rows = 0;          // rows of the output per sample (numel / N)
  std::int64_t groups = 1;        // grouped weights: one partial sum per (row, group, output)
  std::int64_t group_rows = 0;    // K / groups
  int w_bits = 8;
  std::vector<std::int8_t> w8;    // [K][N] levels when they fit in int8 (the kernels' path)
  std::vector<std::int32_t> w32;  // [K][N] levels otherwise
  std::vector<float> step;        // [groups][N] weight steps
  std::vector<float> in_step;     // [groups][N] s_in * step: the float factor linear_value forms first
  std::vector<float> bias;        // [N]
  float s_a = 1.0f;               // input step
  bool acc64 = false;             // int64 accumulators: the int32 bound sum_k |w| * max|count| does not hold
  // The dense path (ungrouped int8 weights, int32 accumulators): weights packed for the GEMM kernel and
  // their column sums (the kernel feeds unsigned event codes d + c and subtracts c * colsum).
  std::vector<std::int8_t> packed;
  std::vector<std::int32_t> colsum;
  FastDiv div_k;                  // event index -> (row, input k)
};

struct SynapseState {
  StateVector<std::int32_t> acc32;  // [batch * rows][groups][N]
  StateVector<std::int64_t> acc64;
};

struct SynapseScratch {
  // Rows that received events this step: changed[0 .. n_changed), in the order of their first event; row_slot
  // gives each its place in that list (-1: none this step), which is also its row of the event matrix.
  std::vector<std::int32_t> changed;        // [batch * rows]
  std::int64_t n_changed = 0;
  std::vector<std::int32_t> row_slot;       // [batch * rows]
  // Dense path (weights packed): the step's event matrix [changed][K padded], written while the events are read
  // (each byte the code of "no event" plus the event's delta, mod 256), then shifted to the kernel's unsigned
  // codes d + c where that code was not c already.
  StateVector<std::uint8_t> codes;  // contents never read before written
  std::vector<std::int32_t*> acc_rows;      // dense path: the accumulator row of each event-matrix row
  std::vector<std::int32_t> corr;           // dense path: c * column sums of W (padded to whole column blocks)
  std::int32_t corr_offset = -1;            // the c that corr holds
  // An input that is a view of a population (a folded Transpose: attention heads merged back): its events with
  // the view's indices, and at the first step from rest its counts gathered through the map.
  EventList view_events;
  StateVector<std::int32_t> view_counts;    // [batch * K * rows] when the input is a view, else empty
};

}  // namespace snnconv::snn
