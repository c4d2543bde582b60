#include <doctest/doctest.h>

#include "graph_builder.hpp"

using namespace snnconv;
using namespace snnconv::test;

TEST_SUITE("unit") {
TEST_CASE("broadcasting and matmul shapes") {
  Graph g;
  ValueId a = input(g, "a", DType::f32, {2, 1, 4});
  ValueId b = input(g, "b", DType::f32, {3, 1});
  CHECK(shape_of(g, node(g, OpKind::Add, {a, b})[0]) == Shape{2, 3, 4});
  ValueId m1 = input(g, "m1", DType::f32, {5, 2, 3, 4});
  ValueId m2 = input(g, "m2", DType::f32, {2, 4, 7});
  CHECK(shape_of(g, node(g, OpKind::MatMul, {m1, m2})[0]) == Shape{5, 2, 3, 7});
  ValueId v = input(g, "v", DType::f32, {4});
  CHECK(shape_of(g, node(g, OpKind::MatMul, {m1, v})[0]) == Shape{5, 2, 3});
  ValueId bad = input(g, "bad", DType::f32, {5, 3});
  CHECK_THROWS_AS(node(g, OpKind::MatMul, {m1, bad}), ShapeError);
  ValueId c = input(g, "c", DType::f32, {2, 5});
  CHECK_THROWS_AS(node(g, OpKind::Add, {a, c}), ShapeError);
  CHECK(g.value(node(g, OpKind::Equal, {a, b})[0]).type.dtype == DType::boolean);
}

TEST_CASE("reshape, flatten, transpose, concat, split") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 3, 4});
  CHECK(shape_of(g, node(g, OpKind::Reshape, {x, ints(g, "s1", {0, -1})}, ReshapeAttrs{})[0]) == Shape{2, 12});
  CHECK(shape_of(g, node(g, OpKind::Reshape, {x, ints(g, "s2", {4, 3, 2})}, ReshapeAttrs{})[0]) == Shape{4, 3, 2});
  CHECK_THROWS_AS(node(g, OpKind::Reshape, {x, ints(g, "s3", {5, -1})}, ReshapeAttrs{}), ShapeError);
  CHECK_THROWS_AS(node(g, OpKind::Reshape, {x, ints(g, "s4", {-1, -1})}, ReshapeAttrs{}), ShapeError);
  CHECK(shape_of(g, node(g, OpKind::Flatten, {x}, AxisAttrs{1})[0]) == Shape{2, 12});
  CHECK(shape_of(g, node(g, OpKind::Flatten, {x}, AxisAttrs{0})[0]) == Shape{1, 24});
  CHECK(shape_of(g, node(g, OpKind::Transpose, {x}, TransposeAttrs{{2, 0, 1}})[0]) == Shape{4, 2, 3});
  CHECK(shape_of(g, node(g, OpKind::Transpose, {x}, TransposeAttrs{})[0]) == Shape{4, 3, 2});
  CHECK_THROWS_AS(node(g, OpKind::Transpose, {x}, TransposeAttrs{{0, 0, 1}}), ShapeError);
  ValueId y = input(g, "y", DType::f32, {2, 5, 4});
  CHECK(shape_of(g, node(g, OpKind::Concat, {x, y}, AxisAttrs{-2})[0]) == Shape{2, 8, 4});
  auto parts = node(g, OpKind::Split, {y, ints(g, "sp", {2, 3})}, SplitAttrs{1}, 2);
  CHECK(shape_of(g, parts[0]) == Shape{2, 2, 4});
  CHECK(shape_of(g, parts[1]) == Shape{2, 3, 4});
  auto halves = node(g, OpKind::Split, {x}, SplitAttrs{2}, 2);
  CHECK(shape_of(g, halves[1]) == Shape{2, 3, 2});
  CHECK_THROWS_AS(node(g, OpKind::Split, {x}, SplitAttrs{1}, 2), ShapeError);
}

