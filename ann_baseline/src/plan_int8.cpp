// The planner's W8A8 rewrite (plan.hpp, use_int8_linears): a Linear whose input is 8-bit integer levels read as
// floats and whose weight is a constant matrix of 8-bit integer levels runs the int8 GEMM (gemm_int8.hpp) on the
// levels themselves.
//
// The pattern is the one `snnconv export --form integer` writes and our importer fuses (docs/compression.md,
// "Export"): Linear(Cast<f32>(q), W) with q u8/s8 (a QuantizeLinear's output) and W an f32 constant holding
// integers in [-128, 127] (the Cast of the file's int8 levels, folded at import), followed by Mul(., s_in * s_w)
// [n] and Add(., bias) [n]: the QANN's linear_value. The step reads q directly (the Cast step goes when nothing
// else reads its output) and absorbs the Mul and Add as its epilogue, which computes the same two roundings.
//
// Why the result equals the float path's and the QANN's: float(acc) of the exact integer sum is what the f32
// GEMM computes while every partial sum stays below 2^24 (integers are exact in f32 up to there), and what the
// QANN computes (float of its exact int64 accumulator) for any K. The rewrite needs K * max|q| * max|w| < 2^31 so
// that int32 cannot overflow; above it the Linear stays on the f32 path.
#include <cmath>
#include <limits>

#include "plan.hpp"

namespace snnconv::ann {
namespace {

const Tensor* constant_of(const Graph& g, const Plan& plan, const ValueRef& r) {
  if (r.source == Source::constant) return &*g.value(ValueId(r.index)).constant;
  if (r.source == Source::owned) return &plan.owned[r.index];
  return nullptr;
}

// A constant f32 vector of n entries broadcast along the last axis only ([n] or [1, ..., 1, n]).
const float* channel_vector(const Tensor* t, std::int64_t n) {
  if (t == nullptr || t->dtype() != DType::f32 || t->rank() < 1 || t->numel() != n || t->dim(t->rank() - 1) != n)
    return nullptr;
  return t->data<float>();
}

// The weight as int8 levels, or empty when some entry is not an integer in [-128, 127].
std::vector<std::int8_t> integer_levels(const Tensor& w) {
  std::vector<std::int8_t> out(static_cast<std::size_t>(w.numel()));
  const float* p = w.data<float>();
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    const float v = p[i];
    if (!(v >= -128.0f && v <= 127.0f) || std::nearbyint(v) != v) return {};
    out[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(v);
  }
  return out;
}

// The weight of a quantized Linear as int8 levels and one step per output channel: an integer constant with
// QuantParams (levels as stored; the plan also dequantizes it for the f32 path), or an f32 constant of dequantized
// values carrying the file's steps (a QDQ import: levels nearbyint(W / s), as the QANN takes them). Symmetric steps
// per tensor or per output channel only (no zero point, no groups). Empty when the weight is anything else.
struct WeightLevels {
  std::vector<std::int8_t> levels;  // [K][N]
  std::vector<float> step;          // [N]
};
WeightLevels quantized_weight(const Value& v, Stage stage) {
  if (!v.constant || !v.quant || v.constant->rank() != 2) return {};
  const QuantParams& qp = *v.quant;
  const std::int64_t k = v.constant->dim(0), n = v.constant->dim(1);
  if (qp.group_size > 0) return {};
  for (std::int32_t z : qp.zero_point)
    if (z != 0) return {};
  WeightLevels r;
  if (qp.per_tensor()) r.step.assign(static_cast<std::size_t>(n), qp.scale[0]);
  else if (static_cast<std::int64_t>(qp.scale.size()) == n && (qp.axis == 1 || qp.axis == -1)) r.step = qp.scale;
  else return {};
  for (float s : r.step)
    if (!(s > 0.0f) || !std::isfinite(s)) return {};
  const bool dequantized = v.constant->dtype() == DType::f32;
  if (!dequantized && !is_integer(v.constant->dtype())) return {};
  // In a QANN graph (Stage::quantized) an f32 weight holds levels that the f32 path would not scale: leave it.
  if (dequantized && stage == Stage::quantized) return {};
  const std::vector<float> x = v.constant->to_f32();
  r.levels.resize(x.size());
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const std::size_t e = static_cast<std::size_t>(i * n + j);
      // A file's dequantized weight: the QANN's level nearbyint(W / s) (quantize.cpp, file_weight_levels); W must
      // sit on the grid up to the rounding of the dequantization, else it is no level at all.
      const float ratio = dequantized ? x[e] / r.step[static_cast<std::size_t>(j)] : x[e];
      const float level = std::nearbyint(ratio);
      if (!(level >= -128.0f && level <= 127.0f) || std::fabs(ratio - level) > 1e-3f) return {};
      if (!dequantized && level != ratio) return {};
      r.levels[e] = static_cast<std::int8_t>(level);
    }
  return r;
}

}  // namespace

