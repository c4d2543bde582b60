// `snnconv compress` pruning on fashion_vit (pipeline/compress.hpp, prune_model.hpp): parameter counts fall
// by the formula through the whole pipeline and survive the model file, a removed block's nodes are gone
// from the QANN and the SNN, and out-of-range requests are UsageErrors.
#include <doctest/doctest.h>

#include <filesystem>

#include "snnconv/pipeline/compress.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv {
namespace {

pipeline::CompressOptions vit_options() {
  pipeline::CompressOptions o;
  o.quant.model = (std::filesystem::path(SNNCONV_SOURCE_DIR) / "examples/fashion_vit/fashion_vit_relu.onnx").string();
  o.quant.calib_samples = 4;
  return o;
}

}  // namespace

TEST_CASE("compress prunes 25% of heads and MLP channels: parameters fall by the formula" * doctest::test_suite("unit")) {
  pipeline::CompressOptions o = vit_options();
  o.prune_heads = 0.25;
  o.prune_mlp = 0.25;
  o.bias_correction = true;
  const pipeline::CompressResult r = pipeline::compress_model(o);
  // Per block: 16 columns of q, k, v (64 x 16 weights + 16 biases each) and 16 rows of proj (16 x 64);
  // 32 columns of fc1 (64 x 32 + 32) and 32 rows of fc2 (32 x 64). Four blocks.
  CHECK(r.params_before - r.params_after == 4 * (3 * 16 * 65 + 16 * 64 + 32 * 65 + 32 * 64));
  CHECK(r.pruned.size() == 9);  // 4 attention lines, 4 MLP lines, 1 bias correction line
  // The saved model file holds the pruned weights.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "snnconv_test_compress_prune";
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "vit.snn.h5").string();
  pipeline::save_quantized_model(r.model, o.quant, file);
  const pipeline::QuantizedModel back = pipeline::load_quantized_model(file);
  int found = 0;
  for (const Node& n : back.qann.nodes())
    if (n.name == "/blocks.0/fc1/MatMul") {
      ++found;
      CHECK(back.qann.value(n.inputs[1]).constant->shape() == Shape{64, 96});
    }
  CHECK(found == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("compress removing one block removes its nodes from the float model, the QANN and the SNN" *
          doctest::test_suite("unit")) {
  pipeline::CompressOptions o = vit_options();
  const pipeline::CompressResult full = pipeline::compress_model(o);
  o.prune_blocks = 1;
  const pipeline::CompressResult r = pipeline::compress_model(o);
  CHECK(full.model.canonical.num_nodes() - r.model.canonical.num_nodes() == 19);
  CHECK(r.model.qann.num_nodes() < full.model.qann.num_nodes());
  CHECK(r.model.snn.num_nodes() < full.model.snn.num_nodes());
  CHECK(r.units.size() == full.units.size() - 6);  // q, k, v, proj, fc1, fc2
}

TEST_CASE("compress refuses pruning fractions outside 0 to 1 and too many blocks" * doctest::test_suite("unit")) {
  pipeline::CompressOptions o = vit_options();
  o.prune_heads = 1.0;
  CHECK_THROWS_AS(pipeline::compress_model(o), UsageError);
  o.prune_heads = 0.0;
  o.prune_mlp = -0.25;
  CHECK_THROWS_AS(pipeline::compress_model(o), UsageError);
  o.prune_mlp = 0.0;
  o.prune_blocks = 4;
  CHECK_THROWS_AS(pipeline::compress_model(o), UsageError);
}

}  // namespace snnconv
