// DecodeSession: every node of the window's graph runs with its reference kernel except Attention, which
// appends its new K/V rows to the node's cache and attends over the whole cache with the online kernel.
#include "snnconv/ann_baseline/decode.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "attention_kernel.hpp"
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

}  // namespace

struct DecodeSession::Impl {
  DecoderGraphs graphs;
  std::int64_t length = 0;
  std::int64_t batch = -1;
  std::int64_t max_positions = 0;
  std::map<std::string, KvCache> caches;  // by Attention node name: stable across the per-length graphs

  Tensor attend(const Graph& g, NodeId id, const std::vector<const Tensor*>& in) {
    const Node& n = g.node(id);
    const auto& at = std::get<AttentionAttrs>(n.attrs);
    if (!at.causal || (n.inputs.size() > 3 && n.inputs[3].valid()))
      throw UnsupportedError("KV-cache decoding needs causal Attention without an explicit mask", g.context(id));
    const Tensor& q = *in[0];
    const Tensor& k = *in[1];
    const Tensor& v = *in[2];
    if (q.dtype() != DType::f32 || q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
      throw ShapeError("KV-cache Attention needs f32 q, k, v [B, H, N, D]", g.context(id));
    KvCache& c = caches[n.name];
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
    a.scale = at.scale;
    a.causal = true;  // the new queries are the last nq of the nk positions
    Tensor y(DType::f32, {a.batch, a.heads, a.nq, a.dv});
    a.y = y.data<float>();
    attention_online(a);
    return y;
  }

  Tensor run(const Tensor& tokens) {
    if (tokens.rank() != 2 || tokens.dtype() != DType::i64)
      throw ShapeError("DecodeSession: tokens must be i64 [batch, n], got " + std::string(dtype_name(tokens.dtype())) +
                       shape_to_string(tokens.shape()));
    const std::int64_t n = tokens.dim(1);
    if (batch >= 0 && tokens.dim(0) != batch)
      throw ShapeError("DecodeSession: batch changed from " + std::to_string(batch) + " to " +
                       std::to_string(tokens.dim(0)));
    const Graph& g = graphs(n);
    if (auto it = g.metadata.find("snnconv.max_positions"); it != g.metadata.end())
      max_positions = std::stoll(it->second);
    if (max_positions > 0 && length + n > max_positions)
      throw UsageError("DecodeSession: position " + std::to_string(length + n - 1) + " is past the model's " +
                       std::to_string(max_positions) + " positions");
    std::vector<std::int64_t> pos(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) pos[static_cast<std::size_t>(i)] = length + i;
    const Tensor positions = Tensor::from_vector<std::int64_t>({n}, pos);

    std::vector<std::optional<Tensor>> env(g.num_values());
    for (ValueId v : g.inputs()) {
      const std::string& name = g.value(v).name;
      if (name == "positions") env[v.index] = positions;
      else if (g.value(v).type.dtype == DType::i64 && g.value(v).type.rank() == 2) env[v.index] = tokens;
      else throw UnsupportedError("DecodeSession: unexpected graph input '" + name + "'");
    }
    auto get = [&](ValueId v) -> const Tensor* {
      if (!v.valid()) return nullptr;
      if (g.value(v).constant) return &*g.value(v).constant;
      return env[v.index] ? &*env[v.index] : nullptr;
    };
    for (NodeId id : g.topological_order()) {
      const Node& node = g.node(id);
      std::vector<const Tensor*> in;
      for (ValueId v : node.inputs) in.push_back(get(v));
      if (node.kind == OpKind::Attention) {
        env[node.outputs[0].index] = attend(g, id, in);
        continue;
      }
      std::vector<Tensor> out = evaluate_reference(g, id, in);
      for (std::size_t i = 0; i < out.size() && i < node.outputs.size(); ++i)
        if (node.outputs[i].valid()) env[node.outputs[i].index] = std::move(out[i]);
    }
    // Commit only after the whole window ran: a failure leaves the session at its old length.
    length += n;
    batch = tokens.dim(0);
    return *get(g.outputs().at(0));
  }
};

DecodeSession::DecodeSession(DecoderGraphs graphs) : impl_(std::make_unique<Impl>()) {
  impl_->graphs = std::move(graphs);
}
DecodeSession::~DecodeSession() = default;
DecodeSession::DecodeSession(DecodeSession&&) noexcept = default;
DecodeSession& DecodeSession::operator=(DecodeSession&&) noexcept = default;

Tensor DecodeSession::prefill(const Tensor& tokens) { return impl_->run(tokens); }

Tensor DecodeSession::step(std::span<const std::int64_t> tokens) {
  const auto b = static_cast<std::int64_t>(tokens.size());
  return impl_->run(Tensor::from_vector<std::int64_t>({b, 1}, std::vector<std::int64_t>(tokens.begin(), tokens.end())));
}

void DecodeSession::truncate(std::int64_t length) {
  if (length < 0 || length > impl_->length)
    throw UsageError("DecodeSession::truncate(" + std::to_string(length) + "): the cache holds " +
                     std::to_string(impl_->length) + " positions");
  impl_->length = length;  // rows past the length are overwritten by the next window
}

std::int64_t DecodeSession::length() const { return impl_->length; }

std::int64_t DecodeSession::max_positions() const {
  if (impl_->max_positions == 0) {
    const Graph& g = impl_->graphs(1);
    if (auto it = g.metadata.find("snnconv.max_positions"); it != g.metadata.end())
      impl_->max_positions = std::stoll(it->second);
  }
  return impl_->max_positions;
}

std::int64_t DecodeSession::cache_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& [name, c] : impl_->caches)
    bytes += static_cast<std::int64_t>((c.k.size() + c.v.size()) * sizeof(float));
  return bytes;
}

}  // namespace snnconv::ann
