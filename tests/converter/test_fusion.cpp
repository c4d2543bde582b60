// Fusion (imported -> canonical): on every fixture and trained example the fused graph computes what the
// imported one does (within 1e-5, both run by the reference interpreter), and the expected patterns fire.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "graph_runner.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/stats.hpp"
#include "snnconv/core/verifier.hpp"
#include "snnconv/datasets/reference.hpp"

namespace snnconv {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path source_dir() { return fs::path(SNNCONV_SOURCE_DIR); }
fs::path fixtures_dir() {
  if (const char* env = std::getenv("SNNCONV_FIXTURES_DIR")) return env;
  return source_dir() / "examples" / "fixtures";
}

int count_ops(const Graph& g, OpKind k) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.kind == k;
  return n;
}

// Checks fused == unfused on `inputs` and returns the fused graph.
Graph check_fusion_preserves_outputs(const Graph& imported, const std::map<std::string, Tensor>& inputs,
                                     FuseStats& stats) {
  Graph fused = imported;
  stats = fuse_graph(fused);
  CHECK(fused.stage == Stage::canonical);
  CHECK_NOTHROW(verify(fused, Stage::canonical));
  const auto want = test::run_graph(imported, inputs);
  const auto got = test::run_graph(fused, inputs);
  REQUIRE(want.size() == got.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(imported.value(imported.outputs()[i]).name);
    CHECK(test::max_rel_diff(got[i], want[i]) <= 1e-5);
  }
  return fused;
}

struct Expect {
  int layer_norm, gelu, attention, linear_min;
  bool causal;
  int masked;  // Attention nodes keeping a mask input
};

Expect expected_for(const std::string& arch, bool qdq) {
  // The QDQ ViT: its probabilities' quantize-dequantize pair becomes the Attention's step (probs_quant).
  if (qdq) return {5, 2, 2, 13, false, 0};
  if (arch == "vit") return {5, 2, 2, 13, false, 0};
  if (arch == "gpt") return {5, 2, 2, 13, true, 0};
  return {5, 2, 2, 13, false, 2};  // bert: additive padding mask from the input
}

std::map<std::string, Tensor> random_inputs(const Graph& g, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, Tensor> out;
  for (ValueId v : g.inputs()) {
    const TensorType& t = g.value(v).type;
    Tensor x(t.dtype, t.static_shape());
    if (t.dtype == DType::f32) {
      std::uniform_real_distribution<float> u(0.0f, 1.0f);
      for (float& e : x.span<float>()) e = u(rng);
    } else if (t.dtype == DType::i64) {
      // Small ids: valid for every vocabulary of the examples (and 1 is a valid attention-mask value).
      std::uniform_int_distribution<std::int64_t> u(1, 60);
      for (auto& e : x.span<std::int64_t>()) e = u(rng);
    }
    out.emplace(g.value(v).name, std::move(x));
  }
  return out;
}

