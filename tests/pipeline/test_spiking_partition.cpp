// The model-parallel SNN engine (snn::Engine::partition, docs/scaling.md) without MPI: K threads, each an engine
// that owns its share of fashion_vit's units, exchange events through an in-process Communicator. Rank 0's
// outputs and the gathered ledger must equal one engine's bit for bit, and the bytes handed to the link must be
// the ledger's link bytes. The same code runs between processes under mpirun (tests/tools/mpi_partition.sh);
// here it also runs in the sanitizer pass.
#include <doctest/doctest.h>

#include <algorithm>

#include <cstring>
#include <filesystem>
#include <thread>

#include "snnconv/pipeline/spiking.hpp"
#include "thread_communicator.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

pipeline::QuantizedModel fashion_vit() {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / "examples" / "fashion_vit" / "fashion_vit_relu.onnx").string();
  o.calib_samples = 8;
  o.quant.act_bits = 4;
  return pipeline::quantize_model(o);
}

Counters without_link(Counters c) {
  c.link_events = 0;
  c.link_bytes = 0;
  return c;
}

TEST_CASE("model-parallel SNN over 2 and 3 in-process ranks equals one engine bit for bit, bytes = ledger link bytes" *
          doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = fashion_vit();
  const auto samples = pipeline::load_samples(m, "test", 3);
  std::vector<std::vector<Tensor>> inputs;
  for (const auto& s : samples) inputs.push_back(s.inputs);
  for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
    snn::Engine one(m.snn, {mode, 4096, 1});
    Ledger reference = Ledger::for_graph(m.snn);
    const std::vector<snn::RunResult> want = one.run_batch(inputs, &reference);
    for (int k : {2, 3}) {
      CAPTURE(k);
      Hub hub(k);
      std::vector<std::unique_ptr<ThreadCommunicator>> comms;
      for (int r = 0; r < k; ++r) comms.push_back(std::make_unique<ThreadCommunicator>(hub, r));
      std::vector<std::vector<snn::RunResult>> got(static_cast<std::size_t>(k));
      std::vector<Ledger> ledgers(static_cast<std::size_t>(k), Ledger::for_graph(m.snn));
      std::vector<snn::Placement> placements(static_cast<std::size_t>(k));
      std::vector<std::string> errors(static_cast<std::size_t>(k));
      std::vector<std::thread> threads;
      for (int r = 0; r < k; ++r)
        threads.emplace_back([&, r] {
          const auto i = static_cast<std::size_t>(r);
          try {
            snn::Engine e(m.snn, {mode, 4096, 1});
            placements[i] = e.place_by_work(k);
            e.partition(comms[i].get(), placements[i]);
            got[i] = e.run_batch(inputs, &ledgers[i]);
          } catch (const std::exception& ex) {
            errors[i] = ex.what();
          }
        });
      for (auto& t : threads) t.join();
      for (const std::string& e : errors) REQUIRE(e.empty());
      // Every rank computed the same placement, with units on every rank.
      for (const auto& p : placements) CHECK(p.node_rank == placements[0].node_rank);
      for (std::int64_t u : placements[0].units) CHECK(u > 0);
      CHECK(!placements[0].cut_values.empty());
      // A movement on a cut sends its own events, as a routing table at the sender would: at 2 ranks the class
      // token's Gather is cut (the head reads it on rank 0), not the whole final population it selects from (a
      // folded movement would have sent that).
      if (k == 2) {
        const auto& cut = placements[0].cut_values;
        CHECK(std::find(cut.begin(), cut.end(), "/Gather_1_output_0_q") != cut.end());
        CHECK(std::find(cut.begin(), cut.end(), "/norm/LayerNormalization_output_0_q") == cut.end());
      }
      // Rank 0 reads the outputs; every rank agrees on steps and quiescence.
      for (std::size_t s = 0; s < want.size(); ++s) {
        for (int r = 0; r < k; ++r) {
          CHECK(got[static_cast<std::size_t>(r)][s].steps == want[s].steps);
          CHECK(got[static_cast<std::size_t>(r)][s].quiescent == want[s].quiescent);
        }
        REQUIRE(got[0][s].outputs.size() == want[s].outputs.size());
        for (std::size_t o = 0; o < want[s].outputs.size(); ++o)
          CHECK(std::memcmp(got[0][s].outputs[o].raw(), want[s].outputs[o].raw(), want[s].outputs[o].nbytes()) == 0);
        CHECK(got[1][s].outputs.empty());
      }
      // Rank 0's gathered ledger is one engine's, plus the link counters; the other ranks' stay untouched.
      const Ledger& l = ledgers[0];
      REQUIRE(l.per_node.size() == reference.per_node.size());
      std::size_t differing = 0;
      for (std::size_t i = 0; i < l.per_node.size(); ++i) differing += !(without_link(l.per_node[i]) == reference.per_node[i]);
      CHECK(differing == 0);
      REQUIRE(l.per_step.size() == reference.per_step.size());
      for (std::size_t t = 0; t < l.per_step.size(); ++t) CHECK(without_link(l.per_step[t]) == reference.per_step[t]);
      CHECK(l.samples == reference.samples);
      CHECK(ledgers[1].total().spikes() == 0);
      // The bytes every rank handed to the link are the ledger's link bytes on the rows it owns.
      std::vector<std::uint64_t> by_rank(static_cast<std::size_t>(k), 0);
      for (std::size_t i = 0; i < l.per_node.size(); ++i)
        by_rank[static_cast<std::size_t>(placements[0].node_rank[i])] += l.per_node[i].link_bytes;
      for (int r = 0; r < k; ++r) CHECK(by_rank[static_cast<std::size_t>(r)] == comms[static_cast<std::size_t>(r)]->bytes_sent());
      const Counters total = l.total();
      CHECK(total.link_events > 0);
      if (mode == snn::FireMode::strict) CHECK(total.link_bytes == 4 * total.link_events);
      if (mode == snn::FireMode::burst) CHECK(total.link_bytes >= 5 * total.link_events);
    }
  }
}

TEST_CASE("a placement that splits a current, a rank count that differs, a bad group list are refused" *
          doctest::test_suite("unit")) {
  const pipeline::QuantizedModel m = fashion_vit();
  snn::Engine e(m.snn, {});
  Hub hub(2);
  ThreadCommunicator c0(hub, 0);
  snn::Placement p = e.place_by_work(2);
  snn::Placement split = p;
  for (std::size_t i = 0; i < split.node_rank.size(); ++i) split.node_rank[i] = static_cast<int>(i % 2);
  CHECK_THROWS_AS(e.partition(&c0, split), GraphError);
  CHECK_THROWS_AS(e.partition(&c0, e.place_by_work(3)), UsageError);
  CHECK_THROWS_AS(e.partition(nullptr, p), UsageError);  // one process, two ranks asked
  CHECK_THROWS_AS(e.place_by_groups({0, 1}, 2, "chips"), UsageError);
  CHECK_THROWS_AS(e.place_by_work(0), UsageError);
}

}  // namespace
}  // namespace snnconv
