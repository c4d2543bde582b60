// Probe for a wrong-code bug of Debian 12's g++ 12.2: with AVX-512 enabled (-march=x86-64-v4, -march=native on
// an AVX-512 CPU, or -mavx512f alone) at -O2, the SLP vectoriser compiles the constant vector {1, 1, 1, 0} into a
// broadcast of its first element, {1, 1, 1, 1}. CMakeLists.txt builds this file with the baseline flags and with
// the flags of the AVX-512 kernel files, and refuses to configure when either gives the wrong answer
// (docs/reliability.md, "The compiler"). Exit 0: right; 3: miscompiled.
#include <vector>

__attribute__((noinline)) long digits(const std::vector<long>& v) {
  long s = 0;
  for (long x : v) s = s * 10 + x;
  return s;
}

int main() {
  std::vector<long> a{1, 1, 1, 0};
  return digits(a) == 1110 ? 0 : 3;
}
