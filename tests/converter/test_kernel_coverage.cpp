// Every fast kernel the dense engine can choose is checked against the reference kernel of its op.
//
// The kernel names are read from the engine's sources (each choice is a `{function, "name"}` pair in
// ann_baseline/src, plus the binary kernels' kNames table), so a new kernel is seen without anyone updating a
// list here; each name must then appear in a harness test that runs the fast kernel beside the reference
// (check_fast_kernel, or an engine with reference_only) and asserts that the kernel was the one chosen.
// A second check runs every bundled example model and fixture and requires that every kernel the plans chose
// is one of the names read, so the source reading cannot silently miss a kernel the engine uses.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"

namespace snnconv {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = SNNCONV_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Names of the fast kernels: `{fn, "name"}` / `KernelChoice{fn, "name"}` with a function (not nullptr: a view
// runs no kernel), and the entries of `kNames[] = {...}`.
std::set<std::string> product_kernel_names() {
  std::set<std::string> names;
  const std::regex choice(R"(\{\s*([A-Za-z_][A-Za-z_0-9:<>]*)\s*,\s*\"([a-z_0-9]+)\"\s*\})");
  const std::regex table(R"(kNames\[\]\s*=\s*\{([^}]*)\})");
  const std::regex literal(R"(\"([a-z_0-9]+)\")");
  for (const auto& e : fs::directory_iterator(kRoot / "ann_baseline" / "src")) {
    if (e.path().extension() != ".cpp") continue;
    const std::string text = slurp(e.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), choice); it != std::sregex_iterator(); ++it)
      if ((*it)[1] != "nullptr") names.insert((*it)[2]);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), table); it != std::sregex_iterator(); ++it) {
      const std::string body = (*it)[1];
      for (auto l = std::sregex_iterator(body.begin(), body.end(), literal); l != std::sregex_iterator(); ++l)
        names.insert((*l)[1]);
    }
  }
  return names;
}

// The harness files: tests of this folder that run fast kernels beside the reference.
std::vector<std::pair<std::string, std::string>> harness_sources() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : fs::directory_iterator(kRoot / "tests" / "ann_baseline")) {
    if (e.path().extension() != ".cpp") continue;
    std::string text = slurp(e.path());
    if (text.find("check_fast_kernel(") != std::string::npos || text.find("reference_only = true") != std::string::npos)
      out.emplace_back(e.path().filename().string(), std::move(text));
  }
  return out;
}

TEST_SUITE("unit") {
TEST_CASE("every fast kernel of the dense engine is checked against the reference by the harness") {
  const std::set<std::string> kernels = product_kernel_names();
  // The reading found the kernels it must (a broken pattern would find none and pass vacuously).
  for (const char* known : {"packed_gemm", "eigen_gemm", "softmax", "layer_norm", "binary_row", "online_attention",
                            "affine_gather", "packed_gemm_residual", "im2col_packed_gemm", "gather"})
    CHECK_MESSAGE(kernels.count(known) == 1, known << " is among the kernels read from ann_baseline/src");
  CHECK(kernels.size() >= 25);
  const auto harness = harness_sources();
  REQUIRE(harness.size() >= 3);
  std::vector<std::string> uncovered;
  for (const std::string& k : kernels) {
    bool covered = false;
    for (const auto& [file, text] : harness) covered = covered || text.find('"' + k + '"') != std::string::npos;
    if (!covered) uncovered.push_back(k);
  }
  std::string list;
  for (const std::string& k : uncovered) list += " " + k;
  CHECK_MESSAGE(uncovered.empty(), "fast kernels no harness test checks against the reference:" << list);
  std::string all;
  for (const std::string& k : kernels) all += " " + k;
  MESSAGE(kernels.size() << " fast kernels, each checked against the reference:" << all);
}

TEST_CASE("the kernels the example models' plans choose are all among the kernels read from the sources") {
  std::set<std::string> allowed = product_kernel_names();
  // Not kernels: a view of its input, a node folded into a constant or into another node's kernel
  // (`drop_folded_steps(plan, removed, "folded_into_...")`), and the reference itself.
  for (const char* s : {"view", "constant", "reference"}) allowed.insert(s);
  const std::regex folded(R"(drop_folded_steps\([^"]*\"([a-z_]+)\"\))");
  const std::string plan = slurp(kRoot / "ann_baseline" / "src" / "plan.cpp");
  for (auto it = std::sregex_iterator(plan.begin(), plan.end(), folded); it != std::sregex_iterator(); ++it)
    allowed.insert((*it)[1]);
  CHECK(allowed.count("folded_into_linear") == 1);
  int models = 0;
  std::set<std::string> seen;
  for (const char* dir : {"examples/fashion_vit", "examples/medical_tab", "examples/code_gpt", "examples/fashion_vqa",
                          "examples/fixtures"}) {
    for (const auto& e : fs::directory_iterator(kRoot / dir)) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() != ".onnx" || name.find("op13") != std::string::npos) continue;
      const Graph probe = onnx_import::read_onnx(e.path().string());
      onnx_import::ImportOptions io;  // every symbolic dim 1, seq the model's window
      Graph g = onnx_import::import_onnx(e.path().string(), io);
      fuse_graph(g);
      const ann::Engine engine(g, {.threads = 1});
      for (const std::string& k : engine.kernel_names()) {
        seen.insert(k);
        CHECK_MESSAGE(allowed.count(k) == 1, name << " chose kernel '" << k << "', which the sources do not list");
      }
      ++models;
    }
  }
  CHECK(models >= 10);
  CHECK(seen.count("packed_gemm") + seen.count("eigen_gemm") >= 1);
  MESSAGE(models << " models, " << seen.size() << " distinct kernels chosen");
}
}

}  // namespace
}  // namespace snnconv
