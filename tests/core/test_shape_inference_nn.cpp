// Shape inference of the ops added for broader ONNX coverage (shape_fns_nn.cpp, pooling.cpp) and the op
// table's optional outputs.
#include <doctest/doctest.h>

#include "graph_builder.hpp"
#include "snnconv/core/pooling.hpp"
#include "snnconv/core/verifier.hpp"

using namespace snnconv;
using namespace snnconv::test;

TEST_SUITE("unit") {
TEST_CASE("variadic Max / Min / Sum / Mean: one input is a copy, several broadcast together") {
  Graph g;
  ValueId a = input(g, "a", DType::f32, {2, 1, 4});
  ValueId b = input(g, "b", DType::f32, {3, 1});
  ValueId c = input(g, "c", DType::f32, {4});
  for (OpKind k : {OpKind::Max, OpKind::Min, OpKind::Sum, OpKind::Mean}) {
    CAPTURE(op_name(k));
    CHECK(shape_of(g, node(g, k, {a})[0]) == Shape{2, 1, 4});
    CHECK(shape_of(g, node(g, k, {a, b, c})[0]) == Shape{2, 3, 4});
  }
  ValueId i = input(g, "i", DType::i32, {4});
  CHECK_THROWS_AS(node(g, OpKind::Sum, {a, i}), ShapeError);
}

TEST_CASE("Split: opset 18's num_outputs parts are ceil(dim / n) with a smaller last, run-time sizes are refused") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 7});
  auto parts = node(g, OpKind::Split, {x}, SplitAttrs{1, true}, 3);
  CHECK(shape_of(g, parts[0]) == Shape{2, 3});
  CHECK(shape_of(g, parts[1]) == Shape{2, 3});
  CHECK(shape_of(g, parts[2]) == Shape{2, 1});
  CHECK_THROWS_AS(node(g, OpKind::Split, {x}, SplitAttrs{1, false}, 3), ShapeError);  // opset 13: equal parts only
  ValueId y = input(g, "y", DType::f32, {2, 4});
  CHECK_THROWS_AS(node(g, OpKind::Split, {y}, SplitAttrs{1, true}, 3), ShapeError);  // [2, 2, 0]: empty last part
  ValueId sizes = input(g, "sizes", DType::i64, {2});
  try {
    node(g, OpKind::Split, {x, sizes}, SplitAttrs{1}, 2, "split_dyn");
    FAIL("no error");
  } catch (const UnsupportedError& e) {
    CHECK(e.exit_code() == ExitCode::unsupported_model);
    CHECK(std::string(e.what()).find("split_dyn") != std::string::npos);
  }
}

TEST_CASE("LayerNormalization's optional Mean and InvStdDev, the verifier checks output counts against the table") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 3, 8});
  ValueId s = input(g, "s", DType::f32, {8});
  auto outs = node(g, OpKind::LayerNorm, {x, s}, LayerNormAttrs{-1, 1e-5f}, 3);
  CHECK(shape_of(g, outs[0]) == Shape{2, 3, 8});
  CHECK(shape_of(g, outs[1]) == Shape{2, 3, 1});
  CHECK(shape_of(g, outs[2]) == Shape{2, 3, 1});
  auto two = node(g, OpKind::LayerNorm, {x, s}, LayerNormAttrs{1, 1e-5f}, 2);
  CHECK(shape_of(g, two[1]) == Shape{2, 1, 1});
  ValueId k = ints(g, "k", {2});
  node(g, OpKind::TopK, {x, k}, TopKAttrs{}, 2);
  CHECK_NOTHROW(verify(g, Stage::imported));
  node(g, OpKind::TopK, {x, k}, TopKAttrs{}, 1);  // TopK has both outputs
  CHECK_THROWS_AS(verify(g, Stage::imported), GraphError);
}

TEST_CASE("ArgMax, TopK, Clip, PRelu, logical ops") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 5, 3});
  auto am = node(g, OpKind::ArgMax, {x}, ArgReduceAttrs{1, false, false});
  CHECK(shape_of(g, am[0]) == Shape{2, 3});
  CHECK(g.value(am[0]).type.dtype == DType::i64);
  CHECK(shape_of(g, node(g, OpKind::ArgMin, {x}, ArgReduceAttrs{-1, true, false})[0]) == Shape{2, 5, 1});
  auto tk = node(g, OpKind::TopK, {x, ints(g, "k", {2})}, TopKAttrs{1, true, true}, 2);
  CHECK(shape_of(g, tk[0]) == Shape{2, 2, 3});
  CHECK(g.value(tk[1]).type.dtype == DType::i64);
  CHECK_THROWS_AS(node(g, OpKind::TopK, {x, ints(g, "k6", {6})}, TopKAttrs{1, true, true}, 2), ShapeError);
  ValueId lo = g.add_constant("lo", Tensor::scalar<float>(-1.0f));
  CHECK(shape_of(g, node(g, OpKind::Clip, {x, lo, ValueId{}})[0]) == Shape{2, 5, 3});
  ValueId lo8 = g.add_constant("lo8", Tensor::scalar<std::int8_t>(-127));
  CHECK_THROWS_AS(node(g, OpKind::Clip, {x, lo8}), ShapeError);  // bound dtype differs
  ValueId slope = input(g, "slope", DType::f32, {5, 1});
  CHECK(shape_of(g, node(g, OpKind::PRelu, {x, slope})[0]) == Shape{2, 5, 3});
  ValueId wide = input(g, "wide", DType::f32, {4, 2, 5, 3});
  CHECK_THROWS_AS(node(g, OpKind::PRelu, {x, wide}), ShapeError);  // would grow X
  ValueId p = input(g, "p", DType::boolean, {2, 1});
  ValueId q = input(g, "q", DType::boolean, {3});
  CHECK(shape_of(g, node(g, OpKind::Xor, {p, q})[0]) == Shape{2, 3});
  CHECK_THROWS_AS(node(g, OpKind::And, {p, x}), ShapeError);
}

