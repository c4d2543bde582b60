// The engine as a whole: multi-node graphs, buffer reuse, the ledger, quantized weights, input checks.
#include <doctest/doctest.h>

#include "engine_test_util.hpp"
#include "snnconv/ann_baseline/reference.hpp"

namespace snnconv {
namespace {

using test::random_f32;

// x[4, 10, 16] -> Linear(16x32)+gelu -> Linear(32x16) -> + x -> LayerNorm -> Softmax
Graph mlp_block() {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {4, 10, 16});
  const ValueId w1 = g.add_constant("w1", random_f32({16, 32}, 1));
  const ValueId b1 = g.add_constant("b1", random_f32({32}, 2));
  const ValueId w2 = g.add_constant("w2", random_f32({32, 16}, 3));
  const ValueId s = g.add_constant("s", random_f32({16}, 4));
  const ValueId h = test::node(g, OpKind::Linear, {x, w1, b1}, LinearAttrs{Activation::gelu}, 1, "fc1")[0];
  const ValueId o = test::node(g, OpKind::Linear, {h, w2}, LinearAttrs{}, 1, "fc2")[0];
  const ValueId r = test::node(g, OpKind::Add, {o, x}, NoAttrs{}, 1, "residual")[0];
  const ValueId n = test::node(g, OpKind::LayerNorm, {r, s}, LayerNormAttrs{}, 1, "norm")[0];
  const ValueId p = test::node(g, OpKind::Softmax, {n}, SoftmaxAttrs{-1}, 1, "softmax")[0];
  g.set_outputs({p, r});
  return g;
}

TEST_SUITE("unit") {

TEST_CASE("a block runs fast, equal to the reference and to itself across runs and threads") {
  const Graph g = mlp_block();
  const std::vector<Tensor> in{random_f32({4, 10, 16}, 9)};
  ann::Engine fast(g, {.threads = 2});
  ann::Engine one(g, {.threads = 1});
  ann::Engine ref(g, {.reference_only = true});
  const auto a = fast.run(in);
  const auto again = fast.run(in);  // the second pass reuses pooled buffers
  const auto b = one.run(in);
  const auto r = ref.run(in);
  REQUIRE(a.size() == 2);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].identical(again[i]));
    CHECK(a[i].identical(b[i]));
    CHECK(test::max_rel_error(a[i], r[i]) <= 1e-5f);
  }
  const auto names = fast.kernel_names();
  // With the packed GEMM the residual Add is done in fc2's epilogue.
  const bool packed = test::weight_gemm_kernel() == "packed_gemm";
  CHECK(names == std::vector<std::string>{test::weight_gemm_kernel(), packed ? "packed_gemm_residual" : "eigen_gemm",
                                          packed ? "folded_into_linear" : "binary_same", "layer_norm", "softmax"});
}

TEST_CASE("run_into writes the outputs into the buffers of the previous call") {
  const Graph g = mlp_block();
  const std::vector<Tensor> in{random_f32({4, 10, 16}, 9)};
  ann::Engine engine(g, {.threads = 2});
  const std::vector<Tensor> want = engine.run(in);
  std::vector<Tensor> out;
  engine.run_into(in, out);
  REQUIRE(out.size() == 2);
  const void* p0 = out[0].raw();
  const void* p1 = out[1].raw();
  engine.run_into(in, out);
  CHECK(out[0].raw() == p0);  // reused, not reallocated
  CHECK(out[1].raw() == p1);
  for (std::size_t i = 0; i < 2; ++i)
    CHECK(std::equal(out[i].span<float>().begin(), out[i].span<float>().end(), want[i].span<float>().begin()));
  std::vector<Tensor> wrong{Tensor(DType::f32, {3}), Tensor()};  // a buffer that does not fit is replaced
  engine.run_into(in, wrong);
  CHECK(wrong[0].shape() == want[0].shape());
  CHECK(std::equal(wrong[0].span<float>().begin(), wrong[0].span<float>().end(), want[0].span<float>().begin()));
}

TEST_CASE("the ledger counts MACs, ops and bytes per node, and samples per pass") {
  const Graph g = mlp_block();
  ann::Engine e(g);
  Ledger l = Ledger::for_graph(g);
  e.run(std::vector<Tensor>{random_f32({4, 10, 16}, 9)}, &l);
  e.run(std::vector<Tensor>{random_f32({4, 10, 16}, 10)}, &l);
  CHECK(l.samples == 8);
  const Counters& fc1 = l.per_node[0];
  CHECK(fc1.macs[32] == 2u * 40 * 16 * 32);
  CHECK(fc1.total_macs() == fc1.macs[32]);
  CHECK(fc1.nonlinear_ops == 2u * 40 * 32);  // gelu
  CHECK(fc1.dense_ops == 2u * 40 * 32);      // bias
  CHECK(fc1.bytes_read[static_cast<std::size_t>(MemClass::weights)] == 2u * (16 * 32 + 32) * 4);
  CHECK(fc1.bytes_read[static_cast<std::size_t>(MemClass::activations)] == 2u * 40 * 16 * 4);
  CHECK(fc1.bytes_written[static_cast<std::size_t>(MemClass::activations)] == 2u * 40 * 32 * 4);
  CHECK(l.per_node[2].dense_ops == 2u * 640);          // residual add
  CHECK(l.per_node[3].dense_ops == 2u * 5 * 640);      // layer norm without bias
  CHECK(l.per_node[3].nonlinear_ops == 2u * 40);       // one rsqrt per row
  CHECK(l.per_node[4].nonlinear_ops == 2u * 2 * 640);  // softmax exp + divide
}

