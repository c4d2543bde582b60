#include <doctest/doctest.h>

#include "graph_builder.hpp"
#include "snnconv/core/attrs_codec.hpp"
#include "snnconv/core/dump.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/core/stats.hpp"
#include "snnconv/core/verifier.hpp"

using namespace snnconv;
using namespace snnconv::test;

TEST_SUITE("unit") {
TEST_CASE("op table names round-trip and flags are queried by property") {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const auto k = static_cast<OpKind>(i);
    REQUIRE(op_from_name(op_name(k)).has_value());
    CHECK(*op_from_name(op_name(k)) == k);
  }
  CHECK(op_from_name("LayerNormalization") == OpKind::LayerNorm);
  CHECK_FALSE(op_from_name("NonMaxSuppression").has_value());
  CHECK(has_flag(OpKind::MatMul, kWeightBearing));
  CHECK(has_flag(OpKind::Reshape, kPassThrough));
  CHECK(has_flag(OpKind::Softmax, kWholeVector));
  CHECK_FALSE(op_legal_at(OpKind::Shape, Stage::canonical));
  CHECK(op_legal_at(OpKind::SpikeNeuron, Stage::spiking));
  CHECK_FALSE(op_legal_at(OpKind::SpikeNeuron, Stage::quantized));
}

TEST_CASE("topological order, dangling inputs and cycles") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 3});
  ValueId a = node(g, OpKind::Relu, {x})[0];
  ValueId b = node(g, OpKind::Add, {a, x})[0];
  g.set_outputs({b});
  auto order = g.topological_order();
  REQUIRE(order.size() == 2);
  CHECK(order[0].index == 0);
  verify(g, Stage::imported);

  // A node reading a value nobody produces.
  Graph d;
  ValueId y = input(d, "y", DType::f32, {2});
  Value ghost;
  ghost.name = "ghost";
  ghost.type = TensorType::of(DType::f32, {2});
  ValueId gv = d.add_value(ghost);
  Node n;
  n.kind = OpKind::Add;
  n.name = "adder";
  n.inputs = {y, gv};
  Value o;
  o.name = "o";
  n.outputs = {d.add_value(o)};
  d.add_node(n);
  try {
    d.topological_order();
    FAIL("no throw");
  } catch (const GraphError& e) {
    CHECK(std::string(e.what()).find("ghost") != std::string::npos);
    CHECK(std::string(e.what()).find("adder") != std::string::npos);
  }

  // A cycle: n0 reads n1's output and n1 reads n0's.
  Graph c;
  ValueId z = input(c, "z", DType::f32, {2});
  Value v0, v1;
  v0.name = "v0";
  v1.name = "v1";
  ValueId i0 = c.add_value(v0), i1 = c.add_value(v1);
  Node n0{OpKind::Add, {z, i1}, {i0}, NoAttrs{}, "first"};
  Node n1{OpKind::Relu, {i0}, {i1}, NoAttrs{}, "second"};
  c.add_node(n0);
  c.add_node(n1);
  CHECK_THROWS_AS(c.topological_order(), GraphError);
}

TEST_CASE("remove_dead drops unused nodes and renumbers ids") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {4});
  node(g, OpKind::Exp, {x});  // dead
  ValueId r = node(g, OpKind::Relu, {x})[0];
  g.set_outputs({r});
  g.remove_dead();
  REQUIRE(g.num_nodes() == 1);
  CHECK(g.node(NodeId(0)).kind == OpKind::Relu);
  CHECK(g.value(g.outputs()[0]).producer == NodeId(0));
  verify(g, Stage::imported);
}

TEST_CASE("verifier enforces arity, attrs, stages and quantization points") {
  // Before any quantized value the graph is the real-valued prologue (patch or token embeddings): a weight-bearing
  // op there may read a float value.
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 4});
  ValueId w = g.add_constant("w", Tensor(DType::f32, {4, 3}));
  ValueId y = node(g, OpKind::MatMul, {x, w})[0];
  g.set_outputs({y});
  verify(g, Stage::imported);
  verify(g, Stage::quantized);
  // Once a quantized value feeds it, every operand of a weight-bearing op must be quantized: a Relu between the
  // quantized input and the MatMul leaves the MatMul's operand without a point.
  Graph q;
  ValueId qx = input(q, "x", DType::f32, {2, 4});
  q.value(qx).quant = QuantParams{};
  ValueId r = node(q, OpKind::Relu, {qx})[0];
  ValueId qw = q.add_constant("w", Tensor(DType::f32, {4, 3}));
  ValueId qy = node(q, OpKind::MatMul, {r, qw})[0];
  q.set_outputs({qy});
  verify(q, Stage::imported);
  try {
    verify(q, Stage::quantized);
    FAIL("no throw");
  } catch (const GraphError& e) {
    CHECK(std::string(e.what()).find("not quantized") != std::string::npos);
    CHECK(e.context().value == q.value(r).name);
  }
  q.value(r).quant = QuantParams{};
  verify(q, Stage::quantized);
  CHECK_THROWS_AS(verify(q, Stage::spiking), GraphError);  // MatMul is not a spiking op

  Graph s;
  ValueId in = input(s, "in", DType::f32, {3});
  ValueId sh = node(s, OpKind::Shape, {in})[0];
  s.set_outputs({sh});
  CHECK_THROWS_AS(verify(s, Stage::canonical), GraphError);
  s.node(NodeId(0)).attrs = AxisAttrs{1};
  CHECK_THROWS_AS(verify(s, Stage::imported), GraphError);
}

