// The option groups every command shares, declared once so that a flag means the same thing, has the same
// default and refuses the same values everywhere (docs/cli.md, "Shared options"). Choices and ranges are
// CLI11 validators, so they appear in --help and a bad value is refused at parse time naming the flag.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "option_values.hpp"

namespace snnconv::cli {


// Where each group writes its values; null pointers leave that option out of the command.
struct QuantTargets {
  int* weight_bits = nullptr;
  std::int64_t* weight_group = nullptr;
  int* act_bits = nullptr;
  std::string* clip = nullptr;
  std::int64_t* calib_samples = nullptr;
  std::string* calib_split = nullptr;
};

// --weight-bits (2..8), --weight-group (>= 0), --act-bits (2..16, default kDefaultActBits), --clip
// (minmax|percentile|mse), --calib (>= 1), --calib-split. `prefix` starts each description ("qann/snn: ").
void add_quant_options(CLI::App* cmd, const QuantTargets& t, const std::string& prefix = "");

// --mode (strict|burst) and --max-steps (>= 1) of the spiking engine.
void add_snn_options(CLI::App* cmd, std::string& mode, int& max_steps, const std::string& prefix = "");

// --engine: ann, qann or snn.
void add_engine_option(CLI::App* cmd, std::string& engine, const std::string& description);

// --threads (>= 0; 0: every core).
void add_threads_option(CLI::App* cmd, int& threads, const std::string& description = "");

// --limit (>= 1) of samples scored; unset: all of them (the variable keeps its negative default).
void add_limit_option(CLI::App* cmd, std::int64_t& limit, const std::string& description);

// --batch (>= 1) samples per forward pass.
void add_batch_option(CLI::App* cmd, std::int64_t& batch, const std::string& description);

// --max-memory BYTES (K, M, G, KiB, MB ... suffixes; > 0). `bytes` stays 0 when the flag is not given;
// max_memory_or_physical() turns that into the machine's physical memory.
void add_max_memory_option(CLI::App* cmd, std::uint64_t& bytes, const std::string& description);
std::uint64_t max_memory_or_physical(std::uint64_t bytes);

// --quiet: no progress display and no status lines on stderr (errors and warnings still appear).
void add_quiet_flag(CLI::App* cmd, bool& quiet);

// True when progress may be drawn: not --quiet and stderr is a terminal.
bool progress_wanted(bool quiet);

// Refuses an SNN model file (.snn.h5 from `convert`/`compress`) given to a command that reads ONNX only, in
// words that say so, before any parser sees it.
void require_onnx_model(const std::string& path, const std::string& command);

}  // namespace snnconv::cli
