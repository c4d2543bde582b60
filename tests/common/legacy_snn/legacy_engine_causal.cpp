// Causal decoding on the SNN engine: the position layout (at which sequence position every element of every
// value becomes live) and prefill()/extend(), which simulate only the live positions and keep every earlier
// position's accumulated state between calls (docs/spiking.md, "Generation on the SNN").
//
// Layout, computed once from the graph:
// - forward: graph inputs and dense prologue outputs take their index on the sequence axis (axis 1 of
//   [1, T, ...], or axis 0 of [T, ...]; 0 otherwise). A unit's output element takes the latest position of
//   the input elements it reads: a neuron and an Add elementwise, a synapse the whole input row, a product
//   (i, j) every pair (A[i][p], B[p][j]), a whole-vector unit its row, where a causal softmax reads only its
//   valid columns and its masked outputs are constant zeros (kZero). Pairs and operands that are constant
//   zeros contribute nothing and are left out of the maximum.
// - backward: an element is needed when a graph output depends on it (a causal softmax does not read its
//   masked columns, so the scores above the diagonal, and the Q.K^T accumulators behind them, are not).
// - final: pos = the forward position of a needed, non-constant element, kNever otherwise.
// Since every element's position is the latest position it depends on, appending a position never changes
// an element that was live before: extend() only has to bring the new positions to quiescence.
#include <algorithm>

#include "legacy_engine_impl.hpp"
#include "snnconv/ann_baseline/qann.hpp"

namespace snnconv::legacy_snn {
namespace {

constexpr std::int32_t kZero = kNever;  // forward pass: a constant zero (never fires, never needs evaluation)

std::int32_t later(std::int32_t a, std::int32_t b) {
  if (a == kZero) return b;
  if (b == kZero) return a;
  return std::max(a, b);
}

bool is_movement(const Unit& u) {
  switch (u.kind) {
    case OpKind::SpikeNeuron:
    case OpKind::SynapseLinear:
    case OpKind::SpikeMatMul:
    case OpKind::DiffUnit:
    case OpKind::Add:
      return false;
    default:
      return !u.dense;
  }
}

}  // namespace

void Engine::Impl::build_causal_layout() {
  if (g.inputs().empty()) throw UnsupportedError("SNN engine: causal decoding needs a graph input");
  const Shape& s0 = values[g.inputs()[0].index].shape;
  if (s0.size() < 2 || s0[0] != 1 || s0[1] < 1)
    throw UnsupportedError("SNN engine: causal decoding needs a batch-1 input [1, T, ...] carrying the sequence on "
                           "axis 1; input '" +
                           g.value(g.inputs()[0]).name + "' is " + shape_to_string(s0));
  const std::int64_t T = s0[1];
  if (T >= kNever) throw UnsupportedError("SNN engine: sequence too long for causal decoding");
  const std::size_t nv = values.size();
  std::vector<std::vector<std::int32_t>> fwd(nv);
  auto by_axis = [&](std::size_t vi) {
    const ValueState& v = values[vi];
    std::vector<std::int32_t> p(static_cast<std::size_t>(v.numel), 0);
    std::int64_t inner = 0;
    if (v.shape.size() >= 2 && v.shape[0] == 1 && v.shape[1] == T) {
      inner = v.numel / T;
    } else if (!v.shape.empty() && v.shape[0] == T) {
      inner = v.numel / T;
    }
    if (inner > 0)
      for (std::int64_t i = 0; i < v.numel; ++i) p[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i / inner) % T);
    return p;
  };
  for (ValueId in : g.inputs()) fwd[in.index] = by_axis(in.index);

