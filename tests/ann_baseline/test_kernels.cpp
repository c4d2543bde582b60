// Every fast kernel of the engine against the reference kernel of its op, on random inputs (the
// test-backend-ops idea of ggml), plus bit-identity across thread counts.
#include <doctest/doctest.h>

#include <limits>
#include <random>

#include "engine_test_util.hpp"

namespace snnconv {
namespace {

using test::check_fast_kernel;
using test::random_f32;

TEST_SUITE("unit") {

TEST_CASE("MatMul with a weight matrix folds batch dims into rows (several row chunks)") {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {3, 37, 24});
  const ValueId w = g.add_constant("w", random_f32({24, 19}, 2));
  g.set_outputs(test::node(g, OpKind::MatMul, {x, w}));
  check_fast_kernel(g, {random_f32({3, 37, 24}, 1)}, test::weight_gemm_kernel());
}

TEST_CASE("MatMul of an activation by an activation matrix stays on Eigen") {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {3, 37, 24});
  const ValueId w = test::input(g, "w", DType::f32, {24, 19});
  g.set_outputs(test::node(g, OpKind::MatMul, {x, w}));
  check_fast_kernel(g, {random_f32({3, 37, 24}, 1), random_f32({24, 19}, 2)}, "eigen_gemm");
}

TEST_CASE("packed GEMM: row and column remainders, many tasks, [1, k, n] weights, every activation") {
  struct Case {
    Shape x;
    std::int64_t n;
  };
  // rows 1..5 (micro-tile remainders), 97 rows (several row tasks), n below / above / at panel multiples,
  // k odd, and n > 128 (several column tasks).
  // k = 600: three passes along k (kKBlock = 256), the last one short.
  for (const Case& c : {Case{{1, 7}, 5}, Case{{5, 33}, 16}, Case{{2, 97, 31}, 17}, Case{{3, 50, 64}, 300},
                        Case{{13, 128}, 48}, Case{{2, 9, 600}, 40}}) {
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu, Activation::gelu_tanh}) {
      Graph g;
      const std::int64_t k = c.x.back();
      const ValueId x = test::input(g, "x", DType::f32, c.x);
      const ValueId w = g.add_constant("w", random_f32({k, c.n}, 101));
      const ValueId b = g.add_constant("b", random_f32({c.n}, 102));
      g.set_outputs(test::node(g, OpKind::Linear, {x, w, b}, LinearAttrs{act}));
      INFO(shape_to_string(c.x), " n ", c.n);
      check_fast_kernel(g, {random_f32(c.x, 100, -2.0f, 2.0f)}, test::weight_gemm_kernel());
    }
  }
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {2, 9, 20});
  const ValueId w = g.add_constant("w", random_f32({1, 20, 23}, 104));
  g.set_outputs(test::node(g, OpKind::MatMul, {x, w}));
  check_fast_kernel(g, {random_f32({2, 9, 20}, 103)}, test::weight_gemm_kernel());
}

TEST_CASE("MatMul of two activations, same and broadcast batch dims") {
  {
    Graph g;
    const ValueId q = test::input(g, "q", DType::f32, {2, 3, 17, 8});
    const ValueId k = test::input(g, "k", DType::f32, {2, 3, 8, 17});
    g.set_outputs(test::node(g, OpKind::MatMul, {q, k}));
    check_fast_kernel(g, {random_f32({2, 3, 17, 8}, 3), random_f32({2, 3, 8, 17}, 4)}, "packed_gemm_batched");
  }
  {
    Graph g;
    const ValueId a = test::input(g, "a", DType::f32, {2, 1, 5, 8});
    const ValueId b = test::input(g, "b", DType::f32, {3, 8, 6});
    g.set_outputs(test::node(g, OpKind::MatMul, {a, b}));
    check_fast_kernel(g, {random_f32({2, 1, 5, 8}, 5), random_f32({3, 8, 6}, 6)}, "packed_gemm_batched");
  }
}

