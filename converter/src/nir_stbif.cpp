// The converter's SNN as NIR nodes (nir_export.hpp; docs/nir.md, "The ST-BIF neuron in NIR").
//
// The engine evaluates an ST-BIF population in its integer form: target = quantize_level(f(X)) from the
// current X, and a neuron whose count differs from its target moves it by one (+1 or -1 spike) per step. For a
// synaptic input X = linear_value(acc) of an exact integer accumulator; for the prologue X is a float current.
// Both are monotone in acc (X), so "target >= m" is "acc >= T_m" for one integer (float) boundary T_m per level
// m, found here by bisection on the very function the engine calls (the bias, the s/2 start of the membrane,
// the rounding of every float step and a folded ReLU are inside T_m). NIR nodes per population, with G_m the
// level indicators:
//
//   P.level<m>  Threshold(T_m - 1/2) on acc          G_m = [acc >= T_m], m = 1..L (L = n_max - n_min)
//   P.m         Scale(1) of sum_m G_m and P.count_neg (recurrent: previous step)  M = level - n_min - count
//   P.up        Threshold(1/2 - n_min) on M           +1 spike when the level is above the count
//   P.m_neg     Scale(-1) of M;  P.down  Threshold(n_min + 1/2) on -M   -1 spike when it is below
//   P.down_neg  Scale(-1) of P.down;  P.spike  Scale(1) of P.up and P.down_neg    the signed spike (+1, 0, -1)
//   P.count     Integrator(r = 1) of P.spike;  P.count_neg  Scale(-1) of P.count
//
// Every cycle passes through P.m and enters it by the edge P.count_neg -> P.m, so a simulator that walks the
// graph from its input (ours, nirtorch) delays exactly that edge by one step. With dt = 1 the Integrator adds
// its input; every signal is a small integer (exact in float32 below 2^23), so the spikes are the engine's.
#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/nir_export.hpp"
#include "snnconv/core/attrs.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/op.hpp"

