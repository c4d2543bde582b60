// Model-parallel SNN: groups, placements and the per-rank exchange tables (partition.hpp).
#include "partition.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "snnconv/core/error.hpp"
#include "units.hpp"

namespace snnconv::snn {
namespace {

int find_root(std::vector<int>& parent, int x) {
  while (parent[static_cast<std::size_t>(x)] != x) {
    parent[static_cast<std::size_t>(x)] = parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
    x = parent[static_cast<std::size_t>(x)];
  }
  return x;
}

// The work of a unit when every input neuron changes once: what balancing by "synaptic work" weighs. A
// synaptic layer fans each input event out to its N targets; a product pairs K operands per output; the
// other units touch each output element once.
std::uint64_t unit_work(const Plan& plan, const Unit& u) {
  const auto numel = static_cast<std::uint64_t>(plan.value(u.out).numel);
  if (u.kind == UnitKind::synapse) {
    const SynapseParams& p = plan.synapses[static_cast<std::size_t>(u.slot)];
    return static_cast<std::uint64_t>(p.rows) * static_cast<std::uint64_t>(p.k) * static_cast<std::uint64_t>(p.n);
  }
  if (u.kind == UnitKind::product) {
    const ProductParams& p = plan.products[static_cast<std::size_t>(u.slot)];
    return static_cast<std::uint64_t>(p.batch) * static_cast<std::uint64_t>(p.m) * static_cast<std::uint64_t>(p.k) *
           static_cast<std::uint64_t>(p.n);
  }
  return numel;
}

// For each spiking storage value, the unit that writes its counts and events (-1 elsewhere).
std::vector<int> storage_producers(const Plan& plan) {
  std::vector<int> prod(plan.values.size(), -1);
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui) {
    const Unit& u = plan.units[ui];
    const ValueInfo& v = plan.value(u.out);
    if (v.spiking && v.storage == u.out) prod[static_cast<std::size_t>(u.out)] = static_cast<int>(ui);
  }
  return prod;
}

// Per unit: the ranks other than its own that read its population's events (sorted).
std::vector<std::vector<int>> consumers_elsewhere(const Plan& plan, const std::vector<int>& unit_rank) {
  const std::vector<int> prod = storage_producers(plan);
  std::vector<std::vector<int>> out(plan.units.size());
  auto need = [&](int value, int rank) {
    const ValueInfo& v = plan.value(value);
    if (!v.spiking) return;
    const int pu = prod[static_cast<std::size_t>(v.storage)];
    if (pu < 0 || unit_rank[static_cast<std::size_t>(pu)] == rank) return;
    std::vector<int>& c = out[static_cast<std::size_t>(pu)];
    if (std::find(c.begin(), c.end(), rank) == c.end()) c.push_back(rank);
  };
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui)
    for (ValueId in : plan.graph->node(NodeId(static_cast<std::uint32_t>(plan.units[ui].row))).inputs)
      if (in.valid()) need(static_cast<int>(in.index), unit_rank[ui]);
  for (ValueId o : plan.graph->outputs()) need(static_cast<int>(o.index), 0);  // rank 0 reads the outputs
  for (auto& c : out) std::sort(c.begin(), c.end());
  return out;
}

std::uint64_t unit_state_bytes(const Plan& plan, const Unit& u) {
  const auto slot = static_cast<std::size_t>(u.slot);
  switch (u.kind) {
    case UnitKind::neuron: return neuron_bytes(plan, plan.neurons[slot]);
    case UnitKind::synapse: return synapse_bytes(plan, plan.synapses[slot]);
    case UnitKind::product: return product_bytes(plan, plan.products[slot]);
    case UnitKind::diff: return diff_bytes(plan, plan.diffs[slot]);
    default: return 0;
  }
}

std::vector<int> ranks_per_unit(const Plan& plan, const std::vector<int>& node_rank) {
  std::vector<int> r(plan.units.size());
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui) r[ui] = node_rank[plan.units[ui].row];
  return r;
}

}  // namespace

