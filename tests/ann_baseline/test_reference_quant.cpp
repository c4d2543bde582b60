// Reference kernels of QuantizeLinear, DequantizeLinear and FakeQuant against hand-computed values.
#include <limits>

#include "reference_test_util.hpp"

using namespace snnconv;
using namespace snnconv::test;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

QuantParams params(std::vector<float> scale, std::int32_t n_min, std::int32_t n_max, int axis = -1,
                   std::vector<std::int32_t> zero_point = {}, int group_size = 0) {
  QuantParams q;
  q.n_min = n_min;
  q.n_max = n_max;
  q.scale = std::move(scale);
  q.zero_point = std::move(zero_point);
  q.axis = axis;
  q.group_size = group_size;
  return q;
}

Tensor fake_quant(const Tensor& x, const QuantParams& q) {
  return run1({OpKind::FakeQuant, NoAttrs{}, 1, q}, {x});
}

}  // namespace

TEST_SUITE("unit") {

TEST_CASE("reference QuantizeLinear rounds ties to even and saturates") {
  // rint: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2, -2.5 -> -2, 3.4 -> 3; then +-1000 saturate
  const Tensor x = f32({9}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.4f, 1000, -1000});
  check_exact<std::int8_t>(run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {x, Tensor::scalar(1.0f), i8({}, {0})}), {9},
                           {0, 2, 2, 0, -2, -2, 3, 127, -128});
  // the tie is on x / scale: 0.25 / 0.5 = 0.5 -> 0, 0.75 / 0.5 = 1.5 -> 2
  check_exact<std::int8_t>(
      run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {f32({2}, {0.25f, 0.75f}), Tensor::scalar(0.5f), i8({}, {0})}), {2},
      {0, 2});
  // no zero point: uint8 output; rounding happens before the zero point is added: rint(1.5) + 10 = 12
  check_exact<std::uint8_t>(
      run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {f32({4}, {-1, 300, 2.5f, kInf}), Tensor::scalar(1.0f), std::nullopt}),
      {4}, {0, 255, 2, 255});
  check_exact<std::uint8_t>(
      run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {f32({2}, {1.5f, -20}), Tensor::scalar(1.0f), u8({}, {10})}), {2},
      {12, 0});
  // a NaN has no level: it maps to the zero point
  check_exact<std::uint8_t>(
      run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {f32({1}, {kNaN}), Tensor::scalar(1.0f), u8({}, {3})}), {1}, {3});
}

TEST_CASE("reference QuantizeLinear per axis") {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  // axis 1: columns scaled by [1, 2] -> [[1, 1], [3, 2]]
  check_exact<std::int8_t>(run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {x, f32({2}, {1, 2}), i8({2}, {0, 0})}), {2, 2},
                           {1, 1, 3, 2});
  // axis 0 (as -2): rows scaled by [1, 2] -> [[1, 2], [2 (1.5 ties to 2), 2]]; zero points [0, -5]
  check_exact<std::int8_t>(run1({OpKind::QuantizeLinear, AxisAttrs{-2}}, {x, f32({2}, {1, 2}), i8({2}, {0, -5})}), {2, 2},
                           {1, 2, -3, -3});
  CHECK_THROWS_AS(run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {x, f32({3}, {1, 2, 3}), std::nullopt}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {x, f32({2}, {1, 2}), i8({}, {0})}), ShapeError);
}

TEST_CASE("reference DequantizeLinear") {
  // (x - 128) * 0.5
  check_exact<float>(run1({OpKind::DequantizeLinear, AxisAttrs{1}}, {u8({3}, {0, 128, 255}), Tensor::scalar(0.5f), u8({}, {128})}),
                     {3}, {-64, 0, 63.5f});
  check_exact<float>(run1({OpKind::DequantizeLinear, AxisAttrs{1}}, {i8({2}, {-128, 127}), Tensor::scalar(2.0f), std::nullopt}),
                     {2}, {-256, 254});
  check_exact<float>(run1({OpKind::DequantizeLinear, AxisAttrs{1}}, {i32({2}, {1000, -3}), Tensor::scalar(0.25f), std::nullopt}),
                     {2}, {250, -0.75f});
  // per axis 0 of [2,2]: row scales [1, 0.5], zero points [1, -1]
  check_exact<float>(run1({OpKind::DequantizeLinear, AxisAttrs{0}},
                          {i8({2, 2}, {1, 2, 3, 4}), f32({2}, {1, 0.5f}), i8({2}, {1, -1})}),
                     {2, 2}, {0, 1, 2, 2.5f});
  CHECK_THROWS_AS(run1({OpKind::DequantizeLinear, AxisAttrs{1}}, {i8({1}, {1}), Tensor::scalar(1.0f), u8({}, {0})}),
                  ShapeError);
  CHECK_THROWS_AS(run1({OpKind::DequantizeLinear, AxisAttrs{1}}, {f32({1}, {1}), Tensor::scalar(1.0f), std::nullopt}),
                  UnsupportedError);
}

