// Lays out the SNN engine's plan from a const spiking graph: one ValueInfo per value, one Unit per node, the
// parameters of each unit kind from that kind's plan function (unit_*.cpp). All validation happens here,
// never in a step.
#include "plan.hpp"

#include <algorithm>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/core/verifier.hpp"
#include "units.hpp"

namespace snnconv::snn {

void plan_fail(const Graph& g, NodeId id, ValueId v, const std::string& msg, bool unsupported) {
  ErrorContext c = g.context(id);
  if (v.valid()) c.value = g.value(v).name;
  if (unsupported) throw UnsupportedError("SNN engine: " + msg, c);
  throw GraphError("SNN engine: " + msg, c);
}

const ValueInfo& PlanBuilder::spiking_in(NodeId id, std::size_t k) const {
  const ValueId v = g.node(id).inputs[k];
  if (!v.valid() || !plan.values[v.index].spiking)
    plan_fail(g, id, v, "operand " + std::to_string(k) + " must be a spiking population");
  return plan.values[v.index];
}

namespace {

// The kind a node runs as: a prologue when every input is known at step 1, else by its op (data movement
// and Concat of populations as movement).
UnitKind kind_of(const PlanBuilder& b, NodeId id) {
  const Node& nd = b.g.node(id);
  bool fixed_inputs = nd.kind != OpKind::SpikeNeuron;
  for (ValueId v : nd.inputs)
    if (v.valid() && !b.g.value(v).constant && !b.plan.values[v.index].fixed) fixed_inputs = false;
  if (fixed_inputs) return UnitKind::prologue;
  switch (nd.kind) {
    case OpKind::SpikeNeuron: return UnitKind::neuron;
    case OpKind::SynapseLinear: return UnitKind::synapse;
    case OpKind::SpikeMatMul: return UnitKind::product;
    case OpKind::DiffUnit: return UnitKind::diff;
    case OpKind::Add: return UnitKind::add;
    default: break;
  }
  const bool any_spiking = std::any_of(nd.inputs.begin(), nd.inputs.end(), [&](ValueId v) {
    return v.valid() && b.plan.values[v.index].spiking;
  });
  if (nd.kind == OpKind::Concat && any_spiking) return UnitKind::concat;
  if (ann::is_data_movement(nd.kind) && b.plan.values[nd.inputs[0].index].spiking) return UnitKind::movement;
  plan_fail(b.g, id, nd.outputs[0],
            std::string(op_name(nd.kind)) +
                " is not executed by the SNN engine here (only data movement of spikes, or a dense prologue on "
                "the graph inputs)",
            true);
}

}  // namespace

Plan build_plan(const Graph& g, bool fold) {
  if (g.stage != Stage::spiking)
    throw GraphError("SNN engine: needs a graph at stage 'spiking', got '" + std::string(stage_name(g.stage)) +
                     "' (convert it with convert_to_spiking first)");
  verify(g, Stage::spiking);
  Plan plan;
  plan.graph = &g;
  plan.kernels = kernels_for(active_isa());
  plan.values.resize(g.num_values());
  auto init_value = [&](ValueId v, NodeId at) {
    ValueInfo& s = plan.values[v.index];
    const Value& val = g.value(v);
    if (!val.type.is_static()) plan_fail(g, at, v, "value shape must be static");
    s.shape = val.type.static_shape();
    s.numel = checked_numel(s.shape, val.name);
    s.width = s.shape.empty() ? 1 : std::max<std::int64_t>(1, s.shape.back());
    if (s.numel >= (std::int64_t{1} << 31)) plan_fail(g, at, v, "a population of more than 2^31 neurons", true);
  };
  for (std::size_t i = 0; i < g.inputs().size(); ++i) {
    const ValueId v = g.inputs()[i];
    init_value(v, NodeId{});
    plan.values[v.index].fixed = true;
    plan.values[v.index].input = static_cast<int>(i);
  }
  const PlanBuilder b{g, plan};
  for (NodeId id : g.topological_order()) {
    const Node& nd = g.node(id);
    const ValueId ov = nd.outputs[0];
    init_value(ov, id);
    ValueInfo& out = plan.values[ov.index];
    Unit u;
    u.kind = kind_of(b, id);
    u.row = id.index;
    u.out = static_cast<int>(ov.index);
    switch (u.kind) {
      case UnitKind::neuron:
        u.slot = static_cast<int>(plan.neurons.size());
        plan.neurons.push_back(plan_neuron(b, id));
        break;
      case UnitKind::synapse:
        u.slot = static_cast<int>(plan.synapses.size());
        plan.synapses.push_back(plan_synapse(b, id));
        break;
      case UnitKind::product:
        u.slot = static_cast<int>(plan.products.size());
        plan.products.push_back(plan_product(b, id));
        break;
      case UnitKind::diff:
        u.slot = static_cast<int>(plan.diffs.size());
        plan.diffs.push_back(plan_diff(b, id));
        break;
      case UnitKind::add:
        u.slot = static_cast<int>(plan.adds.size());
        plan.adds.push_back(plan_add(b, id));
        break;
      case UnitKind::movement:
        u.slot = static_cast<int>(plan.movements.size());
        plan.movements.push_back(plan_movement(b, id));
        break;
      case UnitKind::concat:
        u.slot = static_cast<int>(plan.concats.size());
        plan.concats.push_back(plan_concat(b, id));
        break;
      case UnitKind::prologue:
        u.slot = static_cast<int>(plan.prologues.size());
        plan.prologues.push_back(plan_prologue(b, id));
        break;
    }
    // Spiking outputs own their storage unless a same-order movement shares its source's.
    if (out.spiking) {
      if (out.storage < 0) out.storage = u.out;
    } else {
      out.producer = static_cast<int>(plan.units.size());
    }
    plan.units.push_back(u);
  }
  if (fold) fold_movements(plan);
  for (ValueId o : g.outputs()) {
    const ValueInfo& v = plan.values[o.index];
    if (v.spiking) continue;
    const UnitKind k = v.producer < 0 ? UnitKind::prologue : plan.units[static_cast<std::size_t>(v.producer)].kind;
    if (k != UnitKind::synapse && k != UnitKind::product && k != UnitKind::diff && k != UnitKind::add)
      throw GraphError("SNN engine: graph output '" + g.value(o).name +
                       "' is neither a spiking population nor a read-out current of a synaptic unit");
  }
  return plan;
}

}  // namespace snnconv::snn
