// The SNN engine on hand-built spiking graphs: neuron dynamics (strict vs burst), a synaptic layer against
// the integer QANN it implements, and the errors of bad options or graphs.
#include <doctest/doctest.h>

#include <algorithm>

#include <random>

#include "graph_builder.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv {
namespace {

QuantParams act_quant(float s, std::int32_t n_min, std::int32_t n_max, int bits) {
  QuantParams q;
  q.bits = bits;
  q.n_min = n_min;
  q.n_max = n_max;
  q.scale = {s};
  return q;
}

// x [6] -> one population (s = 0.5, counts in [-4, 7]).
Graph one_population() {
  Graph g;
  g.stage = Stage::spiking;
  const ValueId x = test::input(g, "x", DType::f32, {6});
  const ValueId y = test::node(g, OpKind::SpikeNeuron, {x}, NeuronAttrs{}, 1, "pop")[0];
  g.value(y).quant = act_quant(0.5f, -4, 7, 4);
  g.set_outputs({y});
  return g;
}

// The same two-layer network as a QANN and as an SNN: x -> Q(s_in) -> Linear(W, b) -> ReLU -> Q(s_out).
struct TwoLayer {
  Graph qann, snn;
};

TwoLayer two_layer(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> wd(-7, 7);
  std::uniform_real_distribution<float> sd(0.02f, 0.06f);
  std::vector<float> w(5 * 7), b(7);
  for (float& v : w) v = static_cast<float>(wd(rng));
  for (float& v : b) v = sd(rng) * 3.0f - 0.1f;
  QuantParams wq = act_quant(0.0f, -7, 7, 4);
  wq.scale.clear();
  wq.axis = 1;
  for (int j = 0; j < 7; ++j) wq.scale.push_back(sd(rng));
  TwoLayer r;
  for (Graph* g : {&r.qann, &r.snn}) {
    const bool spiking = g == &r.snn;
    g->stage = spiking ? Stage::spiking : Stage::quantized;
    const ValueId x = test::input(*g, "x", DType::f32, {3, 5});
    const ValueId wv = g->add_constant("W", Tensor::from_vector<float>({5, 7}, w));
    g->value(wv).quant = wq;
    const ValueId bv = g->add_constant("b", Tensor::from_vector<float>({7}, b));
    ValueId xq, y, h;
    if (spiking) {
      xq = test::node(*g, OpKind::SpikeNeuron, {x}, NeuronAttrs{}, 1, "x_q")[0];
      g->value(xq).quant = act_quant(0.25f, -8, 7, 4);
      h = test::node(*g, OpKind::SynapseLinear, {xq, wv, bv}, NoAttrs{}, 1, "fc")[0];
      y = test::node(*g, OpKind::SpikeNeuron, {h}, NeuronAttrs{Activation::relu}, 1, "y_q")[0];
    } else {
      xq = test::node(*g, OpKind::FakeQuant, {x}, NoAttrs{}, 1, "x_q")[0];
      g->value(xq).quant = act_quant(0.25f, -8, 7, 4);
      h = test::node(*g, OpKind::Linear, {xq, wv, bv}, LinearAttrs{}, 1, "fc")[0];
      const ValueId r = test::node(*g, OpKind::Relu, {h}, NoAttrs{}, 1, "relu")[0];
      y = test::node(*g, OpKind::FakeQuant, {r}, NoAttrs{}, 1, "y_q")[0];
    }
    g->value(y).quant = act_quant(0.1f, 0, 15, 4);
    g->set_outputs({y});
  }
  return r;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("a population steps its counts to clamp(floor(x/s + 1/2)): strict one spike per step, burst at once") {
    const Graph g = one_population();
    const Tensor x = Tensor::from_vector<float>({6}, {0.0f, 0.26f, -0.74f, 3.3f, -10.0f, 0.25f});
    const std::vector<std::int32_t> expected{0, 1, -1, 7, -4, 1};  // 0.25/0.5 + 0.5 = 1: ties round up
    Ledger ls = Ledger::for_graph(g), lb = Ledger::for_graph(g);
    snn::Engine strict(g, {snn::FireMode::strict, 100, 1});
    const snn::RunResult rs = strict.run(std::span<const Tensor>(&x, 1), &ls);
    CHECK(strict.counts("pop_out") == expected);
    CHECK(rs.quiescent);
    CHECK(rs.steps == 7);  // the largest |level|
    CHECK(rs.last_event_step == 7);
    CHECK(ls.total().spikes_pos == 9);
    CHECK(ls.total().spikes_neg == 5);
    CHECK(ls.total().burst_events == 0);
    CHECK(ls.per_step.size() == 7);
    CHECK(ls.per_step[0].spikes() == 5);  // every non-zero neuron fires once in step 1
    CHECK(ls.per_step[6].spikes() == 1);
    snn::Engine burst(g, {snn::FireMode::burst, 100, 1});
    const snn::RunResult rb = burst.run(std::span<const Tensor>(&x, 1), &lb);
    CHECK(burst.counts("pop_out") == expected);
    CHECK(rb.steps == 1);
    CHECK(lb.total().burst_events == 5);
    CHECK(lb.total().spikes_pos == 9);
    CHECK(lb.total().spikes_neg == 5);
    CHECK(rs.output_levels[0].identical(rb.output_levels[0]));
    CHECK(rs.outputs[0].to_f32() == std::vector<float>{0.0f, 0.5f, -0.5f, 3.5f, -2.0f, 0.5f});
  }

  TEST_CASE("a synaptic layer with a ReLU neuron equals its integer QANN exactly") {
    const TwoLayer net = two_layer(42);
    std::mt19937_64 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    snn::Engine strict(net.snn, {snn::FireMode::strict, 1000, 1});
    snn::Engine burst(net.snn, {snn::FireMode::burst, 1000, 2});
    int mismatches = 0, nonzero = 0;
    for (int sample = 0; sample < 64; ++sample) {
      Tensor x(DType::f32, {3, 5});
      for (float& v : x.span<float>()) v = nd(rng);
      const std::span<const Tensor> in(&x, 1);
      const ann::QannResult q = ann::run_qann(net.qann, in);
      for (snn::Engine* e : {&strict, &burst}) {
        const snn::RunResult r = e->run(in);
        CHECK(r.quiescent);
        for (const char* name : {"x_q_out", "y_q_out"}) {
          const auto counts = e->counts(name);
          REQUIRE(counts.size() == q.levels.at(name).q.size());
          for (std::size_t i = 0; i < counts.size(); ++i) mismatches += counts[i] != q.levels.at(name).q[i];
        }
        mismatches += !r.outputs[0].identical(q.outputs[0]);
      }
      for (std::int32_t v : q.levels.at("y_q_out").q) nonzero += v != 0;
    }
    CHECK(mismatches == 0);
    CHECK(nonzero > 64);  // the test is not vacuous: the output population does fire
  }

  TEST_CASE("a grouped synaptic layer pays its partial sums and steps in the ledger, with the same spikes") {
    // x [3, 8] -> neuron (s 1) -> SynapseLinear (integer weights, every step 1, no bias) -> ReLU neuron (s 1):
    // currents are exact integers, so per-channel steps and two groups of 4 rows give the same spikes; the
    // grouped layer adds, per target evaluation E, 2 float ops, one more int64 partial sum and 2 f32 steps.
    std::mt19937_64 rng(3);
    std::uniform_int_distribution<int> wd(-7, 7);
    std::vector<float> w(8 * 4);
    for (float& v : w) v = static_cast<float>(wd(rng));
    auto build = [&](bool grouped) {
      Graph g;
      g.stage = Stage::spiking;
      const ValueId x = test::input(g, "x", DType::f32, {3, 8});
      const ValueId xq = test::node(g, OpKind::SpikeNeuron, {x}, NeuronAttrs{}, 1, "x_q")[0];
      g.value(xq).quant = act_quant(1.0f, -8, 7, 4);
      const ValueId wv = g.add_constant("W", Tensor::from_vector<float>({8, 4}, w));
      QuantParams wq = act_quant(1.0f, -7, 7, 4);
      wq.axis = grouped ? 0 : 1;
      wq.group_size = grouped ? 4 : 0;
      wq.scale.assign(grouped ? 8 : 4, 1.0f);
      g.value(wv).quant = wq;
      const ValueId bv = g.add_constant("b", Tensor::from_vector<float>({4}, std::vector<float>(4, 0.0f)));
      const ValueId h = test::node(g, OpKind::SynapseLinear, {xq, wv, bv}, NoAttrs{}, 1, "fc")[0];
      const ValueId y = test::node(g, OpKind::SpikeNeuron, {h}, NeuronAttrs{Activation::relu}, 1, "y_q")[0];
      g.value(y).quant = act_quant(1.0f, 0, 15, 4);
      g.set_outputs({y});
      return g;
    };
    const Graph pc = build(false), gr = build(true);
    std::normal_distribution<float> nd(0.0f, 3.0f);
    Tensor x(DType::f32, {3, 8});
    for (float& v : x.span<float>()) v = nd(rng);
    Ledger lp = Ledger::for_graph(pc), lg = Ledger::for_graph(gr);
    snn::Engine ep(pc, {snn::FireMode::strict, 1000, 1}), eg(gr, {snn::FireMode::strict, 1000, 1});
    const snn::RunResult rp = ep.run(std::span<const Tensor>(&x, 1), &lp);
    const snn::RunResult rg = eg.run(std::span<const Tensor>(&x, 1), &lg);
    REQUIRE(rp.outputs[0].identical(rg.outputs[0]));
    const Counters a = lp.total(), b = lg.total();
    CHECK(a.spikes() == b.spikes());
    CHECK(a.spikes() > 10);
    const auto weights = static_cast<std::size_t>(MemClass::weights), membrane = static_cast<std::size_t>(MemClass::membrane);
    // Target evaluations of the output population: its membrane updates minus the spikes it emitted.
    const auto row = static_cast<std::size_t>(
        std::find(lp.node_names.begin(), lp.node_names.end(), "y_q") - lp.node_names.begin());
    REQUIRE(row < lp.per_node.size());
    const Counters& y = lp.per_node[row];
    const std::uint64_t evals = y.neuron_updates - y.spikes();
    CHECK(evals >= 12);  // every one of the 12 outputs is evaluated at least once
    CHECK(b.dense_ops - a.dense_ops == 2 * evals);
    CHECK(b.bytes_read[weights] - a.bytes_read[weights] == 2 * 4 * evals);
    CHECK(b.bytes_read[membrane] - a.bytes_read[membrane] == 8 * evals);
    CHECK(b.total_acs() == a.total_acs());
  }

  TEST_CASE("the SNN engine refuses bad options and non-spiking graphs") {
    const Graph g = one_population();
    CHECK_THROWS_AS(snn::Engine(g, {snn::FireMode::strict, 0, 1}), UsageError);
    CHECK_THROWS_WITH_AS(snn::Engine(g, {snn::FireMode::strict, 0, 1}), doctest::Contains("max_steps must be >= 1"),
                         UsageError);
    CHECK_THROWS_AS(snn::Engine(g, {snn::FireMode::strict, 10, -1}), UsageError);
    CHECK(snn::Engine(g, {snn::FireMode::strict, 10, 0}).threads() >= 1);  // 0: every core
    const TwoLayer net = two_layer(1);
    CHECK_THROWS_WITH_AS(snn::Engine(net.qann), doctest::Contains("stage 'spiking'"), GraphError);
    snn::Engine e(g);
    const Tensor wrong(DType::f32, {5});
    CHECK_THROWS_AS(e.run(std::span<const Tensor>(&wrong, 1)), ShapeError);
  }

  TEST_CASE("--max-memory: state that does not fit is refused before allocation with the figure and passes shrink to fit and to pass_bytes") {
    const TwoLayer net = two_layer(3);
    const snn::MemoryEstimate mem = snn::Engine(net.snn).memory();
    REQUIRE(mem.parameter_bytes > 0);
    REQUIRE(mem.per_sample() > 0);
    snn::EngineOptions tight{snn::FireMode::strict, 1000, 1};
    tight.max_memory_bytes = mem.total(1) - 1;
    const std::string figure = "SNN engine: the simulation needs " + mem.describe(1);
    CHECK_THROWS_WITH_AS(snn::Engine(net.snn, tight), doctest::Contains(figure.c_str()), LimitError);
    // Room for exactly two samples: run_batch of 9 samples at batch 64 and 2 threads runs in passes that fit
    // and gives the results of the unlimited engine.
    snn::EngineOptions two{snn::FireMode::strict, 1000, 2};
    two.max_memory_bytes = mem.total(2);
    snn::Engine limited(net.snn, two), free(net.snn, {snn::FireMode::strict, 1000, 1});
    snn::EngineOptions one_per_pass{snn::FireMode::strict, 1000, 1};
    one_per_pass.pass_bytes = 1;  // every pass holds a single sample
    snn::Engine single(net.snn, one_per_pass);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<std::vector<Tensor>> samples(9);
    for (auto& s : samples) {
      Tensor x(DType::f32, {3, 5});
      for (float& v : x.span<float>()) v = nd(rng);
      s.push_back(std::move(x));
    }
    Ledger la = Ledger::for_graph(net.snn), lb = Ledger::for_graph(net.snn);
    const auto a = limited.run_batch(samples, &la);
    const auto b = free.run_batch(samples, &lb);
    Ledger lc = Ledger::for_graph(net.snn);
    const auto c = single.run_batch(samples, &lc);
    REQUIRE(a.size() == 9);
    REQUIRE(c.size() == 9);
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].outputs[0].identical(b[i].outputs[0]));
      CHECK(c[i].outputs[0].identical(b[i].outputs[0]));
      CHECK(a[i].steps == b[i].steps);
      CHECK(c[i].steps == b[i].steps);
    }
    for (const Ledger* l : {&la, &lc}) {
      CHECK(l->total().spikes() == lb.total().spikes());
      CHECK(l->total().total_acs() == lb.total().total_acs());
      CHECK(l->total().neuron_updates == lb.total().neuron_updates);
      CHECK(l->samples == lb.samples);
    }
  }

  TEST_CASE("run_batch: a sample stopped at max_steps is reported not quiescent, the others quiesce") {
    const Graph g = one_population();
    // Levels up to 7 need 7 strict steps; the second sample needs only 1.
    std::vector<std::vector<Tensor>> samples;
    samples.push_back({Tensor::from_vector<float>({6}, {0.0f, 0.26f, -0.74f, 3.3f, -10.0f, 0.25f})});
    samples.push_back({Tensor::from_vector<float>({6}, {0.0f, 0.5f, 0.0f, 0.0f, -0.5f, 0.0f})});
    snn::Engine e(g, {snn::FireMode::strict, 3, 1});
    const auto r = e.run_batch(samples);
    REQUIRE(r.size() == 2);
    CHECK_FALSE(r[0].quiescent);
    CHECK(r[0].steps == 3);
    CHECK(r[1].quiescent);
    CHECK(r[1].steps == 1);
  }

  TEST_CASE("the dense prologue's movement, Concat and broadcast Add equal the reference kernels") {
    // x [2, 3, 4] -> Transpose [3, 2, 4]; a constant class token expanded to [3, 1, 4] (computed once) and
    // concatenated in front -> [3, 3, 4]; plus a [3, 4] position table broadcast -> one population with a fine
    // step, so a wrong index map would change most levels. Its counts must be the levels of the reference's.
    Graph g;
    g.stage = Stage::spiking;
    const ValueId x = test::input(g, "x", DType::f32, {2, 3, 4});
    const ValueId t = test::node(g, OpKind::Transpose, {x}, TransposeAttrs{{1, 0, 2}}, 1, "t")[0];
    std::vector<float> cls(4), pos(12);
    for (int i = 0; i < 4; ++i) cls[static_cast<std::size_t>(i)] = 0.3f * static_cast<float>(i) - 0.5f;
    for (int i = 0; i < 12; ++i) pos[static_cast<std::size_t>(i)] = 0.07f * static_cast<float>(i * 5 % 12) - 0.4f;
    const ValueId cv = g.add_constant("cls", Tensor::from_vector<float>({1, 1, 4}, cls));
    const ValueId shape = test::ints(g, "shape", {3, 1, 4});
    const ValueId e = test::node(g, OpKind::Expand, {cv, shape}, NoAttrs{}, 1, "e")[0];
    const ValueId c = test::node(g, OpKind::Concat, {e, t}, AxisAttrs{1}, 1, "cat")[0];
    const ValueId pv = g.add_constant("pos", Tensor::from_vector<float>({3, 4}, pos));
    const ValueId a = test::node(g, OpKind::Add, {c, pv}, NoAttrs{}, 1, "add")[0];
    const ValueId y = test::node(g, OpKind::SpikeNeuron, {a}, NeuronAttrs{}, 1, "pop")[0];
    g.value(y).quant = act_quant(1.0f / 64.0f, -2048, 2047, 12);
    g.set_outputs({y});
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> d(-3.0f, 3.0f);
    std::vector<float> xs(24);
    for (float& v : xs) v = d(rng);
    const Tensor in = Tensor::from_vector<float>({2, 3, 4}, xs);
    // The reference, node by node.
    auto ref = [&](ValueId out, std::vector<const Tensor*> ins) { return ann::evaluate_reference(g, g.value(out).producer, ins).at(0); };
    const Tensor rt = ref(t, {&in});
    const Tensor re = ref(e, {&*g.value(cv).constant, &*g.value(shape).constant});
    const Tensor rc = ref(c, {&re, &rt});
    const Tensor ra = ref(a, {&rc, &*g.value(pv).constant});
    REQUIRE(ra.numel() == 36);
    snn::Engine eng(g, {snn::FireMode::burst, 8, 1});
    const snn::RunResult r = eng.run(std::span<const Tensor>(&in, 1));
    const std::vector<std::int32_t> counts = eng.counts(g.value(y).name);
    REQUIRE(counts.size() == 36);
    int bad = 0, nonzero = 0;
    for (std::int64_t i = 0; i < 36; ++i) {
      const std::int32_t want = ann::quantize_level(ra.data<float>()[i], Activation::none, 1.0f / 64.0f, -2048, 2047);
      bad += counts[static_cast<std::size_t>(i)] != want;
      nonzero += want != 0;
    }
    CHECK(r.quiescent);
    CHECK(bad == 0);
    CHECK(nonzero > 30);
  }
}

}  // namespace snnconv
