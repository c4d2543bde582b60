// The arrays of the engine's state (counts, targets, accumulators, a product's operand copy, a differential
// unit's outputs) and its zeroed scratch flags: zero-filled without a pass writing the zeros. A fresh pass of a
// 100M-class model lays out gigabytes, and writing their zeros was a large part of a one-image burst run; fresh
// pages read as zero and are first touched by the step that uses them. Elements are default-initialised, so a
// vector of n elements writes nothing: the memory is zero already (calloc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

namespace snnconv::snn {

template <typename T>
struct ZeroAllocator {
  using value_type = T;
  ZeroAllocator() = default;
  template <typename U>
  ZeroAllocator(const ZeroAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    // glibc's calloc takes large blocks from fresh mappings and skips clearing them (the kernel's pages read as
    // zero). A custom mapping aligned to 2 MiB with transparent huge pages was tried: it put every array at
    // the same cache-set offsets, and code_gpt's burst window ran 5 % slower (docs/benchmarks.md).
    void* p = std::calloc(n == 0 ? 1 : n, sizeof(T));
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t) noexcept { std::free(p); }

  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-initialised: the memory is zero already
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  friend bool operator==(const ZeroAllocator&, const ZeroAllocator&) { return true; }
};

// A state array of n zeros: StateVector<T>(n), always a fresh vector. Growing a vector that held elements before
// (resize after clear, or within its capacity) leaves the new elements unspecified, not zero.
template <typename T>
using StateVector = std::vector<T, ZeroAllocator<T>>;

}  // namespace snnconv::snn
