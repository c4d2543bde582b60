// Reference kernels of the elementwise ops against hand-computed values.
#include <limits>

#include "reference_test_util.hpp"

using namespace snnconv;
using namespace snnconv::test;

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
}  // namespace

TEST_SUITE("unit") {

TEST_CASE("reference Add broadcasts numpy-style") {
  // [[1,2,3],[4,5,6]] + [10,20,30]
  check_exact<float>(run1({OpKind::Add}, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {10, 20, 30})}), {2, 3},
                     {11, 22, 33, 14, 25, 36});
  // [2,1] + [1,3] -> [2,3]: both sides stretch.
  check_exact<float>(run1({OpKind::Add}, {f32({2, 1}, {1, 2}), f32({1, 3}, {10, 20, 30})}), {2, 3},
                     {11, 21, 31, 12, 22, 32});
  // scalar + [2,1,2] keeps the tensor's shape
  check_exact<float>(run1({OpKind::Add}, {Tensor::scalar(1.0f), f32({2, 1, 2}, {0, 1, 2, 3})}), {2, 1, 2},
                     {1, 2, 3, 4});
}

TEST_CASE("reference Sub and Mul, with integer wraparound") {
  check_exact<float>(run1({OpKind::Sub}, {f32({3}, {1, 2, 3}), Tensor::scalar(1.0f)}), {3}, {0, 1, 2});
  // int8: 100 * 3 = 300 = 44 (mod 256); -128 - 1 wraps to 127
  check_exact<std::int8_t>(run1({OpKind::Mul}, {i8({2}, {100, -128}), i8({2}, {3, 1})}), {2}, {44, -128});
  check_exact<std::int8_t>(run1({OpKind::Sub}, {i8({1}, {-128}), i8({1}, {1})}), {1}, {127});
  constexpr std::int32_t kMax = std::numeric_limits<std::int32_t>::max();
  check_exact<std::int32_t>(run1({OpKind::Add}, {i32({1}, {kMax}), i32({1}, {1})}), {1},
                            {std::numeric_limits<std::int32_t>::min()});
  check_exact<std::uint8_t>(run1({OpKind::Add}, {u8({2}, {250, 1}), u8({2}, {10, 2})}), {2}, {4, 3});
}

TEST_CASE("reference Div truncates integers toward zero") {
  check_exact<std::int32_t>(run1({OpKind::Div}, {i32({4}, {7, -7, 7, -7}), i32({4}, {2, 2, -2, -2})}), {4},
                            {3, -3, -3, 3});
  check_exact<std::int64_t>(run1({OpKind::Div}, {i64({1}, {std::numeric_limits<std::int64_t>::min()}), i64({1}, {-1})}),
                            {1}, {std::numeric_limits<std::int64_t>::min()});
  CHECK_THROWS_AS(run1({OpKind::Div}, {i32({1}, {1}), i32({1}, {0})}), NumericError);
  check_exact<float>(run1({OpKind::Div}, {f32({3}, {1, -1, 3}), f32({3}, {0, 0, 2})}), {3}, {kInf, -kInf, 1.5f});
}

TEST_CASE("reference Pow over float and integer bases") {
  // 2^3 = 8, 3^0.5 = 1.7320508
  check_close(run1({OpKind::Pow}, {f32({2}, {2, 3}), f32({2}, {3, 0.5f})}), {2}, {8.0f, 1.7320508f}, 1e-7f);
  // float base, int64 exponent (broadcast): (-2)^2 = 4
  check_exact<float>(run1({OpKind::Pow}, {f32({2}, {2, -2}), i64({1}, {2})}), {2}, {4, 4});
  check_exact<std::int64_t>(run1({OpKind::Pow}, {i64({3}, {2, 3, -2}), i64({}, {10})}), {3}, {1024, 59049, 1024});
  // negative integer exponent: the truncated real value (2^-1 = 0.5 -> 0)
  check_exact<std::int64_t>(run1({OpKind::Pow}, {i64({4}, {2, 1, -1, -1}), i64({4}, {-1, -3, -1, -2})}), {4},
                            {0, 1, -1, 1});
  CHECK_THROWS_AS(run1({OpKind::Pow}, {i8({1}, {2}), i8({1}, {2})}), UnsupportedError);
}

TEST_CASE("reference Max and Min propagate NaN and broadcast") {
  check_exact<float>(run1({OpKind::Max}, {f32({3}, {1, kNaN, 3}), f32({1}, {2})}), {3}, {2, kNaN, 3});
  check_exact<float>(run1({OpKind::Min}, {f32({3}, {1, kNaN, 3}), f32({1}, {2})}), {3}, {1, kNaN, 2});
  check_exact<float>(run1({OpKind::Max}, {f32({1}, {2}), f32({2}, {kNaN, 1})}), {2}, {kNaN, 2});
  check_exact<std::int32_t>(run1({OpKind::Min}, {i32({2, 1}, {5, -5}), i32({2}, {0, 7})}), {2, 2}, {0, 5, -5, -5});
}

