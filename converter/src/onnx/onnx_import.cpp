// ONNX ModelProto -> Graph. The only translation unit (with proto_*.cpp) that sees protobuf types.
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/verifier.hpp"

#include <fstream>
#include <iterator>

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <filesystem>
#include <set>
#include <string_view>
#include <unordered_map>

#include "onnx/opset_compat.hpp"
#include "onnx/proto_attrs.hpp"
#include "onnx/proto_tensor.hpp"
#include "snnconv/converter/passes.hpp"

namespace snnconv::onnx_import {
namespace {

using namespace detail;

bool is_default_domain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx";
}

std::string node_label(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
}

// The IR op of an ONNX op_type, or nullopt when the model cannot be imported with it. IR-only ops
// (fused, quantization points, spiking) share the table but are never valid ONNX.
std::optional<OpKind> resolve_op(const std::string& op_type) {
  const std::optional<OpKind> kind = op_from_name(op_type);
  if (!kind) return std::nullopt;
  switch (*kind) {
    case OpKind::Linear:
    case OpKind::Attention:
    case OpKind::FakeQuant:
      return std::nullopt;
    default:
      break;
  }
  if (has_flag(*kind, kSpiking) || !op_legal_at(*kind, Stage::imported)) return std::nullopt;
  return kind;
}

onnx::ModelProto load_model(const std::string& path, std::size_t max_bytes) {
  const ErrorContext ctx{path, {}, {}, {}};
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError("cannot open ONNX model: " + ec.message(), ctx);
  if (size == 0) throw ParseError("empty file: not an ONNX model", ctx);
  const std::size_t limit = std::min(max_bytes, kMaxProtobufBytes);
  if (size > limit)
    throw LimitError("model file has " + std::to_string(size) + " bytes, above the limit of " + std::to_string(limit) +
                         " (store the weights as ONNX external data)",
                     ctx);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(std::string("cannot open ONNX model: ") + std::strerror(errno), ctx);
  onnx::ModelProto model;
  bool parsed = false;
  {
    google::protobuf::io::FileInputStream file_stream(fd);
    file_stream.SetCloseOnDelete(true);
    google::protobuf::io::CodedInputStream coded(&file_stream);
    // The default limit (64 MiB in older protobufs) would reject real models.
    coded.SetTotalBytesLimit(INT_MAX);
    parsed = model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
  }
  if (!parsed) throw ParseError("not a valid ONNX model: protobuf parsing failed (corrupt or truncated file)", ctx);
  // Arbitrary bytes can happen to parse as a protobuf message; a model has at least these.
  if (model.ir_version() <= 0 || !model.has_graph() || model.opset_import_size() == 0)
    throw ParseError("not an ONNX model: no ir_version, graph or opset_import", ctx);
  return model;
}

std::int64_t default_opset(const onnx::ModelProto& model, const ErrorContext& ctx) {
  std::optional<std::int64_t> version;
  for (const auto& o : model.opset_import())
    if (is_default_domain(o.domain())) version = o.version();
  if (!version) throw UnsupportedError("the model imports no opset of the default ONNX domain", ctx);
  if (*version < kMinOpset || *version > kMaxOpset)
    throw UnsupportedError("opset " + std::to_string(*version) + " of the default domain is not supported (" +
                               std::to_string(kMinOpset) + "-" + std::to_string(kMaxOpset) + " are)",
                           ctx);
  return *version;
}

std::string join_nodes(const std::vector<std::string>& names) {
  std::string s = names.size() == 1 ? "node " : "nodes ";
  for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s;
}

// Op types the importer rewrites into IR ops instead of mapping one to one.
bool lowered_op(const std::string& op_type) { return op_type == "Constant" || op_type == "Dropout"; }

// Fails once, listing every unsupported op type with all its nodes, every op whose version at the model's
// opset the importer does not implement, and every unknown domain, so that a user sees the whole extent of
// the problem from one run.
void check_supported(const onnx::GraphProto& graph, std::int64_t opset, const ErrorContext& ctx) {
  std::map<std::string, std::vector<std::string>> ops;      // op_type -> nodes
  std::map<std::string, std::vector<std::string>> domains;  // domain -> "node (op)"
  std::map<std::string, std::vector<std::string>> versions;  // problem -> nodes
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& node = graph.node(i);
    if (!is_default_domain(node.domain())) {
      domains[node.domain()].push_back(node_label(node, i) + " (" + node.op_type() + ")");
    } else if (!lowered_op(node.op_type()) && !resolve_op(node.op_type())) {
      ops[node.op_type()].push_back(node_label(node, i));
    } else if (node.op_type() != "Constant") {
      const std::string problem = version_problem(node.op_type(), opset);
      if (!problem.empty()) versions[problem].push_back(node_label(node, i));
    }
  }
  if (ops.empty() && domains.empty() && versions.empty() && graph.sparse_initializer_size() == 0) return;
  std::string msg = "unsupported model (opset " + std::to_string(opset) + "):";
  if (!ops.empty()) {
    msg += ' ';
    msg += std::to_string(ops.size());
    msg += ops.size() > 1 ? " unsupported op types:" : " unsupported op type:";
    bool first = true;
    for (const auto& [op, nodes] : ops) {
      msg += std::string(first ? " " : "; ") + op + " (" + join_nodes(nodes) + ")";
      first = false;
    }
    msg += ".";
  }
  for (const auto& [problem, nodes] : versions) msg += " " + problem + " (" + join_nodes(nodes) + ").";
  for (const auto& [domain, nodes] : domains)
    msg += " Unknown opset domain '" + domain + "' (" + join_nodes(nodes) + ").";
  if (graph.sparse_initializer_size() > 0) msg += " Sparse initializers are not supported.";
  ErrorContext c = ctx;
  if (!ops.empty()) c.op = ops.begin()->first;
  if (ops.empty() && !versions.empty()) c.node = versions.begin()->second.front();
  throw UnsupportedError(msg, c);
}

