// Each subcommand fills an options struct and calls one library function; this file only wires them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace snnconv::cli {

// A command body to run after parsing; returns the process exit code.
using Action = std::function<int()>;

void add_inspect(CLI::App& app, Action& action);
void add_datasets(CLI::App& app, Action& action);
void add_generate(CLI::App& app, Action& action);
void add_run(CLI::App& app, Action& action);
void add_convert(CLI::App& app, Action& action);
void add_report(CLI::App& app, Action& action);
void add_compare(CLI::App& app, Action& action);

// "batch=1,seq=128" -> map; UsageError on a malformed entry.
std::map<std::string, std::int64_t> parse_dims(const std::string& text);

}  // namespace snnconv::cli
