#include "snnconv/core/temp_files.hpp"

#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstring>

#include "snnconv/core/error.hpp"

namespace snnconv {

namespace {
constexpr std::size_t kMaxPath = 4096;
struct Slot {
  std::atomic<bool> used{false};
  std::atomic<bool> ready{false};  // path fully written; the handler only reads ready slots
  char path[kMaxPath];
};
std::array<Slot, kMaxTempFiles> g_slots;

extern "C" void on_interrupt(int sig) {
  for (auto& s : g_slots)
    if (s.ready.load()) ::unlink(s.path);
  ::_exit(128 + sig);
}
}  // namespace

TempFileGuard::TempFileGuard(const std::string& path) {
  if (path.size() + 1 > kMaxPath) throw LimitError("temporary path too long: " + path);
  for (std::size_t i = 0; i < g_slots.size(); ++i) {
    bool expected = false;
    if (g_slots[i].used.compare_exchange_strong(expected, true)) {
      std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
      g_slots[i].ready.store(true);
      slot_ = static_cast<int>(i);
      return;
    }
  }
  throw LimitError("more than " + std::to_string(kMaxTempFiles) + " temporary output files open at once");
}

void TempFileGuard::release() {
  if (slot_ < 0) return;
  g_slots[static_cast<std::size_t>(slot_)].ready.store(false);
  g_slots[static_cast<std::size_t>(slot_)].used.store(false);
  slot_ = -1;
}

TempFileGuard::~TempFileGuard() { release(); }

void install_interrupt_cleanup() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace snnconv
