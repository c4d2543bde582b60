// Reference kernels of the ops added for broader ONNX coverage, on cases ONNX's own node tests do not cover
// (tests/data/onnx_node covers the rest). Expected values come from PyTorch 1.13 / numpy 1.24 (the commands
// are in the comments) or are exact by construction.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "reference_test_util.hpp"

using namespace snnconv;
using namespace snnconv::test;

namespace {
const std::vector<float> kX = {-4.0f, -3.0f, -1.5f, -0.25f, 0.0f, 0.5f, 2.0f, 3.0f, 25.0f};
}

TEST_SUITE("unit") {
TEST_CASE("HardSwish, HardSigmoid, Softplus against torch.nn.functional") {
  // torch.nn.functional.hardswish / hardsigmoid / softplus(threshold=1000) of kX, float32.
  check_close(run1({OpKind::HardSwish}, {f32({9}, kX)}), {9},
              {-0.0f, -0.0f, -0.375f, -0.1145833358168602f, 0.0f, 0.2916666567325592f, 1.6666666269302368f, 3.0f, 25.0f},
              1e-6f);
  // torch's hardsigmoid is relu6(x + 3) / 6: ONNX HardSigmoid with alpha 1/6, beta 1/2.
  check_close(run1({OpKind::HardSigmoid, ScalarParamsAttrs{1.0f / 6.0f, 0.5f}}, {f32({9}, kX)}), {9},
              {0.0f, 0.0f, 0.25f, 0.4583333432674408f, 0.5f, 0.5833333134651184f, 0.8333333134651184f, 1.0f, 1.0f},
              1e-6f);
  check_close(run1({OpKind::Softplus}, {f32({9}, kX)}), {9},
              {0.018149929121136665f, 0.04858735203742981f, 0.20141328871250153f, 0.575939416885376f,
               0.6931471824645996f, 0.9740769863128662f, 2.1269280910491943f, 3.0485873222351074f, 25.0f},
              1e-6f);
  // No overflow where exp(x) would: softplus(100) = 100.
  check_close(run1({OpKind::Softplus}, {f32({1}, {100.0f})}), {1}, {100.0f});
}

TEST_CASE("Clip: absent bounds, integer QDQ ranges, lo > hi, NaN") {
  // QAT exports clip int8 levels to the narrow range [-127, 127] between QuantizeLinear and DequantizeLinear.
  const Tensor q = i8({5}, {-128, -127, 0, 126, 127});
  check_exact<std::int8_t>(run1({OpKind::Clip}, {q, i8({}, {-127}), i8({}, {127})}), {5}, {-127, -127, 0, 126, 127});
  check_exact<std::uint8_t>(run1({OpKind::Clip}, {u8({3}, {0, 7, 255}), std::nullopt, u8({}, {200})}), {3}, {0, 7, 200});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  check_exact<float>(run1({OpKind::Clip}, {f32({4}, {-2.0f, 0.5f, 9.0f, nan}), f32({}, {-1.0f})}), {4},
                     {-1.0f, 0.5f, 9.0f, nan});
  // numpy.clip(x, 2, 1) == 1 everywhere.
  check_exact<float>(run1({OpKind::Clip}, {f32({2}, {0.0f, 5.0f}), f32({}, {2.0f}), f32({}, {1.0f})}), {2}, {1.0f, 1.0f});
  CHECK_THROWS_AS(run1({OpKind::Clip}, {f32({2}, {0.0f, 5.0f}), f32({2}, {0.0f, 1.0f})}), ShapeError);
}

TEST_CASE("variadic ops: one-input Max / Min copy, Sum and Mean fold left with broadcasting") {
  const Tensor x = f32({2, 2}, {1.0f, -2.0f, 3.0f, 4.0f});
  check_exact<float>(run1({OpKind::Max}, {x}), {2, 2}, {1.0f, -2.0f, 3.0f, 4.0f});
  check_exact<float>(run1({OpKind::Min}, {x}), {2, 2}, {1.0f, -2.0f, 3.0f, 4.0f});
  const Tensor row = f32({2}, {10.0f, 20.0f});
  const Tensor col = f32({2, 1}, {100.0f, 200.0f});
  check_exact<float>(run1({OpKind::Sum}, {x, row, col}), {2, 2}, {111.0f, 118.0f, 213.0f, 224.0f});
  check_exact<float>(run1({OpKind::Mean}, {x, row, col}), {2, 2}, {111.0f / 3, 118.0f / 3, 213.0f / 3, 224.0f / 3});
  check_exact<std::int32_t>(run1({OpKind::Max}, {i32({3}, {1, 5, 3}), i32({3}, {4, 2, 3}), i32({1}, {2})}), {3},
                            {4, 5, 3});
}

TEST_CASE("Split with opset 18's num_outputs: ceil parts, smaller last") {
  const Tensor x = f32({7}, {0, 1, 2, 3, 4, 5, 6});
  const std::vector<Tensor> parts = run_op({OpKind::Split, SplitAttrs{0, true}, 3}, {x});
  REQUIRE(parts.size() == 3);
  check_exact<float>(parts[0], {3}, {0, 1, 2});
  check_exact<float>(parts[1], {3}, {3, 4, 5});
  check_exact<float>(parts[2], {1}, {6});
}

TEST_CASE("ReduceLogSumExp does not overflow, ReduceMin / ReduceProd / ReduceL2 over chosen axes") {
  // numpy.logaddexp.reduce([[1000, 1000.5, -3], [-1e30, -1e30, 0]], axis=1) in float64.
  check_close(run1({OpKind::ReduceLogSumExp, ReduceAttrs{{1}, false}}, {f32({2, 3}, {1000.0f, 1000.5f, -3.0f, -1e30f,
                                                                                   -1e30f, 0.0f})}),
              {2}, {1000.9740769841801f, 0.0f});
  const Tensor x = f32({2, 3}, {1, -2, 3, 4, 5, -6});
  check_exact<float>(run1({OpKind::ReduceMin, ReduceAttrs{{0}, true}}, {x}), {1, 3}, {1, -2, -6});
  check_exact<float>(run1({OpKind::ReduceProd, ReduceAttrs{{1}, false}}, {x}), {2}, {-6, -120});
  check_close(run1({OpKind::ReduceL2, ReduceAttrs{{}, false}}, {x}), {}, {std::sqrt(91.0f)});
  check_exact<std::int64_t>(run1({OpKind::ReduceSumSquare, ReduceAttrs{{1}, true}}, {i64({2, 2}, {1, 2, 3, 4})}),
                            {2, 1}, {5, 25});
}

TEST_CASE("TopK breaks ties by the lower index, ArgMax select_last_index, GatherElements negative indices") {
  const Tensor x = f32({6}, {3, 1, 3, 2, 1, 3});
  const std::vector<Tensor> top = run_op({OpKind::TopK, TopKAttrs{0, true, true}, 2}, {x, i64s({4})});
  check_exact<float>(top[0], {4}, {3, 3, 3, 2});
  check_exact<std::int64_t>(top[1], {4}, {0, 2, 5, 3});
  const std::vector<Tensor> low = run_op({OpKind::TopK, TopKAttrs{0, false, true}, 2}, {x, i64s({2})});
  check_exact<std::int64_t>(low[1], {2}, {1, 4});
  check_exact<std::int64_t>(run1({OpKind::ArgMax, ArgReduceAttrs{0, false, true}}, {x}), {}, {5});
  check_exact<std::int64_t>(run1({OpKind::ArgMin, ArgReduceAttrs{0, true, false}}, {x}), {1}, {1});
  const Tensor data = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  check_exact<float>(run1({OpKind::GatherElements, AxisAttrs{1}}, {data, i64({2, 2}, {-1, 0, 1, -3})}), {2, 2},
                     {3, 1, 5, 4});
  CHECK_THROWS_AS(run1({OpKind::GatherElements, AxisAttrs{1}}, {data, i64({2, 1}, {3, 0})}), ShapeError);
}

TEST_CASE("pooling in ceil mode against torch.nn.functional") {
  PoolAttrs a;
  a.kernel_shape = {2, 2};
  a.strides = {2, 2};
  a.ceil_mode = true;
  std::vector<float> v(25);
  for (int i = 0; i < 25; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i);
  // max_pool2d(arange(25).reshape(1,1,5,5), 2, 2, ceil_mode=True)
  check_exact<float>(run1({OpKind::MaxPool, a}, {f32({1, 1, 5, 5}, v)}), {1, 1, 3, 3},
                     {6, 8, 9, 16, 18, 19, 21, 23, 24});
  // avg_pool2d(arange(16).reshape(1,1,4,4), 3, 2, padding=1, ceil_mode=True, count_include_pad=True / False)
  a.kernel_shape = {3, 3};
  a.pads = {1, 1, 1, 1};
  a.count_include_pad = true;
  v.resize(16);
  check_close(run1({OpKind::AveragePool, a}, {f32({1, 1, 4, 4}, v)}), {1, 1, 3, 3},
              {1.1111111640930176f, 2.6666667461395264f, 1.6666666269302368f, 5.666666507720947f, 10.0f, 5.5f,
               4.166666507720947f, 7.0f, 3.75f});
  a.count_include_pad = false;
  check_close(run1({OpKind::AveragePool, a}, {f32({1, 1, 4, 4}, v)}), {1, 1, 3, 3},
              {2.5f, 4.0f, 5.0f, 8.5f, 10.0f, 11.0f, 12.5f, 14.0f, 15.0f});
}

TEST_CASE("Mod: Python and C sign conventions, integer division by zero is a NumericError") {
  const Tensor a = i32({4}, {7, -7, 7, -7});
  const Tensor b = i32({4}, {3, 3, -3, -3});
  check_exact<std::int32_t>(run1({OpKind::Mod, ScalarParamsAttrs{0.0f}}, {a, b}), {4}, {1, 2, -2, -1});  // 7 % 3 ...
  check_exact<std::int32_t>(run1({OpKind::Mod, ScalarParamsAttrs{1.0f}}, {a, b}), {4}, {1, -1, 1, -1});  // fmod
  CHECK_THROWS_AS(run1({OpKind::Mod, ScalarParamsAttrs{0.0f}}, {a, i32({1}, {0})}), NumericError);
  CHECK_THROWS_AS(run1({OpKind::Mod, ScalarParamsAttrs{0.0f}}, {f32({1}, {1.0f}), f32({1}, {2.0f})}), ShapeError);
}
}
