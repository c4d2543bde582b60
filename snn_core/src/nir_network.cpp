#include "snnconv/snn_core/nir_network.hpp"

#include <fmt/format.h>

#include <cmath>
#include <variant>

#include "nir_layers.hpp"
#include "unit_cuba_lif.hpp"
#include "unit_if.hpp"
#include "unit_li.hpp"
#include "unit_lif.hpp"

namespace snnconv::snn {

namespace {

using nir::NodeType;

struct ScaleLayer {
  std::vector<double> scale;  // per element
};
struct FlattenLayer {};
struct Passthrough {};  // Input, Output

using Params = std::variant<Passthrough, FlattenLayer, ScaleLayer, nirk::DenseLayer, nirk::ConvLayer, nirk::PoolLayer,
                            leaky::LifParams, leaky::CubaLifParams, leaky::LiParams, leaky::IfParams,
                            leaky::ThresholdParams>;
using State = std::variant<std::monostate, leaky::LifState, leaky::CubaLifState, leaky::LiState, leaky::IfState>;

ErrorContext where(const nir::Graph& g, const nir::Node& n) {
  return ErrorContext{g.source_file, n.name, std::string(nir::node_type_name(n.type)), {}};
}

Shape int_shape(const nir::Node& node, const char* name) {
  const nir::Param& p = node.require(name);
  Shape s;
  for (double v : p.values) s.push_back(static_cast<std::int64_t>(v));
  checked_numel(s, "NIR node '" + node.name + "' " + name);
  return s;
}

Shape flatten_shape(const nir::Node& node, const Shape& in) {
  const auto rank = static_cast<std::int64_t>(in.size());
  std::int64_t start = nirk::int_param(node, "start_dim", 1, 0)[0], end = nirk::int_param(node, "end_dim", 1, -1)[0];
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  if (rank == 0 || start < 0 || end >= rank || start > end)
    throw ShapeError(fmt::format("NIR node '{}': start_dim / end_dim do not fit an input {}", node.name, shape_to_string(in)),
                     ErrorContext{{}, node.name, "Flatten", {}});
  Shape out(in.begin(), in.begin() + start);
  std::int64_t merged = 1;
  for (std::int64_t i = start; i <= end; ++i) merged *= in[static_cast<std::size_t>(i)];
  out.push_back(merged);
  out.insert(out.end(), in.begin() + end + 1, in.end());
  return out;
}

OpKind ledger_op(NodeType t) {
  switch (t) {
    case NodeType::Input:
    case NodeType::Output: return OpKind::Identity;
    case NodeType::Affine:
    case NodeType::Linear: return OpKind::SynapseLinear;
    case NodeType::Conv1d:
    case NodeType::Conv2d: return OpKind::SynapseConv;
    case NodeType::Scale: return OpKind::Mul;
    case NodeType::Flatten: return OpKind::Flatten;
    case NodeType::SumPool2d:
    case NodeType::AvgPool2d: return OpKind::AveragePool;
    case NodeType::IF:
    case NodeType::LIF:
    case NodeType::CubaLIF:
    case NodeType::LI:
    case NodeType::Integrator:
    case NodeType::Threshold: return OpKind::SpikeNeuron;
    case NodeType::Count: break;
  }
  return OpKind::Identity;
}

}  // namespace

struct NirNetwork::Impl {
  nir::Graph graph;
  NirOptions options;
  std::vector<NirNodeInfo> info;
  std::vector<std::size_t> order;
  std::vector<Params> params;
  std::vector<bool> back_source;  // the node's previous output is read by a recurrent edge
  std::size_t input = 0, output = 0;
  std::int64_t neurons = 0;

