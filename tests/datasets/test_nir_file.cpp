// The NIR reader and writer (datasets/nir_file.hpp) on the NIR paper's files and the malformed variants of
// tests/data/nir/make_bad_nir.py. Here rather than only in pipeline so that the sanitizer pass covers the HDF5 code.
#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

#include "snnconv/core/error.hpp"
#include "snnconv/datasets/nir_file.hpp"

using namespace snnconv;

namespace {
const std::filesystem::path kNir = std::filesystem::path(SNNCONV_SOURCE_DIR) / "tests/data/nir";
}

TEST_CASE("NIR file: lif_norse.nir read as stored, written and read back equal") {
  const nir::Graph g = datasets::read_nir_file(kNir / "lif_norse.nir");
  CHECK(g.version == "0.1.1");
  REQUIRE(g.nodes.size() == 4);
  const nir::Node* lif = g.find("1");
  REQUIRE(lif != nullptr);
  CHECK(lif->type == nir::NodeType::LIF);
  CHECK(lif->require("tau").values == std::vector<double>{static_cast<double>(0.0025f)});
  CHECK(lif->require("v_threshold").type == nir::ParamType::f32);
  CHECK(g.find("input")->require("shape").type == nir::ParamType::i64);
  CHECK(g.edges.size() == 3);
  CHECK(nir::parameter_count(g) == 6);
  CHECK(datasets::is_nir_file(kNir / "lif_norse.nir"));
  CHECK_FALSE(datasets::is_nir_file(kNir / "lif_exact.csv"));

  const auto path = std::filesystem::temp_directory_path() / ("snnconv_nir_rt_" + std::to_string(::getpid()) + ".nir");
  datasets::write_nir_file(path, g);
  const nir::Graph b = datasets::read_nir_file(path);
  std::filesystem::remove(path);
  REQUIRE(b.nodes.size() == g.nodes.size());
  for (const nir::Node& n : g.nodes) {
    const nir::Node* m = b.find(n.name);
    REQUIRE(m != nullptr);
    CHECK(m->type == n.type);
    REQUIRE(m->params.size() == n.params.size());
    for (const nir::Param& p : n.params) {
      CHECK(m->require(p.name).values == p.values);
      CHECK(m->require(p.name).shape == p.shape);
      CHECK(m->require(p.name).type == p.type);
    }
  }
}

TEST_CASE("NIR file: malformed files are refused with the error class and the object named") {
  CHECK_THROWS_AS(datasets::read_nir_file(kNir / "bad_missing_node.nir"), GraphError);
  CHECK_THROWS_AS(datasets::read_nir_file(kNir / "bad_unknown_type.nir"), UnsupportedError);
  CHECK_THROWS_AS(datasets::read_nir_file(kNir / "bad_truncated.nir"), ParseError);
  CHECK_THROWS_AS(datasets::read_nir_file(kNir / "no_such_file.nir"), IoError);
  CHECK_THROWS_AS(datasets::read_nir_file(kNir / "lif_exact.csv"), ParseError);
  try {
    (void)datasets::read_nir_file(kNir / "bad_unknown_type.nir");
  } catch (const UnsupportedError& e) {
    CHECK(std::string(e.what()).find("'1' (Izhikevich)") != std::string::npos);
  }
  nir::Graph g = datasets::read_nir_file(kNir / "lif_norse.nir");
  g.edges.push_back({"1", "nowhere"});
  CHECK_THROWS_AS(datasets::write_nir_file(std::filesystem::temp_directory_path() / "never.nir", g), UsageError);
  CHECK_FALSE(std::filesystem::exists(std::filesystem::temp_directory_path() / "never.nir"));
}
