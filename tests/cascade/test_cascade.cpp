// Cascades (cascade.hpp): the synth-code DSL evaluator against dsl.py's outputs, self-test scores, plan
// evaluation and calibration on constructed outcomes, and the usage errors.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <limits>
#include <string>

#include "snnconv/cascade/cascade.hpp"
#include "snnconv/cascade/dsl.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/reader.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

std::vector<std::vector<std::int64_t>> rows_of(const datasets::DatasetReader& r, const std::string& split,
                                               const std::string& name) {
  const Tensor t = r.read(split, name);
  const std::int64_t n = t.shape()[0];
  const std::int64_t w = t.shape().size() > 1 ? t.shape()[1] : 1;
  const std::vector<std::int64_t> v = t.to_i64();
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t i = 0; i < n; ++i) out.emplace_back(v.begin() + i * w, v.begin() + (i + 1) * w);
  return out;
}

cascade::StageOutcomes stage(std::vector<double> scores, std::vector<int> correct, double cost) {
  cascade::StageOutcomes s;
  for (std::size_t i = 0; i < scores.size(); ++i) s.samples.push_back({scores[i], correct[i] != 0, cost});
  return s;
}

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("the DSL evaluator gives dsl.py's values on its self-test cases and refuses what it refuses") {
  struct Case {
    const char* src;
    std::int64_t x, want;
  };
  // examples/synth_code/dsl.py self_test(), including the wrap-around cases.
  const Case cases[] = {{"x*3+2", 1, 5},        {"x*3+2", -3, -7},  {"(x+1)*(x-1)", 4, 15}, {"x*x-4", -2, 0},
                        {"1-2-3", 0, -4},       {"2*3+4*5", 0, 26}, {"2+3*4", 0, 14},       {"(2+3)*4", 0, 20},
                        {"x-x*2", 7, -7},       {"((x))", -5, -5},  {"x*x*x*x", 3, 81},     {"9-(1-x)", 2, 10},
                        {"x*x", std::int64_t{1} << 32, 0},
                        {"x+1", std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()},
                        {"x*x*x+1", -2, -7}};
  for (const Case& c : cases) {
    const auto p = cascade::dsl::parse(c.src);
    REQUIRE_MESSAGE(p.has_value(), c.src);
    CHECK_MESSAGE(cascade::dsl::evaluate(*p, c.x) == c.want, c.src);
  }
  for (const char* bad : {"", "x+", "+x", "-1", "12", "x y", "x**2", "(x+1", "x+1)", "2x", "x/2", " x", "x\n", "X"})
    CHECK_MESSAGE(!cascade::dsl::parse(bad).has_value(), bad);
  const std::vector<std::int64_t> in{1, 2}, out{4, 7};
  CHECK(cascade::dsl::pass_fraction("x*3+1", in, out) == 1.0);
  CHECK(cascade::dsl::pass_fraction("x*4", in, out) == 0.5);
  CHECK(cascade::dsl::pass_fraction("x*", in, out) == 0.0);
  CHECK(!cascade::dsl::passes("x*4", in, out));
}

TEST_CASE("the DSL evaluator reproduces every output dsl.py stored in synth_code.h5") {
  const auto data = kRoot / "examples/data/synth_code.h5";
  REQUIRE_MESSAGE(std::filesystem::exists(data), data.string() << " is committed");
  const datasets::DatasetReader r(data);
  std::int64_t tasks = 0, values = 0, wrong = 0;
  for (const std::string split : {"val", "test"}) {
    const auto answers = rows_of(r, split, "answer_tokens");
    const auto lengths = rows_of(r, split, "answer_lengths");
    const auto io_in = rows_of(r, split, "io_inputs"), io_out = rows_of(r, split, "io_outputs");
    const auto t_in = rows_of(r, split, "test_inputs"), t_out = rows_of(r, split, "test_outputs");
    for (std::size_t i = 0; i < answers.size(); ++i) {
      std::string src;
      for (std::int64_t j = 0; j + 1 < lengths[i][0]; ++j) src.push_back(static_cast<char>(answers[i][static_cast<std::size_t>(j)]));
      const auto p = cascade::dsl::parse(src);
      REQUIRE_MESSAGE(p.has_value(), src);
      for (std::size_t j = 0; j < io_in[i].size(); ++j, ++values) wrong += cascade::dsl::evaluate(*p, io_in[i][j]) != io_out[i][j];
      for (std::size_t j = 0; j < t_in[i].size(); ++j, ++values) wrong += cascade::dsl::evaluate(*p, t_in[i][j]) != t_out[i][j];
      ++tasks;
    }
  }
  CHECK(tasks == 2000);
  CHECK(values == 2000 * 12);
  CHECK(wrong == 0);
}

