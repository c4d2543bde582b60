#include "snnconv/neuromorphic_hw/profile.hpp"
#include "snnconv/core/install_paths.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>

#include "snnconv/core/error.hpp"

#ifndef SNNCONV_PROFILES_DIR
#define SNNCONV_PROFILES_DIR "neuromorphic_hw/profiles"
#endif

namespace snnconv::hw {

namespace {

using nlohmann::json;

// One constant of a schema. `whole`: the value must be a whole number >= 1 (counts, sizes).
struct KeySpec {
  std::string_view key;
  std::string_view unit;
  bool whole = false;
};

// The schemas: every key is required, no other key is allowed. Kept as tables so the documentation
// (docs/energy-model.md) and the loader cannot drift apart silently: a test loads every bundled profile.
constexpr KeySpec kOpsKeys[] = {
    {"int8_add_energy", "pJ"},         {"int8_mult_energy", "pJ"},       {"int32_add_energy", "pJ"},
    {"int32_mult_energy", "pJ"},       {"fp16_add_energy", "pJ"},        {"fp16_mult_energy", "pJ"},
    {"fp32_add_energy", "pJ"},         {"fp32_mult_energy", "pJ"},       {"sram_8kb_read64_energy", "pJ"},
    {"sram_32kb_read64_energy", "pJ"}, {"sram_1mb_read64_energy", "pJ"}, {"dram_access64_energy", "pJ"},
    {"convention_mac_energy", "pJ"},   {"convention_ac_energy", "pJ"},
};

constexpr KeySpec kNeuromorphicKeys[] = {
    {"synaptic_op_energy", "pJ"},
    {"neuron_update_energy", "pJ"},
    {"spike_energy", "pJ"},
    {"hop_energy_x", "pJ"},
    {"hop_energy_y", "pJ"},
    {"mac_energy", "pJ"},
    {"dense_op_energy", "pJ"},
    {"nonlinear_op_energy", "pJ"},
    {"dram_energy_per_byte", "pJ/byte"},
    {"dram_bandwidth", "bytes/s"},
    {"link_energy_per_byte", "pJ/byte"},
    {"static_power", "W"},
    {"synaptic_op_time", "ns"},
    {"neuron_update_time", "ns"},
    {"step_barrier_time", "ns"},
    {"cores", "count", true},
    {"cores_per_tile", "count", true},
    {"mesh_x", "count", true},
    {"mesh_y", "count", true},
    {"neurons_per_core", "count", true},
    {"synapse_memory_per_core", "bytes", true},
    {"membrane_bytes_per_neuron", "bytes", true},
};

constexpr KeySpec kDenseKeys[] = {
    {"pe_rows", "count", true},
    {"pe_cols", "count", true},
    {"frequency", "Hz"},
    {"sram_size", "bytes", true},
    {"sram_energy_per_byte", "pJ/byte"},
    {"dram_energy_per_byte", "pJ/byte"},
    {"dram_bandwidth", "bytes/s"},
    {"static_power", "W"},
    {"mac_int8_energy", "pJ"},
    {"mac_fp16_energy", "pJ"},
    {"mac_fp32_energy", "pJ"},
    {"ac_energy", "pJ"},
    {"dense_op_energy", "pJ"},
    {"nonlinear_op_energy", "pJ"},
    {"psum_bytes", "bytes", true},
};

std::span<const KeySpec> schema(ProfileKind k) {
  switch (k) {
    case ProfileKind::ops:
      return kOpsKeys;
    case ProfileKind::neuromorphic:
      return kNeuromorphicKeys;
    case ProfileKind::dense:
      return kDenseKeys;
  }
  return {};
}

[[noreturn]] void fail(const std::string& file, const std::string& message) {
  throw ParseError(message, ErrorContext{file, {}, {}, {}});
}

std::string string_field(const json& j, std::string_view key, const std::string& file, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) fail(file, fmt::format("{}: missing required key '{}'", where, key));
  if (!it->is_string()) fail(file, fmt::format("{}: key '{}' must be a string", where, key));
  return it->get<std::string>();
}

Constant parse_constant(const json& j, const KeySpec& spec, const std::string& file) {
  const std::string where = fmt::format("constant '{}'", spec.key);
  if (!j.is_object()) fail(file, fmt::format("{} must be an object {{\"value\", \"unit\", \"source\", ...}}", where));
  static constexpr std::string_view kAllowed[] = {"value", "unit", "source", "node", "verified", "assumption", "note"};
  for (const auto& [k, v] : j.items())
    if (std::find(std::begin(kAllowed), std::end(kAllowed), k) == std::end(kAllowed))
      fail(file, fmt::format("{}: unknown key '{}'", where, k));
  Constant c;
  const auto v = j.find("value");
  if (v == j.end()) fail(file, fmt::format("{}: missing required key 'value'", where));
  if (!v->is_number()) fail(file, fmt::format("{}: 'value' must be a number", where));
  c.value = v->get<double>();
  // JSON has no NaN/Inf literals and nlohmann refuses overflowing numbers; kept for hand-built json.
  if (!std::isfinite(c.value)) fail(file, fmt::format("{}: value is not finite", where));
  if (c.value < 0) fail(file, fmt::format("{}: negative value {}", where, c.value));
  if (spec.whole && (c.value < 1 || c.value != std::floor(c.value) || c.value > 9.0e15))
    fail(file, fmt::format("{}: must be a whole number >= 1, got {}", where, c.value));
  c.unit = string_field(j, "unit", file, where);
  if (c.unit != spec.unit) fail(file, fmt::format("{}: unit '{}' where '{}' is expected", where, c.unit, spec.unit));
  c.source = string_field(j, "source", file, where);
  if (c.source.empty()) fail(file, fmt::format("{}: empty 'source'", where));
  if (j.contains("node")) c.node = string_field(j, "node", file, where);
  if (j.contains("note")) c.note = string_field(j, "note", file, where);
  if (const auto ver = j.find("verified"); ver != j.end()) {
    if (!ver->is_boolean()) fail(file, fmt::format("{}: 'verified' must be true or false", where));
    c.verified = ver->get<bool>();
  }
  // An assumption is labelled twice, as a flag for programs and in the source for people; the two must agree,
  // and an assumption is never "verified".
  if (const auto as = j.find("assumption"); as != j.end()) {
    if (!as->is_boolean()) fail(file, fmt::format("{}: 'assumption' must be true or false", where));
    c.assumption = as->get<bool>();
  }
  const bool says_assumption = c.source.rfind("assumption", 0) == 0;
  if (says_assumption && !c.assumption)
    fail(file, fmt::format("{}: the source starts with 'assumption' but \"assumption\": true is missing", where));
  if (c.assumption && !says_assumption)
    fail(file, fmt::format("{}: \"assumption\": true needs a source starting with 'assumption: ' and the reason", where));
  if (c.assumption) {
    if (j.contains("verified") && c.verified)
      fail(file, fmt::format("{}: an assumption cannot be \"verified\": true", where));
    c.verified = false;
  }
  return c;
}

void check_consistency(const Profile& p) {
  if (p.kind != ProfileKind::neuromorphic) return;
  const double tiles = p.value("mesh_x") * p.value("mesh_y");
  if (p.value("cores") > tiles * p.value("cores_per_tile"))
    fail(p.file, fmt::format("constant 'cores': {} cores do not fit on a {}x{} mesh of {} cores per tile",
                             p.value("cores"), p.value("mesh_x"), p.value("mesh_y"), p.value("cores_per_tile")));
}

}  // namespace

