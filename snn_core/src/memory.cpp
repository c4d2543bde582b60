// What the engine's plan and a pass's samples need in bytes (MemoryEstimate), computed before anything of a
// pass is allocated so that --max-memory can refuse it with the figure.
#include <fmt/format.h>

#include "units.hpp"

namespace snnconv::snn {
namespace {

template <typename T>
std::uint64_t bytes(const std::vector<T>& v) {
  return static_cast<std::uint64_t>(v.size()) * sizeof(T);
}

std::string mib(std::uint64_t b) {
  return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1024.0 * 1024.0));
}

}  // namespace

std::string MemoryEstimate::describe(std::int64_t samples) const {
  return fmt::format("{} (parameters {} + {} x {} per sample)", mib(total(samples)), mib(parameter_bytes), samples,
                     mib(per_sample()));
}

MemoryEstimate estimate_memory(const Plan& plan) {
  MemoryEstimate m;
  for (const SynapseParams& p : plan.synapses)
    m.parameter_bytes += bytes(p.w8) + bytes(p.w32) + bytes(p.packed) + bytes(p.colsum) + bytes(p.step) +
                         bytes(p.in_step) + bytes(p.bias);
  for (const DiffParams& p : plan.diffs) m.parameter_bytes += bytes(p.gamma) + bytes(p.beta);
  for (const MovementParams& p : plan.movements) m.parameter_bytes += bytes(p.fan_begin) + bytes(p.fan);
  for (const ViewMap& v : plan.views) m.parameter_bytes += bytes(v.src) + bytes(v.dest);
  for (const ConcatParams& p : plan.concats)
    for (const auto& d : p.dest) m.parameter_bytes += bytes(d);
  for (const ValueInfo& v : plan.values) {
    m.parameter_bytes += bytes(v.pos) + bytes(v.by_pos) + bytes(v.pos_begin);
    const auto n = static_cast<std::uint64_t>(v.numel);
    if (v.spiking) {
      if (&v == &plan.values[static_cast<std::size_t>(v.storage)]) {
        m.state_bytes_per_sample += n * 4;                 // counts
        m.scratch_bytes_per_sample += n * sizeof(Event);  // one event per neuron per step
      }
    } else if (v.producer >= 0 || v.input >= 0) {
      const auto rows = n / static_cast<std::uint64_t>(v.width);
      m.scratch_bytes_per_sample += rows * (1 + 4) + n * (1 + 4);  // row and element marks
    }
  }
  for (const NeuronParams& p : plan.neurons) m.state_bytes_per_sample += neuron_bytes(plan, p);
  for (const SynapseParams& p : plan.synapses) m.state_bytes_per_sample += synapse_bytes(plan, p);
  for (const ProductParams& p : plan.products) m.state_bytes_per_sample += product_bytes(plan, p);
  for (const DiffParams& p : plan.diffs) m.state_bytes_per_sample += diff_bytes(plan, p);
  for (const PrologueParams& p : plan.prologues) {
    const Value& v = plan.graph->value(plan.graph->node(p.node).outputs[0]);
    m.state_bytes_per_sample +=
        static_cast<std::uint64_t>(plan.value(p.out).numel) * static_cast<std::uint64_t>(dtype_size(v.type.dtype));
  }
  return m;
}

}  // namespace snnconv::snn