class GraphBuilder {
 public:
  GraphBuilder(const onnx::ModelProto& model, const std::string& path, std::int64_t opset)
      : model_(model), graph_proto_(model.graph()), file_(path), opset_(opset) {
    source_.file = path;
    source_.model_dir = std::filesystem::path(path).parent_path();
    if (source_.model_dir.empty()) source_.model_dir = ".";
    g_.opset = static_cast<int>(opset);
  }

  Graph build() {
    g_.name = graph_proto_.name();
    g_.source_file = file_;
    g_.stage = Stage::imported;
    for (const auto& kv : model_.metadata_props()) g_.metadata[kv.key()] = kv.value();
    collect_consumed();
    add_initializers();
    add_graph_inputs();
    add_node_values();
    for (int i = 0; i < graph_proto_.node_size(); ++i)
      if (graph_proto_.node(i).op_type() != "Constant") add_node(i);
    add_graph_outputs();
    return std::move(g_);
  }

 private:
  ErrorContext ctx(const std::string& node = {}, const std::string& op = {}, const std::string& value = {}) const {
    return ErrorContext{file_, node, op, value};
  }

  void define(const std::string& name, ValueId id, const std::string& origin) {
    auto [it, inserted] = by_name_.emplace(name, id);
    if (!inserted)
      throw GraphError("value '" + name + "' is defined twice: by " + origin_[name] + " and by " + origin,
                       ctx({}, {}, name));
    origin_[name] = origin;
  }

  void collect_consumed() {
    for (const auto& node : graph_proto_.node())
      for (const auto& in : node.input()) consumed_.insert(in);
    for (const auto& out : graph_proto_.output()) consumed_.insert(out.name());
  }

  void add_initializers() {
    for (const auto& t : graph_proto_.initializer()) {
      if (t.name().empty()) throw ParseError("an initializer has no name", ctx());
      Tensor tensor = tensor_from_proto(t, "initializer '" + t.name() + "'", source_);
      define(t.name(), g_.add_constant(t.name(), std::move(tensor)), "initializer");
    }
  }

