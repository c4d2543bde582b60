// Importer dispatch by name, for the CLI.
#include <fmt/format.h>

#include "snnconv/datasets/importers.hpp"

namespace snnconv::datasets {

std::vector<std::string> importer_names() {
  return {"fashion-mnist", "python-code"};
}

ImportSummary import_dataset(std::string_view name, const std::filesystem::path& output) {
  if (name == "fashion-mnist") return import_fashion_mnist(output);
  if (name == "python-code") return import_python_code(output);
  throw UsageError(fmt::format("unknown dataset '{}' (importable: {})", name, fmt::join(importer_names(), ", ")));
}

std::string format_summary(const ImportSummary& summary) {
  std::string text = fmt::format("{} -> {} ({:.1f} MB, {:.1f} s)\n", summary.name, summary.output.string(),
                                 static_cast<double>(summary.file_bytes) / 1e6, summary.seconds);
  for (const SplitSummary& split : summary.splits) {
    // Language-model splits count documents; their size is in tokens.
    bool is_stream = split.token_count > 0;
    text += fmt::format("  {:<6} {:>7} {}", split.name, split.count, is_stream ? "documents" : "samples");
    if (is_stream) text += fmt::format(", {} tokens", split.token_count);
    text += "\n";
  }
  text += "  source: " + summary.source + "\n";
  return text;
}

}  // namespace snnconv::datasets
