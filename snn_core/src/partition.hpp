// Model-parallel SNN (engine.hpp, Placement; docs/scaling.md): how a plan's units fall into groups that only
// spike events connect, how groups are placed on ranks, and the per-rank tables the step loop follows to send
// the events of a population to the ranks that consume it and to receive them where it is consumed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plan.hpp"
#include "snnconv/core/communicator.hpp"

namespace snnconv::snn {

// Units linked by a current (producer and every consumer) share a group; groups are numbered in plan order of
// their first unit. group_of[u] for every unit, plus each group's work and whether it holds a current graph output.
struct UnitGroups {
  std::vector<int> group_of;           // per unit
  std::vector<std::uint64_t> work;     // per group: synaptic work at full activity
  std::vector<std::uint8_t> pinned;    // per group: holds a current graph output (must be on rank 0)
};
UnitGroups unit_groups(const Plan& plan);

// What one rank runs and exchanges each step.
struct PartitionTables {
  Communicator* comm = nullptr;
  int rank = 0, ranks = 1;
  std::vector<int> unit_rank;             // per unit
  std::vector<std::uint8_t> value_here;   // per value: its counts, events or marks are allocated on this rank
  std::vector<std::vector<int>> send_to;  // per unit (this rank's): ranks that consume its population's events
  std::vector<int> receive_from;          // per unit (another rank's): its owner, when this rank consumes them
  std::vector<int> payload_bytes;         // per unit with a spiking output: burst magnitude bytes per event
  bool outputs_here = false;              // rank 0: every graph output can be read here
  bool owns(std::size_t unit) const { return unit_rank[unit] == rank; }
};

// The placement of `node_rank` (per graph node) as tables for `rank`; GraphError when a group is split.
PartitionTables partition_tables(const Plan& plan, const std::vector<int>& node_rank, int rank, int ranks);

// Placements (engine.hpp, Engine::place_by_work / place_by_groups), with their per-rank figures.
Placement place_by_work(const Plan& plan, int ranks);
Placement place_by_groups(const Plan& plan, const std::vector<int>& node_group, int ranks, std::string method);

// The events of a step packed as the link carries them: per event a 32-bit word (neuron index, the sign of
// the change in its top bit) and in burst mode the magnitude in `payload` bytes. Returns the bytes appended.
std::size_t pack_events(const EventList& events, bool burst, int payload, std::string& out);
// Unpacks into `events` (appended) and applies every change to `counts` (the mirror of the sender's).
void unpack_events(const std::string& bytes, bool burst, int payload, EventList& events, StateVector<std::int32_t>& counts);

}  // namespace snnconv::snn
