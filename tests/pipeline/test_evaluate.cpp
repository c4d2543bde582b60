// evaluate(): models on their bundled datasets through the dense engine. The trained example models are
// made by other scripts (examples/*/train.py) and committed: a missing one fails the test.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/datasets/writer.hpp"

#include <unistd.h>

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
    REQUIRE_MESSAGE(std::filesystem::exists(model), model.string() << " is committed");
    REQUIRE_MESSAGE(std::filesystem::exists(metrics), metrics.string() << " is committed");
    const std::string name = ex.model;
    CAPTURE(name);
    std::ifstream in(metrics);
    const nlohmann::json doc = nlohmann::json::parse(in);
    // Two layouts: results.test.accuracy (medical_tab, scored on the bundled split) or test_accuracy.
    const double recorded = doc.contains("results") ? doc.at("results").at("test").at("accuracy").get<double>()
                                                    : doc.at("test_accuracy").get<double>();
    pipeline::EvalOptions o;
    o.model = model.string();
    o.data = (kRoot / "examples" / "data" / ex.data).string();
    o.limit = 1000;
    o.threads = 2;
    const pipeline::EvalResult r = pipeline::evaluate(o);
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

// One recorded metric of an example model on its bundled data split, from its provenance.
struct Recorded {
  const char* model;        // under examples/
  const char* metric;       // EvalResult::metric, or a key of EvalResult::extra
  const char* json_path;    // "/"-separated path into <model>.metrics.json; empty: `value` below
  double value;             // used when json_path is empty (a figure PROVENANCE.md gives in its text)
  bool relative;            // bits per byte: within 0.1 % of the recorded value; rates: within 0.1 points
};

double read_recorded(const Recorded& r) {
  if (r.json_path[0] == '\0') return r.value;
  std::ifstream in(kRoot / "examples" / (std::string(r.model) + ".metrics.json"));
  REQUIRE(in);
  nlohmann::json node = nlohmann::json::parse(in);
  std::string path = r.json_path;
  for (std::size_t start = 0; start <= path.size();) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    node = nlohmann::json(node.at(path.substr(start, end - start)));
    start = end + 1;
  }
  return node.get<double>();
}

void check_recorded(const std::vector<Recorded>& rows) {
  for (const Recorded& rec : rows) {
    const auto model = kRoot / "examples" / (std::string(rec.model) + ".onnx");
    REQUIRE_MESSAGE(std::filesystem::exists(model), model.string() << " is committed");
    const std::string name = std::string(rec.model) + " " + rec.metric;
    CAPTURE(name);
    pipeline::EvalOptions o;
    o.model = model.string();  // data: the model's snnconv.data (the bundled file), split test
    o.threads = 2;
    const pipeline::EvalResult r = pipeline::evaluate(o);
    const double got = r.metric == rec.metric ? r.value : r.extra.at(rec.metric);
    const double want = read_recorded(rec);
    MESSAGE(name << ": " << got << " (recorded " << want << ", difference " << got - want << ") on " << r.samples
                 << " samples");
    CHECK(std::abs(got - want) <= (rec.relative ? 1e-3 * want : 1e-3));
  }
}

// fashion_vit: its metrics.json records the 10,000-image test accuracy; on the bundled 1,000 images
// PROVENANCE.md records 89.2 % (relu) and 90.3 % (gelu), measured with ONNX Runtime on both exports.
TEST_CASE("example models reach the metrics their provenance records on the bundled data" *
          doctest::test_suite("golden")) {
  check_recorded({{"fashion_vit/fashion_vit_relu", "accuracy", "", 0.892, false},
                  {"fashion_vit/fashion_vit_gelu", "accuracy", "", 0.903, false},
                  {"medical_tab/medical_tab", "accuracy", "results/test/accuracy", 0, false},
                  {"medical_tab/medical_tab", "roc_auc", "results/test/roc_auc", 0, false},
                  {"fashion_vqa/fashion_vqa", "exact_match", "bundled_test_greedy_exact_match", 0, false},
                  {"fashion_small/fashion_vit_tiny", "accuracy", "bundled_test_accuracy_1000", 0, false}});
}

