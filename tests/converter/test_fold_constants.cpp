// Dims binding and constant folding of imported graphs.
#include <doctest/doctest.h>

#include "onnx_model_builder.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/passes.hpp"
#include "snnconv/core/shape_inference.hpp"
#include "snnconv/core/stats.hpp"

namespace snnconv {
namespace {

using onnx::TensorProto;
using test::attr_int;
using test::attr_ints;
using test::ModelBuilder;
using test::TempDir;

void set_metadata(ModelBuilder& m, const std::string& key, const std::string& value) {
  auto* p = m.model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

int count_kind(const Graph& g, OpKind kind) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.kind == kind;
  return n;
}

// tokens-like input x[batch, seq, 4]; the shape chain torch writes for view(batch, seq, 2, 2):
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape, then Identity to the output.
ModelBuilder shape_chain() {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {"batch", "seq", "4"});
  m.node("Shape", {"x"}, {"s"}, "shape");
  m.ints("zero", {}, {0});
  m.ints("one", {}, {1});
  m.ints("axes0", {1}, {0});
  m.ints("two_two", {2}, {2, 2});
  m.node("Gather", {"s", "zero"}, {"b"}, "gather_b");
  m.node("Gather", {"s", "one"}, {"n"}, "gather_n");
  m.node("Unsqueeze", {"b", "axes0"}, {"b1"}, "unsq_b");
  m.node("Unsqueeze", {"n", "axes0"}, {"n1"}, "unsq_n");
  attr_int(m.node("Concat", {"b1", "n1", "two_two"}, {"target"}, "concat"), "axis", 0);
  m.node("Reshape", {"x", "target"}, {"r"}, "view");
  m.node("Identity", {"r"}, {"y"}, "out_identity");
  m.output("y");
  set_metadata(m, "snnconv.max_seq", "16");
  return m;
}

TEST_SUITE("unit") {
  TEST_CASE("fold: a shape chain folds to constants once dims are bound, seq comes from snnconv.max_seq") {
    TempDir dir;
    const std::string path = shape_chain().save(dir.file("chain.onnx"));
    Graph g = onnx_import::import_onnx(path);
    CHECK(g.metadata.at("snnconv.bound_dims") == "batch=1,seq=16");
    CHECK(g.num_nodes() == 1);  // only the Reshape is left
    REQUIRE(g.num_nodes() >= 1);
    CHECK(g.nodes()[0].kind == OpKind::Reshape);
    REQUIRE(g.outputs().size() == 1);
    const Value& y = g.value(g.outputs()[0]);
    CHECK(y.name == "y");  // the Identity is gone but the output keeps its ONNX name
    CHECK(type_to_string(y.type) == "f32[1,16,2,2]");
    const ValueId target = g.nodes()[0].inputs[1];
    REQUIRE(g.is_constant(target));
    CHECK(g.value(target).constant->to_i64() == std::vector<std::int64_t>{1, 16, 2, 2});

    onnx_import::ImportOptions o;
    o.dims = {{"batch", 3}, {"seq", 5}};
    Graph g2 = onnx_import::import_onnx(path, o);
    CHECK(g2.metadata.at("snnconv.bound_dims") == "batch=3,seq=5");
    CHECK(type_to_string(g2.value(g2.outputs()[0]).type) == "f32[3,5,2,2]");
  }

  TEST_CASE("fold: keep_dead keeps folded values addressable by their ONNX names") {
    TempDir dir;
    onnx_import::ImportOptions o;
    o.keep_dead = true;
    Graph g = onnx_import::import_onnx(shape_chain().save(dir.file("chain.onnx")), o);
    for (const char* name : {"s", "b", "n", "b1", "n1", "target"}) {
      const ValueId id = g.find_value(name);
      REQUIRE_MESSAGE(id.valid(), name);
      CHECK_MESSAGE(g.is_constant(id), name);
    }
    CHECK(g.value(g.find_value("s")).constant->to_i64() == std::vector<std::int64_t>{1, 16, 4});
    CHECK(type_to_string(g.value(g.find_value("n1")).type) == "i64[1]");
    CHECK(g.num_nodes() == 1);
  }

  TEST_CASE("fold: bind_model_dims binds every symbol, seq to 1 without metadata") {
    TempDir dir;
    auto m = shape_chain();
    m.model.clear_metadata_props();
    Graph g = onnx_import::read_onnx(m.save(dir.file("chain.onnx")));
    const auto bound = bind_model_dims(g, {});
    REQUIRE(bound.size() == 2);
    CHECK(bound[0] == std::pair<std::string, std::int64_t>{"batch", 1});
    CHECK(bound[1] == std::pair<std::string, std::int64_t>{"seq", 1});
    CHECK(g.metadata.at("snnconv.bound_dims") == "batch=1,seq=1");
    CHECK(type_to_string(g.value(g.inputs()[0]).type) == "f32[1,1,4]");
  }

  TEST_CASE("fold: Shape start/end (opset 15) becomes Shape + Slice and folds") {
    TempDir dir;
    ModelBuilder m(15);
    m.input("x", TensorProto::FLOAT, {"batch", "3", "4"});
    auto& shape = m.node("Shape", {"x"}, {"tail"}, "shape_tail");
    attr_int(shape, "start", -2);
    m.node("ConstantOfShape", {"tail"}, {"y"}, "cos");
    m.output("y");
    const std::string path = m.save(dir.file("shape15.onnx"));
    Graph raw = onnx_import::read_onnx(path);
    CHECK(count_kind(raw, OpKind::Slice) == 1);
    Graph g = onnx_import::import_onnx(path);
    CHECK(g.num_nodes() == 0);
    const Value& y = g.value(g.outputs()[0]);
    REQUIRE(y.constant);
    CHECK(y.constant->shape() == Shape{3, 4});
  }

  TEST_CASE("fold: a causal mask built from constants folds, Q/DQ on weights are kept") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"1", "4", "4"});
    m.ints("mask_shape", {2}, {4, 4});
    auto& ones = m.node("ConstantOfShape", {"mask_shape"}, {"ones"}, "ones");
    auto& v = test::attr_tensor(ones, "value");
    v.set_data_type(TensorProto::FLOAT);
    v.add_dims(1);
    v.add_float_data(1.0f);
    attr_int(m.node("Trilu", {"ones"}, {"lower"}, "tril"), "upper", 0);
    m.node("Mul", {"x", "lower"}, {"masked"}, "apply_mask");
    m.weight("w", {4, 4}, std::vector<float>(16, 0.5f));
    m.weight("w_scale", {}, {0.01f});
    auto& zp = m.initializer("w_zp", TensorProto::INT8, {});
    zp.add_int32_data(0);
    m.node("QuantizeLinear", {"w", "w_scale", "w_zp"}, {"w_q"}, "wq");
    m.node("DequantizeLinear", {"w_q", "w_scale", "w_zp"}, {"w_dq"}, "wdq");
    m.node("MatMul", {"masked", "w_dq"}, {"y"}, "mm");
    m.output("y");
    Graph g = onnx_import::import_onnx(m.save(dir.file("mask.onnx")));
    CHECK(count_kind(g, OpKind::Trilu) == 0);
    CHECK(count_kind(g, OpKind::ConstantOfShape) == 0);
    CHECK(count_kind(g, OpKind::QuantizeLinear) == 1);
    CHECK(count_kind(g, OpKind::DequantizeLinear) == 1);
    const ValueId lower = g.find_value("lower");
    REQUIRE(g.is_constant(lower));
    CHECK(g.value(lower).constant->to_f32() == std::vector<float>{1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1});
    CHECK(type_to_string(g.value(g.outputs()[0]).type) == "f32[1,4,4]");
  }

  TEST_CASE("fold: ReduceSum axes given as an input move into ReduceAttrs") {
    TempDir dir;
    ModelBuilder m(13);
    m.input("x", TensorProto::FLOAT, {"2", "3"});
    m.ints("axes", {1}, {1});
    attr_int(m.node("ReduceSum", {"x", "axes"}, {"y"}, "rsum"), "keepdims", 0);
    m.output("y");
    Graph g = onnx_import::import_onnx(m.save(dir.file("rsum.onnx")));
    REQUIRE(g.num_nodes() == 1);
    CHECK(g.nodes()[0].inputs.size() == 1);
    CHECK(std::get<ReduceAttrs>(g.nodes()[0].attrs).axes == std::vector<std::int64_t>{1});
    CHECK(type_to_string(g.value(g.outputs()[0]).type) == "f32[2]");
  }

  TEST_CASE("fold: constants above max_folded_elements are left as nodes") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"64", "64"});
    m.ints("mask_shape", {2}, {64, 64});
    m.node("ConstantOfShape", {"mask_shape"}, {"zeros"}, "zeros");
    m.node("Add", {"x", "zeros"}, {"y"}, "add");
    m.output("y");
    Graph g = onnx_import::read_onnx(m.save(dir.file("big.onnx")));
    bind_model_dims(g, {});
    FoldOptions o;
    o.max_folded_elements = 1000;
    const FoldStats s = fold_constants(g, o);
    CHECK(s.skipped_too_large == 1);
    CHECK(s.folded_nodes == 0);
    CHECK(count_kind(g, OpKind::ConstantOfShape) == 1);
  }

  TEST_CASE("fold: nodes reading a weight are kept, so params do not depend on the bound dims") {
    TempDir dir;
    ModelBuilder m;
    m.input("tokens", TensorProto::INT64, {"batch", "seq"});
    std::vector<float> table(16 * 4);
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = static_cast<float>(i);
    m.weight("pos_table", {16, 4}, table);
    m.weight("cls", {1, 1, 4}, {1, 2, 3, 4});
    m.node("Shape", {"tokens"}, {"s"}, "shape");
    m.ints("one", {1}, {1});
    m.ints("two", {1}, {2});
    m.ints("zero", {1}, {0});
    m.node("Slice", {"s", "one", "two"}, {"seq_len"}, "seq_len");
    m.node("Slice", {"pos_table", "zero", "seq_len"}, {"pos"}, "pos_slice");  // torch: pos[:seq]
    m.ints("cls_shape", {3}, {2, 1, 4});
    m.node("Expand", {"cls", "cls_shape"}, {"cls_b"}, "cls_expand");
    m.output("pos");
    m.output("cls_b");
    set_metadata(m, "snnconv.max_seq", "16");
    onnx_import::ImportOptions o;
    o.dims = {{"seq", 5}};
    Graph g = onnx_import::import_onnx(m.save(dir.file("pos.onnx")), o);
    CHECK(count_kind(g, OpKind::Slice) == 1);
    CHECK(count_kind(g, OpKind::Expand) == 1);
    CHECK(count_kind(g, OpKind::Shape) == 0);
    CHECK(type_to_string(g.value(g.find_value("pos")).type) == "f32[5,4]");
    CHECK(compute_stats(g).params == 16 * 4 + 4);
  }

}  // TEST_SUITE("unit")

}  // namespace
}  // namespace snnconv
