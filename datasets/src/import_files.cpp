// import_npz / import_images / import_text (importers.hpp): the user's own files in the HDF5 layout, validated
// completely before the writer commits (a refused input leaves no output file).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>

#include "snnconv/datasets/image_file.hpp"
#include "snnconv/datasets/importers.hpp"
#include "snnconv/datasets/npz.hpp"

namespace fs = std::filesystem;

namespace snnconv::datasets {
namespace {

using Clock = std::chrono::steady_clock;

std::string split_name(const FileImportOptions& o) {
  for (std::string_view s : kSplitNames)
    if (o.split == s) return o.split;
  throw UsageError(fmt::format("--split must be train, val or test, got '{}'", o.split));
}

std::string keys_of(const std::vector<NpyArray>& arrays) {
  std::string out;
  for (const NpyArray& a : arrays) out += (out.empty() ? "" : ", ") + a.name + " " + shape_to_string(a.values.shape());
  return out.empty() ? "none" : out;
}

std::string index_string(const Shape& shape, std::int64_t flat) {
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return fmt::format("[{}]", fmt::join(idx, ", "));
}

// The array as int64 values; UsageError naming it when it is not integer.
std::vector<std::int64_t> integers(const NpyArray& a, const std::string& file) {
  if (!is_integer(a.values.dtype()))
    throw UsageError(fmt::format("array '{}' ({}) must hold integers", a.name, a.descr), {file, "", "", ""});
  const Tensor t = a.values.cast(DType::i64);
  return {t.data<std::int64_t>(), t.data<std::int64_t>() + t.numel()};
}

ImportSummary finish(DatasetWriter& writer, const DatasetInfo& info, const fs::path& output, Clock::time_point started,
                     std::vector<SplitSummary> splits) {
  ImportSummary summary;
  summary.file_bytes = writer.commit();
  summary.name = info.name;
  summary.output = output;
  summary.source = info.source;
  summary.splits = std::move(splits);
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summary;
}

DatasetInfo classification_info(std::string name, std::string source, std::int64_t classes) {
  DatasetInfo info;
  info.name = std::move(name);
  info.task = Task::classification;
  info.source = std::move(source);
  info.license = "unknown (the user's own data)";
  for (std::int64_t c = 0; c < classes; ++c) info.class_names.push_back(std::to_string(c));
  return info;
}

ImportSummary write_token_documents(const std::vector<std::vector<std::uint8_t>>& docs,
                                    const std::vector<std::string>& names, DatasetInfo info, const fs::path& output,
                                    const FileImportOptions& o, Clock::time_point started) {
  const std::string split = split_name(o);
  std::vector<std::uint8_t> tokens;
  std::vector<std::int64_t> offsets{0};
  for (const auto& d : docs) {
    tokens.insert(tokens.end(), d.begin(), d.end());
    offsets.push_back(static_cast<std::int64_t>(tokens.size()));
  }
  info.task = Task::language_model;
  info.tokenizer = "byte";
  info.vocab_size = 256;
  DatasetWriter writer(output, o.writer);
  writer.write_info(info);
  writer.write_tensor(split, "tokens", Tensor::from_vector<std::uint8_t>({static_cast<std::int64_t>(tokens.size())}, tokens));
  writer.write_tensor(split, "doc_offsets",
                      Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(offsets.size())}, offsets));
  writer.write_strings(split, "doc_names", names);
  return finish(writer, info, output, started,
                {{split, static_cast<std::int64_t>(docs.size()), static_cast<std::int64_t>(tokens.size())}});
}

}  // namespace

