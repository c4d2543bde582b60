#include "snnconv/core/ledger.hpp"

#include <numeric>

namespace snnconv {

std::string_view mem_class_name(MemClass m) {
  switch (m) {
    case MemClass::weights: return "weights";
    case MemClass::activations: return "activations";
    case MemClass::membrane: return "membrane";
    case MemClass::kv_cache: return "kv_cache";
    case MemClass::spikes: return "spikes";
    case MemClass::Count: break;
  }
  return "?";
}

std::uint64_t Counters::total_macs() const { return std::accumulate(macs.begin(), macs.end(), std::uint64_t{0}); }
std::uint64_t Counters::total_acs() const { return std::accumulate(acs.begin(), acs.end(), std::uint64_t{0}); }

Counters& Counters::operator+=(const Counters& o) {
  for (std::size_t i = 0; i < kWidthSlots; ++i) {
    macs[i] += o.macs[i];
    acs[i] += o.acs[i];
  }
  neuron_updates += o.neuron_updates;
  spikes_pos += o.spikes_pos;
  spikes_neg += o.spikes_neg;
  burst_events += o.burst_events;
  dense_ops += o.dense_ops;
  nonlinear_ops += o.nonlinear_ops;
  for (std::size_t i = 0; i < kMemClassCount; ++i) {
    bytes_read[i] += o.bytes_read[i];
    bytes_written[i] += o.bytes_written[i];
  }
  timesteps += o.timesteps;
  link_events += o.link_events;
  link_bytes += o.link_bytes;
  return *this;
}

Ledger Ledger::for_graph(const Graph& g) {
  Ledger l;
  for (const Node& n : g.nodes()) {
    l.node_names.push_back(n.name);
    l.node_ops.push_back(n.kind);
  }
  l.per_node.resize(g.num_nodes());
  return l;
}

Counters Ledger::total() const {
  Counters t;
  for (const auto& c : per_node) t += c;
  return t;
}

void Ledger::merge(const Ledger& o) {
  if (o.per_node.size() != per_node.size()) throw Error("ledger merge: ledgers of different graphs");
  for (std::size_t i = 0; i < per_node.size(); ++i) per_node[i] += o.per_node[i];
  if (per_step.size() < o.per_step.size()) per_step.resize(o.per_step.size());
  for (std::size_t i = 0; i < o.per_step.size(); ++i) per_step[i] += o.per_step[i];
  samples += o.samples;
  tokens += o.tokens;
}

}  // namespace snnconv
