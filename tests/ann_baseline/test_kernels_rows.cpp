// The per-row kernels (kernels_rows.cpp): binary ops with a [..., 1] operand and int64 ReduceSum / ReduceMax over
// the last axis, bit for bit against the reference kernels, 1 and 2 threads.
#include <doctest/doctest.h>

#include <limits>
#include <random>
#include <string>

#include "engine_test_util.hpp"

namespace snnconv {
namespace {

Tensor random_i64(const Shape& s, std::uint32_t seed, std::int64_t lo, std::int64_t hi) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> d(lo, hi);
  Tensor t(DType::i64, s);
  for (std::int64_t& v : t.span<std::int64_t>()) v = d(rng);
  return t;
}

// Runs g (one node, index 0) fast with 1 and 2 threads and with the reference; the node got `kernel`, every output
// is the reference's bytes.
void check_identical(const Graph& g, const std::vector<Tensor>& in, const std::string& kernel) {
  ann::Engine fast1(g, {.threads = 1});
  ann::Engine fast2(g, {.threads = 2});
  ann::Engine ref(g, {.threads = 1, .reference_only = true});
  CHECK(fast1.kernel_names().at(0) == kernel);
  const auto a = fast1.run(in), b = fast2.run(in), r = ref.run(in);
  REQUIRE(a.size() == r.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].identical(b[i]));
    CHECK(a[i].identical(r[i]));
  }
}

TEST_CASE("row kernels: f32 and int64 binary ops with one value per row equal the reference") {
  const Shape full{4, 17, 1001}, col{4, 17, 1};  // 68,068 elements: parallel chunks
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div}) {
    for (bool column_second : {true, false}) {
      CAPTURE(op_name(k));
      CAPTURE(column_second);
      Graph g;
      const ValueId a = test::input(g, "a", DType::f32, column_second ? full : col);
      const ValueId b = test::input(g, "b", DType::f32, column_second ? col : full);
      g.set_outputs({test::node(g, k, {a, b})[0]});
      Tensor ta = test::random_f32(column_second ? full : col, 3, -5.0f, 5.0f);
      Tensor tb = test::random_f32(column_second ? col : full, 4, -5.0f, 5.0f);
      ta.data<float>()[0] = -0.0f;
      tb.data<float>()[0] = 0.0f;  // -0 / 0: NaN; x / 0: inf
      check_identical(g, {ta, tb}, "binary_column");
    }
  }
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul}) {
    for (bool column_second : {true, false}) {
      CAPTURE(op_name(k));
      Graph g;
      const ValueId a = test::input(g, "a", DType::i64, column_second ? full : col);
      const ValueId b = test::input(g, "b", DType::i64, column_second ? col : full);
      g.set_outputs({test::node(g, k, {a, b})[0]});
      Tensor ta = random_i64(column_second ? full : col, 5, -300, 300);
      Tensor tb = random_i64(column_second ? col : full, 6, -300, 300);
      ta.data<std::int64_t>()[0] = std::numeric_limits<std::int64_t>::max();  // wraps
      tb.data<std::int64_t>()[0] = std::numeric_limits<std::int64_t>::min();
      check_identical(g, {ta, tb}, "binary_column");
    }
  }
}

TEST_CASE("row kernels: int64 ReduceSum and ReduceMax over the last axis equal the reference") {
  for (OpKind k : {OpKind::ReduceSum, OpKind::ReduceMax}) {
    for (bool keepdims : {true, false}) {
      CAPTURE(op_name(k));
      Graph g;
      const ValueId x = test::input(g, "x", DType::i64, {3, 40, 577});
      g.set_outputs({test::node(g, k, {x}, ReduceAttrs{{-1}, keepdims})[0]});
      Tensor t = random_i64({3, 40, 577}, 9, -1000000, 1000000);
      t.data<std::int64_t>()[1] = std::numeric_limits<std::int64_t>::max();  // the sum wraps
      t.data<std::int64_t>()[2] = std::numeric_limits<std::int64_t>::max();
      t.data<std::int64_t>()[577] = std::numeric_limits<std::int64_t>::min();
      check_identical(g, {t}, "reduce_rows");
    }
  }
  // Not the last axis: not this kernel.
  Graph g;
  const ValueId x = test::input(g, "x", DType::i64, {3, 40, 5});
  g.set_outputs({test::node(g, OpKind::ReduceSum, {x}, ReduceAttrs{{1}, true})[0]});
  ann::Engine e(g, {.threads = 1});
  CHECK(e.kernel_names().at(0) != "reduce_rows");
}

}  // namespace
}  // namespace snnconv