  void find_structure();
  void resolve();
  State initial_state(std::size_t i) const;
  void run_sample(const float* x, std::int64_t steps, float* y, Ledger* ledger, NirProbe* probe) const;
};

void NirNetwork::Impl::find_structure() {
  const std::size_t n = graph.nodes.size();
  std::vector<std::size_t> inputs, outputs;
  for (std::size_t i = 0; i < n; ++i) {
    if (graph.nodes[i].type == NodeType::Input) inputs.push_back(i);
    if (graph.nodes[i].type == NodeType::Output) outputs.push_back(i);
    for (std::size_t j = 0; j < i; ++j)
      if (graph.nodes[j].name == graph.nodes[i].name)
        throw GraphError("two NIR nodes are named '" + graph.nodes[i].name + "'", where(graph, graph.nodes[i]));
  }
  if (inputs.size() != 1 || outputs.size() != 1)
    throw UnsupportedError(fmt::format("the NIR graph has {} Input and {} Output nodes; the simulator runs graphs with "
                                       "exactly one of each",
                                       inputs.size(), outputs.size()),
                           ErrorContext{graph.source_file, {}, {}, {}});
  input = inputs[0];
  output = outputs[0];
  auto index_of = [&](const std::string& name) -> std::size_t {
    for (std::size_t i = 0; i < n; ++i)
      if (graph.nodes[i].name == name) return i;
    throw GraphError("a NIR edge names node '" + name + "', which the graph does not hold",
                     ErrorContext{graph.source_file, name, {}, {}});
  };
  std::vector<std::vector<std::size_t>> succ(n);
  std::vector<std::pair<std::size_t, std::size_t>> edges;
  for (const nir::Edge& e : graph.edges) {
    const std::size_t s = index_of(e.src), d = index_of(e.dst);
    if (graph.nodes[d].type == NodeType::Input)
      throw GraphError("an edge leads into the Input node '" + e.dst + "'", where(graph, graph.nodes[d]));
    if (graph.nodes[s].type == NodeType::Output)
      throw GraphError("an edge leaves the Output node '" + e.src + "'", where(graph, graph.nodes[s]));
    succ[s].push_back(d);
    edges.emplace_back(s, d);
  }
  // Recurrent edges: those that close a cycle in a depth-first walk from the Input (then from every node not
  // reached, in file order). Their destination reads the source's output of the previous step.
  std::vector<int> mark(n, 0);  // 0 new, 1 on the stack, 2 done
  std::vector<std::vector<bool>> is_back(n);
  for (std::size_t i = 0; i < n; ++i) is_back[i].assign(succ[i].size(), false);
  auto dfs = [&](std::size_t root) {
    if (mark[root]) return;
    std::vector<std::pair<std::size_t, std::size_t>> stack{{root, 0}};
    mark[root] = 1;
    while (!stack.empty()) {
      auto& [v, k] = stack.back();
      if (k == succ[v].size()) {
        mark[v] = 2;
        stack.pop_back();
        continue;
      }
      const std::size_t e = k++, w = succ[v][e];
      if (mark[w] == 1) is_back[v][e] = true;
      else if (mark[w] == 0) {
        mark[w] = 1;
        stack.emplace_back(w, 0);
      }
    }
  };
  dfs(input);
  for (std::size_t i = 0; i < n; ++i) dfs(i);
  info.resize(n);
  back_source.assign(n, false);
  std::vector<std::size_t> indegree(n, 0);
  for (std::size_t s = 0; s < n; ++s)
    for (std::size_t e = 0; e < succ[s].size(); ++e) {
      const std::size_t d = succ[s][e];
      if (is_back[s][e]) {
        info[d].back_sources.push_back(s);
        back_source[s] = true;
      } else {
        info[d].sources.push_back(s);
        ++indegree[d];
      }
    }
  // Kahn's order over the forward edges; ties in file order, so the order is a function of the file.
  std::vector<bool> done(n, false);
  for (std::size_t placed = 0; placed < n; ++placed) {
    std::size_t pick = n;
    for (std::size_t i = 0; i < n && pick == n; ++i)
      if (!done[i] && indegree[i] == 0) pick = i;
    done[pick] = true;
    order.push_back(pick);
    for (std::size_t e = 0; e < succ[pick].size(); ++e)
      if (!is_back[pick][e]) --indegree[succ[pick][e]];
  }
  for (std::size_t i = 0; i < n; ++i) {
    info[i].name = graph.nodes[i].name;
    info[i].type = graph.nodes[i].type;
    if (i != input && info[i].sources.empty() && info[i].back_sources.empty())
      throw GraphError("NIR node '" + graph.nodes[i].name + "' has no incoming edge", where(graph, graph.nodes[i]));
  }
}

void NirNetwork::Impl::resolve() {
  const leaky::Method method = options.method == NirMethod::euler ? leaky::Method::euler : leaky::Method::exact;
  // Parameters are checked once here, never in the step loop: finite everywhere, time constants positive.
  for (const nir::Node& node : graph.nodes)
    for (const nir::Param& p : node.params) {
      for (double v : p.values)
        if (!std::isfinite(v))
          throw NumericError(fmt::format("NIR node '{}': parameter '{}' holds NaN or infinite values", node.name, p.name),
                             ErrorContext{graph.source_file, node.name, std::string(nir::node_type_name(node.type)), p.name});
      if (p.name.starts_with("tau"))
        for (double v : p.values)
          if (!(v > 0))
            throw GraphError(fmt::format("NIR node '{}': time constant '{}' = {} must be > 0 seconds", node.name, p.name, v),
                             ErrorContext{graph.source_file, node.name, std::string(nir::node_type_name(node.type)), p.name});
    }
  params.resize(graph.nodes.size());
  for (std::size_t i : order) {
    const nir::Node& node = graph.nodes[i];
    NirNodeInfo& ni = info[i];
    if (i == input) {
      ni.output_shape = int_shape(node, "shape");
      params[i] = Passthrough{};
      continue;
    }
    ni.input_shape = info[ni.sources.empty() ? ni.back_sources[0] : ni.sources[0]].output_shape;
    for (std::size_t s : ni.sources)
      if (checked_numel(info[s].output_shape) != checked_numel(ni.input_shape) ||
          (info[s].output_shape != ni.input_shape && info[s].output_shape.size() == ni.input_shape.size()))
        throw ShapeError(fmt::format("NIR node '{}' sums inputs of different shapes: {} from '{}' and {}", node.name,
                                     shape_to_string(info[s].output_shape), info[s].name, shape_to_string(ni.input_shape)),
                         where(graph, node));
    const std::int64_t n = checked_numel(ni.input_shape, node.name);
    switch (node.type) {
      case NodeType::Input: break;
      case NodeType::Output: {
        ni.output_shape = ni.input_shape;
        if (node.find("shape")) {
          const Shape declared = int_shape(node, "shape");
          if (checked_numel(declared) != n)
            throw ShapeError(fmt::format("NIR Output '{}' declares shape {}, its input is {}", node.name,
                                         shape_to_string(declared), shape_to_string(ni.input_shape)),
                             where(graph, node));
          ni.output_shape = declared;
        }
        params[i] = Passthrough{};
        break;
      }
      case NodeType::Affine:
      case NodeType::Linear: {
        auto l = nirk::dense_layer(node, n);
        ni.output_shape = {l.out};
        ni.synapses = l.in * l.out;
        params[i] = std::move(l);
        break;
      }
      case NodeType::Conv1d:
      case NodeType::Conv2d: {
        auto l = nirk::conv_layer(node, ni.input_shape, ni.output_shape);
        ni.synapses = static_cast<std::int64_t>(l.weight.size());
        params[i] = std::move(l);
        break;
      }
      case NodeType::SumPool2d:
      case NodeType::AvgPool2d: params[i] = nirk::pool_layer(node, ni.input_shape, ni.output_shape); break;
      case NodeType::Flatten:
        // input_type is informative (some writers include the batch dim): the input shape decides.
        ni.output_shape = flatten_shape(node, ni.input_shape);
        params[i] = FlattenLayer{};
        break;
      case NodeType::Scale: {
        ScaleLayer s;
        s.scale = leaky::per_neuron(node, "scale", n);
        ni.output_shape = ni.input_shape;
        params[i] = std::move(s);
        break;
      }
      case NodeType::LIF: params[i] = leaky::lif_params(node, n, options.dt_s, method); break;
      case NodeType::CubaLIF: params[i] = leaky::cuba_lif_params(node, n, options.dt_s, method); break;
      case NodeType::LI: params[i] = leaky::li_params(node, n, options.dt_s, method); break;
      case NodeType::Integrator: params[i] = leaky::integrator_params(node, n, options.dt_s); break;
      case NodeType::IF: params[i] = leaky::if_params(node, n, options.dt_s); break;
      case NodeType::Threshold: params[i] = leaky::threshold_params(node, n); break;
      case NodeType::Count: break;
    }
    if (nir::is_neuron(node.type)) {
      ni.output_shape = ni.input_shape;
      neurons += n;
    }
  }
  for (std::size_t i = 0; i < info.size(); ++i)
    for (std::size_t s : info[i].back_sources)
      if (checked_numel(info[s].output_shape) != checked_numel(info[i].input_shape))
        throw ShapeError(fmt::format("NIR node '{}' sums inputs of different shapes: {} from '{}' (recurrent) and {}",
                                     info[i].name, shape_to_string(info[s].output_shape), info[s].name,
                                     shape_to_string(info[i].input_shape)),
                         where(graph, graph.nodes[i]));
}

State NirNetwork::Impl::initial_state(std::size_t i) const {
  return std::visit(
      [](const auto& p) -> State {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, leaky::LifParams>) return leaky::lif_state(p);
        else if constexpr (std::is_same_v<P, leaky::CubaLifParams>) return leaky::cuba_lif_state(p);
        else if constexpr (std::is_same_v<P, leaky::LiParams>) return leaky::li_state(p);
        else if constexpr (std::is_same_v<P, leaky::IfParams>) return leaky::if_state(p);
        else return std::monostate{};
      },
      params[i]);
}

