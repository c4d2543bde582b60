// DecodeSession: each window length gets a Plan once (build_plan: order, value sources, buffer lifetimes,
// fast kernels), cached for the session; a window then runs the plan's steps with decode-specific overrides:
// - Attention appends its new K/V rows to the node's cache and attends over the whole cache
//   (decode_kernels::attention_rows);
// - Linear (and MatMul by a constant matrix) run the packed GEMM (gemm.hpp) on weights packed once per session
//   (shared by every window length); a window of up to 8 tokens streams each weight once for all its rows;
// - reshapes, transposes and embedding Gathers are plain copies;
// - every other node runs the plan's kernel (row-wise or elementwise) or the reference.
// All of these are row-invariant, so a token's logits do not depend on how many tokens share its window
// (step, speculative verification window, prefill). Windows of up to kRetainWindow tokens keep their
// intermediate buffers between calls, so a decode step allocates only its logits.
#include "snnconv/ann_baseline/decode.hpp"

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "attention_kernel.hpp"
#include "decode_kernels.hpp"
#include "gemm_packed.hpp"
#include "plan.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv::ann {
namespace {

// One Attention node's cache, [B, H, capacity, D] for K and [B, H, capacity, Dv] for V; rows at and past
// the session length are stale and overwritten by the next window.
struct KvCache {
  std::int64_t batch = 0, heads = 0, d = 0, dv = 0, capacity = 0;
  std::vector<float> k, v;

  void reserve(std::int64_t needed) {
    if (needed <= capacity) return;
    const std::int64_t cap = std::max<std::int64_t>({needed, 2 * capacity, 64});
    std::vector<float> nk(static_cast<std::size_t>(batch * heads * cap * d));
    std::vector<float> nv(static_cast<std::size_t>(batch * heads * cap * dv));
    for (std::int64_t bh = 0; bh < batch * heads && capacity > 0; ++bh) {
      std::copy_n(k.data() + bh * capacity * d, capacity * d, nk.data() + bh * cap * d);
      std::copy_n(v.data() + bh * capacity * dv, capacity * dv, nv.data() + bh * cap * dv);
    }
    k = std::move(nk);
    v = std::move(nv);
    capacity = cap;
  }
  // Writes rows [at, at + n) from new k/v [B, H, n, D].
  void write(std::int64_t at, const Tensor& new_k, const Tensor& new_v) {
    const std::int64_t n = new_k.dim(2);
    reserve(at + n);
    const float* pk = new_k.data<float>();
    const float* pv = new_v.data<float>();
    for (std::int64_t bh = 0; bh < batch * heads; ++bh) {
      std::copy_n(pk + bh * n * d, n * d, k.data() + (bh * capacity + at) * d);
      std::copy_n(pv + bh * n * dv, n * dv, v.data() + (bh * capacity + at) * dv);
    }
  }
};

enum class Override : std::uint8_t { none, attention, linear, matmul, copy, transpose, gather };

// Everything about one window length that does not change between calls.
struct WindowPlan {
  const Graph* graph = nullptr;
  Plan plan;
  std::vector<Override> overrides;                       // per plan step
  std::vector<KvCache*> caches;                          // per plan step (attention steps only)
  std::vector<const kernels::PackedB*> packed;           // per plan step (linear / matmul steps only)
  std::vector<Tensor> slots;                             // per value index
  std::int64_t tokens_input = -1, positions_input = -1;  // positions in graph.inputs()
  // Small windows (steps, verification windows) keep every intermediate buffer between calls instead of
  // returning it to the pool: a few hundred KB, and no allocation or pool lookup per node per call.
  bool retain = false;
};

// Windows of at most this many tokens keep their buffers (WindowPlan::retain).
constexpr std::int64_t kRetainWindow = 16;

bool f32_static(const TensorType& t) {
  return t.dtype == DType::f32 && t.is_static();
}

// A Linear / MatMul whose weight is a constant f32 matrix [K, N] and whose activation is f32 [..., K].
Override linear_override(const Graph& g, const Node& n) {
  if (n.kind != OpKind::Linear && n.kind != OpKind::MatMul) return Override::none;
  if (n.inputs.size() < 2 || !n.inputs[0].valid() || !n.inputs[1].valid()) return Override::none;
  const Value& x = g.value(n.inputs[0]);
  const Value& w = g.value(n.inputs[1]);
  if (!f32_static(x.type) || x.constant || !w.constant || w.constant->rank() != 2 || x.type.rank() < 2 ||
      x.type.dims.back().value != w.constant->dim(0))
    return Override::none;
  // f32 weights, or integer weights with QuantParams (the plan dequantizes them to f32 once).
  const bool f32_weight = w.constant->dtype() == DType::f32 && !w.quant;
  if (!f32_weight && !(w.quant && is_integer(w.constant->dtype()))) return Override::none;
  if (n.kind == OpKind::MatMul) return Override::matmul;
  if (n.inputs.size() > 2 && n.inputs[2].valid()) {
    const Value& b = g.value(n.inputs[2]);
    if (!b.constant || b.constant->dtype() != DType::f32 || b.constant->numel() != w.constant->dim(1))
      return Override::none;
  }
  return Override::linear;
}

// Data movement the decode path does with plain copies instead of the reference kernels: reshapes (the
// bytes do not move), transposes, and Gather along axis 0 of a constant table (embeddings).
Override movement_override(const Graph& g, const Node& n) {
  if (n.inputs.empty() || !n.inputs[0].valid() || n.outputs.size() != 1) return Override::none;
  const Value& x = g.value(n.inputs[0]);
  const TensorType& y = g.value(n.outputs[0]).type;
  if (!y.is_static() || !x.type.is_static() || x.type.dtype != y.dtype) return Override::none;
  switch (n.kind) {
    case OpKind::Reshape:
    case OpKind::Flatten:
    case OpKind::Squeeze:
    case OpKind::Unsqueeze:
    case OpKind::Identity:
      return x.quant ? Override::none : Override::copy;
    case OpKind::Transpose:
      return x.quant ? Override::none : Override::transpose;
    case OpKind::Gather: {
      if (std::get<AxisAttrs>(n.attrs).axis != 0 || !x.constant || x.quant || n.inputs.size() < 2)
        return Override::none;
      const Value& idx = g.value(n.inputs[1]);
      return idx.type.dtype == DType::i64 && x.constant->rank() >= 1 && x.constant->dim(0) > 0 ? Override::gather
                                                                                               : Override::none;
    }
    default:
      return Override::none;
  }
}

}  // namespace

