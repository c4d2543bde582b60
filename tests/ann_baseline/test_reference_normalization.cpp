// Reference kernels of Softmax, LayerNormalization and the reductions against hand-computed values.
#include <limits>

#include "reference_test_util.hpp"

using namespace snnconv;
using namespace snnconv::test;

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// softmax([0,1,2]) in float32 (numpy): e^(x-2) / sum
constexpr float kS0 = 0.09003057f, kS1 = 0.24472846f, kS2 = 0.66524094f;
constexpr float kThird = 1.0f / 3.0f;
}  // namespace

TEST_SUITE("unit") {

TEST_CASE("reference Softmax along a middle axis") {
  // x[2,3,2]: batch 0 holds columns [0,1,2] and [1,2,3] (same softmax), batch 1 is all zeros.
  const Tensor x = f32({2, 3, 2}, {0, 1, 1, 2, 2, 3, 0, 0, 0, 0, 0, 0});
  const std::vector<float> expected{kS0, kS0, kS1, kS1, kS2, kS2, kThird, kThird, kThird, kThird, kThird, kThird};
  check_close(run1({OpKind::Softmax, SoftmaxAttrs{1}}, {x}), {2, 3, 2}, expected, 1e-7f);
  check_close(run1({OpKind::Softmax, SoftmaxAttrs{-2}}, {x}), {2, 3, 2}, expected, 1e-7f);
  // last axis; large inputs do not overflow thanks to the max subtraction
  check_close(run1({OpKind::Softmax, SoftmaxAttrs{-1}}, {f32({2, 2}, {1000, 1000, 0, std::log(3.0f)})}), {2, 2},
              {0.5f, 0.5f, 0.25f, 0.75f}, 1e-6f);
  // a NaN poisons its whole vector and nothing else
  check_exact<float>(run1({OpKind::Softmax, SoftmaxAttrs{1}}, {f32({2, 2}, {kNaN, 0, 0, 0})}), {2, 2},
                     {kNaN, kNaN, 0.5f, 0.5f});
  CHECK_THROWS_AS(run1({OpKind::Softmax, SoftmaxAttrs{2}}, {x.reshaped({6, 2})}), ShapeError);
}

TEST_CASE("reference LayerNormalization over the last axis with scale and bias") {
  // row [1,2,3,4]: mean 2.5, var 1.25, inv_std = 1/sqrt(1.25 + 1e-5) = 0.89442366;
  // normalised [-1.3416355, -0.44721183, 0.44721183, 1.3416355] * [1,1,2,2] + [0,0,0,1].
  // row [2,2,2,2]: x - mean = 0 -> bias only; inv_std = 1/sqrt(1e-5) = 316.22778
  const Tensor x = f32({2, 4}, {1, 2, 3, 4, 2, 2, 2, 2});
  const Tensor scale = f32({4}, {1, 1, 2, 2});
  const Tensor bias = f32({4}, {0, 0, 0, 1});
  const std::vector<Tensor> out = run_op({OpKind::LayerNorm, LayerNormAttrs{-1, 1e-5f}, 3}, {x, scale, bias});
  REQUIRE(out.size() == 3);
  check_close(out[0], {2, 4}, {-1.3416355f, -0.44721183f, 0.89442366f, 3.683271f, 0, 0, 0, 1}, 1e-6f);
  check_exact<float>(out[1], {2, 1}, {2.5f, 2.0f});
  check_close(out[2], {2, 1}, {0.89442366f, 316.22778f}, 1e-6f);
  // without bias, one output
  check_close(run1({OpKind::LayerNorm, LayerNormAttrs{1, 1e-5f}}, {x, scale, std::nullopt}), {2, 4},
              {-1.3416355f, -0.44721183f, 0.89442366f, 2.683271f, 0, 0, 0, 0}, 1e-6f);
}

TEST_CASE("reference LayerNormalization over trailing axes from axis 1") {
  // x[2,2,2] = 0..7 normalised per batch over 4 values: [0,1,2,3] and [4,5,6,7] both give
  // [-1.3416355, -0.44721183, 0.44721183, 1.3416355]; scale [2,2] broadcasts over the normalised dims
  const Tensor x = f32({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  const std::vector<float> row{-1.3416355f, -0.44721183f, 0.44721183f, 1.3416355f};
  std::vector<float> expected = row;
  expected.insert(expected.end(), row.begin(), row.end());
  check_close(run1({OpKind::LayerNorm, LayerNormAttrs{1, 1e-5f}}, {x, f32({2, 2}, {1, 1, 1, 1})}), {2, 2, 2}, expected,
              1e-6f);
  // scale [2] broadcast over the last axis only: (-1.34, -0.45*3, 0.45, 1.34*3) per batch
  check_close(run1({OpKind::LayerNorm, LayerNormAttrs{-2, 1e-5f}}, {x, f32({2}, {1, 3})}), {2, 2, 2},
              {row[0], row[1] * 3, row[2], row[3] * 3, row[0], row[1] * 3, row[2], row[3] * 3}, 1e-6f);
  CHECK_THROWS_AS(run1({OpKind::LayerNorm, LayerNormAttrs{-1, 1e-5f}}, {x, f32({3}, {1, 1, 1})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::LayerNorm, LayerNormAttrs{3, 1e-5f}}, {x, f32({2}, {1, 1})}), ShapeError);
}

TEST_CASE("reference ReduceMean with keepdims 0 and 1 and negative axes") {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  check_exact<float>(run1({OpKind::ReduceMean, ReduceAttrs{{1}, true, false}}, {x}), {2, 1}, {2, 5});
  check_exact<float>(run1({OpKind::ReduceMean, ReduceAttrs{{1}, false, false}}, {x}), {2}, {2, 5});
  check_exact<float>(run1({OpKind::ReduceMean, ReduceAttrs{{-2}, true, false}}, {x}), {1, 3}, {2.5f, 3.5f, 4.5f});
  check_exact<float>(run1({OpKind::ReduceMean, ReduceAttrs{{-2}, false, false}}, {x}), {3}, {2.5f, 3.5f, 4.5f});
  // no axes: everything
  check_exact<float>(run1({OpKind::ReduceMean, ReduceAttrs{{}, true, false}}, {x}), {1, 1}, {3.5f});
  check_exact<float>(run1({OpKind::ReduceMean, ReduceAttrs{{}, false, false}}, {x}), {}, {3.5f});
  check_exact<float>(run1({OpKind::ReduceMean, ReduceAttrs{{0, 1}, false, false}}, {x}), {}, {3.5f});
  // integer means truncate toward zero: 1.5 -> 1, -1.5 -> -1
  check_exact<std::int32_t>(run1({OpKind::ReduceMean, ReduceAttrs{{1}, false, false}}, {i32({2, 2}, {1, 2, -1, -2})}),
                            {2}, {1, -1});
  CHECK_THROWS_AS(run1({OpKind::ReduceMean, ReduceAttrs{{1, -1}, false, false}}, {x}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::ReduceMean, ReduceAttrs{{2}, false, false}}, {x}), ShapeError);
}

TEST_CASE("reference ReduceSum with axes as an input tensor") {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  check_exact<float>(run1({OpKind::ReduceSum, ReduceAttrs{}}, {x, i64s({0})}), {1, 3}, {5, 7, 9});
  check_exact<float>(run1({OpKind::ReduceSum, ReduceAttrs{{}, false, false}}, {x, i64s({-1})}), {2}, {6, 15});
  // empty axes: all axes, or the identity with noop_with_empty_axes
  check_exact<float>(run1({OpKind::ReduceSum, ReduceAttrs{{}, false, false}}, {x, i64s({})}), {}, {21});
  check_exact<float>(run1({OpKind::ReduceSum, ReduceAttrs{{}, false, true}}, {x, i64s({})}), {2, 3}, {1, 2, 3, 4, 5, 6});
  check_exact<float>(run1({OpKind::ReduceSum, ReduceAttrs{{}, true, true}}, {x, std::nullopt}), {2, 3},
                     {1, 2, 3, 4, 5, 6});
  // a 3-D reduction over the outer and inner axes: x[2,2,2] = 0..7, axes {0,2} -> [0+1+4+5, 2+3+6+7]
  check_exact<std::int64_t>(run1({OpKind::ReduceSum, ReduceAttrs{{}, true, false}},
                                 {i64({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}), i64s({0, 2})}),
                            {1, 2, 1}, {10, 18});
  // int8 sums wrap like numpy's .astype(int8): 100 + 100 = 200 -> -56
  check_exact<std::int8_t>(run1({OpKind::ReduceSum, ReduceAttrs{{}, false, false}}, {i8({2}, {100, 100}), i64s({0})}),
                           {}, {-56});
}

TEST_CASE("reference ReduceMax with NaN and integers") {
  check_exact<float>(run1({OpKind::ReduceMax, ReduceAttrs{{-1}, false, false}}, {f32({2, 3}, {1, kNaN, 3, -4, -5, -6})}),
                     {2}, {kNaN, -4});
  check_exact<std::int32_t>(run1({OpKind::ReduceMax, ReduceAttrs{{0}, true, false}}, {i32({2, 2}, {1, 7, 3, -7})}),
                            {1, 2}, {3, 7});
  check_exact<std::uint8_t>(run1({OpKind::ReduceMax, ReduceAttrs{{}, false, false}}, {u8({3}, {3, 250, 7})}), {}, {250});
}

TEST_CASE("reference CumSum: axis input, exclusive, reverse") {
  // x[2,3] = [[1,2,3],[4,5,6]]
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  check_exact<float>(run1({OpKind::CumSum, CumSumAttrs{}}, {x, i64({}, {1})}), {2, 3}, {1, 3, 6, 4, 9, 15});
  check_exact<float>(run1({OpKind::CumSum, CumSumAttrs{}}, {x, i32({}, {0})}), {2, 3}, {1, 2, 3, 5, 7, 9});
  check_exact<float>(run1({OpKind::CumSum, CumSumAttrs{true, false}}, {x, i64({}, {-1})}), {2, 3}, {0, 1, 3, 0, 4, 9});
  check_exact<float>(run1({OpKind::CumSum, CumSumAttrs{false, true}}, {x, i64({}, {-1})}), {2, 3}, {6, 5, 3, 15, 11, 6});
  check_exact<float>(run1({OpKind::CumSum, CumSumAttrs{true, true}}, {x, i64({}, {-1})}), {2, 3}, {5, 3, 0, 11, 6, 0});
  check_exact<std::int64_t>(run1({OpKind::CumSum, CumSumAttrs{}}, {i64({4}, {1, -1, 1, -1}), i64({1}, {0})}), {4},
                            {1, 0, 1, 0});
  CHECK_THROWS_AS(run1({OpKind::CumSum, CumSumAttrs{}}, {x, i64({}, {2})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::CumSum, CumSumAttrs{}}, {x, i64({2}, {0, 1})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::CumSum, CumSumAttrs{}}, {i8({1}, {1}), i64({}, {0})}), UnsupportedError);
}

}  // TEST_SUITE
