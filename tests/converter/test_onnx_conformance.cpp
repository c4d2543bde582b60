// ONNX's own node test cases (tests/data/onnx_node, selected by tools/onnx_conformance/select_cases.py)
// through our importer and dense engine, at ONNX's tolerance.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/onnx_import.hpp"

using namespace snnconv;
namespace fs = std::filesystem;

namespace {

std::vector<Tensor> read_set(const fs::path& dir, const std::string& prefix) {
  std::vector<Tensor> out;
  for (int i = 0;; ++i) {
    const fs::path p = dir / (prefix + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(onnx_import::read_tensor_file(p.string()));
  }
  return out;
}

// ONNX's backend tests: |actual - expected| <= atol + rtol |expected| with rtol 1e-3, atol 1e-7; integers
// and booleans exactly. Returns an empty string when they agree, else what differs.
std::string compare(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape())
    return "shape " + shape_to_string(actual.shape()) + " vs expected " + shape_to_string(expected.shape());
  if (is_float(expected.dtype()) != is_float(actual.dtype())) return "dtype differs";
  if (!is_float(expected.dtype())) {
    return actual.to_i64() == expected.to_i64() ? "" : "integer values differ";
  }
  const auto a = actual.to_f32(), e = expected.to_f32();
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (std::isnan(e[i]) && std::isnan(a[i])) continue;
    if (std::isinf(e[i]) && a[i] == e[i]) continue;
    if (!(std::fabs(a[i] - e[i]) <= 1e-7 + 1e-3 * std::fabs(e[i])))
      return "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs expected " + std::to_string(e[i]);
  }
  return "";
}

}  // namespace

TEST_SUITE("conformance") {
TEST_CASE("ONNX node test cases run through the dense engine at ONNX's tolerance") {
  const fs::path root = fs::path(SNNCONV_SOURCE_DIR) / "tests" / "data" / "onnx_node";
  REQUIRE(fs::is_directory(root));
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 650);  // docs/onnx-conformance.md lists them; fewer means the selection regressed
  // Every kept case must run: cases our kernels refuse are excluded (with the reason) by select_cases.py.
  const std::vector<std::string> expected_refusals = {};
  std::vector<std::string> refused;
  int passed = 0;
  for (const auto& dir : cases) {
    const std::string name = dir.filename().string();
    CAPTURE(name);
    const Graph g = onnx_import::import_onnx((dir / "model.onnx").string());
    const auto inputs = read_set(dir / "test_data_set_0", "input");
    const auto expected = read_set(dir / "test_data_set_0", "output");
    REQUIRE(inputs.size() == g.inputs().size());
    REQUIRE(expected.size() == g.outputs().size());
    for (const bool reference : {true, false}) {
      ann::EngineOptions opts;
      opts.reference_only = reference;
      opts.threads = 1;
      ann::Engine engine(g, opts);
      std::vector<Tensor> outputs;
      try {
        outputs = engine.run(inputs);
      } catch (const UnsupportedError& e) {
        if (reference) refused.push_back(name);
        break;
      }
      REQUIRE(outputs.size() == expected.size());
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        const std::string diff = compare(outputs[i], expected[i]);
        CAPTURE(reference);
        CAPTURE(i);
        CHECK_MESSAGE(diff.empty(), diff);
      }
    }
    ++passed;
  }
  CHECK(refused == expected_refusals);
  std::string list;
  for (const auto& r : refused) list += r + " ";
  MESSAGE((passed - static_cast<int>(refused.size())) << " ONNX node test cases passed; refused by the engine: " << list);
}
}