struct DecodeSession::Impl {
  DecoderGraphs graphs;
  DecodeOptions options;
  tbb::task_arena arena;
  std::int64_t length = 0;
  std::int64_t batch = -1;
  std::int64_t max_positions = 0;
  std::map<std::string, KvCache> caches;  // by Attention node name: stable across the per-length graphs
  // Weights packed for the GEMM, by the weight value's name: every window length's graph holds the same
  // constants, so they are packed once for the session.
  std::map<std::string, std::unique_ptr<kernels::PackedB>> packed;
  std::map<std::int64_t, std::unique_ptr<WindowPlan>> plans;
  std::multimap<std::pair<DType, Shape>, Tensor> pool;  // released buffers, shared by all windows

  Impl(DecoderGraphs g, DecodeOptions o)
      : graphs(std::move(g)), options(o), arena(o.threads > 0 ? o.threads : tbb::task_arena::automatic) {}

  WindowPlan& window(std::int64_t n) {
    auto it = plans.find(n);
    if (it != plans.end()) return *it->second;
    auto wp = std::make_unique<WindowPlan>();
    const Graph& g = graphs(n);
    wp->graph = &g;
    EngineOptions eo;
    eo.fill_ledger = false;
    eo.plan_rewrites = false;  // this executor runs every step itself, with the decode kernels
    wp->plan = build_plan(g, eo);
    wp->slots.resize(g.num_values());
    wp->retain = n <= kRetainWindow;
    for (std::size_t i = 0; i < g.inputs().size(); ++i) {
      const Value& v = g.value(g.inputs()[i]);
      if (v.name == "positions")
        wp->positions_input = static_cast<std::int64_t>(i);
      else if (v.type.dtype == DType::i64 && v.type.rank() == 2)
        wp->tokens_input = static_cast<std::int64_t>(i);
      else
        throw UnsupportedError("DecodeSession: unexpected graph input '" + v.name + "'");
    }
    if (wp->tokens_input < 0 || wp->positions_input < 0)
      throw UnsupportedError("DecodeSession: the decoder graph needs inputs `tokens` [B, n] and `positions` [n]");
    for (const Step& s : wp->plan.steps) {
      const Node& node = g.node(s.node);
      Override o = linear_override(g, node);
      if (o == Override::none) o = movement_override(g, node);
      KvCache* cache = nullptr;
      if (node.kind == OpKind::Attention) {
        const auto& at = std::get<AttentionAttrs>(node.attrs);
        if (!at.causal || (node.inputs.size() > 3 && node.inputs[3].valid()))
          throw UnsupportedError("KV-cache decoding needs causal Attention without an explicit mask",
                                 g.context(s.node));
        // The cached kernel is the online softmax, which has no place for rounding steps inside the attention.
        if (at.quantized())
          throw UnsupportedError("KV-cache decoding has no form for an Attention with quantization steps inside it "
                                 "(scores / probabilities of a QAT export)",
                                 g.context(s.node));
        o = Override::attention;
        cache = &caches[node.name];
      }
      if (o != Override::none && o != Override::attention && !s.out_shapes[0]) o = Override::none;
      const kernels::PackedB* pw = nullptr;
      if (o == Override::linear || o == Override::matmul) {
        const Value& wv = g.value(node.inputs[1]);
        auto& slot = packed[wv.name];
        if (!slot) {
          const ValueRef r = s.inputs[1];
          const Tensor& w = r.source == Source::owned ? wp->plan.owned[r.index] : *wv.constant;
          slot = std::make_unique<kernels::PackedB>(gemm::pack_f32(w.data<float>(), w.dim(0), w.dim(1)));
        }
        pw = slot.get();
      }
      wp->overrides.push_back(o);
      wp->caches.push_back(cache);
      wp->packed.push_back(pw);
    }
    if (auto m = g.metadata.find("snnconv.max_positions"); m != g.metadata.end()) max_positions = std::stoll(m->second);
    return *plans.emplace(n, std::move(wp)).first->second;
  }