  void add_graph_inputs() {
    std::vector<ValueId> inputs;
    for (const auto& in : graph_proto_.input()) {
      if (by_name_.count(in.name()) && origin_[in.name()] == "initializer")
        continue;  // IR < 4 listed weights as inputs
      Value v;
      v.name = in.name();
      v.type = type_from_proto(in.type(), "graph input '" + in.name() + "'", file_);
      const ValueId id = g_.add_value(std::move(v));
      define(in.name(), id, "graph input");
      inputs.push_back(id);
    }
    g_.set_inputs(std::move(inputs));
  }

  // Every node output gets its value before any node is added, so that nodes may appear in any order in
  // the file; the cycle check happens on the finished graph.
  void add_node_values() {
    for (int i = 0; i < graph_proto_.node_size(); ++i) {
      const auto& node = graph_proto_.node(i);
      const std::string label = node_label(node, i);
      const std::string origin = "node '" + label + "'";
      if (node.op_type() == "Constant") {
        if (node.output_size() != 1) throw ParseError("Constant node needs one output", ctx(label, "Constant"));
        Tensor t = constant_from_proto(node, ctx(label, "Constant", node.output(0)), source_);
        define(node.output(0), g_.add_constant(node.output(0), std::move(t)), origin);
        continue;
      }
      for (int k = 0; k < node.output_size(); ++k) {
        if (node.output(k).empty()) continue;
        Value v;
        v.name = node.output(k);
        v.type.rank_known = false;  // typed by shape inference after dims are bound
        define(node.output(k), g_.add_value(std::move(v)), origin);
      }
    }
  }

  ValueId input_value(const std::string& name, const std::string& label, const std::string& op) {
    if (name.empty()) return ValueId{};  // absent optional input
    auto it = by_name_.find(name);
    if (it == by_name_.end())
      throw GraphError("input '" + name + "' of node '" + label + "' (" + op +
                           ") is never produced: no node output, graph input or initializer has that name",
                       ctx(label, op, name));
    return it->second;
  }

  ValueId fresh_value(const std::string& name, bool constant_tensor, Tensor t = {}) {
    std::string unique = name;
    for (int k = 1; by_name_.count(unique); ++k) unique = name + "." + std::to_string(k);
    ValueId id;
    if (constant_tensor) {
      id = g_.add_constant(unique, std::move(t));
    } else {
      Value v;
      v.name = unique;
      v.type.rank_known = false;
      id = g_.add_value(std::move(v));
    }
    define(unique, id, "the importer");
    return id;
  }

  void add_node(int index) {
    const auto& np = graph_proto_.node(index);
    const std::string label = node_label(np, index);
    const std::string& op = np.op_type();
    const ErrorContext c = ctx(label, op);
    if (op == "Dropout") return add_dropout(np, label, c);
    const OpKind kind = *resolve_op(op);  // check_supported ran first
    const OpInfo& info = op_info(kind);

    Node n;
    n.kind = kind;
    n.name = label;
    n.attrs = attrs_from_proto(kind, np, c, source_, opset_);
    if (n.attrs.index() != info.attrs_index)
      throw Error("importer bug: attrs of " + op + " do not match the op table", c);

    std::vector<std::string> in_names(np.input().begin(), np.input().end());
    while (!in_names.empty() && in_names.back().empty()) in_names.pop_back();
    for (const auto& name : in_names) n.inputs.push_back(input_value(name, label, op));
    attribute_to_input(n, np, c);
    fold_axes_input(n);
    if (static_cast<int>(n.inputs.size()) > info.max_inputs)
      throw UnsupportedError(op + " with " + std::to_string(n.inputs.size()) + " inputs is not supported (at most " +
                                 std::to_string(info.max_inputs) + ")",
                             c);
    if (static_cast<int>(n.inputs.size()) < info.min_inputs)
      throw GraphError(
          op + " needs at least " + std::to_string(info.min_inputs) + " inputs, has " + std::to_string(n.inputs.size()),
          c);

    std::vector<std::string> out_names(np.output().begin(), np.output().end());
    while (!out_names.empty() && out_names.back().empty()) out_names.pop_back();
    if (info.num_outputs >= 0) {
      // Optional trailing outputs (LayerNormalization's Mean / InvStdDev, MaxPool's Indices) that nothing
      // reads are dropped; outputs beyond what the IR op has are refused when something reads them.
      while (static_cast<int>(out_names.size()) > info.min_outputs && !consumed_.count(out_names.back()))
        out_names.pop_back();
      if (static_cast<int>(out_names.size()) > info.num_outputs)
        throw UnsupportedError("output '" + out_names.back() + "' of " + op + " is used but not supported", c);
      if (static_cast<int>(out_names.size()) < info.min_outputs)
        throw GraphError(op + " needs " + std::to_string(info.min_outputs) + " outputs, has " +
                             std::to_string(out_names.size()),
                         c);
    }
    if (out_names.empty()) throw GraphError(op + " has no output", c);
    if (kind == OpKind::Split) check_num_outputs(np, out_names.size(), c);
    for (std::size_t k = 0; k < out_names.size(); ++k)
      n.outputs.push_back(out_names[k].empty() ? fresh_value(label + ".out" + std::to_string(k), false)
                                               : by_name_.at(out_names[k]));

    if (kind == OpKind::Shape)
      if (const auto range = shape_range_from_proto(np, c)) return add_shape_range(std::move(n), *range);
    if (opset_ < 13 && (kind == OpKind::Softmax || kind == OpKind::LogSoftmax || kind == OpKind::Hardmax))
      return add_coerced_2d(std::move(n));
    g_.add_node(std::move(n));
  }

