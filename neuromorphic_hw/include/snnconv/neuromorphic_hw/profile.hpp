// Hardware profiles: every constant of an accelerator model is data (a JSON file under
// neuromorphic_hw/profiles/) that carries its value, unit, source and technology node, so a report can
// show where each number comes from and a user can price a model on their own chip without rebuilding.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace snnconv::hw {

// "ops": a table of per-operation energies (generic45, Horowitz ISSCC 2014), the source other profiles
// derive from. "neuromorphic": cores on a mesh priced per event. "dense": a systolic array with SRAM/DRAM.
enum class ProfileKind : std::uint8_t { ops, neuromorphic, dense };
std::string_view profile_kind_name(ProfileKind k);

struct Constant {
  double value = 0.0;
  std::string unit;      // "pJ", "bytes", "count", "W", "Hz", "ns", "pJ/byte", "bytes/s"
  std::string source;    // citation (REFERENCES.md) or "assumption: ..." with the reason
  std::string node;      // technology node the value was measured or derived at ("45 nm")
  bool verified = true;     // false: from a secondary summary or an assumption, not checked in the primary source
  bool assumption = false;  // a modelling choice, not a measured or published figure (source: "assumption: why")
  std::string note;

  // Flagged in reports: an assumption, or a cited figure not checked against its primary source.
  bool flagged() const { return assumption || !verified; }
};

struct Profile {
  std::string name;
  ProfileKind kind = ProfileKind::ops;
  std::string description;
  std::string file;  // where it was read from; error context
  std::map<std::string, Constant, std::less<>> constants;

  // The value of a constant; throws ParseError naming the key (and the file) when absent.
  double value(std::string_view key) const;
  bool has(std::string_view key) const { return constants.find(key) != constants.end(); }
};

// Parses and validates a profile against the schema of its kind: an unknown key, a missing required
// constant, a wrong unit, a negative or non-finite value each throw ParseError naming the key, with
// `file` in the error context.
Profile parse_profile(std::string_view json_text, const std::string& file);
// A copy of a validated profile with one constant set to `value`, checked as the loader checks it (negative,
// non-finite, a count or size that is not a whole number >= 1, cores that no longer fit on the mesh): a
// ParseError names the key. Used to vary constants (sensitivity) without writing a file.
Profile with_value(const Profile& p, std::string_view key, double value);
// Reads a profile file (IoError when unreadable).
Profile load_profile(const std::filesystem::path& file);

// The folder of the bundled profiles: $SNNCONV_PROFILES_DIR when set, else an installed copy beside the binary or
// Python module (core/install_paths.hpp: PREFIX/share/snnconv/profiles), else the source folder baked in at build
// time (the build tree).
std::filesystem::path default_profiles_dir();
// Names (file stems) of the profiles in `dir`, sorted.
std::vector<std::string> list_profiles(const std::filesystem::path& dir);
// A profile by name ("loihi": `dir`/loihi.json) or by path (anything with a '/' or ending in ".json").
// An unknown name throws UsageError listing the available ones.
Profile find_profile(std::string_view name_or_path, const std::filesystem::path& dir = default_profiles_dir());

// Typed views, built once from a validated profile; the pricing functions take these plain structs so
// a caller can change one constant and re-price without a file (pricing is a pure function).

// Per-operation energies at one node (generic45).
struct OpEnergies {
  double int8_add_pj = 0, int8_mult_pj = 0, int32_add_pj = 0, int32_mult_pj = 0;
  double fp16_add_pj = 0, fp16_mult_pj = 0, fp32_add_pj = 0, fp32_mult_pj = 0;
  double sram_8kb_read64_pj = 0, sram_32kb_read64_pj = 0, sram_1mb_read64_pj = 0;
  double dram_access64_pj = 0;
  double convention_mac_pj = 4.6, convention_ac_pj = 0.9;  // the syops/Spikformer compute-only convention
};

struct NeuromorphicChip {
  std::string name;
  double synaptic_op_energy_pj = 0;    // one synaptic event: weight read + accumulate
  double neuron_update_energy_pj = 0;  // one active compartment update
  double spike_energy_pj = 0;          // emitting one spike packet (delivery within the tile)
  double hop_energy_x_pj = 0;          // one mesh hop east-west
  double hop_energy_y_pj = 0;          // one mesh hop north-south
  double mac_energy_pj = 0;            // one multi-bit (graded) input x weight, for non-spiking inputs
  double dense_op_energy_pj = 0;       // add/compare of a differential unit on the core's arithmetic
  double nonlinear_op_energy_pj = 0;   // exp/erf/divide/sqrt
  double dram_energy_per_byte_pj = 0;  // off-chip memory for spilled synapses / membrane state
  double dram_bandwidth_bytes_per_s = 0;
  double link_energy_per_byte_pj = 0;  // spike events sent to another chip (Counters::link_bytes)
  double static_power_w = 0;
  double synaptic_op_time_ns = 0;  // per core, serial
  double neuron_update_time_ns = 0;
  double step_barrier_time_ns = 0;  // end-of-timestep synchronisation
  std::int64_t cores = 0;
  std::int64_t cores_per_tile = 1;
  std::int64_t mesh_x = 0;  // tiles east-west
  std::int64_t mesh_y = 0;  // tiles north-south
  std::int64_t neurons_per_core = 0;
  std::int64_t synapse_memory_per_core_bytes = 0;
  std::int64_t membrane_bytes_per_neuron = 0;  // state swapped to DRAM when neurons spill
};

struct DenseAccelerator {
  std::string name;
  std::int64_t pe_rows = 0, pe_cols = 0;  // systolic array
  double frequency_hz = 0;
  double sram_bytes = 0;  // on-chip global buffer
  double sram_energy_per_byte_pj = 0;
  double dram_energy_per_byte_pj = 0;
  double dram_bandwidth_bytes_per_s = 0;
  double static_power_w = 0;
  double mac_int8_energy_pj = 0;  // int8 x int8 into a 32-bit accumulator
  double mac_fp16_energy_pj = 0;
  double mac_fp32_energy_pj = 0;
  double ac_energy_pj = 0;        // accumulate of a spike-gated weight (32-bit add)
  double dense_op_energy_pj = 0;  // elementwise add/compare
  double nonlinear_op_energy_pj = 0;
  double psum_bytes = 4;  // partial-sum element width in SRAM/DRAM
};

// Throw UsageError when the profile is of another kind.
OpEnergies op_energies(const Profile& p);
NeuromorphicChip neuromorphic_chip(const Profile& p);
DenseAccelerator dense_accelerator(const Profile& p);

}  // namespace snnconv::hw