  // Forward: the latest position each element depends on.
  for (const Unit& u : units) {
    const auto out = static_cast<std::size_t>(u.out);
    const std::int64_t numel = values[out].numel;
    std::vector<std::int32_t>& po = fwd[out];
    if (u.dense) {
      po = by_axis(out);
      continue;
    }
    po.assign(static_cast<std::size_t>(numel), kZero);
    const std::vector<std::int32_t>& p0 = fwd[static_cast<std::size_t>(u.in[0])];
    switch (u.kind) {
      case OpKind::SpikeNeuron:
        if (ann::quantize_level(0.0f, u.act, u.s, u.n_min, u.n_max) != 0 &&
            std::find(p0.begin(), p0.end(), kZero) != p0.end())
          throw UnsupportedError("SNN engine: causal decoding needs level 0 at a zero current (population '" +
                                 g.value(ValueId(static_cast<std::uint32_t>(u.out))).name + "')");
        po = p0;
        break;
      case OpKind::Add: {
        const std::vector<std::int32_t>& p1 = fwd[static_cast<std::size_t>(u.in[1])];
        for (std::size_t i = 0; i < po.size(); ++i) po[i] = later(p0[i], p1[i]);
        break;
      }
      case OpKind::SynapseLinear: {
        const std::int64_t rows = numel / u.n;
        for (std::int64_t r = 0; r < rows; ++r) {
          std::int32_t p = kZero;
          for (std::int64_t k = 0; k < u.k; ++k) p = later(p, p0[static_cast<std::size_t>(r * u.k + k)]);
          if (p == kZero) p = 0;  // the bias alone: live from the start
          std::fill_n(po.begin() + r * u.n, u.n, p);
        }
        break;
      }
      case OpKind::SpikeMatMul: {
        const std::vector<std::int32_t>& p1 = fwd[static_cast<std::size_t>(u.in[1])];
        for (std::int64_t b = 0; b < u.batch; ++b)
          for (std::int64_t i = 0; i < u.m; ++i)
            for (std::int64_t j = 0; j < u.n; ++j) {
              std::int32_t p = kZero;
              for (std::int64_t k = 0; k < u.k; ++k) {
                const std::int32_t a = p0[static_cast<std::size_t>((b * u.m + i) * u.k + k)];
                const std::int32_t c = p1[static_cast<std::size_t>((b * u.k + k) * u.n + j)];
                if (a != kZero && c != kZero) p = later(p, std::max(a, c));
              }
              po[static_cast<std::size_t>((b * u.m + i) * u.n + j)] = p;
            }
        break;
      }
      case OpKind::DiffUnit: {
        const std::int64_t rows = numel / u.cols;
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t valid = u.causal ? ann::causal_valid_cols(r, u.causal_m, u.cols) : u.cols;
          std::int32_t p = kZero;
          for (std::int64_t j = 0; j < valid; ++j) p = later(p, p0[static_cast<std::size_t>(r * u.cols + j)]);
          if (p == kZero) p = 0;
          for (std::int64_t j = 0; j < u.cols; ++j)
            po[static_cast<std::size_t>(r * u.cols + j)] = j < valid ? p : kZero;
        }
        break;
      }
      default:  // data movement
        if (!u.dest.empty()) {
          for (std::size_t k = 0; k < u.dest.size(); ++k) {
            const std::vector<std::int32_t>& pk = fwd[static_cast<std::size_t>(u.in[k])];
            for (std::size_t i = 0; i < u.dest[k].size(); ++i) po[static_cast<std::size_t>(u.dest[k][i])] = pk[i];
          }
        } else if (u.fan_begin.empty()) {
          po = p0;
        } else {
          for (std::size_t i = 0; i + 1 < u.fan_begin.size(); ++i)
            for (std::int64_t f = u.fan_begin[i]; f < u.fan_begin[i + 1]; ++f)
              po[static_cast<std::size_t>(u.fan[static_cast<std::size_t>(f)])] = p0[i];
        }
        break;
    }
  }

  // Backward: which elements a graph output depends on.
  std::vector<std::vector<std::uint8_t>> need(nv);
  for (std::size_t v = 0; v < nv; ++v) need[v].assign(static_cast<std::size_t>(values[v].numel), 0);
  for (ValueId o : g.outputs()) std::fill(need[o.index].begin(), need[o.index].end(), 1);
  for (auto it = units.rbegin(); it != units.rend(); ++it) {
    const Unit& u = *it;
    if (u.dense) continue;
    const std::vector<std::uint8_t>& no = need[static_cast<std::size_t>(u.out)];
    std::vector<std::uint8_t>& n0 = need[static_cast<std::size_t>(u.in[0])];
    switch (u.kind) {
      case OpKind::SpikeNeuron:
        for (std::size_t i = 0; i < no.size(); ++i) n0[i] |= no[i];
        break;
      case OpKind::Add: {
        std::vector<std::uint8_t>& n1 = need[static_cast<std::size_t>(u.in[1])];
        for (std::size_t i = 0; i < no.size(); ++i) {
          n0[i] |= no[i];
          n1[i] |= no[i];
        }
        break;
      }
      case OpKind::SynapseLinear: {
        const std::int64_t rows = static_cast<std::int64_t>(no.size()) / u.n;
        for (std::int64_t r = 0; r < rows; ++r)
          if (std::any_of(no.begin() + r * u.n, no.begin() + (r + 1) * u.n, [](std::uint8_t x) { return x != 0; }))
            std::fill_n(n0.begin() + r * u.k, u.k, std::uint8_t{1});
        break;
      }
      case OpKind::SpikeMatMul: {
        std::vector<std::uint8_t>& n1 = need[static_cast<std::size_t>(u.in[1])];
        for (std::int64_t b = 0; b < u.batch; ++b)
          for (std::int64_t i = 0; i < u.m; ++i)
            for (std::int64_t j = 0; j < u.n; ++j) {
              if (!no[static_cast<std::size_t>((b * u.m + i) * u.n + j)]) continue;
              std::fill_n(n0.begin() + (b * u.m + i) * u.k, u.k, std::uint8_t{1});  // A row i
              for (std::int64_t k = 0; k < u.k; ++k) n1[static_cast<std::size_t>((b * u.k + k) * u.n + j)] = 1;
            }
        break;
      }
      case OpKind::DiffUnit: {
        const std::int64_t rows = static_cast<std::int64_t>(no.size()) / u.cols;
        for (std::int64_t r = 0; r < rows; ++r) {
          if (!std::any_of(no.begin() + r * u.cols, no.begin() + (r + 1) * u.cols, [](std::uint8_t x) { return x != 0; }))
            continue;
          const std::int64_t valid = u.causal ? ann::causal_valid_cols(r, u.causal_m, u.cols) : u.cols;
          std::fill_n(n0.begin() + r * u.cols, valid, std::uint8_t{1});
        }
        break;
      }
      default:
        if (!is_movement(u)) break;
        if (!u.dest.empty()) {
          for (std::size_t k = 0; k < u.dest.size(); ++k) {
            std::vector<std::uint8_t>& nk = need[static_cast<std::size_t>(u.in[k])];
            for (std::size_t i = 0; i < u.dest[k].size(); ++i) nk[i] |= no[static_cast<std::size_t>(u.dest[k][i])];
          }
        } else if (u.fan_begin.empty()) {
          for (std::size_t i = 0; i < no.size(); ++i) n0[i] |= no[i];
        } else {
          for (std::size_t i = 0; i + 1 < u.fan_begin.size(); ++i)
            for (std::int64_t f = u.fan_begin[i]; f < u.fan_begin[i + 1]; ++f)
              n0[i] |= no[static_cast<std::size_t>(u.fan[static_cast<std::size_t>(f)])];
        }
        break;
    }
  }

  // Final positions; currents (what neurons read and step 1 marks) get their elements bucketed by position.
  std::vector<std::uint8_t> keep_fwd(nv, 0);
  for (ValueId in : g.inputs()) keep_fwd[in.index] = 1;
  for (const Unit& u : units)
    if (u.dense) keep_fwd[static_cast<std::size_t>(u.out)] = 1;
  for (std::size_t v = 0; v < nv; ++v) {
    ValueState& s = values[v];
    if (fwd[v].empty()) continue;  // a constant, or not simulated
    s.pos = std::move(fwd[v]);
    if (!keep_fwd[v])
      for (std::size_t i = 0; i < s.pos.size(); ++i)
        if (!need[v][i]) s.pos[i] = kNever;
    if (s.spiking) continue;
    s.pos_begin.assign(static_cast<std::size_t>(T) + 1, 0);
    for (std::int32_t p : s.pos)
      if (p != kNever) ++s.pos_begin[static_cast<std::size_t>(std::min<std::int64_t>(p, T - 1)) + 1];
    for (std::size_t p = 1; p < s.pos_begin.size(); ++p) s.pos_begin[p] += s.pos_begin[p - 1];
    s.by_pos.assign(static_cast<std::size_t>(s.pos_begin.back()), 0);
    std::vector<std::int64_t> fill(s.pos_begin.begin(), s.pos_begin.end() - 1);
    for (std::size_t i = 0; i < s.pos.size(); ++i)
      if (s.pos[i] != kNever)
        s.by_pos[static_cast<std::size_t>(fill[static_cast<std::size_t>(std::min<std::int64_t>(s.pos[i], T - 1))]++)] =
            static_cast<std::int32_t>(i);
  }
  seq_len = T;
  causal_layout = true;
}

