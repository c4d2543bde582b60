// Neuron populations: the bounded signed integrate-and-fire neuron (ST-BIF) of every quantization point
// (docs/spiking.md, section 3). Parameters, state and scratch apart (NEST): a population's counts live with
// its value (State::counts), its targets and pending list here.
//
// Other neuron models (leaky ones: LIF, CubaLIF, LI) become kinds of their own beside this one: a file pair
// with their parameters, state, plan and step functions, reading the same marked currents and emitting
// the same events.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels.hpp"
#include "state_vector.hpp"
#include "snnconv/core/attrs.hpp"

namespace snnconv::snn {

struct NeuronParams {
  int in = -1, out = -1;  // the current it integrates; its population
  Activation act = Activation::none;  // folded nonlinearity f: target = clamp(floor(f(X)/s + 1/2))
  float s = 1.0f;                     // threshold = step of one count
  std::int32_t n_min = 0, n_max = 0;  // count bounds
  // A grouped Linear's current combines its K/G partial sums: each target evaluation pays G-1 extra float
  // multiply-adds, the other partial sums and one step per group (0: the producer is not grouped).
  std::int64_t producer_groups = 0;
  std::int64_t width = 1;             // row width of the population
  std::int64_t chunks_per_row = 1;    // ceil(width / kChunk)
  FastDiv div_cpr;                    // chunk -> row
  std::int64_t chunks = 0;            // per sample: rows * chunks_per_row
};

// Neurons are tracked in chunks of up to kChunk (kernels.hpp) consecutive neurons of one row: a chunk is pending
// while one of its neurons' count differs from its target, and a step fires a pending chunk with one vector
// sweep.
struct NeuronState {
  StateVector<std::int32_t> target;       // [batch * numel] level each neuron steps its count toward
  StateVector<std::uint8_t> chunk_flag;   // [batch * chunks] the chunk is pending (1; within a step, 2: fired already)
};

struct NeuronScratch {
  std::vector<float> current;        // the input currents of up to kEvalRows marked rows
  std::vector<std::int32_t> level;   // one row's levels
  std::vector<std::int32_t> chunks;  // chunks found differing
  std::vector<std::int32_t> rows_sorted;  // the marked rows in increasing order (flat sweeps of narrow rows)
  std::vector<std::uint8_t> remaining;
};

// Marked rows evaluated per kernel call.
inline constexpr std::int64_t kEvalRows = 32;

}  // namespace snnconv::snn
