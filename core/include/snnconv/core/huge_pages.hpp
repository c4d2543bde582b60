// Large buffers that are written once right after they are allocated (calibration values, the values ranks
// exchange): asking the kernel for transparent huge pages before the first touch makes that touch one fault per
// 2 MiB instead of one per 4 KiB. On the virtual machines we measure on (docs/benchmarks.md) a 4 KiB fault costs
// about 13 us, so 8 MB of fresh memory took 26 ms to zero and 0.6 ms with huge pages.
#pragma once

#include <cstddef>

namespace snnconv {

// Advises huge pages for the whole 2 MiB pages inside [data, data + bytes) (madvise MADV_HUGEPAGE; nothing when the
// range holds none, or on a system without transparent huge pages). A hint: the memory reads the same either way.
void advise_huge_pages(void* data, std::size_t bytes);

}  // namespace snnconv
