#include "snnconv/datasets/nir_file.hpp"

#include <fmt/format.h>

#include <set>

#include "h5_io.hpp"
#include "snnconv/core/atomic_output.hpp"

namespace snnconv::datasets {

using detail::fail_parse;
using detail::Where;

namespace {

// A scalar (or one-element) string dataset, variable or fixed length.
std::string read_scalar_string(const H5::DataSet& ds, const Where& where) {
  const H5::DataType stored = ds.getDataType();
  if (!detail::is_string_type(stored)) fail_parse(where, "expected a string, found " + detail::describe_type(stored));
  if (ds.getSpace().getSimpleExtentNpoints() != 1) fail_parse(where, "expected one string");
  const H5::StrType st = ds.getStrType();
  std::string out;
  if (st.isVariableStr()) {
    H5::StrType memory(H5::PredType::C_S1, H5T_VARIABLE);
    memory.setCset(st.getCset());
    char* p = nullptr;
    ds.read(&p, memory);
    if (p) {
      out = p;
      H5free_memory(p);
    }
  } else {
    ds.read(out, st);
    while (!out.empty() && out.back() == '\0') out.pop_back();
  }
  return out;
}

// Edges: a [E, 2] array of strings (E = 0 may be stored as shape [0] or [0, 2]).
std::vector<nir::Edge> read_edges(const H5::DataSet& ds, const Where& where) {
  const Shape shape = detail::dataset_shape(ds);
  if (shape.size() == 1 && shape[0] == 0) return {};
  if (shape.size() != 2 || shape[1] != 2)
    fail_parse(where, fmt::format("edges must be a [E, 2] array of node names, found shape {}", shape_to_string(shape)));
  if (!detail::is_string_type(ds.getDataType()))
    fail_parse(where, "edges must be strings, found " + detail::describe_type(ds.getDataType()));
  const std::size_t n = static_cast<std::size_t>(shape[0]) * 2;
  std::vector<std::string> names;
  const H5::StrType st = ds.getStrType();
  if (st.isVariableStr()) {
    H5::StrType memory(H5::PredType::C_S1, H5T_VARIABLE);
    memory.setCset(st.getCset());
    std::vector<char*> pointers(n, nullptr);
    struct Reclaim {
      std::vector<char*>& p;
      ~Reclaim() {
        for (char* q : p)
          if (q) H5free_memory(q);
      }
    } reclaim{pointers};
    ds.read(pointers.data(), memory);
    for (char* p : pointers) names.emplace_back(p ? p : "");
  } else {
    const std::size_t width = st.getSize();
    std::string buffer(n * width, '\0');
    ds.read(buffer.data(), st);
    for (std::size_t i = 0; i < n; ++i) {
      std::string s = buffer.substr(i * width, width);
      s.erase(s.find_last_not_of('\0') + 1);
      names.push_back(std::move(s));
    }
  }
  std::vector<nir::Edge> edges;
  for (std::size_t i = 0; i < n; i += 2) edges.push_back({names[i], names[i + 1]});
  return edges;
}

nir::Param read_param(const H5::DataSet& ds, const std::string& name, const Where& where) {
  const H5::DataType stored = ds.getDataType();
  nir::Param p;
  p.name = name;
  switch (stored.getClass()) {
    case H5T_FLOAT: p.type = stored.getSize() > 4 ? nir::ParamType::f64 : nir::ParamType::f32; break;
    case H5T_INTEGER: p.type = nir::ParamType::i64; break;
    default:
      fail_parse(where, fmt::format("parameter '{}' must be numeric, found {}", name, detail::describe_type(stored)));
  }
  p.shape = detail::dataset_shape(ds);
  const std::int64_t n = checked_numel(p.shape, where.object);
  p.values.resize(static_cast<std::size_t>(n));
  if (n > 0) ds.read(p.values.data(), H5::PredType::NATIVE_DOUBLE);
  return p;
}

nir::Graph read_graph(const H5::H5File& file, const std::string& path) {
  nir::Graph g;
  g.source_file = path;
  auto root = detail::open_object(file, "/node");
  if (!root || root->dataset()) fail_parse({path, "/node"}, "not a NIR file: no group /node");
  if (auto v = detail::open_object(file, "/version"); v && v->dataset()) g.version = read_scalar_string(*v->dataset(), {path, "/version"});
  auto type = detail::open_object(file, "/node/type");
  if (!type || !type->dataset()) fail_parse({path, "/node/type"}, "not a NIR file: /node has no type");
  const std::string graph_type = read_scalar_string(*type->dataset(), {path, "/node/type"});
  if (graph_type != "NIRGraph") fail_parse({path, "/node/type"}, "the top node is a '" + graph_type + "', not a NIRGraph");
  auto nodes = detail::open_object(file, "/node/nodes");
  if (!nodes || nodes->dataset()) fail_parse({path, "/node/nodes"}, "not a NIR file: no group /node/nodes");
  const H5::Group& group = std::get<H5::Group>(nodes->handle);
  std::vector<std::string> unsupported;
  for (hsize_t i = 0; i < group.getNumObjs(); ++i) {
    const std::string name = group.getObjnameByIdx(i);
    const std::string node_path = "/node/nodes/" + name;
    if (group.getObjTypeByIdx(i) != H5G_GROUP) fail_parse({path, node_path}, "a node must be a group");
    const H5::Group ng = group.openGroup(name);
    if (!ng.nameExists("type") || ng.childObjType("type") != H5O_TYPE_DATASET)
      fail_parse({path, node_path}, "the node has no 'type'");
    const std::string type_name = read_scalar_string(ng.openDataSet("type"), {path, node_path + "/type"});
    const auto t = nir::parse_node_type(type_name);
    if (!t) {
      unsupported.push_back(fmt::format("'{}' ({})", name, type_name));
      continue;
    }
    nir::Node node;
    node.name = name;
    node.type = *t;
    for (hsize_t j = 0; j < ng.getNumObjs(); ++j) {
      const std::string pname = ng.getObjnameByIdx(j);
      if (pname == "type") continue;
      // Metadata groups (newer files) carry no dynamics; they are not read.
      if (ng.getObjTypeByIdx(j) != H5G_DATASET) continue;
      node.params.push_back(read_param(ng.openDataSet(pname), pname, {path, node_path + "/" + pname}));
    }
    g.nodes.push_back(std::move(node));
  }
  if (!unsupported.empty()) {
    std::string list;
    for (const std::string& u : unsupported) list += (list.empty() ? "" : ", ") + u;
    throw UnsupportedError(fmt::format("NIR nodes of types this tool does not simulate: {} (supported: Input, Output, "
                                       "Affine, Linear, Scale, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d, IF, LIF, "
                                       "CubaLIF, LI, Integrator, Threshold; docs/nir.md)",
                                       list),
                           ErrorContext{path, {}, {}, {}});
  }
  auto edges = detail::open_object(file, "/node/edges");
  if (!edges || !edges->dataset()) fail_parse({path, "/node/edges"}, "not a NIR file: no /node/edges");
  g.edges = read_edges(*edges->dataset(), {path, "/node/edges"});
  for (const nir::Edge& e : g.edges)
    for (const std::string* end : {&e.src, &e.dst})
      if (!g.find(*end))
        throw GraphError(fmt::format("edge {} -> {} names node '{}', which the file does not hold", e.src, e.dst, *end),
                         ErrorContext{path, *end, {}, {}});
  return g;
}

void write_scalar_string(const H5::Group& parent, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  H5::DSetCreatPropList create;
  H5Pset_obj_track_times(create.getId(), 0);
  H5::DataSet ds = parent.createDataSet(name, type, H5::DataSpace(H5S_SCALAR), create);
  const char* p = value.c_str();
  ds.write(&p, type);
}

void write_param(const H5::Group& parent, const nir::Param& p) {
  std::vector<hsize_t> dims(p.shape.begin(), p.shape.end());
  H5::DataSpace space = dims.empty() ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
  H5::DSetCreatPropList create;
  H5Pset_obj_track_times(create.getId(), 0);
  const H5::PredType& stored = p.type == nir::ParamType::f32   ? H5::PredType::IEEE_F32LE
                               : p.type == nir::ParamType::f64 ? H5::PredType::IEEE_F64LE
                                                               : H5::PredType::STD_I64LE;
  H5::DataSet ds = parent.createDataSet(p.name, stored, space, create);
  if (!p.values.empty()) ds.write(p.values.data(), H5::PredType::NATIVE_DOUBLE);
}

void build(H5::H5File& file, const nir::Graph& g) {
  const H5::Group root = file.openGroup("/");
  write_scalar_string(root, "version", g.version);
  const H5::Group node = detail::create_group(root, "node");
  write_scalar_string(node, "type", "NIRGraph");
  const H5::Group nodes = detail::create_group(node, "nodes");
  for (const nir::Node& n : g.nodes) {
    const H5::Group ng = detail::create_group(nodes, n.name);
    write_scalar_string(ng, "type", std::string(nir::node_type_name(n.type)));
    for (const nir::Param& p : n.params) write_param(ng, p);
  }
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  hsize_t dims[2] = {g.edges.size(), 2};
  H5::DSetCreatPropList create;
  H5Pset_obj_track_times(create.getId(), 0);
  H5::DataSet ds = node.createDataSet("edges", type, H5::DataSpace(2, dims), create);
  std::vector<const char*> pointers;
  for (const nir::Edge& e : g.edges) {
    pointers.push_back(e.src.c_str());
    pointers.push_back(e.dst.c_str());
  }
  if (!pointers.empty()) ds.write(pointers.data(), type);
}

void check_edges(const nir::Graph& g, const std::filesystem::path& path) {
  std::set<std::string, std::less<>> names;
  for (const nir::Node& n : g.nodes)
    if (!names.insert(n.name).second)
      throw UsageError("NIR graph: two nodes are named '" + n.name + "'", ErrorContext{path.string(), n.name, {}, {}});
  for (const nir::Edge& e : g.edges)
    if (!names.count(e.src) || !names.count(e.dst))
      throw UsageError(fmt::format("NIR graph: edge {} -> {} names a missing node", e.src, e.dst),
                       ErrorContext{path.string(), {}, {}, {}});
}

}  // namespace

nir::Graph read_nir_file(const std::filesystem::path& path) {
  H5::H5File file;
  try {
    file = detail::open_read_only(path.string());
  } catch (const IoError& e) {
    // HDF5 recognised the signature but could not open the file: its end is missing or damaged.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw;
    throw ParseError("not a readable NIR file: the HDF5 structure is truncated or damaged (" + e.message() + ")",
                     ErrorContext{path.string(), {}, {}, {}});
  }
  try {
    return read_graph(file, path.string());
  } catch (const H5::Exception& e) {
    throw ParseError("malformed NIR file: " + detail::describe(e), ErrorContext{path.string(), {}, {}, {}});
  }
}

std::string nir_file_image(const std::filesystem::path& path, const nir::Graph& graph) {
  check_edges(graph, path);
  return detail::build_file_image(path, "NIR file", [&](H5::H5File& f) { build(f, graph); },
                                  [&](const H5::H5File& f) { (void)read_graph(f, path.string()); });
}

void write_nir_file(const std::filesystem::path& path, const nir::Graph& graph) {
  check_edges(graph, path);
  detail::write_file_atomically(path, "NIR file", [&](H5::H5File& f) { build(f, graph); },
                                [&](const H5::H5File& f) { (void)read_graph(f, path.string()); });
}

bool is_nir_file(const std::filesystem::path& path) {
  try {
    detail::silence_hdf5();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    if (H5Fis_hdf5(path.string().c_str()) <= 0) return false;
    const H5::H5File file(path.string(), H5F_ACC_RDONLY);
    auto type = detail::open_object(file, "/node/type");
    return type && type->dataset() && read_scalar_string(*type->dataset(), {path.string(), "/node/type"}) == "NIRGraph";
  } catch (...) {
    return false;
  }
}

}  // namespace snnconv::datasets
