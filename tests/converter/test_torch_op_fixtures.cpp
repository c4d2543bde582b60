// The dense engine on stock PyTorch modules exported by torch 1.13 (examples/fixtures/torch_ops): a
// TransformerEncoderLayer with mean pooling, an MLP of every common activation, tensor ops (split, where,
// cumsum, topk, argmax, reductions, losses) and a small CNN with pooling. Outputs equal PyTorch's within
// 1e-4 (index outputs exactly), fast kernels equal the reference kernels within 1e-5, and 1 and 2 threads
// give identical bytes; also after fusion.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/datasets/reference.hpp"

namespace snnconv {
namespace {

using nlohmann::json;

std::filesystem::path fixture_dir() { return std::filesystem::path(SNNCONV_SOURCE_DIR) / "examples" / "fixtures" / "torch_ops"; }

// Largest |a - b| / (1 + |b|); integer and bool tensors must be equal (returns 0 or infinity).
float max_rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  if (!is_float(b.dtype())) return a.to_i64() == b.to_i64() ? 0.0f : INFINITY;
  const std::vector<float> x = a.to_f32(), y = b.to_f32();
  float worst = 0.0f;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - y[i]) / (1.0f + std::fabs(y[i])));
  return worst;
}

TEST_CASE("torch op fixtures: the engine matches PyTorch, fast equals reference, threads agree, fused too" *
          doctest::test_suite("golden")) {
  std::ifstream manifest(fixture_dir() / "fixtures.json");
  REQUIRE(manifest);
  const json doc = json::parse(manifest);
  int checked = 0;
  for (const auto& [file, entry] : doc.at("models").items()) {
    CAPTURE(file);
    // The ops the fixture was made to exercise are in the file the importer reads.
    const Graph raw = onnx_import::read_onnx((fixture_dir() / file).string());
    std::set<std::string> ops;
    for (const Node& n : raw.nodes()) ops.insert(std::string(op_name(n.kind)));
    for (const auto& op : entry.at("exercises")) {
      CAPTURE(op.get<std::string>());
      CHECK(ops.count(op.get<std::string>()) == 1);
    }

    onnx_import::ImportOptions io;
    for (const auto& [name, size] : entry.at("dims").items()) io.dims[name] = size.get<std::int64_t>();
    const Graph g = onnx_import::import_onnx((fixture_dir() / file).string(), io);
    const datasets::ReferenceData ref =
        datasets::read_reference_file(fixture_dir() / entry.at("ref").get<std::string>());
    std::vector<Tensor> inputs;
    for (ValueId v : g.inputs()) {
      const Tensor& t = ref.inputs.at(g.value(v).name);
      inputs.push_back(g.value(v).type.dtype == DType::boolean ? t.cast(DType::boolean) : t);  // h5 stores bool as u8
    }
    ann::Engine fast1(g, {.threads = 1});
    ann::Engine fast2(g, {.threads = 2});
    ann::Engine slow(g, {.threads = 1, .reference_only = true});
    const auto a = fast1.run(inputs);
    const auto b = fast2.run(inputs);
    const auto r = slow.run(inputs);
    REQUIRE(a.size() == g.outputs().size());
    float worst = 0.0f;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string& name = g.value(g.outputs()[i]).name;
      CAPTURE(name);
      CHECK(a[i].identical(b[i]));
      CHECK(max_rel_diff(a[i], r[i]) <= 1e-5f);
      const float d = max_rel_diff(a[i], ref.outputs.at(name));
      CHECK(d <= 1e-4f);
      worst = std::max(worst, d);
    }
    Graph fused = g;
    fuse_graph(fused);
    ann::Engine fused1(fused, {.threads = 1});
    ann::Engine fused2(fused, {.threads = 2});
    const auto f = fused1.run(inputs);
    const auto f2 = fused2.run(inputs);
    for (std::size_t i = 0; i < f.size(); ++i) {
      CHECK(f[i].identical(f2[i]));
      CHECK(max_rel_diff(f[i], ref.outputs.at(g.value(g.outputs()[i]).name)) <= 1e-4f);
    }
    MESSAGE(file << ": " << a.size() << " outputs, max relative difference to torch " << worst);
    ++checked;
  }
  CHECK(checked == static_cast<int>(doc.at("models").size()));
  CHECK(checked >= 9);
}

}  // namespace
}  // namespace snnconv