TEST_CASE("Gemm: transposes, alpha, beta and broadcast C") {
  struct Case {
    bool ta, tb;
    float alpha, beta;
    Shape c;
  };
  for (const Case& k : {Case{false, true, 1.0f, 1.0f, {19}}, Case{true, false, 0.5f, 2.0f, {70, 1}},
                        Case{true, true, 1.5f, 0.0f, {70, 19}}, Case{false, false, 1.0f, 1.0f, {}}}) {
    Graph g;
    const Shape sa = k.ta ? Shape{24, 70} : Shape{70, 24};
    const Shape sb = k.tb ? Shape{19, 24} : Shape{24, 19};
    const ValueId a = test::input(g, "a", DType::f32, sa);
    const ValueId b = g.add_constant("b", random_f32(sb, 8));
    const ValueId c = g.add_constant("c", random_f32(k.c, 9));
    g.set_outputs(test::node(g, OpKind::Gemm, {a, b, c}, GemmAttrs{k.alpha, k.beta, k.ta, k.tb}));
    check_fast_kernel(g, {random_f32(sa, 7)}, "eigen_gemm");
  }
}

TEST_CASE("Linear with bias and each activation") {
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu, Activation::gelu_tanh}) {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {2, 65, 32});
    const ValueId w = g.add_constant("w", random_f32({32, 48}, 11));
    const ValueId b = g.add_constant("b", random_f32({48}, 12));
    g.set_outputs(test::node(g, OpKind::Linear, {x, w, b}, LinearAttrs{act}));
    check_fast_kernel(g, {random_f32({2, 65, 32}, 10)}, test::weight_gemm_kernel());
  }
  // Weights that are an input, not a constant: Eigen.
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {2, 65, 32});
  const ValueId w = test::input(g, "w", DType::f32, {32, 48});
  g.set_outputs(test::node(g, OpKind::Linear, {x, w}, LinearAttrs{Activation::gelu}));
  check_fast_kernel(g, {random_f32({2, 65, 32}, 10), random_f32({32, 48}, 11)}, "eigen_gemm");
}

TEST_CASE("Conv 2-D via im2col: padding, stride, dilation, groups, patch embedding") {
  struct Case {
    Shape x, w;
    ConvAttrs at;
  };
  const Case cases[] = {
      {{2, 3, 11, 11}, {4, 3, 3, 3}, ConvAttrs{{}, {2, 2}, {1, 1, 1, 1}, {}, 1}},
      {{1, 4, 9, 10}, {6, 2, 3, 2}, ConvAttrs{{}, {1, 2}, {0, 1, 2, 0}, {2, 1}, 2}},
      {{3, 1, 28, 28}, {16, 1, 7, 7}, ConvAttrs{{7, 7}, {7, 7}, {}, {}, 1}},
      {{13, 2, 9, 9}, {20, 2, 3, 3}, ConvAttrs{{}, {1, 1}, {1, 0, 0, 1}, {1, 2}, 1}},  // several tasks, odd sizes
      // One sample of 15 x 14 = 210 pixels: tasks cut inside the sample, a task spanning two samples below.
      {{1, 3, 60, 56}, {40, 3, 4, 4}, ConvAttrs{{4, 4}, {4, 4}, {}, {}, 1}},
      {{3, 2, 11, 13}, {9, 2, 2, 2}, ConvAttrs{{2, 2}, {1, 1}, {}, {}, 1}},
  };
  for (const Case& k : cases) {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, k.x);
    const ValueId w = g.add_constant("w", random_f32(k.w, 21));
    const ValueId b = g.add_constant("b", random_f32({k.w[0]}, 22));
    g.set_outputs(test::node(g, OpKind::Conv, {x, w, b}, k.at));
    const bool packed = k.at.group == 1 && ann::kernels::packed_gemm_available();
    check_fast_kernel(g, {random_f32(k.x, 20)}, packed ? "im2col_packed_gemm" : "im2col_gemm");
  }
}

TEST_CASE("LayerNorm over the last axis and over two trailing axes") {
  {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {4, 33, 48});
    const ValueId s = g.add_constant("s", random_f32({48}, 31));
    const ValueId b = g.add_constant("b", random_f32({48}, 32));
    g.set_outputs(test::node(g, OpKind::LayerNorm, {x, s, b}, LayerNormAttrs{-1, 1e-5f}));
    check_fast_kernel(g, {random_f32({4, 33, 48}, 30, -3.0f, 5.0f)}, "layer_norm");
  }
  {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {3, 5, 7});
    const ValueId s = g.add_constant("s", random_f32({5, 7}, 34));
    g.set_outputs(test::node(g, OpKind::LayerNorm, {x, s}, LayerNormAttrs{1, 1e-6f}));
    check_fast_kernel(g, {random_f32({3, 5, 7}, 33)}, "layer_norm");
  }
}

