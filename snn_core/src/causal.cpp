// Causal decoding's position layout (docs/spiking.md, "Generation on the SNN"): at which sequence position
// every element of every value becomes live.
//
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

#include "snnconv/ann_baseline/qann.hpp"
#include "units.hpp"

namespace snnconv::snn {
namespace {

constexpr std::int32_t kZero = kNever;  // forward pass: a constant zero (never fires, never needs evaluation)

std::int32_t later(std::int32_t a, std::int32_t b) {
  if (a == kZero) return b;
  if (b == kZero) return a;
  return std::max(a, b);
}

}  // namespace

void build_causal_layout(Plan& plan) {
  const Graph& g = *plan.graph;
  if (g.inputs().empty()) throw UnsupportedError("SNN engine: causal decoding needs a graph input");
  const Shape& s0 = plan.values[g.inputs()[0].index].shape;
  if (s0.size() < 2 || s0[0] != 1 || s0[1] < 1)
    throw UnsupportedError("SNN engine: causal decoding needs a batch-1 input [1, T, ...] carrying the sequence on "
                           "axis 1; input '" +
                           g.value(g.inputs()[0]).name + "' is " + shape_to_string(s0));
  const std::int64_t T = s0[1];
  if (T >= kNever) throw UnsupportedError("SNN engine: sequence too long for causal decoding");
  const std::size_t nv = plan.values.size();
  std::vector<std::vector<std::int32_t>> fwd(nv);
  auto by_axis = [&](std::size_t vi) {
    const ValueInfo& v = plan.values[vi];
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
  for (const Unit& u : plan.units) {
    const auto out = static_cast<std::size_t>(u.out);
    const std::int64_t numel = plan.values[out].numel;
    std::vector<std::int32_t>& po = fwd[out];
    const auto slot = static_cast<std::size_t>(u.slot);
    if (u.kind == UnitKind::prologue) {
      po = by_axis(out);
      continue;
    }
    po.assign(static_cast<std::size_t>(numel), kZero);
    switch (u.kind) {
      case UnitKind::neuron: {
        const NeuronParams& p = plan.neurons[slot];
        const std::vector<std::int32_t>& p0 = fwd[static_cast<std::size_t>(p.in)];
        if (ann::quantize_level(0.0f, p.act, p.s, p.n_min, p.n_max) != 0 &&
            std::find(p0.begin(), p0.end(), kZero) != p0.end())
          throw UnsupportedError("SNN engine: causal decoding needs level 0 at a zero current (population '" +
                                 g.value(ValueId(static_cast<std::uint32_t>(u.out))).name + "')");
        po = p0;
        break;
      }
      case UnitKind::add: {
        const AddParams& p = plan.adds[slot];
        const std::vector<std::int32_t>& p0 = fwd[static_cast<std::size_t>(p.a)];
        const std::vector<std::int32_t>& p1 = fwd[static_cast<std::size_t>(p.b)];
        for (std::size_t i = 0; i < po.size(); ++i) po[i] = later(p0[i], p1[i]);
        break;
      }
      case UnitKind::synapse: {
        const SynapseParams& p = plan.synapses[slot];
        const std::vector<std::int32_t>& p0 = fwd[static_cast<std::size_t>(p.in)];
        for (std::int64_t r = 0; r < p.rows; ++r) {
          std::int32_t q = kZero;
          for (std::int64_t k = 0; k < p.k; ++k) q = later(q, p0[static_cast<std::size_t>(r * p.k + k)]);
          if (q == kZero) q = 0;  // the bias alone: live from the start
          std::fill_n(po.begin() + r * p.n, p.n, q);
        }
        break;
      }
      case UnitKind::product: {
        const ProductParams& p = plan.products[slot];
        const std::vector<std::int32_t>& pa = fwd[static_cast<std::size_t>(p.a)];
        const std::vector<std::int32_t>& pb = fwd[static_cast<std::size_t>(p.b)];
        for (std::int64_t b = 0; b < p.batch; ++b)
          for (std::int64_t i = 0; i < p.m; ++i)
            for (std::int64_t j = 0; j < p.n; ++j) {
              std::int32_t q = kZero;
              for (std::int64_t k = 0; k < p.k; ++k) {
                const std::int32_t a = pa[static_cast<std::size_t>((b * p.m + i) * p.k + k)];
                const std::int32_t c = pb[static_cast<std::size_t>((b * p.k + k) * p.n + j)];
                if (a != kZero && c != kZero) q = later(q, std::max(a, c));
              }
              po[static_cast<std::size_t>((b * p.m + i) * p.n + j)] = q;
            }
        break;
      }
      case UnitKind::diff: {
        const DiffParams& p = plan.diffs[slot];
        const std::vector<std::int32_t>& p0 = fwd[static_cast<std::size_t>(p.in)];
        for (std::int64_t r = 0; r < p.rows; ++r) {
          const std::int64_t valid = p.causal ? ann::causal_valid_cols(r, p.causal_m, p.cols) : p.cols;
          std::int32_t q = kZero;
          for (std::int64_t j = 0; j < valid; ++j) q = later(q, p0[static_cast<std::size_t>(r * p.cols + j)]);
          if (q == kZero) q = 0;
          for (std::int64_t j = 0; j < p.cols; ++j) po[static_cast<std::size_t>(r * p.cols + j)] = j < valid ? q : kZero;
        }
        break;
      }
      case UnitKind::concat: {
        const ConcatParams& p = plan.concats[slot];
        for (std::size_t k = 0; k < p.dest.size(); ++k) {
          const std::vector<std::int32_t>& pk = fwd[static_cast<std::size_t>(p.ins[k])];
          for (std::size_t i = 0; i < p.dest[k].size(); ++i) po[static_cast<std::size_t>(p.dest[k][i])] = pk[i];
        }
        break;
      }
      case UnitKind::movement: {
        const MovementParams& p = plan.movements[slot];
        const std::vector<std::int32_t>& p0 = fwd[static_cast<std::size_t>(p.in)];
        if (p.same_order) {
          po = p0;
        } else {
          for (std::size_t i = 0; i + 1 < p.fan_begin.size(); ++i)
            for (std::int64_t f = p.fan_begin[i]; f < p.fan_begin[i + 1]; ++f)
              po[static_cast<std::size_t>(p.fan[static_cast<std::size_t>(f)])] = p0[i];
        }
        break;
      }
      case UnitKind::prologue:
        break;
    }
  }

  // Backward: which elements a graph output depends on.
  std::vector<std::vector<std::uint8_t>> need(nv);
  for (std::size_t v = 0; v < nv; ++v) need[v].assign(static_cast<std::size_t>(plan.values[v].numel), 0);
  for (ValueId o : g.outputs()) std::fill(need[o.index].begin(), need[o.index].end(), 1);
  for (auto it = plan.units.rbegin(); it != plan.units.rend(); ++it) {
    const Unit& u = *it;
    const auto slot = static_cast<std::size_t>(u.slot);
    const std::vector<std::uint8_t>& no = need[static_cast<std::size_t>(u.out)];
    switch (u.kind) {
      case UnitKind::prologue:
        break;
      case UnitKind::neuron: {
        std::vector<std::uint8_t>& n0 = need[static_cast<std::size_t>(plan.neurons[slot].in)];
        for (std::size_t i = 0; i < no.size(); ++i) n0[i] |= no[i];
        break;
      }
      case UnitKind::add: {
        const AddParams& p = plan.adds[slot];
        std::vector<std::uint8_t>& n0 = need[static_cast<std::size_t>(p.a)];
        std::vector<std::uint8_t>& n1 = need[static_cast<std::size_t>(p.b)];
        for (std::size_t i = 0; i < no.size(); ++i) {
          n0[i] |= no[i];
          n1[i] |= no[i];
        }
        break;
      }
      case UnitKind::synapse: {
        const SynapseParams& p = plan.synapses[slot];
        std::vector<std::uint8_t>& n0 = need[static_cast<std::size_t>(p.in)];
        for (std::int64_t r = 0; r < p.rows; ++r)
          if (std::any_of(no.begin() + r * p.n, no.begin() + (r + 1) * p.n, [](std::uint8_t x) { return x != 0; }))
            std::fill_n(n0.begin() + r * p.k, p.k, std::uint8_t{1});
        break;
      }
      case UnitKind::product: {
        const ProductParams& p = plan.products[slot];
        std::vector<std::uint8_t>& n0 = need[static_cast<std::size_t>(p.a)];
        std::vector<std::uint8_t>& n1 = need[static_cast<std::size_t>(p.b)];
        for (std::int64_t b = 0; b < p.batch; ++b)
          for (std::int64_t i = 0; i < p.m; ++i)
            for (std::int64_t j = 0; j < p.n; ++j) {
              if (!no[static_cast<std::size_t>((b * p.m + i) * p.n + j)]) continue;
              std::fill_n(n0.begin() + (b * p.m + i) * p.k, p.k, std::uint8_t{1});  // A row i
              for (std::int64_t k = 0; k < p.k; ++k) n1[static_cast<std::size_t>((b * p.k + k) * p.n + j)] = 1;
            }
        break;
      }
      case UnitKind::diff: {
        const DiffParams& p = plan.diffs[slot];
        std::vector<std::uint8_t>& n0 = need[static_cast<std::size_t>(p.in)];
        for (std::int64_t r = 0; r < p.rows; ++r) {
          if (!std::any_of(no.begin() + r * p.cols, no.begin() + (r + 1) * p.cols, [](std::uint8_t x) { return x != 0; }))
            continue;
          const std::int64_t valid = p.causal ? ann::causal_valid_cols(r, p.causal_m, p.cols) : p.cols;
          std::fill_n(n0.begin() + r * p.cols, valid, std::uint8_t{1});
        }
        break;
      }
      case UnitKind::concat: {
        const ConcatParams& p = plan.concats[slot];
        for (std::size_t k = 0; k < p.dest.size(); ++k) {
          std::vector<std::uint8_t>& nk = need[static_cast<std::size_t>(p.ins[k])];
          for (std::size_t i = 0; i < p.dest[k].size(); ++i) nk[i] |= no[static_cast<std::size_t>(p.dest[k][i])];
        }
        break;
      }
      case UnitKind::movement: {
        const MovementParams& p = plan.movements[slot];
        std::vector<std::uint8_t>& n0 = need[static_cast<std::size_t>(p.in)];
        if (p.same_order) {
          for (std::size_t i = 0; i < no.size(); ++i) n0[i] |= no[i];
        } else {
          for (std::size_t i = 0; i + 1 < p.fan_begin.size(); ++i)
            for (std::int64_t f = p.fan_begin[i]; f < p.fan_begin[i + 1]; ++f)
              n0[i] |= no[static_cast<std::size_t>(p.fan[static_cast<std::size_t>(f)])];
        }
        break;
      }
    }
  }

  // Final positions; currents (what neurons read and step 1 marks) get their elements bucketed by position.
  std::vector<std::uint8_t> keep_fwd(nv, 0);
  for (ValueId in : g.inputs()) keep_fwd[in.index] = 1;
  for (const Unit& u : plan.units)
    if (u.kind == UnitKind::prologue) keep_fwd[static_cast<std::size_t>(u.out)] = 1;
  for (std::size_t v = 0; v < nv; ++v) {
    ValueInfo& s = plan.values[v];
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
  plan.seq_len = T;
  plan.causal_layout = true;
}

}  // namespace snnconv::snn
