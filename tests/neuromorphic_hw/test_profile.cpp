#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "snnconv/core/error.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

using namespace snnconv;
using namespace snnconv::hw;

namespace {

const std::filesystem::path kProfiles = std::filesystem::path(SNNCONV_SOURCE_DIR) / "neuromorphic_hw" / "profiles";

// A scratch folder per test case, removed at the end.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("snnconv_hw_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The loihi profile with one textual edit.
std::string loihi_with(const std::string& from, const std::string& to) {
  std::string text = read_text(kProfiles / "loihi.json");
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

// Runs f, which must throw ParseError; returns its message and checks the file is in the context.
template <typename F> std::string parse_error_of(F f, const std::filesystem::path& file) {
  try {
    f();
  } catch (const ParseError& e) {
    CHECK(e.context().file == file.string());
    return e.what();
  }
  FAIL("no ParseError thrown");
  return {};
}

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("every bundled profile loads and validates and cites a source for every constant") {
  const auto names = list_profiles(kProfiles);
  CHECK(names == std::vector<std::string>{"generic45", "loihi", "spinnaker2", "systolic_int8", "truenorth"});
  for (const auto& n : names) {
    const Profile p = find_profile(n, kProfiles);
    CHECK(p.name == n);
    CHECK_FALSE(p.constants.empty());
    for (const auto& [key, c] : p.constants) {
      INFO(n << "." << key);
      CHECK_FALSE(c.source.empty());
      CHECK_FALSE(c.unit.empty());
      // Every constant is a cited figure (verified or not) or an assumption that says why.
      CHECK(c.assumption == (c.source.rfind("assumption: ", 0) == 0));
      if (c.assumption) CHECK_FALSE(c.verified);
    }
  }
  const NeuromorphicChip loihi = neuromorphic_chip(find_profile("loihi", kProfiles));
  CHECK(loihi.synaptic_op_energy_pj == 23.6);
  CHECK(loihi.neuron_update_energy_pj == 81);
  CHECK(loihi.spike_energy_pj == 1.7);
  CHECK(loihi.hop_energy_x_pj == 3.0);
  CHECK(loihi.hop_energy_y_pj == 4.2);
  CHECK(loihi.cores == 128);
  CHECK(loihi.neurons_per_core == 1024);
  CHECK(loihi.synapse_memory_per_core_bytes == 131072);
  CHECK_FALSE(find_profile("loihi", kProfiles).constants.at("synapse_memory_per_core").verified);
  CHECK_FALSE(find_profile("loihi", kProfiles).constants.at("synapse_memory_per_core").assumption);
  CHECK(find_profile("loihi", kProfiles).constants.at("mac_energy").assumption);
  CHECK(find_profile("loihi", kProfiles).constants.at("mac_energy").flagged());
  CHECK_FALSE(find_profile("loihi", kProfiles).constants.at("synaptic_op_energy").flagged());
  const OpEnergies ops = op_energies(find_profile("generic45", kProfiles));
  CHECK(ops.int8_mult_pj == 0.2);
  CHECK(ops.convention_mac_pj == 4.6);
  const DenseAccelerator sys = dense_accelerator(find_profile("systolic_int8", kProfiles));
  CHECK(sys.mac_int8_energy_pj == 0.3);
  CHECK(sys.pe_rows * sys.pe_cols == 1024);
  // A profile of the wrong kind is refused by the typed views.
  CHECK_THROWS_AS(neuromorphic_chip(find_profile("systolic_int8", kProfiles)), UsageError);
}

TEST_CASE("profiles are found by name or by path and an unknown name lists the available ones") {
  const Profile by_path = find_profile((kProfiles / "truenorth.json").string());
  CHECK(by_path.kind == ProfileKind::neuromorphic);
  CHECK(by_path.file == (kProfiles / "truenorth.json").string());
  try {
    find_profile("loihi3", kProfiles);
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()).find("loihi3") != std::string::npos);
    CHECK(std::string(e.what()).find("spinnaker2") != std::string::npos);
  }
  // The default folder is the source tree's (baked in at build time).
  CHECK(std::filesystem::exists(default_profiles_dir() / "loihi.json"));
  CHECK_THROWS_AS(load_profile(kProfiles / "absent.json"), IoError);
}

TEST_CASE("a bad profile is refused with an error naming the key and the file") {
  TempDir tmp;
  auto check = [&](const std::string& name, const std::string& text, const std::string& expected) {
    const auto file = tmp.write(name, text);
    const std::string msg = parse_error_of([&] { load_profile(file); }, file);
    INFO(msg);
    CHECK(msg.find(expected) != std::string::npos);
    CHECK(msg.find(file.string()) != std::string::npos);
  };
  // A missing required constant: drop the synapse memory entry.
  {
    std::string text = read_text(kProfiles / "loihi.json");
    const auto at = text.find("\"synapse_memory_per_core\"");
    REQUIRE(at != std::string::npos);
    const auto end = text.find('}', at);
    text.erase(at, end - at + 2);  // the object and its trailing comma
    check("missing.json", text, "missing required constant 'synapse_memory_per_core'");
  }
  check("negative.json", loihi_with("\"value\": 81", "\"value\": -81"), "constant 'neuron_update_energy': negative");
  check("unknown_constant.json", loihi_with("\"constants\": {", "\"constants\": {\"warp_drive\": {\"value\": 1}, "),
        "unknown key 'warp_drive'");
  check("unknown_top.json", loihi_with("\"kind\":", "\"colour\": \"red\", \"kind\":"), "unknown key 'colour'");
  check("unknown_field.json", loihi_with("\"value\": 23.6,", "\"value\": 23.6, \"confidence\": 3,"),
        "unknown key 'confidence'");
  check("infinite.json", loihi_with("\"value\": 4.2", "\"value\": 1e999"), "number overflow parsing '1e999'");
  check("unit.json", loihi_with("\"value\": 1.7,\n      \"unit\": \"pJ\"", "\"value\": 1.7,\n      \"unit\": \"nJ\""),
        "constant 'spike_energy': unit 'nJ' where 'pJ' is expected");
  check("fraction.json", loihi_with("\"value\": 1024", "\"value\": 1024.5"), "constant 'neurons_per_core'");
  check("kind.json", loihi_with("\"kind\": \"neuromorphic\"", "\"kind\": \"quantum\""), "unknown kind 'quantum'");
  check("malformed.json", "{\"name\": ", "malformed JSON");
  check("notes.json", loihi_with("\"notes\": [", "\"notes\": [3, "), "key 'notes'");
  // The assumption flag and the source agree, and an assumption is never verified.
  check("unflagged.json", loihi_with("\"assumption\": true,\n      \"node\": \"14 nm\"", "\"node\": \"14 nm\""),
        "the source starts with 'assumption' but \"assumption\": true is missing");
  check("flagged.json", loihi_with("\"value\": 1.7,", "\"value\": 1.7, \"assumption\": true,"),
        "constant 'spike_energy': \"assumption\": true needs a source starting with 'assumption: '");
  check("verified.json", loihi_with("\"assumption\": true,", "\"assumption\": true, \"verified\": true,"),
        "an assumption cannot be \"verified\": true");
}
}
