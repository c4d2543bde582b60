// Importance on calibration data, the pruning plan, and bias correction (prune.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/mixed_precision.hpp"
#include "snnconv/converter/prune.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/shape_inference.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv::prune {
namespace {

// Runs `g` on every sample with `captures` as its outputs and hands each pass's tensors to `visit`.
template <typename Visit>
void run_captured(const Graph& g, const std::vector<ValueId>& captures, std::span<const std::vector<Tensor>> samples,
                  Visit visit) {
  Graph h = g;
  h.set_outputs(captures);
  ann::EngineOptions eo;
  eo.fill_ledger = false;
  ann::Engine engine(h, eo);
  for (const std::vector<Tensor>& s : samples) visit(engine.run(s));
}

const Tensor& weight(const Graph& g, NodeId lin) { return *g.value(g.node(lin).inputs.at(1)).constant; }

// Ranks 0..n-1 by score ascending, ties by index: the first `count` are removed; returned sorted.
std::vector<std::int64_t> lowest(const std::vector<double>& score, std::int64_t count) {
  for (std::size_t i = 0; i < score.size(); ++i)  // a NaN has no rank: sorting it is undefined behaviour
    if (std::isnan(score[i]))
      throw NumericError(fmt::format("pruning: the importance of unit {} is nan (the calibration samples overflow the "
                                     "float model)", i));
  std::vector<std::int64_t> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::int64_t a, std::int64_t b) {
    return score[static_cast<std::size_t>(a)] < score[static_cast<std::size_t>(b)];
  });
  idx.resize(static_cast<std::size_t>(count));
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::string index_list(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i == 8) return s + fmt::format(", ... ({} in all)", v.size());
    s += (i ? ", " : "") + std::to_string(v[i]);
  }
  return s;
}

}  // namespace

