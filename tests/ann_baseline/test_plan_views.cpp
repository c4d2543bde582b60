// What the planner does beyond choosing kernels: Transposes folded into Attention's strides, Reshapes as
// views of a dying buffer, the fast Transpose kernel. Each rewrite must compute what the reference computes
// and stay bit-identical across thread counts.
#include <doctest/doctest.h>

#include "engine_test_util.hpp"

namespace snnconv {
namespace {

using test::random_f32;

// x[b, n, h*d] -> q/k/v Linear -> Reshape [b, n, h, d] -> Transpose [0,2,1,3] -> Attention -> Transpose
// [0,2,1,3] -> Reshape [b, n, h*d] -> Linear: the export pattern of every transformer block here.
Graph attention_block(std::int64_t b, std::int64_t n, std::int64_t h, std::int64_t d, bool causal, bool share_q) {
  Graph g;
  const std::int64_t e = h * d;
  const ValueId x = test::input(g, "x", DType::f32, {b, n, e});
  const ValueId heads = test::ints(g, "heads", {b, n, h, d});
  const ValueId flat = test::ints(g, "flat", {b, n, e});
  auto project = [&](const char* name, std::uint32_t seed) {
    const ValueId w = g.add_constant(std::string(name) + ".w", random_f32({e, e}, seed));
    const ValueId y = test::node(g, OpKind::Linear, {x, w}, LinearAttrs{}, 1, name)[0];
    const ValueId r = test::node(g, OpKind::Reshape, {y, heads}, ReshapeAttrs{}, 1, std::string(name) + ".reshape")[0];
    return test::node(g, OpKind::Transpose, {r}, TransposeAttrs{{0, 2, 1, 3}}, 1, std::string(name) + ".t")[0];
  };
  const ValueId q = project("q", 1), k = project("k", 2), v = project("v", 3);
  const ValueId a = test::node(g, OpKind::Attention, {q, k, v}, AttentionAttrs{0.3f, causal}, 1, "attn")[0];
  const ValueId t = test::node(g, OpKind::Transpose, {a}, TransposeAttrs{{0, 2, 1, 3}}, 1, "attn.t")[0];
  const ValueId r = test::node(g, OpKind::Reshape, {t, flat}, ReshapeAttrs{}, 1, "attn.reshape")[0];
  const ValueId wo = g.add_constant("o.w", random_f32({e, e}, 4));
  const ValueId o = test::node(g, OpKind::Linear, {r, wo}, LinearAttrs{}, 1, "o")[0];
  if (share_q) g.set_outputs({o, q});  // q's Transpose is read twice: it must stay a real Transpose
  else g.set_outputs({o});
  return g;
}

std::string kernel_of(const Graph& g, const ann::Engine& e, const std::string& node) {
  const auto names = e.kernel_names();
  for (std::size_t i = 0; i < g.num_nodes(); ++i)
    if (g.node(NodeId(static_cast<std::uint32_t>(i))).name == node) return names[i];
  return "?";
}

TEST_SUITE("unit") {

TEST_CASE("Transposes around Attention fold into its strides, Reshapes become views") {
  // The last shape has 2 (batch, head) pairs and 5 query tiles: 1 and 2 threads split the heads' query
  // tiles into different task groups, which must not change a bit.
  struct Shape3 {
    std::int64_t b, n, h;
  };
  for (bool causal : {false, true})
    for (const Shape3 sh : {Shape3{3, 17, 4}, Shape3{3, 70, 4}, Shape3{1, 130, 2}}) {
      const std::int64_t n = sh.n;
      CAPTURE(causal);
      CAPTURE(n);
      const Graph g = attention_block(sh.b, n, sh.h, 8, causal, false);
      const std::vector<Tensor> in{random_f32({sh.b, n, sh.h * 8}, 9)};
      ann::Engine fast1(g, {.threads = 1});
      ann::Engine fast2(g, {.threads = 2});
      ann::Engine ref(g, {.reference_only = true});
      for (const char* t : {"q.t", "k.t", "v.t", "attn.t"}) CHECK(kernel_of(g, fast1, t) == "folded_into_attention");
      for (const char* r : {"q.reshape", "k.reshape", "v.reshape", "attn.reshape"}) CHECK(kernel_of(g, fast1, r) == "view");
      CHECK(kernel_of(g, fast1, "attn") == "online_attention");
      const auto a = fast1.run(in);
      const auto again = fast1.run(in);  // pooled buffers the second time
      const auto b = fast2.run(in);
      const auto r = ref.run(in);
      CHECK(a[0].identical(b[0]));
      CHECK(a[0].identical(again[0]));
      CHECK(test::max_rel_error(a[0], r[0]) <= 1e-5f);
    }
}

TEST_CASE("a Transpose or Reshape input read twice is not folded or moved") {
  const Graph g = attention_block(2, 9, 2, 4, true, true);
  const std::vector<Tensor> in{random_f32({2, 9, 8}, 19)};
  ann::Engine fast(g, {.threads = 2});
  ann::Engine ref(g, {.reference_only = true});
  CHECK(kernel_of(g, fast, "q.t") == "transpose");
  CHECK(kernel_of(g, fast, "k.t") == "folded_into_attention");
  const auto a = fast.run(in);
  const auto r = ref.run(in);
  REQUIRE(a.size() == 2);
  CHECK(test::max_rel_error(a[0], r[0]) <= 1e-5f);
  CHECK(test::max_rel_error(a[1], r[1]) <= 1e-5f);  // the transposed q itself
}

TEST_CASE("fast Transpose equals the reference bit for bit: perms, ranks, dtypes") {
  struct Case {
    Shape s;
    std::vector<std::int64_t> perm;
  };
  for (const Case& c : {Case{{64, 64, 16}, {0, 2, 1}}, Case{{2, 3, 4, 5}, {3, 1, 0, 2}}, Case{{7, 9}, {}},
                        Case{{2, 5, 3, 4}, {0, 2, 1, 3}}, Case{{300, 70}, {1, 0}}}) {
    {
      Graph g;
      const ValueId x = test::input(g, "x", DType::f32, c.s);
      g.set_outputs(test::node(g, OpKind::Transpose, {x}, TransposeAttrs{c.perm}));
      test::check_fast_kernel(g, {random_f32(c.s, 5)}, "transpose", 0.0f);
    }
    Graph g;
    const ValueId x = test::input(g, "x", DType::i64, c.s);
    g.set_outputs(test::node(g, OpKind::Transpose, {x}, TransposeAttrs{c.perm}));
    Tensor in(DType::i64, c.s);
    for (std::int64_t i = 0; i < in.numel(); ++i) in.data<std::int64_t>()[i] = i * 7 - 3;
    ann::Engine fast(g, {.threads = 2});
    ann::Engine ref(g, {.reference_only = true});
    CHECK(fast.kernel_names()[0] == "transpose");
    const std::vector<Tensor> ins{in};
    CHECK(fast.run(ins)[0].identical(ref.run(ins)[0]));
  }
}

TEST_CASE("fast Concat and Gather equal the reference bit for bit, a bad index names the node") {
  {
    Graph g;
    const ValueId a = test::input(g, "a", DType::f32, {3, 1, 5});
    const ValueId b = test::input(g, "b", DType::f32, {3, 4, 5});
    g.set_outputs(test::node(g, OpKind::Concat, {a, b, a}, AxisAttrs{-2}));
    test::check_fast_kernel(g, {random_f32({3, 1, 5}, 1), random_f32({3, 4, 5}, 2)}, "concat", 0.0f);
  }
  Graph g;
  const ValueId table = g.add_constant("table", random_f32({10, 6}, 3));
  const ValueId idx = test::input(g, "idx", DType::i64, {2, 3});
  g.set_outputs(test::node(g, OpKind::Gather, {table, idx}, AxisAttrs{0}, 1, "embed"));
  ann::Engine fast(g, {.threads = 1});
  ann::Engine ref(g, {.reference_only = true});
  CHECK(fast.kernel_names()[0] == "gather");
  const std::vector<Tensor> ok{Tensor::from_vector<std::int64_t>({2, 3}, {0, 9, -1, 4, 4, -10})};
  CHECK(fast.run(ok)[0].identical(ref.run(ok)[0]));
  const std::vector<Tensor> bad{Tensor::from_vector<std::int64_t>({2, 3}, {0, 1, 2, 3, 10, 5})};
  CHECK_THROWS_WITH_AS(fast.run(bad), doctest::Contains("embed"), ShapeError);
  // A middle axis with a scalar index (the ViT's class token) and a negative one.
  for (std::int64_t axis : {std::int64_t{1}, std::int64_t{-1}}) {
    Graph h;
    const ValueId x = test::input(h, "x", DType::f32, {4, 5, 3});
    const ValueId i = h.add_constant("i", Tensor::scalar<std::int64_t>(-2));
    h.set_outputs(test::node(h, OpKind::Gather, {x, i}, AxisAttrs{axis}));
    test::check_fast_kernel(h, {random_f32({4, 5, 3}, 4)}, "gather", 0.0f);
  }
}

TEST_CASE("a residual Add after a packed Linear is done in its epilogue, not when the residual comes later") {
  // Variants 4-6: several row and column tasks (the residual must follow the task's columns), each activation.
  for (int variant = 0; variant < 7; ++variant) {
    CAPTURE(variant);
    const std::int64_t e = variant < 4 ? 24 : 160;
    const Activation act = variant == 5 ? Activation::relu : variant == 6 ? Activation::none : Activation::gelu;
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {2, 53, e});
    const ValueId w = g.add_constant("w", random_f32({e, e}, 1));
    const ValueId bias = g.add_constant("b", random_f32({e}, 2));
    const ValueId lin = test::node(g, OpKind::Linear, {x, w, bias}, LinearAttrs{act}, 1, "fc")[0];
    ValueId out;
    if (variant == 0 || variant >= 4) out = test::node(g, OpKind::Add, {x, lin}, NoAttrs{}, 1, "add")[0];
    else if (variant == 1) out = test::node(g, OpKind::Add, {lin, x}, NoAttrs{}, 1, "add")[0];
    else {
      // variant 2: the residual is computed after the Linear; variant 3: the Linear output is read twice.
      const ValueId later = test::node(g, OpKind::Relu, {x}, NoAttrs{}, 1, "later")[0];
      out = test::node(g, OpKind::Add, {lin, variant == 2 ? later : lin}, NoAttrs{}, 1, "add")[0];
    }
    g.set_outputs({out});
    const bool folds = (variant < 2 || variant >= 4) && ann::kernels::packed_gemm_available();
    ann::Engine fast1(g, {.threads = 1});
    ann::Engine fast2(g, {.threads = 2});
    ann::Engine ref(g, {.reference_only = true});
    CHECK(kernel_of(g, fast1, "add") == (folds ? "folded_into_linear" : "binary_same"));
    CHECK(kernel_of(g, fast1, "fc") == (folds ? "packed_gemm_residual" : test::weight_gemm_kernel()));
    const std::vector<Tensor> in{random_f32({2, 53, e}, 3)};
    const auto a = fast1.run(in);
    CHECK(a[0].identical(fast2.run(in)[0]));
    CHECK(test::max_rel_error(a[0], ref.run(in)[0]) <= 1e-5f);
    // The ledger still counts the folded Add.
    Ledger fast_ledger = Ledger::for_graph(g), ref_ledger = Ledger::for_graph(g);
    fast1.run(in, &fast_ledger);
    ref.run(in, &ref_ledger);
    CHECK(fast_ledger.total().dense_ops == ref_ledger.total().dense_ops);
    CHECK(fast_ledger.total().total_macs() == ref_ledger.total().total_macs());
  }
}

TEST_CASE("Slice with constant bounds copies an affine gather equal to the reference: steps, axes, clamping") {
  struct Case {
    std::vector<std::int64_t> starts, ends, axes, steps;
  };
  const Case cases[] = {
      {{16}, {1000}, {1}, {1}},              // the VQA text positions: [:, 16:, :]
      {{-1, 0}, {-1000, 7}, {2, 0}, {-3, 2}},  // backward with a clamped end, and a stride
      {{1, 2, 0}, {3, 40, 5}, {0, 1, 2}, {1, 5, 2}},
  };
  for (const Case& c : cases) {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {3, 36, 6});
    const auto n = static_cast<std::int64_t>(c.starts.size());
    const ValueId y = test::node(g, OpKind::Slice,
                                 {x, test::ints(g, "s", c.starts), test::ints(g, "e", c.ends), test::ints(g, "a", c.axes),
                                  test::ints(g, "st", c.steps)})[0];
    CHECK(n > 0);
    g.set_outputs({y});
    test::check_fast_kernel(g, {random_f32({3, 36, 6}, 7)}, "affine_gather", 0.0f);
  }
}

TEST_CASE("a node of constants only is computed once at plan time, its counts stay in the ledger") {
  Graph g;
  const ValueId table = g.add_constant("pos", random_f32({16, 8}, 1));
  const ValueId x = test::input(g, "x", DType::f32, {2, 5, 8});
  const ValueId rows = test::node(g, OpKind::Slice, {table, test::ints(g, "s", {0}), test::ints(g, "e", {5})}, NoAttrs{}, 1,
                                  "slice")[0];
  const ValueId y = test::node(g, OpKind::Add, {x, rows}, NoAttrs{}, 1, "add")[0];
  g.set_outputs({y, rows});
  ann::Engine fast(g, {.threads = 2});
  ann::Engine ref(g, {.reference_only = true});
  CHECK(kernel_of(g, fast, "slice") == "constant");
  CHECK(kernel_of(g, ref, "slice") == "reference");
  const std::vector<Tensor> in{random_f32({2, 5, 8}, 2)};
  Ledger lf = Ledger::for_graph(g), lr = Ledger::for_graph(g);
  const auto a = fast.run(in, &lf);
  const auto b = fast.run(in, &lf);
  const auto r = ref.run(in, &lr);
  ref.run(in, &lr);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(a[i].identical(r[i]));
    CHECK(b[i].identical(r[i]));
  }
  CHECK(lf.total().bytes_read == lr.total().bytes_read);
  CHECK(lf.total().dense_ops == lr.total().dense_ops);
}

