#include "snnconv/core/temp_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
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

// Removes the entries of the open folder `dir` and what they hold, with async-signal-safe calls only
// (open, getdents64, unlinkat, close): a staging folder of AtomicFolder is registered as one path.
void remove_contents(int dir, int depth) {
  alignas(8) char buf[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) return;
    bool removed_any = false;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      if (::unlinkat(dir, name, 0) == 0) {
        removed_any = true;
        continue;
      }
      if (depth <= 0) continue;
      const int sub = ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) continue;
      remove_contents(sub, depth - 1);
      ::close(sub);
      if (::unlinkat(dir, name, AT_REMOVEDIR) == 0) removed_any = true;
    }
    if (removed_any) ::lseek(dir, 0, SEEK_SET);  // entries moved under us: read the folder again
    else return;
  }
}

void remove_path(const char* path) {
  if (::unlink(path) == 0) return;
  const int dir = ::open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) return;
  remove_contents(dir, 8);
  ::close(dir);
  ::rmdir(path);
}

extern "C" void on_interrupt(int sig) {
  for (auto& s : g_slots)
    if (s.ready.load()) remove_path(s.path);
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
