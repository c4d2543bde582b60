// The clocks the GEMM benchmarks read: the calling thread's CPU time (steady on a shared machine: a 1-thread
// kernel's figure does not count the time other processes held the core) and the wall clock.
#pragma once

#include <time.h>

#include <chrono>

namespace snnconv::bench {

inline double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace snnconv::bench
