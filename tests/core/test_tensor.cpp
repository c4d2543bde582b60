#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "snnconv/core/tensor.hpp"

using namespace snnconv;

TEST_SUITE("unit") {
TEST_CASE("checked_numel refuses absurd shapes before allocating") {
  CHECK(checked_numel({2, 3, 4}) == 24);
  CHECK(checked_numel({}) == 1);
  CHECK(checked_numel({5, 0, 7}) == 0);
  CHECK_THROWS_AS(checked_numel({-1, 3}), LimitError);
  CHECK_THROWS_AS(checked_numel({std::int64_t{1} << 20, std::int64_t{1} << 20}), LimitError);  // 2^40 elements
  // A product that overflows int64 (each dim within kMaxDim).
  CHECK_THROWS_AS(checked_numel({kMaxDim, kMaxDim, kMaxDim}), LimitError);
  CHECK_THROWS_AS(checked_numel({kMaxDim + 1}), LimitError);
  CHECK_THROWS_AS(Tensor(DType::f32, {std::int64_t{1} << 40}), LimitError);
  try {
    checked_numel({-3}, "initializer 'w'");
    FAIL("no throw");
  } catch (const LimitError& e) {
    CHECK(std::string(e.what()).find("initializer 'w'") != std::string::npos);
    CHECK(std::string(e.what()).find("negative") != std::string::npos);
  }
}

TEST_CASE("tensor storage, typed access and reshape") {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(t.numel() == 6);
  CHECK(t.nbytes() == 24);
  CHECK(t.data<float>()[4] == 5.0f);
  CHECK(reinterpret_cast<std::uintptr_t>(t.raw()) % 64 == 0);
  CHECK_THROWS_AS(t.data<std::int64_t>(), Error);
  Tensor r = t.reshaped({3, 2});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.data<float>()[5] == 6.0f);
  CHECK_THROWS_AS(t.reshaped({4, 2}), ShapeError);
  CHECK(t.identical(Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6})));
  CHECK_FALSE(t.identical(r));
}

TEST_CASE("cast follows ONNX for the numeric types") {
  Tensor f = Tensor::from_vector<float>({4}, {1.7f, -1.7f, 300.0f, -0.0f});
  CHECK(f.cast(DType::i64).to_i64() == std::vector<std::int64_t>{1, -1, 300, 0});
  CHECK(f.cast(DType::boolean).to_i64() == std::vector<std::int64_t>{1, 1, 1, 0});
  Tensor i = Tensor::from_vector<std::int64_t>({3}, {-2, 0, 7});
  CHECK(i.cast(DType::f32).to_f32() == std::vector<float>{-2.0f, 0.0f, 7.0f});
  CHECK(i.cast(DType::i32).to_i64() == std::vector<std::int64_t>{-2, 0, 7});
}

TEST_CASE("half precision round trip") {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f, 0.333251953125f}) {
    CHECK(half_to_float(float_to_half(v)) == v);
  }
  CHECK(std::isinf(half_to_float(float_to_half(1e6f))));
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(half_to_float(0xc000) == -2.0f);
}

TEST_CASE("finiteness check") {
  CHECK(Tensor::from_vector<float>({2}, {1.0f, 2.0f}).all_finite());
  CHECK_FALSE(Tensor::from_vector<float>({2}, {1.0f, std::numeric_limits<float>::quiet_NaN()}).all_finite());
  CHECK(Tensor::from_vector<std::int64_t>({1}, {5}).all_finite());
}
}
