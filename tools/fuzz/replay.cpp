// Replays committed fuzz inputs through the harness entry functions, built with the regular compiler
// and no libFuzzer (ctest: fuzz_regressions). Usage: fuzz_replay DIR, where DIR/NAME/* are the inputs of
// harness NAME (tests/data/fuzz/). Each input must be accepted or refused with a snnconv::Error; any other
// exception fails the test, and a crash fails it by itself. Prints "N passed, N failed".
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "entries.hpp"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_replay DIR   (DIR/<harness>/<input>)\n");
    return 2;
  }
  const fs::path root = argv[1];
  int passed = 0, failed = 0;
  for (const auto& harness : snnconv::fuzz::harnesses()) {
    const fs::path dir = root / std::string(harness.name);
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> inputs;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file() && entry.path().filename() != "README.md") inputs.push_back(entry.path());
    std::sort(inputs.begin(), inputs.end());
    for (const fs::path& input : inputs) {
      std::ifstream in(input, std::ios::binary);
      const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      try {
        const auto outcome = harness.entry(bytes);
        std::string how = "accepted";
        if (outcome == snnconv::fuzz::Outcome::rejected) how = "refused: " + snnconv::fuzz::last_refusal().substr(0, 160);
        std::printf("ok: %s/%s %s\n", std::string(harness.name).c_str(), input.filename().c_str(), how.c_str());
        ++passed;
      } catch (const std::exception& e) {
        std::printf("FAIL: %s/%s threw a non-snnconv exception: %s\n", std::string(harness.name).c_str(),
                    input.filename().c_str(), e.what());
        ++failed;
      }
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