UnitGroups unit_groups(const Plan& plan) {
  const std::size_t n = plan.units.size();
  std::vector<int> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  for (std::size_t ui = 0; ui < n; ++ui)
    for (ValueId in : plan.graph->node(NodeId(static_cast<std::uint32_t>(plan.units[ui].row))).inputs) {
      if (!in.valid()) continue;
      const ValueInfo& v = plan.values[in.index];
      if (v.spiking || v.producer < 0) continue;
      const int a = find_root(parent, static_cast<int>(ui)), b = find_root(parent, v.producer);
      parent[static_cast<std::size_t>(std::max(a, b))] = std::min(a, b);
    }
  UnitGroups g;
  g.group_of.assign(n, -1);
  std::vector<int> group_of_root(n, -1);
  for (std::size_t ui = 0; ui < n; ++ui) {
    const auto root = static_cast<std::size_t>(find_root(parent, static_cast<int>(ui)));
    if (group_of_root[root] < 0) {
      group_of_root[root] = static_cast<int>(g.work.size());
      g.work.push_back(0);
      g.pinned.push_back(0);
    }
    const int grp = group_of_root[root];
    g.group_of[ui] = grp;
    g.work[static_cast<std::size_t>(grp)] += unit_work(plan, plan.units[ui]);
  }
  for (ValueId o : plan.graph->outputs()) {
    const ValueInfo& v = plan.values[o.index];
    if (!v.spiking && v.producer >= 0) g.pinned[static_cast<std::size_t>(g.group_of[static_cast<std::size_t>(v.producer)])] = 1;
  }
  return g;
}

PartitionTables partition_tables(const Plan& plan, const std::vector<int>& node_rank, int rank, int ranks) {
  if (node_rank.size() != plan.graph->num_nodes())
    throw UsageError("SNN engine: the placement has " + std::to_string(node_rank.size()) + " nodes, the graph " +
                     std::to_string(plan.graph->num_nodes()));
  for (int r : node_rank)
    if (r < 0 || r >= ranks) throw UsageError("SNN engine: the placement names rank " + std::to_string(r) +
                                              " of " + std::to_string(ranks));
  PartitionTables t;
  t.rank = rank;
  t.ranks = ranks;
  t.unit_rank = ranks_per_unit(plan, node_rank);
  const UnitGroups groups = unit_groups(plan);
  std::vector<int> group_rank(groups.work.size(), -1);
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui) {
    int& gr = group_rank[static_cast<std::size_t>(groups.group_of[ui])];
    if (gr < 0) gr = t.unit_rank[ui];
    if (gr != t.unit_rank[ui])
      throw GraphError("SNN engine: the placement splits the units that share the current into '" +
                       plan.graph->node(NodeId(static_cast<std::uint32_t>(plan.units[ui].row))).name +
                       "' over two ranks (only spike events cross ranks)");
  }
  for (std::size_t gi = 0; gi < groups.pinned.size(); ++gi)
    if (groups.pinned[gi] && group_rank[gi] != 0)
      throw GraphError("SNN engine: the placement puts a current graph output off rank 0, which reads the outputs");
  const std::vector<std::vector<int>> consumers = consumers_elsewhere(plan, t.unit_rank);
  t.send_to.assign(plan.units.size(), {});
  t.receive_from.assign(plan.units.size(), -1);
  t.payload_bytes.assign(plan.units.size(), 0);
  t.value_here.assign(plan.values.size(), 0);
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui) {
    const Unit& u = plan.units[ui];
    const ValueInfo& v = plan.value(u.out);
    const bool mine = t.unit_rank[ui] == rank;
    const auto& c = consumers[ui];
    const bool mirrored = std::find(c.begin(), c.end(), rank) != c.end();
    if (mine) t.send_to[ui] = c;
    if (mirrored) t.receive_from[ui] = t.unit_rank[ui];
    if (v.spiking && v.storage == u.out) {
      t.value_here[static_cast<std::size_t>(u.out)] = mine || mirrored;
      // The magnitude of a burst event is at most n_max - n_min <= 2 max|count|: the count's bytes, wider
      // only when that bound needs it.
      int payload = static_cast<int>(bytes_of_bits(v.bits));
      while (payload < 4 && static_cast<std::uint64_t>(2 * v.max_abs_count) >= (std::uint64_t{1} << (8 * payload)))
        payload *= 2;
      t.payload_bytes[ui] = payload;
    } else if (!v.spiking) {
      t.value_here[static_cast<std::size_t>(u.out)] = mine;
    }
  }
  for (std::size_t vi = 0; vi < plan.values.size(); ++vi) {
    const ValueInfo& v = plan.values[vi];
    if (v.input >= 0) t.value_here[vi] = 1;  // every rank holds the samples
    if (v.spiking && v.storage >= 0 && v.storage != static_cast<int>(vi))
      t.value_here[vi] = t.value_here[static_cast<std::size_t>(v.storage)];
  }
  t.outputs_here = rank == 0;
  return t;
}

