// Test helpers for the reference kernels: build a one-node graph, evaluate it, compare with hand-computed
// values.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/core/graph.hpp"

namespace snnconv::test {

using In = std::optional<Tensor>;  // std::nullopt marks an absent optional input

struct OpSpec {
  OpSpec(OpKind k, Attrs a = NoAttrs{}, int outputs = 1, std::optional<QuantParams> quant = std::nullopt)
      : kind(k), attrs(std::move(a)), num_outputs(outputs), out_quant(std::move(quant)) {}
  OpKind kind;
  Attrs attrs;
  int num_outputs;
  std::optional<QuantParams> out_quant;  // set on the first output (FakeQuant)
};

// Evaluates one node of kind `spec.kind` on `inputs` through ann::evaluate_reference.
inline std::vector<Tensor> run_op(const OpSpec& spec, const std::vector<In>& inputs) {
  Graph g;
  Node n;
  n.kind = spec.kind;
  n.attrs = spec.attrs;
  n.name = "node_under_test";
  std::vector<const Tensor*> ptrs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      n.inputs.push_back(ValueId{});
      ptrs.push_back(nullptr);
      continue;
    }
    Value v;
    v.name = "in" + std::to_string(i);
    v.type = TensorType::of(inputs[i]->dtype(), inputs[i]->shape());
    n.inputs.push_back(g.add_value(std::move(v)));
    ptrs.push_back(&*inputs[i]);
  }
  for (int i = 0; i < spec.num_outputs; ++i) {
    Value v;
    v.name = "out" + std::to_string(i);
    v.type.rank_known = false;
    if (i == 0) v.quant = spec.out_quant;
    n.outputs.push_back(g.add_value(std::move(v)));
  }
  const NodeId id = g.add_node(std::move(n));
  return ann::evaluate_reference(g, id, ptrs);
}

// The single output of a one-output op.
inline Tensor run1(const OpSpec& spec, const std::vector<In>& inputs) {
  std::vector<Tensor> out = run_op(spec, inputs);
  REQUIRE(out.size() == 1);
  return std::move(out[0]);
}

inline Tensor f32(Shape s, std::vector<float> v) { return Tensor::from_vector<float>(std::move(s), v); }
inline Tensor i64(Shape s, std::vector<std::int64_t> v) { return Tensor::from_vector<std::int64_t>(std::move(s), v); }
inline Tensor i32(Shape s, std::vector<std::int32_t> v) { return Tensor::from_vector<std::int32_t>(std::move(s), v); }
inline Tensor i8(Shape s, std::vector<std::int8_t> v) { return Tensor::from_vector<std::int8_t>(std::move(s), v); }
inline Tensor u8(Shape s, std::vector<std::uint8_t> v) { return Tensor::from_vector<std::uint8_t>(std::move(s), v); }
inline Tensor boolean(Shape s, std::vector<bool> v) { return Tensor::from_vector<bool>(std::move(s), v); }
inline Tensor i64s(std::vector<std::int64_t> v) {  // a 1-D i64 list (shapes, axes, starts...)
  const auto n = static_cast<std::int64_t>(v.size());
  return i64({n}, std::move(v));
}

// Exact comparison of dtype, shape and values (floats compared with ==, NaN equal to NaN).
template <typename T> void check_exact(const Tensor& t, const Shape& shape, const std::vector<T>& expected) {
  REQUIRE(t.dtype() == dtype_of<T>::value);
  REQUIRE(shape_to_string(t.shape()) == shape_to_string(shape));
  REQUIRE(static_cast<std::size_t>(t.numel()) == expected.size());
  const T* p = t.data<T>();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(expected[i])) {
        CHECK(std::isnan(p[i]));
        continue;
      }
    }
    if constexpr (std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t> || std::is_same_v<T, bool>)
      CHECK(static_cast<int>(p[i]) == static_cast<int>(expected[i]));
    else
      CHECK(p[i] == expected[i]);
  }
}

// f32 comparison within an absolute + relative tolerance.
inline void check_close(const Tensor& t, const Shape& shape, const std::vector<float>& expected, float tol = 1e-6f) {
  REQUIRE(t.dtype() == DType::f32);
  REQUIRE(shape_to_string(t.shape()) == shape_to_string(shape));
  REQUIRE(static_cast<std::size_t>(t.numel()) == expected.size());
  const float* p = t.data<float>();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i << ": got " << p[i] << ", expected " << expected[i]);
    CHECK(std::fabs(p[i] - expected[i]) <= tol * (1.0f + std::fabs(expected[i])));
  }
}

}  // namespace snnconv::test
