#include "snnconv/core/si_format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace snnconv {
namespace {

// Prefixes from atto (index 0 = 1e-18) to exa (index 12 = 1e18); index 6 is no prefix.
constexpr const char* kPrefixes[] = {"a", "f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E"};
constexpr int kNoPrefix = 6;

struct Style {
  bool sub_unit = true;       // milli and below allowed
  bool plain_integers = false;  // an integer below 1000 is written without decimals ("17")
};

double round_to(double v, int decimals) {
  const double f = std::pow(10.0, decimals);
  return std::round(v * f) / f;
}

std::string si(double v, std::string_view unit, int digits, Style style) {
  if (!std::isfinite(v)) return "n/a";
  digits = std::clamp(digits, 1, 15);
  if (v == 0) return "0";  // a zero needs no unit; it reads the same in every column
  const int lowest = style.sub_unit ? 0 : kNoPrefix;
  const int highest = static_cast<int>(std::size(kPrefixes)) - 1;
  if (style.plain_integers && std::fabs(v) < 1000 && v == std::floor(v)) return fmt::format("{:.0f}{}{}", v, unit.empty() ? "" : " ", unit);
  int e3 = static_cast<int>(std::floor(std::log10(std::fabs(v)) / 3.0)) + kNoPrefix;
  e3 = std::clamp(e3, lowest, highest);
  for (int pass = 0; pass < 2; ++pass) {
    const double m = v / std::pow(1000.0, e3 - kNoPrefix);
    const int mag = static_cast<int>(std::floor(std::log10(std::fabs(m))));
    const int decimals = std::max(0, digits - 1 - mag);
    const double r = round_to(m, decimals);
    // 999.7 rounds to 1000: one prefix up, where it reads 1.00.
    if (std::fabs(r) >= 1000.0 && e3 < highest && pass == 0) {
      ++e3;
      v = r * std::pow(1000.0, e3 - 1 - kNoPrefix);
      continue;
    }
    const std::string prefixed = std::string(kPrefixes[e3]) + std::string(unit);
    const std::string number = fmt::format("{:.{}f}", r, decimals);
    return prefixed.empty() ? number : number + " " + prefixed;
  }
  return "n/a";  // not reached
}

}  // namespace

std::string si_format(double value, std::string_view unit, int digits) {
  return si(value, unit, digits, Style{true, false});
}

std::string format_energy_pj(double pj) {
  return si(pj * 1e-12, "J", 3, Style{true, false});
}

std::string format_bytes(double bytes) {
  return si(bytes, "B", 3, Style{false, true});
}

std::string format_count(double count) {
  return si(count, "", 3, Style{false, true});
}

std::string format_seconds(double s) {
  return si(s, "s", 3, Style{true, false});
}

std::string format_ratio(double r) {
  if (!std::isfinite(r)) return "n/a";
  if (r == 0) return "0x";
  const double a = std::fabs(r);
  if (a >= 100) return fmt::format("{:.0f}x", r);
  if (a >= 10) return fmt::format("{:.1f}x", r);
  if (a >= 1) return fmt::format("{:.2f}x", r);
  const int decimals = 2 - static_cast<int>(std::floor(std::log10(std::max(a, 1e-12))));
  return fmt::format("{:.{}f}x", r, std::clamp(decimals, 2, 12));
}

}  // namespace snnconv
