// Hierarchy and sensitivity of mixed precision (mixed_precision.hpp, docs/compression.md).
#include "snnconv/converter/mixed_precision.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv {

std::string_view unit_level_name(UnitLevel level) {
  switch (level) {
    case UnitLevel::model: return "model";
    case UnitLevel::block: return "block";
    case UnitLevel::sublayer: return "sublayer";
    case UnitLevel::tensor: return "tensor";
  }
  return "?";
}

namespace {

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : name) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

std::string join(const std::vector<std::string>& parts, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n && i < parts.size(); ++i) s += (i ? "/" : "") + parts[i];
  return s;
}

bool is_block_part(const std::string& p) {
  static const std::regex re("[A-Za-z_][A-Za-z0-9_]*\\.[0-9]+");
  return std::regex_match(p, re);
}

// The sub-layer role of the module path below a block: "attn", "mlp" or "" (unknown).
std::string role_of(const std::vector<std::string>& below) {
  static const std::set<std::string> attn{"attn", "attention", "self_attn", "q", "k", "v", "qkv",
                                          "proj", "o_proj", "out_proj", "q_proj", "k_proj", "v_proj"};
  static const std::set<std::string> mlp{"mlp", "ffn", "fc1", "fc2", "up", "down", "gate",
                                         "up_proj", "down_proj", "gate_proj"};
  for (const std::string& p : below) {
    if (attn.count(p)) return "attn";
    if (mlp.count(p)) return "mlp";
  }
  return "";
}

std::int64_t weight_params(const Graph& g, const Node& n) {
  const Value& w = g.value(n.inputs.at(1));
  return w.constant ? w.constant->numel() : 0;
}

}  // namespace

std::vector<PrecisionUnit> hierarchy_units(const Graph& canonical, const std::vector<std::string>& linears) {
  std::map<std::string, const Node*> by_name;
  for (const Node& n : canonical.nodes())
    if (n.kind == OpKind::Linear) by_name[n.name] = &n;
  PrecisionUnit model{"model", UnitLevel::model, {}, 0};
  std::vector<PrecisionUnit> blocks, subs, tensors;
  auto add_to = [](std::vector<PrecisionUnit>& level, const std::string& name, UnitLevel lv, const std::string& member,
                   std::int64_t params) {
    auto it = std::find_if(level.begin(), level.end(), [&](const PrecisionUnit& u) { return u.name == name; });
    if (it == level.end()) {
      level.push_back({name, lv, {}, 0});
      it = level.end() - 1;
    }
    it->members.push_back(member);
    it->params += params;
  };
  for (const std::string& name : linears) {
    const auto found = by_name.find(name);
    if (found == by_name.end()) throw GraphError("mixed precision: no Linear named '" + name + "'", {"", name, "", ""});
    const std::int64_t params = weight_params(canonical, *found->second);
    model.members.push_back(name);
    model.params += params;
    tensors.push_back({name, UnitLevel::tensor, {name}, params});
    std::vector<std::string> parts = split_path(name);
    if (parts.size() > 1) parts.pop_back();  // the op (MatMul, Gemm): the module path remains
    std::size_t b = parts.size();
    for (std::size_t i = 0; i < parts.size(); ++i)
      if (is_block_part(parts[i])) {
        b = i;
        break;
      }
    if (b == parts.size()) {  // outside every block: the first part is the sub-layer
      add_to(subs, parts.empty() ? name : parts[0], UnitLevel::sublayer, name, params);
      continue;
    }
    const std::string block = join(parts, b + 1);
    add_to(blocks, block, UnitLevel::block, name, params);
    const std::vector<std::string> below(parts.begin() + static_cast<std::ptrdiff_t>(b) + 1, parts.end());
    std::string role = role_of(below);
    if (role.empty()) role = below.empty() ? "self" : below[0];
    add_to(subs, block + "/" + role, UnitLevel::sublayer, name, params);
  }
  std::vector<PrecisionUnit> out{model};
  for (auto* level : {&blocks, &subs, &tensors}) out.insert(out.end(), level->begin(), level->end());
  return out;
}

