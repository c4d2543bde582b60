// Temporary output files and interruption safety. Every output (models, datasets, reports, recordings) is
// written to a temporary name in its final folder and renamed; while it exists it is registered here so that
// SIGINT/SIGTERM can remove it before the process exits.
//
// The registry is process-global state: a signal handler can reach nothing else. It is the one documented
// exception to "no singletons" (docs/architecture.md); it holds at most kMaxTempFiles paths in a fixed table
// and the handler uses only async-signal-safe calls (unlink, open, getdents64, unlinkat, _exit). A registered
// folder (the staging folder of an AtomicFolder, atomic_output.hpp) is removed with everything it holds.
#pragma once

#include <cstddef>
#include <string>

namespace snnconv {

inline constexpr std::size_t kMaxTempFiles = 64;

// Registers `path` for removal on interruption until destroyed or released. Registering more than
// kMaxTempFiles at once throws LimitError.
class TempFileGuard {
public:
  explicit TempFileGuard(const std::string& path);
  ~TempFileGuard();
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  // Stop tracking (call after the file was renamed into place).
  void release();

private:
  int slot_ = -1;
};

// Installs SIGINT/SIGTERM handlers that remove every registered temporary (file or folder tree) and exit
// with 128 + signal.
void install_interrupt_cleanup();

}  // namespace snnconv
