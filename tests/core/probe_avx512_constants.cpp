// Built with the AVX-512 kernel flags (tests/CMakeLists.txt: snnconv_avx512_sources), like the product's AVX-512
// kernel files: the pattern g++ 12.2 miscompiles when AVX-512 is on. Called only on CPUs with AVX-512.
#include <vector>

namespace snnconv_test {

__attribute__((noinline)) long digits_of(const std::vector<long>& v) {
  long s = 0;
  for (long x : v) s = s * 10 + x;
  return s;
}

long constant_vector_digits_avx512() {
  std::vector<long> a{1, 1, 1, 0};
  return digits_of(a);
}

}  // namespace snnconv_test