void NirNetwork::Impl::run_sample(const float* x, std::int64_t steps, float* y, Ledger* ledger, NirProbe* probe) const {
  const std::size_t n = graph.nodes.size();
  std::vector<std::vector<double>> out(n), prev(n), in(n);
  std::vector<State> state(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto size = static_cast<std::size_t>(checked_numel(info[i].output_shape));
    out[i].assign(size, 0.0);
    if (back_source[i]) prev[i].assign(size, 0.0);
    if (i != input) in[i].assign(static_cast<std::size_t>(checked_numel(info[i].input_shape)), 0.0);
    state[i] = initial_state(i);
  }
  std::size_t probe_node = n;
  if (probe)
    for (std::size_t i = 0; i < n; ++i)
      if (info[i].name == probe->node) probe_node = i;
  const auto in_size = out[input].size(), out_size = out[output].size();
  std::vector<Counters> rows(n);
  for (std::int64_t t = 0; t < steps; ++t) {
    for (std::size_t i = 0; i < n; ++i)
      if (back_source[i]) prev[i] = out[i];
    for (Counters& c : rows) c = Counters{};
    for (std::size_t i : order) {
      Counters& c = rows[i];
      c.timesteps = 1;
      if (i == input) {
        const float* xt = x + static_cast<std::size_t>(t) * in_size;
        for (std::size_t k = 0; k < in_size; ++k) out[i][k] = xt[k];
        continue;
      }
      std::vector<double>& a = in[i];
      std::fill(a.begin(), a.end(), 0.0);
      for (std::size_t s : info[i].sources)
        for (std::size_t k = 0; k < a.size(); ++k) a[k] += out[s][k];
      for (std::size_t s : info[i].back_sources)
        for (std::size_t k = 0; k < a.size(); ++k) a[k] += prev[s][k];
      if (info[i].sources.size() + info[i].back_sources.size() > 1) c.dense_ops += a.size();
      double* o = out[i].data();
      const auto numel = static_cast<std::uint64_t>(a.size());
      std::visit(
          [&](const auto& p) {
            using P = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<P, Passthrough> || std::is_same_v<P, FlattenLayer>) {
              std::copy(a.begin(), a.end(), o);
            } else if constexpr (std::is_same_v<P, ScaleLayer>) {
              for (std::size_t k = 0; k < a.size(); ++k) {
                o[k] = a[k] * p.scale[k];
                c.macs[kFloatWidth] += a[k] != 0.0;
              }
            } else if constexpr (std::is_same_v<P, nirk::DenseLayer>) {
              nirk::dense_step(p, a.data(), o, c);
            } else if constexpr (std::is_same_v<P, nirk::ConvLayer>) {
              nirk::conv_step(p, a.data(), o, c);
            } else if constexpr (std::is_same_v<P, nirk::PoolLayer>) {
              nirk::pool_step(p, a.data(), o, c);
            } else {
              constexpr std::uint64_t kStateBytes = 8;  // the membrane (and current) as stored here: f64
              std::uint64_t spikes = 0, vars = 1;
              if constexpr (std::is_same_v<P, leaky::LifParams>) {
                spikes = leaky::lif_step(p, std::get<leaky::LifState>(state[i]), a.data(), o);
              } else if constexpr (std::is_same_v<P, leaky::CubaLifParams>) {
                spikes = leaky::cuba_lif_step(p, std::get<leaky::CubaLifState>(state[i]), a.data(), o);
                vars = 2;
              } else if constexpr (std::is_same_v<P, leaky::LiParams>) {
                leaky::li_step(p, std::get<leaky::LiState>(state[i]), a.data(), o);
              } else if constexpr (std::is_same_v<P, leaky::IfParams>) {
                spikes = leaky::if_step(p, std::get<leaky::IfState>(state[i]), a.data(), o);
              } else if constexpr (std::is_same_v<P, leaky::ThresholdParams>) {
                spikes = leaky::threshold_step(p, a.data(), o);
                vars = 0;
              }
              c.neuron_updates += numel;
              c.spikes_pos += spikes;
              c.bytes_read[static_cast<std::size_t>(MemClass::membrane)] += numel * vars * kStateBytes;
              c.bytes_written[static_cast<std::size_t>(MemClass::membrane)] += numel * vars * kStateBytes;
            }
          },
          params[i]);
    }
    if (probe_node < n) {
      const std::vector<double>* v = std::visit(
          [](const auto& s) -> const std::vector<double>* {
            using S = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<S, std::monostate>) return nullptr;
            else return &s.v;
          },
          state[probe_node]);
      if (v) probe->voltage.insert(probe->voltage.end(), v->begin(), v->end());
    }
    float* yt = y + static_cast<std::size_t>(t) * out_size;
    for (std::size_t k = 0; k < out_size; ++k) yt[k] = static_cast<float>(out[output][k]);
    if (ledger) {
      Counters total;
      for (std::size_t i = 0; i < n; ++i) {
        ledger->per_node[i] += rows[i];
        total += rows[i];
      }
      total.timesteps = 1;
      if (ledger->per_step.size() <= static_cast<std::size_t>(t)) ledger->per_step.resize(static_cast<std::size_t>(t) + 1);
      ledger->per_step[static_cast<std::size_t>(t)] += total;
    }
  }
}

