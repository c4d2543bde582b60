// snnconv: the command-line front door. Maps every error to its documented exit code (docs/cli.md).
#include <fmt/core.h>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cctype>
#include <cstdio>
#include <limits>
#include <optional>

#include "commands.hpp"
#include "mpi_world.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/temp_files.hpp"

namespace snnconv::cli {

std::map<std::string, std::int64_t> parse_dims(const std::string& text) {
  std::map<std::string, std::int64_t> dims;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw UsageError("--dims entry '" + item + "' is not NAME=SIZE");
    std::int64_t v = 0;
    try {
      std::size_t used = 0;
      v = std::stoll(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw UsageError("--dims entry '" + item + "' has a size that is not an integer");
    }
    dims[item.substr(0, eq)] = v;
    pos = comma + 1;
  }
  return dims;
}

std::uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;  // unknown: no limit
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

void check_plan_memory(const Graph& graph, std::uint64_t max_bytes) {
  ann::EngineOptions options;
  options.fill_ledger = false;
  options.max_memory_bytes = max_bytes;
  const ann::Engine probe(graph, options);  // throws LimitError above the limit
}

}  // namespace snnconv::cli

namespace {

// The front door: `snnconv MODEL.onnx [options]` means `snnconv report MODEL.onnx [options]`. Only a first
// argument that is no subcommand and names an .onnx file or an existing file is taken as a model, so a
// mistyped subcommand still gets CLI11's error.
std::vector<std::string> with_default_command(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0].empty() || args[0][0] == '-') return args;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->check_name(args[0])) return args;
  std::error_code ec;
  if (args[0].ends_with(".onnx") || std::filesystem::is_regular_file(args[0], ec)) {
    args.insert(args.begin(), "report");
    return args;
  }
  throw snnconv::UsageError("'" + args[0] + "' is neither a subcommand nor a model file (MODEL.onnx); see snnconv --help");
}

}  // namespace

int main(int argc, char** argv) {
  // MPI starts before parsing (MPI_Init may read its own arguments) and only under mpirun (mpi_world.hpp).
  std::optional<snnconv::cli::MpiWorld> world;
  try {
    world.emplace(argc, argv);
  } catch (const snnconv::Error& e) {
    std::fprintf(stderr, "snnconv: error: %s\n", e.what());
    return static_cast<int>(e.exit_code());
  }
  snnconv::Communicator* comm = world->comm();
  const bool quiet_rank = comm != nullptr && comm->rank() != 0;  // usage errors: rank 0 speaks for the job
  // A failure while running: with several ranks the failing one names itself and ends the whole job.
  auto fail = [&](const std::string& message, int code) {
    if (snnconv::distributed(comm)) world->abort(message, code);
    std::fprintf(stderr, "snnconv: error: %s\n", message.c_str());
    return code;
  };
  CLI::App app{
      "snnconv: convert transformer foundation models (ONNX) into spiking neural networks, run both, and "
      "price them on neuromorphic and dense accelerators.\n`snnconv MODEL.onnx [options]` runs `snnconv report "
      "MODEL.onnx [options]`: the whole pipeline and an energy report folder.\n" + snnconv::cli::mpi_help_note()};
  app.name("snnconv");
  app.require_subcommand(1);
  app.set_version_flag("--version", "snnconv 0.1.0");
  snnconv::cli::Action action;
  snnconv::cli::add_inspect(app, action);
  snnconv::cli::add_datasets(app, action);
  snnconv::cli::add_generate(app, action);
  snnconv::cli::add_run(app, action, comm);
  snnconv::cli::add_convert(app, action);
  snnconv::cli::add_compress(app, action);
  snnconv::cli::add_report(app, action, comm);
  snnconv::cli::add_compare(app, action);
  snnconv::cli::add_cascade(app, action, comm);
  snnconv::cli::add_export(app, action);
  try {
    std::vector<std::string> args;
    try {
      args = with_default_command(app, argc, argv);
    } catch (const snnconv::UsageError& e) {
      if (!quiet_rank) std::fprintf(stderr, "snnconv: error: %s\n", e.what());
      return static_cast<int>(snnconv::ExitCode::bad_usage);
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int rc = quiet_rank ? e.get_exit_code() : app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(snnconv::ExitCode::bad_usage);
  }
  // Only `run`, `report` (the front door) and `cascade` shard their work over ranks so far (docs/scaling.md); any other
  // command would run K times.
  if (snnconv::distributed(comm) && !app.got_subcommand("run") && !app.got_subcommand("report") &&
      !app.got_subcommand("cascade")) {
    if (!quiet_rank)
      std::fprintf(stderr, "snnconv: error: only `snnconv run`, `snnconv report` (the front door) and `snnconv "
                           "cascade` run data parallel under mpirun so far; run this command as one process "
                           "(docs/scaling.md)\n");
    return static_cast<int>(snnconv::ExitCode::bad_usage);
  }
  snnconv::install_interrupt_cleanup();
  try {
    return action ? action() : 0;
  } catch (const snnconv::Error& e) {
    return fail(e.what(), static_cast<int>(e.exit_code()));
  } catch (const std::bad_alloc&) {
    return fail("out of memory", static_cast<int>(snnconv::ExitCode::runtime_failure));
  } catch (const std::exception& e) {
    return fail(e.what(), static_cast<int>(snnconv::ExitCode::runtime_failure));
  }
}
