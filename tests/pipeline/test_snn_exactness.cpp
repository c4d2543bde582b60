// The conversion contract end to end: QANN -> convert_to_spiking -> SNN engine; at quiescence every
// population's count equals the QANN's integer level of the same quantization point, bit for bit.
#include <doctest/doctest.h>

#include <cstring>

#include "qann_graphs.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv {
namespace {

struct ExactnessStats {
  int samples = 0;
  int level_mismatches = 0;   // quantization-point elements whose count differs from the QANN level
  int output_mismatches = 0;  // output floats that differ in any bit
  int not_quiescent = 0;
  int max_steps_strict = 0, max_steps_burst = 0;
  long total_steps_strict = 0, total_steps_burst = 0;
  int strict_faster_than_burst = 0;
  long levels = 0, nonzero_levels = 0, clamped_levels = 0;  // over every quantization point: the test is not vacuous
};

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

int compare(const ann::QannResult& q, const snn::Engine& e, const snn::RunResult& r, int& output_mismatches) {
  int bad = 0;
  for (const auto& [name, lv] : q.levels) {
    const std::vector<std::int32_t> counts = e.counts(name);
    REQUIRE_MESSAGE(counts.size() == lv.q.size(), "population " << name);
    for (std::size_t i = 0; i < counts.size(); ++i) bad += counts[i] != lv.q[i];
  }
  REQUIRE(r.outputs.size() == q.outputs.size());
  for (std::size_t o = 0; o < q.outputs.size(); ++o) {
    const Tensor& qo = q.outputs[o];
    const Tensor& so = r.outputs[o];
    REQUIRE(qo.shape() == so.shape());
    const float* a = qo.data<float>();
    const float* b = so.data<float>();
    for (std::int64_t i = 0; i < qo.numel(); ++i) output_mismatches += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  }
  return bad;
}

ExactnessStats check_graph(const Graph& qann, const std::vector<Tensor>& samples) {
  const Graph snn_graph = convert_to_spiking(qann);
  snn::Engine strict(snn_graph, {snn::FireMode::strict, 4096, 1});
  snn::Engine burst(snn_graph, {snn::FireMode::burst, 4096, 1});
  snn::Engine strict2(snn_graph, {snn::FireMode::strict, 4096, 2});
  Ledger l1 = Ledger::for_graph(snn_graph), l2 = Ledger::for_graph(snn_graph);
  ExactnessStats st;
  for (const Tensor& x : samples) {
    const std::span<const Tensor> in(&x, 1);
    const ann::QannResult q = ann::run_qann(qann, in);
    for (const auto& [name, lv] : q.levels)
      for (std::int32_t v : lv.q) {
        ++st.levels;
        st.nonzero_levels += v != 0;
        st.clamped_levels += v == lv.n_min || v == lv.n_max;
      }
    const snn::RunResult rs = strict.run(in, &l1);
    st.level_mismatches += compare(q, strict, rs, st.output_mismatches);
    const snn::RunResult rb = burst.run(in);
    st.level_mismatches += compare(q, burst, rb, st.output_mismatches);
    const snn::RunResult r2 = strict2.run(in, &l2);
    st.level_mismatches += compare(q, strict2, r2, st.output_mismatches);
    for (std::size_t o = 0; o < rs.output_levels.size(); ++o) {
      CHECK(bitwise_equal(rs.output_levels[o], rb.output_levels[o]));
      CHECK(bitwise_equal(rs.output_levels[o], r2.output_levels[o]));
    }
    CHECK(r2.steps == rs.steps);
    st.not_quiescent += !rs.quiescent + !rb.quiescent;
    st.strict_faster_than_burst += rs.steps < rb.steps;
    st.max_steps_strict = std::max(st.max_steps_strict, rs.steps);
    st.max_steps_burst = std::max(st.max_steps_burst, rb.steps);
    st.total_steps_strict += rs.steps;
    st.total_steps_burst += rb.steps;
    ++st.samples;
  }
  CHECK(l1 == l2);  // ledgers bit-identical for 1 and 2 threads
  CHECK(l1.samples == samples.size());
  CHECK(l1.total().spikes() > 0);
  return st;
}

void require_exact(const ExactnessStats& st, const char* what, int bits) {
  MESSAGE(std::string(what) << " " << bits << "-bit: " << st.samples << " samples, " << st.levels << " levels ("
                            << st.nonzero_levels << " non-zero, " << st.clamped_levels
                            << " at a bound), steps strict max " << st.max_steps_strict << " mean "
                            << static_cast<double>(st.total_steps_strict) / st.samples << ", burst max "
                            << st.max_steps_burst);
  CHECK(st.nonzero_levels * 20 > st.levels);  // at least 5% of the levels are non-zero
  CHECK(st.samples >= 64);
  CHECK(st.level_mismatches == 0);
  CHECK(st.output_mismatches == 0);
  CHECK(st.not_quiescent == 0);
  CHECK(st.strict_faster_than_burst == 0);
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("SNN of a quantized MLP equals the QANN exactly at quiescence (2, 3, 4, 6 bit)") {
    for (int bits : {2, 3, 4, 6}) {
      CAPTURE(bits);
      std::vector<Tensor> samples;
      const Graph g = test::make_qann_mlp(1000 + static_cast<std::uint64_t>(bits), bits, &samples, 64);
      require_exact(check_graph(g, samples), "MLP", bits);
    }
  }

  TEST_CASE("SNN of a pre-LN transformer block equals the QANN exactly at quiescence (2, 3, 4, 6 bit)") {
    for (int bits : {2, 3, 4, 6}) {
      CAPTURE(bits);
      std::vector<Tensor> samples;
      const Graph g = test::make_qann_block(2000 + static_cast<std::uint64_t>(bits), bits, &samples, 64);
      require_exact(check_graph(g, samples), "block", bits);
    }
  }

  TEST_CASE("SNN with grouped weights (G 4) equals the QANN exactly at quiescence (2 4 6 bit)") {
    for (int bits : {2, 4, 6}) {
      CAPTURE(bits);
      std::vector<Tensor> samples;
      Graph mlp = test::make_qann_mlp(3000 + static_cast<std::uint64_t>(bits), bits, &samples, 64);
      CHECK(test::group_weights(mlp, 4, 7) == 2);  // fc1 K 12, fc2 K 16
      require_exact(check_graph(mlp, samples), "grouped MLP", bits);
      samples.clear();
      Graph block = test::make_qann_block(4000 + static_cast<std::uint64_t>(bits), bits, &samples, 64);
      CHECK(test::group_weights(block, 4, 8) == 6);  // q, k, v, o (K 8), fc1 (K 8), fc2 (K 16)
      require_exact(check_graph(block, samples), "grouped block", bits);
    }
  }

  TEST_CASE("a run stopped at max_steps reports it is not quiescent") {
    std::vector<Tensor> samples;
    const Graph g = test::make_qann_block(77, 6, &samples, 1);
    const Graph s = convert_to_spiking(g);
    snn::Engine e(s, {snn::FireMode::strict, 2, 1});
    const snn::RunResult r = e.run(std::span<const Tensor>(samples.data(), 1));
    CHECK(r.steps == 2);
    CHECK_FALSE(r.quiescent);
  }

  TEST_CASE("a quantized graph is refused by the SNN engine until converted") {
    const Graph g = test::make_qann_mlp(5, 4);
    CHECK_THROWS_AS(snn::Engine{g}, GraphError);
  }
}

}  // namespace snnconv
