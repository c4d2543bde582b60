// evaluate(): models on their bundled datasets through the dense engine. The trained example models are
// made by other scripts (examples/*/train.py); a test whose model is absent says so and passes.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "snnconv/cascade/evaluate.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

TEST_CASE("trained classifiers reach their recorded accuracy on the bundled data" * doctest::test_suite("golden")) {
  struct Example {
    const char* model;    // under examples/
    const char* data;     // under examples/data
  };
  for (const Example& ex : {Example{"fashion_vit/fashion_vit_relu", "fashion_mnist_small.h5"},
                            Example{"medical_tab/medical_tab", "breast_cancer.h5"}}) {
    const auto model = kRoot / "examples" / (std::string(ex.model) + ".onnx");
    const auto metrics = kRoot / "examples" / (std::string(ex.model) + ".metrics.json");
    if (!std::filesystem::exists(model) || !std::filesystem::exists(metrics)) {
      MESSAGE("skipped: " << model.string() << " (or its metrics.json) is not there yet");
      continue;
    }
    const std::string name = ex.model;
    CAPTURE(name);
    std::ifstream in(metrics);
    const nlohmann::json doc = nlohmann::json::parse(in);
    // Two layouts: results.test.accuracy (medical_tab, scored on the bundled split) or test_accuracy.
    const double recorded = doc.contains("results") ? doc.at("results").at("test").at("accuracy").get<double>()
                                                    : doc.at("test_accuracy").get<double>();
    cascade::EvalOptions o;
    o.model = model.string();
    o.data = (kRoot / "examples" / "data" / ex.data).string();
    o.limit = 1000;
    o.threads = 2;
    const cascade::EvalResult r = cascade::evaluate(o);
    CHECK(r.task == "classification");
    CHECK(r.metric == "accuracy");
    CHECK(r.ledger.samples == static_cast<std::uint64_t>(r.samples));
    CHECK(r.samples_per_s > 0.0);
    MESSAGE(name << ": accuracy " << r.value << " on " << r.samples << " samples (recorded " << recorded << ")");
    // The recorded figure may come from a larger test set than the bundled samples (fashion_vit: 10,000
    // images, the bundled file holds the first 1,000), hence a point of slack.
    CHECK(std::abs(r.value - recorded) <= 0.01);
  }
}

TEST_CASE("the last partial batch runs on a re-import (symbolic batch) or padded (fixed batch)" *
          doctest::test_suite("unit")) {
  cascade::EvalOptions o;
  o.data = (kRoot / "examples" / "data" / "fashion_mnist_small.h5").string();
  o.limit = 10;
  o.batch = 4;
  o.threads = 1;
  o.model = (kRoot / "examples" / "fixtures" / "vit_op13_dynamic.onnx").string();
  const cascade::EvalResult a = cascade::evaluate(o);
  CHECK(a.samples == 10);
  CHECK(a.ledger.samples == 10);  // 4 + 4 + a batch-2 import
  o.batch = 10;
  const cascade::EvalResult whole = cascade::evaluate(o);
  CHECK(whole.value == a.value);
  CHECK(whole.ledger.total().total_macs() == a.ledger.total().total_macs());

  o.model = (kRoot / "examples" / "fixtures" / "vit_op13_static.onnx").string();  // batch fixed at 2
  o.limit = 5;
  const cascade::EvalResult padded = cascade::evaluate(o);
  CHECK(padded.samples == 5);
  CHECK(padded.ledger.samples == 6);  // the padded row was computed and is counted
}

TEST_CASE("a model without snnconv.data needs --data" * doctest::test_suite("unit")) {
  cascade::EvalOptions o;
  o.model = (kRoot / "examples" / "fixtures" / "vit_op13_dynamic.onnx").string();
  CHECK_THROWS_WITH_AS(cascade::evaluate(o), doctest::Contains("snnconv.data"), UsageError);
}

}  // namespace
}  // namespace snnconv
