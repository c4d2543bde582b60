// `snnconv datasets import NAME --out FILE.h5`, `... import npz FILE.npz | images DIR | text FILE... --out FILE.h5`
#include <fmt/core.h>

#include "commands.hpp"
#include "options.hpp"
#include "snnconv/datasets/importers.hpp"

namespace snnconv::cli {

namespace {
struct ImportOptions {
  std::string name;
  std::vector<std::string> inputs;
  std::string out;
  datasets::FileImportOptions files;
  bool quiet = false;
};

datasets::ImportSummary run_import(const ImportOptions& o) {
  const bool own = o.name == "npz" || o.name == "images" || o.name == "text";
  if (!own) {
    if (!o.inputs.empty())
      throw UsageError(fmt::format("'{}' takes no input path (only npz, images and text do)", o.name));
    return datasets::import_dataset(o.name, o.out);
  }
  if (o.inputs.empty()) throw UsageError(fmt::format("datasets import {}: give the input {}", o.name, o.name == "images" ? "folder" : "file"));
  if (o.name != "text" && o.inputs.size() != 1)
    throw UsageError(fmt::format("datasets import {} takes one input, got {}", o.name, o.inputs.size()));
  if (o.name == "npz") return datasets::import_npz(o.inputs[0], o.out, o.files);
  if (o.name == "images") return datasets::import_images(o.inputs[0], o.out, o.files);
  return datasets::import_text({o.inputs.begin(), o.inputs.end()}, o.out, o.files);
}
}  // namespace

void add_datasets(CLI::App& app, Action& action) {
  auto* ds = app.add_subcommand("datasets", "Dataset files (HDF5, docs/datasets.md)");
  ds->require_subcommand(1);
  auto opts = std::make_shared<ImportOptions>();
  std::string names;
  for (const auto& n : datasets::importer_names()) names += (names.empty() ? "" : ", ") + n;
  auto* imp = ds->add_subcommand(
      "import",
      "Write a dataset in our HDF5 layout: a real dataset found on this machine by NAME, or your own files: "
      "`npz FILE.npz` (a `labels` array and one input array, or one byte-token array), `images DIR` (one "
      "sub-folder per class; PNG, PGM, PPM), `text FILE...` (each file one byte-level document). An .npz can "
      "also be passed to --data directly; importing it is for reuse (docs/datasets.md)");
  imp->add_option("name", opts->name, "Dataset: " + names + ", or npz, images, text")->required();
  imp->add_option("input", opts->inputs, "npz: the .npz file; images: the folder; text: one or more files");
  imp->add_option("--out", opts->out, "Output file (written to a temporary name, then renamed)")->required();
  imp->add_option("--split", opts->files.split, "npz/images/text: the split written (train, val, test)")
      ->capture_default_str();
  imp->add_option("--task", opts->files.task,
                  "npz: classification or language_model (default: classification when the file has `labels`)");
  imp->add_option("--name", opts->files.name, "npz/images/text: the dataset's name attribute (default: the input's name)");
  add_quiet_flag(imp, opts->quiet);
  imp->callback([opts, &action] {
    action = [opts] {
      const auto summary = run_import(*opts);
      if (!opts->quiet) fmt::print("{}", datasets::format_summary(summary));
      return 0;
    };
  });
}

}  // namespace snnconv::cli