TEST_SUITE("golden") {
  TEST_CASE("fusion: fixtures keep their outputs and fire the expected patterns") {
    std::ifstream in(fixtures_dir() / "fixtures.json");
    if (!in) {
      MESSAGE("no fixtures: nothing checked");
      return;
    }
    const json doc = json::parse(in);
    int checked = 0;
    for (const auto& [name, entry] : doc.at("models").items()) {
      CAPTURE(name);
      onnx_import::ImportOptions options;
      for (const auto& input : entry.at("inputs"))
        for (const auto& d : input.at("shape"))
          if (d.is_string()) options.dims[d.get<std::string>()] = entry.at("dims").at(d.get<std::string>()).get<std::int64_t>();
      const Graph imported = onnx_import::import_onnx((fixtures_dir() / name).string(), options);
      const auto ref = datasets::read_reference_file(fixtures_dir() / entry.at("ref").get<std::string>());
      FuseStats stats;
      const Graph fused = check_fusion_preserves_outputs(imported, ref.inputs, stats);
      const Expect e = expected_for(entry.at("arch").get<std::string>(), entry.at("qdq").get<bool>());
      CHECK(count_ops(fused, OpKind::LayerNorm) == e.layer_norm);
      // A Gelu right after a Linear becomes that Linear's activation.
      int gelu = count_ops(fused, OpKind::Gelu);
      for (const Node& n : fused.nodes())
        gelu += n.kind == OpKind::Linear && std::get<LinearAttrs>(n.attrs).activation == Activation::gelu;
      CHECK(gelu == e.gelu);
      CHECK(stats.per_pattern.at("gelu") == e.gelu);
      CHECK(count_ops(fused, OpKind::Attention) == e.attention);
      CHECK(count_ops(fused, OpKind::Linear) >= e.linear_min);
      CHECK(count_ops(fused, OpKind::Erf) == 0);
      if (entry.at("opset").get<int>() < 17) CHECK(stats.per_pattern.at("layer_norm") == e.layer_norm);
      int causal = 0, masked = 0;
      for (const Node& n : fused.nodes())
        if (n.kind == OpKind::Attention) {
          causal += std::get<AttentionAttrs>(n.attrs).causal;
          masked += n.inputs.size() > 3 && n.inputs[3].valid();
        }
      CHECK(causal == (e.causal ? e.attention : 0));
      CHECK(masked == e.masked);
      if (entry.at("qdq").get<bool>())
        for (const Node& n : fused.nodes())
          if (n.kind == OpKind::Attention) {
            CHECK(std::get<AttentionAttrs>(n.attrs).probs_quant.has_value());
            CHECK(!std::get<AttentionAttrs>(n.attrs).scores_quant.has_value());  // its scores are not quantized
          }
      ++checked;
    }
    MESSAGE(checked << " fixtures fused");
  }

  TEST_CASE("fusion: GELU's tanh form (nn.GELU(approximate='tanh') and gelu_new with Pow) fuses into the Linears") {
    // examples/fixtures/make_gelu_tanh.py: torch's two export shapes of the tanh GELU, each after a Linear.
    onnx_import::ImportOptions options;
    options.dims["batch"] = 3;
    const Graph imported = onnx_import::import_onnx((fixtures_dir() / "gelu_tanh_mlp.onnx").string(), options);
    CHECK(count_ops(imported, OpKind::Tanh) == 2);
    const auto ref = datasets::read_reference_file(fixtures_dir() / "gelu_tanh_mlp.ref.h5");
    FuseStats stats;
    const Graph fused = check_fusion_preserves_outputs(imported, ref.inputs, stats);
    CHECK(stats.per_pattern.at("gelu_tanh") == 2);
    CHECK(count_ops(fused, OpKind::Tanh) == 0);
    CHECK(count_ops(fused, OpKind::Mul) == 0);
    CHECK(count_ops(fused, OpKind::Pow) == 0);
    int tanh_linears = 0;
    for (const Node& n : fused.nodes())
      tanh_linears += n.kind == OpKind::Linear && std::get<LinearAttrs>(n.attrs).activation == Activation::gelu_tanh;
    CHECK(tanh_linears == 2);
    // And against torch's own output: as imported and fused (reference kernels), fused on the engine's fast
    // kernels (the Linear's vectorised tanh GELU epilogue).
    for (const Graph* g : {&imported, &fused}) {
      const auto got = test::run_graph(*g, ref.inputs);
      CHECK(test::max_rel_diff(got.at(0), ref.outputs.at("y")) <= 1e-5);
    }
    ann::Engine engine(fused, {.threads = 2});
    const auto fast = engine.run(std::vector<Tensor>{ref.inputs.at("x")});
    CHECK(test::max_rel_diff(fast.at(0), ref.outputs.at("y")) <= 1e-5);
  }

  TEST_CASE("fusion: the QAT exports' attention fuses with its steps inside, bit for bit the unfused chain") {
    // examples/byom/qat4.onnx (QuantizeLinear -> Clip -> DequantizeLinear) and qat8.onnx (torch's own Q -> DQ):
    // FakeQuants on the scores before the Softmax and on the probabilities after it.
    for (const char* name : {"qat4", "qat8"}) {
      CAPTURE(name);
      const fs::path dir = source_dir() / "examples" / "byom";
      onnx_import::ImportOptions options;
      options.dims["batch"] = 3;
      const Graph imported = onnx_import::import_onnx((dir / (std::string(name) + ".onnx")).string(), options);
      const auto ref = datasets::read_reference_file(dir / (std::string(name) + ".ref.h5"));
      Graph fused = imported;
      const FuseStats stats = fuse_graph(fused);
      CHECK(stats.per_pattern.at("attention") == 2);
      CHECK(count_ops(fused, OpKind::Attention) == 2);
      CHECK(count_ops(fused, OpKind::Softmax) == 0);
      // Unfused: the qdq rule alone makes the FakeQuants; the chain then runs op by op.
      Graph unfused = imported;
      fuse_graph(unfused, std::set<std::string>{"attention"});
      CHECK(count_ops(unfused, OpKind::Attention) == 0);
      CHECK(count_ops(unfused, OpKind::Softmax) == 2);
      for (const auto& inputs : {ref.inputs, random_inputs(imported, 3)}) {
        const auto want = test::run_graph(unfused, inputs);
        const auto got = test::run_graph(fused, inputs);
        REQUIRE(got.size() == 1);
        // And the file as imported (QuantizeLinear rounds ties to even where FakeQuant rounds them up: close).
        CHECK(test::max_rel_diff(got[0], test::run_graph(imported, inputs).at(0)) <= 1e-5);
        // The fused reference computes the chain's float operations in the chain's order (the scores' dot
        // products, the same row softmax, the same rounding function): identical, not merely close.
        CHECK(got[0].identical(want[0]));
        // The engine's two-pass kernel: same steps, its own dot products (within the ordinary tolerance).
        ann::Engine engine(fused, {.threads = 2});
        const auto fast = engine.run(std::vector<Tensor>{inputs.at("input")});
        CHECK(test::max_rel_diff(fast.at(0), want[0]) <= 1e-5);
      }
    }
  }

  TEST_CASE("fusion: trained examples keep their outputs") {
    int checked = 0;
    for (const auto& dir : fs::directory_iterator(source_dir() / "examples")) {
      if (!dir.is_directory() || dir.path().filename() == "fixtures") continue;
      for (const auto& f : fs::directory_iterator(dir.path())) {
        if (f.path().extension() != ".onnx") continue;
        CAPTURE(f.path().string());
        Graph probe = onnx_import::read_onnx(f.path().string());
        onnx_import::ImportOptions options;
        // Small bound dims keep the reference interpreter fast; every symbol gets one.
        for (ValueId v : probe.inputs())
          for (const Dim& d : probe.value(v).type.dims)
            if (!d.is_known() && !d.symbol.empty()) options.dims[d.symbol] = d.symbol == "batch" ? 2 : 16;  // 16: the shortest position table (byom bert_padding)
        const Graph imported = onnx_import::import_onnx(f.path().string(), options);
        FuseStats stats;
        const Graph fused = check_fusion_preserves_outputs(imported, random_inputs(imported, 7), stats);
        CHECK(count_ops(fused, OpKind::Erf) == 0);
        MESSAGE(f.path().filename().string() << ": " << stats.total() << " fusions, " << count_ops(fused, OpKind::Attention)
                                             << " Attention, " << count_ops(fused, OpKind::Linear) << " Linear");
        ++checked;
      }
    }
    MESSAGE(checked << " trained examples fused");
  }
}

}  // namespace
}  // namespace snnconv
