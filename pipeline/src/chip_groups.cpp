// The chips of a multi-chip neuromorphic board for `--partition chips` (spiking.hpp, chip_groups).
#include <algorithm>

#include "snnconv/core/error.hpp"
#include "snnconv/neuromorphic_hw/mapping.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace snnconv::pipeline {

ChipGroups chip_groups(const Graph& snn, const hw::Profile& profile) {
  const hw::NeuromorphicChip chip = hw::neuromorphic_chip(profile);  // UsageError for a dense profile
  if (chip.cores < 1 || chip.neurons_per_core < 1)
    throw UsageError("profile '" + chip.name + "' has no cores or no neurons per core");
  const std::vector<hw::LayerShape> layers = hw::layer_shapes_from_graph(snn);
  ChipGroups out;
  out.node_chip.assign(snn.num_nodes(), -1);
  auto ceil_div = [](std::int64_t a, std::int64_t b) { return (a + b - 1) / b; };
  // The mapper's greedy rule (hw::map_layers) on a board of as many chips as it takes: each layer starts on a
  // fresh core and takes the cores its neurons and its synapse rows need; core k sits on chip k / cores. A
  // layer is one unit of the engine, so it stays on the chip of its first core.
  std::int64_t next_core = 0;
  for (const hw::LayerShape& l : layers) {
    const std::int64_t for_neurons = std::max<std::int64_t>(1, ceil_div(l.neurons, chip.neurons_per_core));
    const std::int64_t for_synapses = ceil_div(l.synapse_bytes, std::max<std::int64_t>(chip.synapse_memory_per_core_bytes, 1));
    const int c = static_cast<int>(next_core / chip.cores);
    for (std::int64_t row : {l.synapse_row, l.neuron_row})
      if (row >= 0 && static_cast<std::size_t>(row) < out.node_chip.size()) out.node_chip[static_cast<std::size_t>(row)] = c;
    next_core += std::max(for_neurons, for_synapses);
  }
  out.cores = next_core;
  out.chips = static_cast<int>(ceil_div(std::max<std::int64_t>(next_core, 1), chip.cores));
  out.cores_per_chip = chip.cores;
  return out;
}

}  // namespace snnconv::pipeline