TEST_CASE("slice, gather, squeeze, unsqueeze, expand") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {10, 6});
  auto sl = [&](std::vector<std::int64_t> s, std::vector<std::int64_t> e, std::vector<std::int64_t> a,
                std::vector<std::int64_t> st) {
    return shape_of(g, node(g, OpKind::Slice, {x, ints(g, "s", s), ints(g, "e", e), ints(g, "a", a), ints(g, "t", st)})[0]);
  };
  CHECK(sl({1}, {100}, {0}, {1}) == Shape{9, 6});
  CHECK(sl({-3}, {std::numeric_limits<std::int64_t>::max()}, {1}, {1}) == Shape{10, 3});
  CHECK(sl({9}, {-100}, {0}, {-2}) == Shape{5, 6});
  CHECK(sl({0, 0}, {10, 6}, {0, 1}, {3, 4}) == Shape{4, 2});
  CHECK(sl({5}, {2}, {0}, {1}) == Shape{0, 6});
  ValueId idx = g.add_constant("idx", Tensor::from_vector<std::int64_t>({2, 3}, {0, 1, 2, 3, 4, -1}));
  CHECK(shape_of(g, node(g, OpKind::Gather, {x, idx}, AxisAttrs{0})[0]) == Shape{2, 3, 6});
  ValueId scalar_idx = g.add_constant("si", Tensor::scalar<std::int64_t>(2));
  CHECK(shape_of(g, node(g, OpKind::Gather, {x, scalar_idx}, AxisAttrs{1})[0]) == Shape{10});
  ValueId oob = g.add_constant("oob", Tensor::scalar<std::int64_t>(6));
  CHECK_THROWS_AS(node(g, OpKind::Gather, {x, oob}, AxisAttrs{1}), ShapeError);
  ValueId u = node(g, OpKind::Unsqueeze, {x, ints(g, "ax", {0, -1})})[0];
  CHECK(shape_of(g, u) == Shape{1, 10, 6, 1});
  CHECK(shape_of(g, node(g, OpKind::Squeeze, {u})[0]) == Shape{10, 6});
  CHECK(shape_of(g, node(g, OpKind::Squeeze, {u, ints(g, "sq", {3})})[0]) == Shape{1, 10, 6});
  CHECK_THROWS_AS(node(g, OpKind::Squeeze, {u, ints(g, "sq2", {1})}), ShapeError);
  ValueId one = input(g, "one", DType::f32, {1, 6});
  CHECK(shape_of(g, node(g, OpKind::Expand, {one, ints(g, "es", {3, 1, 6})})[0]) == Shape{3, 1, 6});
}

TEST_CASE("conv, gemm, reduce, shape-only ops, attention, linear") {
  Graph g;
  ValueId img = input(g, "img", DType::f32, {2, 4, 28, 28});
  ValueId w = g.add_constant("w", Tensor(DType::f32, {8, 2, 7, 7}));
  CHECK(shape_of(g, node(g, OpKind::Conv, {img, w}, ConvAttrs{{7, 7}, {7, 7}, {}, {}, 2})[0]) == Shape{2, 8, 4, 4});
  CHECK_THROWS_AS(node(g, OpKind::Conv, {img, w}, ConvAttrs{{7, 7}, {7, 7}, {}, {}, 1}), ShapeError);
  ValueId a = input(g, "a", DType::f32, {3, 5});
  ValueId b = g.add_constant("b", Tensor(DType::f32, {7, 5}));
  CHECK(shape_of(g, node(g, OpKind::Gemm, {a, b}, GemmAttrs{1, 1, false, true})[0]) == Shape{3, 7});
  CHECK_THROWS_AS(node(g, OpKind::Gemm, {a, b}, GemmAttrs{}), ShapeError);
  CHECK(shape_of(g, node(g, OpKind::ReduceMean, {img}, ReduceAttrs{{-1}, true})[0]) == Shape{2, 4, 28, 1});
  CHECK(shape_of(g, node(g, OpKind::ReduceMean, {img}, ReduceAttrs{{1, 2}, false})[0]) == Shape{2, 28});
  CHECK(shape_of(g, node(g, OpKind::ReduceSum, {img, ints(g, "rs", {0})}, ReduceAttrs{})[0]) == Shape{1, 4, 28, 28});
  ValueId sh = node(g, OpKind::Shape, {img})[0];
  CHECK(shape_of(g, sh) == Shape{4});
  CHECK(g.value(sh).type.dtype == DType::i64);
  CHECK(shape_of(g, node(g, OpKind::ConstantOfShape, {ints(g, "cs", {2, 3})}, ConstantOfShapeAttrs{})[0]) == Shape{2, 3});
  ValueId r = node(g, OpKind::Range, {g.add_constant("r0", Tensor::scalar<std::int64_t>(2)),
                                      g.add_constant("r1", Tensor::scalar<std::int64_t>(11)),
                                      g.add_constant("r2", Tensor::scalar<std::int64_t>(3))})[0];
  CHECK(shape_of(g, r) == Shape{3});
  ValueId q = input(g, "q", DType::f32, {2, 4, 16, 8});
  ValueId k = input(g, "k", DType::f32, {2, 4, 20, 8});
  ValueId v = input(g, "v", DType::f32, {2, 4, 20, 6});
  CHECK(shape_of(g, node(g, OpKind::Attention, {q, k, v}, AttentionAttrs{0.35f, true})[0]) == Shape{2, 4, 16, 6});
  ValueId lw = g.add_constant("lw", Tensor(DType::f32, {8, 32}));
  ValueId lb = g.add_constant("lb", Tensor(DType::f32, {32}));
  CHECK(shape_of(g, node(g, OpKind::Linear, {q, lw, lb}, LinearAttrs{})[0]) == Shape{2, 4, 16, 32});
}

