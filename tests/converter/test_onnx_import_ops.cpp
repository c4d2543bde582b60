// Importing the op forms that differ across opsets 11-18 and the ops the importer rewrites (Dropout, Softmax
// before 13), run through the dense engine.
#include <doctest/doctest.h>

#include <cmath>
#include <typeinfo>

#include "onnx_model_builder.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/onnx_import.hpp"

namespace snnconv {
namespace {

using onnx::TensorProto;
using test::attr_float;
using test::attr_int;
using test::attr_ints;
using test::ModelBuilder;
using test::TempDir;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

template <typename E, typename F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK_MESSAGE(typeid(e) == typeid(E), "wrong error type: " << std::string(e.what()));
    return e.what();
  }
  FAIL("no error thrown");
  return {};
}

std::vector<Tensor> run(const Graph& g, std::vector<Tensor> inputs) {
  ann::Engine engine(g, {.threads = 1});
  return engine.run(inputs);
}

Tensor arange(const Shape& s) {
  std::vector<float> v(static_cast<std::size_t>(checked_numel(s)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.25f * static_cast<float>(i) - 1.0f;
  return Tensor::from_vector<float>(s, v);
}

TEST_SUITE("unit") {
  TEST_CASE("import: Split in its opset 11 (attribute), 13 (input) and 18 (num_outputs) forms") {
    TempDir dir;
    for (const std::int64_t opset : {11, 13, 18}) {
      CAPTURE(opset);
      ModelBuilder m(opset);
      m.input("x", TensorProto::FLOAT, {"2", "7"});
      auto& n = m.node("Split", opset == 13 ? std::initializer_list<std::string>{"x", "sizes"}
                                            : std::initializer_list<std::string>{"x"},
                       {"a", "b", "c"}, "split");
      attr_int(n, "axis", 1);
      if (opset == 11) attr_ints(n, "split", {3, 3, 1});
      if (opset == 13) m.ints("sizes", {3}, {3, 3, 1});
      if (opset == 18) attr_int(n, "num_outputs", 3);
      for (const char* o : {"a", "b", "c"}) m.output(o);
      const Graph g = onnx_import::import_onnx(m.save(dir.file("split.onnx")));
      const auto out = run(g, {arange({2, 7})});
      REQUIRE(out.size() == 3);
      CHECK(out[0].shape() == Shape{2, 3});
      CHECK(out[2].shape() == Shape{2, 1});
      CHECK(out[2].data<float>()[1] == arange({2, 7}).data<float>()[13]);
    }
  }

  TEST_CASE("bad input: Split sizes computed at run time are an UnsupportedError naming the node") {
    TempDir dir;
    ModelBuilder m(13);
    m.input("x", TensorProto::FLOAT, {"2", "6"});
    m.input("sizes", TensorProto::INT64, {"2"});
    attr_int(m.node("Split", {"x", "sizes"}, {"a", "b"}, "split_dyn"), "axis", 1);
    m.output("a");
    m.output("b");
    const std::string e = error_of<UnsupportedError>([&] { onnx_import::import_onnx(m.save(dir.file("s.onnx"))); });
    CHECK(contains(e, "split_dyn"));
    CHECK(contains(e, "Split"));
  }

  TEST_CASE("import: opset 11's Squeeze / Unsqueeze axes attributes and ReduceSum axes, opset 18's reduce axes input") {
    TempDir dir;
    ModelBuilder m(11);
    m.input("x", TensorProto::FLOAT, {"2", "3"});
    attr_ints(m.node("Unsqueeze", {"x"}, {"u"}), "axes", {0, 3});
    attr_ints(m.node("ReduceSum", {"u"}, {"s"}), "axes", {2});
    attr_ints(m.node("Squeeze", {"s"}, {"y"}), "axes", {0});
    m.output("y");
    const Graph g = onnx_import::import_onnx(m.save(dir.file("old.onnx")));
    const auto out = run(g, {arange({2, 3})});
    CHECK(out[0].shape() == Shape{2, 1, 1});  // [1,2,3,1] -> sum over axis 2, kept -> [1,2,1,1] -> squeeze 0
    CHECK(out[0].data<float>()[0] == -1.0f - 0.75f - 0.5f);

    ModelBuilder n(18);
    n.input("x", TensorProto::FLOAT, {"2", "3"});
    n.ints("axes", {1}, {1});
    attr_int(n.node("ReduceMean", {"x", "axes"}, {"y"}), "keepdims", 0);
    n.output("y");
    const Graph h = onnx_import::import_onnx(n.save(dir.file("new.onnx")));
    const auto mean = run(h, {arange({2, 3})});
    CHECK(mean[0].shape() == Shape{2});
    CHECK(mean[0].data<float>()[1] == (-0.25f + 0.0f + 0.25f) / 3.0f);
  }

  TEST_CASE("import: Softmax before opset 13 coerces to 2-D at its axis (default 1)") {
    TempDir dir;
    ModelBuilder m(11);
    m.input("x", TensorProto::FLOAT, {"2", "2", "3"});
    m.node("Softmax", {"x"}, {"y"});  // axis 1: softmax over the 6 values of each sample
    m.output("y");
    const Graph g = onnx_import::import_onnx(m.save(dir.file("softmax11.onnx")));
    const Tensor x = arange({2, 2, 3});
    const auto out = run(g, {x});
    REQUIRE(out[0].shape() == Shape{2, 2, 3});
    double sum = 0;
    for (int i = 0; i < 6; ++i) sum += std::exp(static_cast<double>(x.data<float>()[i]));
    CHECK(std::fabs(out[0].data<float>()[0] - std::exp(-1.0) / sum) < 1e-6);
    float total = 0.0f;
    for (int i = 6; i < 12; ++i) total += out[0].data<float>()[i];
    CHECK(std::fabs(total - 1.0f) < 1e-6f);
  }

  TEST_CASE("bad input: an op that does not exist at the model's opset is named") {
    TempDir dir;
    ModelBuilder m(11);
    m.input("x", TensorProto::FLOAT, {"2"});
    m.node("LessOrEqual", {"x", "x"}, {"y"}, "le");
    m.output("y", TensorProto::BOOL);
    const std::string e = error_of<UnsupportedError>([&] { onnx_import::read_onnx(m.save(dir.file("le.onnx"))); });
    CHECK(contains(e, "LessOrEqual does not exist at opset 11"));
    CHECK(contains(e, "le"));
  }

  TEST_CASE("import: Dropout at inference is the identity with an all-true mask, training mode is refused") {
    TempDir dir;
    ModelBuilder m(13);
    m.input("x", TensorProto::FLOAT, {"2", "3"});
    m.node("Dropout", {"x"}, {"y", "mask"}, "drop");
    m.output("y");
    m.output("mask", TensorProto::BOOL);
    const Graph g = onnx_import::import_onnx(m.save(dir.file("drop.onnx")));
    const auto out = run(g, {arange({2, 3})});
    CHECK(out[0].identical(arange({2, 3})));
    REQUIRE(out[1].dtype() == DType::boolean);
    CHECK(out[1].shape() == Shape{2, 3});
    for (int i = 0; i < 6; ++i) CHECK(out[1].data<bool>()[i]);

    for (const float ratio : {0.0f, 0.5f}) {
      ModelBuilder t(13);
      t.input("x", TensorProto::FLOAT, {"2", "3"});
      t.weight("ratio", {}, {ratio});
      auto& mode = t.initializer("training", TensorProto::BOOL, {});
      mode.add_int32_data(1);
      t.node("Dropout", {"x", "ratio", "training"}, {"y"}, "train_drop");
      t.output("y");
      const std::string path = t.save(dir.file("train.onnx"));
      if (ratio == 0.0f) {  // no element is dropped: the identity
        CHECK(run(onnx_import::import_onnx(path), {arange({2, 3})})[0].identical(arange({2, 3})));
      } else {
        const std::string e = error_of<UnsupportedError>([&] { onnx_import::import_onnx(path); });
        CHECK(contains(e, "train_drop"));
        CHECK(contains(e, "training mode"));
      }
    }
  }

  TEST_CASE("import: LayerNormalization's Mean and InvStdDev outputs when they are read") {
    TempDir dir;
    ModelBuilder m(17);
    m.input("x", TensorProto::FLOAT, {"2", "4"});
    m.weight("g", {4}, {1, 1, 1, 1});
    attr_float(m.node("LayerNormalization", {"x", "g"}, {"y", "mean", "inv"}, "ln"), "epsilon", 0.0f);
    m.node("Mul", {"mean", "inv"}, {"z"});
    m.output("y");
    m.output("z");
    const Graph g = onnx_import::import_onnx(m.save(dir.file("ln.onnx")));
    const Tensor x = Tensor::from_vector<float>({2, 4}, {1, 2, 3, 4, 0, 0, 2, 2});
    const auto out = run(g, {x});
    REQUIRE(out[1].shape() == Shape{2, 1});
    // Row 0: mean 2.5, variance 1.25; row 1: mean 1, variance 1.
    CHECK(std::fabs(out[1].data<float>()[0] - 2.5f / std::sqrt(1.25f)) < 1e-6f);
    CHECK(std::fabs(out[1].data<float>()[1] - 1.0f) < 1e-6f);
  }
}

}  // namespace
}  // namespace snnconv
