// Structural pruning (converter/prune.hpp) on the fused fashion_vit model: parameter counts follow the
// formula, the graph verifies, a pruned model equals the masked (zeroed) unpruned model within 1e-5,
// removing a block removes its nodes, fractions out of range are UsageErrors, and bias correction makes
// the mean logits match the unpruned model's.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/prune.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/verifier.hpp"

namespace snnconv {
namespace {

namespace fs = std::filesystem;

Graph fused_vit() {
  const fs::path model = fs::path(SNNCONV_SOURCE_DIR) / "examples/fashion_vit/fashion_vit_relu.onnx";
  onnx_import::ImportOptions io;
  io.dims["batch"] = 1;
  Graph g = onnx_import::import_onnx(model.string(), io);
  fuse_graph(g);
  return g;
}

// Deterministic images in [0, 1).
std::vector<std::vector<Tensor>> images(int n) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<std::vector<Tensor>> out;
  for (int i = 0; i < n; ++i) {
    Tensor t(DType::f32, {1, 1, 28, 28});
    for (float& v : t.span<float>()) v = u(rng);
    out.push_back({std::move(t)});
  }
  return out;
}

double max_diff(const Graph& a, const Graph& b, const std::vector<std::vector<Tensor>>& inputs) {
  ann::Engine ea(a, {.threads = 1}), eb(b, {.threads = 1});
  double d = 0.0;
  for (const auto& in : inputs) {
    const auto ya = ea.run(in), yb = eb.run(in);
    REQUIRE(ya[0].shape() == yb[0].shape());
    const auto x = ya[0].to_f32(), y = yb[0].to_f32();
    for (std::size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(double(x[i]) - y[i]));
  }
  return d;
}

}  // namespace

TEST_CASE("pruning finds the units of the fused vit" * doctest::test_suite("unit")) {
  const Graph g = fused_vit();
  const prune::Structure s = prune::find_structure(g);
  REQUIRE(s.attention.size() == 4);
  REQUIRE(s.mlp.size() == 4);
  REQUIRE(s.blocks.size() == 4);
  CHECK(s.attention[0].heads == 4);
  CHECK(s.attention[0].head_dim == 16);
  CHECK(s.mlp[0].channels == 128);
  for (const prune::BlockUnit& b : s.blocks) CHECK(b.mlp >= 0);
}

TEST_CASE("pruning heads and MLP channels shrinks the matrices by the formula and matches the masked model" *
          doctest::test_suite("unit")) {
  const Graph original = fused_vit();
  const prune::Structure s = prune::find_structure(original);
  const auto calib = images(4);
  const prune::Importance imp = prune::measure_importance(original, s, calib);
  REQUIRE(imp.measured);
  Graph pruned = original;
  const prune::PruneResult r = prune::prune_graph(pruned, s, imp, {.heads = 0.25, .mlp = 0.25, .blocks = 0});
  verify(pruned, Stage::canonical);
  CHECK(r.pruned.size() == 8);
  // Per block: 1 of 4 heads (16 columns of q, k, v [64, 64] and their biases, 16 rows of proj [64, 64]),
  // 32 of 128 channels (32 columns of fc1 [64, 128] and its bias, 32 rows of fc2 [128, 64]).
  const std::int64_t e = 64, d = 16, ch = 32;
  const std::int64_t per_block = 3 * d * (e + 1) + d * e + ch * (e + 1) + ch * e;
  CHECK(prune::count_params(original) - prune::count_params(pruned) == 4 * per_block);
  CHECK(4 * per_block == 4 * 4144 + 4 * 4128);
  // The same units zeroed in the unpruned model: identical function.
  Graph masked = original;
  for (std::size_t i = 0; i < s.attention.size(); ++i) {
    const auto& cols = r.kept_rows.at(original.node(s.attention[i].proj).name);
    std::vector<std::int64_t> heads;
    for (std::int64_t h = 0; h < 4; ++h)
      if (std::find(cols.begin(), cols.end(), h * d) == cols.end()) heads.push_back(h);
    REQUIRE(heads.size() == 1);
    prune::mask_heads(masked, s.attention[i], heads);
  }
  for (std::size_t i = 0; i < s.mlp.size(); ++i) {
    const auto& keep = r.kept_rows.at(original.node(s.mlp[i].down).name);
    std::vector<std::int64_t> gone;
    for (std::int64_t c = 0; c < 128; ++c)
      if (std::find(keep.begin(), keep.end(), c) == keep.end()) gone.push_back(c);
    REQUIRE(gone.size() == 32);
    prune::mask_channels(masked, s.mlp[i], gone);
  }
  const double diff = max_diff(pruned, masked, images(6));
  MESSAGE("max |pruned - masked| logits: " << diff);
  CHECK(diff <= 1e-5);
  CHECK(max_diff(pruned, original, images(6)) > 1e-3);  // pruning did change the model
  // Heads removed are the least important ones.
  const auto& cols0 = r.kept_rows.at(original.node(s.attention[0].proj).name);
  for (std::int64_t h = 0; h < 4; ++h)
    if (std::find(cols0.begin(), cols0.end(), h * d) == cols0.end())
      CHECK(imp.heads[0][static_cast<std::size_t>(h)] ==
            *std::min_element(imp.heads[0].begin(), imp.heads[0].end()));
}

