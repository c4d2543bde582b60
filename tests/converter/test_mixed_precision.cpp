// Mixed precision (converter/mixed_precision.hpp): the knapsack against brute force, the hierarchy from node
// names, weight fake quantization, the KL and the sensitivity measurement on fashion_vit.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/mixed_precision.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

// The best summed value over every combination with summed cost <= budget (infinity when none fits).
double brute_force(const std::vector<KnapsackItem>& items, double budget) {
  double best = INFINITY;
  std::vector<std::size_t> pick(items.size(), 0);
  while (true) {
    double c = 0.0, v = 0.0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      c += items[i].cost[pick[i]];
      v += items[i].value[pick[i]];
    }
    if (c <= budget + 1e-9) best = std::min(best, v);
    std::size_t i = 0;
    while (i < items.size() && ++pick[i] == items[i].cost.size()) pick[i++] = 0;
    if (i == items.size()) break;
  }
  return best;
}

std::vector<KnapsackItem> random_items(std::mt19937& rng, std::size_t n, bool integral) {
  std::vector<KnapsackItem> items(n);
  const int bits[] = {2, 3, 4, 6, 8};
  for (KnapsackItem& it : items) {
    const double params = integral ? static_cast<double>(64 * (1 + rng() % 8)) : 10.0 + (rng() % 100000) / 997.0;
    double v = 1.0 + (rng() % 1000) / 10.0;
    for (int b : bits) {
      it.cost.push_back(params * b);
      it.value.push_back(v);
      v *= 0.05 + (rng() % 900) / 1000.0;  // more bits: less sensitivity
    }
  }
  return items;
}

Graph fashion_vit() {
  const auto model = kRoot / "examples/fashion_vit/fashion_vit_relu.onnx";
  onnx_import::ImportOptions io;
  io.dims["batch"] = 1;
  Graph g = onnx_import::import_onnx(model.string(), io);
  fuse_graph(g);
  return g;
}

std::vector<std::string> linears_of(const Graph& g) {
  std::vector<std::string> names;
  for (NodeId id : g.topological_order())
    if (g.node(id).kind == OpKind::Linear) names.push_back(g.node(id).name);
  return names;
}

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("knapsack: the exact DP equals brute force on 200 random instances") {
  std::mt19937 rng(5);
  int checked = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<KnapsackItem> items = random_items(rng, 2 + trial % 5, true);
    double lo = 0.0, hi = 0.0;
    for (const KnapsackItem& it : items) {
      lo += it.cost.front();
      hi += it.cost.back();
    }
    const double budget = std::floor(lo + (hi - lo) * ((rng() % 1000) / 1000.0));
    const KnapsackSolution s = solve_knapsack(items, budget, "test");
    CHECK(s.exact);
    CHECK(s.cost <= budget);
    CHECK(s.value == doctest::Approx(brute_force(items, budget)).epsilon(1e-12));
    ++checked;
  }
  CHECK(checked == 200);
}

TEST_CASE("knapsack: fractional costs are rounded up to a grid and still meet the budget") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const std::vector<KnapsackItem> items = random_items(rng, 4, false);
    double lo = 0.0, hi = 0.0;
    for (const KnapsackItem& it : items) {
      lo += it.cost.front();
      hi += it.cost.back();
    }
    const double budget = lo + (hi - lo) * 0.5;
    const KnapsackSolution s = solve_knapsack(items, budget, "test", 1 << 16);
    CHECK_FALSE(s.exact);
    CHECK(s.cost <= budget + 1e-9);
    const double best = brute_force(items, budget);
    CHECK(s.value >= best - 1e-12);  // never better than the true optimum
    // Rounding each of 4 costs up by at most one cell of budget / 65536 costs little: the exact optimum at a
    // budget 4 cells smaller is never beaten by more than that.
    CHECK(s.value <= brute_force(items, budget - 4.0 * budget / 65536.0) + 1e-12);
  }
}