Importance measure_importance(const Graph& g, const Structure& s, std::span<const std::vector<Tensor>> samples) {
  Importance imp;
  imp.heads.assign(s.attention.size(), {});
  imp.channels.assign(s.mlp.size(), {});
  for (std::size_t i = 0; i < s.attention.size(); ++i) imp.heads[i].assign(static_cast<std::size_t>(s.attention[i].heads), 0.0);
  for (std::size_t i = 0; i < s.mlp.size(); ++i) imp.channels[i].assign(static_cast<std::size_t>(s.mlp[i].channels), 0.0);
  // Squared norm of each row of a [K, N] weight.
  const auto row_norms = [](const Tensor& w) {
    std::vector<double> r(static_cast<std::size_t>(w.dim(0)), 0.0);
    for (std::int64_t k = 0; k < w.dim(0); ++k)
      for (std::int64_t n = 0; n < w.dim(1); ++n) r[static_cast<std::size_t>(k)] += double(w.data<float>()[k * w.dim(1) + n]) * w.data<float>()[k * w.dim(1) + n];
    return r;
  };
  if (samples.empty()) {  // magnitude fallback
    for (std::size_t i = 0; i < s.attention.size(); ++i) {
      const AttentionUnit& a = s.attention[i];
      const std::vector<double> r = row_norms(weight(g, a.proj));
      for (std::int64_t h = 0; h < a.heads; ++h)
        for (std::int64_t d = 0; d < a.head_dim; ++d) imp.heads[i][static_cast<std::size_t>(h)] += r[static_cast<std::size_t>(h * a.head_dim + d)];
    }
    for (std::size_t i = 0; i < s.mlp.size(); ++i) imp.channels[i] = row_norms(weight(g, s.mlp[i].down));
    return imp;
  }
  imp.measured = true;
  std::vector<ValueId> captures;
  const auto slot = [&](ValueId v) {
    for (std::size_t i = 0; i < captures.size(); ++i)
      if (captures[i] == v) return i;
    captures.push_back(v);
    return captures.size() - 1;
  };
  std::vector<std::size_t> ctx_slot, hid_slot, in_slot, out_slot;
  for (const AttentionUnit& a : s.attention) ctx_slot.push_back(slot(g.node(a.proj).inputs[0]));
  for (const MlpUnit& m : s.mlp) hid_slot.push_back(slot(g.node(m.up).outputs[0]));
  for (const BlockUnit& b : s.blocks) {
    in_slot.push_back(slot(b.input));
    out_slot.push_back(slot(b.output));
  }
  std::vector<std::vector<double>> down_norms;
  for (const MlpUnit& m : s.mlp) down_norms.push_back(row_norms(weight(g, m.down)));
  std::vector<double> cos_sum(s.blocks.size(), 0.0);
  std::int64_t tokens = 0;
  std::vector<std::vector<std::vector<double>>> head_mean(s.attention.size());  // sum over rows of ctx_h . W_h
  std::vector<std::vector<double>> channel_sum(s.mlp.size());                   // sum over rows of h_c
  std::vector<std::int64_t> head_rows(s.attention.size(), 0), channel_rows(s.mlp.size(), 0);
  for (std::size_t i = 0; i < s.attention.size(); ++i) head_mean[i].resize(static_cast<std::size_t>(s.attention[i].heads));
  for (std::size_t i = 0; i < s.mlp.size(); ++i) channel_sum[i].assign(static_cast<std::size_t>(s.mlp[i].channels), 0.0);
  run_captured(g, captures, samples, [&](const std::vector<Tensor>& outs) {
    for (std::size_t i = 0; i < s.attention.size(); ++i) {
      const AttentionUnit& a = s.attention[i];
      const Tensor& w = weight(g, a.proj);
      const std::int64_t hd = a.heads * a.head_dim, n = w.dim(1);
      const Tensor& ctx = outs[ctx_slot[i]];
      const std::int64_t rows = ctx.numel() / hd;
      head_rows[i] += rows;
      std::vector<double> y(static_cast<std::size_t>(n));
      for (std::int64_t t = 0; t < rows; ++t)
        for (std::int64_t h = 0; h < a.heads; ++h) {
          std::fill(y.begin(), y.end(), 0.0);
          for (std::int64_t d = 0; d < a.head_dim; ++d) {
            const std::int64_t k = h * a.head_dim + d;
            const double c = ctx.data<float>()[t * hd + k];
            const float* wr = w.data<float>() + k * n;
            for (std::int64_t j = 0; j < n; ++j) y[static_cast<std::size_t>(j)] += c * wr[j];
          }
          double sq = 0.0;
          for (double e : y) sq += e * e;
          imp.heads[i][static_cast<std::size_t>(h)] += sq;
          std::vector<double>& m = head_mean[i][static_cast<std::size_t>(h)];
          m.resize(static_cast<std::size_t>(n), 0.0);
          for (std::int64_t j = 0; j < n; ++j) m[static_cast<std::size_t>(j)] += y[static_cast<std::size_t>(j)];
        }
    }
    for (std::size_t i = 0; i < s.mlp.size(); ++i) {
      const Tensor& hid = outs[hid_slot[i]];
      const std::int64_t c = s.mlp[i].channels, rows = hid.numel() / c;
      channel_rows[i] += rows;
      for (std::int64_t t = 0; t < rows; ++t)
        for (std::int64_t j = 0; j < c; ++j) {
          const double v = hid.data<float>()[t * c + j];
          imp.channels[i][static_cast<std::size_t>(j)] += v * v * down_norms[i][static_cast<std::size_t>(j)];
          channel_sum[i][static_cast<std::size_t>(j)] += v;
        }
    }
    for (std::size_t i = 0; i < s.blocks.size(); ++i) {
      const Tensor& x = outs[in_slot[i]];
      const Tensor& y = outs[out_slot[i]];
      const std::int64_t e = x.dim(x.rank() - 1), rows = x.numel() / e;
      for (std::int64_t t = 0; t < rows; ++t) {
        double xy = 0.0, xx = 0.0, yy = 0.0;
        for (std::int64_t j = 0; j < e; ++j) {
          const double a = x.data<float>()[t * e + j], b = y.data<float>()[t * e + j];
          xy += a * b;
          xx += a * a;
          yy += b * b;
        }
        cos_sum[i] += (xx > 0.0 && yy > 0.0) ? xy / std::sqrt(xx * yy) : 1.0;
      }
      if (i == 0) tokens += rows;
    }
  });
  // Fluctuation: the second moment minus rows * |mean|^2, i.e. the summed squared deviation from the mean
  // contribution (what is lost when the unit is replaced by its mean, as bias correction does).
  imp.heads_fluctuation = imp.heads;
  imp.channels_fluctuation = imp.channels;
  for (std::size_t i = 0; i < s.attention.size(); ++i)
    for (std::size_t h = 0; h < head_mean[i].size(); ++h) {
      double m2 = 0.0;
      for (double v : head_mean[i][h]) m2 += v * v;
      imp.heads_fluctuation[i][h] =
          std::max(0.0, imp.heads[i][h] - m2 / static_cast<double>(std::max<std::int64_t>(head_rows[i], 1)));
    }
  for (std::size_t i = 0; i < s.mlp.size(); ++i)
    for (std::size_t c = 0; c < channel_sum[i].size(); ++c) {
      const double sum = channel_sum[i][c];
      imp.channels_fluctuation[i][c] = std::max(
          0.0, imp.channels[i][c] - sum * sum / static_cast<double>(std::max<std::int64_t>(channel_rows[i], 1)) *
                                        down_norms[i][c]);
    }
  imp.block_cosine.resize(s.blocks.size());
  for (std::size_t i = 0; i < s.blocks.size(); ++i) imp.block_cosine[i] = tokens > 0 ? cos_sum[i] / double(tokens) : 0.0;
  return imp;
}