void use_int8_linears(const Graph& g, Plan& plan) {
  if (!kernels::packed_gemm_available()) return;
  std::vector<std::int64_t> producer(g.num_values(), -1), reader(g.num_values(), -1);
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    for (std::uint32_t o : plan.steps[s].outputs) producer[o] = static_cast<std::int64_t>(s);
    for (const ValueRef& r : plan.steps[s].inputs)
      if (r.source == Source::slot) reader[r.index] = static_cast<std::int64_t>(s);
  }
  std::vector<int> reads = count_reads(g, plan);
  std::vector<bool> removed(plan.steps.size(), false);
  std::vector<std::size_t> sources;  // Cast / FakeQuant steps whose readers may all have moved to the int8 path
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    Step& st = plan.steps[s];
    const Node& n = g.node(st.node);
    if (n.kind != OpKind::Linear || st.kernel.fn == nullptr || st.inputs.size() < 2 || st.outputs.size() != 1 ||
        !st.out_shapes[0])
      continue;
    const auto* la = std::get_if<LinearAttrs>(&n.attrs);
    const Activation act = la ? la->activation : Activation::none;
    if (act != Activation::none && act != Activation::relu) continue;
    const ValueRef x = st.inputs[0];
    if (x.source != Source::slot || producer[x.index] < 0) continue;
    const std::size_t ps = static_cast<std::size_t>(producer[x.index]);
    const Step& src = plan.steps[ps];
    const Node& pn = g.node(src.node);
    if (src.view || src.inputs.empty()) continue;
    const ValueRef feed = src.inputs[0];
    if (feed.source != Source::slot && feed.source != Source::input) continue;
    const TensorType& ft = g.value(pn.inputs[0]).type;
    if (!ft.is_static() || ft.rank() < 1) continue;
    const bool has_bias = st.inputs.size() > 2 && st.inputs[2].source != Source::absent;
    auto lin = std::make_unique<kernels::Int8Linear>();
    std::vector<std::int8_t> levels;
    std::int64_t k = 0, cols = 0;
    if (pn.kind == OpKind::Cast) {
      // The integer form: Linear(Cast<f32>(u8/s8 levels), f32 integer levels), no steps inside the Linear.
      if (std::get<CastAttrs>(pn.attrs).to != DType::f32 || (ft.dtype != DType::u8 && ft.dtype != DType::i8)) continue;
      const Tensor* w = constant_of(g, plan, st.inputs[1]);
      if (w == nullptr || w->dtype() != DType::f32 || w->rank() != 2) continue;
      k = w->dim(0);
      cols = w->dim(1);
      levels = integer_levels(*w);
      lin->is_signed = ft.dtype == DType::i8;
    } else if (pn.kind == OpKind::FakeQuant) {
      // A quantization point (QDQ import, QANN): the Linear quantizes the point's input itself, as FakeQuant
      // does, and multiplies the levels by the weight's levels; steps in the epilogue (linear_value).
      const Value& qv = g.value(pn.outputs[0]);
      if (ft.dtype != DType::f32 || !qv.quant || !qv.quant->per_tensor()) continue;
      const QuantParams& qp = *qv.quant;
      const std::int32_t zp = qp.zero_point.empty() ? 0 : qp.zero_point[0];
      const bool fits_u8 = qp.n_min >= 0 && qp.n_max <= 255, fits_s8 = qp.n_min >= -128 && qp.n_max <= 127;
      if (!(fits_u8 || fits_s8) || !(qp.scale[0] > 0.0f) || !std::isfinite(qp.scale[0])) continue;
      const WeightLevels wl = quantized_weight(g.value(n.inputs[1]), g.stage);
      if (wl.levels.empty()) continue;
      k = g.value(n.inputs[1]).constant->dim(0);
      cols = g.value(n.inputs[1]).constant->dim(1);
      levels = wl.levels;
      lin->is_signed = !fits_u8;
      lin->zero_point = zp;
      lin->real_input = true;
      lin->step = qp.scale[0];
      lin->lo = static_cast<float>(qp.n_min);
      lin->hi = static_cast<float>(qp.n_max);
      for (float sw : wl.step) lin->scale.push_back(qp.scale[0] * sw);  // the QANN's (s_in * s_w)
    } else {
      continue;
    }
    if (levels.empty() || k == 0 || cols == 0 || ft.dims.back().value != k) continue;
    lin->w = gemm::pack_s8(levels.data(), k, cols);
    const double bound = static_cast<double>(k) * gemm::max_abs_level(lin->is_signed, lin->zero_point) * lin->w.max_abs;
    if (bound >= static_cast<double>(std::numeric_limits<std::int32_t>::max())) continue;
    lin->relu = act == Activation::relu;
    if (has_bias) {
      const float* b = channel_vector(constant_of(g, plan, st.inputs[2]), cols);
      if (b == nullptr) continue;
      lin->bias.assign(b, b + cols);
    } else if (pn.kind == OpKind::Cast && !lin->relu) {
      // The integer form's epilogue: Mul by the per-channel step, then Add of the bias, each read only by the next.
      const std::uint32_t y = st.outputs[0];
      if (reads[y] == 1 && reader[y] >= 0) {
        const auto ms = static_cast<std::size_t>(reader[y]);
        const Step& mul = plan.steps[ms];
        const Node& mn = g.node(mul.node);
        if (!removed[ms] && mn.kind == OpKind::Mul && mul.inputs.size() == 2 && mul.out_shapes[0] &&
            *mul.out_shapes[0] == *st.out_shapes[0] && g.value(ValueId(mul.outputs[0])).type.dtype == DType::f32) {
          const std::size_t mine = mul.inputs[0].source == Source::slot && mul.inputs[0].index == y ? 0 : 1;
          const float* sc = channel_vector(constant_of(g, plan, mul.inputs[1 - mine]), cols);
          if (sc != nullptr) {
            lin->scale.assign(sc, sc + cols);
            st.outputs[0] = mul.outputs[0];
            removed[ms] = true;
            const std::uint32_t z = st.outputs[0];
            if (reads[z] == 1 && reader[z] >= 0) {
              const auto as = static_cast<std::size_t>(reader[z]);
              const Step& add = plan.steps[as];
              const Node& an = g.node(add.node);
              if (!removed[as] && an.kind == OpKind::Add && add.inputs.size() == 2 && add.out_shapes[0] &&
                  *add.out_shapes[0] == *st.out_shapes[0] &&
                  g.value(ValueId(add.outputs[0])).type.dtype == DType::f32) {
                const std::size_t m2 = add.inputs[0].source == Source::slot && add.inputs[0].index == z ? 0 : 1;
                const float* b = channel_vector(constant_of(g, plan, add.inputs[1 - m2]), cols);
                if (b != nullptr) {
                  lin->bias.assign(b, b + cols);
                  st.outputs[0] = add.outputs[0];
                  removed[as] = true;
                }
              }
            }
          }
        }
      }
    }
    --reads[x.index];
    st.inputs[0] = feed;
    if (feed.source == Source::slot) ++reads[feed.index];
    st.int8 = lin.get();
    st.kernel = {kernels::linear_int8, gemm::int8_kernel_name(lin->w.kernel)};
    plan.int8.push_back(std::move(lin));
    sources.push_back(ps);
  }
  if (sources.empty()) return;
  // A Cast or FakeQuant whose every reader now reads its input directly is not run.
  for (std::size_t ps : sources)
    if (reads[plan.steps[ps].outputs[0]] == 0) removed[ps] = true;
  std::vector<Step> kept;
  for (std::size_t s = 0; s < plan.steps.size(); ++s) {
    if (removed[s]) plan.folded.push_back({plan.steps[s].node, plan.steps[s].counts, "folded_into_int8_linear"});
    else kept.push_back(std::move(plan.steps[s]));
  }
  plan.steps = std::move(kept);
}

}  // namespace snnconv::ann