TEST_CASE("knapsack: a budget below the cheapest allocation is a UsageError naming both") {
  std::vector<KnapsackItem> items{{{20, 40}, {1.0, 0.5}}, {{30, 60}, {2.0, 0.1}}};
  CHECK(solve_knapsack(items, 50, "b").cost == 50);
  CHECK(solve_knapsack(items, 50, "b").value == doctest::Approx(3.0));
  CHECK(solve_knapsack(items, 80, "b").value == doctest::Approx(1.1));  // 20 + 60
  try {
    solve_knapsack(items, 49, "--budget-bytes 6");
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()).find("--budget-bytes 6") != std::string::npos);
    CHECK(std::string(e.what()).find("49") != std::string::npos);
    CHECK(std::string(e.what()).find("50") != std::string::npos);
  }
}

TEST_CASE("fake_quantize_weight: per output channel symmetric levels") {
  const Tensor w = Tensor::from_vector<float>({2, 2}, {1.0f, -0.1f, 0.26f, 0.3f});
  const std::vector<float> q = fake_quantize_weight(w, 3).to_f32();  // levels -3..3
  // column 0: step 1/3 -> 1, 0.26 -> round(0.78) = 1 -> 1/3; column 1: step 0.1 -> -0.1, 0.3
  CHECK(q[0] == doctest::Approx(1.0f));
  CHECK(q[2] == doctest::Approx(1.0f / 3.0f));
  CHECK(q[1] == doctest::Approx(-0.1f));
  CHECK(q[3] == doctest::Approx(0.3f));
  CHECK_THROWS_AS(fake_quantize_weight(w, 1), UsageError);
}

TEST_CASE("fake_quantize_weight with groups: the grouped quantizer's levels times its block steps") {
  // [4, 1] at 3 bits, groups of 2 rows: rows 0-1 step 0.2 (max 0.6), rows 2-3 step 1 (max 3).
  const Tensor w = Tensor::from_vector<float>({4, 1}, {0.6f, 0.25f, 3.0f, -1.4f});
  const std::vector<float> q = fake_quantize_weight(w, 3, 2).to_f32();
  CHECK(q[0] == doctest::Approx(0.6f));
  CHECK(q[1] == doctest::Approx(0.2f));  // 0.25 / 0.2 = 1.25 -> 1
  CHECK(q[2] == doctest::Approx(3.0f));
  CHECK(q[3] == doctest::Approx(-1.0f));  // -1.4 -> -1
  // Per channel the same weight has one step 1: 0.6 -> 1, 0.25 -> 0.
  const std::vector<float> ch = fake_quantize_weight(w, 3).to_f32();
  CHECK(ch[0] == doctest::Approx(1.0f));
  CHECK(ch[1] == 0.0f);
  CHECK(fake_quantize_weight(w, 3, 4).to_f32() == ch);  // G = K is per channel
  CHECK_THROWS_AS(fake_quantize_weight(w, 3, 3), UsageError);
}

TEST_CASE("mean_row_kl: zero for equal logits and the two-class value") {
  const Tensor a = Tensor::from_vector<float>({2, 2}, {0.0f, 0.0f, 1.0f, 2.0f});
  CHECK(mean_row_kl(a, a) == 0.0);
  const Tensor p = Tensor::from_vector<float>({1, 2}, {0.0f, 0.0f});
  const Tensor q = Tensor::from_vector<float>({1, 2}, {0.0f, std::log(3.0f)});  // q = (1/4, 3/4)
  const double expected = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);
  CHECK(mean_row_kl(p, q) == doctest::Approx(expected).epsilon(1e-6));
  CHECK_THROWS_AS(mean_row_kl(a, p), ShapeError);
}

TEST_CASE("hierarchy of fashion_vit: model and 4 blocks and attn and mlp sub-layers and the head and 25 tensors") {
  const Graph g = fashion_vit();
  const std::vector<PrecisionUnit> units = hierarchy_units(g, linears_of(g));
  std::map<UnitLevel, int> count;
  std::map<std::string, const PrecisionUnit*> by_name;
  for (const PrecisionUnit& u : units) {
    ++count[u.level];
    by_name[u.name] = &u;
  }
  CHECK(count[UnitLevel::model] == 1);
  CHECK(count[UnitLevel::block] == 4);
  CHECK(count[UnitLevel::sublayer] == 9);
  CHECK(count[UnitLevel::tensor] == 25);
  REQUIRE(by_name.count("blocks.2/attn"));
  CHECK(by_name["blocks.2/attn"]->members ==
        std::vector<std::string>{"/blocks.2/attn/q/MatMul", "/blocks.2/attn/k/MatMul", "/blocks.2/attn/v/MatMul",
                                 "/blocks.2/attn/proj/MatMul"});
  REQUIRE(by_name.count("blocks.2/mlp"));
  CHECK(by_name["blocks.2/mlp"]->params == 2 * 64 * 128);
  REQUIRE(by_name.count("head"));
  CHECK(by_name["head"]->level == UnitLevel::sublayer);
  CHECK(by_name["model"]->params == 4 * (4 * 64 * 64 + 2 * 64 * 128) + 64 * 10);
}