TEST_CASE("Softmax over the last axis (vectorised exp: within 1e-5, rows with NaN / inf as the reference)") {
  for (std::int64_t n : {3, 8, 33, 197}) {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {5, 7, n});
    g.set_outputs(test::node(g, OpKind::Softmax, {x}, SoftmaxAttrs{-1}));
    Tensor in = random_f32({5, 7, n}, 40, -8.0f, 8.0f);
    float* p = in.data<float>();
    const float inf = std::numeric_limits<float>::infinity();
    for (std::int64_t j = n / 2; j < n; ++j) p[j] = -inf;          // row 0: a masked tail (causal)
    for (std::int64_t j = 0; j < n; ++j) p[n + j] = -inf;          // row 1: everything masked: NaN
    p[2 * n + n - 1] = std::numeric_limits<float>::quiet_NaN();    // row 2: a NaN reaches every output
    p[3 * n] = inf;                                                // row 3: +inf
    test::check_fast_kernel(g, {in}, "softmax", 1e-5f);
  }
}

TEST_CASE("Split and ReduceMean / ReduceSum are bit-identical to the reference") {
  {
    Graph g;  // the fused qkv projection cut into q, k, v along the last axis
    const ValueId x = test::input(g, "x", DType::f32, {2, 9, 24});
    g.set_outputs(test::node(g, OpKind::Split, {x}, SplitAttrs{-1}, 3));
    check_fast_kernel(g, {random_f32({2, 9, 24}, 60)}, "split", 0.0f);
  }
  {
    Graph g;  // uneven sizes (a sizes input), a middle axis
    const ValueId x = test::input(g, "x", DType::f32, {3, 10, 5});
    const ValueId sizes = g.add_constant("sizes", Tensor::from_vector<std::int64_t>({2}, {3, 7}));
    g.set_outputs(test::node(g, OpKind::Split, {x, sizes}, SplitAttrs{1}, 2));
    check_fast_kernel(g, {random_f32({3, 10, 5}, 61)}, "split", 0.0f);
  }
  const std::vector<std::pair<std::vector<std::int64_t>, bool>> reductions{
      {{-1}, true}, {{1}, false}, {{1, 2}, true}, {{0}, true}, {{}, false}};
  for (const auto& [axes, keep] : reductions)
    for (OpKind k : {OpKind::ReduceMean, OpKind::ReduceSum}) {
      Graph g;
      const ValueId x = test::input(g, "x", DType::f32, {4, 6, 33});
      g.set_outputs(test::node(g, k, {x}, ReduceAttrs{axes, keep}));
      check_fast_kernel(g, {random_f32({4, 6, 33}, 62, -4.0f, 4.0f)}, k == OpKind::ReduceMean ? "reduce_mean" : "reduce_sum",
                        0.0f);
    }
}

TEST_CASE("Unary functions are bit-identical to the reference") {
  for (OpKind k : {OpKind::Relu, OpKind::Neg, OpKind::Sqrt, OpKind::Exp, OpKind::Erf, OpKind::Tanh, OpKind::Sigmoid}) {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {3, 20000});
    g.set_outputs(test::node(g, k, {x}));
    const float lo = k == OpKind::Sqrt ? 0.0f : -6.0f;
    check_fast_kernel(g, {random_f32({3, 20000}, 50, lo, 6.0f)}, std::string(op_name(k)) == "Relu" ? "relu"
                                                                  : k == OpKind::Neg     ? "neg"
                                                                  : k == OpKind::Sqrt    ? "sqrt"
                                                                  : k == OpKind::Exp     ? "exp"
                                                                  : k == OpKind::Erf     ? "erf"
                                                                  : k == OpKind::Tanh    ? "tanh"
                                                                                         : "sigmoid",
                      0.0f);
  }
  for (bool approx : {false, true}) {
    Graph g;
    const ValueId x = test::input(g, "x", DType::f32, {7, 33});
    g.set_outputs(test::node(g, OpKind::Gelu, {x}, GeluAttrs{approx}));
    check_fast_kernel(g, {random_f32({7, 33}, 51, -5.0f, 5.0f)}, approx ? "gelu_tanh" : "gelu", 0.0f);
  }
}