  // Opset 11's attribute forms of what later became inputs: Split 'split', Squeeze / Unsqueeze 'axes'.
  void attribute_to_input(Node& n, const onnx::NodeProto& np, const ErrorContext& c) {
    const char* name = n.kind == OpKind::Split ? "split"
                       : (n.kind == OpKind::Squeeze || n.kind == OpKind::Unsqueeze) ? "axes"
                                                                                    : nullptr;
    if (!name) return;
    const std::optional<std::vector<std::int64_t>> v = ints_attribute(np, name, c);
    if (!v) return;
    if (n.inputs.size() > 1)
      throw ParseError(np.op_type() + " has '" + name + "' both as an attribute and as an input", c);
    const auto count = static_cast<std::int64_t>(v->size());
    n.inputs.push_back(fresh_value(n.name + "." + name, true, Tensor::from_vector<std::int64_t>({count}, *v)));
  }

  // Split-18's num_outputs must equal the number of outputs (the output count decides the parts).
  void check_num_outputs(const onnx::NodeProto& np, std::size_t outputs, const ErrorContext& c) {
    for (const auto& a : np.attribute())
      if (a.name() == "num_outputs" && a.i() != static_cast<std::int64_t>(outputs))
        throw GraphError("Split num_outputs " + std::to_string(a.i()) + " differs from its " +
                             std::to_string(outputs) + " outputs",
                         c);
  }