std::string_view profile_kind_name(ProfileKind k) {
  switch (k) {
    case ProfileKind::ops:
      return "ops";
    case ProfileKind::neuromorphic:
      return "neuromorphic";
    case ProfileKind::dense:
      return "dense";
  }
  return "?";
}

double Profile::value(std::string_view key) const {
  const auto it = constants.find(key);
  if (it == constants.end())
    throw ParseError(fmt::format("profile '{}': missing constant '{}'", name, key), ErrorContext{file, {}, {}, {}});
  return it->second.value;
}

Profile parse_profile(std::string_view json_text, const std::string& file) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number overflowing a double
    fail(file, fmt::format("malformed JSON: {}", e.what()));
  }
  if (!j.is_object()) fail(file, "a profile must be a JSON object");
  static constexpr std::string_view kTop[] = {"name", "kind", "description", "notes", "constants"};
  for (const auto& [k, v] : j.items())
    if (std::find(std::begin(kTop), std::end(kTop), k) == std::end(kTop))
      fail(file, fmt::format("unknown key '{}' (allowed: name, kind, description, notes, constants)", k));

  Profile p;
  p.file = file;
  p.name = string_field(j, "name", file, "profile");
  const std::string kind = string_field(j, "kind", file, "profile");
  if (kind == "ops")
    p.kind = ProfileKind::ops;
  else if (kind == "neuromorphic")
    p.kind = ProfileKind::neuromorphic;
  else if (kind == "dense")
    p.kind = ProfileKind::dense;
  else
    fail(file, fmt::format("key 'kind': unknown kind '{}' (expected ops, neuromorphic or dense)", kind));
  if (j.contains("description")) p.description = string_field(j, "description", file, "profile");
  if (const auto notes = j.find("notes"); notes != j.end()) {
    const bool ok =
        notes->is_array() && std::all_of(notes->begin(), notes->end(), [](const json& n) { return n.is_string(); });
    if (!ok) fail(file, "key 'notes' must be an array of strings");
  }

  const auto cs = j.find("constants");
  if (cs == j.end() || !cs->is_object()) fail(file, "missing required key 'constants' (an object)");
  const auto keys = schema(p.kind);
  for (const auto& item : cs->items()) {
    const std::string& k = item.key();  // not a structured binding: clang 14 (the fuzz build) cannot capture one
    const json& v = item.value();
    const auto spec = std::find_if(keys.begin(), keys.end(), [&](const KeySpec& s) { return s.key == k; });
    if (spec == keys.end()) fail(file, fmt::format("unknown key '{}' in constants of a {} profile", k, kind));
    p.constants.emplace(k, parse_constant(v, *spec, file));
  }
  for (const KeySpec& s : keys)
    if (!p.has(s.key)) fail(file, fmt::format("missing required constant '{}' ({})", s.key, s.unit));
  check_consistency(p);
  return p;
}

