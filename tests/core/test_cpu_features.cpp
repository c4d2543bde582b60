#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "snnconv/core/cpu_features.hpp"

namespace snnconv_test {
long constant_vector_digits_avx512();
long digits_of(const std::vector<long>& v);
}  // namespace snnconv_test

using namespace snnconv;

TEST_SUITE("unit") {
// Debian 12's g++ 12.2 at -O2 with AVX-512 enabled compiles std::vector<long>{1, 1, 1, 0} into {1, 1, 1, 1}
// (a vpbroadcastq of the first element). This test fails in a build made that way (-march=x86-64-v4 or
// -march=native on an AVX-512 CPU); the build's baseline is x86-64-v3 (docs/reliability.md, "The compiler").
TEST_CASE("constant vectors survive the compiler in the baseline build") {
  std::vector<long> a{1, 1, 1, 0};
  CHECK(snnconv_test::digits_of(a) == 1110);
  std::vector<std::int64_t> b{7, 7, 7, 7, 7, 7, 7, 2};
  CHECK(b.back() == 2);
}

TEST_CASE("constant vectors survive the compiler in the AVX-512 kernel files") {
  if (detected_isa() >= Isa::avx512) {
    CHECK(snnconv_test::constant_vector_digits_avx512() == 1110);
  } else {  // the code cannot run here; the probe is checked on AVX-512 machines
    CHECK(detected_isa() == Isa::avx2);
  }
}

TEST_CASE("ISA levels are ordered and named") {
  CHECK(Isa::avx2 < Isa::avx512);
  CHECK(Isa::avx512 < Isa::avx512_vnni);
  CHECK(active_isa() <= detected_isa());
  CHECK(std::string(isa_name(Isa::avx512_vnni)) == "avx512_vnni");
  CHECK(std::string(cpu_description()).find(isa_name(active_isa())) == 0);
}
}
