// Reference kernels of data movement, shape-only ops, Cast and Where against hand-computed values.
#include <limits>

#include "reference_test_util.hpp"

using namespace snnconv;
using namespace snnconv::test;

namespace {

constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min();

Tensor arange_f32(Shape shape) {
  const std::int64_t n = checked_numel(shape);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i);
  return f32(std::move(shape), v);
}

}  // namespace

TEST_SUITE("unit") {

TEST_CASE("reference Transpose: default reversal and an explicit perm") {
  check_exact<float>(run1({OpKind::Transpose, TransposeAttrs{}}, {f32({2, 3}, {1, 2, 3, 4, 5, 6})}), {3, 2},
                     {1, 4, 2, 5, 3, 6});
  // x[2,3,4] = 12i + 4j + k; perm [2,0,1] -> out[k,i,j] = x[i,j,k]
  const Tensor out = run1({OpKind::Transpose, TransposeAttrs{{2, 0, 1}}}, {arange_f32({2, 3, 4})});
  std::vector<float> expected;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) expected.push_back(static_cast<float>(12 * i + 4 * j + k));
  check_exact<float>(out, {4, 2, 3}, expected);
  check_exact<std::int8_t>(run1({OpKind::Transpose, TransposeAttrs{{1, 0}}}, {i8({1, 2}, {-1, 1})}), {2, 1}, {-1, 1});
  CHECK_THROWS_AS(run1({OpKind::Transpose, TransposeAttrs{{0, 0}}}, {f32({1, 1}, {1})}), ShapeError);
}

TEST_CASE("reference Reshape with 0, -1 and allowzero") {
  const Tensor x = arange_f32({2, 3, 4});
  CHECK(run1({OpKind::Reshape, ReshapeAttrs{}}, {x, i64s({0, -1})}).shape() == Shape{2, 12});
  CHECK(run1({OpKind::Reshape, ReshapeAttrs{}}, {x, i64s({-1, 2})}).shape() == Shape{12, 2});
  const Tensor r = run1({OpKind::Reshape, ReshapeAttrs{}}, {x, i64s({4, 0, 2})});  // 0 copies dim 1 = 3
  CHECK(r.shape() == Shape{4, 3, 2});
  CHECK(r.to_f32() == x.to_f32());
  // allowzero: a literal 0 dim, valid only for an empty tensor
  CHECK(run1({OpKind::Reshape, ReshapeAttrs{true}}, {f32({0, 3}, {}), i64s({3, 0})}).shape() == Shape{3, 0});
  CHECK_THROWS_AS(run1({OpKind::Reshape, ReshapeAttrs{true}}, {x, i64s({0, -1})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Reshape, ReshapeAttrs{}}, {x, i64s({5, -1})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Reshape, ReshapeAttrs{}}, {x, i64s({-1, -1})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Reshape, ReshapeAttrs{}}, {x, i64s({2, 3, 5})}), ShapeError);
}

TEST_CASE("reference Flatten over [-r, r]") {
  const Tensor x = arange_f32({2, 3, 4});
  CHECK(run1({OpKind::Flatten, AxisAttrs{0}}, {x}).shape() == Shape{1, 24});
  CHECK(run1({OpKind::Flatten, AxisAttrs{1}}, {x}).shape() == Shape{2, 12});
  CHECK(run1({OpKind::Flatten, AxisAttrs{-1}}, {x}).shape() == Shape{6, 4});
  CHECK(run1({OpKind::Flatten, AxisAttrs{3}}, {x}).shape() == Shape{24, 1});
  CHECK(run1({OpKind::Flatten, AxisAttrs{-3}}, {x}).shape() == Shape{1, 24});
  CHECK_THROWS_AS(run1({OpKind::Flatten, AxisAttrs{4}}, {x}), ShapeError);
}