TEST_CASE("text dump is stable (golden)") {
  Graph g;
  g.name = "tiny";
  ValueId x = input(g, "x", DType::f32, {1, 4});
  ValueId w = g.add_constant("w", Tensor(DType::f32, {4, 2}));
  ValueId y = node(g, OpKind::MatMul, {x, w}, NoAttrs{}, 1, "mm")[0];
  ValueId z = node(g, OpKind::Softmax, {y}, SoftmaxAttrs{-1}, 1, "sm")[0];
  g.set_outputs({z});
  const std::string expected =
      "graph \"tiny\" stage=imported opset=17\n"
      "input %x : f32[1,4]\n"
      "const %w : f32[4,2]\n"
      "%mm_out = MatMul(%x, %w) : f32[1,2]  # mm\n"
      "%sm_out = Softmax<axis=-1>(%mm_out) : f32[1,2]  # sm\n"
      "output %sm_out : f32[1,2]\n";
  CHECK(to_text(g) == expected);
}

TEST_CASE("stats count parameters and MACs") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2, 5, 8});
  ValueId w = g.add_constant("w", Tensor(DType::f32, {8, 16}));
  ValueId b = g.add_constant("b", Tensor(DType::f32, {16}));
  ValueId scale = g.add_constant("scale", Tensor::scalar<float>(0.5f));  // scalars are not parameters
  ValueId y = node(g, OpKind::MatMul, {x, w})[0];
  ValueId z = node(g, OpKind::Add, {y, b})[0];
  ValueId s = node(g, OpKind::Mul, {z, scale})[0];
  ValueId cw = g.add_constant("cw", Tensor(DType::f32, {4, 1, 3, 3}));
  ValueId img = input(g, "img", DType::f32, {1, 1, 8, 8});
  ValueId c = node(g, OpKind::Conv, {img, cw}, ConvAttrs{{}, {2, 2}, {1, 1, 1, 1}, {}, 1})[0];
  g.set_outputs({s, c});
  const GraphStats st = compute_stats(g);
  CHECK(st.params == 8 * 16 + 16 + 36);
  CHECK(st.param_bytes == 4 * (8 * 16 + 16 + 36));
  // MatMul 2*5*16 outputs x K=8; Conv 4x4x4 outputs x 9.
  CHECK(shape_of(g, c) == Shape{1, 4, 4, 4});
  CHECK(st.macs == 2 * 5 * 16 * 8 + 64 * 9);
  CHECK(st.op_histogram.at("MatMul") == 1);
}

TEST_CASE("ledger merges row by row") {
  Graph g;
  ValueId x = input(g, "x", DType::f32, {2});
  g.set_outputs({node(g, OpKind::Relu, {x})[0]});
  Ledger a = Ledger::for_graph(g), b = Ledger::for_graph(g);
  a.per_node[0].macs[8] = 3;
  b.per_node[0].macs[8] = 4;
  b.per_node[0].spikes_neg = 2;
  b.per_node[0].bytes_read[static_cast<std::size_t>(MemClass::weights)] = 10;
  b.samples = 1;
  a.merge(b);
  CHECK(a.per_node[0].macs[8] == 7);
  CHECK(a.total().spikes() == 2);
  CHECK(a.total().bytes_read[0] == 10);
  CHECK(a.samples == 1);
  Ledger other;
  CHECK_THROWS_AS(a.merge(other), Error);
}
}

TEST_SUITE("unit") {
TEST_CASE("attrs codec: Attention steps round-trip, the two-word encoding of older files still decodes") {
  AttentionAttrs a{0.125f, true};
  QuantParams sq;
  sq.bits = 4, sq.n_min = -8, sq.n_max = 7, sq.scale = {0.375f};
  QuantParams pq;
  pq.bits = 8, pq.n_min = 0, pq.n_max = 255, pq.scale = {1.0f / 255.0f}, pq.zero_point = {0};
  a.scores_quant = sq;
  a.probs_quant = pq;
  const Attrs attrs = a;
  const auto words = encode_attrs(attrs);
  const Attrs back = decode_attrs(attrs.index(), words, "test");
  CHECK(std::get<AttentionAttrs>(back) == a);
  // Only one of the two steps.
  AttentionAttrs only_probs{1.0f, false};
  only_probs.probs_quant = pq;
  CHECK(std::get<AttentionAttrs>(decode_attrs(attrs.index(), encode_attrs(only_probs), "test")) == only_probs);
  // A float attention encodes as before the steps existed (scale, causal) and decodes without steps.
  const auto plain = encode_attrs(Attrs{AttentionAttrs{0.5f, false}});
  CHECK(plain.size() == 2);
  const auto old = std::get<AttentionAttrs>(decode_attrs(attrs.index(), plain, "test"));
  CHECK(old.scale == 0.5f);
  CHECK(!old.quantized());
  // A truncated step is a parse error naming the file's node, not a half-read step.
  std::vector<std::int64_t> cut(words.begin(), words.end() - 3);
  CHECK_THROWS_AS(decode_attrs(attrs.index(), cut, "test"), ParseError);
  // The text form shows the steps.
  CHECK(attrs_to_string(attrs).find("scores_step=0.375 [-8,7]") != std::string::npos);
}

}
