// write_model_file / read_model_file (model_file.hpp). Layout, per graph group /NAME:
//   attributes  name, stage, opset, source_file
//   metadata/   one string attribute per graph metadata entry
//   value_names [V] strings, value_dtypes [V] i32, value_ranks [V] i32, value_dims [sum ranks] i64
//   constants/V  the constant tensor of value V
//   quant/V      attributes bits, n_min, n_max, axis, group_size; datasets scale f32, zero_point i32
//   node_kinds [N] strings (op names), node_names [N] strings, node_attr_kinds [N] i32
//   node_input_counts, node_output_counts, node_attr_counts [N] i32; node_inputs, node_outputs,
//   node_attrs flat i64 (value index, -1 for an absent optional input; attribute words)
//   inputs, outputs  i64 value indices
// Root attributes: format "snnconv-model", format_version 1, then the caller's metadata.
#include "snnconv/datasets/model_file.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>

#include "h5_io.hpp"
#include "hdf5_probe.hpp"
#include "snnconv/core/attrs_codec.hpp"
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv::datasets {
namespace {

namespace fs = std::filesystem;
ModelFile read_unprobed(const fs::path& path);  // read_model_file without the probe
ModelFile read_open(const H5::H5File& f, const std::string& file);  // the reads of an open file
using detail::Where;

constexpr const char* kModelFormat = "snnconv-model";
constexpr std::int64_t kModelFormatVersion = 1;

template <typename T> Tensor vec(const std::vector<T>& v) {
  return Tensor::from_vector<T>({static_cast<std::int64_t>(v.size())}, v);
}

void write_graph(H5::Group& grp, const Graph& g, const std::string& what) {
  detail::set_string_attribute(grp, "name", g.name);
  detail::set_string_attribute(grp, "stage", std::string(stage_name(g.stage)));
  detail::set_integer_attribute(grp, "opset", g.opset);
  detail::set_string_attribute(grp, "source_file", g.source_file);
  H5::Group meta = detail::create_group(grp, "metadata");
  for (const auto& [k, v] : g.metadata) detail::set_string_attribute(meta, k, v);
  std::vector<std::string> names;
  std::vector<std::int32_t> dtypes, ranks;
  std::vector<std::int64_t> dims;
  H5::Group consts = detail::create_group(grp, "constants");
  H5::Group quants = detail::create_group(grp, "quant");
  for (std::uint32_t i = 0; i < g.num_values(); ++i) {
    const Value& v = g.value(ValueId(i));
    names.push_back(v.name);
    dtypes.push_back(static_cast<std::int32_t>(v.type.dtype));
    if (!v.type.is_static())
      throw UsageError(what + ": value '" + v.name + "' has symbolic dims; bind them before saving");
    ranks.push_back(static_cast<std::int32_t>(v.type.dims.size()));
    for (const Dim& d : v.type.dims) dims.push_back(d.value);
    if (v.constant) {
      if (v.constant->dtype() == DType::f16)
        throw UsageError(what + ": constant '" + v.name + "' is f16, which the model file does not store");
      Tensor c = v.constant->dtype() == DType::boolean ? v.constant->cast(DType::u8) : *v.constant;
      detail::write_tensor(consts, std::to_string(i), c, 0);
    }
    if (v.quant) {
      H5::Group q = detail::create_group(quants, std::to_string(i));
      detail::set_integer_attribute(q, "bits", v.quant->bits);
      detail::set_integer_attribute(q, "n_min", v.quant->n_min);
      detail::set_integer_attribute(q, "n_max", v.quant->n_max);
      detail::set_integer_attribute(q, "axis", v.quant->axis);
      detail::set_integer_attribute(q, "group_size", v.quant->group_size);
      detail::write_tensor(q, "scale", vec(v.quant->scale), 0);
      detail::write_tensor(q, "zero_point", vec(v.quant->zero_point), 0);
    }
  }
  detail::write_strings(grp, "value_names", names);
  detail::write_tensor(grp, "value_dtypes", vec(dtypes), 0);
  detail::write_tensor(grp, "value_ranks", vec(ranks), 0);
  detail::write_tensor(grp, "value_dims", vec(dims), 0);
  std::vector<std::string> kinds, node_names;
  std::vector<std::int32_t> attr_kinds, in_counts, out_counts, attr_counts;
  std::vector<std::int64_t> ins, outs, attrs;
  for (const Node& n : g.nodes()) {
    kinds.emplace_back(op_name(n.kind));
    node_names.push_back(n.name);
    attr_kinds.push_back(static_cast<std::int32_t>(n.attrs.index()));
    in_counts.push_back(static_cast<std::int32_t>(n.inputs.size()));
    out_counts.push_back(static_cast<std::int32_t>(n.outputs.size()));
    for (ValueId v : n.inputs) ins.push_back(v.valid() ? static_cast<std::int64_t>(v.index) : -1);
    for (ValueId v : n.outputs) outs.push_back(static_cast<std::int64_t>(v.index));
    const std::vector<std::int64_t> w = encode_attrs(n.attrs);
    attr_counts.push_back(static_cast<std::int32_t>(w.size()));
    attrs.insert(attrs.end(), w.begin(), w.end());
  }
  detail::write_strings(grp, "node_kinds", kinds);
  detail::write_strings(grp, "node_names", node_names);
  detail::write_tensor(grp, "node_attr_kinds", vec(attr_kinds), 0);
  detail::write_tensor(grp, "node_input_counts", vec(in_counts), 0);
  detail::write_tensor(grp, "node_output_counts", vec(out_counts), 0);
  detail::write_tensor(grp, "node_attr_counts", vec(attr_counts), 0);
  detail::write_tensor(grp, "node_inputs", vec(ins), 0);
  detail::write_tensor(grp, "node_outputs", vec(outs), 0);
  detail::write_tensor(grp, "node_attrs", vec(attrs), 0);
  std::vector<std::int64_t> gi, go;
  for (ValueId v : g.inputs()) gi.push_back(v.index);
  for (ValueId v : g.outputs()) go.push_back(v.index);
  detail::write_tensor(grp, "inputs", vec(gi), 0);
  detail::write_tensor(grp, "outputs", vec(go), 0);
}

class GraphReader {
 public:
  GraphReader(const H5::H5File& f, std::string file, std::string group) : f_(f), file_(std::move(file)), grp_(std::move(group)) {}

  Graph read() {
    Graph g;
    const auto go = detail::open_object(f_, "/" + grp_);
    if (!go) fail("/" + grp_, "missing graph group");
    const H5::H5Object& obj = go->get();
    const Where w{file_, "/" + grp_};
    g.name = detail::get_string_attribute(obj, "name", w).value_or("");
    const std::string stage = detail::get_string_attribute(obj, "stage", w).value_or("");
    bool found = false;
    for (Stage s : {Stage::imported, Stage::canonical, Stage::quantized, Stage::spiking})
      if (stage_name(s) == stage) g.stage = s, found = true;
    if (!found) fail("/" + grp_, "unknown stage '" + stage + "'");
    g.opset = static_cast<int>(detail::get_integer_attribute(obj, "opset", w).value_or(17));
    g.source_file = detail::get_string_attribute(obj, "source_file", w).value_or("");
    if (const auto meta = detail::open_object(f_, "/" + grp_ + "/metadata")) {
      const H5::H5Object& m = meta->get();
      for (int i = 0; i < m.getNumAttrs(); ++i) {
        const std::string key = m.openAttribute(static_cast<unsigned>(i)).getName();
        g.metadata[key] = detail::get_string_attribute(m, key, {file_, "/" + grp_ + "/metadata"}).value_or("");
      }
    }
    const std::vector<std::string> names = strings("value_names");
    const std::vector<std::int64_t> dtypes = ints("value_dtypes"), ranks = ints("value_ranks"), dims = ints("value_dims");
    if (dtypes.size() != names.size() || ranks.size() != names.size()) fail(path("value_dtypes"), "value tables differ in length");
    std::size_t at = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
      Value v;
      v.name = names[i];
      if (dtypes[i] < 0 || dtypes[i] >= kDTypeCount) fail(path("value_dtypes"), fmt::format("bad dtype {} of value {}", dtypes[i], i));
      v.type.dtype = static_cast<DType>(dtypes[i]);
      if (ranks[i] < 0 || ranks[i] > 8 || at + static_cast<std::size_t>(ranks[i]) > dims.size())
        fail(path("value_ranks"), fmt::format("bad rank {} of value {}", ranks[i], i));
      Shape shape;
      for (std::int64_t r = 0; r < ranks[i]; ++r) {
        const std::int64_t d = dims[at++];
        if (d < 0) fail(path("value_dims"), fmt::format("negative dim of value '{}'", v.name));
        shape.push_back(d);
      }
      checked_numel(shape, v.name);
      v.type = TensorType::of(v.type.dtype, shape);
      const std::string cpath = "/" + grp_ + "/constants/" + std::to_string(i);
      if (const auto c = detail::open_object(f_, cpath)) {
        if (!c->dataset()) fail(cpath, "not a dataset");
        const DType read_as = v.type.dtype == DType::boolean ? DType::u8 : v.type.dtype;
        Tensor t = detail::read_rows(*c->dataset(), read_as, detail::dataset_shape(*c->dataset()), 0, -1);
        if (t.shape() != shape) fail(cpath, "constant shape " + shape_to_string(t.shape()) + " differs from its value's " + shape_to_string(shape));
        v.constant = v.type.dtype == DType::boolean ? t.cast(DType::boolean) : std::move(t);
      }
      const std::string qpath = "/" + grp_ + "/quant/" + std::to_string(i);
      if (const auto q = detail::open_object(f_, qpath)) {
        const Where qw{file_, qpath};
        QuantParams qp;
        qp.bits = static_cast<int>(detail::get_integer_attribute(q->get(), "bits", qw).value_or(8));
        qp.n_min = static_cast<std::int32_t>(detail::get_integer_attribute(q->get(), "n_min", qw).value_or(-128));
        qp.n_max = static_cast<std::int32_t>(detail::get_integer_attribute(q->get(), "n_max", qw).value_or(127));
        qp.axis = static_cast<int>(detail::get_integer_attribute(q->get(), "axis", qw).value_or(-1));
        qp.group_size = static_cast<int>(detail::get_integer_attribute(q->get(), "group_size", qw).value_or(0));
        qp.scale = read_tensor(qpath + "/scale", DType::f32).to_f32();
        for (std::int64_t z : read_tensor(qpath + "/zero_point", DType::i32).to_i64()) qp.zero_point.push_back(static_cast<std::int32_t>(z));
        if (qp.scale.empty() || qp.n_min > qp.n_max || (!qp.zero_point.empty() && qp.zero_point.size() != qp.scale.size()))
          fail(qpath, "inconsistent quantization parameters");
        for (float s : qp.scale)
          if (!(s > 0.0f) || !std::isfinite(s)) fail(qpath, "a quantization step is not a positive finite number");
        v.quant = std::move(qp);
      }
      g.add_value(std::move(v));
    }
    const std::vector<std::string> kinds = strings("node_kinds"), node_names = strings("node_names");
    const std::vector<std::int64_t> attr_kinds = ints("node_attr_kinds"), in_counts = ints("node_input_counts"),
                                    out_counts = ints("node_output_counts"), attr_counts = ints("node_attr_counts"),
                                    ins = ints("node_inputs"), outs = ints("node_outputs"), attrs = ints("node_attrs");
    const std::size_t n = kinds.size();
    if (node_names.size() != n || attr_kinds.size() != n || in_counts.size() != n || out_counts.size() != n ||
        attr_counts.size() != n)
      fail(path("node_kinds"), "node tables differ in length");
    std::size_t ii = 0, oi = 0, ai = 0;
    auto value_at = [&](std::int64_t idx, bool allow_absent, const std::string& obj) {
      if (idx == -1 && allow_absent) return ValueId{};
      if (idx < 0 || static_cast<std::size_t>(idx) >= names.size()) fail(path(obj), fmt::format("value index {} out of range", idx));
      return ValueId(static_cast<std::uint32_t>(idx));
    };
    for (std::size_t k = 0; k < n; ++k) {
      Node nd;
      const auto kind = op_from_name(kinds[k]);
      if (!kind) fail(path("node_kinds"), "unknown op '" + kinds[k] + "'");
      nd.kind = *kind;
      nd.name = node_names[k];
      if (in_counts[k] < 0 || out_counts[k] < 0 || attr_counts[k] < 0 || ii + static_cast<std::size_t>(in_counts[k]) > ins.size() ||
          oi + static_cast<std::size_t>(out_counts[k]) > outs.size() || ai + static_cast<std::size_t>(attr_counts[k]) > attrs.size())
        fail(path("node_input_counts"), fmt::format("node {} ('{}') overruns the flat tables", k, nd.name));
      for (std::int64_t j = 0; j < in_counts[k]; ++j) nd.inputs.push_back(value_at(ins[ii++], true, "node_inputs"));
      for (std::int64_t j = 0; j < out_counts[k]; ++j) nd.outputs.push_back(value_at(outs[oi++], false, "node_outputs"));
      nd.attrs = decode_attrs(static_cast<std::size_t>(attr_kinds[k]),
                              std::span<const std::int64_t>(attrs.data() + ai, static_cast<std::size_t>(attr_counts[k])),
                              file_ + ": " + path("node_attrs") + " of node '" + nd.name + "'");
      ai += static_cast<std::size_t>(attr_counts[k]);
      for (ValueId o : nd.outputs)
        if (g.value(o).producer.valid() || g.value(o).constant) fail(path("node_outputs"), "value '" + g.value(o).name + "' is produced twice");
      g.add_node(std::move(nd));
    }
    std::vector<ValueId> gi, go2;
    for (std::int64_t v : ints("inputs")) gi.push_back(value_at(v, false, "inputs"));
    for (std::int64_t v : ints("outputs")) go2.push_back(value_at(v, false, "outputs"));
    g.set_inputs(gi);
    g.set_outputs(go2);
    try {
      (void)g.topological_order();
      verify(g, g.stage);
    } catch (const Error& e) {
      fail("/" + grp_, std::string("the stored graph is not valid: ") + e.what());
    }
    try {  // weights as an ONNX import checks them: NaN never, Inf only in masks
      check_finite_constants(g);
    } catch (const NumericError& e) {
      throw NumericError(e.message(), {file_, e.context().node, e.context().op, e.context().value});
    }
    return g;
  }

 private:
  [[noreturn]] void fail(const std::string& object, const std::string& msg) const {
    detail::fail_parse({file_, object}, msg);
  }
  std::string path(const std::string& name) const { return "/" + grp_ + "/" + name; }
  Tensor read_tensor(const std::string& p, DType as) const {
    const auto o = detail::open_object(f_, p);
    if (!o || !o->dataset()) fail(p, "missing dataset");
    const Shape s = detail::dataset_shape(*o->dataset());
    if (s.size() != 1) fail(p, "must be one-dimensional");
    return detail::read_rows(*o->dataset(), as, s, 0, -1);
  }
  std::vector<std::int64_t> ints(const std::string& name) const { return read_tensor(path(name), DType::i64).to_i64(); }
  std::vector<std::string> strings(const std::string& name) const {
    const auto o = detail::open_object(f_, path(name));
    if (!o || !o->dataset()) fail(path(name), "missing dataset");
    return detail::read_strings(*o->dataset(), {file_, path(name)});
  }

  const H5::H5File& f_;
  std::string file_, grp_;
};

}  // namespace

