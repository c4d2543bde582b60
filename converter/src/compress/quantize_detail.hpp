// What quantize.cpp and calibrate.cpp share.
#pragma once

#include "snnconv/converter/quantize.hpp"

namespace snnconv {

// UsageError for bits, percentile, value budget, groups or threads out of range.
void check_quantize_options(const QuantizeOptions& o);

}  // namespace snnconv
