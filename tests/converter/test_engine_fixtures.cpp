// The dense engine on every bundled torch export (examples/fixtures): outputs equal PyTorch's (`.ref.h5`)
// within 1e-4, fast kernels equal the reference kernels within 1e-5 (also on the fused graph), and 1 and 2
// threads give identical bytes. Lives with the converter's tests because it imports ONNX (ann_baseline's tests may not).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/datasets/reference.hpp"

namespace snnconv {
namespace {

using nlohmann::json;

std::filesystem::path fixture_dir() {
  if (const char* env = std::getenv("SNNCONV_FIXTURES_DIR")) return env;
  return std::filesystem::path(SNNCONV_SOURCE_DIR) / "examples" / "fixtures";
}

// Largest |a - b| / (1 + |b|) over two f32 tensors of one shape.
float max_rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> x = a.to_f32(), y = b.to_f32();
  float worst = 0.0f;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]) / (1.0f + std::fabs(y[i])));
  return worst;
}

TEST_CASE("engine on every fixture matches PyTorch, the reference kernels, and itself across threads" *
          doctest::test_suite("golden")) {
  std::ifstream manifest(fixture_dir() / "fixtures.json");
  REQUIRE(manifest);
  const json doc = json::parse(manifest);
  int checked = 0;
  for (const auto& [file, entry] : doc.at("models").items()) {
    CAPTURE(file);
    onnx_import::ImportOptions io;
    for (const auto& input : entry.at("inputs"))
      for (const auto& d : input.at("shape"))
        if (d.is_string()) io.dims[d.get<std::string>()] = entry.at("dims").at(d.get<std::string>()).get<std::int64_t>();
    const Graph g = onnx_import::import_onnx((fixture_dir() / file).string(), io);
    const datasets::ReferenceData ref = datasets::read_reference_file(fixture_dir() / entry.at("ref").get<std::string>());
    std::vector<Tensor> inputs;
    for (ValueId v : g.inputs()) inputs.push_back(ref.inputs.at(g.value(v).name));

    ann::Engine fast1(g, {.threads = 1});
    ann::Engine fast2(g, {.threads = 2});
    ann::Engine slow(g, {.threads = 1, .reference_only = true});
    const auto a = fast1.run(inputs);
    const auto b = fast2.run(inputs);
    const auto r = slow.run(inputs);
    REQUIRE(a.size() == g.outputs().size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string& name = g.value(g.outputs()[i]).name;
      CAPTURE(name);
      CHECK(a[i].identical(b[i]));
      CHECK(max_rel_diff(a[i], r[i]) <= 1e-5f);
      CHECK(max_rel_diff(a[i], ref.outputs.at(name)) <= 1e-4f);
    }
    // The fused graph (Linear, Attention on the online-softmax kernel) on the engine: same outputs.
    Graph fused = g;
    fuse_graph(fused);
    ann::Engine fused1(fused, {.threads = 1});
    ann::Engine fused2(fused, {.threads = 2});
    const auto f = fused1.run(inputs);
    const auto f2 = fused2.run(inputs);
    for (std::size_t i = 0; i < f.size(); ++i) {
      CHECK(f[i].identical(f2[i]));
      CHECK(max_rel_diff(f[i], r[i]) <= 1e-5f);
    }
    ++checked;
  }
  CHECK(checked == static_cast<int>(doc.at("models").size()));
}

}  // namespace
}  // namespace snnconv
