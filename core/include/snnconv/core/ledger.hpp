// The ledger: integer counters per node, filled by the engines, priced by neuromorphic_hw.
// Changing an energy constant never needs a re-run: everything pricing needs is counted here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv {

enum class MemClass : std::uint8_t { weights, activations, membrane, kv_cache, spikes, Count };
inline constexpr std::size_t kMemClassCount = static_cast<std::size_t>(MemClass::Count);
std::string_view mem_class_name(MemClass m);

// Operand widths are counted in slots indexed by bits 1..32; slot 32 means fp32.
inline constexpr std::size_t kWidthSlots = 33;
inline constexpr int kFloatWidth = 32;

struct Counters {
  std::array<std::uint64_t, kWidthSlots> macs{};  // multiply-accumulates, by the wider operand's width
  std::array<std::uint64_t, kWidthSlots> acs{};   // synaptic accumulates (event x fan-out), by weight width
  std::uint64_t neuron_updates = 0;  // membrane updates (state read-modify-write) of spiking neurons
  std::uint64_t spikes_pos = 0;      // +1 events (in burst mode: sum of positive counts)
  std::uint64_t spikes_neg = 0;      // -1 events
  std::uint64_t burst_events = 0;    // multi-bit events emitted in burst mode (one per neuron per step)
  std::uint64_t dense_ops = 0;       // elementwise adds/compares of dense units (LayerNorm, softmax, residuals)
  std::uint64_t nonlinear_ops = 0;   // exp, erf, tanh, sqrt, divide: transcendental or iterative units
  std::array<std::uint64_t, kMemClassCount> bytes_read{};
  std::array<std::uint64_t, kMemClassCount> bytes_written{};
  std::uint64_t timesteps = 0;  // timesteps the node was simulated (SNN)
  // Model-parallel SNN (docs/scaling.md): events of this node's population sent to other ranks (one per
  // event and receiving rank) and the bytes they took on the link, priced as inter-chip traffic.
  std::uint64_t link_events = 0;
  std::uint64_t link_bytes = 0;

  std::uint64_t total_macs() const;
  std::uint64_t total_acs() const;
  std::uint64_t spikes() const { return spikes_pos + spikes_neg; }
  Counters& operator+=(const Counters& o);
  bool operator==(const Counters&) const = default;
};

struct Ledger {
  std::vector<std::string> node_names;  // parallel to per_node
  std::vector<OpKind> node_ops;
  std::vector<Counters> per_node;
  std::vector<Counters> per_step;  // SNN: counters summed over nodes for each timestep (may be empty)
  std::uint64_t samples = 0;       // inferences (or sequences) accumulated
  std::uint64_t tokens = 0;        // tokens processed (decoders)

  // A ledger with one zeroed row per node of `g`.
  static Ledger for_graph(const Graph& g);
  Counters total() const;
  // Adds another ledger of the same graph row by row (same rows required).
  void merge(const Ledger& other);
  bool operator==(const Ledger&) const = default;
};

}  // namespace snnconv