PruneResult prune_graph(Graph& g, const Structure& s, const Importance& imp, const PruneOptions& o) {
  units_removed(o.heads, 2);  // range checks
  units_removed(o.mlp, 2);
  if (o.heads > 0.0 && s.attention.empty())
    throw UnsupportedError(fmt::format("--prune-heads {}: the model has no attention unit that can be pruned", o.heads));
  if (o.mlp > 0.0 && s.mlp.empty())
    throw UnsupportedError(fmt::format("--prune-mlp {}: the model has no MLP that can be pruned", o.mlp));
  if (o.blocks < 0 || (o.blocks > 0 && o.blocks >= static_cast<int>(s.blocks.size())))
    throw UsageError(fmt::format("--prune-blocks {}: the model has {} prunable blocks; at least one must stay",
                                 o.blocks, s.blocks.size()));
  PruneResult r;
  // Blocks: highest cosine first (measured), else lowest summed unit magnitude; ties: earlier block first.
  std::vector<double> block_score(s.blocks.size(), 0.0);
  for (std::size_t b = 0; b < s.blocks.size(); ++b) {
    if (imp.measured) {
      block_score[b] = -imp.block_cosine.at(b);
    } else {
      const BlockUnit& bu = s.blocks[b];
      for (double v : imp.heads.at(static_cast<std::size_t>(bu.attention))) block_score[b] += v;
      if (bu.mlp >= 0)
        for (double v : imp.channels.at(static_cast<std::size_t>(bu.mlp))) block_score[b] += v;
    }
  }
  const std::vector<std::int64_t> gone_blocks = lowest(block_score, o.blocks);
  std::vector<bool> attention_gone(s.attention.size(), false), mlp_gone(s.mlp.size(), false);
  for (std::int64_t b : gone_blocks) {
    const BlockUnit& bu = s.blocks[static_cast<std::size_t>(b)];
    attention_gone[static_cast<std::size_t>(bu.attention)] = true;
    if (bu.mlp >= 0) mlp_gone[static_cast<std::size_t>(bu.mlp)] = true;
  }
  // Blocks are addressed by value name: removing heads renumbers values.
  std::vector<std::pair<std::string, std::string>> block_values;
  for (const BlockUnit& b : s.blocks) block_values.emplace_back(g.value(b.input).name, g.value(b.output).name);

  for (std::size_t i = 0; i < s.attention.size(); ++i) {
    const AttentionUnit& a = s.attention[i];
    const std::int64_t n = units_removed(o.heads, a.heads);
    if (attention_gone[i] || n == 0) continue;
    const std::vector<std::int64_t> heads =
        lowest(o.rank_by_fluctuation && imp.measured ? imp.heads_fluctuation.at(i) : imp.heads.at(i), n);
    std::vector<std::int64_t> cols, keep_h;
    for (std::int64_t h = 0, j = 0; h < a.heads; ++h) {
      if (j < n && heads[static_cast<std::size_t>(j)] == h) {
        ++j;
        continue;
      }
      keep_h.push_back(h);
      for (std::int64_t d = 0; d < a.head_dim; ++d) cols.push_back(h * a.head_dim + d);
    }
    for (NodeId lin : {a.q, a.k, a.v}) r.kept_columns[g.node(lin).name] = cols;
    r.kept_rows[g.node(a.proj).name] = cols;
    r.pruned.push_back(fmt::format("{}: heads {} removed ({} of {}; {} x {} columns of q/k/v, rows of {})",
                                   g.node(a.attention).name, index_list(heads), n, a.heads, n, a.head_dim,
                                   g.node(a.proj).name));
    remove_heads(g, a, heads);
  }
  for (std::size_t i = 0; i < s.mlp.size(); ++i) {
    const MlpUnit& m = s.mlp[i];
    const std::int64_t n = units_removed(o.mlp, m.channels);
    if (mlp_gone[i] || n == 0) continue;
    const std::vector<std::int64_t> ch =
        lowest(o.rank_by_fluctuation && imp.measured ? imp.channels_fluctuation.at(i) : imp.channels.at(i), n);
    std::vector<std::int64_t> keep_c;
    for (std::int64_t c = 0, j = 0; c < m.channels; ++c) {
      if (j < n && ch[static_cast<std::size_t>(j)] == c) {
        ++j;
        continue;
      }
      keep_c.push_back(c);
    }
    r.kept_columns[g.node(m.up).name] = keep_c;
    r.kept_rows[g.node(m.down).name] = keep_c;
    r.pruned.push_back(fmt::format("{} -> {}: {} of {} hidden channels removed ({})", g.node(m.up).name,
                                   g.node(m.down).name, n, m.channels, index_list(ch)));
    remove_channels(g, m, ch);
  }
  if (!gone_blocks.empty()) {
    const std::size_t nodes_before = g.num_nodes();
    // Latest block first, so that a removed block's output that is the next removed block's input is
    // redirected once more to the earlier input.
    for (auto it = gone_blocks.rbegin(); it != gone_blocks.rend(); ++it) {
      const auto& [x, y] = block_values[static_cast<std::size_t>(*it)];
      g.replace_uses(g.find_value(y), g.find_value(x));
    }
    g.remove_dead();
    infer_shapes(g);
    verify(g, g.stage);
    for (std::int64_t b : gone_blocks) {
      const std::string line = fmt::format("block {} removed ({} -> {}; cosine of input and output {:.4f})", b,
                                           block_values[static_cast<std::size_t>(b)].first,
                                           block_values[static_cast<std::size_t>(b)].second,
                                           imp.measured ? imp.block_cosine[static_cast<std::size_t>(b)] : 0.0);
      r.removed_blocks.push_back(line);
      r.pruned.push_back(line);
    }
    r.pruned.push_back(fmt::format("blocks: {} nodes removed ({} -> {})", nodes_before - g.num_nodes(), nodes_before,
                                   g.num_nodes()));
  }
  return r;
}

