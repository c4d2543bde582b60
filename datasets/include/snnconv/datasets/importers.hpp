// Importers: turn original data found on this machine into dataset files (docs/datasets.md). Each one
// validates its input completely before committing, so bad input gives a ParseError naming the file and
// the fault, and no output file. `snnconv datasets import NAME --out FILE.h5` calls import_dataset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/datasets/writer.hpp"

namespace snnconv::datasets {

struct SplitSummary {
  std::string name;
  std::int64_t count = 0;        // samples (documents for language_model)
  std::int64_t token_count = 0;  // language_model: bytes in the split; 0 otherwise
};

struct ImportSummary {
  std::string name;  // dataset name, e.g. "fashion-mnist"
  std::filesystem::path output;
  std::string source;
  std::vector<SplitSummary> splits;
  std::uintmax_t file_bytes = 0;
  double seconds = 0.0;
};

// One line per split, for the CLI.
std::string format_summary(const ImportSummary& summary);

// ---- fashion-mnist ----------------------------------------------------------------------------------

struct FashionMnistOptions {
  // Debian's dataset-fashion-mnist. Each idx file is used as NAME or, if absent, NAME.gz.
  std::filesystem::path source_dir = "/usr/share/datasets/fashion-mnist";
  WriterOptions writer;
};

ImportSummary import_fashion_mnist(const std::filesystem::path& output, const FashionMnistOptions& options = {});

// The parsing step of import_fashion_mnist for one split, exposed for the tests and the fuzz harness
// (tools/fuzz): reads an idx3 image file and an idx1 label file (each raw or gzip-compressed) and validates
// them completely. IoError when a file cannot be read; ParseError naming the file for a bad header, a size
// contradicting it, corrupt gzip data, a count mismatch or a label outside 0..9; LimitError above 1 GiB.
struct IdxSplit {
  Tensor images;  // u8 [N, rows, cols]
  Tensor labels;  // i64 [N]
};
IdxSplit read_idx_split(const std::filesystem::path& images_file, const std::filesystem::path& labels_file);

// ---- python-code ------------------------------------------------------------------------------------

struct PythonCodeOptions {
  std::filesystem::path root = "/usr/lib/python3.11";
  std::uint64_t seed = 1234;
  WriterOptions writer;
};

// The file selection shared with scripts/ (docs/datasets.md, "python-code"): every regular `.py` file
// under root, not a symlink, with no directory component named site-packages, dist-packages or
// __pycache__; relative paths with '/', sorted by bytes.
std::vector<std::string> python_code_files(const std::filesystem::path& root);
// FNV-1a 64 of the bytes.
std::uint64_t fnv1a64(std::string_view bytes);
// "train", "val" or "test": bucket = fnv1a64("<seed>:<relpath>") % 100; < 90 train, < 95 val.
std::string_view python_code_split(std::uint64_t seed, std::string_view relpath);

ImportSummary import_python_code(const std::filesystem::path& output, const PythonCodeOptions& options = {});

// ---- your own files (`snnconv datasets import npz|images|text`) -----------------------------------

struct FileImportOptions {
  std::string split = "test";  // the one split written: train, val or test
  std::string name;            // the `name` attribute; "": the input's file or folder name
  std::string task;            // npz: "" infers (a `labels` array: classification; else language_model)
  WriterOptions writer;
};

// An .npz (np.savez) in the HDF5 layout. classification: a `labels` array (integers >= 0, one per sample) and
// exactly one other array, the inputs [N, ...] (uint8 kept with scale 1, every other dtype stored as float32;
// NaN/Inf refused naming the array and the index; class_names "0".."max label"). language_model: one integer
// array of byte tokens (0..255), [N, T] (each row a document) or [T] (one document). UsageError for what the
// layout cannot hold (several input arrays, tokens above 255, no labels for a classifier), naming the arrays.
ImportSummary import_npz(const std::filesystem::path& input, const std::filesystem::path& output,
                         const FileImportOptions& options = {});

// A folder of images, one sub-folder per class (torchvision's ImageFolder layout: classes are the sub-folder names
// in sorted order, images sorted by name inside each), as uint8 [N, C, H, W] with scale 1/255. Files are read by
// read_image (image_file.hpp); hidden files are skipped, other extensions refused by name. Every image must have
// the size and channel count of the first (no resizing: the error names the file and both sizes).
ImportSummary import_images(const std::filesystem::path& dir, const std::filesystem::path& output,
                            const FileImportOptions& options = {});

// Text files as a byte-level language-model split: each file one document (bytes unchanged), named as given.
ImportSummary import_text(const std::vector<std::filesystem::path>& files, const std::filesystem::path& output,
                          const FileImportOptions& options = {});

// ---- by name ----------------------------------------------------------------------------------------

// Names import_dataset accepts.
std::vector<std::string> importer_names();
// Default options for each; UsageError listing the names for an unknown one.
ImportSummary import_dataset(std::string_view name, const std::filesystem::path& output);

}  // namespace snnconv::datasets
