// Mapping a spiking network onto neuromorphic cores: which cores hold which layer's neurons and synapse
// rows, how far spikes travel on the mesh, and what does not fit on chip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::hw {

// One synaptic layer as the mapper sees it. The caller builds these from the graph
// (layer_shapes_from_graph) or by hand; the rows tie the layer to the ledger (-1: none).
struct LayerShape {
  std::string name;
  std::int64_t neurons = 0;        // target neurons (outputs of the synaptic layer, all positions)
  std::int64_t fan_in = 0;         // inputs per target neuron
  std::int64_t synapse_bytes = 0;  // weight storage the layer needs on its cores
  int source = -1;                 // index of the layer whose neurons feed this one; -1: chip input
  std::int64_t synapse_row = -1;   // ledger row counting this layer's ACs/MACs (the Synapse/Linear node)
  std::int64_t neuron_row = -1;    // ledger row of the neuron population it drives (updates, spikes out)
  std::int64_t input_row = -1;     // ledger row of the population whose spikes arrive here
};

// Synaptic layers (SynapseLinear, SynapseConv, Linear, Gemm and MatMul with a constant weight) in
// topological order. neurons = output elements; fan_in = weight rows (Linear) or C_in/group x kernel
// (Conv); synapse_bytes = weight elements x weight bits / 8 (QuantParams bits when set, else the dtype), plus
// 4 bytes per grouped weight step beyond one per output channel.
// Sources follow producers back through non-synaptic nodes (pass-through, neurons, differential units)
// to the nearest synaptic layer. Throws ShapeError naming the node when a needed shape is unknown.
std::vector<LayerShape> layer_shapes_from_graph(const Graph& g);

struct MappingOptions {
  // Neurons beyond cores x neurons_per_core: refuse (report the shortfall) unless spilling is allowed, in
  // which case cores are reused cyclically and the extra neurons' membrane state is swapped through DRAM
  // every timestep.
  bool allow_neuron_spill = false;
  // Synapse rows beyond a core's synapse memory are re-read from DRAM every timestep.
  bool allow_synapse_spill = true;
};

struct LayerPlacement {
  std::vector<std::int64_t> cores;    // core indices (row-major over tiles, cores_per_tile per tile)
  std::int64_t neurons_per_core = 0;  // ceil(neurons / cores.size())
  std::int64_t synapse_bytes_on_chip = 0;
  std::int64_t synapse_bytes_spilled = 0;  // re-read from DRAM each timestep
  std::int64_t neurons_spilled = 0;        // membrane state swapped through DRAM each timestep
  double mean_hops_x = 0;                  // mean |dx| in tiles between source cores and these cores
  double mean_hops_y = 0;
};

struct Mapping {
  bool fits = true;
  std::string shortfall;                     // human-readable reason when !fits
  std::int64_t shortfall_cores = 0;          // cores missing to place every neuron
  std::int64_t shortfall_neurons = 0;        // neurons beyond cores x neurons_per_core
  std::int64_t shortfall_synapse_bytes = 0;  // synapse bytes beyond on-chip memory (spill not allowed)
  std::int64_t cores_used = 0;
  std::vector<LayerPlacement> layers;            // parallel to the LayerShape list
  std::vector<std::int64_t> core_neurons;        // per core
  std::vector<std::int64_t> core_synapse_bytes;  // per core, on chip
};

// Greedy placement by layer (docs/energy-model.md, "Mapping"): each layer starts on a fresh core and takes
// max(ceil(neurons / neurons_per_core), ceil(synapse_bytes / synapse_memory_per_core)) cores, cut back to
// what leaves enough cores for the later layers' neurons; its neurons and synapse bytes are spread evenly.
Mapping map_layers(const std::vector<LayerShape>& layers, const NeuromorphicChip& chip,
                   const MappingOptions& options = {});

// Tile coordinates of a core.
struct TileXY {
  std::int64_t x = 0, y = 0;
};
TileXY core_tile(const NeuromorphicChip& chip, std::int64_t core);

}  // namespace snnconv::hw
