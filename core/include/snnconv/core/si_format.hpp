// One number style for every figure a person reads (the CLI, report.md/.html, cascade.md): SI prefixes with
// three significant digits ("547 µJ", "2.43 M", "109 MB", "2.09 ms"), never an exponent ("8.62e+03") and never
// binary prefixes. Machine outputs (report.json, cascade.json) keep plain numbers in base units.
#pragma once

#include <string>
#include <string_view>

namespace snnconv {

// `value` in base `unit` with an SI prefix from p to P chosen so that the mantissa is in [1, 1000) after
// rounding to `digits` significant digits: si_format(9.802e8, "pJ") is wrong (pJ is not a base unit) - use
// format_energy_pj. Zero is "0"; a non-finite value "n/a". Trailing zeros are kept ("1.80 mJ") so a column
// reads at one precision. An empty unit gives a bare count with a prefix ("2.43 M", "17").
std::string si_format(double value, std::string_view unit, int digits = 3);

std::string format_energy_pj(double pj);   // "23.6 pJ", "547 µJ", "9.80 mJ"
std::string format_bytes(double bytes);    // "556 kB", "109 MB", "17 B" (decimal prefixes)
std::string format_count(double count);    // "2.43 M", "10.4 k", "17", "0.5"
std::string format_seconds(double s);      // "286 µs", "2.09 ms", "1.50 s"
// A ratio >= 1 as "7.10x"; below 1 as "0.140x" (callers state the direction in words and pass the larger
// over the smaller where they can).
std::string format_ratio(double r);

}  // namespace snnconv