const Graph* ModelFile::find(const std::string& name) const {
  for (const auto& [n, g] : graphs)
    if (n == name) return &g;
  return nullptr;
}

std::string model_file_image(const fs::path& path, const std::map<std::string, std::string>& metadata,
                             const std::vector<std::pair<std::string, const Graph*>>& graphs) {
  const auto build = [&](H5::H5File& f) {
    detail::set_string_attribute(f, "format", kModelFormat);
    detail::set_integer_attribute(f, "format_version", kModelFormatVersion);
    for (const auto& [k, v] : metadata) detail::set_string_attribute(f, k, v);
    std::vector<std::string> order;
    for (const auto& [name, g] : graphs) {
      H5::Group grp = detail::create_group(f, "/" + name);
      write_graph(grp, *g, path.string() + ": graph '" + name + "'");
      order.push_back(name);
    }
    detail::write_strings(f.openGroup("/"), "graphs", order);
  };
  // What is written is what we can read.
  const auto check = [&](const H5::H5File& f) { (void)read_open(f, path.string()); };
  return detail::build_file_image(path, "model file", build, check);
}

void write_model_file(const fs::path& path, const std::map<std::string, std::string>& metadata,
                      const std::vector<std::pair<std::string, const Graph*>>& graphs) {
  write_file_atomically(path, model_file_image(path, metadata, graphs), "model file");
}