TEST_CASE("reference comparisons give bool with broadcasting") {
  const Tensor a = f32({2, 2}, {1, 2, 3, 4});
  check_exact<bool>(run1({OpKind::Less}, {a, f32({2}, {2, 3})}), {2, 2}, {true, true, false, false});
  check_exact<bool>(run1({OpKind::Greater}, {a, f32({2}, {2, 3})}), {2, 2}, {false, false, true, true});
  check_exact<bool>(run1({OpKind::Equal}, {a, f32({2}, {1, 4})}), {2, 2}, {true, false, false, true});
  check_exact<bool>(run1({OpKind::Equal}, {boolean({2}, {true, false}), boolean({}, {false})}), {2}, {false, true});
  check_exact<bool>(run1({OpKind::LessOrEqual}, {a, f32({2}, {2, 3})}), {2, 2}, {true, true, false, false});
  check_exact<bool>(run1({OpKind::LessOrEqual}, {a, f32({2}, {1, 4})}), {2, 2}, {true, true, false, true});
  check_exact<bool>(run1({OpKind::GreaterOrEqual}, {a, f32({2}, {1, 4})}), {2, 2}, {true, false, true, true});
  check_exact<bool>(run1({OpKind::GreaterOrEqual}, {i64({3}, {-1, 0, 1}), i64({}, {0})}), {3}, {false, true, true});
  // NaN compares false every way
  check_exact<bool>(run1({OpKind::Less}, {f32({1}, {kNaN}), f32({1}, {1})}), {1}, {false});
  check_exact<bool>(run1({OpKind::GreaterOrEqual}, {f32({1}, {kNaN}), f32({1}, {kNaN})}), {1}, {false});
  CHECK_THROWS_AS(run1({OpKind::Less}, {boolean({1}, {true}), boolean({1}, {false})}), UnsupportedError);
}

TEST_CASE("reference unary ops") {
  constexpr std::int32_t kMin = std::numeric_limits<std::int32_t>::min();
  check_exact<std::int32_t>(run1({OpKind::Neg}, {i32({4}, {-3, 0, 5, kMin})}), {4}, {3, 0, -5, kMin});
  check_exact<float>(run1({OpKind::Relu}, {f32({4}, {-1, 0, 2.5f, kNaN})}), {4}, {0, 0, 2.5f, kNaN});
  check_exact<std::int8_t>(run1({OpKind::Relu}, {i8({2}, {-7, 7})}), {2}, {0, 7});
  check_close(run1({OpKind::Sqrt}, {f32({2}, {4, 2})}), {2}, {2.0f, 1.4142135f}, 1e-7f);
  check_close(run1({OpKind::Exp}, {f32({2}, {0, 1})}), {2}, {1.0f, 2.718282f}, 1e-7f);
  check_close(run1({OpKind::Erf}, {f32({2}, {0, 1})}), {2}, {0.0f, 0.8427008f}, 1e-7f);
  check_close(run1({OpKind::Tanh}, {f32({2}, {0, 1})}), {2}, {0.0f, 0.7615942f}, 1e-7f);
  // Sigmoid(-100) = e^-100 / (1 + e^-100) ~ 3.7e-44 (a denormal): the two-sided form keeps it.
  const Tensor s = run1({OpKind::Sigmoid}, {f32({3}, {0, 100, -100})});
  check_close(s, {3}, {0.5f, 1.0f, 0.0f}, 1e-7f);
  CHECK(s.data<float>()[2] > 0.0f);
  check_exact<bool>(run1({OpKind::Not}, {boolean({2}, {true, false})}), {2}, {false, true});
}

TEST_CASE("reference Gelu exact and tanh approximation") {
  // numpy float32: 0.5*x*(1+erf(x/sqrt(2))) at -1, 0, 1, 2
  check_close(run1({OpKind::Gelu, GeluAttrs{}}, {f32({4}, {-1, 0, 1, 2})}), {4},
              {-0.15865526f, 0.0f, 0.8413447f, 1.9544997f}, 1e-6f);
  // 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715x^3)))
  check_close(run1({OpKind::Gelu, GeluAttrs{true}}, {f32({4}, {-1, 0, 1, 2})}), {4},
              {-0.158808f, 0.0f, 0.841192f, 1.9545977f}, 1e-6f);
}

TEST_CASE("reference elementwise refusals carry the node context") {
  try {
    run1({OpKind::Add}, {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({2}, {1, 2})});
    FAIL("expected a ShapeError");
  } catch (const ShapeError& e) {
    CHECK(e.context().node == "node_under_test");
    CHECK(e.context().op == "Add");
  }
  CHECK_THROWS_AS(run1({OpKind::Sqrt}, {i32({1}, {4})}), UnsupportedError);
  CHECK_THROWS_AS(run1({OpKind::Add}, {f32({1}, {1}), i32({1}, {1})}), ShapeError);
  CHECK_THROWS_AS(run1({OpKind::Not}, {f32({1}, {1})}), UnsupportedError);
  CHECK_THROWS_AS(run1({OpKind::Add}, {Tensor(DType::f16, {1}), Tensor(DType::f16, {1})}), UnsupportedError);
}

TEST_CASE("reference refuses spiking ops as not dense") {
  for (OpKind k : {OpKind::SpikeNeuron, OpKind::SynapseLinear, OpKind::SynapseConv, OpKind::SpikeMatMul,
                   OpKind::DiffUnit}) {
    const std::string name(op_name(k));
    CAPTURE(name);
    try {
      run1({k}, {f32({1}, {1}), f32({1, 1}, {1})});
      FAIL("expected an UnsupportedError");
    } catch (const UnsupportedError& e) {
      CHECK(e.message().find("not a dense op") != std::string::npos);
    }
  }
}

}  // TEST_SUITE
