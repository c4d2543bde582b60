// fashion-mnist importer: Debian's dataset-fashion-mnist idx files -> classification layout.
#include <fmt/format.h>
#include <zlib.h>

#include <chrono>
#include <cstring>

#include "snnconv/datasets/importers.hpp"
#include "snnconv/datasets/writer.hpp"

namespace snnconv::datasets {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kImageMagic = 0x00000803;  // idx: unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelMagic = 0x00000801;  // idx: unsigned bytes, 1 dimension
// Far above the 47 MB of the training images; refuses a gzip bomb before it fills memory.
constexpr std::size_t kMaxIdxBytes = std::size_t{1} << 30;

const std::vector<std::string> kClassNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

ErrorContext file_context(const fs::path& path) {
  return ErrorContext{path.string(), "", "", ""};
}

// NAME, or NAME.gz when only the compressed file exists.
fs::path find_idx(const fs::path& folder, const std::string& name) {
  std::error_code ec;
  if (fs::is_regular_file(folder / name, ec)) return folder / name;
  if (fs::is_regular_file(folder / (name + ".gz"), ec)) return folder / (name + ".gz");
  throw IoError(fmt::format("missing {} (or {}.gz); on Debian: apt-get install dataset-fashion-mnist", name, name),
                file_context(folder));
}

// The file's bytes, gunzipped when compressed (zlib reads uncompressed files through unchanged).
std::vector<std::uint8_t> read_idx_bytes(const fs::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw IoError("cannot open", file_context(path));
  std::vector<std::uint8_t> bytes;
  std::vector<std::uint8_t> chunk(std::size_t{1} << 20);
  std::string error;
  for (;;) {
    int n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    int code = Z_OK;
    const char* message = gzerror(file, &code);
    if (n < 0 || (code != Z_OK && code != Z_STREAM_END)) {
      error = message ? message : "unknown zlib error";
      break;
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
    if (bytes.size() > kMaxIdxBytes) {
      gzclose(file);
      throw LimitError(fmt::format("more than {} bytes after decompression", kMaxIdxBytes), file_context(path));
    }
  }
  gzclose(file);
  if (!error.empty()) throw ParseError("corrupt or truncated gzip data: " + error, file_context(path));
  return bytes;
}

std::uint32_t big_endian_u32(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) | (std::uint32_t{bytes[at + 2]} << 8) |
         std::uint32_t{bytes[at + 3]};
}

// Header and size checks shared by both idx kinds; returns the dimensions.
std::vector<std::uint32_t> parse_idx_header(const std::vector<std::uint8_t>& bytes, const fs::path& path,
                                            std::uint32_t magic, int rank, const char* kind) {
  std::size_t header_bytes = 4 + 4 * static_cast<std::size_t>(rank);
  bool compressed = path.extension() == ".gz";
  const char* size_word = compressed ? "decompressed size" : "size";
  if (bytes.size() < header_bytes)
    throw ParseError(fmt::format("truncated idx header: {} {} bytes, an idx {} file starts with {} header bytes",
                                 size_word, bytes.size(), kind, header_bytes),
                     file_context(path));
  std::uint32_t found = big_endian_u32(bytes, 0);
  if (found != magic)
    throw ParseError(fmt::format("wrong idx magic number 0x{:08x}, expected 0x{:08x} ({})", found, magic, kind),
                     file_context(path));
  std::vector<std::uint32_t> dims;
  unsigned __int128 payload = 1;  // 128 bits: three 32-bit dimensions cannot overflow it
  for (int d = 0; d < rank; ++d) {
    dims.push_back(big_endian_u32(bytes, 4 + 4 * static_cast<std::size_t>(d)));
    payload *= dims.back();
  }
  unsigned __int128 expected = payload + header_bytes;
  if (expected != bytes.size()) {
    std::string dims_text = fmt::format("{}", fmt::join(dims, "x"));
    throw ParseError(
        fmt::format("{} {} bytes, but the header ({}) promises {} + {} = {} bytes ({})", size_word, bytes.size(),
                    dims_text, header_bytes, static_cast<std::uint64_t>(payload), static_cast<std::uint64_t>(expected),
                    expected > bytes.size() ? "truncated file" : "trailing bytes"),
        file_context(path));
  }
  return dims;
}

}  // namespace

IdxSplit read_idx_split(const fs::path& images_path, const fs::path& labels_path) {
  std::vector<std::uint8_t> image_bytes = read_idx_bytes(images_path);
  auto image_dims = parse_idx_header(image_bytes, images_path, kImageMagic, 3, "image (idx3 ubyte)");
  std::vector<std::uint8_t> label_bytes = read_idx_bytes(labels_path);
  auto label_dims = parse_idx_header(label_bytes, labels_path, kLabelMagic, 1, "label (idx1 ubyte)");
  if (image_dims[0] != label_dims[0])
    throw ParseError(fmt::format("{} images but {} labels in {}", image_dims[0], label_dims[0], labels_path.string()),
                     file_context(images_path));

  IdxSplit split;
  split.images = Tensor(DType::u8, {image_dims[0], image_dims[1], image_dims[2]});
  std::memcpy(split.images.raw(), image_bytes.data() + 16, split.images.nbytes());
  split.labels = Tensor(DType::i64, {label_dims[0]});
  std::int64_t* labels = split.labels.data<std::int64_t>();
  for (std::size_t i = 0; i < label_dims[0]; ++i) {
    std::uint8_t label = label_bytes[8 + i];
    if (label >= kClassNames.size())
      throw ParseError(
          fmt::format("label {} of sample {} is not a class index 0..{}", label, i, kClassNames.size() - 1),
          file_context(labels_path));
    labels[i] = label;
  }
  return split;
}

namespace {

IdxSplit read_split(const fs::path& folder, const std::string& prefix) {
  return read_idx_split(find_idx(folder, prefix + "-images-idx3-ubyte"), find_idx(folder, prefix + "-labels-idx1-ubyte"));
}

}  // namespace

ImportSummary import_fashion_mnist(const fs::path& output, const FashionMnistOptions& options) {
  auto started = std::chrono::steady_clock::now();
  // Everything is parsed and checked before the output is even created.
  IdxSplit train = read_split(options.source_dir, "train");
  IdxSplit test = read_split(options.source_dir, "t10k");

  DatasetInfo info;
  info.name = "fashion-mnist";
  info.task = Task::classification;
  info.source = fmt::format(
      "Debian package dataset-fashion-mnist ({}); Xiao, Rasul, Vollgraf 2017, arXiv:1708.07747, "
      "https://github.com/zalandoresearch/fashion-mnist",
      options.source_dir.string());
  info.license = "MIT (Copyright 2017 Zalando SE)";
  info.preprocessing =
      "none: the idx bytes as uint8 [N,28,28] (train = train-*, test = t10k-*); model input = inputs * scale";
  info.class_names = kClassNames;

  DatasetWriter writer(output, options.writer);
  writer.write_info(info);
  for (auto& [name, split] : {std::pair<std::string, IdxSplit*>{"train", &train}, {"test", &test}}) {
    writer.write_tensor(name, "inputs", split->images);
    writer.set_input_transform(name, "inputs", InputTransform{1.0 / 255.0, 0.0});
    writer.write_tensor(name, "labels", split->labels);
  }
  ImportSummary summary;
  summary.file_bytes = writer.commit();
  summary.name = info.name;
  summary.output = output;
  summary.source = info.source;
  summary.splits = {{"train", train.labels.numel(), 0}, {"test", test.labels.numel(), 0}};
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace snnconv::datasets