void Engine::Impl::set_live(std::int64_t lo, std::int64_t hi) {
  fresh_lo = lo;
  fresh_hi = hi;
  live_len = hi;
  for (ValueState& v : values) v.live_end = hi;
}

void Engine::Impl::mark_fresh(ValueState& v) {
  if (!incremental || v.pos.empty()) {
    v.mark_range(0, v.numel);  // mark() skips elements that are not live
    return;
  }
  const std::int64_t b = v.pos_begin[static_cast<std::size_t>(fresh_lo)];
  const std::int64_t e = v.pos_begin[static_cast<std::size_t>(fresh_hi)];
  for (std::int64_t x = b; x < e; ++x) v.mark(v.by_pos[static_cast<std::size_t>(x)]);
}

std::int64_t Engine::Impl::fresh_count(const ValueState& v) const {
  if (v.pos_begin.empty()) return v.numel;
  return v.pos_begin[static_cast<std::size_t>(fresh_hi)] - v.pos_begin[static_cast<std::size_t>(fresh_lo)];
}

// Simulates the positions set_live made live; on failure the engine forgets its positions (a new prefill
// is needed), on success they stay for the next extend.
RunResult Engine::Impl::simulate_incremental(Ledger* ledger, const StepObserver* observer) {
  RunResult r;
  try {
    r = simulate(ledger, observer);
  } catch (...) {
    unbind_inputs();
    incremental = false;
    live_len = 0;
    throw;
  }
  unbind_inputs();
  incremental = false;
  return r;
}

