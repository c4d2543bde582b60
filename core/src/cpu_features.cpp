#include "snnconv/core/cpu_features.hpp"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "snnconv/core/error.hpp"

namespace snnconv {
namespace {

Isa probe_cpu() {
  // __builtin_cpu_supports checks both the cpuid bits and that the OS saves the zmm state.
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (!avx512) return Isa::avx2;
  return __builtin_cpu_supports("avx512vnni") ? Isa::avx512_vnni : Isa::avx512;
}

Isa parse_cap(const char* text) {
  const std::string v(text);
  if (v == "avx2") return Isa::avx2;
  if (v == "avx512") return Isa::avx512;
  if (v == "avx512_vnni") return Isa::avx512_vnni;
  throw UsageError("SNNCONV_ISA='" + v + "' is not one of avx2, avx512, avx512_vnni");
}

std::string cpu_model() {
  unsigned regs[12] = {};
  unsigned max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext < 0x80000004u) return "unknown CPU";
  for (unsigned i = 0; i < 3; ++i) {
    __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  }
  char name[49] = {};
  std::memcpy(name, regs, 48);
  std::string s(name);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = probe_cpu();
  return isa;
}

Isa active_isa() {
  static const Isa isa = [] {
    const char* cap = std::getenv("SNNCONV_ISA");
    if (cap == nullptr || *cap == '\0') return detected_isa();
    const Isa wanted = parse_cap(cap);
    return static_cast<int>(wanted) < static_cast<int>(detected_isa()) ? wanted : detected_isa();
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512_vnni: return "avx512_vnni";
  }
  return "unknown";
}

const char* cpu_description() {
  static const std::string text = std::string(isa_name(active_isa())) + " (" + cpu_model() + ")";
  return text.c_str();
}

}  // namespace snnconv