TEST_CASE("removing a block removes its nodes and the graph still verifies" * doctest::test_suite("unit")) {
  const Graph original = fused_vit();
  const prune::Structure s = prune::find_structure(original);
  const auto calib = images(3);
  const prune::Importance imp = prune::measure_importance(original, s, calib);
  REQUIRE(imp.block_cosine.size() == 4);
  Graph g = original;
  const prune::PruneResult r = prune::prune_graph(g, s, imp, {.blocks = 1});
  verify(g, Stage::canonical);
  REQUIRE(r.removed_blocks.size() == 1);
  // LayerNorm, 3 x (Linear, Reshape, Transpose), Attention, Transpose, Reshape, proj, Add, LayerNorm, fc1,
  // fc2, Add: 19 nodes.
  CHECK(original.num_nodes() - g.num_nodes() == 19);
  // The removed block is the one with the highest cosine, and none of its nodes is left.
  const auto best = std::max_element(imp.block_cosine.begin(), imp.block_cosine.end()) - imp.block_cosine.begin();
  const std::string tag = "blocks." + std::to_string(best) + "/";
  for (const Node& n : g.nodes()) CHECK(n.name.find(tag) == std::string::npos);
  // Its 4 * 64*64+64 + 64*128+128 + 128*64+64 + 2 * 2 * 64 weights are gone.
  CHECK(prune::count_params(original) - prune::count_params(g) == 4 * (64 * 64 + 64) + (64 * 128 + 128) + (128 * 64 + 64) + 4 * 64);
}

TEST_CASE("pruning fractions out of range and too many blocks are usage errors" * doctest::test_suite("unit")) {
  CHECK_THROWS_AS(prune::units_removed(1.0, 4), UsageError);
  CHECK_THROWS_AS(prune::units_removed(-0.1, 4), UsageError);
  CHECK(prune::units_removed(0.25, 4) == 1);
  CHECK(prune::units_removed(0.99, 4) == 3);
  CHECK(prune::units_removed(0.25, 128) == 32);
  const Graph original = fused_vit();
  const prune::Structure s = prune::find_structure(original);
  const prune::Importance imp = prune::measure_importance(original, s, {});
  CHECK_FALSE(imp.measured);
  Graph g = original;
  CHECK_THROWS_AS(prune::prune_graph(g, s, imp, {.heads = 1.0}), UsageError);
  CHECK_THROWS_AS(prune::prune_graph(g, s, imp, {.mlp = -0.5}), UsageError);
  CHECK_THROWS_AS(prune::prune_graph(g, s, imp, {.blocks = 4}), UsageError);
  CHECK_THROWS_AS(prune::prune_graph(g, s, imp, {.blocks = -1}), UsageError);
}