Placement describe_placement(const Plan& plan, std::vector<int> node_rank, int ranks, std::string method) {
  Placement p;
  p.method = std::move(method);
  p.ranks = ranks;
  p.node_rank = std::move(node_rank);
  p.units.assign(static_cast<std::size_t>(ranks), 0);
  p.work.assign(static_cast<std::size_t>(ranks), 0);
  p.state_bytes_per_sample.assign(static_cast<std::size_t>(ranks), 0);
  const std::vector<int> unit_rank = ranks_per_unit(plan, p.node_rank);
  const std::vector<std::vector<int>> consumers = consumers_elsewhere(plan, unit_rank);
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui) {
    const Unit& u = plan.units[ui];
    const auto r = static_cast<std::size_t>(unit_rank[ui]);
    ++p.units[r];
    p.work[r] += unit_work(plan, u);
    const std::uint64_t own = unit_state_bytes(plan, u);
    p.state_bytes_per_sample[r] += own;
    p.whole_state_bytes_per_sample += own;
    const ValueInfo& v = plan.value(u.out);
    if (v.spiking && v.storage == u.out) {
      const auto counts = static_cast<std::uint64_t>(v.numel) * kCountBytes;
      p.whole_state_bytes_per_sample += counts;
      p.state_bytes_per_sample[r] += counts;
      for (int c : consumers[ui]) p.state_bytes_per_sample[static_cast<std::size_t>(c)] += counts;  // mirrors
      if (!consumers[ui].empty()) p.cut_values.push_back(plan.graph->value(ValueId(static_cast<std::uint32_t>(u.out))).name);
    }
  }
  return p;
}

Placement place_by_work(const Plan& plan, int ranks) {
  if (ranks < 1) throw UsageError("--partition: the rank count must be >= 1, got " + std::to_string(ranks));
  const UnitGroups g = unit_groups(plan);
  std::uint64_t total = 0;
  for (std::size_t gi = 0; gi < g.work.size(); ++gi)
    if (!g.pinned[gi]) total += g.work[gi];
  // Contiguous runs of groups in plan order, each group on the rank its work's midpoint falls in: events then
  // flow from lower to higher ranks (and back to rank 0 for a read-out current).
  std::vector<int> group_rank(g.work.size(), 0);
  unsigned __int128 before = 0;
  int last = 0;
  for (std::size_t gi = 0; gi < g.work.size(); ++gi) {
    if (g.pinned[gi]) continue;
    const unsigned __int128 mid = 2 * before + g.work[gi];  // twice the midpoint
    int r = total == 0 ? 0 : static_cast<int>(mid * static_cast<unsigned>(ranks) / (2 * static_cast<unsigned __int128>(total)));
    r = std::clamp(std::max(r, last), 0, ranks - 1);
    group_rank[gi] = last = r;
    before += g.work[gi];
  }
  std::vector<int> node_rank(plan.graph->num_nodes(), 0);
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui)
    node_rank[plan.units[ui].row] = group_rank[static_cast<std::size_t>(g.group_of[ui])];
  return describe_placement(plan, std::move(node_rank), ranks, "work");
}

