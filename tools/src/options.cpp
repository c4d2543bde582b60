// The shared option groups (options.hpp): one declaration, one default and one validator per flag.
#include "options.hpp"

#include <unistd.h>

#include <limits>

#include "commands.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/model_file.hpp"

namespace snnconv::cli {

namespace {
std::string with_prefix(const std::string& prefix, const std::string& text) { return prefix + text; }

// An integer lower bound, shown as ">=N" in --help; CLI11 puts the flag's name in front of the message.
CLI::Validator at_least(std::int64_t min) {
  return CLI::Validator(
      [min](std::string& v) -> std::string {
        std::int64_t x = 0;
        if (!CLI::detail::lexical_cast(v, x)) return "'" + v + "' is not an integer";
        return x < min ? v + " is below the minimum " + std::to_string(min) : std::string();
      },
      ">=" + std::to_string(min));
}
}  // namespace

void add_quant_options(CLI::App* cmd, const QuantTargets& t, const std::string& prefix) {
  if (t.weight_bits != nullptr)
    cmd->add_option("--weight-bits", *t.weight_bits, with_prefix(prefix, "Weight bits, per output channel"))
        ->check(CLI::Range(kMinWeightBits, kMaxWeightBits))
        ->capture_default_str();
  if (t.weight_group != nullptr)
    cmd->add_option("--weight-group", *t.weight_group,
                    with_prefix(prefix, "Grouped weights: one step per G consecutive input rows and output channel (G "
                                        "must divide every Linear's K); 0: per output channel"))
        ->check(at_least(0))
        ->capture_default_str();
  if (t.act_bits != nullptr) {
    *t.act_bits = kDefaultActBits;
    cmd->add_option("--act-bits", *t.act_bits,
                    with_prefix(prefix, "Activation bits per tensor: the SNN's levels per neuron"))
        ->check(CLI::Range(kMinActBits, kMaxActBits))
        ->capture_default_str();
  }
  if (t.clip != nullptr)
    cmd->add_option("--clip", *t.clip, with_prefix(prefix, "Clipping of activation ranges"))
        ->check(CLI::IsMember(std::vector<std::string>(std::begin(kClipChoices), std::end(kClipChoices))))
        ->capture_default_str();
  if (t.calib_samples != nullptr)
    cmd->add_option("--calib", *t.calib_samples, with_prefix(prefix, "Calibration samples (the first N)"))
        ->check(at_least(1))
        ->capture_default_str();
  if (t.calib_split != nullptr)
    cmd->add_option("--calib-split", *t.calib_split,
                    with_prefix(prefix, "Split the calibration samples come from (default: train, else val; never "
                                        "the scored split)"));
}

void add_snn_options(CLI::App* cmd, std::string& mode, int& max_steps, const std::string& prefix) {
  cmd->add_option("--mode", mode,
                  with_prefix(prefix, "Firing: strict (one +-1 spike per neuron per step) or burst (multi-bit events)"))
      ->check(CLI::IsMember({"strict", "burst"}))
      ->capture_default_str();
  cmd->add_option("--max-steps", max_steps, with_prefix(prefix, "Stop a sample after T steps if not quiescent"))
      ->check(at_least(1))
      ->capture_default_str();
}

void add_engine_option(CLI::App* cmd, std::string& engine, const std::string& description) {
  cmd->add_option("--engine", engine, description)->check(CLI::IsMember({"ann", "qann", "snn"}))->capture_default_str();
}

void add_threads_option(CLI::App* cmd, int& threads, const std::string& description) {
  cmd->add_option("--threads", threads,
                  description.empty() ? "Worker threads (0: every core; results do not depend on it)" : description)
      ->check(at_least(0))
      ->capture_default_str();
}

void add_limit_option(CLI::App* cmd, std::int64_t& limit, const std::string& description) {
  cmd->add_option("--limit", limit, description)
      ->check(at_least(1));
}

void add_batch_option(CLI::App* cmd, std::int64_t& batch, const std::string& description) {
  cmd->add_option("--batch", batch, description)
      ->check(at_least(1))
      ->capture_default_str();
}

void add_max_memory_option(CLI::App* cmd, std::uint64_t& bytes, const std::string& description) {
  // Powers of 1024 for K, M, G (kb_is_1000 = false), as the memory-limit messages print them (KiB, MiB).
  cmd->add_option("--max-memory", bytes, description + " (K, M, G suffixes: powers of 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            return v == "0" ? std::string("not a positive byte count (BYTES, or a number with K, M or G)")
                            : std::string();
          },
          "BYTES>0"));
}

std::uint64_t max_memory_or_physical(std::uint64_t bytes) { return bytes != 0 ? bytes : physical_memory_bytes(); }

void add_quiet_flag(CLI::App* cmd, bool& quiet) {
  cmd->add_flag("--quiet", quiet, "No progress display and no status lines (errors and warnings still appear)");
}

bool progress_wanted(bool quiet) { return !quiet && ::isatty(2) != 0; }

void require_onnx_model(const std::string& path, const std::string& command) {
  if (datasets::is_model_file(path))
    throw UsageError("'" + path + "' is an SNN model file (.snn.h5), not an ONNX model: `snnconv " + command +
                     "` starts from the ONNX export; run the SNN file with `snnconv run FILE --engine snn`, inspect it "
                     "with `snnconv inspect` or export its QANN with `snnconv export`");
}

}  // namespace snnconv::cli