  // The buffer for an output: the one the slot kept from the last call when it fits, else from the pool.
  Tensor output_buffer(WindowPlan& wp, std::uint32_t value, DType t, const Shape& s) {
    Tensor& kept = wp.slots[value];
    if (kept.nbytes() > 0 && kept.dtype() == t && kept.shape() == s) return std::move(kept);
    return take_buffer(t, s);
  }

  Tensor take_buffer(DType t, const Shape& s) {
    auto it = pool.find({t, s});
    if (it == pool.end()) return Tensor(t, s);
    Tensor out = std::move(it->second);
    pool.erase(it);
    return out;
  }

  void release(Tensor& t) {
    if (t.nbytes() == 0) return;
    pool.emplace(std::make_pair(t.dtype(), t.shape()), std::move(t));
    t = Tensor();
  }

  Tensor attend(WindowPlan& wp, const Step& step, KvCache& c, const std::vector<const Tensor*>& in) {
    const Graph& g = *wp.graph;
    const NodeId id = step.node;
    const Tensor& q = *in[0];
    const Tensor& k = *in[1];
    const Tensor& v = *in[2];
    if (q.dtype() != DType::f32 || q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
      throw ShapeError("KV-cache Attention needs f32 q, k, v [B, H, N, D]", g.context(id));
    if (c.capacity == 0) {
      c.batch = k.dim(0);
      c.heads = k.dim(1);
      c.d = k.dim(3);
      c.dv = v.dim(3);
    } else if (k.dim(0) != c.batch || k.dim(1) != c.heads || k.dim(3) != c.d || v.dim(3) != c.dv) {
      throw ShapeError("K/V shapes changed between decode windows", g.context(id));
    }
    c.write(length, k, v);
    AttentionArgs a;
    a.batch = q.dim(0);
    a.heads = q.dim(1);
    a.nq = q.dim(2);
    a.d = q.dim(3);
    a.nk = length + k.dim(2);
    a.dv = c.dv;
    a.q = q.data<float>();
    a.q_head_stride = a.nq * a.d;
    a.k = c.k.data();
    a.k_head_stride = c.capacity * c.d;
    a.v = c.v.data();
    a.v_head_stride = c.capacity * c.dv;
    a.scale = std::get<AttentionAttrs>(g.node(id).attrs).scale;
    a.causal = true;  // the new queries are the last nq of the nk positions
    Tensor y = output_buffer(wp, step.outputs[0], DType::f32, {a.batch, a.heads, a.nq, a.dv});
    a.y = y.data<float>();
    decode_kernels::attention_rows(a);
    return y;
  }

  Tensor run(const Tensor& tokens) {
    if (tokens.rank() != 2 || tokens.dtype() != DType::i64)
      throw ShapeError("DecodeSession: tokens must be i64 [batch, n], got " + std::string(dtype_name(tokens.dtype())) +
                       shape_to_string(tokens.shape()));
    const std::int64_t n = tokens.dim(1);
    if (n < 1) throw ShapeError("DecodeSession: a window needs at least one token");
    if (batch >= 0 && tokens.dim(0) != batch)
      throw ShapeError("DecodeSession: batch changed from " + std::to_string(batch) + " to " +
                       std::to_string(tokens.dim(0)));
    WindowPlan& wp = window(n);
    if (max_positions > 0 && length + n > max_positions)
      throw UsageError("DecodeSession: position " + std::to_string(length + n - 1) + " is past the model's " +
                       std::to_string(max_positions) + " positions");
    const Graph& g = *wp.graph;
    std::vector<Tensor> inputs(g.inputs().size());
    inputs[static_cast<std::size_t>(wp.tokens_input)] = tokens;
    Tensor positions(DType::i64, {n});
    for (std::int64_t i = 0; i < n; ++i) positions.data<std::int64_t>()[i] = length + i;
    inputs[static_cast<std::size_t>(wp.positions_input)] = std::move(positions);

    auto resolve = [&](const ValueRef& r) -> const Tensor* {
      switch (r.source) {
        case Source::absent:
          return nullptr;
        case Source::constant:
          return &*g.value(ValueId(r.index)).constant;
        case Source::owned:
          return &wp.plan.owned[r.index];
        case Source::input:
          return &inputs[r.index];
        case Source::slot:
          return &wp.slots[r.index];
      }
      return nullptr;
    };
    Tensor result;
    try {
      std::vector<const Tensor*> in;
      std::vector<Tensor> outs;
      for (std::size_t s = 0; s < wp.plan.steps.size(); ++s) {
        const Step& step = wp.plan.steps[s];
        const Node& node = g.node(step.node);
        in.clear();
        for (const ValueRef& r : step.inputs) in.push_back(resolve(r));
        outs.clear();
        switch (wp.overrides[s]) {
          case Override::attention:
            outs.push_back(attend(wp, step, *wp.caches[s], in));
            break;
          case Override::linear:
          case Override::matmul: {
            const Tensor& x = *in[0];
            const Tensor& w = *in[1];
            const Tensor* b = wp.overrides[s] == Override::linear && in.size() > 2 ? in[2] : nullptr;
            const Activation act =
                wp.overrides[s] == Override::linear ? std::get<LinearAttrs>(node.attrs).activation : Activation::none;
            outs.push_back(output_buffer(wp, step.outputs[0], DType::f32, *step.out_shapes[0]));
            kernels::gemm_packed(x.data<float>(), x.numel() / w.dim(0), *wp.packed[s], b ? b->data<float>() : nullptr,
                                 act, outs[0].data<float>());
            break;
          }
          case Override::copy:
          case Override::transpose:
          case Override::gather: {
            const Tensor& x = *in[0];
            outs.push_back(output_buffer(wp, step.outputs[0], x.dtype(), *step.out_shapes[0]));
            Tensor& y = outs[0];
            if (wp.overrides[s] == Override::copy) {
              std::memcpy(y.raw(), x.raw(), x.nbytes());
            } else if (wp.overrides[s] == Override::transpose) {
              std::vector<std::int64_t> perm = std::get<TransposeAttrs>(node.attrs).perm;
              if (perm.empty())
                for (int d = x.rank(); d-- > 0;) perm.push_back(d);
              decode_kernels::transpose(x.raw(), x.shape(), perm, y.raw(), dtype_size(x.dtype()));
            } else {
              const Tensor& index = *in[1];
              decode_kernels::gather_rows(x.raw(), x.dim(0), static_cast<std::int64_t>(x.nbytes()) / x.dim(0),
                                          index.data<std::int64_t>(), index.numel(), y.raw());
            }
            break;
          }
          case Override::none:
            if (step.kernel.fn) {
              for (std::size_t i = 0; i < step.outputs.size(); ++i)
                outs.push_back(output_buffer(wp, step.outputs[i], g.value(ValueId(step.outputs[i])).type.dtype,
                                             *step.out_shapes[i]));
              step.kernel.fn(kernels::KernelArgs{g, node, in, outs});
            } else {
              outs = evaluate_reference(g, step.node, in);
            }
            break;
        }
        for (std::size_t i = 0; i < step.outputs.size() && i < outs.size(); ++i)
          wp.slots[step.outputs[i]] = std::move(outs[i]);
        if (!wp.retain)
          for (std::uint32_t v : step.release) release(wp.slots[v]);
      }
      const ValueRef& out = wp.plan.outputs.at(0);
      if (out.source != Source::slot)
        result = *resolve(out);
      else if (wp.retain)
        result = wp.slots[out.index];  // a copy: the slot keeps its buffer
      else
        result = std::move(wp.slots[out.index]);
    } catch (...) {
      for (Tensor& t : wp.slots) t = Tensor();
      throw;
    }
    if (!wp.retain)
      for (std::size_t i = 1; i < wp.plan.outputs.size(); ++i)
        if (wp.plan.outputs[i].source == Source::slot) release(wp.slots[wp.plan.outputs[i].index]);
    // Commit only after the whole window ran: a failure leaves the session at its old length (K/V rows
    // written past it are stale and overwritten by the next window).
    length += n;
    batch = tokens.dim(0);
    return result;
  }
};

DecodeSession::DecodeSession(DecoderGraphs graphs, DecodeOptions options)
    : impl_(std::make_unique<Impl>(std::move(graphs), options)) {}
DecodeSession::~DecodeSession() = default;
DecodeSession::DecodeSession(DecodeSession&&) noexcept = default;
DecodeSession& DecodeSession::operator=(DecodeSession&&) noexcept = default;

Tensor DecodeSession::prefill(const Tensor& tokens) {
  Tensor out;
  impl_->arena.execute([&] { out = impl_->run(tokens); });
  return out;
}

Tensor DecodeSession::step(std::span<const std::int64_t> tokens) {
  const auto b = static_cast<std::int64_t>(tokens.size());
  return prefill(Tensor::from_vector<std::int64_t>({b, 1}, std::vector<std::int64_t>(tokens.begin(), tokens.end())));
}

void DecodeSession::truncate(std::int64_t length) {
  if (length < 0 || length > impl_->length)
    throw UsageError("DecodeSession::truncate(" + std::to_string(length) + "): the cache holds " +
                     std::to_string(impl_->length) + " positions");
  impl_->length = length;  // rows past the length are overwritten by the next window
}

std::int64_t DecodeSession::length() const {
  return impl_->length;
}

std::int64_t DecodeSession::max_positions() const {
  if (impl_->max_positions == 0) {
    const Graph& g = impl_->graphs(1);
    if (auto it = g.metadata.find("snnconv.max_positions"); it != g.metadata.end())
      impl_->max_positions = std::stoll(it->second);
  }
  return impl_->max_positions;
}

std::int64_t DecodeSession::vocab_size() const {
  const Graph& g = impl_->graphs(1);
  if (g.outputs().empty()) throw GraphError("DecodeSession: the decoder graph has no output");
  const TensorType& t = g.value(g.outputs()[0]).type;
  if (t.rank() != 3 || !t.dims[2].is_known())
    throw ShapeError("DecodeSession: the logits must be [B, n, V] with a known V, got " + type_to_string(t));
  return t.dims[2].value;
}

std::int64_t DecodeSession::cache_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& [name, c] : impl_->caches)
    bytes += static_cast<std::int64_t>((c.k.size() + c.v.size()) * sizeof(float));
  return bytes;
}

}  // namespace snnconv::ann
