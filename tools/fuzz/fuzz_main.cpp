// The libFuzzer main of one harness: compiled once per harness with SNNCONV_FUZZ_HARNESS set to its name
// (tools/fuzz/CMakeLists.txt). A snnconv::Error is a clean refusal; anything else reaches libFuzzer.
#include <cstdlib>
#include <string_view>

#include "entries.hpp"

namespace {
snnconv::fuzz::Outcome (*find_entry())(std::span<const std::uint8_t>) {
  for (const auto& h : snnconv::fuzz::harnesses())
    if (h.name == std::string_view(SNNCONV_FUZZ_HARNESS)) return h.entry;
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto entry = find_entry();
  entry(std::span<const std::uint8_t>(data, size));
  return 0;
}