Placement place_by_groups(const Plan& plan, const std::vector<int>& node_group, int ranks, std::string method) {
  if (ranks < 1) throw UsageError("--partition: the rank count must be >= 1, got " + std::to_string(ranks));
  if (node_group.size() != plan.graph->num_nodes())
    throw UsageError("SNN engine: a group for each of the graph's " + std::to_string(plan.graph->num_nodes()) +
                     " nodes is needed, got " + std::to_string(node_group.size()));
  const UnitGroups g = unit_groups(plan);
  // A unit group takes the lowest chip among its units; one with no chip (units the mapping does not place:
  // normalisation, data movement) follows the group before it in plan order.
  std::vector<int> chip(g.work.size(), -1);
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui) {
    const int c = node_group[plan.units[ui].row];
    int& gc = chip[static_cast<std::size_t>(g.group_of[ui])];
    if (c >= 0 && (gc < 0 || c < gc)) gc = c;
  }
  int previous = 0;
  std::vector<int> group_rank(g.work.size(), 0);
  for (std::size_t gi = 0; gi < g.work.size(); ++gi) {
    if (chip[gi] < 0) chip[gi] = previous;
    previous = chip[gi];
    group_rank[gi] = g.pinned[gi] ? 0 : chip[gi] % ranks;
  }
  std::vector<int> node_rank(plan.graph->num_nodes(), 0);
  for (std::size_t ui = 0; ui < plan.units.size(); ++ui)
    node_rank[plan.units[ui].row] = group_rank[static_cast<std::size_t>(g.group_of[ui])];
  return describe_placement(plan, std::move(node_rank), ranks, std::move(method));
}

std::size_t pack_events(const EventList& events, bool burst, int payload, std::string& out) {
  const std::size_t per = 4 + (burst ? static_cast<std::size_t>(payload) : 0);
  const std::size_t at = out.size();
  out.resize(at + events.size() * per);
  char* p = out.data() + at;
  for (const Event& e : events) {
    const std::uint32_t magnitude = static_cast<std::uint32_t>(e.delta < 0 ? -static_cast<std::int64_t>(e.delta) : e.delta);
    if (!burst && magnitude != 1) throw Error("SNN engine: a strict event of size " + std::to_string(e.delta));
    if (burst && payload < 4 && magnitude >= (std::uint32_t{1} << (8 * payload)))
      throw Error("SNN engine: a burst event of size " + std::to_string(e.delta) + " exceeds its link payload");
    const std::uint32_t word = static_cast<std::uint32_t>(e.index) | (e.delta < 0 ? 0x80000000u : 0u);
    std::memcpy(p, &word, 4);
    if (burst) std::memcpy(p + 4, &magnitude, static_cast<std::size_t>(payload));  // little-endian low bytes
    p += per;
  }
  return events.size() * per;
}

void unpack_events(const std::string& bytes, bool burst, int payload, EventList& events, StateVector<std::int32_t>& counts) {
  const std::size_t per = 4 + (burst ? static_cast<std::size_t>(payload) : 0);
  if (bytes.size() % per != 0) throw Error("SNN engine: an event message from another rank is truncated");
  const std::size_t n = bytes.size() / per;
  Event* out = events.tail(n);
  const char* p = bytes.data();
  for (std::size_t k = 0; k < n; ++k, p += per) {
    std::uint32_t word = 0, magnitude = 1;
    std::memcpy(&word, p, 4);
    if (burst) {
      magnitude = 0;
      std::memcpy(&magnitude, p + 4, static_cast<std::size_t>(payload));
    }
    const auto index = static_cast<std::int32_t>(word & 0x7fffffffu);
    if (static_cast<std::size_t>(index) >= counts.size())
      throw Error("SNN engine: an event from another rank names neuron " + std::to_string(index) + " of " +
                  std::to_string(counts.size()));
    const auto delta = (word & 0x80000000u) ? -static_cast<std::int32_t>(magnitude) : static_cast<std::int32_t>(magnitude);
    counts[static_cast<std::size_t>(index)] += delta;
    out[k] = {index, delta};
  }
  events.advance(n);
}

}  // namespace snnconv::snn
