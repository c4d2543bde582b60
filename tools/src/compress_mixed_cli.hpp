// The mixed-precision part of `snnconv compress` (cmd_compress.cpp): its options and its report sections.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "snnconv/cascade/compress.hpp"

namespace snnconv::cli {

// --budget-wbits, --budget-bytes, --cost-file, --budget-act-bits, --candidate-bits, --candidate-act-bits,
// --sensitivity-samples, --eval.
void add_mixed_precision_options(CLI::App& cmd, cascade::CompressOptions& c);
// "mixed_precision" and "accuracy" sections of compression.json (null when not run).
nlohmann::json mixed_precision_json(const cascade::CompressResult& r);
nlohmann::json accuracy_json(const cascade::CompressResult& r);
// Sections of compression.md (empty when not run).
std::string mixed_precision_markdown(const cascade::CompressResult& r);

}  // namespace snnconv::cli