TEST_CASE("reference QuantizeLinear then DequantizeLinear round-trips the levels") {
  const Tensor x = f32({5}, {-1.0f, -0.26f, 0.0f, 0.24f, 1.0f});
  const Tensor q = run1({OpKind::QuantizeLinear, AxisAttrs{1}}, {x, Tensor::scalar(0.25f), i8({}, {0})});
  check_exact<std::int8_t>(q, {5}, {-4, -1, 0, 1, 4});
  check_exact<float>(run1({OpKind::DequantizeLinear, AxisAttrs{1}}, {q, Tensor::scalar(0.25f), i8({}, {0})}), {5},
                     {-1.0f, -0.25f, 0.0f, 0.25f, 1.0f});
}

TEST_CASE("reference FakeQuant rounds ties up and clamps") {
  // floor(x + 1/2): 0.5 -> 1, 1.5 -> 2, 2.5 -> 3, -0.5 -> 0, -1.5 -> -1 (QuantizeLinear would give 0,2,2,0,-2)
  check_exact<float>(fake_quant(f32({5}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f}), params({1.0f}, -128, 127)), {5},
                     {1, 2, 3, 0, -1});
  // clamped to [n_min, n_max] = [-2, 2]
  check_exact<float>(fake_quant(f32({4}, {5, -5, 2.4f, -2.6f}), params({1.0f}, -2, 2)), {4}, {2, -2, 2, -2});
  // scale 0.5: 0.3 / 0.5 + 0.5 = 1.1 -> 1 -> 0.5; -0.3 -> floor(-0.1) = -1 -> -0.5
  check_exact<float>(fake_quant(f32({2}, {0.3f, -0.3f}), params({0.5f}, -8, 7)), {2}, {0.5f, -0.5f});
  // NaN propagates; infinities saturate
  check_exact<float>(fake_quant(f32({3}, {kNaN, kInf, -kInf}), params({0.5f}, -8, 7)), {3}, {kNaN, 3.5f, -4.0f});
}

TEST_CASE("reference FakeQuant per channel, per group and with a zero point") {
  // axis 0 of [2,2] with scales [0.5, 0.25]:
  // row 0: 0.3/0.5+0.5 = 1.1 -> 1 -> 0.5;  0.9/0.5+0.5 = 2.3 -> 2 -> 1.0
  // row 1: 0.3/0.25+0.5 = 1.7 -> 1 -> 0.25; 0.9/0.25+0.5 = 4.1 -> 4 -> 1.0
  const Tensor x = f32({2, 2}, {0.3f, 0.9f, 0.3f, 0.9f});
  check_exact<float>(fake_quant(x, params({0.5f, 0.25f}, -128, 127, 0)), {2, 2}, {0.5f, 1.0f, 0.25f, 1.0f});
  // axis -1: columns scaled [0.5, 0.25] -> [0.5, 1.0; 0.5, 1.0]
  check_exact<float>(fake_quant(x, params({0.5f, 0.25f}, -128, 127, -1)), {2, 2}, {0.5f, 1.0f, 0.5f, 1.0f});
  // groups of 2 along axis 1 of [1,4] with scales [1, 0.5]: floor(1.9) = 1 -> 1; floor(3.3) = 3 -> 1.5
  check_exact<float>(fake_quant(f32({1, 4}, {1.4f, 1.4f, 1.4f, 1.4f}), params({1.0f, 0.5f}, -128, 127, 1, {}, 2)),
                     {1, 4}, {1, 1, 1.5f, 1.5f});
  // zero point 3 with levels [0, 7]: q = clamp(floor(x + 1/2) + 3, 0, 7), y = q - 3
  // -4 -> -1 -> 0 -> -3; -3.5 -> 0 -> -3; 0 -> 3 -> 0; 10 -> 13 -> 7 -> 4
  check_exact<float>(fake_quant(f32({4}, {-4, -3.5f, 0, 10}), params({1.0f}, 0, 7, -1, {3})), {4}, {-3, -3, 0, 4});
  CHECK_THROWS_AS(fake_quant(x, params({0.5f, 0.25f, 1.0f}, -128, 127, 0)), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::FakeQuant}, {x}), GraphError);  // no QuantParams on the output
}

}  // TEST_SUITE
