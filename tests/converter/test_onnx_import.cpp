// ONNX import: encodings, attributes, graph structure and every documented bad input.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <typeinfo>

#include "onnx_model_builder.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/stats.hpp"

namespace snnconv {
namespace {

using onnx::TensorProto;
using test::attr_float;
using test::attr_int;
using test::attr_ints;
using test::attr_string;
using test::attr_tensor;
using test::ModelBuilder;
using test::TempDir;

// Runs f, expects exactly an E, returns its what() (message plus context).
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK_MESSAGE(typeid(e) == typeid(E), "wrong error type: " << std::string(e.what()));
    return e.what();
  } catch (const std::exception& e) {
    FAIL("not an snnconv::Error: " << std::string(e.what()));
  }
  FAIL("no error thrown");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// x[batch,4] -> MatMul W1[4,8] -> Add b1 -> Relu -> Gemm(W2[3,8]^T, b2) -> y[batch,3]
ModelBuilder mlp() {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {"batch", "4"});
  std::vector<float> w1(32), w2(24);
  for (int i = 0; i < 32; ++i) w1[static_cast<std::size_t>(i)] = 0.01f * static_cast<float>(i);
  for (int i = 0; i < 24; ++i) w2[static_cast<std::size_t>(i)] = -0.02f * static_cast<float>(i);
  m.weight("W1", {4, 8}, w1);
  auto& b1 = m.initializer("b1", TensorProto::FLOAT, {8});
  for (int i = 0; i < 8; ++i) b1.add_float_data(0.5f);
  m.weight("W2", {3, 8}, w2);
  m.weight("b2", {3}, {1, 2, 3});
  m.node("MatMul", {"x", "W1"}, {"h0"}, "fc1");
  m.node("Add", {"h0", "b1"}, {"h1"}, "fc1_bias");
  m.node("Relu", {"h1"}, {"h2"}, "act");
  auto& gemm = m.node("Gemm", {"h2", "W2", "b2"}, {"y"}, "fc2");
  attr_int(gemm, "transB", 1);
  attr_float(gemm, "alpha", 1.0f);
  m.output("y");
  return m;
}