NirNetwork::NirNetwork(nir::Graph graph, NirOptions options) : impl_(std::make_unique<Impl>()) {
  if (!(options.dt_s > 0) || !std::isfinite(options.dt_s))
    throw UsageError(fmt::format("the simulation step dt must be a positive number of seconds, got {}", options.dt_s));
  impl_->graph = std::move(graph);
  impl_->options = options;
  // The parameter helpers know the node, not the file: add it to what they throw.
  const auto with_file = [&](const Error& e) {
    ErrorContext c = e.context();
    if (c.file.empty()) c.file = impl_->graph.source_file;
    return c;
  };
  try {
    impl_->find_structure();
    impl_->resolve();
  } catch (const ShapeError& e) {
    throw ShapeError(e.message(), with_file(e));
  } catch (const GraphError& e) {
    throw GraphError(e.message(), with_file(e));
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(e.message(), with_file(e));
  }
}
NirNetwork::~NirNetwork() = default;
NirNetwork::NirNetwork(NirNetwork&&) noexcept = default;
NirNetwork& NirNetwork::operator=(NirNetwork&&) noexcept = default;

const nir::Graph& NirNetwork::graph() const { return impl_->graph; }
const NirOptions& NirNetwork::options() const { return impl_->options; }
const std::vector<NirNodeInfo>& NirNetwork::nodes() const { return impl_->info; }
const std::vector<std::size_t>& NirNetwork::order() const { return impl_->order; }
const Shape& NirNetwork::input_shape() const { return impl_->info[impl_->input].output_shape; }
const Shape& NirNetwork::output_shape() const { return impl_->info[impl_->output].output_shape; }
std::int64_t NirNetwork::neurons() const { return impl_->neurons; }