TEST_CASE("pooling: explicit pads, ceil mode (a window starting in the end pad is dropped), SAME and VALID") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {1, 3, 5, 5});
  PoolAttrs a;
  a.kernel_shape = {2, 2};
  a.strides = {2, 2};
  CHECK(shape_of(g, node(g, OpKind::MaxPool, {x}, a)[0]) == Shape{1, 3, 2, 2});
  a.ceil_mode = true;
  CHECK(shape_of(g, node(g, OpKind::MaxPool, {x}, a)[0]) == Shape{1, 3, 3, 3});
  // torch.nn.MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5x5: 3x3 (the 4th window would start in the pad).
  a.pads = {1, 1, 1, 1};
  CHECK(shape_of(g, node(g, OpKind::MaxPool, {x}, a)[0]) == Shape{1, 3, 3, 3});
  a.pads = {};
  a.ceil_mode = false;
  a.auto_pad = AutoPad::same_upper;
  a.kernel_shape = {3, 3};
  auto y = node(g, OpKind::MaxPool, {x}, a, 2);
  CHECK(shape_of(g, y[0]) == Shape{1, 3, 3, 3});
  CHECK(g.value(y[1]).type.dtype == DType::i64);
  a.auto_pad = AutoPad::valid;
  CHECK(shape_of(g, node(g, OpKind::AveragePool, {x}, a)[0]) == Shape{1, 3, 2, 2});
  PoolDim d;
  a.auto_pad = AutoPad::same_lower;
  a.strides = {1, 1};
  a.kernel_shape = {2, 2};
  REQUIRE(pool_dim(a, 0, 2, 5, d).empty());
  CHECK(d.pad_begin == 1);  // the odd pad goes first with SAME_LOWER
  CHECK(d.pad_end == 0);
  CHECK(d.out == 5);
  a.kernel_shape = {2};
  CHECK_FALSE(pool_dim(a, 0, 2, 5, d).empty());
  CHECK(shape_of(g, node(g, OpKind::GlobalAveragePool, {x})[0]) == Shape{1, 3, 1, 1});
}

TEST_CASE("losses, GatherElements, GatherND, Tile, Pad, DepthToSpace, SpaceToDepth, OneHot, CastLike, Size") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {4, 3, 2});
  ValueId t = input(g, "t", DType::i64, {4, 2});
  CHECK(shape_of(g, node(g, OpKind::NegativeLogLikelihoodLoss, {x, t}, LossAttrs{LossReduction::none})[0]) ==
        Shape{4, 2});
  auto sce = node(g, OpKind::SoftmaxCrossEntropyLoss, {x, t}, LossAttrs{}, 2);
  CHECK(shape_of(g, sce[0]) == Shape{});
  CHECK(shape_of(g, sce[1]) == Shape{4, 3, 2});
  ValueId bad_t = input(g, "bad_t", DType::i64, {4, 3});
  CHECK_THROWS_AS(node(g, OpKind::NegativeLogLikelihoodLoss, {x, bad_t}, LossAttrs{}), ShapeError);
  ValueId idx = input(g, "idx", DType::i64, {4, 1, 2});
  CHECK(shape_of(g, node(g, OpKind::GatherElements, {x, idx}, AxisAttrs{1})[0]) == Shape{4, 1, 2});
  ValueId nd = input(g, "nd", DType::i64, {5, 2});
  CHECK(shape_of(g, node(g, OpKind::GatherND, {x, nd}, AxisAttrs{0})[0]) == Shape{5, 2});
  CHECK(shape_of(g, node(g, OpKind::Tile, {x, ints(g, "r", {1, 2, 3})})[0]) == Shape{4, 6, 6});
  CHECK(shape_of(g, node(g, OpKind::Pad, {x, ints(g, "p", {0, 1, 0, 0, 2, -1})}, PadAttrs{})[0]) == Shape{4, 6, 1});
  ValueId img = input(g, "img", DType::f32, {1, 8, 2, 3});
  CHECK(shape_of(g, node(g, OpKind::DepthToSpace, {img}, BlockAttrs{2, false})[0]) == Shape{1, 2, 4, 6});
  CHECK_THROWS_AS(node(g, OpKind::SpaceToDepth, {img}, BlockAttrs{2, false}), ShapeError);  // 3 is odd
  ValueId depth = g.add_constant("depth", Tensor::scalar<std::int64_t>(5));
  ValueId vals = input(g, "vals", DType::f32, {2});
  CHECK(shape_of(g, node(g, OpKind::OneHot, {t, depth, vals}, AxisAttrs{1})[0]) == Shape{4, 5, 2});
  auto cl = node(g, OpKind::CastLike, {x, t});
  CHECK(g.value(cl[0]).type.dtype == DType::i64);
  CHECK(shape_of(g, node(g, OpKind::Size, {x})[0]) == Shape{});
}
}
