// The defaults and ranges of the shared options (options.hpp), in a header without CLI11 so that the Python
// module (python/) refuses and defaults exactly as the CLI does.
#pragma once

namespace snnconv::cli {

// The CLI's activation-bit default for every command that quantizes: 4, the regime the SNN is built for
// (fewer levels per neuron = fewer spikes). The library's QuantizeOptions keeps its own default; the CLI
// overrides it here so that `run`, `convert`, `compress`, `generate`, `report` and `compare` agree.
inline constexpr int kDefaultActBits = 4;
inline constexpr int kMinActBits = 2, kMaxActBits = 16;
inline constexpr int kMinWeightBits = 2, kMaxWeightBits = 8;
inline constexpr const char* kDefaultClip = "mse";
inline constexpr const char* kClipChoices[] = {"minmax", "percentile", "mse"};
inline constexpr int kDefaultMaxSteps = 4096;

}  // namespace snnconv::cli
