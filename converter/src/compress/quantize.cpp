// Calibration and quantization of a QANN skeleton (quantize.hpp, docs/compression.md).
#include <algorithm>
#include <cmath>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <limits>
#include <optional>
#include <set>

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/cpu_features.hpp"
#include "snnconv/core/verifier.hpp"
#include "quantize_detail.hpp"

namespace snnconv {

std::string_view clip_method_name(ClipMethod m) {
  switch (m) {
    case ClipMethod::minmax: return "minmax";
    case ClipMethod::percentile: return "percentile";
    case ClipMethod::mse: return "mse";
  }
  return "?";
}

ClipMethod parse_clip_method(std::string_view name) {
  if (name == "minmax") return ClipMethod::minmax;
  if (name == "percentile") return ClipMethod::percentile;
  if (name == "mse") return ClipMethod::mse;
  throw UsageError("unknown clip method '" + std::string(name) + "' (choose minmax, percentile or mse)");
}

void check_quantize_options(const QuantizeOptions& o) {
  auto check_w = [](int b, const std::string& what) {
    if (b < 2 || b > 8) throw UsageError(what + ": weight bits must be in 2..8, got " + std::to_string(b));
  };
  auto check_a = [](int b, const std::string& what) {
    if (b < 2 || b > 16) throw UsageError(what + ": activation bits must be in 2..16, got " + std::to_string(b));
  };
  check_w(o.weight_bits, "quantization");
  check_a(o.act_bits, "quantization");
  for (const auto& [k, b] : o.weight_bits_of) check_w(b, "Linear '" + k + "'");
  for (const auto& [k, b] : o.act_bits_of) check_a(b, "quantization point '" + k + "'");
  if (!(o.percentile > 0.0 && o.percentile <= 100.0))
    throw UsageError("percentile must be in (0, 100], got " + std::to_string(o.percentile));
  if (o.max_values < 16) throw UsageError("max_values must be >= 16");
  if (o.weight_group < 0)
    throw UsageError("--weight-group must be >= 1 (0: per output channel), got " + std::to_string(o.weight_group));
  for (const auto& [k, gs] : o.weight_group_of)
    if (gs < 0) throw UsageError("Linear '" + k + "': weight group must be >= 0, got " + std::to_string(gs));
  if (o.threads < 0)
    throw UsageError("calibration threads must be >= 0 (0: every core), got " + std::to_string(o.threads));
}

// Sum of squared quantization errors of `values` at step s.
double quant_mse(const std::vector<float>& values, float s, std::int32_t n_min, std::int32_t n_max) {
  const float lo = static_cast<float>(n_min), hi = static_cast<float>(n_max);
  double e = 0.0;
  for (float x : values) {
    const float q = std::clamp(std::floor(x / s + 0.5f), lo, hi);
    const double d = static_cast<double>(x) - static_cast<double>(q * s);
    e += d * d;
  }
  return e;
}

// quant_mse at 8 steps in one pass over `values`, in AVX2 (the build's baseline, -march=x86-64-v3): lane l does
// exactly quant_mse's IEEE operations for steps[l] in the same order (a float divide, +0.5, floor, the clamp, a float
// product, the double difference, its square, the double sum; the build never contracts to FMA), so every sum is
// bit-identical to quant_mse's. The lanes break quant_mse's single chain of dependent double adds and its scalar
// divides, which is what bounded it (60% of a fashion_vit calibration). The clamp is max-then-min: the same value
// as std::clamp's comparisons, since floor(x / s + 0.5) is never NaN or -0 for the finite values calibration keeps.
static_assert(kMseLanes == 8, "quant_mse_lanes is written for one __m256 of steps");
void quant_mse_lanes(const std::vector<float>& values, const float (&steps)[kMseLanes], std::int32_t n_min,
                     std::int32_t n_max, double (&errors)[kMseLanes]) {
#ifdef __AVX2__
  const __m256 s = _mm256_loadu_ps(steps);
  const __m256 lo = _mm256_set1_ps(static_cast<float>(n_min)), hi = _mm256_set1_ps(static_cast<float>(n_max));
  const __m256 half = _mm256_set1_ps(0.5f);
  __m256d e_lo = _mm256_setzero_pd(), e_hi = _mm256_setzero_pd();
  for (float v : values) {
    const __m256 x = _mm256_set1_ps(v);
    const __m256 t = _mm256_floor_ps(_mm256_add_ps(_mm256_div_ps(x, s), half));
    const __m256 qs = _mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(t, lo), hi), s);
    const __m256d xd = _mm256_set1_pd(static_cast<double>(v));
    const __m256d d_lo = _mm256_sub_pd(xd, _mm256_cvtps_pd(_mm256_castps256_ps128(qs)));
    const __m256d d_hi = _mm256_sub_pd(xd, _mm256_cvtps_pd(_mm256_extractf128_ps(qs, 1)));
    e_lo = _mm256_add_pd(e_lo, _mm256_mul_pd(d_lo, d_lo));
    e_hi = _mm256_add_pd(e_hi, _mm256_mul_pd(d_hi, d_hi));
  }
  _mm256_storeu_pd(errors, e_lo);
  _mm256_storeu_pd(errors + 4, e_hi);
