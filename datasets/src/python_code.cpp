// python-code importer: the Python standard library as byte tokens (language_model layout). The file
// selection and the split rule are shared bit for bit with scripts/ (docs/datasets.md).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <iterator>

#include "snnconv/datasets/importers.hpp"
#include "snnconv/datasets/writer.hpp"

namespace snnconv::datasets {

namespace fs = std::filesystem;

namespace {

bool is_excluded_directory(const fs::path& name) {
  return name == "site-packages" || name == "dist-packages" || name == "__pycache__";
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open", ErrorContext{path.string(), "", "", ""});
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError("read failed", ErrorContext{path.string(), "", "", ""});
  return bytes;
}

struct SplitBuilder {
  std::string name;
  std::vector<std::uint8_t> tokens;
  std::vector<std::int64_t> offsets{0};
  std::vector<std::string> doc_names;
};

}  // namespace

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::string_view python_code_split(std::uint64_t seed, std::string_view relpath) {
  std::uint64_t bucket = fnv1a64(std::to_string(seed) + ":" + std::string(relpath)) % 100;
  if (bucket < 90) return "train";
  if (bucket < 95) return "val";
  return "test";
}

std::vector<std::string> python_code_files(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw IoError("python-code: the root is not a directory", ErrorContext{root.string(), "", "", ""});
  std::vector<std::string> files;
  // Directory symlinks are not followed (the iterator's default), matching os.walk(followlinks=False);
  // unreadable folders are skipped like os.walk does.
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied);
  for (; it != fs::recursive_directory_iterator(); ++it) {
    const fs::directory_entry& entry = *it;
    if (entry.is_symlink()) continue;
    if (entry.is_directory()) {
      if (is_excluded_directory(entry.path().filename())) it.disable_recursion_pending();
      continue;
    }
    if (!entry.is_regular_file()) continue;
    std::string name = entry.path().filename().string();
    if (name.size() < 3 || name.compare(name.size() - 3, 3, ".py") != 0) continue;
    files.push_back(entry.path().lexically_relative(root).generic_string());
  }
  // std::string compares as unsigned bytes, the same order as Python's sorted() on bytes.
  std::sort(files.begin(), files.end());
  return files;
}

ImportSummary import_python_code(const fs::path& output, const PythonCodeOptions& options) {
  auto started = std::chrono::steady_clock::now();
  std::array<SplitBuilder, 3> splits;
  for (std::size_t i = 0; i < splits.size(); ++i) splits[i].name = std::string(kSplitNames[i]);
  for (const std::string& relpath : python_code_files(options.root)) {
    std::string_view split = python_code_split(options.seed, relpath);
    SplitBuilder& builder =
        *std::find_if(splits.begin(), splits.end(), [&](const SplitBuilder& s) { return s.name == split; });
    std::string bytes = read_file_bytes(options.root / relpath);
    builder.tokens.insert(builder.tokens.end(), bytes.begin(), bytes.end());
    builder.offsets.push_back(static_cast<std::int64_t>(builder.tokens.size()));
    builder.doc_names.push_back(relpath);
  }

  DatasetInfo info;
  info.name = "python-code";
  info.task = Task::language_model;
  info.source = fmt::format("Python 3.11 standard library sources under {} (Debian package libpython3.11-stdlib)",
                            options.root.string());
  info.license = "PSF-2.0 (Python Software Foundation License Version 2)";
  info.preprocessing = fmt::format(
      "every regular *.py file under the root, no symlinks, no site-packages/dist-packages/__pycache__ folders, "
      "sorted by relative path; split by FNV-1a 64 of '{}:<relpath>' % 100 (<90 train, <95 val, else test); "
      "bytes unchanged",
      options.seed);
  info.tokenizer = "byte";
  info.vocab_size = 256;

  DatasetWriter writer(output, options.writer);
  writer.write_info(info);
  writer.set_integer_attribute("/", "split_seed", static_cast<std::int64_t>(options.seed));
  ImportSummary summary;
  for (const SplitBuilder& split : splits) {
    writer.write_tensor(
        split.name, "tokens",
        Tensor::from_vector<std::uint8_t>({static_cast<std::int64_t>(split.tokens.size())}, split.tokens));
    writer.write_tensor(
        split.name, "doc_offsets",
        Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(split.offsets.size())}, split.offsets));
    writer.write_strings(split.name, "doc_names", split.doc_names);
    summary.splits.push_back({split.name, static_cast<std::int64_t>(split.doc_names.size()),
                              static_cast<std::int64_t>(split.tokens.size())});
  }
  summary.file_bytes = writer.commit();
  summary.name = info.name;
  summary.output = output;
  summary.source = info.source;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace snnconv::datasets