Tensor fake_quantize_weight(const Tensor& weight, int bits, std::int64_t group) {
  if (weight.rank() != 2) throw ShapeError("fake_quantize_weight: the weight must be [K, N], got " + shape_to_string(weight.shape()));
  if (bits < 2 || bits > 8) throw UsageError(fmt::format("weight bits must be in 2..8, got {}", bits));
  const std::int64_t k = weight.dim(0), n = weight.dim(1);
  // The levels and steps of quantize_skeleton, then level times step.
  WeightLevels q = quantize_weight(weight, bits, group == k ? 0 : group, "fake_quantize_weight");
  const std::int64_t rows = q.quant.group_size > 0 ? q.quant.group_size : k;
  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t j = 0; j < n; ++j) {
      float& x = q.levels[static_cast<std::size_t>(r * n + j)];
      x = x * q.quant.scale[static_cast<std::size_t>((r / rows) * n + j)];
    }
  return Tensor::from_vector<float>({k, n}, std::move(q.levels));
}

double mean_row_kl(const Tensor& p_logits, const Tensor& q_logits) {
  if (p_logits.shape() != q_logits.shape() || p_logits.rank() < 1)
    throw ShapeError("KL: logits of shapes " + shape_to_string(p_logits.shape()) + " and " +
                     shape_to_string(q_logits.shape()) + " do not match");
  const std::vector<float> p = p_logits.to_f32(), q = q_logits.to_f32();
  for (const std::vector<float>* x : {&p, &q})  // a NaN KL would be a sensitivity no allocation can rank
    for (std::size_t i = 0; i < x->size(); ++i)
      if (!std::isfinite((*x)[i]))
        throw NumericError(fmt::format("sensitivity: the {} model's output {} is not finite ({}) on a calibration "
                                       "sample", x == &p ? "float" : "quantized", i, (*x)[i]));
  const auto cols = static_cast<std::size_t>(p_logits.dim(p_logits.rank() - 1));
  if (cols == 0) return 0.0;
  const std::size_t rows = p.size() / cols;
  double total = 0.0;
  std::vector<double> lp(cols), lq(cols);
  for (std::size_t r = 0; r < rows; ++r) {
    const auto log_softmax = [&](const std::vector<float>& x, std::vector<double>& out) {
      double m = -INFINITY;
      for (std::size_t c = 0; c < cols; ++c) m = std::max(m, static_cast<double>(x[r * cols + c]));
      double z = 0.0;
      for (std::size_t c = 0; c < cols; ++c) z += std::exp(static_cast<double>(x[r * cols + c]) - m);
      const double lz = m + std::log(z);
      for (std::size_t c = 0; c < cols; ++c) out[c] = static_cast<double>(x[r * cols + c]) - lz;
    };
    log_softmax(p, lp);
    log_softmax(q, lq);
    double kl = 0.0;
    for (std::size_t c = 0; c < cols; ++c) kl += std::exp(lp[c]) * (lp[c] - lq[c]);
    total += std::max(kl, 0.0);
  }
  return total / static_cast<double>(rows);
}