TEST_CASE("bias correction makes the pruned model's mean logits equal the original's" * doctest::test_suite("unit")) {
  const Graph original = fused_vit();
  const prune::Structure s = prune::find_structure(original);
  const auto calib = images(8);
  const prune::Importance imp = prune::measure_importance(original, s, calib);
  Graph g = original;
  const prune::PruneResult r = prune::prune_graph(g, s, imp, {.heads = 0.5, .mlp = 0.5});
  const std::int64_t params = prune::count_params(g);
  const auto mean_logits = [&](const Graph& m) {
    ann::Engine e(m, {.threads = 1});
    std::vector<double> sum(10, 0.0);
    for (const auto& in : calib) {
      const auto y = e.run(in)[0].to_f32();
      for (std::size_t i = 0; i < 10; ++i) sum[i] += y[i];
    }
    for (double& v : sum) v /= static_cast<double>(calib.size());
    return sum;
  };
  const std::vector<double> want = mean_logits(original);
  const std::vector<double> before = mean_logits(g);
  const auto changes = prune::correct_biases(g, original, r, calib);
  verify(g, Stage::canonical);
  CHECK(prune::count_params(g) == params);
  CHECK(changes.size() == 25);  // every Linear: 4 blocks x 6 and the head
  const std::vector<double> after = mean_logits(g);
  double err_before = 0.0, err_after = 0.0;
  for (std::size_t i = 0; i < 10; ++i) {
    err_before = std::max(err_before, std::fabs(before[i] - want[i]));
    err_after = std::max(err_after, std::fabs(after[i] - want[i]));
  }
  MESSAGE("max |mean logit - original| before " << err_before << ", after " << err_after);
  CHECK(err_after <= 1e-4);
  CHECK(err_before > 10 * err_after);
}

}  // namespace snnconv

namespace snnconv {

TEST_CASE("bias correction after weight rounding: mean logits of the 4-bit-weight model equal the float model's" *
          doctest::test_suite("unit")) {
  const Graph original = fused_vit();
  const auto calib = images(6);
  Graph g = original;
  prune::fake_quantize_weights(g, 4);
  Graph twice = g;
  prune::fake_quantize_weights(twice, 4);  // idempotent: the quantizer maps rounded weights to the same levels
  CHECK(max_diff(g, twice, calib) == 0.0);
  Graph grouped = original;  // grouped steps (rows of 16): idempotent too, and not the per-channel rounding
  prune::fake_quantize_weights(grouped, 4, {}, 16);
  Graph grouped_twice = grouped;
  prune::fake_quantize_weights(grouped_twice, 4, {}, 16);
  CHECK(max_diff(grouped, grouped_twice, calib) == 0.0);
  CHECK(max_diff(grouped, g, calib) > 0.0);
  const auto mean_logits = [&](const Graph& m) {
    ann::Engine e(m, {.threads = 1});
    std::vector<double> sum(10, 0.0);
    for (const auto& in : calib) {
      const auto y = e.run(in)[0].to_f32();
      for (std::size_t i = 0; i < 10; ++i) sum[i] += y[i] / static_cast<double>(calib.size());
    }
    return sum;
  };
  const std::vector<double> want = mean_logits(original), before = mean_logits(g);
  prune::correct_biases(g, original, {}, calib);
  const std::vector<double> after = mean_logits(g);
  double err_before = 0.0, err_after = 0.0;
  for (std::size_t i = 0; i < 10; ++i) {
    err_before = std::max(err_before, std::fabs(before[i] - want[i]));
    err_after = std::max(err_after, std::fabs(after[i] - want[i]));
  }
  MESSAGE("4-bit weights: max |mean logit - float| before " << err_before << ", after " << err_after);
  CHECK(err_after <= 1e-4);
  CHECK(err_before > 10 * err_after);
}

}  // namespace snnconv