TEST_CASE("reference Concat and Split") {
  // [[1],[2]] ++ [[3,4],[5,6]] along -1
  check_exact<float>(run1({OpKind::Concat, AxisAttrs{-1}}, {f32({2, 1}, {1, 2}), f32({2, 2}, {3, 4, 5, 6})}), {2, 3},
                     {1, 3, 4, 2, 5, 6});
  check_exact<std::int64_t>(run1({OpKind::Concat, AxisAttrs{0}}, {i64({1, 2}, {1, 2}), i64({0, 2}, {}), i64({1, 2}, {3, 4})}),
                            {2, 2}, {1, 2, 3, 4});
  CHECK_THROWS_AS(run1({OpKind::Concat, AxisAttrs{0}}, {f32({2, 1}, {1, 2}), f32({2, 2}, {3, 4, 5, 6})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Concat, AxisAttrs{0}}, {f32({1}, {1}), i64({1}, {1})}), ShapeError);

  // split [2,3] of 0..4
  std::vector<Tensor> parts = run_op({OpKind::Split, SplitAttrs{0}, 2}, {arange_f32({5}), i64s({2, 3})});
  REQUIRE(parts.size() == 2);
  check_exact<float>(parts[0], {2}, {0, 1});
  check_exact<float>(parts[1], {3}, {2, 3, 4});
  // equal split of [2,6] into 3 along axis -1
  parts = run_op({OpKind::Split, SplitAttrs{-1}, 3}, {arange_f32({2, 6}), std::nullopt});
  REQUIRE(parts.size() == 3);
  check_exact<float>(parts[0], {2, 2}, {0, 1, 6, 7});
  check_exact<float>(parts[1], {2, 2}, {2, 3, 8, 9});
  check_exact<float>(parts[2], {2, 2}, {4, 5, 10, 11});
  CHECK_THROWS_AS(run_op({OpKind::Split, SplitAttrs{0}, 2}, {arange_f32({5}), std::nullopt}), ShapeError);
  CHECK_THROWS_AS(run_op({OpKind::Split, SplitAttrs{0}, 2}, {arange_f32({5}), i64s({2, 2})}), ShapeError);
}