ImportSummary import_npz(const fs::path& input, const fs::path& output, const FileImportOptions& o) {
  const auto started = Clock::now();
  const std::string file = input.string();
  const ErrorContext ctx{file, "", "", ""};
  const std::string split = split_name(o);
  const std::vector<NpyArray> arrays = read_npz(input);
  const auto labels_it = std::find_if(arrays.begin(), arrays.end(), [](const NpyArray& a) { return a.name == "labels"; });
  std::vector<const NpyArray*> others;
  for (const NpyArray& a : arrays)
    if (a.name != "labels") others.push_back(&a);
  std::string task = o.task;
  if (task.empty()) task = labels_it != arrays.end() ? "classification" : "language_model";
  const std::string name = o.name.empty() ? input.stem().string() : o.name;

  if (task == "language_model") {
    if (others.size() != 1)
      throw UsageError(fmt::format("a language-model import takes one token array; the file has: {}", keys_of(arrays)), ctx);
    const NpyArray& a = *others[0];
    if (a.values.rank() < 1 || a.values.rank() > 2)
      throw UsageError(fmt::format("token array '{}' {} must be [documents, T] or [T]", a.name, shape_to_string(a.values.shape())), ctx);
    const std::vector<std::int64_t> ids = integers(a, file);
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] > 255)
        throw UsageError(fmt::format("token array '{}': {} at index {} is not a byte token 0..255 (the HDF5 layout is "
                                     "byte-level; keep the .npz and pass it with --data for a larger vocabulary)",
                                     a.name, ids[i], index_string(a.values.shape(), static_cast<std::int64_t>(i))),
                         ctx);
    const std::int64_t rows = a.values.rank() == 2 ? a.values.dim(0) : 1;
    const std::int64_t T = rows == 0 ? 0 : static_cast<std::int64_t>(ids.size()) / rows;
    std::vector<std::vector<std::uint8_t>> docs;
    std::vector<std::string> names;
    for (std::int64_t r = 0; r < rows; ++r) {
      docs.emplace_back(ids.begin() + r * T, ids.begin() + (r + 1) * T);
      names.push_back(fmt::format("{}[{}]", a.name, r));
    }
    DatasetInfo info;
    info.name = name;
    info.source = file;
    info.license = "unknown (the user's own data)";
    info.preprocessing = fmt::format("imported from array '{}' of {}: each row one document", a.name, input.filename().string());
    return write_token_documents(docs, names, info, output, o, started);
  }
  if (task != "classification")
    throw UsageError(fmt::format("--task must be classification or language_model for an .npz import, got '{}'", task), ctx);
  if (labels_it == arrays.end())
    throw UsageError(fmt::format("a classification import needs a 'labels' array; the file has: {}", keys_of(arrays)), ctx);
  if (others.size() != 1)
    throw UsageError(fmt::format("the HDF5 layout holds one input array per sample; the file has {} besides 'labels' ({}): "
                                 "keep the .npz and pass it with --data for a model with several inputs",
                                 others.size(), keys_of(arrays)),
                     ctx);
  const NpyArray& x = *others[0];
  const std::vector<std::int64_t> labels = integers(*labels_it, file);
  if (labels_it->values.rank() != 1 || x.values.rank() < 1 || x.values.dim(0) != labels_it->values.dim(0))
    throw UsageError(fmt::format("'labels' {} must be one integer per row of '{}' {}", shape_to_string(labels_it->values.shape()),
                                 x.name, shape_to_string(x.values.shape())),
                     ctx);
  std::int64_t classes = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) throw UsageError(fmt::format("'labels'[{}] = {} is negative", i, labels[i]), ctx);
    classes = std::max(classes, labels[i] + 1);
  }
  Tensor inputs = x.values.dtype() == DType::u8 ? x.values : x.values.cast(DType::f32);
  if (inputs.dtype() == DType::f32) {
    const float* p = inputs.data<float>();
    for (std::int64_t i = 0; i < inputs.numel(); ++i)
      if (!std::isfinite(p[i]))
        throw UsageError(fmt::format("array '{}' holds {} at index {}", x.name, p[i], index_string(inputs.shape(), i)), ctx);
  }
  DatasetInfo info = classification_info(name, file, classes);
  info.preprocessing = fmt::format("imported from arrays '{}' and 'labels' of {} ({}; scale 1, offset 0)", x.name,
                                   input.filename().string(), x.values.dtype() == DType::u8 ? "uint8 kept" : "stored as float32");
  DatasetWriter writer(output, o.writer);
  writer.write_info(info);
  writer.write_tensor(split, "inputs", inputs);
  writer.set_input_transform(split, "inputs", InputTransform{1.0, 0.0});
  writer.write_tensor(split, "labels", Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(labels.size())}, labels));
  return finish(writer, info, output, started, {{split, static_cast<std::int64_t>(labels.size()), 0}});
}

