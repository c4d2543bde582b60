// The plan's memory: replays the executor's buffer policy (engine.cpp: fast kernels take buffers from a
// pool keyed by dtype and element count, reference kernels allocate their own, released buffers go back to the
// pool up to a cap) over the static shapes, to size the pool and to know the peak before any pass runs.
#include <fmt/core.h>

#include <algorithm>
#include <limits>

#include "plan.hpp"

namespace snnconv::ann {
namespace {

using Key = std::pair<DType, std::int64_t>;  // dtype, element count (engine.cpp's pool key)

std::uint64_t bytes_of(DType dtype, std::int64_t numel) {
  const auto n = static_cast<std::uint64_t>(std::max<std::int64_t>(numel, 0));
  const std::uint64_t size = dtype_size(dtype);
  return n > std::numeric_limits<std::uint64_t>::max() / size ? std::numeric_limits<std::uint64_t>::max() : n * size;
}

std::uint64_t bytes_of(DType dtype, const Shape& shape) {
  // Shapes here passed shape inference's checked_numel, so no overflow; saturate anyway.
  std::uint64_t n = dtype_size(dtype);
  for (std::int64_t d : shape) {
    const auto u = static_cast<std::uint64_t>(std::max<std::int64_t>(d, 0));
    if (u != 0 && n > std::numeric_limits<std::uint64_t>::max() / u) return std::numeric_limits<std::uint64_t>::max();
    n *= u;
  }
  return n;
}

std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.1f} {} ({} bytes)", v, units[u], bytes);
}

std::string MemoryPlan::describe() const {
  return fmt::format("weights {} + converted weights {} + inputs {} + activations {}{}{} = {}",
                     format_bytes(constant_bytes), format_bytes(converted_bytes), format_bytes(input_bytes),
                     format_bytes(activation_bytes), peak_node.empty() ? "" : " (peak at node " + peak_node + ")",
                     exact ? "" : " (at least: some shapes are dynamic)", format_bytes(total()));
}

void plan_memory(const Graph& g, Plan& plan) {
  MemoryPlan& m = plan.memory;
  m = MemoryPlan{};
  for (std::size_t i = 0; i < g.num_values(); ++i) {
    const Value& v = g.value(ValueId(static_cast<std::uint32_t>(i)));
    if (v.constant) m.constant_bytes = add_saturating(m.constant_bytes, v.constant->nbytes());
  }
  for (const Tensor& t : plan.owned) m.converted_bytes = add_saturating(m.converted_bytes, t.nbytes());
  for (const TensorType& t : plan.input_types) {
    if (t.is_static()) m.input_bytes = add_saturating(m.input_bytes, bytes_of(t.dtype, t.static_shape()));
    else m.exact = false;
  }

  // The key of each slot's buffer, and whether a fast kernel took it from the pool.
  std::vector<std::optional<Key>> key_of(g.num_values());
  auto output_key = [&](const Step& step, std::size_t i) -> std::optional<Key> {
    if (!step.out_shapes[i]) return std::nullopt;
    return Key{g.value(ValueId(step.outputs[i])).type.dtype, checked_numel(*step.out_shapes[i])};
  };

  // Pass 1: the pool cap of each key = the most buffers of that key fast kernels hold at once.
  std::map<Key, std::size_t> live_fast, cap;
  std::vector<bool> fast_owned(g.num_values(), false);
  // A view step (plan.cpp, mark_views) hands its dying input's buffer on as its output: the same buffer, one
  // more name. Its output inherits the input's ownership and the input's release frees nothing.
  auto moved_input = [](const Step& step) -> std::int64_t {
    return step.view && !step.inputs.empty() && step.inputs[0].source == Source::slot
               ? static_cast<std::int64_t>(step.inputs[0].index)
               : -1;
  };
  for (const Step& step : plan.steps) {
    if (const std::int64_t in = moved_input(step); in >= 0) {
      // Same element count, so the same key: the buffer stays counted once, under its new name.
      const auto u = static_cast<std::size_t>(in);
      key_of[step.outputs[0]] = output_key(step, 0);
      if (!key_of[step.outputs[0]]) m.exact = false;
      fast_owned[step.outputs[0]] = fast_owned[u];
      fast_owned[u] = false;  // its slot is released empty
    }
    for (std::size_t i = 0; i < step.outputs.size() && moved_input(step) < 0; ++i) {
      key_of[step.outputs[i]] = output_key(step, i);
      if (!key_of[step.outputs[i]]) m.exact = false;
      fast_owned[step.outputs[i]] = step.kernel.fn != nullptr && key_of[step.outputs[i]].has_value();
      if (fast_owned[step.outputs[i]]) {
        const Key& k = *key_of[step.outputs[i]];
        cap[k] = std::max(cap[k], ++live_fast[k]);
      }
    }
    for (std::uint32_t v : step.release)
      if (fast_owned[v]) --live_fast[*key_of[v]];
  }
  plan.pool_cap = cap;

  // Passes 2 and 3: the executor's policy with the cap, from an empty pool; the second pass starts with the
  // pool the first left (the steady state of a long run). Graph outputs are handed to the caller and held
  // until the end of the pass.
  std::map<Key, std::size_t> pooled;
  std::uint64_t current = 0, peak = 0;
  for (int pass = 0; pass < 2; ++pass) {
    std::uint64_t handed_out = 0;
    for (const Step& step : plan.steps) {
      const std::int64_t moved = moved_input(step);
      for (std::size_t i = 0; i < step.outputs.size() && moved < 0; ++i) {
        const auto& k = key_of[step.outputs[i]];
        if (!k) continue;
        if (step.kernel.fn != nullptr && pooled[*k] > 0) {
          --pooled[*k];  // reused: already counted
        } else {
          current = add_saturating(current, bytes_of(k->first, k->second));
        }
      }
      if (current > peak) {
        peak = current;
        m.peak_node = g.node(step.node).name;
      }
      for (std::uint32_t v : step.release) {
        const auto& k = key_of[v];
        if (!k || static_cast<std::int64_t>(v) == moved) continue;  // moved on to the view's output
        const auto c = plan.pool_cap.find(*k);
        if (c != plan.pool_cap.end() && pooled[*k] < c->second) ++pooled[*k];
        else current -= std::min(current, bytes_of(k->first, k->second));
      }
    }
    for (const ValueRef& r : plan.outputs)
      if (r.source == Source::slot && key_of[r.index])
        handed_out = add_saturating(handed_out, bytes_of(key_of[r.index]->first, key_of[r.index]->second));
    current -= std::min(current, handed_out);  // the caller drops the results before the next pass
  }
  m.activation_bytes = peak;
}

}  // namespace snnconv::ann
