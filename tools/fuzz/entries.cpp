#include "entries.hpp"

#include "snnconv/datasets/model_file.hpp"
#include "h5_builder.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/hdf5_probe.hpp"
#include "snnconv/datasets/importers.hpp"
#include "snnconv/datasets/reader.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::fuzz {

namespace fs = std::filesystem;

namespace {

// Rows read per split: what one small `snnconv run --batch` pass reads.
constexpr std::int64_t kRowsPerRead = 8;

fs::path scratch_dir() {
  static const fs::path dir = [] {
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("snnconv-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(fs::path("/dev/shm") / ("snnconv-fuzz-" + std::to_string(::getpid())), ignored);
      fs::remove_all(fs::temp_directory_path(ignored) / ("snnconv-fuzz-" + std::to_string(::getpid())), ignored);
    });
    return d;
  }();
  return dir;
}

std::string& refusal() {
  static std::string message;
  return message;
}

template <typename F>
Outcome guarded(F&& body) {
  refusal().clear();
  try {
    body();
    return Outcome::accepted;
  } catch (const snnconv::Error& e) {
    refusal() = e.what();
    return Outcome::rejected;
  }
}

void read_h5(const fs::path& path) {
  datasets::clear_hdf5_probe_cache();  // every input rewrites the same path, maybe within one mtime tick
  datasets::DatasetReader reader(path);
  const datasets::DatasetInfo& info = reader.info();
  reader.string_attribute("/", "source");
  for (const std::string& split : reader.splits()) {
    const std::int64_t count = reader.count(split);
    for (const std::string& name : reader.dataset_names(split)) {
      reader.shape(split, name);
      reader.integer_attribute("/" + split, "count");
    }
    switch (info.task) {
      case datasets::Task::classification:
        if (count > 0) read_classification_batch(reader, split, 0, std::min(count, kRowsPerRead));
        break;
      case datasets::Task::language_model: {
        reader.doc_names(split);
        const std::int64_t docs = static_cast<std::int64_t>(reader.doc_offsets(split).size()) - 1;
        for (std::int64_t d = 0; d < std::min(docs, kRowsPerRead); ++d) reader.read_document(split, d);
        break;
      }
      case datasets::Task::vqa:
      case datasets::Task::program_synthesis:
        for (const std::string& name : reader.dataset_names(split)) {
          if (!reader.has_dataset(split, name)) continue;
          const Shape shape = reader.shape(split, name);
          try {
            reader.dtype(split, name);
          } catch (const UnsupportedError&) {
            reader.read_strings(split, name);
            continue;
          }
          if (!shape.empty()) reader.read_rows(split, name, 0, std::min<std::int64_t>(shape[0], kRowsPerRead));
        }
        break;
    }
  }
}

}  // namespace

const std::string& last_refusal() { return refusal(); }

Outcome outcome_of(bool refused, const std::string& message) {
  refusal() = refused ? message : std::string();
  return refused ? Outcome::rejected : Outcome::accepted;
}

std::string scratch_file(std::string_view name, std::span<const std::uint8_t> bytes) {
  const fs::path path = scratch_dir() / std::string(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) std::abort();  // the scratch folder itself failed: not a finding about the input
  return path.string();
}

Outcome onnx_entry(std::span<const std::uint8_t> bytes) {
  const std::string path = scratch_file("model.onnx", bytes);
  return guarded([&] {
    Graph g = onnx_import::import_onnx(path);
    fuse_graph(g);  // what `snnconv run` and `inspect --fused` do next
  });
}

// The HDF5 probe's verdict cache is emptied after each input too: an entry left behind would make
// libFuzzer count more mallocs than frees and run every input a second time to look for a leak.
Outcome h5_entry(std::span<const std::uint8_t> bytes) {
  const std::string path = scratch_file("data.h5", bytes);
  const Outcome outcome = guarded([&] { read_h5(path); });
  datasets::clear_hdf5_probe_cache();
  return outcome;
}

Outcome h5_layout_entry(std::span<const std::uint8_t> bytes) {
  const std::string path = (scratch_dir() / "layout.h5").string();
  build_h5_file(bytes, path);
  const Outcome outcome = guarded([&] { read_h5(path); });
  datasets::clear_hdf5_probe_cache();
  return outcome;
}

Outcome snn_model_entry(std::span<const std::uint8_t> bytes) {
  const std::string path = scratch_file("model.snn.h5", bytes);
  datasets::clear_hdf5_probe_cache();  // every input rewrites the same path, maybe within one mtime tick
  const Outcome outcome = guarded([&] { (void)datasets::read_model_file(path); });
  datasets::clear_hdf5_probe_cache();
  return outcome;
}

Outcome profile_entry(std::span<const std::uint8_t> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return guarded([&] {
    const hw::Profile p = hw::parse_profile(text, "fuzz.json");
    switch (p.kind) {
      case hw::ProfileKind::ops:
        hw::op_energies(p);
        break;
      case hw::ProfileKind::neuromorphic:
        hw::neuromorphic_chip(p);
        break;
      case hw::ProfileKind::dense:
        hw::dense_accelerator(p);
        break;
    }
  });
}

Outcome idx_entry(std::span<const std::uint8_t> bytes) {
  std::size_t image_bytes = 0;
  std::span<const std::uint8_t> rest = bytes;
  if (bytes.size() >= 4) {
    image_bytes = std::size_t{bytes[0]} | std::size_t{bytes[1]} << 8 | std::size_t{bytes[2]} << 16 |
                  std::size_t{bytes[3]} << 24;
    rest = bytes.subspan(4);
  }
  image_bytes = std::min(image_bytes, rest.size());
  const std::string images = scratch_file("images-idx3-ubyte", rest.first(image_bytes));
  const std::string labels = scratch_file("labels-idx1-ubyte", rest.subspan(image_bytes));
  return guarded([&] { datasets::read_idx_split(images, labels); });
}

const std::vector<Harness>& harnesses() {
  static const std::vector<Harness> all = {
      {"onnx", &onnx_entry},
      {"h5", &h5_entry},
      {"h5_layout", &h5_layout_entry},
      {"profile", &profile_entry},
      {"idx", &idx_entry},
      {"snn_model", &snn_model_entry},
      {"metrics", &metrics_entry},
  };
  return all;
}

}  // namespace snnconv::fuzz
