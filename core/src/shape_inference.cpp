#include "snnconv/core/shape_inference.hpp"

#include <algorithm>

#include "shape_fns.hpp"

namespace snnconv {

const TensorType& InferContext::input(std::size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is absent");
  return graph_.value(node_.inputs[i]).type;
}

const std::string& InferContext::input_name(std::size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is absent");
  return graph_.value(node_.inputs[i]).name;
}

const Tensor* InferContext::constant(std::size_t i) const {
  if (!has_input(i)) return nullptr;
  const Value& v = graph_.value(node_.inputs[i]);
  return v.constant ? &*v.constant : nullptr;
}

const Tensor& InferContext::require_constant(std::size_t i, const char* what) const {
  const Tensor* t = constant(i);
  if (!t) fail(std::string(what) + " (input " + std::to_string(i) + ") must be a constant");
  return *t;
}

void InferContext::fail(const std::string& message) const {
  ErrorContext ctx;
  ctx.file = graph_.source_file;
  ctx.node = node_.name;
  ctx.op = std::string(op_name(node_.kind));
  throw ShapeError(message, ctx);
}

void InferContext::refuse(const std::string& message) const {
  ErrorContext ctx;
  ctx.file = graph_.source_file;
  ctx.node = node_.name;
  ctx.op = std::string(op_name(node_.kind));
  throw UnsupportedError(message, ctx);
}

std::int64_t InferContext::axis(std::int64_t a, int rank) const {
  if (a < -rank || a >= std::max(rank, 1))
    fail("axis " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
  return a < 0 ? a + rank : a;
}

std::vector<Dim> broadcast_dims(const std::vector<Dim>& a, const std::vector<Dim>& b, const InferContext& ctx) {
  const std::size_t r = std::max(a.size(), b.size());
  std::vector<Dim> out(r);
  for (std::size_t i = 0; i < r; ++i) {
    const Dim* da = i < r - a.size() ? nullptr : &a[i - (r - a.size())];
    const Dim* db = i < r - b.size() ? nullptr : &b[i - (r - b.size())];
    if (!da) { out[i] = *db; continue; }
    if (!db) { out[i] = *da; continue; }
    if (*da == *db) { out[i] = *da; continue; }
    if (da->is_known() && da->value == 1) { out[i] = *db; continue; }
    if (db->is_known() && db->value == 1) { out[i] = *da; continue; }
    if (da->is_known() && db->is_known())
      ctx.fail("cannot broadcast dim " + std::to_string(da->value) + " with " + std::to_string(db->value));
    out[i] = da->is_known() ? *da : (db->is_known() ? *db : Dim::unknown());
  }
  return out;
}

namespace {

// Every known dim a shape function reads or writes lies in [0, kMaxDim], and the non-zero known dims of one
// value multiply to at most kMaxTensorElements, so shape arithmetic on them cannot overflow int64 (a
// crafted model could otherwise claim dims near 2^63). LimitError naming the node and value otherwise.
void check_type_limits(const Graph& g, const Node& n, const TensorType& t, const std::string& value) {
  if (!t.rank_known) return;
  std::string problem;
  if (t.rank() > kMaxRank) problem = "rank " + std::to_string(t.rank()) + " is above the limit " + std::to_string(kMaxRank);
  std::int64_t product = 1;
  for (const Dim& d : t.dims) {
    if (!problem.empty() || !d.is_known()) continue;
    if (d.value < 0 || d.value > kMaxDim)
      problem = "dim " + std::to_string(d.value) + " is outside 0.." + std::to_string(kMaxDim);
    else if (d.value != 0 && product > kMaxTensorElements / d.value)
      problem = "its dims multiply to more than " + std::to_string(kMaxTensorElements) + " elements";
    else if (d.value != 0)
      product *= d.value;
  }
  if (problem.empty()) return;
  ErrorContext ctx;
  ctx.file = g.source_file;
  ctx.node = n.name;
  ctx.op = std::string(op_name(n.kind));
  ctx.value = value;
  throw LimitError("shape " + type_to_string(t) + " of '" + value + "': " + problem, ctx);
}

}  // namespace

std::vector<TensorType> infer_node(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  for (ValueId in : n.inputs)
    if (in.valid()) check_type_limits(g, n, g.value(in).type, g.value(in).name);
  std::vector<TensorType> outs(n.outputs.size());
  InferContext ctx(g, n, outs);
  for (std::size_t i = 0; i < n.inputs.size(); ++i)
    if (n.inputs[i].valid() && !g.value(n.inputs[i]).type.rank_known && n.kind != OpKind::Shape) {
      // Without the rank of an input nothing useful follows; leave outputs rank-unknown.
      for (auto& o : outs) o.rank_known = false;
      if (!outs.empty()) outs[0].dtype = g.value(n.inputs[i]).type.dtype;
      return outs;
    }
  op_info(n.kind).infer(ctx);
  for (std::size_t i = 0; i < outs.size(); ++i)
    check_type_limits(g, n, outs[i], n.outputs[i].valid() ? g.value(n.outputs[i]).name : "output " + std::to_string(i));
  return outs;
}

void infer_shapes(Graph& g) {
  for (NodeId id : g.topological_order()) {
    auto types = infer_node(g, id);
    const Node& n = g.node(id);
    for (std::size_t i = 0; i < n.outputs.size(); ++i)
      if (n.outputs[i].valid()) g.value(n.outputs[i]).type = std::move(types[i]);
  }
}

std::vector<std::string> input_symbols(const Graph& g) {
  std::vector<std::string> out;
  for (ValueId v : g.inputs())
    for (const Dim& d : g.value(v).type.dims)
      if (!d.is_known() && !d.symbol.empty() && std::find(out.begin(), out.end(), d.symbol) == out.end())
        out.push_back(d.symbol);
  return out;
}

void bind_dims(Graph& g, const std::map<std::string, std::int64_t>& dims) {
  const auto symbols = input_symbols(g);
  for (const auto& [name, size] : dims) {
    if (std::find(symbols.begin(), symbols.end(), name) == symbols.end()) {
      std::string known;
      for (const auto& s : symbols) known += (known.empty() ? "" : ", ") + s;
      throw UsageError("--dims names '" + name + "', which is not a symbolic dim of the model's inputs" +
                           (known.empty() ? std::string(" (the model has none)") : " (the model has: " + known + ")"),
                       ErrorContext{g.source_file, {}, {}, {}});
    }
    if (size <= 0 || size > kMaxDim)
      throw UsageError("--dims " + name + "=" + std::to_string(size) + " is not a positive size within " +
                       std::to_string(kMaxDim));
  }
  for (ValueId v : g.inputs())
    for (Dim& d : g.value(v).type.dims)
      if (!d.is_known()) {
        auto it = dims.find(d.symbol);
        if (it != dims.end()) d = Dim::known(it->second);
      }
}

}  // namespace snnconv