namespace {

void check_samples(const Graph& g, std::span<const std::vector<Tensor>> samples) {
  if (samples.empty()) throw UsageError("sensitivity needs at least one calibration sample");
  for (std::size_t si = 0; si < samples.size(); ++si) {
    if (samples[si].size() != g.inputs().size())
      throw ShapeError(fmt::format("calibration sample {} has {} inputs; the model has {}", si, samples[si].size(),
                                   g.inputs().size()));
    for (std::size_t i = 0; i < g.inputs().size(); ++i) {
      const Value& v = g.value(g.inputs()[i]);
      const Tensor& t = samples[si][i];
      if (t.dtype() != v.type.dtype || t.shape() != v.type.static_shape())
        throw ShapeError(fmt::format("calibration sample {}: input '{}' is {}{}, the model wants {}", si, v.name,
                                     dtype_name(t.dtype()), shape_to_string(t.shape()), type_to_string(v.type)),
                         {"", "", "", v.name});
    }
  }
}

// First graph output of every sample.
std::vector<Tensor> run_all(const Graph& g, std::span<const std::vector<Tensor>> samples, int threads) {
  ann::EngineOptions eo;
  eo.threads = threads;
  eo.fill_ledger = false;
  ann::Engine engine(g, eo);
  std::vector<Tensor> out;
  out.reserve(samples.size());
  for (const std::vector<Tensor>& s : samples) out.push_back(engine.run(s).at(0));
  return out;
}

double mean_kl(const std::vector<Tensor>& ref, const std::vector<Tensor>& got) {
  double s = 0.0;
  for (std::size_t i = 0; i < ref.size(); ++i) s += mean_row_kl(ref[i], got[i]);
  return s / static_cast<double>(ref.size());
}

}  // namespace

SensitivityTable weight_sensitivity(const Graph& canonical, const std::vector<PrecisionUnit>& units,
                                    std::span<const std::vector<Tensor>> samples, const SensitivityOptions& o) {
  check_samples(canonical, samples);
  Graph g = canonical;
  std::map<std::string, ValueId> weight_of;  // Linear name -> its weight value
  for (const Node& n : g.nodes())
    if (n.kind == OpKind::Linear) weight_of[n.name] = n.inputs.at(1);
  const std::vector<Tensor> ref = run_all(g, samples, o.threads);
  SensitivityTable table(units.size());
  std::map<std::pair<std::vector<std::string>, int>, double> measured;  // member set, bits -> KL
  for (std::size_t u = 0; u < units.size(); ++u) {
    std::vector<std::string> key = units[u].members;
    std::sort(key.begin(), key.end());
    for (int bits : o.bits) {
      const auto hit = measured.find({key, bits});
      if (hit != measured.end()) {
        table[u][bits] = hit->second;
        continue;
      }
      std::vector<std::pair<ValueId, Tensor>> saved;
      for (const std::string& m : units[u].members) {
        const auto it = weight_of.find(m);
        if (it == weight_of.end()) throw UsageError("sensitivity: the model has no Linear named '" + m + "'");
        Value& w = g.value(it->second);
        if (!w.constant) throw UnsupportedError("sensitivity: the weight of Linear '" + m + "' is not a constant");
        saved.emplace_back(it->second, *w.constant);
        w.constant = fake_quantize_weight(*w.constant, bits, o.group_of(m));
      }
      const double kl = mean_kl(ref, run_all(g, samples, o.threads));
      for (auto& [v, t] : saved) g.value(v).constant = std::move(t);
      measured[{key, bits}] = kl;
      table[u][bits] = kl;
    }
  }
  return table;
}

double allocation_kl(const Graph& canonical, const std::map<std::string, int>& bits_of,
                     std::span<const std::vector<Tensor>> samples, const SensitivityOptions& o) {
  check_samples(canonical, samples);
  Graph g = canonical;
  const std::vector<Tensor> ref = run_all(g, samples, o.threads);
  std::set<std::string> done;
  for (const Node& n : g.nodes()) {
    const auto it = bits_of.find(n.name);
    if (n.kind != OpKind::Linear || it == bits_of.end()) continue;
    Value& w = g.value(n.inputs.at(1));
    if (!w.constant) throw UnsupportedError("allocation: the weight of Linear '" + n.name + "' is not a constant");
    w.constant = fake_quantize_weight(*w.constant, it->second, o.group_of(n.name));
    done.insert(n.name);
  }
  for (const auto& [name, bits] : bits_of)
    if (!done.count(name)) throw UsageError("allocation: the model has no Linear named '" + name + "'");
  return mean_kl(ref, run_all(g, samples, o.threads));
}