RunResult Engine::Impl::prefill(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger,
                                const StepObserver* observer) {
  if (!causal_layout) build_causal_layout();
  if (length < 1 || length > seq_len)
    throw UsageError("SNN engine: prefill length must be in [1, " + std::to_string(seq_len) + "], got " +
                     std::to_string(length));
  bind_inputs(inputs);
  reset();
  incremental = true;
  set_live(0, length);
  return simulate_incremental(ledger, observer);
}

RunResult Engine::Impl::extend(std::span<const Tensor> inputs, std::int64_t length, Ledger* ledger,
                               const StepObserver* observer) {
  if (live_len < 1) throw UsageError("SNN engine: extend() needs a prefill() first");
  if (length <= live_len || length > seq_len)
    throw UsageError("SNN engine: extend length must be in [" + std::to_string(live_len + 1) + ", " +
                     std::to_string(seq_len) + "], got " + std::to_string(length));
  bind_inputs(inputs);
  incremental = true;
  set_live(live_len, length);
  return simulate_incremental(ledger, observer);
}

// Between calls no events, marks or row flags are pending, so this is the whole state.
void Engine::Impl::checkpoint() {
  if (!saved) saved = std::make_unique<Saved>();
  Saved& s = *saved;
  s.live_len = live_len;
  s.count.resize(values.size());
  for (std::size_t v = 0; v < values.size(); ++v) s.count[v] = values[v].count;
  const std::size_t n = units.size();
  s.acc.resize(n);
  s.a.resize(n);
  s.b.resize(n);
  s.target.resize(n);
  s.active.resize(n);
  s.active_flag.resize(n);
  s.y.resize(n);
  s.dense_out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Unit& u = units[i];
    s.acc[i] = u.acc;
    s.a[i] = u.a;
    s.b[i] = u.b;
    s.target[i] = u.target;
    s.active[i] = u.active;
    s.active_flag[i] = u.active_flag;
    s.y[i] = u.y;
    s.dense_out[i] = u.dense_out;
  }
}

void Engine::Impl::rollback() {
  if (!saved) throw UsageError("SNN engine: rollback() without a checkpoint()");
  const Saved& s = *saved;
  live_len = s.live_len;
  for (std::size_t v = 0; v < values.size(); ++v) {
    values[v].count = s.count[v];
    values[v].live_end = live_len;
  }
  for (std::size_t i = 0; i < units.size(); ++i) {
    Unit& u = units[i];
    u.acc = s.acc[i];
    u.a = s.a[i];
    u.b = s.b[i];
    u.target = s.target[i];
    u.active = s.active[i];
    u.active_flag = s.active_flag[i];
    u.y = s.y[i];
    u.dense_out = s.dense_out[i];
  }
}

}  // namespace snnconv::legacy_snn
