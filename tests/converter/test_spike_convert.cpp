// Spiking conversion: the SNN IR it produces, and the graphs it refuses (naming node and value).
#include <doctest/doctest.h>

#include <map>

#include "qann_graphs.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv {
namespace {

std::map<OpKind, int> op_counts(const Graph& g) {
  std::map<OpKind, int> m;
  for (const Node& n : g.nodes()) ++m[n.kind];
  return m;
}

// Node names survive conversion (test::node names a node's output value NAME_out).
const Node& producer_of(const Graph& g, const std::string& node_name) {
  for (const Node& n : g.nodes())
    if (n.name == node_name) return n;
  FAIL("no node " << node_name);
  return g.nodes().front();
}

template <typename E>
std::string error_of(const Graph& g) {
  try {
    (void)convert_to_spiking(g);
  } catch (const E& e) {
    return std::string(e.what()) + " | node=" + e.context().node + " value=" + e.context().value;
  }
  FAIL("no error thrown");
  return {};
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("spike conversion: MLP becomes neurons and synapses, ReLU folded into the neuron") {
    const Graph q = test::make_qann_mlp(3, 4);
    const Graph s = convert_to_spiking(q);
    CHECK(s.stage == Stage::spiking);
    CHECK_NOTHROW(verify(s, Stage::spiking));
    auto c = op_counts(s);
    CHECK(c[OpKind::SpikeNeuron] == 3);
    CHECK(c[OpKind::SynapseLinear] == 2);
    CHECK(c[OpKind::Relu] == 0);
    CHECK(s.num_nodes() == 5);
    const Node& h = producer_of(s, "h_q");
    CHECK(h.kind == OpKind::SpikeNeuron);
    CHECK(std::get<NeuronAttrs>(h.attrs).target == Activation::relu);
    const QuantParams& qp = *s.value(h.outputs[0]).quant;
    CHECK(qp.n_min == 0);
    CHECK(qp.n_max == 15);
    CHECK(qp.scale == q.value(q.find_value("h_q_out")).quant->scale);
    CHECK(std::get<NeuronAttrs>(producer_of(s, "y_q").attrs).target == Activation::none);
    CHECK(producer_of(s, "fc1").kind == OpKind::SynapseLinear);
  }

  TEST_CASE("spike conversion: transformer block becomes differential units and spike products") {
    const Graph s = convert_to_spiking(test::make_qann_block(4, 3));
    auto c = op_counts(s);
    CHECK(c[OpKind::DiffUnit] == 3);  // ln1, softmax, ln2
    CHECK(c[OpKind::SpikeMatMul] == 2);
    CHECK(c[OpKind::SynapseLinear] == 6);
    CHECK(c[OpKind::SpikeNeuron] == 14);
    CHECK(c[OpKind::Add] == 2);
    CHECK(c[OpKind::Transpose] == 1);
    CHECK(c[OpKind::Reshape] == 1);
    CHECK(c[OpKind::Gelu] == 0);
    CHECK(std::get<DiffUnitAttrs>(producer_of(s, "softmax").attrs).fn == DiffUnitAttrs::Fn::softmax);
    CHECK(std::get<NeuronAttrs>(producer_of(s, "h_q").attrs).target == Activation::gelu);
    CHECK(s.value(s.find_value("k_t_out")).quant.has_value());
  }

  TEST_CASE("spike conversion refuses a graph that is not quantized where it must be") {
    SUBCASE("wrong stage") {
      Graph q = test::make_qann_mlp(3, 4);
      q.stage = Stage::canonical;
      CHECK(error_of<GraphError>(q).find("stage 'quantized'") != std::string::npos);
    }
    SUBCASE("Linear reading a value with no quantization point") {
      Graph g;
      g.stage = Stage::quantized;
      const ValueId x = test::input(g, "x", DType::f32, {2, 4});
      QuantParams wq;
      wq.bits = 4, wq.n_min = -7, wq.n_max = 7, wq.scale = {0.1f};
      const ValueId w = g.add_constant("W", Tensor::from_vector<float>({4, 3}, std::vector<float>(12, 1.0f)));
      g.value(w).quant = wq;
      // A Linear on the graph input alone is the dense prologue (an input embedding); the one after it
      // reads a current with no quantization point in between.
      const ValueId h = test::node(g, OpKind::Linear, {x, w}, LinearAttrs{}, 1, "embed")[0];
      QuantParams aq;
      aq.bits = 4, aq.n_min = -8, aq.n_max = 7, aq.scale = {0.5f};
      const ValueId hq = test::node(g, OpKind::FakeQuant, {h}, NoAttrs{}, 1, "h_q")[0];
      g.value(hq).quant = aq;
      const ValueId w2 = g.add_constant("W2", Tensor::from_vector<float>({3, 4}, std::vector<float>(12, 1.0f)));
      g.value(w2).quant = wq;
      const ValueId z = test::node(g, OpKind::Linear, {hq, w2}, LinearAttrs{}, 1, "fc1")[0];
      const ValueId y = test::node(g, OpKind::Linear, {z, w}, LinearAttrs{}, 1, "fc")[0];
      g.set_outputs({y});
      const std::string msg = error_of<GraphError>(g);
      CHECK(msg.find("node=fc") != std::string::npos);
      CHECK(msg.find("value=" + g.value(z).name) != std::string::npos);
    }
    SUBCASE("Linear reading a LayerNorm output directly") {
      test::QannBuilder b(9, 4, {2, 4});
      const ValueId xq = b.fake_quant(b.input, true, "x_q");
      const ValueId ln = b.layer_norm(xq, 4, "ln");
      QuantParams lq;
      lq.bits = 4, lq.n_min = -8, lq.n_max = 7, lq.scale = {0.25f};
      b.g.value(ln).quant = lq;  // claims to be quantized, but no quantization point produced it
      const ValueId y = b.linear(ln, 4, 3, "fc");
      const ValueId yq = b.fake_quant(y, true, "y_q", 0.5f);
      b.g.set_outputs({yq});
      const std::string msg = error_of<GraphError>(b.g);
      CHECK(msg.find("not a quantization point's output") != std::string::npos);
      CHECK(msg.find("node=fc") != std::string::npos);
      CHECK(msg.find("value=ln_out") != std::string::npos);
    }
    SUBCASE("an op the converter cannot express") {
      test::QannBuilder b(9, 4, {2, 4});
      const ValueId xq = b.fake_quant(b.input, true, "x_q");
      const ValueId e = test::node(b.g, OpKind::Exp, {xq}, NoAttrs{}, 1, "exp")[0];
      const ValueId eq = b.fake_quant(e, true, "e_q", 0.5f);
      b.g.set_outputs({eq});
      const std::string msg = error_of<UnsupportedError>(b.g);
      CHECK(msg.find("node=exp") != std::string::npos);
      CHECK(msg.find("Exp") != std::string::npos);
    }
  }
}

}  // namespace snnconv