TEST_CASE("quantized weights are dequantized at plan time and their MACs counted at their width") {
  // int8 per output channel (axis 1 of W[K, N]) and int4 grouped along K (axis 0, groups of 4).
  struct Case {
    int bits;
    int axis;
    int group;
    std::size_t scales;
  };
  for (const Case& c : {Case{8, 1, 0, 6}, Case{4, 0, 4, 3}}) {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {5, 12});
    std::vector<std::int8_t> levels(12 * 6);
    for (std::size_t i = 0; i < levels.size(); ++i)
      levels[i] = static_cast<std::int8_t>(static_cast<int>(i * 7 % (1 << c.bits)) - (1 << (c.bits - 1)));
    const ValueId w = g.add_constant("w", Tensor::from_vector<std::int8_t>({12, 6}, levels));
    QuantParams qp;
    qp.bits = c.bits;
    qp.n_min = -(1 << (c.bits - 1));
    qp.n_max = (1 << (c.bits - 1)) - 1;
    qp.axis = c.axis;
    qp.group_size = c.group;
    for (std::size_t i = 0; i < c.scales; ++i) qp.scale.push_back(0.01f * static_cast<float>(i + 1));
    g.value(w).quant = qp;
    // The activation is quantized too (a FakeQuant point), so both operands have c.bits.
    const auto xq = test::node(g, OpKind::FakeQuant, {x});
    QuantParams aq = qp;
    aq.axis = -1;
    aq.group_size = 0;
    aq.scale = {0.05f};
    g.value(xq[0]).quant = aq;
    const auto y = test::node(g, OpKind::Linear, {xq[0], w}, LinearAttrs{});
    g.set_outputs(y);

    // Expected: the same graph with the weights dequantized by hand.
    Graph f = g;
    Tensor wf(DType::f32, {12, 6});
    for (std::int64_t k = 0; k < 12; ++k)
      for (std::int64_t n = 0; n < 6; ++n) {
        const std::size_t ch = static_cast<std::size_t>(c.axis == 1 ? n : k / c.group);
        wf.data<float>()[k * 6 + n] = static_cast<float>(levels[static_cast<std::size_t>(k * 6 + n)]) * qp.scale[ch];
      }
    f.value(w).constant = wf;
    f.value(w).quant.reset();

    const std::vector<Tensor> in{random_f32({5, 12}, 3)};
    ann::Engine e(g);
    Ledger l = Ledger::for_graph(g);
    const auto got = e.run(in, &l);
    const auto want = ann::Engine(f, {.reference_only = true}).run(in);
    CHECK(test::max_rel_error(got[0], want[0]) <= 1e-6f);
    CHECK(l.per_node[1].macs[static_cast<std::size_t>(c.bits)] == 5u * 12 * 6);
    CHECK(l.per_node[1].macs[32] == 0);
    CHECK(l.per_node[1].bytes_read[static_cast<std::size_t>(MemClass::weights)] ==
          static_cast<std::uint64_t>((72 * c.bits + 7) / 8));
  }
}

TEST_CASE("inputs are checked against the graph's types") {
  const Graph g = mlp_block();
  ann::Engine e(g);
  CHECK_THROWS_AS(e.run(std::vector<Tensor>{random_f32({4, 10, 15}, 1)}), ShapeError);
  CHECK_THROWS_AS(e.run(std::vector<Tensor>{}), ShapeError);
  CHECK_THROWS_WITH(e.run(std::vector<Tensor>{Tensor(DType::i64, {4, 10, 16})}), doctest::Contains("x"));
}

TEST_CASE("check_finite names the first node producing NaN or Inf") {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {3});
  const ValueId l = test::node(g, OpKind::Sqrt, {x}, NoAttrs{}, 1, "root")[0];
  g.set_outputs(test::node(g, OpKind::Relu, {l}, NoAttrs{}, 1, "relu"));
  const std::vector<Tensor> in{Tensor::from_vector<float>({3}, {1.0f, -1.0f, 4.0f})};
  CHECK_NOTHROW(ann::Engine(g).run(in));
  CHECK_THROWS_WITH_AS(ann::Engine(g, {.check_finite = true}).run(in), doctest::Contains("root"), NumericError);
}

}  // TEST_SUITE

}  // namespace
}  // namespace snnconv
