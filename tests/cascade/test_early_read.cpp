// The early-read cascade (early_read.hpp) on a hand-built QANN MLP converted to spiking: reads taken through
// the engine's step observer as run_spiking takes them, priced on loihi; and transitive continuation costs.
#include <doctest/doctest.h>

#include <algorithm>

#include "qann_graphs.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/cascade/cascade.hpp"
#include "snnconv/cascade/early_read.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv {
namespace {

std::int64_t argmax(const Tensor& t) {
  return static_cast<std::int64_t>(std::max_element(t.data<float>(), t.data<float>() + t.numel()) - t.data<float>());
}

cascade::StageOutcomes costs(std::vector<double> c, bool continues) {
  cascade::StageOutcomes s;
  for (double v : c) s.samples.push_back({0.5, true, v});
  s.continues_previous = continues;
  return s;
}

}  // namespace

TEST_SUITE("unit") {

TEST_CASE("continuation is transitive: a plan that skips a read still pays only the extra steps") {
  // One run read at three steps costing 2, 5 and 9; the plan {read 1, read 3} pays 2 then 9 - 2.
  const std::vector<cascade::StageOutcomes> st{costs({2.0}, false), costs({5.0}, true), costs({9.0}, true)};
  cascade::Plan p{{0, 2}, {1.0}};  // threshold 1 > score 0.5: escalates
  CHECK(cascade::evaluate_plan(st, p).cost_pj == doctest::Approx(9.0));
  // Broken chain: stage 2 does not continue stage 1, so stage 3 is not a continuation of stage 1.
  std::vector<cascade::StageOutcomes> broken = st;
  broken[1].continues_previous = false;
  CHECK(cascade::evaluate_plan(broken, p).cost_pj == doctest::Approx(11.0));
}

TEST_CASE("early reads of one SNN run: per-sample prices, calibration and evaluation consistent") {
  std::vector<Tensor> xs;
  const int n = 24;
  const Graph qann = test::make_qann_mlp(11, 4, &xs, n);
  const Graph snn = convert_to_spiking(qann);
  const hw::Profile loihi = hw::find_profile("loihi");
  cascade::EarlyReadOptions o;
  o.steps = {2, 4};
  o.self_test = cascade::SelfTest::temporal;
  o.tolerance = 0.0;
  cascade::EarlyReadRecorder rec(snn, o, {loihi});
  CHECK(rec.read_steps() == std::vector<int>{1, 2, 4});  // the steps and their halves
  snn::Engine engine(snn, {snn::FireMode::strict, 256, 1});
  std::vector<std::int64_t> labels;
  std::vector<double> final_pj;
  for (int i = 0; i < n; ++i) {
    const std::span<const Tensor> in(&xs[static_cast<std::size_t>(i)], 1);
    Ledger own = Ledger::for_graph(snn);
    snn::StepObserver obs = [&](int t, const std::vector<Tensor>& outs) {
      if (std::binary_search(rec.read_steps().begin(), rec.read_steps().end(), t)) rec.on_read(i, t, false, outs[0], own);
    };
    const snn::RunResult r = engine.run(in, &own, &obs);
    rec.on_read(i, r.steps, true, r.outputs[0], own);
    labels.push_back(argmax(ann::run_qann(qann, in).outputs[0]));  // the QANN's answer: quiescence is exact
    const hw::PricingSubject subject = hw::make_pricing_subject("snn", snn, own);
    final_pj.push_back(hw::price_on_profile(subject, loihi).result.energy_per_inference_pj());
  }
  cascade::StageSpec base;
  base.model = "qann_mlp";
  const cascade::EarlyReadResult e = rec.finish(labels, base, "test");
  const cascade::CascadeResult& r = e.cascade;
  REQUIRE(r.stages.size() == 3);
  CHECK(e.calibration_profile == "loihi");
  CHECK(r.calib_samples == 12);
  CHECK(r.eval_samples == 12);
  CHECK(r.stages[2].spec.steps == 0);
  CHECK(r.stages[0].spec.steps == 2);
  // The SNN at quiescence equals the QANN: every answer is right there.
  CHECK(r.stages[2].calib_accuracy == 1.0);
  CHECK(r.largest_eval_accuracy == 1.0);
  // The quiescence stage's mean cost is the mean of each sample's whole-run price.
  double mean = 0.0;
  for (double v : final_pj) mean += v / n;
  CHECK(r.stages[2].cost_pj == doctest::Approx(mean).epsilon(1e-12));
  CHECK(r.stages[0].cost_pj <= r.stages[1].cost_pj);
  CHECK(r.stages[1].cost_pj <= r.stages[2].cost_pj);
  CHECK(r.saving == doctest::Approx(1.0 - r.eval.cost_pj / r.largest_eval_cost_pj));
  CHECK(r.saving >= 0.0);
  for (double x : r.eval.escalated) CHECK((x >= 0.0 && x <= 1.0));
  REQUIRE(e.profiles.size() == 1);
  CHECK(e.profiles[0].fits);
  CHECK(e.profiles[0].cascade_pj == doctest::Approx(r.eval.cost_pj));
  CHECK(e.profiles[0].saving == doctest::Approx(r.saving));
  // Zero tolerance on a lossless last stage: the chosen plan is lossless on the calibration samples.
  CHECK(r.chosen.calibration.accuracy == 1.0);
}

TEST_CASE("early-read options are checked") {
  cascade::EarlyReadOptions o;
  o.steps = {4, 4};
  CHECK_THROWS_AS(cascade::check_early_read_options(o), UsageError);
  o.steps = {1};
  CHECK_THROWS_AS(cascade::check_early_read_options(o), UsageError);
  o.steps = {2, 4, 8, 16, 32};
  CHECK_THROWS_AS(cascade::check_early_read_options(o), UsageError);
  o.steps = {8};
  o.self_test = cascade::SelfTest::execution;
  CHECK_THROWS_AS(cascade::check_early_read_options(o), UsageError);
  o.self_test = cascade::SelfTest::max_prob;
  o.calib_fraction = 1.0;
  CHECK_THROWS_AS(cascade::check_early_read_options(o), UsageError);
  o.calib_fraction = 0.5;
  CHECK_NOTHROW(cascade::check_early_read_options(o));
}

}  // TEST_SUITE

}  // namespace snnconv