// ~25 s of engine time on 2 cores for code_gpt (1,015 windows of 256 bytes).
TEST_CASE("code_gpt and its draft reach their recorded bits per byte on the bundled test split" *
          doctest::test_suite("slow")) {
  check_recorded({{"code_gpt/code_gpt_draft", "bits_per_byte", "bundled_test_bpb", 0, true},
                  {"code_gpt/code_gpt", "bits_per_byte", "bundled_test_bpb", 0, true}});
}

TEST_CASE("language-model windows score every byte but the first: a short last window, any batch" *
          doctest::test_suite("unit")) {
  // A 50-byte stream: windows of 16 feed [0,16) [16,32) [32,48) and the short [48,49); 49 bytes scored.
  const auto dir = std::filesystem::temp_directory_path() / ("snnconv-eval-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto data = dir / "lm.h5";
  {
    std::vector<std::uint8_t> bytes;
    for (int i = 0; i < 50; ++i) bytes.push_back(static_cast<std::uint8_t>("def f(x):\n    return x * 2 + 1\n"[i % 32]));
    datasets::DatasetInfo info;
    info.name = "lm";
    info.task = datasets::Task::language_model;
    info.source = info.license = info.preprocessing = "unit test";
    info.tokenizer = "byte";
    info.vocab_size = 256;
    datasets::DatasetWriter w(data);
    w.write_info(info);
    w.write_tensor("test", "tokens", Tensor::from_vector<std::uint8_t>({50}, bytes));
    w.write_tensor("test", "doc_offsets", Tensor::from_vector<std::int64_t>({2}, {0, 50}));
    w.write_strings("test", "doc_names", {"f.py"});
    w.commit();
  }
  pipeline::EvalOptions o;
  o.model = (kRoot / "examples" / "synth_code" / "synth_code_small.onnx").string();
  o.data = data.string();
  o.seq = 16;
  o.threads = 1;
  o.batch = 1;
  const pipeline::EvalResult a = pipeline::evaluate(o);
  o.batch = 2;  // batches of 2 and 1, then the short window
  const pipeline::EvalResult b = pipeline::evaluate(o);
  std::filesystem::remove_all(dir);
  CHECK(a.metric == "bits_per_byte");
  CHECK(a.samples == 4);
  CHECK(a.extra.at("bytes_scored") == 49);
  CHECK(b.samples == 4);
  CHECK(std::abs(a.value - b.value) <= 1e-9);
  CHECK(a.value > 0.0);
}

TEST_CASE("the last partial batch runs on a re-import (symbolic batch) or padded (fixed batch)" *
          doctest::test_suite("unit")) {
  pipeline::EvalOptions o;
  o.data = (kRoot / "examples" / "data" / "fashion_mnist_small.h5").string();
  o.limit = 10;
  o.batch = 4;
  o.threads = 1;
  o.model = (kRoot / "examples" / "fixtures" / "vit_op13_dynamic.onnx").string();
  const pipeline::EvalResult a = pipeline::evaluate(o);
  CHECK(a.samples == 10);
  CHECK(a.ledger.samples == 10);  // 4 + 4 + a batch-2 import
  o.batch = 10;
  const pipeline::EvalResult whole = pipeline::evaluate(o);
  CHECK(whole.value == a.value);
  CHECK(whole.ledger.total().total_macs() == a.ledger.total().total_macs());

  o.model = (kRoot / "examples" / "fixtures" / "vit_op13_static.onnx").string();  // batch fixed at 2
  o.limit = 5;
  const pipeline::EvalResult padded = pipeline::evaluate(o);
  CHECK(padded.samples == 5);
  CHECK(padded.ledger.samples == 6);  // the padded row was computed and is counted
}

TEST_CASE("a model without snnconv.data needs --data" * doctest::test_suite("unit")) {
  pipeline::EvalOptions o;
  o.model = (kRoot / "examples" / "fixtures" / "vit_op13_dynamic.onnx").string();
  CHECK_THROWS_WITH_AS(pipeline::evaluate(o), doctest::Contains("snnconv.data"), UsageError);
}

}  // namespace
}  // namespace snnconv
