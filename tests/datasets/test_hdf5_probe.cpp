// The HDF5 probe (snnconv/datasets/hdf5_probe.hpp): files on which libhdf5 itself crashes or hangs are
// refused with a ParseError naming the file; other files read exactly as without the probe.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "snnconv/core/error.hpp"
#include "snnconv/datasets/hdf5_probe.hpp"
#include "snnconv/datasets/model_file.hpp"
#include "snnconv/datasets/reader.hpp"
#include "temp_dir.hpp"

using namespace snnconv;
using namespace snnconv::datasets;

namespace {

const std::string kFuzzDir = std::string(SNNCONV_SOURCE_DIR) + "/tests/data/fuzz/";

template <typename F>
std::string parse_error_of(F&& read) {
  try {
    read();
  } catch (const ParseError& e) {
    return e.what();
  }
  return "(no ParseError)";
}

// Sets an environment variable for one scope (the test runner is single-threaded).
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const char* value) : name(std::move(n)) { ::setenv(name.c_str(), value, 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("a dataset file on which libhdf5 crashes is refused with a ParseError naming the file") {
    clear_hdf5_probe_cache();
    const std::string file = kFuzzDir + "h5/libhdf5-hg-read-overflow.h5";
    const std::string message = parse_error_of([&] { DatasetReader reader(file); });
    // Release: SEGV (signal 11); under ASan the interceptors may catch it first (exit code 1).
    CHECK(message.find("libhdf5 failed on this file (crashed with ") != std::string::npos);
    CHECK(message.find(file) != std::string::npos);
    // The verdict is cached: the second open gives the same error without a second child.
    CHECK(parse_error_of([&] { DatasetReader reader(file); }) == message);
  }

  TEST_CASE("a model file on which libhdf5 crashes is refused with a ParseError naming the file") {
    clear_hdf5_probe_cache();
    const std::string file = kFuzzDir + "snn_model/libhdf5-segv-4c2cc67f.h5";
    const std::string message = parse_error_of([&] { (void)read_model_file(file); });
    // Release: SEGV (signal 11); under ASan the interceptors may catch it first (exit code 1).
    CHECK(message.find("libhdf5 failed on this file (crashed with ") != std::string::npos);
    CHECK(message.find(file) != std::string::npos);
  }

  TEST_CASE("a file on which libhdf5 hangs is refused after the time limit") {
    clear_hdf5_probe_cache();
    const ScopedEnv seconds("SNNCONV_HDF5_PROBE_SECONDS", "1");
    const std::string file = kFuzzDir + "h5/libhdf5-hang-h5c-protect.h5";
    const std::string message = parse_error_of([&] { DatasetReader reader(file); });
    // libhdf5's hang on this file is a loop: the child is stopped by its CPU time, not by the wall clock
    // (a large file read on a loaded machine takes long in wall time without being a hang).
    CHECK(message.find("libhdf5 failed on this file (used more than 1 s of CPU time)") != std::string::npos);
  }

  TEST_CASE("an snnconv error in the probe child is the same error as without the probe") {
    const snnconv::test::TempDir dir;
    const auto file = dir / "not_hdf5.h5";
    std::ofstream(file) << "not an HDF5 file\n";
    clear_hdf5_probe_cache();
    const std::string probed = parse_error_of([&] { DatasetReader reader(file); });
    const std::string probed_model = parse_error_of([&] { (void)read_model_file(file); });
    std::string direct, direct_model;
    {
      const ScopedEnv off("SNNCONV_HDF5_PROBE", "0");
      direct = parse_error_of([&] { DatasetReader reader(file); });
      direct_model = parse_error_of([&] { (void)read_model_file(file); });
    }
    CHECK(probed.find("libhdf5") == std::string::npos);
    CHECK(probed == direct);
    CHECK(probed_model == direct_model);
  }

  TEST_CASE("the probe's limits grow with the file size") {
    CHECK(hdf5_probe_time_limit(0).count() == 10);
    CHECK(hdf5_probe_time_limit(std::uintmax_t{32} << 20).count() == 12);
    CHECK(hdf5_probe_memory_limit_bytes(0) == std::uint64_t{2} << 30);
    CHECK(hdf5_probe_memory_limit_bytes(1000) == (std::uint64_t{2} << 30) + 8000);
  }
}