namespace snnconv::nir_export {

namespace {

constexpr std::int64_t kExactBound = std::int64_t{1} << 23;  // |integer| below it: n and n +- 1/2 exact in float32
constexpr std::int64_t kMaxBoundaries = 255;                 // Threshold nodes per population (8-bit levels)

nir::Param f32_param(std::string name, Shape shape, std::vector<double> values) {
  return nir::Param{std::move(name), nir::ParamType::f32, std::move(shape), std::move(values)};
}
nir::Param i64_param(std::string name, std::vector<double> values) {
  Shape s{static_cast<std::int64_t>(values.size())};
  return nir::Param{std::move(name), nir::ParamType::i64, std::move(s), std::move(values)};
}

// Ordered keys of finite floats: key(a) < key(b) iff a < b (both zeros share key 0).
std::int32_t float_key(float f) {
  const auto bits = std::bit_cast<std::int32_t>(f);
  return bits >= 0 ? bits : -(bits & 0x7fffffff);
}
float key_float(std::int32_t k) {
  return k >= 0 ? std::bit_cast<float>(k) : std::bit_cast<float>(static_cast<std::int32_t>(0x80000000u | static_cast<std::uint32_t>(-k)));
}

// Smallest x in [lo, hi] with level(x) >= m (level non-decreasing), or hi + 1 when none.
template <class Level>
std::int64_t first_reaching(std::int64_t lo, std::int64_t hi, std::int32_t m, const Level& level) {
  if (level(hi) < m) return hi + 1;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (level(mid) >= m) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// How a value of the SNN graph lies in NIR: [1, C] as a vector [C]; [1, R, C] (R rows of C channels, a
// token-wise layer's operand) channel-major as [C, R], so that a token-wise Linear is a Conv1d of kernel 1.
// Element (c, r) of NIR is element (r, c) of snnconv.
struct Layout {
  std::int64_t c = 0, r = 1;
  Shape nir_shape() const { return r == 1 ? Shape{c} : Shape{c, r}; }
  std::int64_t numel() const { return c * r; }
  // Per-channel values repeated over the rows, in NIR's element order.
  std::vector<double> per_channel(const std::vector<double>& v) const {
    std::vector<double> out(static_cast<std::size_t>(c * r));
    for (std::int64_t i = 0; i < c; ++i)
      for (std::int64_t j = 0; j < r; ++j) out[static_cast<std::size_t>(i * r + j)] = v[static_cast<std::size_t>(i)];
    return out;
  }
};

// What feeds a population: the graph input itself, the prologue Linear's float current, or a synaptic layer's
// integer accumulator.
struct Current {
  enum class Kind { input, prologue, synapse } kind = Kind::input;
  std::string node;  // NIR node whose output is the current (Input, the prologue Affine, the accumulator)
  Activation pre = Activation::none;  // the prologue Linear's own activation
  // synapse: linear_value(acc, s_in, step[n], bias[n]) with acc in [lo[n], hi[n]]
  float s_in = 1;
  std::vector<float> step, bias;
  std::vector<std::int64_t> lo, hi;
  std::int64_t settle = 0;  // steps until the input population is quiescent
  Layout layout;
};

Current make_current(Current::Kind kind, std::string node) {
  Current c;
  c.kind = kind;
  c.node = std::move(node);
  return c;
}

struct Population {
  std::string spike, count;  // NIR nodes: the signed spikes, the count
  float s = 1;
  std::int32_t n_min = 0, n_max = 0;
  std::int64_t settle = 0;
  Layout layout;
};

class Builder {
 public:
  // `members`: the nodes to write (empty: the whole graph, which must then be writable as one NIR graph).
  // `only_output`: in a subgraph, the one value written as its Output (others leaving it are not written).
  Builder(const Graph& g, const std::string& file, std::vector<NodeId> members = {},
          std::optional<std::uint32_t> only_output = std::nullopt)
      : g_(g), file_(file), members_(std::move(members)), only_output_(only_output) {}

  NirExport run() {
    std::vector<Inexpressible> bad = inexpressible_nodes(g_);
    if (g_.inputs().size() != 1 || g_.outputs().size() != 1)
      bad.push_back({"(graph)", "graph", fmt::format("{} inputs and {} outputs; the NIR graph has one Input and one Output",
                                                     g_.inputs().size(), g_.outputs().size())});
    if (!bad.empty()) refuse(bad, file_);
    const Value& in = g_.value(g_.inputs()[0]);
    const Shape in_shape = in.type.static_shape();
    if (in_shape.size() != 2 || in_shape[0] != 1)
      bad.push_back({"(graph)", "graph", "input '" + in.name + "' is " + shape_to_string(in_shape) +
                                             "; the export writes one sample of features [1, F]"});
    else
      out_.input_features = in_shape[1];
    if (!bad.empty()) refuse(bad, file_);
    input_ = unique("input");
    add_node(input_, nir::NodeType::Input, {i64_param("shape", {static_cast<double>(in_shape[1])})});
    Current in_current = make_current(Current::Kind::input, input_);
    in_current.layout = Layout{in_shape[1], 1};
    currents_[g_.inputs()[0].index] = std::move(in_current);
    for (NodeId id : g_.topological_order()) {
      const Node& n = g_.node(id);
      try {
        write(n);
      } catch (const UnsupportedError& e) {
        bad.push_back({n.name, std::string(op_name(n.kind)), e.message()});
      }
    }
    if (bad.empty()) output();
    if (!bad.empty()) refuse(bad, file_);
    return std::move(out_);
  }

  // One subgraph: values entering `members_` from outside become Input nodes, values leaving it (read outside
  // or graph outputs) Output nodes; `cuts` receives both.
  NirExport run_subgraph(std::vector<NirCut>& cuts) {
    std::set<std::uint32_t> inside;
    for (NodeId id : members_) inside.insert(id.index);
    for (NodeId id : members_) write(g_.node(id), &cuts);
    const auto consumers = g_.consumers();
    std::set<std::uint32_t> graph_out;
    for (ValueId v : g_.outputs()) graph_out.insert(v.index);
    for (NodeId id : members_) {
      const ValueId v = g_.node(id).outputs[0];
      if (only_output_ && *only_output_ != v.index) continue;
      std::vector<std::string> readers;
      for (NodeId c : consumers[v.index])
        if (!inside.count(c.index)) readers.push_back(g_.node(c).name);
      if (graph_out.count(v.index)) readers.push_back("(graph output)");
      if (readers.empty()) continue;
      NirCut cut;
      cut.value = g_.value(v).name;
      cut.direction = "out";
      cut.other = readers;
      cut.node = unique("out_" + cut.value);
      if (const auto p = populations_.find(v.index); p != populations_.end()) {
        cut.kind = "spikes";  // the population's signed spikes (+1, 0, -1) at every step
        add_node(cut.node, nir::NodeType::Output, {i64_param("shape", shape_values(p->second.layout))});
        edge(p->second.spike, cut.node);
      } else {
        cut.kind = "current";
        const std::string src = readout(currents_.at(v.index), g_.value(v).name);
        add_node(cut.node, nir::NodeType::Output, {i64_param("shape", shape_values(currents_.at(v.index).layout))});
        edge(src, cut.node);
      }
      cut.shape = currents_.count(v.index) ? currents_.at(v.index).layout.nir_shape() : populations_.at(v.index).layout.nir_shape();
      cuts.push_back(std::move(cut));
    }
    return std::move(out_);
  }

 private:
  static std::vector<double> shape_values(const Layout& l) {
    const Shape s = l.nir_shape();
    return std::vector<double>(s.begin(), s.end());
  }

  void write(const Node& n, std::vector<NirCut>* cuts = nullptr) {
    switch (n.kind) {
      case OpKind::Linear: prologue(n, cuts); break;
      case OpKind::SynapseLinear: synapse(n, cuts); break;
      case OpKind::SpikeNeuron: population(n, cuts); break;
      default: fail(n, "not written by the NIR export (only the prologue Linear, SynapseLinear and ST-BIF populations)");
    }
  }

  [[noreturn]] void fail(const Node& n, const std::string& why) const {
    throw UnsupportedError(why, ErrorContext{file_, n.name, std::string(op_name(n.kind)), {}});
  }

  std::string unique(std::string base) {
    for (char& c : base)
      if (c == '/' || c == '.' || c == ' ') c = '_';
    while (!base.empty() && base.front() == '_') base.erase(base.begin());
    if (base.empty()) base = "node";
    std::string name = base;
    for (int k = 2; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    return name;
  }
  void add_node(const std::string& name, nir::NodeType t, std::vector<nir::Param> params) {
    out_.graph.nodes.push_back(nir::Node{name, t, std::move(params)});
  }
  void edge(const std::string& a, const std::string& b) { out_.graph.edges.push_back(nir::Edge{a, b}); }

  // The NIR layout of a value: batch 1, then one row of C or R rows of C.
  Layout layout(const Node& n, ValueId v) const {
    const Shape s = g_.value(v).type.static_shape();
    if (s.size() == 2 && s[0] == 1) return Layout{s[1], 1};
    if (s.size() == 3 && s[0] == 1) return Layout{s[2], s[1]};
    fail(n, "value '" + g_.value(v).name + "' is " + shape_to_string(s) + "; the export writes [1, C] and [1, R, C]");
  }

  // A value produced outside the written nodes: a cut, an Input node of the NIR graph.
  std::string cut_input(const Node& n, ValueId v, const Layout& l, const char* kind, std::vector<NirCut>* cuts) {
    if (!cuts) fail(n, "its input '" + g_.value(v).name + "' is not written as NIR");
    NirCut cut;
    cut.value = g_.value(v).name;
    cut.direction = "in";
    cut.kind = kind;
    const NodeId p = g_.value(v).producer;
    cut.other = {p.valid() ? g_.node(p).name : "(graph input)"};
    cut.node = unique("in_" + cut.value);
    cut.shape = l.nir_shape();
    add_node(cut.node, nir::NodeType::Input, {i64_param("shape", shape_values(l))});
    cuts->push_back(cut);
    return cut.node;
  }

  void prologue(const Node& n, std::vector<NirCut>* cuts) {
    if (n.inputs[0] != g_.inputs()[0] || cuts)
      fail(n, "a Linear outside the prologue (on the graph input) is not written; SynapseLinear is");
    const Value& wv = g_.value(n.inputs[1]);
    if (!wv.constant || (n.inputs.size() > 2 && n.inputs[2].valid() && !g_.is_constant(n.inputs[2])))
      fail(n, "the prologue Linear's weight and bias must be constants");
    const Activation pre = std::get<LinearAttrs>(n.attrs).activation;
    if (pre != Activation::none && pre != Activation::relu)
      fail(n, "the prologue Linear's folded " + std::string(activation_name(pre)) + " is not monotone");
    const Layout li = layout(n, n.inputs[0]), lo = layout(n, n.outputs[0]);
    if (li.r != 1 || lo.r != 1) fail(n, "the prologue Linear must read one row of features");
    const std::int64_t k = li.c, out = lo.c;
    const std::vector<float> w = wv.constant->to_f32();  // [K][N]
    std::vector<double> wt(static_cast<std::size_t>(out * k)), b(static_cast<std::size_t>(out), 0.0);
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t o = 0; o < out; ++o) wt[static_cast<std::size_t>(o * k + i)] = w[static_cast<std::size_t>(i * out + o)];
    if (n.inputs.size() > 2 && n.inputs[2].valid()) {
      const std::vector<float> bv = g_.value(n.inputs[2]).constant->to_f32();
      for (std::size_t o = 0; o < b.size(); ++o) b[o] = bv[o];
    }
    const std::string name = unique(n.name);
    add_node(name, nir::NodeType::Affine, {f32_param("weight", {out, k}, std::move(wt)), f32_param("bias", {out}, std::move(b))});
    edge(input_, name);
    ++out_.synaptic_layers;
    Current c = make_current(Current::Kind::prologue, name);
    c.pre = pre;
    c.layout = lo;
    currents_[n.outputs[0].index] = std::move(c);
  }

  const Population& population_of(const Node& n, ValueId v, std::vector<NirCut>* cuts) {
    auto it = populations_.find(v.index);
    if (it != populations_.end()) return it->second;
    const Value& val = g_.value(v);
    if (!cuts || !val.quant || !val.quant->per_tensor())
      fail(n, "input '" + val.name + "' is not an ST-BIF population");
    // Spikes of a population written elsewhere: an Input of signed spikes, with that population's step.
    Population p;
    p.layout = layout(n, v);
    p.spike = cut_input(n, v, p.layout, "spikes", cuts);
    p.s = val.quant->scale[0];
    p.n_min = val.quant->n_min;
    p.n_max = val.quant->n_max;
    return populations_[v.index] = std::move(p);
  }

  void synapse(const Node& n, std::vector<NirCut>* cuts) {
    const ann::IntWeights iw = ann::int_weights(g_.value(n.inputs[1]), n.name);
    if (iw.groups != 1) fail(n, "grouped weights (one step per group of rows) have no one-step-per-output read-out in NIR");
    const Layout li = layout(n, n.inputs[0]), lo = layout(n, n.outputs[0]);
    if (li.c != iw.k || lo.c != iw.n || li.r != lo.r) fail(n, "weight shape does not fit its input and output");
    const Population& u = population_of(n, n.inputs[0], cuts);
    const std::int64_t k = li.c, out = lo.c;
    Current c = make_current(Current::Kind::synapse, {});
    c.layout = lo;
    c.s_in = u.s;
    c.step = iw.step;
    c.bias.assign(static_cast<std::size_t>(out), 0.0f);
    if (n.inputs.size() > 2 && n.inputs[2].valid()) c.bias = g_.value(n.inputs[2]).constant->to_f32();
    c.lo.assign(static_cast<std::size_t>(out), 0);
    c.hi.assign(static_cast<std::size_t>(out), 0);
    std::vector<double> wt(static_cast<std::size_t>(out * k));
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t o = 0; o < out; ++o) {
        const std::int64_t w = iw.w[static_cast<std::size_t>(i * out + o)];
        wt[static_cast<std::size_t>(o * k + i)] = static_cast<double>(w);
        c.lo[static_cast<std::size_t>(o)] += std::min(w * u.n_min, w * u.n_max);
        c.hi[static_cast<std::size_t>(o)] += std::max(w * u.n_min, w * u.n_max);
      }
    for (std::int64_t o = 0; o < out; ++o)
      if (std::max(-c.lo[static_cast<std::size_t>(o)], c.hi[static_cast<std::size_t>(o)]) >= kExactBound)
        fail(n, fmt::format("output {} accumulates integers in [{}, {}]; the NIR form keeps them exact in float32 only "
                            "below 2^23 in magnitude",
                            o, c.lo[static_cast<std::size_t>(o)], c.hi[static_cast<std::size_t>(o)]));
    const std::string name = unique(n.name), acc = name + ".acc";
    names_.insert(acc);
    if (lo.r == 1) {
      add_node(name, nir::NodeType::Linear, {f32_param("weight", {out, k}, std::move(wt))});
    } else {
      // Token-wise over R rows: a Conv1d of kernel 1 over [C, R].
      add_node(name, nir::NodeType::Conv1d, conv1d_params(out, k, lo.r, std::move(wt), {}));
    }
    add_node(acc, nir::NodeType::Integrator, {f32_param("r", lo.nir_shape(), std::vector<double>(static_cast<std::size_t>(lo.numel()), 1.0))});
    edge(u.spike, name);
    edge(name, acc);
    ++out_.synaptic_layers;
    c.node = acc;
    c.settle = u.settle;
    currents_[n.outputs[0].index] = std::move(c);
  }

  static std::vector<nir::Param> conv1d_params(std::int64_t out, std::int64_t k, std::int64_t rows,
                                               std::vector<double> weight, std::vector<double> bias) {
    std::vector<nir::Param> p{f32_param("weight", {out, k, 1}, std::move(weight))};
    if (!bias.empty()) p.push_back(f32_param("bias", {out}, std::move(bias)));
    p.push_back(i64_param("stride", {1}));
    p.push_back(i64_param("padding", {0}));
    p.push_back(i64_param("dilation", {1}));
    p.push_back(nir::Param{"groups", nir::ParamType::i64, {}, {1}});
    p.push_back(i64_param("input_shape", {static_cast<double>(rows)}));
    return p;
  }

  void population(const Node& n, std::vector<NirCut>* cuts) {
    const Layout l = layout(n, n.outputs[0]);
    auto it = currents_.find(n.inputs[0].index);
    if (it == currents_.end()) {
      // A current computed elsewhere (a differential unit's output, a residual sum): its value at every step.
      Current c = make_current(Current::Kind::input, cut_input(n, n.inputs[0], l, "current", cuts));
      c.layout = l;
      it = currents_.emplace(n.inputs[0].index, std::move(c)).first;
    }
    const Current& c = it->second;
    const QuantParams& qp = *g_.value(n.outputs[0]).quant;
    const Activation act = std::get<NeuronAttrs>(n.attrs).target;
    if (qp.n_min > 0 || qp.n_max < 0) fail(n, "the count starts at 0, outside its bounds");
    if (std::int64_t{qp.n_max} - qp.n_min > kMaxBoundaries)
      fail(n, fmt::format("{} level boundaries; the NIR form writes one Threshold node per boundary and takes at most {} "
                          "(activation bits <= 8)",
                          std::int64_t{qp.n_max} - qp.n_min, kMaxBoundaries));
    const std::int64_t w = l.c;
    const Shape shape = l.nir_shape();
    const float s = qp.scale[0];
    const std::int32_t n_min = qp.n_min, n_max = qp.n_max;
    const std::string p = unique(n.name);
    // One Threshold per level boundary m = n_min + 1 .. n_max.
    std::vector<std::string> levels;
    for (std::int32_t m = n_min + 1; m <= n_max; ++m) {
      std::vector<double> thr(static_cast<std::size_t>(w));
      for (std::int64_t o = 0; o < w; ++o) thr[static_cast<std::size_t>(o)] = boundary(c, o, m, act, s, n_min, n_max);
      const std::string name = fmt::format("{}.level{}", p, m);
      names_.insert(name);
      add_node(name, nir::NodeType::Threshold, {f32_param("threshold", shape, l.per_channel(thr))});
      edge(c.node, name);
      levels.push_back(name);
    }
    out_.threshold_nodes += static_cast<std::int64_t>(levels.size());
    const auto ones = [&](double v) { return std::vector<double>(static_cast<std::size_t>(l.numel()), v); };
    const std::string m = p + ".m", up = p + ".up", m_neg = p + ".m_neg", down = p + ".down", down_neg = p + ".down_neg",
                      spike = p + ".spike", count = p + ".count", count_neg = p + ".count_neg";
    for (const std::string* x : {&m, &up, &m_neg, &down, &down_neg, &spike, &count, &count_neg}) names_.insert(*x);
    // M = sum_m G_m - count_{t-1}; the level reached is n_min + sum_m G_m, so up is M > -n_min + 1/2 and down
    // is -M > n_min + 1/2 (integers compared with half-integers: no tie).
    add_node(m, nir::NodeType::Scale, {f32_param("scale", shape, ones(1.0))});
    add_node(up, nir::NodeType::Threshold, {f32_param("threshold", shape, ones(0.5 - static_cast<double>(n_min)))});
    add_node(m_neg, nir::NodeType::Scale, {f32_param("scale", shape, ones(-1.0))});
    add_node(down, nir::NodeType::Threshold, {f32_param("threshold", shape, ones(static_cast<double>(n_min) + 0.5))});
    add_node(down_neg, nir::NodeType::Scale, {f32_param("scale", shape, ones(-1.0))});
    add_node(spike, nir::NodeType::Scale, {f32_param("scale", shape, ones(1.0))});
    add_node(count, nir::NodeType::Integrator, {f32_param("r", shape, ones(1.0))});
    add_node(count_neg, nir::NodeType::Scale, {f32_param("scale", shape, ones(-1.0))});
    for (const std::string& lv : levels) edge(lv, m);
    edge(m, up);
    edge(m, m_neg);
    edge(m_neg, down);
    edge(down, down_neg);
    edge(up, spike);
    edge(down_neg, spike);
    edge(spike, count);
    edge(count, count_neg);
    edge(count_neg, m);  // recurrent: closes every cycle of the population at P.m
    ++out_.populations;
    Population pop;
    pop.spike = spike;
    pop.count = count;
    pop.s = s;
    pop.n_min = n_min;
    pop.n_max = n_max;
    pop.layout = l;
    pop.settle = c.settle + (std::int64_t{n_max} - n_min);
    out_.settle_steps = std::max(out_.settle_steps, pop.settle);
    populations_[n.outputs[0].index] = std::move(pop);
  }

  // The Threshold of level boundary m for neuron o: the input must exceed it for the level to reach m.
  double boundary(const Current& c, std::int64_t o, std::int32_t m, Activation act, float s, std::int32_t n_min,
                  std::int32_t n_max) const {
    if (c.kind == Current::Kind::synapse) {
      const auto i = static_cast<std::size_t>(o);
      const auto level = [&](std::int64_t acc) {
        return ann::quantize_level(ann::linear_value(acc, c.s_in, c.step[i], c.bias[i]), act, s, n_min, n_max);
      };
      return static_cast<double>(first_reaching(c.lo[i], c.hi[i], m, level)) - 0.5;
    }
    // A float current: the smallest float reaching m, and the float just below it as the threshold.
    const auto level = [&](std::int64_t key) {
      const float x = key_float(static_cast<std::int32_t>(key));
      return ann::quantize_level(ann::apply_target(c.pre, x), act, s, n_min, n_max);
    };
    const std::int64_t lo = float_key(-std::numeric_limits<float>::max()), hi = float_key(std::numeric_limits<float>::max());
    const std::int64_t first = first_reaching(lo, hi, m, level);
    if (first > hi) return std::numeric_limits<float>::max();
    if (first == lo) return -std::numeric_limits<float>::max();
    return key_float(static_cast<std::int32_t>(first - 1));
  }

  // The NIR node giving a current's value: a synaptic current's (s_in * s_w[n]) * acc + b[n] as
  // Affine(diag(s_in * s_w), b) (Conv1d of kernel 1 over rows) on its integer accumulator; others as they are.
  std::string readout(const Current& r, const std::string& value) {
    if (r.kind != Current::Kind::synapse) return r.node;
    const auto w = static_cast<std::int64_t>(r.step.size());
    std::vector<double> diag(static_cast<std::size_t>(w * w), 0.0), b(r.bias.begin(), r.bias.end());
    for (std::int64_t o = 0; o < w; ++o) diag[static_cast<std::size_t>(o * w + o)] = r.s_in * r.step[static_cast<std::size_t>(o)];
    const std::string ro = unique(value + ".readout");
    if (r.layout.r == 1)
      add_node(ro, nir::NodeType::Affine, {f32_param("weight", {w, w}, std::move(diag)), f32_param("bias", {w}, std::move(b))});
    else
      add_node(ro, nir::NodeType::Conv1d, conv1d_params(w, w, r.layout.r, std::move(diag), std::move(b)));
    edge(r.node, ro);
    out_.readout = r.node;
    out_.settle_steps = std::max(out_.settle_steps, r.settle);
    return ro;
  }

  void output() {
    const ValueId v = g_.outputs()[0];
    const std::string out = unique("output");
    if (const auto p = populations_.find(v.index); p != populations_.end()) {
      // A population's value s * count: one product, rounded once in float32 as the engine's.
      const Layout& l = p->second.layout;
      const std::string value = unique(g_.value(v).name + ".value");
      add_node(value, nir::NodeType::Scale, {f32_param("scale", l.nir_shape(), std::vector<double>(static_cast<std::size_t>(l.numel()), p->second.s))});
      add_node(out, nir::NodeType::Output, {i64_param("shape", shape_values(l))});
      edge(p->second.count, value);
      edge(value, out);
      out_.outputs = l.numel();
      return;
    }
    const auto c = currents_.find(v.index);
    if (c == currents_.end() || c->second.kind != Current::Kind::synapse)
      throw UnsupportedError("the graph output '" + g_.value(v).name +
                                 "' is neither a population nor a synaptic read-out; not written as NIR",
                             ErrorContext{file_, {}, {}, g_.value(v).name});
    const std::string ro = readout(c->second, g_.value(v).name);
    add_node(out, nir::NodeType::Output, {i64_param("shape", shape_values(c->second.layout))});
    edge(ro, out);
    out_.outputs = c->second.layout.numel();
  }

  const Graph& g_;
  const std::string& file_;
  std::vector<NodeId> members_;
  std::optional<std::uint32_t> only_output_;
  NirExport out_;
  std::string input_;
  std::set<std::string> names_;
  std::map<std::uint32_t, Current> currents_;      // by value index
  std::map<std::uint32_t, Population> populations_;  // by value index
};

}  // namespace

NirExport to_nir(const Graph& snn, const std::string& file) { return Builder(snn, file).run(); }

std::vector<NirSubgraph> to_nir_subgraphs(const Graph& snn, const std::string& file) {
  // Writable nodes: a SynapseLinear or ST-BIF population that NIR expresses and the builder writes on its own.
  std::vector<bool> ok(snn.num_nodes(), false);
  for (std::uint32_t i = 0; i < snn.num_nodes(); ++i) {
    const Node& n = snn.node(NodeId(i));
    if (n.kind != OpKind::SynapseLinear && n.kind != OpKind::SpikeNeuron) continue;
    try {
      std::vector<NirCut> cuts;
      (void)Builder(snn, file, {NodeId(i)}).run_subgraph(cuts);
      ok[i] = true;
    } catch (const UnsupportedError&) {
    }
  }
  // Maximal subgraphs: connected components of writable nodes joined by the values between them.
  std::vector<std::uint32_t> root(snn.num_nodes());
  for (std::uint32_t i = 0; i < root.size(); ++i) root[i] = i;
  const auto find = [&](std::uint32_t x) {
    while (root[x] != x) x = root[x] = root[root[x]];
    return x;
  };
  for (std::uint32_t i = 0; i < snn.num_nodes(); ++i) {
    if (!ok[i]) continue;
    for (ValueId v : snn.node(NodeId(i)).inputs) {
      const NodeId p = v.valid() ? snn.value(v).producer : NodeId{};
      if (p.valid() && ok[p.index]) root[find(i)] = find(p.index);
    }
  }
  std::map<std::uint32_t, std::vector<NodeId>> groups;
  std::vector<std::uint32_t> first;  // components in the order of their first node
  for (NodeId id : snn.topological_order()) {
    if (!ok[id.index]) continue;
    auto& g = groups[find(id.index)];
    if (g.empty()) first.push_back(find(id.index));
    g.push_back(id);
  }
  // A component with several values leaving it is written once per such value, with the nodes that value
  // needs (shared ones repeated), so that every file has one Output as single-output simulators (ours) need.
  const auto consumers = snn.consumers();
  std::vector<bool> is_graph_output(snn.num_values(), false);
  for (ValueId v : snn.outputs()) is_graph_output[v.index] = true;
  std::vector<NirSubgraph> out;
  for (std::uint32_t r : first) {
    const std::vector<NodeId>& members = groups[r];
    std::set<std::uint32_t> inside;
    for (NodeId id : members) inside.insert(id.index);
    std::vector<NodeId> leaving;  // producers of values read outside
    for (NodeId id : members) {
      const ValueId v = snn.node(id).outputs[0];
      bool outside = is_graph_output[v.index];
      for (NodeId c : consumers[v.index]) outside = outside || !inside.count(c.index);
      if (outside) leaving.push_back(id);
    }
    for (NodeId last : leaving) {
      // The members `last` depends on, in graph order.
      std::set<std::uint32_t> need{last.index};
      for (auto it = members.rbegin(); it != members.rend(); ++it) {
        if (!need.count(it->index)) continue;
        for (ValueId v : snn.node(*it).inputs) {
          const NodeId p = v.valid() ? snn.value(v).producer : NodeId{};
          if (p.valid() && inside.count(p.index)) need.insert(p.index);
        }
      }
      std::vector<NodeId> part;
      for (NodeId id : members)
        if (need.count(id.index)) part.push_back(id);
      NirSubgraph s;
      for (NodeId id : part) s.nodes.push_back(snn.node(id).name);
      const std::optional<std::uint32_t> only =
          leaving.size() > 1 ? std::optional<std::uint32_t>(snn.node(last).outputs[0].index) : std::nullopt;
      s.nir = Builder(snn, file, part, only).run_subgraph(s.cuts);
      out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace snnconv::nir_export