TEST_CASE("weight sensitivity on fashion_vit: repeatable and 2 bits hurt more than 8") {
  const Graph g = fashion_vit();
  const std::vector<PrecisionUnit> all = hierarchy_units(g, linears_of(g));
  const std::vector<PrecisionUnit> units(all.begin(), all.begin() + 2);  // the model and blocks.0
  std::vector<std::vector<Tensor>> samples;
  const Value& in = g.value(g.inputs()[0]);
  for (int s = 0; s < 2; ++s) {
    std::vector<float> x(static_cast<std::size_t>(checked_numel(in.type.static_shape())));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7 + s * 13) % 29) / 29.0f - 0.3f;
    samples.push_back({Tensor::from_vector<float>(in.type.static_shape(), x)});
  }
  SensitivityOptions o;
  o.bits = {2, 8};
  const SensitivityTable a = weight_sensitivity(g, units, samples, o);
  const SensitivityTable b = weight_sensitivity(g, units, samples, o);
  CHECK(a == b);
  CHECK(a[0].at(2) > 100.0 * a[0].at(8));
  CHECK(a[0].at(2) > a[1].at(2));  // the whole model at 2 bits hurts more than one block at 2 bits
  // A sample of the wrong shape: ShapeError naming the input.
  std::vector<std::vector<Tensor>> bad{{Tensor::from_vector<float>({1, 3}, {0.0f, 0.0f, 0.0f})}};
  try {
    weight_sensitivity(g, units, bad, o);
    FAIL("no error");
  } catch (const ShapeError& e) {
    CHECK(std::string(e.what()).find(in.name) != std::string::npos);
  }
}

TEST_CASE("activation points of fashion_vit grouped by block") {
  const QannSkeleton sk = build_qann_skeleton(fashion_vit());
  const std::vector<PrecisionUnit> blocks = activation_blocks(sk);
  std::size_t members = 0;
  int block_units = 0;
  for (const PrecisionUnit& u : blocks) {
    members += u.members.size();
    if (u.level == UnitLevel::block) {
      ++block_units;
      CHECK(u.name.rfind("blocks.", 0) == 0);
      CHECK(u.members.size() == 13);
    }
  }
  CHECK(block_units == 4);
  CHECK(members == sk.points.size());
}

TEST_CASE("cost file: per-bit factors and explicit tables and clear errors") {
  const std::vector<PrecisionUnit> tensors{{"/a/MatMul", UnitLevel::tensor, {"/a/MatMul"}, 100},
                                           {"/b/MatMul", UnitLevel::tensor, {"/b/MatMul"}, 10}};
  const auto path = std::filesystem::temp_directory_path() / "snnconv_test_costs.json";
  const auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write(R"({"budget": 1000, "costs": {"/a/MatMul": 0.5, "/b/MatMul": {"2": 1, "4": 7}}})");
  const CostTable t = read_cost_file(path.string(), tensors, {2, 4});
  CHECK(t.budget == 1000.0);
  CHECK(t.cost.at("/a/MatMul").at(4) == 200.0);
  CHECK(t.cost.at("/b/MatMul").at(4) == 7.0);
  write(R"({"costs": {}})");
  CHECK_THROWS_AS(read_cost_file(path.string(), tensors, {2, 4}), UsageError);
  write(R"({"budget": 5, "costs": {"/c/MatMul": 1}})");
  CHECK_THROWS_WITH_AS(read_cost_file(path.string(), tensors, {2, 4}), doctest::Contains("/c/MatMul"), UsageError);
  write(R"({"budget": 5, "costs": {"/b/MatMul": {"2": 1}}})");
  CHECK_THROWS_WITH_AS(read_cost_file(path.string(), tensors, {2, 4}), doctest::Contains("4 bits"), UsageError);
  std::filesystem::remove(path);
}
}

}  // namespace snnconv
