// The engine's memory plan (docs/reliability.md, "Limits"): exact sizes for static shapes, a refusal
// naming them above max_memory_bytes, and a pool that stays bounded over repeated reference passes.
#include <doctest/doctest.h>

#include "engine_test_util.hpp"

namespace snnconv {
namespace {

using test::random_f32;

// x[2, 8] -> MatMul w[8, 16] -> Relu -> MatMul v[16, 4]
Graph two_layers() {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {2, 8});
  const ValueId w = g.add_constant("w", random_f32({8, 16}, 1));
  const ValueId v = g.add_constant("v", random_f32({16, 4}, 2));
  const ValueId h = test::node(g, OpKind::MatMul, {x, w}, NoAttrs{}, 1, "mm1")[0];
  const ValueId r = test::node(g, OpKind::Relu, {h}, NoAttrs{}, 1, "relu")[0];
  const ValueId y = test::node(g, OpKind::MatMul, {r, v}, NoAttrs{}, 1, "mm2")[0];
  g.set_outputs({y});
  return g;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST_SUITE("unit") {
  TEST_CASE("the memory plan counts weights, inputs and the activation peak of static shapes") {
    const Graph g = two_layers();
    for (const bool reference : {false, true}) {
      const ann::Engine engine(g, ann::EngineOptions{.reference_only = reference});
      const ann::MemoryPlan& m = engine.memory();
      CHECK(m.constant_bytes == (8 * 16 + 16 * 4) * 4);
      CHECK(m.converted_bytes == 0);
      CHECK(m.input_bytes == 2 * 8 * 4);
      // Peak: h [2,16] and r [2,16] live together (relu reads h), then r and y [2,4].
      CHECK(m.activation_bytes >= 2 * (2 * 16 * 4));
      CHECK(m.activation_bytes <= 2 * (2 * 16 * 4) + 2 * 4 * 4);
      CHECK(m.exact);
      CHECK(m.total() == m.constant_bytes + m.input_bytes + m.activation_bytes);
    }
  }

  TEST_CASE("a plan above max_memory_bytes is refused naming its sizes and the limit") {
    const Graph g = two_layers();
    const ann::MemoryPlan m = ann::Engine(g).memory();
    CHECK_NOTHROW(ann::Engine(g, ann::EngineOptions{.max_memory_bytes = m.total()}));
    std::string message;
    try {
      ann::Engine engine(g, ann::EngineOptions{.max_memory_bytes = m.total() - 1});
    } catch (const LimitError& e) {
      message = e.what();
    }
    REQUIRE(!message.empty());
    CHECK(contains(message, "weights"));
    CHECK(contains(message, "activations"));
    CHECK(contains(message, std::to_string(m.total()) + " bytes"));
    CHECK(contains(message, "memory limit of " + std::to_string(m.total() - 1) + " B") == false);
    CHECK(contains(message, "(" + std::to_string(m.total() - 1) + " bytes)"));
    CHECK(ann::format_bytes(512) == "512 B");
    CHECK(ann::format_bytes(3 << 20) == "3.0 MiB (3145728 bytes)");
  }

  TEST_CASE("the buffer pool stays bounded over many passes, with reference and fast kernels") {
    // Before the pool cap, every reference output released in a pass was pooled and never taken back:
    // 50 reference passes held 50 copies of each intermediate.
    const Graph g = two_layers();
    for (const bool reference : {true, false}) {
      ann::Engine engine(g, ann::EngineOptions{.reference_only = reference});
      const Tensor x = random_f32({2, 8}, 7);
      const std::vector<Tensor> first = engine.run(std::vector<Tensor>{x});
      const std::uint64_t after_one = engine.pooled_bytes();
      for (int pass = 0; pass < 50; ++pass) {
        const std::vector<Tensor> again = engine.run(std::vector<Tensor>{x});
        CHECK(std::equal(again[0].span<float>().begin(), again[0].span<float>().end(), first[0].span<float>().begin()));
      }
      CHECK(engine.pooled_bytes() == after_one);
      CHECK(engine.pooled_bytes() <= engine.memory().activation_bytes);
      if (reference) CHECK(engine.pooled_bytes() == 0);  // nothing takes a buffer back: nothing is kept
    }
  }
}

}  // namespace
}  // namespace snnconv