  // Dropout at inference is the identity; its optional mask output is all true. Training mode (a constant
  // true training_mode with a nonzero ratio) draws random masks: refused, as is a training_mode computed at
  // run time.
  void add_dropout(const onnx::NodeProto& np, const std::string& label, const ErrorContext& c) {
    for (const auto& a : np.attribute())
      if (a.name() != "seed" && a.name() != "ratio")
        throw UnsupportedError("attribute '" + a.name() + "' of Dropout is not supported", c);
    if (np.input_size() < 1 || np.input(0).empty()) throw GraphError("Dropout needs an input", c);
    const ValueId data = input_value(np.input(0), label, "Dropout");
    if (np.input_size() > 2 && !np.input(2).empty()) {
      const ValueId mode = input_value(np.input(2), label, "Dropout");
      if (!g_.is_constant(mode))
        throw UnsupportedError("Dropout training_mode '" + np.input(2) +
                                   "' is computed at run time; only inference (a constant false) is supported",
                               c);
      const std::vector<std::int64_t> on = g_.value(mode).constant->to_i64();
      if (on.size() != 1) throw ShapeError("Dropout training_mode must be a scalar", c);
      float ratio = 0.5f;
      if (np.input_size() > 1 && !np.input(1).empty()) {
        const ValueId r = input_value(np.input(1), label, "Dropout");
        if (!g_.is_constant(r) || g_.value(r).constant->numel() != 1)
          throw UnsupportedError("Dropout in training mode with a ratio computed at run time is not supported", c);
        ratio = g_.value(r).constant->to_f32()[0];
      }
      if (on[0] != 0 && ratio != 0.0f)
        throw UnsupportedError("Dropout in training mode (ratio " + std::to_string(ratio) +
                                   ") draws a random mask; export the model in eval mode",
                               c);
    }
    if (np.output_size() < 1 || np.output(0).empty()) throw GraphError("Dropout has no output", c);
    emit(OpKind::Identity, label, NoAttrs{}, {data}, {by_name_.at(np.output(0))});
    if (np.output_size() > 1 && !np.output(1).empty() && consumed_.count(np.output(1))) {
      const ValueId shape = fresh_value(label + ".shape", false);
      emit(OpKind::Shape, label + ".mask_shape", NoAttrs{}, {data}, {shape});
      emit(OpKind::ConstantOfShape, label + ".mask", ConstantOfShapeAttrs{DType::boolean, 1.0}, {shape},
           {by_name_.at(np.output(1))});
    }
  }

  // Softmax / LogSoftmax / Hardmax before opset 13 coerce X to 2-D [prod(dims < axis), prod(dims >= axis)]:
  // Flatten at the axis, the op over the last axis, Reshape back to X's shape.
  void add_coerced_2d(Node n) {
    const ValueId x = n.inputs.at(0), y = n.outputs.at(0);
    const std::int64_t axis = n.kind == OpKind::Softmax ? std::get<SoftmaxAttrs>(n.attrs).axis
                                                        : std::get<AxisAttrs>(n.attrs).axis;
    const std::string base = n.name;
    const ValueId flat = fresh_value(base + ".2d_in", false), out2d = fresh_value(base + ".2d_out", false);
    const ValueId shape = fresh_value(base + ".shape", false);
    emit(OpKind::Flatten, base + ".flatten", AxisAttrs{axis}, {x}, {flat});
    if (n.kind == OpKind::Softmax) n.attrs = SoftmaxAttrs{-1, false};
    else n.attrs = AxisAttrs{-1};
    n.inputs = {flat};
    n.outputs = {out2d};
    g_.add_node(std::move(n));
    emit(OpKind::Shape, base + ".shape", NoAttrs{}, {x}, {shape});
    emit(OpKind::Reshape, base + ".reshape", ReshapeAttrs{}, {out2d, shape}, {y});
  }

  void emit(OpKind kind, const std::string& name, Attrs attrs, std::vector<ValueId> inputs,
            std::vector<ValueId> outputs) {
    Node n;
    n.kind = kind;
    n.name = name;
    n.attrs = std::move(attrs);
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    g_.add_node(std::move(n));
  }

  // Reduce axes given as a constant input move into ReduceAttrs (attrs.hpp); axes computed at run time stay
  // an input until fold_constants makes them constant.
  void fold_axes_input(Node& n) {
    if (!std::holds_alternative<ReduceAttrs>(n.attrs) || n.inputs.size() < 2 || !n.inputs[1].valid() ||
        !g_.is_constant(n.inputs[1]))
      return;
    std::get<ReduceAttrs>(n.attrs).axes = g_.value(n.inputs[1]).constant->to_i64();
    n.inputs.resize(1);
  }