Profile with_value(const Profile& p, std::string_view key, double value) {
  const auto keys = schema(p.kind);
  const auto spec = std::find_if(keys.begin(), keys.end(), [&](const KeySpec& s) { return s.key == key; });
  if (spec == keys.end() || !p.has(key))
    fail(p.file, fmt::format("unknown key '{}' in constants of a {} profile", key, profile_kind_name(p.kind)));
  const std::string where = fmt::format("constant '{}'", key);
  if (!std::isfinite(value)) fail(p.file, fmt::format("{}: value is not finite", where));
  if (value < 0) fail(p.file, fmt::format("{}: negative value {}", where, value));
  if (spec->whole && (value < 1 || value != std::floor(value) || value > 9.0e15))
    fail(p.file, fmt::format("{}: must be a whole number >= 1, got {}", where, value));
  Profile out = p;
  out.constants.find(key)->second.value = value;
  check_consistency(out);
  return out;
}

Profile load_profile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot open hardware profile", ErrorContext{file.string(), {}, {}, {}});
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_profile(ss.str(), file.string());
}

std::filesystem::path default_profiles_dir() {
  if (const char* env = std::getenv("SNNCONV_PROFILES_DIR"); env != nullptr && *env != '\0') return env;
  if (std::filesystem::path installed = installed_data_path("profiles"); !installed.empty()) return installed;
  return SNNCONV_PROFILES_DIR;  // the build tree: the source folder
}