std::map<std::string, double> correct_biases(Graph& g, const Graph& reference, const PruneResult& mapping,
                                             std::span<const std::vector<Tensor>> samples) {
  std::map<std::string, double> changes;
  if (samples.empty()) return changes;
  // Linear nodes of the reference by name.
  std::map<std::string, NodeId> ref_linear;
  for (std::size_t i = 0; i < reference.num_nodes(); ++i)
    if (reference.nodes()[i].kind == OpKind::Linear) ref_linear[reference.nodes()[i].name] = NodeId(static_cast<std::uint32_t>(i));
  // Linear depth of each node of g: 1 + the deepest corrected Linear upstream.
  std::vector<int> value_depth(g.num_values(), 0);
  std::map<int, std::vector<NodeId>> waves;
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    int d = 0;
    for (ValueId v : n.inputs)
      if (v.valid()) d = std::max(d, value_depth[v.index]);
    if (n.kind == OpKind::Linear && ref_linear.count(n.name) && g.is_constant(n.inputs.at(1))) {
      ++d;
      waves[d].push_back(id);
    }
    for (ValueId v : n.outputs)
      if (v.valid()) value_depth[v.index] = d;
  }
  // Mean of each row-vector of the inputs of `nodes` over all samples and positions.
  const auto mean_inputs = [&](const Graph& graph, const std::vector<NodeId>& nodes) {
    std::vector<ValueId> captures;
    for (NodeId n : nodes) captures.push_back(graph.node(n).inputs[0]);
    std::vector<std::vector<double>> sums(nodes.size());
    std::vector<std::int64_t> rows(nodes.size(), 0);
    run_captured(graph, captures, samples, [&](const std::vector<Tensor>& outs) {
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const std::int64_t k = weight(graph, nodes[i]).dim(0), r = outs[i].numel() / k;
        sums[i].resize(static_cast<std::size_t>(k), 0.0);
        for (std::int64_t t = 0; t < r; ++t)
          for (std::int64_t j = 0; j < k; ++j) sums[i][static_cast<std::size_t>(j)] += outs[i].data<float>()[t * k + j];
        rows[i] += r;
      }
    });
    for (std::size_t i = 0; i < nodes.size(); ++i)
      for (double& v : sums[i]) v /= static_cast<double>(std::max<std::int64_t>(rows[i], 1));
    return sums;
  };
  // Mean pre-activation output x.W + b of a Linear given its mean input.
  const auto pre_activation = [](const Graph& graph, NodeId lin, const std::vector<double>& mx) {
    const Tensor& w = weight(graph, lin);
    const std::int64_t k = w.dim(0), n = w.dim(1);
    const Node& node = graph.node(lin);
    std::vector<double> y(static_cast<std::size_t>(n), 0.0);
    if (node.inputs.size() > 2 && node.inputs[2].valid())
      for (std::int64_t j = 0; j < n; ++j) y[static_cast<std::size_t>(j)] = graph.value(node.inputs[2]).constant->data<float>()[j];
    for (std::int64_t r = 0; r < k; ++r)
      for (std::int64_t j = 0; j < n; ++j) y[static_cast<std::size_t>(j)] += mx[static_cast<std::size_t>(r)] * w.data<float>()[r * n + j];
    return y;
  };
  std::vector<NodeId> ref_nodes;
  for (const auto& [name, id] : ref_linear) ref_nodes.push_back(id);
  const std::vector<std::vector<double>> ref_mean = mean_inputs(reference, ref_nodes);
  std::map<std::string, std::vector<double>> ref_pre;
  for (std::size_t i = 0; i < ref_nodes.size(); ++i)
    ref_pre[reference.node(ref_nodes[i]).name] = pre_activation(reference, ref_nodes[i], ref_mean[i]);

  for (const auto& [depth, nodes] : waves) {
    const std::vector<std::vector<double>> mean = mean_inputs(g, nodes);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const NodeId lin = nodes[i];
      const std::string name = g.node(lin).name;
      const std::vector<double> cur = pre_activation(g, lin, mean[i]);
      const std::vector<double>& target = ref_pre.at(name);
      const auto kc = mapping.kept_columns.find(name);
      const std::int64_t n = weight(g, lin).dim(1);
      Tensor bias(DType::f32, {n});
      Node& node = g.node(lin);
      const bool has_bias = node.inputs.size() > 2 && node.inputs[2].valid();
      double total = 0.0;
      for (std::int64_t j = 0; j < n; ++j) {
        const std::size_t src = kc != mapping.kept_columns.end() ? static_cast<std::size_t>(kc->second.at(static_cast<std::size_t>(j)))
                                                                 : static_cast<std::size_t>(j);
        const double old = has_bias ? g.value(node.inputs[2]).constant->data<float>()[j] : 0.0;
        const double delta = target.at(src) - cur[static_cast<std::size_t>(j)];
        bias.data<float>()[j] = static_cast<float>(old + delta);
        total += std::fabs(delta);
      }
      const std::string bias_name = fmt::format("{}.bias.corrected", name);
      const ValueId b = g.add_constant(bias_name, std::move(bias));
      Node& nd = g.node(lin);
      if (nd.inputs.size() < 3) nd.inputs.resize(3);
      nd.inputs[2] = b;
      changes[name] = total / static_cast<double>(n);
    }
  }
  g.remove_dead();
  infer_shapes(g);
  verify(g, g.stage);
  return changes;
}