TEST_SUITE("unit") {
  TEST_CASE("import: a small MLP binds batch to 1, infers shapes and counts params and MACs") {
    TempDir dir;
    auto m = mlp();
    auto* meta = m.model.add_metadata_props();
    meta->set_key("snnconv.task");
    meta->set_value("classification");
    const std::string path = m.save(dir.file("mlp.onnx"));
    Graph g = onnx_import::import_onnx(path);
    CHECK(g.source_file == path);
    CHECK(g.opset == 17);
    CHECK(g.name == "test_graph");
    CHECK(g.stage == Stage::imported);
    CHECK(g.metadata.at("snnconv.task") == "classification");
    CHECK(g.metadata.at("snnconv.bound_dims") == "batch=1");
    REQUIRE(g.outputs().size() == 1);
    CHECK(g.value(g.outputs()[0]).name == "y");
    CHECK(type_to_string(g.value(g.outputs()[0]).type) == "f32[1,3]");
    const GraphStats s = compute_stats(g);
    CHECK(s.params == 32 + 8 + 24 + 3);
    CHECK(s.macs == 32 + 24);

    onnx_import::ImportOptions o;
    o.dims["batch"] = 5;
    Graph g5 = onnx_import::import_onnx(path, o);
    CHECK(type_to_string(g5.value(g5.outputs()[0]).type) == "f32[5,3]");
    CHECK(g5.metadata.at("snnconv.bound_dims") == "batch=5");
    CHECK(compute_stats(g5).macs == 5 * (32 + 24));
  }

  TEST_CASE("import: graph inputs, symbolic and unknown dims, initializers listed as inputs") {
    TempDir dir;
    auto m = mlp();
    m.graph()
        .mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(1)
        ->clear_dim_value();
    m.input("W1", TensorProto::FLOAT, {"4", "8"});  // IR < 4 style: a weight also listed as an input
    Graph g = onnx_import::read_onnx(m.save(dir.file("m.onnx")));
    REQUIRE(g.inputs().size() == 1);
    const Value& x = g.value(g.inputs()[0]);
    CHECK(x.name == "x");
    REQUIRE(x.type.dims.size() == 2);
    CHECK(x.type.dims[0] == Dim::named("batch"));
    CHECK(x.type.dims[1] == Dim::unknown());
    CHECK(g.is_constant(g.find_value("W1")));
    // read_onnx leaves intermediate values untyped until dims are bound.
    CHECK_FALSE(g.value(g.find_value("h0")).type.rank_known);
  }

  TEST_CASE("import: initializers in every encoding torch writes") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"1"});
    m.node("Identity", {"x"}, {"y"});
    m.output("y");
    auto& f_typed = m.initializer("f_typed", TensorProto::FLOAT, {2});
    f_typed.add_float_data(1.5f);
    f_typed.add_float_data(-2.0f);
    m.weight("f_raw", {2, 1}, {3.0f, 4.0f});
    auto& d = m.initializer("d_typed", TensorProto::DOUBLE, {2});
    d.add_double_data(0.25);
    d.add_double_data(8.0);
    auto& d_raw = m.initializer("d_raw", TensorProto::DOUBLE, {1});
    const double dv = -1.5;
    d_raw.set_raw_data(std::string(reinterpret_cast<const char*>(&dv), 8));
    m.ints("i64", {3}, {1, -2, 1LL << 40});
    auto& i64_raw = m.initializer("i64_raw", TensorProto::INT64, {});
    const std::int64_t iv = -7;
    i64_raw.set_raw_data(std::string(reinterpret_cast<const char*>(&iv), 8));
    auto& i32 = m.initializer("i32", TensorProto::INT32, {2});
    i32.add_int32_data(-5);
    i32.add_int32_data(70000);
    auto& i8 = m.initializer("i8", TensorProto::INT8, {2});
    i8.add_int32_data(-128);
    i8.add_int32_data(127);
    auto& i8_raw = m.initializer("i8_raw", TensorProto::INT8, {2});
    i8_raw.set_raw_data(std::string("\xff\x05", 2));
    auto& u8 = m.initializer("u8", TensorProto::UINT8, {1});
    u8.add_int32_data(200);
    auto& b = m.initializer("b", TensorProto::BOOL, {3});
    b.add_int32_data(1);
    b.add_int32_data(0);
    b.add_int32_data(1);
    auto& h = m.initializer("h", TensorProto::FLOAT16, {1});
    h.add_int32_data(0x3C00);  // 1.0
    auto& h_raw = m.initializer("h_raw", TensorProto::FLOAT16, {1});
    h_raw.set_raw_data(std::string("\x00\xC0", 2));  // -2.0
    m.initializer("empty", TensorProto::FLOAT, {0, 3});

    Graph g = onnx_import::read_onnx(m.save(dir.file("enc.onnx")));
    auto c = [&](const char* name) -> const Tensor& {
      const ValueId id = g.find_value(name);
      REQUIRE(g.is_constant(id));
      return *g.value(id).constant;
    };
    CHECK(c("f_typed").to_f32() == std::vector<float>{1.5f, -2.0f});
    CHECK(c("f_raw").shape() == Shape{2, 1});
    CHECK(c("f_raw").to_f32() == std::vector<float>{3.0f, 4.0f});
    CHECK(c("d_typed").dtype() == DType::f32);  // the IR has no f64
    CHECK(c("d_typed").to_f32() == std::vector<float>{0.25f, 8.0f});
    CHECK(c("d_raw").to_f32() == std::vector<float>{-1.5f});
    CHECK(c("i64").to_i64() == std::vector<std::int64_t>{1, -2, 1LL << 40});
    CHECK(c("i64_raw").shape().empty());
    CHECK(c("i64_raw").to_i64() == std::vector<std::int64_t>{-7});
    CHECK(c("i32").to_i64() == std::vector<std::int64_t>{-5, 70000});
    CHECK(c("i8").dtype() == DType::i8);
    CHECK(c("i8").to_i64() == std::vector<std::int64_t>{-128, 127});
    CHECK(c("i8_raw").to_i64() == std::vector<std::int64_t>{-1, 5});
    CHECK(c("u8").to_i64() == std::vector<std::int64_t>{200});
    CHECK(c("b").dtype() == DType::boolean);
    CHECK(c("b").to_i64() == std::vector<std::int64_t>{1, 0, 1});
    CHECK(c("h").dtype() == DType::f16);
    CHECK(c("h").to_f32() == std::vector<float>{1.0f});
    CHECK(c("h_raw").to_f32() == std::vector<float>{-2.0f});
    CHECK(c("empty").numel() == 0);
  }

  TEST_CASE("import: external data relative to the model's folder, with bounds checks") {
    TempDir dir;
    std::vector<float> w = {1, 2, 3, 4, 5, 6};
    std::string blob(16, '\x7f');  // 16 bytes of padding before the tensor
    blob.append(reinterpret_cast<const char*>(w.data()), w.size() * 4);
    std::filesystem::create_directories(dir.path() / "weights");
    test::write_bytes(dir.file("weights/w.bin"), blob);

    auto model = [&](const std::string& location, const std::string& offset, const std::string& length) {
      ModelBuilder m;
      m.input("x", TensorProto::FLOAT, {"1", "2"});
      auto& t = m.initializer("W", TensorProto::FLOAT, {2, 3});
      t.set_data_location(TensorProto::EXTERNAL);
      auto add = [&](const char* k, const std::string& v) {
        if (v.empty()) return;
        auto* e = t.add_external_data();
        e->set_key(k);
        e->set_value(v);
      };
      add("location", location);
      add("offset", offset);
      add("length", length);
      m.node("MatMul", {"x", "W"}, {"y"}, "mm");
      m.output("y");
      return m.save(dir.file("ext.onnx"));
    };

    Graph g = onnx_import::import_onnx(model("weights/w.bin", "16", "24"));
    CHECK(g.value(g.find_value("W")).constant->to_f32() == w);
    CHECK(type_to_string(g.value(g.outputs()[0]).type) == "f32[1,3]");

    std::string e = error_of<IoError>([&] { onnx_import::read_onnx(model("weights/missing.bin", "0", "")); });
    CHECK(contains(e, "missing.bin"));
    CHECK(contains(e, "'W'"));
    e = error_of<ParseError>([&] { onnx_import::read_onnx(model("weights/w.bin", "30", "")); });
    CHECK(contains(e, "outside"));
    CHECK(contains(e, "'W'"));
    e = error_of<ParseError>([&] { onnx_import::read_onnx(model("weights/w.bin", "0", "12")); });
    CHECK(contains(e, "length 12"));
    e = error_of<ParseError>([&] { onnx_import::read_onnx(model("../w.bin", "0", "")); });
    CHECK(contains(e, "leaves the model's folder"));
    e = error_of<ParseError>([&] { onnx_import::read_onnx(model("weights/w.bin", "-4", "")); });
    CHECK(contains(e, "offset"));
  }

  TEST_CASE("import: Constant nodes in every form become constant values") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"2"});
    auto& c1 = m.node("Constant", {}, {"c_tensor"});
    auto& t = attr_tensor(c1, "value");
    t.set_data_type(TensorProto::FLOAT);
    t.add_dims(2);
    t.add_float_data(10);
    t.add_float_data(20);
    attr_float(m.node("Constant", {}, {"c_float"}), "value_float", 0.5f);
    attr_int(m.node("Constant", {}, {"c_int"}), "value_int", 3);
    attr_ints(m.node("Constant", {}, {"c_ints"}), "value_ints", {4, 5, 6});
    auto& floats = test::attr(m.node("Constant", {}, {"c_floats"}), "value_floats", onnx::AttributeProto::FLOATS);
    floats.add_floats(1.25f);
    m.node("Add", {"x", "c_tensor"}, {"s"});
    m.node("Mul", {"s", "c_float"}, {"y"});
    m.output("y");
    const std::string path = m.save(dir.file("const.onnx"));
    Graph raw = onnx_import::read_onnx(path);
    CHECK(raw.value(raw.find_value("c_tensor")).constant->to_f32() == std::vector<float>{10, 20});
    CHECK(raw.value(raw.find_value("c_float")).constant->shape().empty());
    CHECK(raw.value(raw.find_value("c_int")).constant->to_i64() == std::vector<std::int64_t>{3});
    CHECK(raw.value(raw.find_value("c_ints")).constant->to_i64() == std::vector<std::int64_t>{4, 5, 6});
    CHECK(raw.value(raw.find_value("c_floats")).constant->to_f32() == std::vector<float>{1.25f});
    CHECK(raw.num_nodes() == 2);  // Constant nodes are values, not nodes
  }

  TEST_CASE("import: ONNX attributes map to the typed Attrs with ONNX defaults") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"1", "4"});
    auto& gemm = m.node("Gemm", {"x", "x"}, {"gemm"}, "gemm");
    attr_float(gemm, "alpha", 0.5f);
    attr_float(gemm, "beta", 2.0f);
    attr_int(gemm, "transA", 1);
    attr_int(gemm, "transB", 1);
    auto& conv = m.node("Conv", {"x", "x"}, {"conv"}, "conv");
    attr_ints(conv, "kernel_shape", {3, 3});
    attr_ints(conv, "strides", {2, 2});
    attr_ints(conv, "pads", {1, 1, 1, 1});
    attr_ints(conv, "dilations", {1, 1});
    attr_int(conv, "group", 2);
    attr_string(conv, "auto_pad", "NOTSET");
    attr_ints(m.node("Transpose", {"x"}, {"tr"}, "tr"), "perm", {1, 0});
    m.node("Softmax", {"x"}, {"sm"}, "sm");
    m.node("Flatten", {"x"}, {"fl"}, "fl");
    m.node("Gather", {"x", "x"}, {"ga"}, "ga");
    m.node("Split", {"x"}, {"sp0", "sp1"}, "sp");
    m.node("QuantizeLinear", {"x", "x"}, {"q"}, "q");
    attr_int(m.node("DequantizeLinear", {"x", "x"}, {"dq"}, "dq"), "axis", 0);
    attr_int(m.node("Concat", {"x", "x"}, {"cat"}, "cat"), "axis", -1);
    auto& rm = m.node("ReduceMean", {"x"}, {"rm"}, "rm");
    attr_ints(rm, "axes", {-1});
    attr_int(rm, "keepdims", 0);
    attr_int(m.node("Cast", {"x"}, {"cast"}, "cast"), "to", TensorProto::INT64);
    auto& ln = m.node("LayerNormalization", {"x", "x", "x"}, {"ln"}, "ln");
    attr_int(ln, "axis", 1);
    attr_float(ln, "epsilon", 1e-6f);
    attr_int(m.node("Trilu", {"x"}, {"tri"}, "tri"), "upper", 0);
    auto& cos = m.node("ConstantOfShape", {"x"}, {"cos"}, "cos");
    auto& v = attr_tensor(cos, "value");
    v.set_data_type(TensorProto::INT64);
    v.add_dims(1);
    v.add_int64_data(-3);
    attr_int(m.node("Reshape", {"x", "x"}, {"rs"}, "rs"), "allowzero", 1);
    m.node("Slice", {"x", "x", "x", "", "x"}, {"sl"}, "sl");
    m.output("gemm");
    Graph g = onnx_import::read_onnx(m.save(dir.file("attrs.onnx")));

    auto attrs_of = [&](const char* name) -> const Attrs& {
      for (const Node& n : g.nodes())
        if (n.name == name) return n.attrs;
      FAIL("no node " << name);
      return g.nodes().front().attrs;
    };
    CHECK(std::get<GemmAttrs>(attrs_of("gemm")) == GemmAttrs{0.5f, 2.0f, true, true});
    CHECK(std::get<ConvAttrs>(attrs_of("conv")) == ConvAttrs{{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 2});
    CHECK(std::get<TransposeAttrs>(attrs_of("tr")).perm == std::vector<std::int64_t>{1, 0});
    CHECK(std::get<SoftmaxAttrs>(attrs_of("sm")).axis == -1);
    CHECK(std::get<AxisAttrs>(attrs_of("fl")).axis == 1);
    CHECK(std::get<AxisAttrs>(attrs_of("ga")).axis == 0);
    CHECK(std::get<SplitAttrs>(attrs_of("sp")).axis == 0);
    CHECK(std::get<AxisAttrs>(attrs_of("q")).axis == 1);
    CHECK(std::get<AxisAttrs>(attrs_of("dq")).axis == 0);
    CHECK(std::get<AxisAttrs>(attrs_of("cat")).axis == -1);
    CHECK(std::get<ReduceAttrs>(attrs_of("rm")) == ReduceAttrs{{-1}, false, false});
    CHECK(std::get<CastAttrs>(attrs_of("cast")).to == DType::i64);
    CHECK(std::get<LayerNormAttrs>(attrs_of("ln")) == LayerNormAttrs{1, 1e-6f});
    CHECK(std::get<TriluAttrs>(attrs_of("tri")).upper == false);
    CHECK(std::get<ConstantOfShapeAttrs>(attrs_of("cos")) == ConstantOfShapeAttrs{DType::i64, -3.0});
    CHECK(std::get<ReshapeAttrs>(attrs_of("rs")).allowzero);
    for (const Node& n : g.nodes())
      if (n.name == "sl") {
        REQUIRE(n.inputs.size() == 5);
        CHECK_FALSE(n.inputs[3].valid());  // absent optional input
        CHECK(n.inputs[4].valid());
      }
    CHECK(g.nodes().size() == 17);
  }

  TEST_CASE("import: Conv auto_pad and unknown attributes are refused by name") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"1", "1", "4", "4"});
    m.weight("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
    attr_string(m.node("Conv", {"x", "w"}, {"y"}, "conv_same"), "auto_pad", "SAME_UPPER");
    m.output("y");
    std::string e = error_of<UnsupportedError>([&] { onnx_import::read_onnx(m.save(dir.file("a.onnx"))); });
    CHECK(contains(e, "auto_pad=SAME_UPPER"));
    CHECK(contains(e, "conv_same"));

    ModelBuilder m2;
    m2.input("x", TensorProto::FLOAT, {"2"});
    attr_int(m2.node("Relu", {"x"}, {"y"}, "odd_relu"), "alpha", 1);
    m2.output("y");
    e = error_of<UnsupportedError>([&] { onnx_import::read_onnx(m2.save(dir.file("b.onnx"))); });
    CHECK(contains(e, "attribute 'alpha'"));
    CHECK(contains(e, "odd_relu"));
  }

  TEST_CASE("bad input: empty file, random bytes and a truncated model are ParseErrors naming the file") {
    TempDir dir;
    const std::string empty = dir.file("empty.onnx");
    test::write_bytes(empty, "");
    CHECK(contains(error_of<ParseError>([&] { onnx_import::read_onnx(empty); }), empty));

    std::mt19937 rng(1234);
    std::string noise(4096, '\0');
    for (char& ch : noise) ch = static_cast<char>(rng() & 0xff);
    const std::string random = dir.file("random.onnx");
    test::write_bytes(random, noise);
    CHECK(contains(error_of<ParseError>([&] { onnx_import::read_onnx(random); }), random));

    auto m = mlp();
    m.weight("big", {4096}, std::vector<float>(4096, 1.0f));  // makes the middle fall inside the graph
    const std::string full = m.bytes();
    const std::string cut = dir.file("truncated.onnx");
    test::write_bytes(cut, full.substr(0, full.size() / 2));
    CHECK(contains(error_of<ParseError>([&] { onnx_import::read_onnx(cut); }), cut));

    const std::string missing = dir.file("does_not_exist.onnx");
    CHECK(contains(error_of<IoError>([&] { onnx_import::read_onnx(missing); }), missing));

    onnx_import::ImportOptions small;
    small.max_file_bytes = 100;
    const std::string ok = m.save(dir.file("ok.onnx"));
    CHECK(contains(error_of<LimitError>([&] { onnx_import::read_onnx(ok, small); }), ok));
  }

  TEST_CASE("bad input: a node whose input is never produced names node and input") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"2"});
    m.node("Add", {"x", "ghost"}, {"y"}, "adder");
    m.output("y");
    const std::string e = error_of<GraphError>([&] { onnx_import::read_onnx(m.save(dir.file("d.onnx"))); });
    CHECK(contains(e, "adder"));
    CHECK(contains(e, "ghost"));
  }

  TEST_CASE("bad input: a cycle is a GraphError naming a node on it") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"2"});
    m.node("Add", {"x", "b"}, {"a"}, "cycle_a");
    m.node("Relu", {"a"}, {"b"}, "cycle_b");
    m.output("a");
    const std::string path = m.save(dir.file("cycle.onnx"));
    const std::string e = error_of<GraphError>([&] { onnx_import::read_onnx(path); });
    CHECK(contains(e, "cycle"));
    CHECK((contains(e, "cycle_a") || contains(e, "cycle_b")));
    CHECK(contains(e, path));
  }

  TEST_CASE("bad input: a value produced twice is a GraphError naming it") {
    TempDir dir;
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {"2"});
    m.node("Relu", {"x"}, {"y"}, "first");
    m.node("Neg", {"x"}, {"y"}, "second");
    m.output("y");
    const std::string e = error_of<GraphError>([&] { onnx_import::read_onnx(m.save(dir.file("twice.onnx"))); });
    CHECK(contains(e, "'y'"));
    CHECK(contains(e, "second"));
  }

  TEST_CASE("bad input: initializer bytes contradicting the shape are a ParseError naming it") {
    TempDir dir;
    auto raw = mlp();
    raw.weight("W_bad", {4, 8}, std::vector<float>(31, 0.0f));
    std::string e = error_of<ParseError>([&] { onnx_import::read_onnx(raw.save(dir.file("raw.onnx"))); });
    CHECK(contains(e, "W_bad"));
    CHECK(contains(e, "124 bytes"));

    auto typed = mlp();
    auto& t = typed.initializer("ids_bad", TensorProto::INT64, {3});
    t.add_int64_data(1);
    e = error_of<ParseError>([&] { onnx_import::read_onnx(typed.save(dir.file("typed.onnx"))); });
    CHECK(contains(e, "ids_bad"));
  }

  TEST_CASE("bad input: absurd shapes are refused before allocating, naming the tensor") {
    TempDir dir;
    auto huge = mlp();
    huge.weight("W_huge", {1 << 20, 1 << 20}, {1.0f});  // claims 2^40 elements, holds one
    std::string e = error_of<LimitError>([&] { onnx_import::read_onnx(huge.save(dir.file("huge.onnx"))); });
    CHECK(contains(e, "W_huge"));

    auto overflow = mlp();
    const std::int64_t d = std::int64_t{1} << 32;
    overflow.initializer("W_overflow", TensorProto::FLOAT, {d, d, d});  // product 2^96 overflows int64
    e = error_of<LimitError>([&] { onnx_import::read_onnx(overflow.save(dir.file("overflow.onnx"))); });
    CHECK(contains(e, "W_overflow"));

    auto negative = mlp();
    negative.weight("W_negative", {-1, 4}, {1, 2, 3, 4});
    e = error_of<ParseError>([&] { onnx_import::read_onnx(negative.save(dir.file("negative.onnx"))); });
    CHECK(contains(e, "W_negative"));
    CHECK(contains(e, "negative dim"));

    ModelBuilder neg_input;
    neg_input.input("tokens", TensorProto::INT64, {"1", "-3"});
    neg_input.node("Identity", {"tokens"}, {"y"});
    neg_input.output("y", TensorProto::INT64);
    e = error_of<ParseError>([&] { onnx_import::read_onnx(neg_input.save(dir.file("neg_input.onnx"))); });
    CHECK(contains(e, "tokens"));
    CHECK(contains(e, "-3"));
  }

  TEST_CASE("bad input: unknown opset domain, opset out of range") {
    TempDir dir;
    auto m = mlp();
    auto* o = m.model.add_opset_import();
    o->set_domain("com.example");
    o->set_version(1);
    m.graph().mutable_node(2)->set_domain("com.example");
    std::string e = error_of<UnsupportedError>([&] { onnx_import::read_onnx(m.save(dir.file("dom.onnx"))); });
    CHECK(contains(e, "com.example"));
    CHECK(contains(e, "act"));

    for (std::int64_t opset : {10, 19}) {
      ModelBuilder old(opset);
      old.input("x", TensorProto::FLOAT, {"2"});
      old.node("Relu", {"x"}, {"y"});
      old.output("y");
      e = error_of<UnsupportedError>([&] { onnx_import::read_onnx(old.save(dir.file("old.onnx"))); });
      CHECK(contains(e, "opset " + std::to_string(opset)));
    }
  }

  TEST_CASE("bad input: unsupported ops fail once, listing every op type with all its nodes") {
    TempDir dir;
    ModelBuilder m(16);
    m.input("x", TensorProto::FLOAT, {"1", "4"});
    m.node("Relu", {"x"}, {"a"}, "ok_relu");
    m.node("GridSample", {"a", "a"}, {"b"}, "hs_1");
    m.node("LSTM", {"b", "b", "b"}, {"c"}, "lstm_1");
    m.node("GridSample", {"c", "c"}, {"d"}, "hs_2");
    m.output("d");
    const std::string path = m.save(dir.file("unsupported.onnx"));
    try {
      onnx_import::read_onnx(path);
      FAIL("no error");
    } catch (const UnsupportedError& e) {
      const std::string what = e.what();
      CHECK(contains(what, "GridSample (nodes hs_1, hs_2)"));
      CHECK(contains(what, "LSTM (node lstm_1)"));
      CHECK(contains(what, "opset 16"));
      CHECK(contains(what, path));
      CHECK_FALSE(contains(what, "ok_relu"));
      CHECK(e.exit_code() == ExitCode::unsupported_model);
    }
  }

  TEST_CASE("bad input: --dims naming a dim the model lacks is a UsageError naming it") {
    TempDir dir;
    onnx_import::ImportOptions o;
    o.dims["sequence_length"] = 8;
    const std::string path = mlp().save(dir.file("mlp.onnx"));
    const std::string e = error_of<UsageError>([&] { onnx_import::import_onnx(path, o); });
    CHECK(contains(e, "sequence_length"));
    CHECK(contains(e, "batch"));  // lists what the model has

    o.dims = {{"batch", 0}};
    CHECK(contains(error_of<UsageError>([&] { onnx_import::import_onnx(path, o); }), "batch=0"));
  }

}  // TEST_SUITE("unit")

}  // namespace
}  // namespace snnconv