TEST_CASE("the DSL evaluator agrees with dsl.py on 600 mutated and random candidates") {
  // tests/data/dsl_cases.json: made by examples/synth_code/make_dsl_cases.py (dsl.py parses and evaluates).
  std::ifstream in(kRoot / "tests/data/dsl_cases.json");
  REQUIRE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  const std::vector<std::int64_t> inputs = j["inputs"].get<std::vector<std::int64_t>>();
  std::int64_t parsed = 0, disagreements = 0;
  for (const auto& c : j["cases"]) {
    const std::string src = c["src"].get<std::string>();
    const auto p = cascade::dsl::parse(src);
    if (p.has_value() != c["ok"].get<bool>()) {
      ++disagreements;
      MESSAGE("parse disagrees on '" << src << "'");
      continue;
    }
    if (!p) continue;
    ++parsed;
    const std::vector<std::int64_t> want = c["values"].get<std::vector<std::int64_t>>();
    for (std::size_t k = 0; k < inputs.size(); ++k) disagreements += cascade::dsl::evaluate(*p, inputs[k]) != want[k];
  }
  CHECK(j["cases"].size() == 600);
  CHECK(parsed == 117);
  CHECK(disagreements == 0);
}

TEST_CASE("self-test scores") {
  const std::vector<float> sure{10.0f, 0.0f, 0.0f}, flat{1.0f, 1.0f, 1.0f}, other{0.0f, 5.0f, 0.0f};
  CHECK(cascade::max_prob_score(flat) == doctest::Approx(1.0 / 3.0));
  CHECK(cascade::max_prob_score(sure) > 0.999);
  CHECK(cascade::margin_score(flat) == doctest::Approx(0.0));
  CHECK(cascade::entropy_score(flat) == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(cascade::entropy_score(sure) > 0.99);
  CHECK(cascade::temporal_score(other, sure) == 0.0);
  CHECK(cascade::temporal_score(sure, sure) == doctest::Approx(cascade::max_prob_score(sure)));
  CHECK(cascade::quantile_score({0.9, 0.1, 0.5}, 0.0) == doctest::Approx(0.1));
  CHECK(cascade::quantile_score({0.9, 0.1, 0.5}, 0.5) == doctest::Approx(0.5));
  CHECK(cascade::quantile_score({0.9, 0.1, 0.5}, 0.25) == doctest::Approx(0.3));
  // A quantile has no length bias: ten sure tokens score as one, unlike their product.
  CHECK(cascade::quantile_score(std::vector<double>(10, 0.9), 0.1) == doctest::Approx(0.9));
}

TEST_CASE("a plan's accuracy and cost and escalation on constructed outcomes") {
  // Stage 1: cheap (1), right where confident; stage 2: dear (10), always right.
  const std::vector<cascade::StageOutcomes> st{stage({0.9, 0.8, 0.3, 0.2}, {1, 1, 0, 0}, 1.0),
                                               stage({0.5, 0.5, 0.5, 0.5}, {1, 1, 1, 1}, 10.0)};
  const cascade::PlanResult r = cascade::evaluate_plan(st, {{0, 1}, {0.5}});
  CHECK(r.accuracy == 1.0);
  CHECK(r.cost_pj == doctest::Approx((4 * 1.0 + 2 * 10.0) / 4));
  CHECK(r.escalated[0] == 0.5);
  CHECK(r.reached[1] == 0.5);
  CHECK(r.answered[0] == 0.5);
  // The second stage continues the first one's run: it costs only its extra 9.
  std::vector<cascade::StageOutcomes> cont = st;
  cont[1].continues_previous = true;
  CHECK(cascade::evaluate_plan(cont, {{0, 1}, {0.5}}).cost_pj == doctest::Approx((4 * 1.0 + 2 * 9.0) / 4));
  CHECK(cascade::evaluate_plan(cont, {{1}, {}}).cost_pj == doctest::Approx(10.0));
}

TEST_CASE("calibration picks the cheapest plan within the tolerance") {
  // 10 samples. Stage 1 (cost 1) is right on the 6 with scores >= 0.6; stage 2 (cost 4) is right on 9
  // (wrong on sample 9); stage 3 (cost 20) is right on all 10.
  const std::vector<double> s1{0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2};
  const std::vector<int> c1{1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  const std::vector<double> s2{0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1};
  const std::vector<int> c2{1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
  const std::vector<cascade::StageOutcomes> st{stage(s1, c1, 1.0), stage(s2, c2, 4.0),
                                               stage(std::vector<double>(10, 0.5), std::vector<int>(10, 1), 20.0)};
  // Zero tolerance: every sample must be right. Stage 1 answers the 6 it gets right (threshold 0.6), stage 2
  // the next 3 (its score 0.9 passes), stage 3 the last: 10 + 4 * 4 + 20 = 46 -> 4.6 per sample. Skipping
  // stage 2 costs 10 + 4 * 20 = 90; skipping stage 1: 40 + 20 = 60.
  const cascade::CalibratedPlan zero = cascade::calibrate_plan(st, 0.0);
  CHECK(zero.calibration.accuracy == 1.0);
  CHECK(zero.plan.stages == std::vector<int>{0, 1, 2});
  CHECK(zero.plan.thresholds[0] == doctest::Approx(0.6));
  CHECK(zero.calibration.cost_pj == doctest::Approx(4.6));
  // 10 points of tolerance: one wrong answer allowed. The cheapest such plan is stage 1 (>= 0.6) then
  // stage 2 answering the rest (wrong on sample 9 only): 10 + 4 * 4 = 26 -> 2.6. Stage 1 at >= 0.5 would
  // cost 2.2 but gets sample 6 wrong as well.
  const cascade::CalibratedPlan ten = cascade::calibrate_plan(st, 0.1);
  CHECK(ten.calibration.accuracy == doctest::Approx(0.9));
  CHECK(ten.calibration.cost_pj == doctest::Approx(2.6));
  // The front is ordered by cost with rising accuracy, and holds the zero-tolerance choice.
  REQUIRE(ten.front.size() >= 2);
  for (std::size_t i = 1; i < ten.front.size(); ++i) {
    CHECK(ten.front[i].second.cost_pj >= ten.front[i - 1].second.cost_pj);
    CHECK(ten.front[i].second.accuracy > ten.front[i - 1].second.accuracy);
  }
  CHECK(ten.front.back().second.accuracy == 1.0);
  CHECK(ten.front.back().second.cost_pj == doctest::Approx(4.6));
  // The 2.6 plan loses 0.1 (one of 10 samples) with standard error sqrt(0.1 / 10) = 0.1: one standard error
  // of confidence rules it out and leaves the lossless 4.6 plan.
  CHECK(ten.calibration.loss == doctest::Approx(0.1));
  CHECK(ten.calibration.loss_se == doctest::Approx(0.1));
  const cascade::CalibratedPlan sure = cascade::calibrate_plan(st, 0.1, 1.0);
  CHECK(sure.calibration.loss == 0.0);
  CHECK(sure.calibration.cost_pj == doctest::Approx(4.6));
  CHECK_THROWS_AS(cascade::calibrate_plan(st, 0.1, -1.0), UsageError);
}

TEST_CASE("stage specs parse and malformed ones are usage errors") {
  const cascade::StageSpec s = cascade::parse_stage_spec("m.onnx:engine=snn:act=3:steps=8:mode=burst:hw=truenorth");
  CHECK(s.model == "m.onnx");
  CHECK(s.engine == cascade::StageEngine::snn);
  CHECK(s.act_bits == 3);
  CHECK(s.steps == 8);
  CHECK(s.mode == "burst");
  CHECK(s.profile == "truenorth");
  CHECK(cascade::parse_stage_list("a.onnx,b.onnx:k=4").size() == 2);
  CHECK(cascade::parse_stage_list("a.onnx,b.onnx:k=4")[1].candidates == 4);
  CHECK_THROWS_AS(cascade::parse_stage_spec("m.onnx:engine=gpu"), UsageError);
  CHECK_THROWS_AS(cascade::parse_stage_spec("m.onnx:act=1"), UsageError);
  CHECK_THROWS_AS(cascade::parse_stage_spec("m.onnx:steps=8"), UsageError);  // steps on an ANN stage
  CHECK_THROWS_AS(cascade::parse_stage_spec("m.onnx:colour=red"), UsageError);
  CHECK_THROWS_AS(cascade::parse_stage_spec(":engine=snn"), UsageError);
  CHECK_THROWS_AS(cascade::parse_stage_list("a.onnx,,b.onnx"), UsageError);
  CHECK(cascade::continues(cascade::parse_stage_spec("m:engine=snn:steps=8"), cascade::parse_stage_spec("m:engine=snn")));
  CHECK(!cascade::continues(cascade::parse_stage_spec("m:engine=snn"), cascade::parse_stage_spec("m:engine=snn:steps=8")));
  CHECK(!cascade::continues(cascade::parse_stage_spec("m:engine=snn:act=3"), cascade::parse_stage_spec("m:engine=snn")));
}

TEST_CASE("cascade usage errors: one stage or a self-test that does not fit or thresholds out of range") {
  const auto sm = (kRoot / "examples/synth_code/synth_code_small.onnx").string();
  const auto lg = (kRoot / "examples/synth_code/synth_code_large.onnx").string();
  cascade::CascadeOptions o;
  o.stages = {cascade::parse_stage_spec(sm)};
  o.self_test = cascade::SelfTest::execution;
  CHECK_THROWS_WITH_AS(cascade::run_cascade(o), doctest::Contains("at least two stages"), UsageError);
  CHECK_THROWS_AS(cascade::calibrate_plan({stage({0.5}, {1}, 1.0)}, 0.0), UsageError);
  // Execution on a classifier, temporal on a non-SNN stage, a classifier's test on a generator.
  CHECK_THROWS_WITH_AS(cascade::check_self_test(cascade::SelfTest::execution, "classification", {}),
                       doctest::Contains("does not fit a classifier"), UsageError);
  const std::vector<cascade::StageSpec> ann2{cascade::parse_stage_spec("a.onnx"), cascade::parse_stage_spec("b.onnx")};
  CHECK_THROWS_WITH_AS(cascade::check_self_test(cascade::SelfTest::temporal, "classification", ann2),
                       doctest::Contains("needs an SNN"), UsageError);
  CHECK_NOTHROW(cascade::check_self_test(cascade::SelfTest::max_prob, "classification", ann2));
  CHECK_THROWS_WITH_AS(cascade::check_self_test(cascade::SelfTest::margin, "program_synthesis", ann2),
                       doctest::Contains("does not fit a code generator"), UsageError);
  CHECK_THROWS_AS(cascade::parse_self_test("vibes"), UsageError);
  o.stages = {cascade::parse_stage_spec(sm), cascade::parse_stage_spec(lg)};
  o.thresholds = {1.5};
  CHECK_THROWS_WITH_AS(cascade::run_cascade(o), doctest::Contains("outside the range [0, 1]"), UsageError);
  o.thresholds = {0.5, 0.5};
  CHECK_THROWS_WITH_AS(cascade::run_cascade(o), doctest::Contains("one value per stage"), UsageError);
  o.thresholds = {};
  o.tolerance = 2.0;
  CHECK_THROWS_AS(cascade::run_cascade(o), UsageError);
  o.tolerance = 0.005;
  o.calib_split = "test:0:10";
  o.eval_split = "test:5:20";
  CHECK_THROWS_WITH_AS(cascade::run_cascade(o), doctest::Contains("overlap"), UsageError);
  CHECK_THROWS_AS(cascade::evaluate_plan({stage({0.5}, {1}, 1.0), stage({0.5}, {1}, 2.0)}, {{0, 1}, {-0.1}}), UsageError);
}

TEST_CASE("stages whose costs do not ascend are refused after the stage that breaks the order") {
  const auto sm = kRoot / "examples/synth_code/synth_code_small.onnx";
  const auto lg = kRoot / "examples/synth_code/synth_code_large.onnx";
  REQUIRE_MESSAGE(std::filesystem::exists(sm), sm.string() << " is committed");
  REQUIRE_MESSAGE(std::filesystem::exists(lg), lg.string() << " is committed");
  cascade::CascadeOptions o;
  o.stages = {cascade::parse_stage_spec(lg.string()), cascade::parse_stage_spec(sm.string())};
  o.self_test = cascade::SelfTest::execution;
  o.profile = "systolic_int8";  // the large decoder's full window does not fit loihi's cores
  o.calib_split = "val:0:2";
  o.eval_split = "test:0:2";
  CHECK_THROWS_WITH_AS(cascade::run_cascade(o), doctest::Contains("stage costs must ascend"), UsageError);
  // The wrong self-test for the data: execution on a classifier's dataset.
  o.data = (kRoot / "examples/data/fashion_mnist_small.h5").string();
  CHECK_THROWS_WITH_AS(cascade::run_cascade(o), doctest::Contains("does not fit a classifier"), UsageError);
}
}

}  // namespace snnconv
