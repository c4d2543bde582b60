#include "snnconv/neuromorphic_hw/mapping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>

#include "snnconv/core/error.hpp"
#include "snnconv/core/si_format.hpp"

namespace snnconv::hw {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return b <= 0 ? 0 : (a + b - 1) / b;
}

bool is_layer_node(const Graph& g, const Node& n) {
  switch (n.kind) {
    case OpKind::SynapseLinear:
    case OpKind::SynapseConv:
    case OpKind::Linear:
    case OpKind::Conv:
    case OpKind::Gemm:
    case OpKind::MatMul:
      return n.inputs.size() > 1 && g.is_constant(n.inputs[1]);  // a weight, not Q.K^T
    default:
      return false;
  }
}

std::int64_t weight_bits(const Value& w) {
  return w.quant ? w.quant->bits : static_cast<std::int64_t>(dtype_size(w.constant->dtype()) * 8);
}

LayerShape shape_of_layer(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  const Value& w = g.value(n.inputs[1]);
  const Value& out = g.value(n.outputs[0]);
  if (!out.type.is_static())
    throw ShapeError("mapping needs the static output shape of every synaptic layer", g.context(id));
  const Shape ws = w.constant->shape();
  LayerShape s;
  s.name = n.name;
  s.synapse_row = id.index;
  s.neurons = checked_numel(out.type.static_shape(), n.name);
  const std::int64_t w_elems = w.constant->numel();
  s.synapse_bytes = ceil_div(w_elems * weight_bits(w), 8);
  // Grouped weight steps (QuantParams axis 0, group_size G) live beside the synapses: every f32 step beyond
  // one per output channel (per-channel steps fold into the neuron's threshold).
  if (w.quant && w.quant->group_size > 0 && ws.size() == 2 && w.quant->scale.size() > static_cast<std::size_t>(ws[1]))
    s.synapse_bytes += static_cast<std::int64_t>(w.quant->scale.size() - static_cast<std::size_t>(ws[1])) * 4;
  if (ws.empty()) throw ShapeError("synaptic layer with a scalar weight", g.context(id));
  switch (n.kind) {
    case OpKind::SynapseConv:
    case OpKind::Conv:
      s.fan_in = ws.size() > 1 ? w_elems / ws[0] : 1;
      break;  // C_in/group x kernel
    case OpKind::Gemm: {
      const auto& at = std::get<GemmAttrs>(n.attrs);
      s.fan_in = ws.size() == 2 ? (at.trans_b ? ws[1] : ws[0]) : ws[0];
      break;
    }
    default:
      s.fan_in = ws.size() >= 2 ? ws[ws.size() - 2] : ws[0];  // W [.., K, N]: K inputs per output
  }
  return s;
}

}  // namespace

std::vector<LayerShape> layer_shapes_from_graph(const Graph& g) {
  const auto order = g.topological_order();
  const auto consumers = g.consumers();
  std::vector<int> layer_of_node(g.num_nodes(), -1);
  std::vector<LayerShape> layers;
  for (NodeId id : order) {
    if (!is_layer_node(g, g.node(id))) continue;
    layer_of_node[id.index] = static_cast<int>(layers.size());
    layers.push_back(shape_of_layer(g, id));
  }
  for (auto& s : layers) {
    const Node& n = g.node(NodeId(static_cast<std::uint32_t>(s.synapse_row)));
    // Backwards through non-synaptic nodes: the first neuron population met is the input population,
    // the first synaptic layer met is the source.
    std::deque<ValueId> todo{n.inputs[0]};
    std::vector<bool> seen(g.num_nodes(), false);
    while (!todo.empty() && s.source < 0) {
      const ValueId v = todo.front();
      todo.pop_front();
      if (!v.valid()) continue;
      const NodeId p = g.value(v).producer;
      if (!p.valid() || seen[p.index]) continue;
      seen[p.index] = true;
      const Node& pn = g.node(p);
      if (layer_of_node[p.index] >= 0) {
        s.source = layer_of_node[p.index];
        break;
      }
      if (pn.kind == OpKind::SpikeNeuron && s.input_row < 0) s.input_row = p.index;
      for (ValueId in : pn.inputs)
        if (in.valid() && !g.is_constant(in)) todo.push_back(in);
    }
    // Forwards: the first neuron population the layer drives.
    std::deque<ValueId> fwd{n.outputs[0]};
    std::fill(seen.begin(), seen.end(), false);
    while (!fwd.empty() && s.neuron_row < 0) {
      const ValueId v = fwd.front();
      fwd.pop_front();
      for (NodeId c : consumers[v.index]) {
        if (seen[c.index] || layer_of_node[c.index] >= 0) continue;
        seen[c.index] = true;
        if (g.node(c).kind == OpKind::SpikeNeuron) {
          s.neuron_row = c.index;
          break;
        }
        for (ValueId o : g.node(c).outputs) fwd.push_back(o);
      }
    }
  }
  return layers;
}

