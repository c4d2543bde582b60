// NumPy's .npz and .npy files (what np.savez, np.savez_compressed and np.save write), read without Python:
// an .npz is a zip archive (members stored or deflated, zip64 fields as numpy writes them) of .npy arrays
// (docs/datasets.md, "NumPy files"). Every fault is refused with the file and the array named:
//   IoError          the file cannot be read
//   ParseError       not a zip / not an .npy, truncated, a bad header, a CRC or size that contradicts the data,
//                    corrupt deflate data, a duplicate name, bool bytes other than 0 and 1
//   UnsupportedError encryption, a compression other than stored/deflate, pickled object arrays, strings,
//                    complex, structured or datetime dtypes, Fortran order, uint64 above int64's range
//   LimitError       a member or shape above the documented limits (checked before allocating)
//   NumericError     a finite float64 outside float32's range
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "snnconv/core/tensor.hpp"

namespace snnconv::datasets {

// One array of a file. Stored dtypes map to ours: float32 -> f32, float64 -> f32 (rounded to nearest),
// float16 -> f16, int8 -> i8, uint8 -> u8, int16/uint16/int32 -> i32, uint32/int64/uint64 -> i64, bool -> boolean;
// either byte order.
struct NpyArray {
  std::string name;   // the member name without ".npy" (the key np.load gives)
  std::string descr;  // the stored numpy dtype, e.g. "<f8"
  Tensor values;      // C order
};

// Bytes of one member above this are refused (LimitError) before inflating.
inline constexpr std::uint64_t kMaxNpyBytes = std::uint64_t{16} << 30;

// Every array of an .npz in archive order. `file` names the source in errors.
std::vector<NpyArray> parse_npz(std::span<const std::uint8_t> bytes, const std::string& file);
std::vector<NpyArray> read_npz(const std::filesystem::path& path);
// One .npy array (np.save).
NpyArray parse_npy(std::span<const std::uint8_t> bytes, const std::string& file, const std::string& name);
// True when the file starts with a zip signature (false when it cannot be read).
bool is_npz_file(const std::filesystem::path& path);

// Writes arrays as an .npz that np.load reads (members stored, as np.savez writes them; f16 as float16, bool as
// bool). The file is built under a temporary name beside `path` and renamed when complete; IoError (disk full,
// no permission) leaves no file. Names must be unique and non-empty.
void write_npz(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& arrays);
// The bytes of one .npy (version 1.0 header).
std::vector<std::uint8_t> npy_bytes(const Tensor& values);

}  // namespace snnconv::datasets
