// write_recording_file (recording_file.hpp).
#include "snnconv/datasets/recording_file.hpp"

#include <fmt/format.h>

#include "h5_io.hpp"

namespace snnconv::datasets {

namespace fs = std::filesystem;

void write_recording_file(const fs::path& path, const RecordingFile& rec) {
  const auto L = static_cast<std::int64_t>(rec.populations.size());
  const auto build = [&](H5::H5File& f) {
    detail::set_string_attribute(f, "format", "snnconv-recording");
    detail::set_integer_attribute(f, "format_version", 1);
    for (const auto& [k, v] : rec.metadata) detail::set_string_attribute(f, k, v);
    const H5::Group root = f.openGroup("/");
    detail::write_strings(root, "populations", rec.populations);
    detail::write_tensor(root, "neurons", Tensor::from_vector<std::int64_t>({L}, rec.neurons), 0);
    detail::write_strings(root, "raster_names", rec.raster_names);
    H5::Group samples = detail::create_group(f, "/samples");
    for (std::size_t k = 0; k < rec.samples.size(); ++k) {
      const RecordingFile::Sample& s = rec.samples[k];
      H5::Group g = detail::create_group(samples, std::to_string(k));
      detail::set_integer_attribute(g, "index", s.index);
      detail::set_integer_attribute(g, "steps", s.steps);
      const auto T = static_cast<std::int64_t>(s.spikes_pos.size());
      std::vector<std::int64_t> pos, neg;  // u64 counts fit i64 (HDF5 has no u64 memory type here)
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t l = 0; l < L; ++l) {
          pos.push_back(static_cast<std::int64_t>(s.spikes_pos[static_cast<std::size_t>(t)][static_cast<std::size_t>(l)]));
          neg.push_back(static_cast<std::int64_t>(s.spikes_neg[static_cast<std::size_t>(t)][static_cast<std::size_t>(l)]));
        }
      detail::write_tensor(g, "spikes_pos", Tensor::from_vector<std::int64_t>({T, L}, pos), 4);
      detail::write_tensor(g, "spikes_neg", Tensor::from_vector<std::int64_t>({T, L}, neg), 4);
      for (std::size_t r = 0; r < rec.raster_names.size() && r < s.raster.size(); ++r) {
        const auto e = static_cast<std::int64_t>(s.raster[r].size() / 3);
        detail::write_tensor(g, "raster/" + std::to_string(r),
                             Tensor::from_vector<std::int32_t>({e, 3}, s.raster[r]), 4);
      }
    }
  };
  const auto check = [&](const H5::H5File& f) {  // the image opens and says what it is
    if (detail::get_string_attribute(f.openGroup("/"), "format", {path.string(), "/"}) != "snnconv-recording")
      throw IoError("the recording does not read back its format attribute", {path.string(), "", "", ""});
  };
  detail::write_file_atomically(path, "recording", build, check);
}

}  // namespace snnconv::datasets