#else  // a build below the x86-64-v3 baseline (SNNCONV_ARCH): one step at a time
  for (int l = 0; l < kMseLanes; ++l) errors[l] = quant_mse(values, steps[l], n_min, n_max);
#endif
}


WeightLevels quantize_weight(const Tensor& weight, int bits, std::int64_t group, const std::string& what) {
  if (weight.rank() != 2) throw ShapeError(what + ": weight must be [K, N], got " + shape_to_string(weight.shape()));
  if (bits < 2 || bits > 8) throw UsageError(what + ": weight bits must be in 2..8, got " + std::to_string(bits));
  const std::int64_t k = weight.dim(0), nn = weight.dim(1);
  if (group < 0) throw UsageError(what + ": weight group must be >= 1 (0: per channel), got " + std::to_string(group));
  if (group > 0 && (k % group != 0))
    throw UsageError(what + ": weight group " + std::to_string(group) + " does not divide its K = " + std::to_string(k));
  const std::int64_t rows = group == 0 ? k : group, groups = k / rows;
  WeightLevels r;
  r.levels = weight.to_f32();
  std::vector<float>& w = r.levels;
  const std::int32_t qmax = (1 << (bits - 1)) - 1;
  QuantParams& qp = r.quant;
  qp.bits = bits;
  qp.n_min = -qmax;
  qp.n_max = qmax;
  if (groups == 1) {
    qp.axis = 1;
  } else {
    qp.axis = 0;
    qp.group_size = static_cast<int>(rows);
  }
  qp.scale.assign(static_cast<std::size_t>(groups * nn), 1.0f);
  for (std::int64_t g = 0; g < groups; ++g) {
    const std::int64_t r0 = g * rows, r1 = r0 + rows;
    for (std::int64_t j = 0; j < nn; ++j) {
      float a = 0.0f;
      for (std::int64_t i = r0; i < r1; ++i) a = std::max(a, std::abs(w[static_cast<std::size_t>(i * nn + j)]));
      const float s = a > 0.0f ? a / static_cast<float>(qmax) : 1.0f;
      qp.scale[static_cast<std::size_t>(g * nn + j)] = s;
      for (std::int64_t i = r0; i < r1; ++i) {
        float& x = w[static_cast<std::size_t>(i * nn + j)];
        x = std::clamp(std::round(x / s), static_cast<float>(-qmax), static_cast<float>(qmax));
      }
    }
  }
  return r;
}

std::int64_t weight_step_bytes(const QuantParams& qp) {
  return static_cast<std::int64_t>(qp.scale.size()) * 4;
}

QuantParams activation_params(const QuantPoint& p, const PointStats& st, int bits, const QuantizeOptions& o) {
  QuantParams qp;
  qp.bits = bits;
  const bool is_unsigned = p.probabilities || st.min >= 0.0f;
  qp.n_min = is_unsigned ? 0 : -(1 << (bits - 1));
  qp.n_max = is_unsigned ? (1 << bits) - 1 : (1 << (bits - 1)) - 1;
  qp.scale = {choose_step(st, qp.n_min, qp.n_max, o)};
  qp.axis = -1;
  return qp;
}