std::vector<std::string> list_profiles(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Profile find_profile(std::string_view name_or_path, const std::filesystem::path& dir) {
  const std::string s(name_or_path);
  if (s.find('/') != std::string::npos || (s.size() > 5 && s.ends_with(".json"))) return load_profile(s);
  const auto path = dir / (s + ".json");
  if (!std::filesystem::is_regular_file(path)) {
    std::string names;
    for (const auto& n : list_profiles(dir)) names += (names.empty() ? "" : ", ") + n;
    throw UsageError(fmt::format("unknown hardware profile '{}' (available in {}: {})", s, dir.string(),
                                 names.empty() ? "none" : names));
  }
  return load_profile(path);
}

namespace {
void require_kind(const Profile& p, ProfileKind k) {
  if (p.kind != k)
    throw UsageError(fmt::format("profile '{}' is a {} profile where a {} profile is needed", p.name,
                                 profile_kind_name(p.kind), profile_kind_name(k)),
                     ErrorContext{p.file, {}, {}, {}});
}
std::int64_t whole(const Profile& p, std::string_view key) {
  return static_cast<std::int64_t>(p.value(key));
}
}  // namespace

OpEnergies op_energies(const Profile& p) {
  require_kind(p, ProfileKind::ops);
  OpEnergies e;
  e.int8_add_pj = p.value("int8_add_energy");
  e.int8_mult_pj = p.value("int8_mult_energy");
  e.int32_add_pj = p.value("int32_add_energy");
  e.int32_mult_pj = p.value("int32_mult_energy");
  e.fp16_add_pj = p.value("fp16_add_energy");
  e.fp16_mult_pj = p.value("fp16_mult_energy");
  e.fp32_add_pj = p.value("fp32_add_energy");
  e.fp32_mult_pj = p.value("fp32_mult_energy");
  e.sram_8kb_read64_pj = p.value("sram_8kb_read64_energy");
  e.sram_32kb_read64_pj = p.value("sram_32kb_read64_energy");
  e.sram_1mb_read64_pj = p.value("sram_1mb_read64_energy");
  e.dram_access64_pj = p.value("dram_access64_energy");
  e.convention_mac_pj = p.value("convention_mac_energy");
  e.convention_ac_pj = p.value("convention_ac_energy");
  return e;
}

NeuromorphicChip neuromorphic_chip(const Profile& p) {
  require_kind(p, ProfileKind::neuromorphic);
  NeuromorphicChip c;
  c.name = p.name;
  c.synaptic_op_energy_pj = p.value("synaptic_op_energy");
  c.neuron_update_energy_pj = p.value("neuron_update_energy");
  c.spike_energy_pj = p.value("spike_energy");
  c.hop_energy_x_pj = p.value("hop_energy_x");
  c.hop_energy_y_pj = p.value("hop_energy_y");
  c.mac_energy_pj = p.value("mac_energy");
  c.dense_op_energy_pj = p.value("dense_op_energy");
  c.nonlinear_op_energy_pj = p.value("nonlinear_op_energy");
  c.dram_energy_per_byte_pj = p.value("dram_energy_per_byte");
  c.dram_bandwidth_bytes_per_s = p.value("dram_bandwidth");
  c.link_energy_per_byte_pj = p.value("link_energy_per_byte");
  c.static_power_w = p.value("static_power");
  c.synaptic_op_time_ns = p.value("synaptic_op_time");
  c.neuron_update_time_ns = p.value("neuron_update_time");
  c.step_barrier_time_ns = p.value("step_barrier_time");
  c.cores = whole(p, "cores");
  c.cores_per_tile = whole(p, "cores_per_tile");
  c.mesh_x = whole(p, "mesh_x");
  c.mesh_y = whole(p, "mesh_y");
  c.neurons_per_core = whole(p, "neurons_per_core");
  c.synapse_memory_per_core_bytes = whole(p, "synapse_memory_per_core");
  c.membrane_bytes_per_neuron = whole(p, "membrane_bytes_per_neuron");
  return c;
}

DenseAccelerator dense_accelerator(const Profile& p) {
  require_kind(p, ProfileKind::dense);
  DenseAccelerator d;
  d.name = p.name;
  d.pe_rows = whole(p, "pe_rows");
  d.pe_cols = whole(p, "pe_cols");
  d.frequency_hz = p.value("frequency");
  d.sram_bytes = p.value("sram_size");
  d.sram_energy_per_byte_pj = p.value("sram_energy_per_byte");
  d.dram_energy_per_byte_pj = p.value("dram_energy_per_byte");
  d.dram_bandwidth_bytes_per_s = p.value("dram_bandwidth");
  d.static_power_w = p.value("static_power");
  d.mac_int8_energy_pj = p.value("mac_int8_energy");
  d.mac_fp16_energy_pj = p.value("mac_fp16_energy");
  d.mac_fp32_energy_pj = p.value("mac_fp32_energy");
  d.ac_energy_pj = p.value("ac_energy");
  d.dense_op_energy_pj = p.value("dense_op_energy");
  d.nonlinear_op_energy_pj = p.value("nonlinear_op_energy");
  d.psum_bytes = p.value("psum_bytes");
  return d;
}

}  // namespace snnconv::hw