TEST_CASE("symbolic dims survive elementwise ops and bind_dims checks names") {
  Graph g;
  g.source_file = "m.onnx";
  Value x;
  x.name = "x";
  x.type.dims = {Dim::named("batch"), Dim::known(4)};
  ValueId xi = g.add_value(x);
  g.set_inputs({xi});
  ValueId y = node(g, OpKind::Relu, {xi})[0];
  CHECK(type_to_string(g.value(y).type) == "f32[batch,4]");
  CHECK(input_symbols(g) == std::vector<std::string>{"batch"});
  try {
    bind_dims(g, {{"seq", 3}});
    FAIL("no throw");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()).find("seq") != std::string::npos);
    CHECK(std::string(e.what()).find("batch") != std::string::npos);
  }
  CHECK_THROWS_AS(bind_dims(g, {{"batch", 0}}), UsageError);
  bind_dims(g, {{"batch", 3}});
  infer_shapes(g);
  CHECK(shape_of(g, y) == Shape{3, 4});
}
}

TEST_SUITE("unit") {
TEST_CASE("fuzz findings: shape arithmetic on absurd dims is refused, never overflows") {
  // tests/data/fuzz/onnx/crash-reshape-product-overflow.onnx: a Reshape target whose dims multiplied past
  // int64 (UBSan: signed overflow in shape_fns.cpp) before any check.
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 3, 4});
  const std::int64_t big = std::int64_t{1} << 31;
  CHECK_THROWS_AS(node(g, OpKind::Reshape, {x, ints(g, "huge", {big, big, big, -1})}, ReshapeAttrs{}), ShapeError);
  CHECK_THROWS_AS(node(g, OpKind::Reshape, {x, ints(g, "over", {std::int64_t{1} << 40, -1})}, ReshapeAttrs{}),
                  ShapeError);
  // Every value a node reads or writes keeps dims <= 2^32 and at most 2^33 elements: LimitError otherwise.
  ValueId wide = input(g, "wide", DType::f32, {std::int64_t{1} << 20, std::int64_t{1} << 20});
  try {
    node(g, OpKind::Relu, {wide}, NoAttrs{}, 1, "relu_wide");
    FAIL("no LimitError");
  } catch (const LimitError& e) {
    CHECK(std::string(e.what()).find("relu_wide") != std::string::npos);
    CHECK(std::string(e.what()).find("8589934592") != std::string::npos);
  }
  // Slice with a step near INT64_MAX: one element, no overflow in the length formula.
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  ValueId y = input(g, "y", DType::f32, {10});
  CHECK(shape_of(g, node(g, OpKind::Slice, {y, ints(g, "st", {0}), ints(g, "en", {max}), ints(g, "ax", {0}),
                                            ints(g, "sp", {max})})[0]) == Shape{1});
  CHECK(shape_of(g, node(g, OpKind::Slice, {y, ints(g, "st2", {9}), ints(g, "en2", {-max}), ints(g, "ax2", {0}),
                                            ints(g, "sp2", {std::numeric_limits<std::int64_t>::min()})})[0]) ==
        Shape{1});
}
}