TileXY core_tile(const NeuromorphicChip& chip, std::int64_t core) {
  const std::int64_t tile = core / std::max<std::int64_t>(chip.cores_per_tile, 1);
  const std::int64_t w = std::max<std::int64_t>(chip.mesh_x, 1);
  return TileXY{tile % w, tile / w};
}

namespace {

// Mean |a - b| over all pairs of two coordinate histograms.
double mean_abs_distance(const std::vector<double>& ha, const std::vector<double>& hb) {
  double sum = 0, na = 0, nb = 0;
  for (double a : ha) na += a;
  for (double b : hb) nb += b;
  if (na == 0 || nb == 0) return 0;
  for (std::size_t i = 0; i < ha.size(); ++i)
    for (std::size_t j = 0; j < hb.size(); ++j)
      sum += ha[i] * hb[j] * std::abs(static_cast<double>(i) - static_cast<double>(j));
  return sum / (na * nb);
}

void histograms(const NeuromorphicChip& chip, const std::vector<std::int64_t>& cores, std::vector<double>& hx,
                std::vector<double>& hy) {
  hx.assign(static_cast<std::size_t>(std::max<std::int64_t>(chip.mesh_x, 1)), 0.0);
  hy.assign(static_cast<std::size_t>(std::max<std::int64_t>(chip.mesh_y, 1)), 0.0);
  for (std::int64_t c : cores) {
    const TileXY t = core_tile(chip, c);
    hx[static_cast<std::size_t>(t.x)] += 1;
    hy[static_cast<std::size_t>(std::min<std::int64_t>(t.y, chip.mesh_y - 1))] += 1;
  }
}

}  // namespace

