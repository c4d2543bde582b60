// advise_huge_pages (huge_pages.hpp).
#include "snnconv/core/huge_pages.hpp"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace snnconv {

void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t a = (begin + kHuge - 1) & ~(kHuge - 1), b = (begin + bytes) & ~(kHuge - 1);
  if (b > a) (void)madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE);  // a refusal leaves 4 KiB pages
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace snnconv
