// The currents neurons integrate, read from their producers' exact state: a graph input or prologue output as
// is, a synapse's accumulator through ann::linear_value / grouped_linear_value, a product's through
// ann::product_value, a differential unit's output, a residual sum through ann::sum_value. A whole row is
// computed with the same operations in the same order as those out-of-line functions (the factor
// s_in * s_w formed first, then one rounding per multiply and per add, no fused multiply-add), which the
// kernel tests check bit for bit against them.
#include "snnconv/ann_baseline/qann.hpp"
#include "units.hpp"

namespace snnconv::snn {
namespace {

const float* input_data(const Step& st, const ValueInfo& v, std::int64_t sample) {
  return (*st.inputs)[static_cast<std::size_t>(sample)][static_cast<std::size_t>(v.input)]->data<float>();
}

const Tensor& prologue_out(const Step& st, const Unit& u, std::int64_t sample) {
  return st.state.prologues[static_cast<std::size_t>(u.slot)].out[static_cast<std::size_t>(sample)];
}

}  // namespace

float current_at(const Step& st, int v, std::int64_t i) {
  const ValueInfo& vi = st.info(v);
  const std::int64_t sample = i / vi.numel, local = i % vi.numel;
  if (vi.producer < 0) return input_data(st, vi, sample)[local];
  const Unit& u = st.plan.units[static_cast<std::size_t>(vi.producer)];
  const auto slot = static_cast<std::size_t>(u.slot);
  switch (u.kind) {
    case UnitKind::prologue: {
      const Tensor& t = prologue_out(st, u, sample);
      return t.dtype() == DType::f32 ? t.data<float>()[local] : 0.0f;
    }
    case UnitKind::synapse: {
      const SynapseParams& p = st.plan.synapses[slot];
      const SynapseState& s = st.state.synapses[slot];
      const std::int64_t r = i / p.n, j = i % p.n;
      if (p.groups > 1) {
        const std::int64_t at = r * p.groups * p.n + j;
        float y;
        if (p.acc64)
          grouped_row(s.acc64.data() + at, p.in_step.data() + j, p.bias.data() + j, p.groups, p.n, 1, &y);
        else
          grouped_row(s.acc32.data() + at, p.in_step.data() + j, p.bias.data() + j, p.groups, p.n, 1, &y);
        return y;
      }
      float y;
      if (p.acc64)
        linear_row(s.acc64.data() + i, p.in_step.data() + j, p.bias.data() + j, 1, &y);
      else
        linear_row(s.acc32.data() + i, p.in_step.data() + j, p.bias.data() + j, 1, &y);
      return y;
    }
    case UnitKind::product: {
      const ProductParams& p = st.plan.products[slot];
      const ProductState& s = st.state.products[slot];
      float y;
      if (p.acc64)
        product_row(s.acc64.data() + i, p.ab_step, 1, &y);
      else
        product_row(s.acc32.data() + i, p.ab_step, 1, &y);
      return y;
    }
    case UnitKind::diff:
      return st.state.diffs[slot].y[static_cast<std::size_t>(i)];
    case UnitKind::add: {
      const AddParams& p = st.plan.adds[slot];
      const std::int32_t qa = st.state.counts[static_cast<std::size_t>(st.info(p.a).storage)][static_cast<std::size_t>(i)];
      const std::int32_t qb = st.state.counts[static_cast<std::size_t>(st.info(p.b).storage)][static_cast<std::size_t>(i)];
      return ann::sum_value(qa, p.s_a, qb, p.s_b);
    }
    default:
      return 0.0f;  // the plan admits no other producer of a current
  }
}

void current_row(const Step& st, int v, std::int64_t r, float* out) {
  const ValueInfo& vi = st.info(v);
  const std::int64_t w = vi.width, first = r * w;
  const std::int64_t sample = first / vi.numel, local = first % vi.numel;
  if (vi.producer < 0) {
    const float* x = input_data(st, vi, sample) + local;
    for (std::int64_t j = 0; j < w; ++j) out[j] = x[j];
    return;
  }
  const Unit& u = st.plan.units[static_cast<std::size_t>(vi.producer)];
  const auto slot = static_cast<std::size_t>(u.slot);
  switch (u.kind) {
    case UnitKind::prologue: {  // a row lies within one sample's output (numel is a multiple of the width)
      const Tensor& t = prologue_out(st, u, sample);
      if (t.dtype() != DType::f32) break;
      const float* x = t.data<float>() + local;
      for (std::int64_t j = 0; j < w; ++j) out[j] = x[j];
      return;
    }
    case UnitKind::synapse: {
      const SynapseParams& p = st.plan.synapses[slot];
      const SynapseState& s = st.state.synapses[slot];
      if (p.groups == 1) {
        if (p.acc64)
          linear_row(s.acc64.data() + first, p.in_step.data(), p.bias.data(), w, out);
        else
          linear_row(s.acc32.data() + first, p.in_step.data(), p.bias.data(), w, out);
      } else {
        const std::int64_t at = r * p.groups * p.n;
        if (p.acc64)
          grouped_row(s.acc64.data() + at, p.in_step.data(), p.bias.data(), p.groups, p.n, p.n, out);
        else
          grouped_row(s.acc32.data() + at, p.in_step.data(), p.bias.data(), p.groups, p.n, p.n, out);
      }
      return;
    }
    case UnitKind::product: {
      const ProductParams& p = st.plan.products[slot];
      const ProductState& s = st.state.products[slot];
      if (p.acc64)
        product_row(s.acc64.data() + first, p.ab_step, w, out);
      else
        product_row(s.acc32.data() + first, p.ab_step, w, out);
      return;
    }
    case UnitKind::diff: {
      const float* y = st.state.diffs[slot].y.data() + first;
      for (std::int64_t j = 0; j < w; ++j) out[j] = y[j];
      return;
    }
    case UnitKind::add: {
      const AddParams& p = st.plan.adds[slot];
      const std::int32_t* qa = st.state.counts[static_cast<std::size_t>(st.info(p.a).storage)].data() + first;
      const std::int32_t* qb = st.state.counts[static_cast<std::size_t>(st.info(p.b).storage)].data() + first;
      sum_row(qa, p.s_a, qb, p.s_b, w, out);
      return;
    }
    default:
      break;
  }
  for (std::int64_t j = 0; j < w; ++j) out[j] = current_at(st, v, first + j);
}

}  // namespace snnconv::snn
