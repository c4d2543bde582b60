// Non-finite model outputs and constants: what is refused, what is accepted, and what the message names.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "graph_builder.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/core/verifier.hpp"

using namespace snnconv;
using namespace snnconv::test;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::nanf("");

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const NumericError& e) {
    return e.what();
  }
  return "";
}

// x [1, 4] * table [4] (a per-feature scale) + mask [4], the mask read by an Add as a causal mask would be.
Graph scale_and_mask(std::vector<float> table, std::vector<float> mask, OpKind table_op = OpKind::Mul) {
  Graph g;
  const ValueId x = input(g, "x", DType::f32, {1, 4});
  const ValueId t = g.add_constant("table", Tensor::from_vector<float>({4}, std::move(table)));
  const ValueId m = g.add_constant("mask", Tensor::from_vector<float>({4}, std::move(mask)));
  const ValueId y = node(g, table_op, {x, t}, NoAttrs{}, 1, "scale")[0];
  const ValueId z = node(g, OpKind::Add, {y, m}, NoAttrs{}, 1, "masked")[0];
  g.set_outputs({z});
  return g;
}
}  // namespace

TEST_SUITE("unit") {
TEST_CASE("first_non_finite finds the first NaN or Inf") {
  CHECK_FALSE(first_non_finite(std::vector<float>{1.0f, -2.0f, 3e38f}).has_value());
  const auto bad = first_non_finite(std::vector<float>{1.0f, kInf, kNan});
  REQUIRE(bad.has_value());
  CHECK(bad->index == 1);
  CHECK(bad->value == kInf);
}

TEST_CASE("require_finite_output names the output, the item and the element, finite rows pass") {
  CHECK_NOTHROW(require_finite_output(std::vector<float>{0.5f, -0.5f}, {2}, OutputSite{"logits", "sample 0", ""}));
  const std::vector<float> row{0.0f, 1.0f, 2.0f, kNan, 4.0f, -kInf};
  const std::string m =
      message_of([&] { require_finite_output(row, {2, 3}, OutputSite{"logits", "sample 7 of split 'test'", "check X"}); });
  CHECK(m.find("model output 'logits' of sample 7 of split 'test' is nan at [1, 0]") != std::string::npos);
  CHECK(m.find("2 of its 6 values are not finite") != std::string::npos);
  CHECK(m.find("check X") != std::string::npos);
  CHECK(m.find("value 'logits'") != std::string::npos);
}

TEST_CASE("require_finite_rows numbers the item from the batch's first sample") {
  Tensor t = Tensor::from_vector<float>({3, 2}, {1, 2, 3, 4, 5, -kInf});
  const std::string m = message_of([&] { require_finite_rows(t, 64, "out", "sample", "val", ""); });
  CHECK(m.find("model output 'out' of sample 66 of split 'val' is -inf at [1]") != std::string::npos);
  t.data<float>()[5] = 6.0f;
  CHECK_NOTHROW(require_finite_rows(t, 64, "out", "sample", "val", ""));
}

TEST_CASE("constants: NaN refused anywhere, Inf accepted in masks only") {
  // A 0/-inf additive mask and an all -inf fill value are legitimate.
  CHECK_NOTHROW(check_finite_constants(scale_and_mask({1, 2, 3, 4}, {0, 0, -kInf, -kInf})));
  CHECK_NOTHROW(check_finite_constants(scale_and_mask({1, 2, 3, 4}, {-kInf, -kInf, -kInf, -kInf})));
  // An Inf beside nonzero finite numbers is a corrupt table or weight, whichever op reads it.
  std::string m = message_of([] { check_finite_constants(scale_and_mask({1, kInf, 3, 4}, {0, 0, 0, 0})); });
  CHECK(m.find("holds Inf at element 1 among nonzero finite values") != std::string::npos);
  CHECK(m.find("value 'table'") != std::string::npos);
  CHECK(m.find("node 'scale'") != std::string::npos);
  m = message_of([] { check_finite_constants(scale_and_mask({1, 2, 3, 4}, {0.5f, 0, -kInf, 0})); });
  CHECK(m.find("value 'mask'") != std::string::npos);
  m = message_of([] { check_finite_constants(scale_and_mask({1, 2, kNan, 4}, {0, 0, 0, 0})); });
  CHECK(m.find("holds NaN at element 2") != std::string::npos);
  m = message_of([] { check_finite_constants(scale_and_mask({1, 2, 3, 4}, {0, kNan, 0, 0})); });
  CHECK(m.find("value 'mask'") != std::string::npos);
}

TEST_CASE("constants: an embedding table read by Gather with an Inf row is refused") {
  Graph g;
  const ValueId ids = input(g, "ids", DType::i64, {1, 2});
  std::vector<float> table(3 * 4, 0.25f);
  table[4 * 2 + 1] = -kInf;
  const ValueId emb = g.add_constant("embedding", Tensor::from_vector<float>({3, 4}, table));
  const ValueId y = node(g, OpKind::Gather, {emb, ids}, AxisAttrs{0}, 1, "lookup")[0];
  g.set_outputs({y});
  const std::string m = message_of([&] { check_finite_constants(g); });
  CHECK(m.find("holds Inf at element 9") != std::string::npos);
  CHECK(m.find("value 'embedding'") != std::string::npos);
  CHECK(m.find("op 'Gather'") != std::string::npos);
}
}