Mapping map_layers(const std::vector<LayerShape>& layers, const NeuromorphicChip& chip, const MappingOptions& options) {
  if (chip.cores < 1 || chip.neurons_per_core < 1)
    throw UsageError(fmt::format("chip '{}' has no cores or no neurons per core", chip.name));
  Mapping m;
  m.layers.resize(layers.size());
  m.core_neurons.assign(static_cast<std::size_t>(chip.cores), 0);
  m.core_synapse_bytes.assign(static_cast<std::size_t>(chip.cores), 0);

  std::vector<std::int64_t> cores_for_neurons(layers.size());
  std::int64_t total_neurons = 0;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    cores_for_neurons[l] = std::max<std::int64_t>(1, ceil_div(layers[l].neurons, chip.neurons_per_core));
    total_neurons += layers[l].neurons;
  }
  const std::int64_t needed = std::accumulate(cores_for_neurons.begin(), cores_for_neurons.end(), std::int64_t{0});
  const bool neurons_fit = needed <= chip.cores;
  if (!neurons_fit && !options.allow_neuron_spill) {
    m.fits = false;
    m.shortfall_cores = needed - chip.cores;
    m.shortfall_neurons = std::max<std::int64_t>(0, total_neurons - chip.cores * chip.neurons_per_core);
    m.shortfall = fmt::format(
        "does not fit on {}: {} neurons in {} layers need {} cores of {} neurons, the chip has {} cores "
        "({} neurons): short by {} cores ({} neurons beyond capacity)",
        chip.name, format_count(static_cast<double>(total_neurons)), layers.size(), needed, chip.neurons_per_core,
        chip.cores, format_count(static_cast<double>(chip.cores * chip.neurons_per_core)), m.shortfall_cores,
        format_count(static_cast<double>(m.shortfall_neurons)));
    return m;
  }

  std::int64_t next_core = 0;
  std::int64_t rest_needed = needed;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const LayerShape& s = layers[l];
    LayerPlacement& p = m.layers[l];
    rest_needed -= cores_for_neurons[l];
    std::int64_t c = cores_for_neurons[l];
    if (neurons_fit) {
      // Spread over more cores when the synapse rows need the memory, as long as the later layers'
      // neurons still find cores: spilling synapses costs DRAM traffic every timestep.
      const std::int64_t for_synapses =
          ceil_div(s.synapse_bytes, std::max<std::int64_t>(chip.synapse_memory_per_core_bytes, 1));
      const std::int64_t spare = chip.cores - next_core - rest_needed;
      c = std::clamp(std::max(c, for_synapses), c, std::max(c, spare));
    }
    c = std::min(c, chip.cores);
    p.neurons_per_core = ceil_div(s.neurons, c);
    std::int64_t neurons_left = s.neurons;
    std::int64_t bytes_left = s.synapse_bytes;
    const std::int64_t bytes_per_core = ceil_div(s.synapse_bytes, c);
    for (std::int64_t i = 0; i < c; ++i) {
      const std::int64_t core = (next_core + i) % chip.cores;  // wraps only when neurons spill
      const auto ci = static_cast<std::size_t>(core);
      p.cores.push_back(core);
      const std::int64_t n_here = std::min(p.neurons_per_core, neurons_left);
      neurons_left -= n_here;
      const std::int64_t before = m.core_neurons[ci];
      m.core_neurons[ci] += n_here;
      p.neurons_spilled += std::max<std::int64_t>(0, m.core_neurons[ci] - chip.neurons_per_core) -
                           std::max<std::int64_t>(0, before - chip.neurons_per_core);
      const std::int64_t b_here = std::min(bytes_per_core, bytes_left);
      bytes_left -= b_here;
      const std::int64_t free_bytes =
          std::max<std::int64_t>(0, chip.synapse_memory_per_core_bytes - m.core_synapse_bytes[ci]);
      const std::int64_t on_chip = std::min(b_here, free_bytes);
      m.core_synapse_bytes[ci] += on_chip;
      p.synapse_bytes_on_chip += on_chip;
      p.synapse_bytes_spilled += b_here - on_chip;
    }
    next_core += c;
    if (p.synapse_bytes_spilled > 0 && !options.allow_synapse_spill) {
      m.fits = false;
      m.shortfall_synapse_bytes += p.synapse_bytes_spilled;
    }
  }
  if (!m.fits) {
    m.shortfall = fmt::format(
        "does not fit on {}: {} of synapses exceed the on-chip synapse memory ({} cores x {}) and spilling "
        "synapses to DRAM is not allowed",
        chip.name, format_bytes(static_cast<double>(m.shortfall_synapse_bytes)), chip.cores,
        format_bytes(static_cast<double>(chip.synapse_memory_per_core_bytes)));
  }
  m.cores_used = std::min(next_core, chip.cores);

  // Hops: spikes of layer `source` go to every core of this layer; the input enters at tile (0, 0).
  std::vector<double> hx, hy, sx, sy;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    histograms(chip, m.layers[l].cores, hx, hy);
    const int src = layers[l].source;
    if (src >= 0 && static_cast<std::size_t>(src) < layers.size()) {
      histograms(chip, m.layers[static_cast<std::size_t>(src)].cores, sx, sy);
    } else {
      sx.assign(hx.size(), 0.0);
      sy.assign(hy.size(), 0.0);
      sx[0] = sy[0] = 1.0;
    }
    m.layers[l].mean_hops_x = mean_abs_distance(sx, hx);
    m.layers[l].mean_hops_y = mean_abs_distance(sy, hy);
  }
  return m;
}

}  // namespace snnconv::hw
