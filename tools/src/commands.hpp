// Each subcommand fills an options struct and calls one library function; this file only wires them.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace snnconv {
class Graph;
class Communicator;
}

namespace snnconv::cli {

// A command body to run after parsing; returns the process exit code.
using Action = std::function<int()>;

void add_inspect(CLI::App& app, Action& action);
void add_datasets(CLI::App& app, Action& action);
void add_generate(CLI::App& app, Action& action);
// comm: the mpirun job's ranks (null: one process); `run --engine snn|qann` shards its samples over them.
void add_run(CLI::App& app, Action& action, Communicator* comm);
void add_convert(CLI::App& app, Action& action);
void add_compress(CLI::App& app, Action& action);
void add_report(CLI::App& app, Action& action, Communicator* comm);
void add_compare(CLI::App& app, Action& action);
void add_cascade(CLI::App& app, Action& action, Communicator* comm);
void add_export(CLI::App& app, Action& action);

// NIR files (cmd_nir.cpp): the options run and report add, and what they call on a NIR file.
struct NirCliOptions {
  double dt_s = 1e-4;
  std::string method = "euler";
  std::int64_t steps = 100;
  double rate = 0.1;
  std::uint64_t seed = 0;
  std::int64_t samples = 16;  // the report's random samples when --samples is not given
};
void add_nir_options(CLI::App* cmd, NirCliOptions& o);
// A NIR file by its name (*.nir, so that a damaged NIR file gets the NIR reader's error), else by its contents;
// an *.onnx name is never opened here.
bool is_nir_path(const std::string& path);
int run_nir_file(const std::string& path, const std::string& data, const std::string& save_outputs, bool json,
                 const NirCliOptions& o);
int inspect_nir_file(const std::string& path, bool json);
int report_nir_file(const std::string& path, const std::string& data, std::int64_t samples, const std::string& out,
                    const std::vector<std::string>& profiles, const NirCliOptions& o);

// Sets g's metadata snnconv.data to `data` as seen from the folder of the file `out` will be written to.
void point_data_from(Graph& g, const std::string& data, const std::string& out);

// "batch=1,seq=128" -> map; UsageError on a malformed entry.
std::map<std::string, std::int64_t> parse_dims(const std::string& text);

// The default of --max-memory: the machine's physical memory (sysconf).
std::uint64_t physical_memory_bytes();
// Builds the dense engine's plan for `graph` and refuses it (LimitError naming the sizes) when it needs more
// than `max_bytes`; nothing is run.
void check_plan_memory(const Graph& graph, std::uint64_t max_bytes);

}  // namespace snnconv::cli