TEST_CASE("Binary arithmetic: same shape, scalar and row broadcast on either side") {
  struct Case {
    Shape a, b;
    const char* kernel;
  };
  const Case cases[] = {{{4, 9, 17}, {4, 9, 17}, "binary_same"},  {{4, 9, 17}, {1}, "binary_scalar"},
                        {{}, {4, 9, 17}, "binary_scalar"},         {{4, 9, 17}, {17}, "binary_row"},
                        {{1, 9, 17}, {4, 9, 17}, "binary_row"},    {{5000, 8}, {1, 8}, "binary_row"}};
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div, OpKind::Max, OpKind::Min})
    for (const Case& c : cases) {
      Graph g;
      const ValueId a = test::input(g, "a", DType::f32, c.a);
      const ValueId b = test::input(g, "b", DType::f32, c.b);
      g.set_outputs(test::node(g, k, {a, b}));
      INFO(op_name(k), " ", shape_to_string(c.a), " ", shape_to_string(c.b));
      check_fast_kernel(g, {random_f32(c.a, 60), random_f32(c.b, 61, 0.5f, 2.0f)}, c.kernel, 0.0f);
    }
}

TEST_CASE("A broadcast the fast paths do not cover stays on the reference") {
  Graph g;
  const ValueId a = test::input(g, "a", DType::f32, {4, 1, 3});
  const ValueId b = test::input(g, "b", DType::f32, {1, 5, 1});
  g.set_outputs(test::node(g, OpKind::Add, {a, b}));
  check_fast_kernel(g, {random_f32({4, 1, 3}, 62), random_f32({1, 5, 1}, 63)}, "reference", 0.0f);
}

TEST_CASE("Pow by the constant 2 is a square") {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {6, 50});
  const ValueId two = g.add_constant("two", Tensor::scalar(2.0f));
  g.set_outputs(test::node(g, OpKind::Pow, {x, two}));
  check_fast_kernel(g, {random_f32({6, 50}, 70, -4.0f, 4.0f)}, "square", 1e-6f);
}

TEST_CASE("Cast to f32, i32 and i64 matches the reference bit for bit (NaN, infinities, saturation, negatives)") {
  const std::vector<float> f{0.0f, -0.0f, 1.5f, -1.5f, 2.5f, -2.7f, 127.9f, -128.9f, 255.5f, 3e9f, -3e9f, 1e30f,
                             std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity(), 16777217.0f};
  const std::int64_t n = static_cast<std::int64_t>(f.size());
  std::vector<Tensor> sources{Tensor::from_vector<float>({2, n / 2}, f)};
  std::vector<std::int64_t> ints{0, 1, -1, 127, -128, 255, 200, -200, 65535, -65536, 2147483647, -2147483647,
                                 (std::int64_t{1} << 40) + 1, -(std::int64_t{1} << 53) - 1, 16777217, 3};
  sources.push_back(Tensor::from_vector<std::int64_t>({2, n / 2}, ints).cast(DType::i8));
  sources.push_back(Tensor::from_vector<std::int64_t>({2, n / 2}, ints).cast(DType::u8));
  sources.push_back(Tensor::from_vector<std::int64_t>({2, n / 2}, ints).cast(DType::i32));
  sources.push_back(Tensor::from_vector<std::int64_t>({2, n / 2}, ints));
  sources.push_back(Tensor::from_vector<std::int64_t>({2, n / 2}, ints).cast(DType::boolean));
  for (const Tensor& src : sources)
    for (DType to : {DType::f32, DType::i32, DType::i64}) {
      if (src.dtype() == DType::f32 && to == DType::f32) continue;
      CAPTURE(dtype_name(src.dtype()));
      CAPTURE(dtype_name(to));
      Graph g;
      const ValueId x = test::input(g, "x", src.dtype(), src.shape());
      g.set_outputs(test::node(g, OpKind::Cast, {x}, CastAttrs{to}));
      ann::Engine fast(g, {.threads = 2});
      ann::Engine ref(g, {.threads = 1, .reference_only = true});
      CHECK(fast.kernel_names().at(0) == "cast");
      const std::vector<Tensor> in{src};
      CHECK(fast.run(in).at(0).identical(ref.run(in).at(0)));
    }
}

