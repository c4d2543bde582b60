// Builds small ONNX models with the protobuf API for the converter tests (good and deliberately broken ones).
#pragma once

#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace snnconv::test {

// A fresh folder per call under the system temp dir; removed by the destructor.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("snnconv_converter_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Dims of a value_info: a number is a dim_value, "" an unknown dim, anything else a dim_param.
using DimSpec = std::vector<std::string>;

class ModelBuilder {
 public:
  explicit ModelBuilder(std::int64_t opset = 17) {
    model.set_ir_version(8);
    model.set_producer_name("snnconv-test");
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    graph().set_name("test_graph");
  }

  onnx::GraphProto& graph() { return *model.mutable_graph(); }

  void input(const std::string& name, int elem, const DimSpec& dims) { fill(*graph().add_input(), name, elem, dims); }
  void output(const std::string& name, int elem = onnx::TensorProto::FLOAT) {
    auto* v = graph().add_output();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
  }

  onnx::TensorProto& initializer(const std::string& name, int elem, const std::vector<std::int64_t>& dims) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(elem);
    for (auto d : dims) t->add_dims(d);
    return *t;
  }
  // f32 initializer written as raw_data (what torch writes for weights).
  onnx::TensorProto& weight(const std::string& name, const std::vector<std::int64_t>& dims,
                            const std::vector<float>& values) {
    auto& t = initializer(name, onnx::TensorProto::FLOAT, dims);
    t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return t;
  }
  onnx::TensorProto& ints(const std::string& name, const std::vector<std::int64_t>& dims,
                          const std::vector<std::int64_t>& values) {
    auto& t = initializer(name, onnx::TensorProto::INT64, dims);
    for (auto v : values) t.add_int64_data(v);
    return t;
  }

  onnx::NodeProto& node(const std::string& op, std::initializer_list<std::string> inputs,
                        std::initializer_list<std::string> outputs, const std::string& name = {}) {
    auto* n = graph().add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return *n;
  }

  std::string save(const std::string& path) const {
    std::ofstream out(path, std::ios::binary);
    model.SerializeToOstream(&out);
    return path;
  }
  std::string bytes() const { return model.SerializeAsString(); }

  onnx::ModelProto model;

 private:
  static void fill(onnx::ValueInfoProto& v, const std::string& name, int elem, const DimSpec& dims) {
    v.set_name(name);
    auto* tt = v.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (const auto& d : dims) {
      auto* dim = shape->add_dim();
      if (d.empty()) continue;
      if (d[0] == '-' || (d[0] >= '0' && d[0] <= '9'))
        dim->set_dim_value(std::stoll(d));
      else
        dim->set_dim_param(d);
    }
  }
};

inline onnx::AttributeProto& attr(onnx::NodeProto& n, const std::string& name,
                                  onnx::AttributeProto::AttributeType type) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(type);
  return *a;
}
inline void attr_int(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
  attr(n, name, onnx::AttributeProto::INT).set_i(v);
}
inline void attr_float(onnx::NodeProto& n, const std::string& name, float v) {
  attr(n, name, onnx::AttributeProto::FLOAT).set_f(v);
}
inline void attr_string(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  attr(n, name, onnx::AttributeProto::STRING).set_s(v);
}
inline void attr_ints(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
  auto& a = attr(n, name, onnx::AttributeProto::INTS);
  for (auto x : v) a.add_ints(x);
}
inline onnx::TensorProto& attr_tensor(onnx::NodeProto& n, const std::string& name) {
  return *attr(n, name, onnx::AttributeProto::TENSOR).mutable_t();
}

}  // namespace snnconv::test