float choose_step(const PointStats& st, std::int32_t n_min, std::int32_t n_max, const QuantizeOptions& o) {
  const float range = n_min < 0 ? std::max(-st.min, st.max) : std::max(st.max, 0.0f);
  if (!(range > 0.0f) || n_max <= 0) return 1.0f;
  switch (o.clip) {
    case ClipMethod::minmax:
      return range / static_cast<float>(n_max);
    case ClipMethod::percentile: {
      std::vector<float> a;
      a.reserve(st.values.size());
      for (float x : st.values) a.push_back(std::abs(x));
      if (a.empty()) return range / static_cast<float>(n_max);
      const auto k = static_cast<std::size_t>(
          std::clamp(std::ceil(o.percentile / 100.0 * static_cast<double>(a.size())) - 1.0, 0.0,
                     static_cast<double>(a.size() - 1)));
      std::nth_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(k), a.end());
      const float c = a[k] > 0.0f ? a[k] : range;
      return c / static_cast<float>(n_max);
    }
    case ClipMethod::mse: {
      // Clip candidates from 5% to 100% of the range; the smallest error wins, ties to the wider clip.
      // The errors of all candidates come from quant_mse_lanes (bit-identical to quant_mse, test_quantize_mse);
      // the choice below walks them in the order the one-at-a-time search did.
      constexpr int kCandidates = 96;
      std::vector<float> steps;  // steps[0]: the whole range; then candidates i = kCandidates-1 .. 0
      steps.push_back(range / static_cast<float>(n_max));
      for (int i = kCandidates - 1; i >= 0; --i) {
        const float c = range * (0.05f + 0.95f * static_cast<float>(i) / static_cast<float>(kCandidates));
        steps.push_back(c / static_cast<float>(n_max));
      }
      std::vector<double> errors(steps.size());
      // One pass over the values per 16 steps with AVX-512, per 8 without: the same sums either way.
      auto passes = [&]<int W>(auto lanes) {
        for (std::size_t b = 0; b < steps.size(); b += W) {
          float lane_steps[W];
          double lane_errors[W];
          for (int l = 0; l < W; ++l) lane_steps[l] = steps[std::min(b + l, steps.size() - 1)];
          lanes(st.values, lane_steps, n_min, n_max, lane_errors);
          for (int l = 0; l < W && b + l < steps.size(); ++l) errors[b + l] = lane_errors[l];
        }
      };
      if (active_isa() >= Isa::avx512) passes.operator()<kMseLanesWide>(quant_mse_lanes16);
      else passes.operator()<kMseLanes>(quant_mse_lanes);
      float best = steps[0];
      double best_err = errors[0];
      for (std::size_t k = 1; k < steps.size(); ++k) {
        if (errors[k] < best_err) {
          best_err = errors[k];
          best = steps[k];
        }
      }
      return best;
    }
  }
  return range / static_cast<float>(n_max);
}

// The levels of a weight whose values are a QDQ file's dequantized levels (fuse.hpp, "qdq"): W / s per output
// channel (axis 1 of [K, N]) or per tensor, which must give integers inside the file's level range.
WeightLevels file_weight_levels(const Value& wv, const std::string& what) {
  const QuantParams& fq = *wv.quant;
  const std::int64_t k = wv.constant->dim(0), n = wv.constant->dim(1);
  if (!(fq.axis == 1 && static_cast<std::int64_t>(fq.scale.size()) == n) && fq.scale.size() != 1)
    throw UnsupportedError("quantization: " + what + " has file steps along axis " + std::to_string(fq.axis) +
                           "; only per output channel or per tensor steps have a synaptic form");
  const std::vector<float> w = wv.constant->to_f32();
  WeightLevels r;
  r.levels.resize(w.size());
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const float s = fq.scale.size() == 1 ? fq.scale[0] : fq.scale[static_cast<std::size_t>(j)];
      const auto at = static_cast<std::size_t>(i * n + j);
      const float q = std::nearbyint(w[at] / s);
      if (q < static_cast<float>(fq.n_min) || q > static_cast<float>(fq.n_max))
        throw NumericError("quantization: " + what + ": a file weight level " + std::to_string(q) + " is outside [" +
                           std::to_string(fq.n_min) + ", " + std::to_string(fq.n_max) + "]");
      r.levels[at] = q;
    }
  r.quant = fq;
  r.quant.axis = fq.scale.size() == 1 ? -1 : 1;
  return r;
}

namespace {

// The per-unit maps name Linears and points of this skeleton (UsageError otherwise).
void check_unit_names(const QannSkeleton& sk, const QuantizeOptions& o) {
  check_quantize_options(o);
  std::set<std::string> linears(sk.linears.begin(), sk.linears.end());
  for (const auto& [name, b] : o.weight_bits_of)
    if (!linears.count(name)) throw UsageError("--weight-bits for '" + name + "': the model has no Linear of that name");
  for (const auto& [name, gs] : o.weight_group_of)
    if (!linears.count(name)) throw UsageError("weight group for '" + name + "': the model has no Linear of that name");
  std::set<std::string> points;
  for (const QuantPoint& p : sk.points) points.insert(p.name);
  for (const auto& [name, b] : o.act_bits_of)
    if (!points.count(name)) throw UsageError("activation bits for '" + name + "': no quantization point of that name");
}

}  // namespace