void fake_quantize_weights(Graph& g, int bits, const std::map<std::string, int>& bits_of, std::int64_t group,
                           const std::map<std::string, std::int64_t>& group_of) {
  for (std::size_t i = 0; i < g.num_nodes(); ++i) {
    const Node& n = g.nodes()[i];
    if (n.kind != OpKind::Linear || !g.is_constant(n.inputs.at(1))) continue;
    const auto it = bits_of.find(n.name);
    const int b = it != bits_of.end() ? it->second : bits;
    if (b < 2 || b > 8) throw UsageError(fmt::format("weight bits {} of '{}' outside 2..8", b, n.name));
    const float qmax = static_cast<float>((1 << (b - 1)) - 1);
    Tensor w = *g.value(n.inputs[1]).constant;
    const std::int64_t k = w.dim(0), cols = w.dim(1);
    const auto git = group_of.find(n.name);
    const std::int64_t gs = git != group_of.end() ? git->second : group;
    if (gs > 0 && gs != k) {  // grouped steps: the quantizer's own levels times steps
      const ValueId id = g.add_constant(g.value(n.inputs[1]).name + ".wq", fake_quantize_weight(w, b, gs));
      g.node(NodeId(static_cast<std::uint32_t>(i))).inputs[1] = id;
      continue;
    }
    float* p = w.data<float>();
    for (std::int64_t c = 0; c < cols; ++c) {
      float mx = 0.0f;
      for (std::int64_t r = 0; r < k; ++r) mx = std::max(mx, std::fabs(p[r * cols + c]));
      const float step = mx / qmax;
      for (std::int64_t r = 0; r < k; ++r) p[r * cols + c] = step > 0.0f ? std::round(p[r * cols + c] / step) * step : 0.0f;
    }
    const ValueId id = g.add_constant(g.value(n.inputs[1]).name + ".wq", std::move(w));
    g.node(NodeId(static_cast<std::uint32_t>(i))).inputs[1] = id;
  }
  g.remove_dead();
}

}  // namespace snnconv::prune