TEST_CASE("int64 Add/Sub/Mul (wrapping) and f32 Less match the reference bit for bit, every broadcast pattern") {
  std::mt19937_64 rng(3);
  auto i64s = [&](const Shape& s) {
    Tensor t(DType::i64, s);
    for (std::int64_t i = 0; i < t.numel(); ++i)
      t.data<std::int64_t>()[i] = i % 7 == 0 ? std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(i)
                                             : static_cast<std::int64_t>(rng() % 2001) - 1000;
    return t;
  };
  const Shape full{3, 5, 64}, row{64}, one{1};
  for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{{full, full}, {full, one}, {one, full}, {full, row}, {row, full}})
    for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Less}) {
      CAPTURE(op_name(k));
      CAPTURE(shape_to_string(sa));
      CAPTURE(shape_to_string(sb));
      const bool cmp = k == OpKind::Less;
      Graph g;
      const ValueId a = test::input(g, "a", cmp ? DType::f32 : DType::i64, sa);
      const ValueId b = test::input(g, "b", cmp ? DType::f32 : DType::i64, sb);
      g.set_outputs(test::node(g, k, {a, b}));
      std::vector<Tensor> in;
      if (cmp) {
        in = {random_f32(sa, 5, -2.0f, 2.0f), random_f32(sb, 6, -2.0f, 2.0f)};
        in[0].data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
      } else {
        in = {i64s(sa), i64s(sb)};
      }
      ann::Engine fast(g, {.threads = 2});
      ann::Engine ref(g, {.threads = 1, .reference_only = true});
      CHECK(std::string(fast.kernel_names().at(0)).rfind("binary_", 0) == 0);
      CHECK(fast.run(in).at(0).identical(ref.run(in).at(0)));
    }
}

TEST_CASE("QuantizeLinear per tensor matches the reference bit for bit (ties to even, saturation, NaN, zero points)") {
  Tensor in = random_f32({4, 300}, 90, -40.0f, 40.0f);
  for (std::int64_t i = 0; i < 64; ++i) in.data<float>()[i] = (static_cast<float>(i) - 32.0f + 0.5f) * 0.25f;  // ties
  in.data<float>()[64] = std::numeric_limits<float>::quiet_NaN();
  in.data<float>()[65] = std::numeric_limits<float>::infinity();
  in.data<float>()[66] = -1e30f;
  for (DType t : {DType::u8, DType::i8})
    for (int zp : {-1, 0, 3}) {  // -1: no zero point input (u8 only)
      if (zp < 0 && t == DType::i8) continue;
      CAPTURE(dtype_name(t));
      CAPTURE(zp);
      Graph g;
      const ValueId x = test::input(g, "x", DType::f32, {4, 300});
      const ValueId s = g.add_constant("s", Tensor::scalar(0.25f));
      std::vector<ValueId> ins{x, s};
      if (zp >= 0)
        ins.push_back(g.add_constant("zp", t == DType::u8 ? Tensor::scalar<std::uint8_t>(static_cast<std::uint8_t>(zp))
                                                          : Tensor::scalar<std::int8_t>(static_cast<std::int8_t>(zp))));
      g.set_outputs(test::node(g, OpKind::QuantizeLinear, ins, AxisAttrs{1}));
      ann::Engine fast(g, {.threads = 2});
      ann::Engine ref(g, {.threads = 1, .reference_only = true});
      CHECK(fast.kernel_names().at(0) == "quantize_linear");
      const std::vector<Tensor> args{in};
      CHECK(fast.run(args).at(0).identical(ref.run(args).at(0)));
    }
}

TEST_CASE("FakeQuant per tensor matches the reference rounding bit for bit") {
  Graph g;
  const ValueId x = test::input(g, "x", DType::f32, {8, 300});
  const auto y = test::node(g, OpKind::FakeQuant, {x});
  QuantParams qp;
  qp.bits = 4;
  qp.n_min = -8;
  qp.n_max = 7;
  qp.scale = {0.125f};
  g.value(y[0]).quant = qp;
  g.set_outputs(y);
  // Values on exact ties (k/16) test the round-half-up rule.
  Tensor in = random_f32({8, 300}, 80, -1.5f, 1.5f);
  for (std::int64_t i = 0; i < 64; ++i) in.data<float>()[i] = static_cast<float>(i - 32) / 16.0f;
  check_fast_kernel(g, {in}, "fake_quant", 0.0f);
}

}  // TEST_SUITE

}  // namespace
}  // namespace snnconv
