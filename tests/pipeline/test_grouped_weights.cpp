// Grouped weight quantization (QuantizeOptions::weight_group) end to end on a real model: the quantizer's
// block steps and exact levels, the model file round trip, and SNN == QANN bit for bit at W4.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/converter/quantize.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

pipeline::QuantizeModelOptions options(int wbits, int abits, std::int64_t group) {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / "examples/fashion_vit/fashion_vit_relu.onnx").string();
  o.calib_samples = 8;
  o.quant.weight_bits = wbits;
  o.quant.act_bits = abits;
  o.quant.weight_group = group;
  return o;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("quantize_weight: per channel and per group of rows from each block's max |w|") {
    // [4, 2] at 3 bits (levels -3..3). Column 0: rows 0-1 max 0.6, rows 2-3 max 3; column 1: 0.3 and 0.9.
    const Tensor w = Tensor::from_vector<float>({4, 2}, {0.6f, -0.3f, 0.2f, 0.1f, 3.0f, 0.9f, -1.0f, 0.5f});
    const WeightLevels ch = quantize_weight(w, 3, 0, "Linear 'fc'");
    CHECK(ch.quant.axis == 1);
    CHECK(ch.quant.group_size == 0);
    REQUIRE(ch.quant.scale.size() == 2);
    CHECK(ch.quant.scale[0] == 1.0f);                         // 3 / 3
    CHECK(ch.quant.scale[1] == doctest::Approx(0.3f));        // 0.9 / 3
    CHECK(ch.levels == std::vector<float>{1, -1, 0, 0, 3, 3, -1, 2});  // 0.5 / 0.3 = 1.67 -> 2
    const WeightLevels gr = quantize_weight(w, 3, 2, "Linear 'fc'");
    CHECK(gr.quant.axis == 0);
    CHECK(gr.quant.group_size == 2);
    REQUIRE(gr.quant.scale.size() == 4);  // [K/G][N]
    CHECK(gr.quant.scale[0] == doctest::Approx(0.2f));
    CHECK(gr.quant.scale[1] == doctest::Approx(0.1f));
    CHECK(gr.quant.scale[2] == doctest::Approx(1.0f));
    CHECK(gr.quant.scale[3] == doctest::Approx(0.3f));
    CHECK(gr.levels == std::vector<float>{3, -3, 1, 1, 3, 3, -1, 2});
    // G = K is per channel, bit for bit.
    const WeightLevels whole = quantize_weight(w, 3, 4, "x");
    CHECK(whole.levels == ch.levels);
    CHECK(whole.quant == ch.quant);
    CHECK_THROWS_WITH_AS(quantize_weight(w, 3, 3, "Linear 'fc'"), "Linear 'fc': weight group 3 does not divide its K = 4",
                         UsageError);
    CHECK_THROWS_AS(quantize_weight(w, 3, -1, "Linear 'fc'"), UsageError);
    CHECK(weight_step_bytes(gr.quant) == 16);
  }

  TEST_CASE("fashion_vit W4 with groups of 16 rows: block steps and model file round trip and SNN == QANN exactly") {
    const pipeline::QuantizeModelOptions o = options(4, 6, 16);
    const pipeline::QuantizedModel m = pipeline::quantize_model(o);
    int grouped = 0;
    for (const Node& n : m.qann.nodes()) {
      if (n.kind != OpKind::Linear) continue;
      const Value& w = m.qann.value(n.inputs[1]);
      REQUIRE(w.quant);
      const std::int64_t k = w.constant->dim(0), nn = w.constant->dim(1);
      CHECK(w.quant->group_size == 16);
      CHECK(w.quant->axis == 0);
      CHECK(static_cast<std::int64_t>(w.quant->scale.size()) == (k / 16) * nn);
      const ann::IntWeights iw = ann::int_weights(w, n.name);  // exact integer levels in -7..7
      CHECK(iw.groups == k / 16);
      grouped += 1;
    }
    CHECK(grouped == 25);  // 4 blocks x (q, k, v, o, fc1, fc2) + head

    // Model file round trip: every QuantParams and the metadata survive; the reloaded QANN computes the same.
    const std::filesystem::path file =
        std::filesystem::temp_directory_path() / ("snnconv-grouped-" + std::to_string(::getpid()) + ".snn.h5");
    pipeline::save_quantized_model(m, o, file.string());
    const pipeline::QuantizedModel back = pipeline::load_quantized_model(file.string());
    std::filesystem::remove(file);
    REQUIRE(back.qann.num_values() == m.qann.num_values());
    int quant_differs = 0;
    for (std::uint32_t i = 0; i < m.qann.num_values(); ++i)
      quant_differs += !(m.qann.value(ValueId(i)).quant == back.qann.value(ValueId(i)).quant);
    CHECK(quant_differs == 0);

    const auto samples = pipeline::load_samples(m, "test", 3);
    REQUIRE(samples.size() == 3);
    for (const auto& s : samples) {
      const Tensor a = ann::run_qann(m.qann, s.inputs).outputs.at(0), b = ann::run_qann(back.qann, s.inputs).outputs.at(0);
      CHECK(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
    }
    for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
      pipeline::SpikingRunOptions so;
      so.mode = mode;
      so.check_exact = true;
      so.threads = 2;
      const auto r = pipeline::run_spiking(back, samples, so);
      MESSAGE("fashion_vit W4A6 g16 " << std::string(mode == snn::FireMode::strict ? "strict" : "burst") << ": mean steps "
                                      << r.mean_steps << ", spikes/inference " << r.spikes_per_inference);
      CHECK(r.output_mismatches == 0);
      CHECK(r.not_quiescent == 0);
      CHECK(r.spikes_per_inference > 0.0);
    }
  }

  TEST_CASE("a weight group that does not divide a Linear's K is a usage error naming it") {
    CHECK_THROWS_WITH_AS(pipeline::quantize_model(options(4, 8, 48)), doctest::Contains("does not divide its K = 64"),
                         UsageError);
    CHECK_THROWS_WITH_AS(pipeline::quantize_model(options(4, 8, -2)), doctest::Contains("--weight-group must be >= 1"),
                         UsageError);
  }
}

}  // namespace snnconv