TEST_CASE("a Reshape of a graph input or of a value read twice copies") {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {4, 6});
  const ValueId shape = test::ints(g, "shape", {2, 12});
  const ValueId r1 = test::node(g, OpKind::Reshape, {x, shape}, ReshapeAttrs{}, 1, "r_input")[0];
  const ValueId y = test::node(g, OpKind::Relu, {r1}, NoAttrs{}, 1, "relu")[0];
  const ValueId r2 = test::node(g, OpKind::Reshape, {y, test::ints(g, "shape2", {24})}, ReshapeAttrs{}, 1, "r_twice")[0];
  const ValueId r3 = test::node(g, OpKind::Reshape, {r2, test::ints(g, "shape3", {3, 8})}, ReshapeAttrs{}, 1, "r_dying")[0];
  g.set_outputs({r3, y});
  ann::Engine fast(g, {.threads = 1});
  ann::Engine ref(g, {.reference_only = true});
  CHECK(kernel_of(g, fast, "r_input") == "reference");
  CHECK(kernel_of(g, fast, "r_twice") == "reference");  // y is also a graph output
  CHECK(kernel_of(g, fast, "r_dying") == "view");
  const std::vector<Tensor> in{random_f32({4, 6}, 3)};
  const auto a = fast.run(in);
  const auto b = fast.run(in);
  const auto r = ref.run(in);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(a[i].identical(r[i]));
    CHECK(b[i].identical(r[i]));
  }
  CHECK(in[0].identical(random_f32({4, 6}, 3)));  // the caller's input is untouched
}

}  // TEST_SUITE

}  // namespace
}  // namespace snnconv