namespace {

ModelFile read_unprobed(const fs::path& path) {
  detail::silence_hdf5();
  const std::string file = path.string();
  try {
    return read_open(detail::open_read_only(file), file);
  } catch (const H5::Exception& e) {
    throw ParseError("malformed model file: " + detail::describe(e), {file, "", "", ""});
  }
}

ModelFile read_open(const H5::H5File& f, const std::string& file) {
  try {
    const Where root{file, "/"};
    const H5::Group g = f.openGroup("/");
    if (detail::get_string_attribute(g, "format", root).value_or("") != kModelFormat)
      detail::fail_parse(root, "not an snnconv model file (attribute format != 'snnconv-model')");
    const auto version = detail::get_integer_attribute(g, "format_version", root).value_or(0);
    if (version != kModelFormatVersion) detail::fail_parse(root, fmt::format("unsupported format_version {}", version));
    ModelFile mf;
    for (int i = 0; i < g.getNumAttrs(); ++i) {
      const std::string key = g.openAttribute(static_cast<unsigned>(i)).getName();
      if (key == "format" || key == "format_version") continue;
      mf.metadata[key] = detail::get_string_attribute(g, key, root).value_or("");
    }
    const auto order = detail::open_object(f, "/graphs");
    if (!order || !order->dataset()) detail::fail_parse({file, "/graphs"}, "missing list of graphs");
    for (const std::string& name : detail::read_strings(*order->dataset(), {file, "/graphs"}))
      mf.graphs.emplace_back(name, GraphReader(f, file, name).read());
    return mf;
  } catch (const H5::Exception& e) {
    throw ParseError("malformed model file: " + detail::describe(e), {file, "", "", ""});
  }
}

}  // namespace

ModelFile read_model_file(const fs::path& path) {
  // The whole read runs in a child first: libhdf5 may crash or hang on a corrupt file (hdf5_probe.hpp).
  detail::probe_hdf5_file(path, [&] { (void)read_unprobed(path); });
  return read_unprobed(path);
}

bool is_model_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  if (!in.read(sig, 8)) return false;
  return std::string(sig, 8) == std::string("\x89HDF\r\n\x1a\n", 8);
}

}  // namespace snnconv::datasets