TEST_CASE("reference Slice: negative steps, clamped ends, axes") {
  const Tensor x = arange_f32({10});
  // full reversal: start -1, end INT64_MIN (clamped to -1), step -1
  check_exact<float>(run1({OpKind::Slice}, {x, i64s({-1}), i64s({kI64Min}), std::nullopt, i64s({-1})}), {10},
                     {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  // end past the end is clamped to 10
  check_exact<float>(run1({OpKind::Slice}, {x, i64s({1}), i64s({1000}), std::nullopt, std::nullopt}), {9},
                     {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // 8 down to (excluding) 1 in steps of 3: 8, 5, 2
  check_exact<float>(run1({OpKind::Slice}, {x, i64s({8}), i64s({1}), i64s({0}), i64s({-3})}), {3}, {8, 5, 2});
  // start past the end with a negative step is clamped to dim-1; -100 end clamps to -1
  check_exact<float>(run1({OpKind::Slice}, {x, i64s({100}), i64s({-100}), std::nullopt, i64s({-4})}), {3}, {9, 5, 1});
  // the spec's clamp of a backward start before element 0 to 0 (numpy's x[-20:-30:-1] would be empty)
  check_exact<float>(run1({OpKind::Slice}, {x, i64s({-20}), i64s({-30}), std::nullopt, i64s({-1})}), {1}, {0});
  // empty results: start beyond the end, and end before start with a positive step
  CHECK(run1({OpKind::Slice}, {x, i64s({20}), i64s({30}), std::nullopt, std::nullopt}).shape() == Shape{0});
  CHECK(run1({OpKind::Slice}, {x, i64s({5}), i64s({2}), std::nullopt, std::nullopt}).shape() == Shape{0});
  // huge step taken once
  check_exact<float>(run1({OpKind::Slice}, {x, i64s({3}), i64s({kI64Max}), std::nullopt, i64s({kI64Max})}), {1}, {3});
  // x[3,4] = 0..11: rows 0::2, cols 1:3 via axes [0,-1]
  check_exact<float>(run1({OpKind::Slice}, {arange_f32({3, 4}), i64s({0, 1}), i64s({kI64Max, 3}), i64s({0, -1}),
                                            i64s({2, 1})}),
                     {2, 2}, {1, 2, 9, 10});
  // only axis 1 reversed, axis 0 untouched; i32 starts/ends accepted
  check_exact<float>(run1({OpKind::Slice}, {arange_f32({2, 3}), i32({1}, {-1}), i32({1}, {-4}), i32({1}, {1}),
                                            i32({1}, {-1})}),
                     {2, 3}, {2, 1, 0, 5, 4, 3});
  CHECK_THROWS_AS(run1({OpKind::Slice}, {x, i64s({0}), i64s({5}), std::nullopt, i64s({0})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Slice}, {x, i64s({0, 0}), i64s({5}), std::nullopt, std::nullopt}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Slice}, {x, i64s({0}), i64s({5}), i64s({1}), std::nullopt}), ShapeError);
}

TEST_CASE("reference Gather with negative indices") {
  const Tensor data = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  check_exact<float>(run1({OpKind::Gather, AxisAttrs{0}}, {data, i64s({-1, 0})}), {2, 2}, {5, 6, 1, 2});
  // scalar index on axis -1 drops the axis: column -1
  check_exact<float>(run1({OpKind::Gather, AxisAttrs{-1}}, {data, i64({}, {-1})}), {3}, {2, 4, 6});
  // 2-D indices (an embedding lookup) with i32 indices
  check_exact<float>(run1({OpKind::Gather, AxisAttrs{0}}, {data, i32({2, 2}, {0, 2, -2, 1})}), {2, 2, 2},
                     {1, 2, 5, 6, 3, 4, 3, 4});
  for (std::int64_t bad : {3, -4}) {
    try {
      run1({OpKind::Gather, AxisAttrs{0}}, {data, i64s({bad})});
      FAIL("expected a ShapeError");
    } catch (const ShapeError& e) {
      CHECK(e.context().node == "node_under_test");
      CHECK(e.context().op == "Gather");
    }
  }
  CHECK_THROWS_AS(run1({OpKind::Gather, AxisAttrs{0}}, {data, f32({1}, {0})}), ShapeError);
}

TEST_CASE("reference Unsqueeze and Squeeze with axes inputs") {
  const Tensor x = arange_f32({2, 3});
  CHECK(run1({OpKind::Unsqueeze}, {x, i64s({0, -1})}).shape() == Shape{1, 2, 3, 1});
  CHECK(run1({OpKind::Unsqueeze}, {x, i64s({1})}).shape() == Shape{2, 1, 3});
  CHECK(run1({OpKind::Unsqueeze}, {Tensor::scalar(1.0f), i64s({0})}).shape() == Shape{1});
  CHECK_THROWS_AS(run1({OpKind::Unsqueeze}, {x, i64s({0, 0})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Unsqueeze}, {x, i64s({4})}), ShapeError);

  const Tensor y = f32({1, 2, 1}, {7, 8});
  check_exact<float>(run1({OpKind::Squeeze}, {y, i64s({0})}), {2, 1}, {7, 8});
  CHECK(run1({OpKind::Squeeze}, {y, i64s({-1})}).shape() == Shape{1, 2});
  CHECK(run1({OpKind::Squeeze}, {y, std::nullopt}).shape() == Shape{2});
  CHECK_THROWS_AS(run1({OpKind::Squeeze}, {y, i64s({1})}), ShapeError);
}

TEST_CASE("reference Expand broadcasts both ways") {
  // [3,1] to [2,1,4] -> [2,3,4], row r filled with x[r]
  const Tensor e = run1({OpKind::Expand}, {f32({3, 1}, {1, 2, 3}), i64s({2, 1, 4})});
  std::vector<float> expected;
  for (int b = 0; b < 2; ++b)
    for (int r = 1; r <= 3; ++r)
      for (int k = 0; k < 4; ++k) expected.push_back(static_cast<float>(r));
  check_exact<float>(e, {2, 3, 4}, expected);
  // a requested 1 keeps the input's larger dim
  check_exact<std::int64_t>(run1({OpKind::Expand}, {i64({2}, {5, 6}), i64s({1})}), {2}, {5, 6});
  check_exact<bool>(run1({OpKind::Expand}, {boolean({}, {true}), i64s({2})}), {2}, {true, true});
  CHECK_THROWS_AS(run1({OpKind::Expand}, {f32({3}, {1, 2, 3}), i64s({2})}), ShapeError);
}

TEST_CASE("reference Trilu upper and lower with k") {
  const Tensor x = f32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  check_exact<float>(run1({OpKind::Trilu, TriluAttrs{true}}, {x, std::nullopt}), {3, 3}, {1, 2, 3, 0, 5, 6, 0, 0, 9});
  check_exact<float>(run1({OpKind::Trilu, TriluAttrs{true}}, {x, i64({}, {1})}), {3, 3}, {0, 2, 3, 0, 0, 6, 0, 0, 0});
  check_exact<float>(run1({OpKind::Trilu, TriluAttrs{true}}, {x, i64({}, {-1})}), {3, 3}, {1, 2, 3, 4, 5, 6, 0, 8, 9});
  check_exact<float>(run1({OpKind::Trilu, TriluAttrs{false}}, {x, i64({}, {0})}), {3, 3}, {1, 0, 0, 4, 5, 0, 7, 8, 9});
  check_exact<float>(run1({OpKind::Trilu, TriluAttrs{false}}, {x, i64({}, {-1})}), {3, 3}, {0, 0, 0, 4, 0, 0, 7, 8, 0});
  check_exact<float>(run1({OpKind::Trilu, TriluAttrs{false}}, {x, i64({}, {5})}), {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  // batched, non-square [2,2,3], lower k=1
  check_exact<std::int64_t>(run1({OpKind::Trilu, TriluAttrs{false}},
                                 {i64({2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), i64({}, {1})}),
                            {2, 2, 3}, {1, 2, 0, 4, 5, 6, 7, 8, 0, 10, 11, 12});
  CHECK_THROWS_AS(run1({OpKind::Trilu, TriluAttrs{}}, {f32({3}, {1, 2, 3}), std::nullopt}), ShapeError);
}

TEST_CASE("reference Identity, Shape, ConstantOfShape, Range") {
  check_exact<std::int32_t>(run1({OpKind::Identity}, {i32({2}, {4, 5})}), {2}, {4, 5});
  check_exact<std::int64_t>(run1({OpKind::Shape}, {arange_f32({2, 3, 4})}), {3}, {2, 3, 4});
  check_exact<std::int64_t>(run1({OpKind::Shape}, {Tensor::scalar(1.0f)}), {0}, {});

  check_exact<std::int64_t>(run1({OpKind::ConstantOfShape, ConstantOfShapeAttrs{DType::i64, 7}}, {i64s({2, 3})}), {2, 3},
                            std::vector<std::int64_t>(6, 7));
  check_exact<float>(run1({OpKind::ConstantOfShape, ConstantOfShapeAttrs{DType::f32, 0.5}}, {i64s({})}), {}, {0.5f});
  check_exact<bool>(run1({OpKind::ConstantOfShape, ConstantOfShapeAttrs{DType::boolean, 1}}, {i64s({2})}), {2},
                    {true, true});
  CHECK(run1({OpKind::ConstantOfShape, ConstantOfShapeAttrs{}}, {i64s({0, 4})}).shape() == Shape{0, 4});
  CHECK_THROWS_AS(run1({OpKind::ConstantOfShape, ConstantOfShapeAttrs{}}, {i64s({-1})}), ShapeError);
  // Fuzz finding (tests/data/fuzz/onnx/crash-constant-of-shape-int-cast.onnx): a value outside the integer
  // type's range saturates instead of an undefined double -> int conversion.
  check_exact<std::int64_t>(run1({OpKind::ConstantOfShape, ConstantOfShapeAttrs{DType::i64, 9.3e18}}, {i64s({1})}), {1},
                            {std::numeric_limits<std::int64_t>::max()});
  check_exact<std::int8_t>(run1({OpKind::ConstantOfShape, ConstantOfShapeAttrs{DType::i8, -1e9}}, {i64s({1})}), {1},
                           {std::int8_t{-128}});

  // f32: n = ceil((2 - 1) / 0.3) = 4; values start + i * delta
  check_close(run1({OpKind::Range}, {Tensor::scalar(1.0f), Tensor::scalar(2.0f), Tensor::scalar(0.3f)}), {4},
              {1.0f, 1.3f, 1.6f, 1.9f}, 1e-7f);
  check_exact<std::int64_t>(
      run1({OpKind::Range}, {Tensor::scalar<std::int64_t>(10), Tensor::scalar<std::int64_t>(4), Tensor::scalar<std::int64_t>(-3)}),
      {2}, {10, 7});
  check_exact<std::int32_t>(
      run1({OpKind::Range}, {Tensor::scalar<std::int32_t>(0), Tensor::scalar<std::int32_t>(0), Tensor::scalar<std::int32_t>(1)}),
      {0}, {});
  check_exact<std::int32_t>(
      run1({OpKind::Range}, {Tensor::scalar<std::int32_t>(0), Tensor::scalar<std::int32_t>(-5), Tensor::scalar<std::int32_t>(2)}),
      {0}, {});
  CHECK_THROWS_AS(
      run1({OpKind::Range}, {Tensor::scalar<std::int32_t>(0), Tensor::scalar<std::int32_t>(5), Tensor::scalar<std::int32_t>(0)}),
      ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Range}, {Tensor::scalar<std::int32_t>(0), Tensor::scalar(5.0f), Tensor::scalar(1.0f)}),
                  ShapeError);
}

TEST_CASE("reference Cast") {
  // float -> int truncates toward zero
  check_exact<std::int32_t>(run1({OpKind::Cast, CastAttrs{DType::i32}}, {f32({4}, {1.7f, -1.7f, 0, 300})}), {4},
                            {1, -1, 0, 300});
  check_exact<bool>(run1({OpKind::Cast, CastAttrs{DType::boolean}}, {f32({3}, {0.5f, 0, -2})}), {3}, {true, false, true});
  check_exact<float>(run1({OpKind::Cast, CastAttrs{DType::f32}}, {i64s({-3, 16777217})}), {2}, {-3, 16777216});
  check_exact<std::int64_t>(run1({OpKind::Cast, CastAttrs{DType::i64}}, {boolean({2}, {true, false})}), {2}, {1, 0});
  // int -> narrower int wraps (300 mod 256 = 44)
  check_exact<std::uint8_t>(run1({OpKind::Cast, CastAttrs{DType::u8}}, {i32({2}, {300, -1})}), {2}, {44, 255});
}

TEST_CASE("reference Where broadcasts condition, X and Y") {
  // cond [2,1] = [T,F], X [3], Y scalar
  check_exact<float>(run1({OpKind::Where}, {boolean({2, 1}, {true, false}), f32({3}, {1, 2, 3}), Tensor::scalar(0.0f)}),
                     {2, 3}, {1, 2, 3, 0, 0, 0});
  check_exact<std::int64_t>(run1({OpKind::Where}, {boolean({3}, {true, false, true}), i64({1}, {7}), i64({2, 1}, {-1, -2})}),
                            {2, 3}, {7, -1, 7, 7, -2, 7});
  CHECK_THROWS_AS(run1({OpKind::Where}, {f32({1}, {1}), f32({1}, {1}), f32({1}, {1})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Where}, {boolean({2}, {true, false}), f32({3}, {1, 2, 3}), Tensor::scalar(0.0f)}),
                  ShapeError);
}

}  // TEST_SUITE
