// The importer on real torch exports (examples/fixtures, made by make_fixtures.py): parameter and MAC
// counts, output shapes, and agreement with ONNX's own shape inference on every statically known value.
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "onnx_model_builder.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/stats.hpp"

namespace snnconv {
namespace {

using nlohmann::json;

std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("SNNCONV_FIXTURES_DIR")) return env;
  return std::filesystem::path(SNNCONV_SOURCE_DIR) / "examples" / "fixtures";
}

struct Fixture {
  std::string file;  // full path
  json entry;
};

std::vector<Fixture> load_fixtures() {
  const auto manifest = fixtures_dir() / "fixtures.json";
  std::ifstream in(manifest);
  if (!in) return {};
  const json doc = json::parse(in);
  std::vector<Fixture> out;
  for (const auto& [name, entry] : doc.at("models").items()) out.push_back({(fixtures_dir() / name).string(), entry});
  return out;
}

// The fixture's bound dims restricted to the symbols its inputs have (static exports have none).
std::map<std::string, std::int64_t> symbolic_dims(const json& entry) {
  std::map<std::string, std::int64_t> dims;
  for (const auto& input : entry.at("inputs"))
    for (const auto& d : input.at("shape"))
      if (d.is_string()) dims[d.get<std::string>()] = entry.at("dims").at(d.get<std::string>()).get<std::int64_t>();
  return dims;
}

std::optional<DType> dtype_of_onnx(int elem) {
  switch (elem) {
    case onnx::TensorProto::FLOAT:
      return DType::f32;
    case onnx::TensorProto::FLOAT16:
      return DType::f16;
    case onnx::TensorProto::INT8:
      return DType::i8;
    case onnx::TensorProto::UINT8:
      return DType::u8;
    case onnx::TensorProto::INT32:
      return DType::i32;
    case onnx::TensorProto::INT64:
      return DType::i64;
    case onnx::TensorProto::BOOL:
      return DType::boolean;
    default:
      return std::nullopt;
  }
}

// The full static type ONNX gives a value, or nullopt when any dim (or the rank) is unknown.
std::optional<TensorType> static_onnx_type(const onnx::ValueInfoProto& v) {
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return std::nullopt;
  const auto dtype = dtype_of_onnx(v.type().tensor_type().elem_type());
  if (!dtype) return std::nullopt;
  Shape shape;
  for (const auto& d : v.type().tensor_type().shape().dim()) {
    if (!d.has_dim_value()) return std::nullopt;
    shape.push_back(d.dim_value());
  }
  return TensorType::of(*dtype, shape);
}

TEST_SUITE("golden") {
  TEST_CASE("fixtures: params, MACs, bound dims and output shapes match fixtures.json") {
    const auto fixtures = load_fixtures();
    if (fixtures.empty()) MESSAGE("no fixtures under " << fixtures_dir().string() << ": nothing checked");
    int checked = 0;
    for (const auto& f : fixtures) {
      CAPTURE(f.file);
      onnx_import::ImportOptions options;
      options.dims = symbolic_dims(f.entry);
      const std::optional<Graph> g = onnx_import::import_onnx(f.file, options);
      ++checked;
      CHECK(g->opset == f.entry.at("opset").get<int>());
      const GraphStats stats = compute_stats(*g);
      CHECK(stats.params == f.entry.at("params").get<std::int64_t>());
      CHECK(stats.macs == f.entry.at("macs").get<std::int64_t>());
      for (const auto& [name, size] : options.dims)
        CHECK(g->metadata.at("snnconv.bound_dims").find(name + "=" + std::to_string(size)) != std::string::npos);
      for (const auto& out : f.entry.at("outputs")) {
        const std::string name = out.at("name").get<std::string>();
        CAPTURE(name);
        const ValueId id = g->find_value(name);
        REQUIRE(id.valid());
        CHECK(std::find(g->outputs().begin(), g->outputs().end(), id) != g->outputs().end());
        const TensorType& t = g->value(id).type;
        REQUIRE(t.is_static());
        CHECK(t.static_shape() == out.at("bound_shape").get<Shape>());
        CHECK(std::string(dtype_name(t.dtype)) == (out.at("dtype").get<std::string>() == "float32" ? "f32" : "i64"));
      }
      // The folded graph is free of shape-only ops: the canonical stage forbids them.
      for (const Node& n : g->nodes()) {
        CAPTURE(n.name);
        CHECK_FALSE(has_flag(n.kind, kShapeOnly));
      }
    }
    MESSAGE(checked << " of " << fixtures.size() << " fixtures checked");
  }

}  // TEST_SUITE("golden")

TEST_SUITE("conformance") {
  TEST_CASE("fixtures: every shape ONNX shape inference resolves statically agrees with ours") {
    const auto fixtures = load_fixtures();
    int compared_total = 0;
    for (const auto& f : fixtures) {
      CAPTURE(f.file);
      onnx_import::ImportOptions options;
      options.dims = symbolic_dims(f.entry);
      options.keep_dead = true;  // folded values stay addressable by name
      const std::optional<Graph> g = onnx_import::import_onnx(f.file, options);

      onnx::ModelProto model;
      REQUIRE(model.ParseFromString(test::read_bytes(f.file)));
      const auto bound = f.entry.at("dims");
      for (auto& input : *model.mutable_graph()->mutable_input())
        for (auto& d : *input.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim())
          if (d.has_dim_param()) d.set_dim_value(bound.at(d.dim_param()).get<std::int64_t>());
      onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                         onnx::ShapeInferenceOptions(/*check_type=*/false, /*error_mode=*/0,
                                                                     /*enable_data_propagation=*/true));
      int compared = 0;
      auto compare = [&](const onnx::ValueInfoProto& v) {
        const std::optional<TensorType> expected = static_onnx_type(v);
        if (!expected) return;
        CAPTURE(v.name());
        const ValueId id = g->find_value(v.name());
        CHECK_MESSAGE(id.valid(), "ONNX value missing from the imported graph");
        if (!id.valid()) return;
        CHECK(type_to_string(g->value(id).type) == type_to_string(*expected));
        ++compared;
      };
      for (const auto& v : model.graph().value_info()) compare(v);
      for (const auto& v : model.graph().output()) compare(v);
      CHECK(compared > 0);
      compared_total += compared;
    }
    MESSAGE(compared_total << " statically known ONNX values compared");
  }

}  // TEST_SUITE("conformance")

TEST_SUITE("unit") {
  TEST_CASE("bad input: every fixture cut in half is a ParseError naming the file") {
    test::TempDir dir;
    for (const auto& f : load_fixtures()) {
      CAPTURE(f.file);
      const std::string bytes = test::read_bytes(f.file);
      const std::string cut = dir.file("half_" + std::filesystem::path(f.file).filename().string());
      test::write_bytes(cut, bytes.substr(0, bytes.size() / 2));
      try {
        onnx_import::read_onnx(cut);
        FAIL("a truncated model imported");
      } catch (const ParseError& e) {
        CHECK(std::string(e.what()).find(cut) != std::string::npos);
      }
    }
  }

}  // TEST_SUITE("unit")

}  // namespace
}  // namespace snnconv