  // Shape-15 with start/end becomes Shape followed by Slice: the IR's Shape has no attributes, and Slice
  // clamps negative and out-of-range bounds exactly as Shape does.
  void add_shape_range(Node n, const ShapeRange& range) {
    const ValueId out = n.outputs.at(0);
    const std::string base = g_.value(out).name;
    const ValueId full = fresh_value(base + ".full_shape", false);
    n.outputs = {full};
    const std::string label = n.name;
    g_.add_node(std::move(n));
    Node slice;
    slice.kind = OpKind::Slice;
    slice.name = label + ".range";
    slice.attrs = NoAttrs{};
    const std::int64_t end = range.end.value_or(std::numeric_limits<std::int64_t>::max());
    slice.inputs = {full, fresh_value(base + ".start", true, Tensor::from_vector<std::int64_t>({1}, {range.start})),
                    fresh_value(base + ".end", true, Tensor::from_vector<std::int64_t>({1}, {end})),
                    fresh_value(base + ".axes", true, Tensor::from_vector<std::int64_t>({1}, {0}))};
    slice.outputs = {out};
    g_.add_node(std::move(slice));
  }

  void add_graph_outputs() {
    std::vector<ValueId> outputs;
    for (const auto& out : graph_proto_.output()) {
      auto it = by_name_.find(out.name());
      if (it == by_name_.end())
        throw GraphError("graph output '" + out.name() + "' is never produced", ctx({}, {}, out.name()));
      outputs.push_back(it->second);
    }
    if (outputs.empty()) throw GraphError("the model has no graph output", ctx());
    g_.set_outputs(std::move(outputs));
  }

  const onnx::ModelProto& model_;
  const onnx::GraphProto& graph_proto_;
  std::string file_;
  std::int64_t opset_;
  TensorSource source_;
  Graph g_;
  std::unordered_map<std::string, ValueId> by_name_;
  std::unordered_map<std::string, std::string> origin_;
  std::set<std::string> consumed_;
};

// Rethrows the current snnconv::Error with the model file added to its context, keeping its type (and so
// its exit code).
[[noreturn]] void rethrow_with_file(const std::string& file) {
  auto add = [&](const Error& e) {
    ErrorContext c = e.context();
    if (c.file.empty()) c.file = file;
    return c;
  };
  try {
    throw;
  } catch (const UsageError& e) {
    throw UsageError(e.message(), add(e));
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(e.message(), add(e));
  } catch (const GraphError& e) {
    throw GraphError(e.message(), add(e));
  } catch (const ShapeError& e) {
    throw ShapeError(e.message(), add(e));
  } catch (const ParseError& e) {
    throw ParseError(e.message(), add(e));
  } catch (const LimitError& e) {
    throw LimitError(e.message(), add(e));
  } catch (const NumericError& e) {
    throw NumericError(e.message(), add(e));
  } catch (const IoError& e) {
    throw IoError(e.message(), add(e));
  }
  // A plain Error (or anything else) propagates unchanged from `throw;`.
}

}  // namespace

Graph read_onnx(const std::string& path, const ImportOptions& options) {
  const onnx::ModelProto model = load_model(path, options.max_file_bytes);
  const ErrorContext ctx{path, {}, {}, {}};
  const std::int64_t opset = default_opset(model, ctx);
  check_supported(model.graph(), opset, ctx);
  Graph g = GraphBuilder(model, path, opset).build();
  try {
    (void)g.topological_order();  // a cycle or a dangling input is a GraphError naming a node
  } catch (const Error&) {
    rethrow_with_file(path);
  }
  return g;
}

Graph import_onnx(const std::string& path, const ImportOptions& options) {
  Graph g = read_onnx(path, options);
  try {
    check_finite_constants(g);
    bind_model_dims(g, options.dims);
    FoldOptions fold;
    fold.keep_dead = options.keep_dead;
    fold_constants(g, fold);
  } catch (const Error&) {
    rethrow_with_file(path);
  }
  return g;
}

Tensor read_tensor_file(const std::string& path) {
  ErrorContext ctx;
  ctx.file = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open tensor file", ctx);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  onnx::TensorProto t;
  if (bytes.empty() || !t.ParseFromString(bytes)) throw ParseError("not a serialized ONNX TensorProto", ctx);
  TensorSource source;
  source.file = path;
  source.model_dir = std::filesystem::path(path).parent_path();
  return tensor_from_proto(t, "tensor '" + t.name() + "'", source);
}

}  // namespace snnconv::onnx_import
