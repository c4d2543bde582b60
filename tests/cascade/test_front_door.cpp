// run_pipeline(): the stages behind `snnconv MODEL.onnx` on the bundled example and on a fixture with no data.
#include <doctest/doctest.h>

#include <filesystem>

#include "snnconv/cascade/front_door.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

std::vector<std::string> stage_names(const cascade::PipelineResult& r) {
  std::vector<std::string> names;
  for (const auto& s : r.stages) names.push_back(s.name + ":" + s.status);
  return names;
}

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("the pipeline on fashion_vit_relu: stages and ANN ledger and prices and sensitivity") {
  const auto model = kRoot / "examples/fashion_vit/fashion_vit_relu.onnx";
  REQUIRE_MESSAGE(std::filesystem::exists(model), model.string() << " is committed");
  cascade::PipelineOptions o;
  o.model = model.string();
  o.samples = 40;
  o.batch = 16;  // 16 + 16 + a remainder batch of 8
  o.threads = 2;
  o.profiles = {"loihi", "systolic_int8"};
  o.snn_samples = 6;
  o.calib_samples = 16;
  int finished = 0;
  o.progress = [&](const cascade::PipelineProgress& p) {
    CHECK(p.count == 8);
    finished += p.finished ? 1 : 0;
  };
  const cascade::PipelineResult r = cascade::run_pipeline(o);
  CHECK(finished == 8);
  CHECK(stage_names(r) == std::vector<std::string>{"import:done", "fuse:done", "ann:done", "compress:done",
                                                   "convert:done", "snn:done", "baselines:done", "price:done",
                                                   "sensitivity:done", "findings:done"});
  REQUIRE(r.snn.has_value());
  CHECK(r.snn->samples == 6);
  CHECK(r.snn->ledger.samples == 6);
  CHECK(r.snn->qann_value == r.snn->snn_value);  // the SNN at quiescence equals the QANN
  CHECK(r.snn->not_quiescent == 0);
  CHECK(r.snn->mean_steps > 1.0);
  CHECK(!r.snn->layers.empty());
  CHECK(r.snn->metric_vs_step.size() == static_cast<std::size_t>(r.snn->max_steps_used));
  CHECK(r.model.macs_per_inference == 2'427'008);
  CHECK(r.model.params == 139'018);
  CHECK(r.model.bound_dims == "batch=1");
  REQUIRE(r.ann.evaluated);
  CHECK(r.ann.samples == 40);
  CHECK(r.ann.ledger.samples == 40);
  CHECK(r.ann.ledger.node_names.size() == r.ann.graph.num_nodes());
  CHECK(r.ann.ledger.total().total_macs() == 40ull * 2'427'008);
  // compute-only, then the two profiles; the convention prices every fp32 MAC at 4.6 pJ.
  REQUIRE(r.ann_prices.size() == 3);
  CHECK(r.ann_prices[0].profile == "compute-only");
  CHECK(r.ann_prices[0].result.energy_per_inference_pj() == doctest::Approx(2'427'008 * 4.6));
  CHECK(r.ann_prices[1].profile == "loihi");
  REQUIRE(r.ann_prices[1].mapping.has_value());
  CHECK(r.ann_prices[1].result.fits);
  CHECK(r.ann_prices[2].kind == "dense");
  CHECK(r.ann_prices[2].result.dram_bytes > 0);
  REQUIRE(r.snn_prices.size() == 3);
  CHECK(r.snn_prices[1].result.energy_per_inference_pj() > 0);
  CHECK(!r.comparisons.empty());
  // Rows: compute-only's 2 convention constants + every constant of the two profiles.
  CHECK(r.sensitivity.size() == 2 + r.profiles[0].constants.size() + r.profiles[1].constants.size());
  CHECK(r.sensitivity[0].profile == "compute-only");
  for (const auto& row : r.sensitivity) {
    if (row.key != "convention_mac_energy") continue;
    CHECK(row.points[1].energy_per_inference_pj[0] == doctest::Approx(2 * 2'427'008 * 4.6));
  }
  // Like-for-like baselines: fp32, W8A8 and the QANN at the SNN's bits (W8A4), scored on the SNN's samples; the
  // quantized ones priced on the dense engine's counts of their graphs.
  CHECK(r.sensitivity_subjects == std::vector<std::string>{"ann", "ann_w8a8", "ann_qann", "snn"});
  REQUIRE(r.baselines.size() == 3);
  CHECK(r.baselines[0].subject == "ann");
  CHECK(r.baselines[1].label == "W8A8");
  CHECK(r.baselines[2].label == "W8A4");
  CHECK(r.baselines[2].snn_bits);
  CHECK(r.baselines[2].value == r.snn->qann_value);  // the SNN's own QANN: equal bits, equal accuracy
  for (const cascade::AnnBaseline& b : r.baselines) {
    INFO(b.label);
    CHECK(b.samples == 6);
    REQUIRE(b.prices.size() == 3);
    CHECK(b.prices[1].result.fits);
    if (b.subject == "ann") continue;
    CHECK(b.ledger.samples == 6);
    CHECK(b.ledger.total().total_macs() == 6ull * 2'427'008);  // the same MACs, at quantized widths
    CHECK(b.ledger.total().macs[32] == 6ull * 50'176);        // but the patch embedding's, on real-valued pixels
  }
  // On the dense accelerator the int8 MACs of W8A8 cost less than the fp32 ones.
  CHECK(r.baselines[1].prices[2].result.energy_per_inference_pj() < r.ann_prices[2].result.energy_per_inference_pj());
  // The findings: one per column; each names a baseline at least as accurate as the SNN, or the most accurate.
  REQUIRE(r.findings.profiles.size() == 3);
  for (const cascade::Finding& f : r.findings.profiles) {
    INFO(f.snn_profile);
    REQUIRE(f.compared);
    CHECK((f.basis == "equal_accuracy" || f.basis == "most_accurate"));
    CHECK(f.snn_pj == doctest::Approx(r.snn_prices[f.snn_profile == "compute-only" ? 0 : f.snn_profile == "loihi" ? 1 : 2]
                                           .result.energy_per_inference_pj()));
    // The causes add up to the difference.
    double delta = 0;
    for (const cascade::Cause& c : f.causes) delta += c.delta_pj();
    CHECK(delta == doctest::Approx(f.snn_pj - f.ann_pj));
    REQUIRE(f.activity.has_value());
    CHECK(f.break_even.size() == 3);
  }
}

TEST_CASE("a model without data: the ANN is priced on one static inference, the SNN made on synthetic inputs") {
  const auto model = kRoot / "examples/fixtures/vit_op17_static.onnx";  // fixed batch 2, no snnconv.data
  cascade::PipelineOptions o;
  o.model = model.string();
  o.profiles = {"systolic_int8"};
  o.sensitivity_factors.clear();
  o.calib_samples = 4;
  o.snn_samples = 4;
  const cascade::PipelineResult r = cascade::run_pipeline(o);
  CHECK_FALSE(r.ann.evaluated);
  CHECK(r.ann.not_evaluated_reason.find("snnconv.data") != std::string::npos);
  CHECK(r.ann.ledger.samples == 2);  // one pass of the fixed batch of 2
  CHECK(r.ann.ledger.total().total_macs() == 2ull * static_cast<std::uint64_t>(r.model.macs_per_inference));
  REQUIRE(r.ann_prices.size() == 2);
  CHECK(r.ann_prices[1].result.energy_per_inference_pj() > 0);
  CHECK(r.sensitivity.empty());
  CHECK(std::count_if(r.stages.begin(), r.stages.end(), [](const cascade::StageRecord& st) {
          return st.name == "sensitivity" && st.status == "skipped";
        }) == 1);
  CHECK(r.model.task == "classification");  // no metadata: inferred from the [B, 10] float output
  CHECK(r.model.task_source == "inferred");
  // No data to calibrate on: synthetic inputs, said in the section, the stage note and the report's notes.
  REQUIRE(r.snn.has_value());
  CHECK(r.snn->calibration_source == "synthetic");
  CHECK(r.snn->calibration_samples == 4);
  CHECK(r.snn->metric.empty());  // nothing to score
  CHECK(r.snn->samples == 4);
  CHECK(r.snn->ledger.samples == 4);  // two runs of the fixed batch of 2
  CHECK(r.snn->ledger.total().spikes() > 0);
  CHECK(r.snn->cascade_status.find("skipped") == 0);
  bool noted = false;
  for (const std::string& n : r.notes) noted = noted || n.find("synthetic inputs") != std::string::npos;
  CHECK(noted);
  REQUIRE(r.snn_prices.size() == 2);
  CHECK(r.snn_prices[1].result.energy_per_inference_pj() > 0);
}
}

}  // namespace snnconv