ImportSummary import_images(const fs::path& dir, const fs::path& output, const FileImportOptions& o) {
  const auto started = Clock::now();
  const std::string split = split_name(o);
  const ErrorContext ctx{dir.string(), "", "", ""};
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IoError("not a directory", ctx);
  std::vector<fs::path> classes;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind('.', 0) != 0) classes.push_back(e.path());
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    throw UsageError("no class folders: the images go in one sub-folder per class (DIR/CLASS/IMAGE.png, torchvision's "
                     "ImageFolder layout)",
                     ctx);
  std::vector<std::uint8_t> pixels;
  std::vector<std::int64_t> labels;
  Image first;
  fs::path first_file;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& e : fs::directory_iterator(classes[c])) {
      const std::string fname = e.path().filename().string();
      if (fname.rfind('.', 0) == 0 || !e.is_regular_file()) continue;  // hidden files, sub-folders
      files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      std::string ext = f.extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (!is_image_extension(ext))
        throw UnsupportedError(fmt::format("'{}' files are not read (PNG, PGM, PPM are; convert the images to PNG)", ext),
                               {f.string(), "", "", ""});
      Image img = read_image(f);
      if (first.pixels.empty()) {
        first = img;
        first_file = f;
      } else if (img.width != first.width || img.height != first.height || img.channels != first.channels) {
        throw UsageError(fmt::format("image is {}x{} with {} channel(s), the first ({}) {}x{} with {}: the import does "
                                     "not resize; give images of one size",
                                     img.width, img.height, img.channels, first_file.string(), first.width,
                                     first.height, first.channels),
                         {f.string(), "", "", ""});
      }
      pixels.insert(pixels.end(), img.pixels.begin(), img.pixels.end());
      labels.push_back(static_cast<std::int64_t>(c));
    }
  }
  if (labels.empty()) throw UsageError("the class folders hold no images", ctx);
  const std::int64_t n = static_cast<std::int64_t>(labels.size());
  DatasetInfo info = classification_info(o.name.empty() ? dir.filename().string() : o.name, dir.string(), 0);
  for (const fs::path& c : classes) info.class_names.push_back(c.filename().string());
  info.preprocessing = fmt::format("images of {} as uint8 [N, {}, {}, {}] (channel-first, alpha dropped, palette expanded), "
                                   "class = sorted sub-folder index; scale 1/255",
                                   dir.string(), first.channels, first.height, first.width);
  DatasetWriter writer(output, o.writer);
  writer.write_info(info);
  writer.write_tensor(split, "inputs",
                      Tensor::from_vector<std::uint8_t>({n, first.channels, first.height, first.width}, pixels));
  writer.set_input_transform(split, "inputs", InputTransform{1.0 / 255.0, 0.0});
  writer.write_tensor(split, "labels", Tensor::from_vector<std::int64_t>({n}, labels));
  return finish(writer, info, output, started, {{split, n, 0}});
}

ImportSummary import_text(const std::vector<fs::path>& files, const fs::path& output, const FileImportOptions& o) {
  const auto started = Clock::now();
  if (files.empty()) throw UsageError("no text files given");
  std::vector<std::vector<std::uint8_t>> docs;
  std::vector<std::string> names;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw IoError("cannot open", {f.string(), "", "", ""});
    docs.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw IoError("read failed", {f.string(), "", "", ""});
    names.push_back(f.string());
  }
  DatasetInfo info;
  info.name = o.name.empty() ? files[0].stem().string() : o.name;
  info.source = fmt::format("{}", fmt::join(names, ", "));
  info.license = "unknown (the user's own data)";
  info.preprocessing = "each file one document, bytes unchanged (byte tokenizer)";
  return write_token_documents(docs, names, info, output, o, started);
}

}  // namespace snnconv::datasets
