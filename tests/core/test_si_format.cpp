// The one number style of everything a person reads (core/si_format.hpp).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "snnconv/core/si_format.hpp"

using namespace snnconv;

TEST_CASE("energies get SI prefixes and three significant digits, never an exponent") {
  CHECK(format_energy_pj(23.6) == "23.6 pJ");
  CHECK(format_energy_pj(547e6) == "547 µJ");
  CHECK(format_energy_pj(1.8e9) == "1.80 mJ");
  CHECK(format_energy_pj(9.802e8) == "980 µJ");  // cascade printed "9.802e+08 pJ"
  CHECK(format_energy_pj(0.03) == "30.0 fJ");
  CHECK(format_energy_pj(999.7) == "1.00 nJ");  // rounding to 1000 moves up one prefix
  CHECK(format_energy_pj(-2.5e6) == "-2.50 µJ");
  CHECK(format_energy_pj(0) == "0");
  CHECK(format_energy_pj(std::numeric_limits<double>::quiet_NaN()) == "n/a");
}

TEST_CASE("counts, bytes and seconds") {
  CHECK(format_count(7043) == "7.04 k");
  CHECK(format_count(8620.5) == "8.62 k");  // was "8.62e+03" beside "7043" in one column
  CHECK(format_count(10400) == "10.4 k");
  CHECK(format_count(2.427e6) == "2.43 M");
  CHECK(format_count(17) == "17");
  CHECK(format_count(25.37) == "25.4");
  CHECK(format_count(0.5) == "0.500");
  CHECK(format_count(999999) == "1.00 M");
  CHECK(format_bytes(556032) == "556 kB");
  CHECK(format_bytes(108.7e6) == "109 MB");
  CHECK(format_bytes(17) == "17 B");
  CHECK(format_seconds(286e-6) == "286 µs");
  CHECK(format_seconds(2.09e-3) == "2.09 ms");
  CHECK(format_seconds(1.5) == "1.50 s");
  CHECK(si_format(3.1e10, "B/s") == "31.0 GB/s");
}

TEST_CASE("ratios") {
  CHECK(format_ratio(7.1) == "7.10x");
  CHECK(format_ratio(74.04) == "74.0x");
  CHECK(format_ratio(1234.4) == "1234x");
  CHECK(format_ratio(0.14) == "0.140x");
  CHECK(format_ratio(0) == "0x");
}

TEST_CASE("no formatter ever writes an exponent") {
  for (double e = -20; e <= 20; e += 0.37) {
    const double v = std::pow(10.0, e);
    for (const std::string& s : {format_energy_pj(v), format_count(v), format_bytes(v), format_seconds(v), format_ratio(v)}) {
      INFO(s);
      CHECK(s.find("e+") == std::string::npos);
      CHECK(s.find("e-") == std::string::npos);
    }
  }
}