Ledger NirNetwork::make_ledger() const {
  Ledger l;
  for (const nir::Node& n : impl_->graph.nodes) {
    l.node_names.push_back(n.name);
    l.node_ops.push_back(ledger_op(n.type));
  }
  l.per_node.resize(impl_->graph.nodes.size());
  return l;
}

Tensor NirNetwork::run(const Tensor& input, Ledger* ledger, NirProbe* probe) const {
  const Shape& in = input_shape();
  const Shape& shape = input.shape();
  const bool batched = shape.size() == in.size() + 2;
  const bool fits = (batched || shape.size() == in.size() + 1) &&
                    std::equal(in.begin(), in.end(), shape.end() - static_cast<std::ptrdiff_t>(in.size()));
  if (!fits)
    throw ShapeError(fmt::format("NIR input: expected [T, {}] or [B, T, {}] (T timesteps), got {}", shape_to_string(in).substr(1, shape_to_string(in).size() - 2),
                                 shape_to_string(in).substr(1, shape_to_string(in).size() - 2), shape_to_string(shape)),
                     ErrorContext{impl_->graph.source_file, {}, {}, "input"});
  if (!input.all_finite())
    throw NumericError("NIR input holds NaN or infinite values", ErrorContext{impl_->graph.source_file, {}, {}, "input"});
  const Tensor x = input.dtype() == DType::f32 ? input : input.cast(DType::f32);
  const std::int64_t batch = batched ? shape[0] : 1, steps = shape[batched ? 1 : 0];
  Shape out_shape = batched ? Shape{batch, steps} : Shape{steps};
  out_shape.insert(out_shape.end(), output_shape().begin(), output_shape().end());
  Tensor y(DType::f32, out_shape);
  if (ledger && ledger->per_node.size() != impl_->graph.nodes.size()) *ledger = make_ledger();
  const std::int64_t in_step = checked_numel(in), out_step = checked_numel(output_shape());
  for (std::int64_t b = 0; b < batch; ++b) {
    impl_->run_sample(x.data<float>() + b * steps * in_step, steps, y.data<float>() + b * steps * out_step, ledger,
                      b == 0 ? probe : nullptr);
    if (ledger) ledger->samples += 1;
  }
  return y;
}

}  // namespace snnconv::snn
