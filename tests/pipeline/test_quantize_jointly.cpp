// Data-parallel quantization (pipeline::quantize_jointly, docs/scaling.md) without MPI: K threads are the K ranks
// of a job (thread_communicator.hpp). Each rank calibrates its shard of the calibration samples, the values of
// each point move to the rank that owns it, which chooses its steps, and every rank converts: every rank's model
// must be one process's model byte for byte (its model file image), and an error on one rank must reach every rank
// as the first failing rank's error.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "snnconv/converter/fuse.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "thread_communicator.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

struct Job {
  pipeline::ModelSource src;
  Graph canonical;
  pipeline::QuantizeModelOptions o;
};

// fashion_vit_relu at A4 calibrated on 11 training images held in memory (the rank threads read no file: libhdf5
// is not thread-safe), keeping at most 700 values per point so the kept values depend on each sample's place.
Job fashion_vit_job() {
  Job j;
  pipeline::SourceOptions so;
  so.model = (kRoot / "examples" / "fashion_vit" / "fashion_vit_relu.onnx").string();
  j.src = pipeline::open_model(so);
  j.canonical = j.src.bind(1);
  fuse_graph(j.canonical);
  j.o.model = so.model;
  j.o.calib_samples = 11;
  j.o.quant.act_bits = 4;
  j.o.quant.max_values = 700;
  j.o.calib_rows = std::make_shared<const pipeline::RowSet>(pipeline::load_rows(
      j.src, (kRoot / "examples" / "data" / "fashion_mnist_small.h5").string(), pipeline::RowRequest{"train", 11, 0}));
  return j;
}

// Runs `rank_body(comm)` on `ranks` threads, one rank each.
template <typename F> void run_ranks(int ranks, F rank_body) {
  Hub hub(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(hub, r);
      rank_body(comm);
    });
  for (std::thread& t : threads) t.join();
}

TEST_CASE("quantize_jointly: every rank's model is one process's, byte for byte, at 2, 3 and 4 ranks" *
          doctest::test_suite("unit")) {
  const Job j = fashion_vit_job();
  auto prepare = [&] { return pipeline::prepare_model(j.src, j.canonical, j.o); };
  const pipeline::QuantizedModel one = pipeline::quantize_jointly(nullptr, j.o, prepare);
  REQUIRE(one.calibration_samples == 11);
  REQUIRE(!one.points.empty());
  const std::string want = pipeline::quantized_model_image(one, j.o, "fashion_vit.snn.h5");
  for (int ranks : {2, 3, 4}) {
    CAPTURE(ranks);
    std::vector<std::optional<pipeline::QuantizedModel>> got(static_cast<std::size_t>(ranks));
    run_ranks(ranks, [&](Communicator& comm) {
      got[static_cast<std::size_t>(comm.rank())] = pipeline::quantize_jointly(&comm, j.o, prepare);
    });
    int differ = 0;
    for (const auto& m : got) {
      REQUIRE(m.has_value());
      differ += pipeline::quantized_model_image(*m, j.o, "fashion_vit.snn.h5") != want;
      differ += m->calibration_samples != one.calibration_samples || m->calibration_description != one.calibration_description;
      differ += !(m->canonical.num_nodes() == one.canonical.num_nodes());
    }
    CHECK(differ == 0);
  }
}

TEST_CASE("quantize_jointly: a rank without calibration samples sends nothing and the model is still one process's" *
          doctest::test_suite("unit")) {
  Job j = fashion_vit_job();
  j.o.calib_samples = 2;  // 3 ranks: rank 0 has none (shard [0, 0)), ranks 1 and 2 one sample each
  auto prepare = [&] { return pipeline::prepare_model(j.src, j.canonical, j.o); };
  const pipeline::QuantizedModel one = pipeline::quantize_jointly(nullptr, j.o, prepare);
  REQUIRE(one.calibration_samples == 2);
  const std::string want = pipeline::quantized_model_image(one, j.o, "fashion_vit.snn.h5");
  std::vector<std::optional<pipeline::QuantizedModel>> got(3);
  run_ranks(3, [&](Communicator& comm) {
    got[static_cast<std::size_t>(comm.rank())] = pipeline::quantize_jointly(&comm, j.o, prepare);
  });
  for (const auto& m : got) {
    REQUIRE(m.has_value());
    CHECK(m->calibration_samples == 2);
    CHECK(pipeline::quantized_model_image(*m, j.o, "fashion_vit.snn.h5") == want);
  }
}

TEST_CASE("quantize_jointly: the first failing rank's error reaches every rank with its class and message" *
          doctest::test_suite("unit")) {
  const Job j = fashion_vit_job();
  for (int first_bad : {0, 1}) {
    CAPTURE(first_bad);
    std::vector<std::string> caught(3);
    run_ranks(3, [&](Communicator& comm) {
      auto prepare = [&] {
        if (comm.rank() == first_bad) throw NumericError("rank " + std::to_string(first_bad) + " saw a NaN", {"bad.h5", "", "", ""});
        if (comm.rank() == 2) throw UsageError("rank 2 has no data");
        return pipeline::prepare_model(j.src, j.canonical, j.o);
      };
      try {
        (void)pipeline::quantize_jointly(&comm, j.o, prepare);
        caught[static_cast<std::size_t>(comm.rank())] = "no error";
      } catch (const NumericError& e) {
        caught[static_cast<std::size_t>(comm.rank())] = std::string("numeric: ") + e.what() + " @" + e.context().file;
      } catch (const Error& e) {
        caught[static_cast<std::size_t>(comm.rank())] = std::string("other: ") + e.what();
      }
    });
    for (const std::string& c : caught) {
      CHECK(c.find("numeric: ") == 0);
      CHECK(c.find("rank " + std::to_string(first_bad) + " saw a NaN") != std::string::npos);
      CHECK(c.find("@bad.h5") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace snnconv
