// The mixed-precision part of `snnconv compress` (cmd_compress.cpp): its options and its report sections.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "snnconv/pipeline/compress.hpp"

namespace snnconv::cli {

// --budget-wbits, --budget-bytes, --cost-file, --budget-act-bits, --candidate-bits, --candidate-act-bits,
// --sensitivity-samples, --eval.
void add_mixed_precision_options(CLI::App& cmd, pipeline::CompressOptions& c);
// "mixed_precision" and "accuracy" sections of compression.json (null when not run).
nlohmann::json mixed_precision_json(const pipeline::CompressResult& r);
nlohmann::json accuracy_json(const pipeline::CompressResult& r);
// Sections of compression.md (empty when not run).
std::string mixed_precision_markdown(const pipeline::CompressResult& r);

}  // namespace snnconv::cli