std::vector<PrecisionUnit> activation_blocks(const QannSkeleton& sk) {
  std::vector<PrecisionUnit> out;
  for (const QuantPoint& p : sk.points) {
    const std::vector<std::string> parts = split_path(p.name);
    std::string name = p.name;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i)
      if (is_block_part(parts[i])) {
        name = join(parts, i + 1);
        break;
      }
    auto it = std::find_if(out.begin(), out.end(), [&](const PrecisionUnit& u) { return u.name == name; });
    if (it == out.end()) {
      out.push_back({name, name == p.name ? UnitLevel::tensor : UnitLevel::block, {}, 0});
      it = out.end() - 1;
    }
    it->members.push_back(p.name);
    it->params += 1;
  }
  return out;
}

SensitivityTable activation_sensitivity(const QannSkeleton& sk, const Calibration& cal,
                                        std::span<const std::vector<Tensor>> samples, const QuantizeOptions& quant,
                                        const SensitivityOptions& o, std::vector<PrecisionUnit>& units) {
  units.clear();
  for (const QuantPoint& p : sk.points) {
    const ValueId v = sk.graph.find_value(p.name);
    std::int64_t elems = 1;
    for (const Dim& d : sk.graph.value(v).type.dims) elems *= d.value;
    units.push_back({p.name, UnitLevel::tensor, {p.name}, elems});
  }
  return activation_unit_sensitivity(sk, cal, samples, quant, o, units);
}

SensitivityTable activation_unit_sensitivity(const QannSkeleton& sk, const Calibration& cal,
                                             std::span<const std::vector<Tensor>> samples,
                                             const QuantizeOptions& quant, const SensitivityOptions& o,
                                             const std::vector<PrecisionUnit>& units) {
  check_samples(sk.graph, samples);
  std::map<std::string, const QuantPoint*> point_of;
  for (const QuantPoint& p : sk.points) point_of[p.name] = &p;
  const auto stats_of = [&](const QuantPoint& p) -> const PointStats& {
    const auto st = cal.points.find(p.name);
    if (st == cal.points.end() || st->second.seen == 0)
      throw UsageError("quantization point '" + p.name + "' has no calibration statistics");
    return st->second;
  };
  const auto params_at = [&](const QuantPoint& p, int bits) { return activation_params(p, stats_of(p), bits, quant); };
  // The skeleton with the FakeQuant of `keep` only (every other one bypassed, context 0) or with every point
  // at the context bits.
  const auto base_graph = [&](const std::vector<std::string>& keep) {
    Graph g = sk.graph;
    if (o.context_bits > 0) {
      for (const QuantPoint& p : sk.points) g.value(g.find_value(p.name)).quant = params_at(p, o.context_bits);
      return g;
    }
    for (const Node& n : g.nodes()) {
      if (n.kind != OpKind::FakeQuant ||
          std::find(keep.begin(), keep.end(), g.value(n.outputs[0]).name) != keep.end())
        continue;
      g.replace_uses(n.outputs[0], n.inputs[0]);
    }
    g.remove_dead();
    return g;
  };
  std::vector<Tensor> ref;
  {
    Graph g = sk.graph;  // float: every FakeQuant bypassed
    for (const Node& n : g.nodes())
      if (n.kind == OpKind::FakeQuant) g.replace_uses(n.outputs[0], n.inputs[0]);
    g.remove_dead();
    ref = run_all(g, samples, o.threads);
  }
  SensitivityTable table;
  const Graph context = o.context_bits > 0 ? base_graph({}) : Graph();
  for (const PrecisionUnit& u : units) {
    Graph g = o.context_bits > 0 ? context : base_graph(u.members);
    std::map<int, double> row;
    for (int bits : o.bits) {
      for (const std::string& m : u.members) {
        const auto it = point_of.find(m);
        if (it == point_of.end()) throw UsageError("activation sensitivity: no quantization point named '" + m + "'");
        g.value(g.find_value(m)).quant = params_at(*it->second, bits);
      }
      row[bits] = mean_kl(ref, run_all(g, samples, o.threads));
    }
    table.push_back(std::move(row));
  }
  return table;
}

}  // namespace snnconv
