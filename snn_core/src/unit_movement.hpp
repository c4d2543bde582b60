// Data movement of spikes (Reshape, Transpose, Gather, Slice, Squeeze, Unsqueeze, Flatten, Expand, Identity)
// and Concat of populations: events forwarded through index maps computed once from the reference kernels.
// A same-order movement (Reshape and friends) shares its source's counts and events and does nothing per step.
// A permuting movement whose readers can all read through its map (products, synapses, other movements) is
// folded at plan time (fold_movements): its output becomes a view of the source population (ViewMap), chains
// of movements compose into one map, and nothing is copied per step; neuromorphic hardware does this with
// routing tables, and the ledger never counted it.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels.hpp"

namespace snnconv::snn {

// A folded data movement: per sample, element i of the view is element src[i] of its storage population, and
// storage element j is element dest[j] of the view (-1: the view leaves it out). Injective maps only (an
// Expand, which copies an element, stays a movement unit).
struct ViewMap {
  std::vector<std::int32_t> src;   // [n_view]
  std::vector<std::int32_t> dest;  // [n_storage]
  std::int64_t n_view = 0, n_storage = 0;
  FastDiv div_storage;             // storage index -> sample
  bool whole = false;              // a permutation: every storage element is in the view
  std::int64_t run = 1;            // the view's rows (last axis) lie contiguous in the storage: their width, else 1
};

// Calls f(view index, delta) for each of a storage population's events ev[0, n) that the view holds, in order;
// returns how many. Events come in runs of one sample (a population emits a sample's events together, possibly in
// more than one sweep): the sample's offsets change only where a run ends. `samples` in the pass.
template <typename F>
inline std::size_t for_each_view_event(const ViewMap& m, const Event* ev, std::size_t n, std::int64_t samples, F&& f) {
  const std::int32_t* __restrict const dest = m.dest.data();
  if (samples == 1 && m.whole) {  // one sample, a permutation: a plain gather
    for (std::size_t k = 0; k < n; ++k) f(std::int64_t{dest[ev[k].index]}, ev[k].delta);
    return n;
  }
  std::int64_t lo = 0, hi = 0, base = 0;
  std::size_t seen = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const Event e = ev[k];  // read once: a store by f could alias it
    if (e.index < lo || e.index >= hi) {
      const std::int64_t sample = m.div_storage.div(e.index);
      lo = sample * m.n_storage;
      hi = lo + m.n_storage;
      base = sample * m.n_view;
    }
    const std::int32_t d = dest[e.index - lo];
    if (d >= 0) {
      f(base + d, e.delta);
      ++seen;
    }
  }
  return seen;
}

// The events of a view's storage population as the view sees them (indices translated, elements the view
// leaves out dropped), appended to `out`; `samples` in the pass.
void view_events(const ViewMap& m, const EventList& in, EventList& out, int samples);
// How many of a storage population's events a view sees.
std::size_t view_event_count(const ViewMap& m, const EventList& in);
// The view's counts of the global view elements [lo, hi) (within one sample) into out[lo .. hi).
void gather_view(const ViewMap& m, const std::int32_t* storage, std::int64_t lo, std::int64_t hi, std::int32_t* out);
// The view's counts of every sample of a pass of `samples` into out[0 .. samples * n_view).
void gather_view_samples(const ViewMap& m, const std::int32_t* storage, std::int64_t samples, std::int32_t* out);

struct MovementParams {
  int in = -1, out = -1;
  bool same_order = false;              // output element i is input element i (storage shared)
  bool folded = false;                  // the output is a view of the input's storage (nothing to do per step)
  std::vector<std::int64_t> fan_begin;  // otherwise: input i goes to fan[fan_begin[i] .. fan_begin[i+1])
  std::vector<std::int32_t> fan;
  std::vector<std::int32_t> dest;       // when every input goes to at most one output: its output, or -1
  std::int64_t n_in = 0, n_out = 0;     // per sample
};

struct ConcatParams {
  std::vector<int> ins;
  int out = -1;
  std::vector<std::vector<std::int32_t>> dest;  // dest[k][i]: output index of element i of input k
};

}  // namespace snnconv::snn