ActivationSteps choose_activation_steps(const QannSkeleton& sk, const Calibration& cal, const QuantizeOptions& o,
                                        const std::vector<bool>* only) {
  check_unit_names(sk, o);
  // Tied points (the operands of one Concat): one step from their joint statistics.
  std::map<int, PointStats> tied;
  for (const QuantPoint& p : sk.points) {
    if (p.tie < 0) continue;
    const auto it = cal.points.find(p.name);
    if (it == cal.points.end()) continue;
    auto [t, fresh] = tied.try_emplace(p.tie, it->second);
    if (fresh) continue;
    t->second.min = std::min(t->second.min, it->second.min);
    t->second.max = std::max(t->second.max, it->second.max);
    t->second.values.insert(t->second.values.end(), it->second.values.begin(), it->second.values.end());
    t->second.seen += it->second.seen;
  }
  std::vector<const PointStats*> stats(sk.points.size());
  if (only && only->size() != sk.points.size()) throw Error("choose_activation_steps: the selection does not match the points");
  for (std::size_t i = 0; i < sk.points.size(); ++i) {
    if (only && !(*only)[i]) continue;
    const QuantPoint& p = sk.points[i];
    const auto it = cal.points.find(p.name);
    if (it == cal.points.end() || it->second.seen == 0)
      throw UsageError("quantization point '" + p.name + "' has no calibration statistics");
    stats[i] = p.tie >= 0 ? &tied.at(p.tie) : &it->second;
  }
  // Each point's search reads only its own statistics: the points run side by side, each result in its slot.
  std::vector<QuantParams> params(sk.points.size());
  tbb::task_arena arena(o.threads > 0 ? o.threads : tbb::task_arena::automatic);
  arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, sk.points.size(), [&](std::size_t i) {
      if (!stats[i]) return;  // not selected
      const QuantPoint& p = sk.points[i];
      const int bits = o.act_bits_of.count(p.name) ? o.act_bits_of.at(p.name) : o.act_bits;
      params[i] = activation_params(p, *stats[i], bits, o);
    });
  });
  ActivationSteps steps;
  for (std::size_t i = 0; i < sk.points.size(); ++i)
    if (stats[i]) steps[sk.points[i].name] = std::move(params[i]);
  return steps;
}

Graph quantize_skeleton(const QannSkeleton& sk, const Calibration& cal, const QuantizeOptions& o) {
  return quantize_skeleton(sk, choose_activation_steps(sk, cal, o), o);
}

Graph quantize_skeleton(const QannSkeleton& sk, const ActivationSteps& steps, const QuantizeOptions& o) {
  check_unit_names(sk, o);
  Graph g = sk.graph;
  std::set<std::string> linears(sk.linears.begin(), sk.linears.end());
  for (const QuantPoint& p : sk.points) {
    const auto it = steps.find(p.name);
    if (it == steps.end()) throw UsageError("quantization point '" + p.name + "' has no step");
    g.value(g.find_value(p.name)).quant = it->second;
  }

  // Moved levels (Reshape/Transpose/Gather of a point's output) carry the step of the point they move.
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    if (!ann::is_data_movement(n.kind) && n.kind != OpKind::Concat) continue;
    const Value& src = g.value(n.inputs[0]);
    if (src.quant && !src.constant) g.value(n.outputs[0]).quant = src.quant;
  }

  for (std::uint32_t i = 0; i < g.num_nodes(); ++i) {
    Node& n = g.node(NodeId(i));
    // A Linear of the dense prologue (an input embedding on the graph inputs, not in sk.linears) keeps its
    // real weights: it runs once, densely, before the first neurons.
    if (n.kind != OpKind::Linear || !linears.count(n.name)) continue;
    const int bits = o.weight_bits_of.count(n.name) ? o.weight_bits_of.at(n.name) : o.weight_bits;
    const Value& wv = g.value(n.inputs[1]);
    if (!wv.constant || wv.constant->rank() != 2)
      throw UnsupportedError("quantization: Linear weight must be a constant [K, N]", g.context(NodeId(i)));
    const std::int64_t k = wv.constant->dim(0), nn = wv.constant->dim(1);
    const auto git = o.weight_group_of.find(n.name);
    const std::int64_t group = git != o.weight_group_of.end() ? git->second : o.weight_group;
    if (wv.quant && !o.weight_bits_of.count(n.name)) {  // a QDQ file's weight: its own steps and levels
      WeightLevels q = file_weight_levels(wv, "Linear '" + n.name + "'");
      const ValueId nw = g.add_constant(wv.name + ".levels", Tensor::from_vector<float>({k, nn}, std::move(q.levels)));
      g.value(nw).quant = q.quant;
      n.inputs[1] = nw;
      continue;
    }
    WeightLevels q = quantize_weight(*wv.constant, bits, group == k ? 0 : group, "Linear '" + n.name + "'");
    const std::string suffix = ".q" + std::to_string(bits) + (q.quant.group_size > 0 ? "g" + std::to_string(group) : "");
    const ValueId nw = g.add_constant(wv.name + suffix, Tensor::from_vector<float>({k, nn}, std::move(q.levels)));
    g.value(nw).quant = q.quant;
    n.inputs[1] = nw;
  }
  g.remove_dead();
  verify(g, Stage::quantized);
  return g;
}

}  // namespace snnconv
