// `snnconv datasets import NAME --out FILE.h5`
#include <fmt/core.h>

#include "commands.hpp"
#include "options.hpp"
#include "snnconv/datasets/importers.hpp"

namespace snnconv::cli {

namespace {
struct ImportOptions {
  std::string name;
  std::string out;
  bool quiet = false;
};
}  // namespace

void add_datasets(CLI::App& app, Action& action) {
  auto* ds = app.add_subcommand("datasets", "Dataset files (HDF5, docs/datasets.md)");
  ds->require_subcommand(1);
  auto opts = std::make_shared<ImportOptions>();
  std::string names;
  for (const auto& n : datasets::importer_names()) names += (names.empty() ? "" : ", ") + n;
  auto* imp = ds->add_subcommand("import", "Import a real dataset found on this machine into our HDF5 layout");
  imp->add_option("name", opts->name, "Dataset: " + names)->required();
  imp->add_option("--out", opts->out, "Output file (written to a temporary name, then renamed)")->required();
  add_quiet_flag(imp, opts->quiet);
  imp->callback([opts, &action] {
    action = [opts] {
      const auto summary = datasets::import_dataset(opts->name, opts->out);
      if (!opts->quiet) fmt::print("{}", datasets::format_summary(summary));
      return 0;
    };
  });
}

}  // namespace snnconv::cli
