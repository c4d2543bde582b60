// The HDF5 probe: a forked child does the reads first, under limits (snnconv/datasets/hdf5_probe.hpp).
//
// Why fork and not a thread: libhdf5's failures are segfaults, heap overflows, endless loops and
// multi-gigabyte allocations inside the library; only a separate process survives them. Why fork is safe
// here: the child runs only libhdf5 and datasets/ code (no TBB, no threads); glibc resets its malloc and
// stdio locks in the child, and libhdf5's global lock is free because HDF5 is used from one thread at a
// time (reader.hpp). Worker threads of TBB, if any exist already, simply do not exist in the child.
#include "hdf5_probe.hpp"

#include "snnconv/datasets/hdf5_probe.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <tuple>

#include "snnconv/core/error.hpp"

// Present in sanitizer builds only (weak: null otherwise). libFuzzer registers a death callback that
// writes the current input as a crash artifact; a probe child must die quietly instead.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace snnconv::datasets {

namespace {

// Child exit codes. Anything else (a sanitizer's exit code 1, a signal) is a libhdf5 failure.
constexpr int kChildOk = 0;
constexpr int kChildSnnconvError = 42;
constexpr int kChildOutOfMemory = 43;

bool g_in_child = false;

struct Key {
  std::string path;
  std::uintmax_t size;
  std::int64_t mtime_ns;
  std::uint64_t inode;
  auto tie() const { return std::tie(path, size, mtime_ns, inode); }
  bool operator<(const Key& other) const { return tie() < other.tie(); }
};

std::mutex g_cache_mutex;
std::map<Key, std::optional<std::string>>& cache() {  // failure message, or nullopt when the file is safe
  static std::map<Key, std::optional<std::string>> verdicts;
  return verdicts;
}

bool disabled() {
  const char* value = std::getenv("SNNCONV_HDF5_PROBE");
  return value != nullptr && std::string(value) == "0";
}

std::uint64_t mapped_bytes() {  // VmSize: the address space the process maps now
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long long pages = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%llu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

[[noreturn]] void run_child(const std::function<void()>& reads, std::uint64_t memory_limit) {
  g_in_child = true;
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  // Default actions: no fuzzer or sanitizer handler reports a crash of the child as the process's own,
  // and the CLI's SIGINT handler (it removes the process's temporaries) stays with the parent.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM, SIGINT, SIGTERM, SIGUSR1, SIGUSR2})
    ::signal(sig, SIG_DFL);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) ::_exit(kChildOk);  // the parent is already gone
  const std::uint64_t base = mapped_bytes();
  if (base > 0) {
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(base + memory_limit);
    ::setrlimit(RLIMIT_AS, &limit);
  }
  int code = kChildOk;
  try {
    reads();
  } catch (const std::bad_alloc&) {
    code = kChildOutOfMemory;
  } catch (...) {
    code = kChildSnnconvError;  // the parent reads and throws this error itself
  }
  ::_exit(code);  // no atexit handlers, no stdio flush, no leak check: the parent owns all of that
}

// The child's verdict: nullopt when the parent may read, else why libhdf5 failed.
std::optional<std::string> wait_for(pid_t child, std::chrono::seconds time_limit, std::uint64_t memory_limit) {
  const auto deadline = std::chrono::steady_clock::now() + time_limit;
  long sleep_ns = 50'000;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return std::nullopt;  // lost track of the child: read unprotected
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      return fmt::format("took more than {} s", time_limit.count());
    }
    timespec pause{0, sleep_ns};
    ::nanosleep(&pause, nullptr);
    sleep_ns = std::min(sleep_ns * 2, 5'000'000L);
  }
  if (WIFSIGNALED(status)) return fmt::format("crashed with signal {}", WTERMSIG(status));
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == kChildOk || code == kChildSnnconvError) return std::nullopt;
  if (code == kChildOutOfMemory) return fmt::format("needed more than {} bytes", memory_limit);
  return fmt::format("crashed with exit code {}", code);  // a sanitizer report (fuzz builds) precedes it
}

}  // namespace

void clear_hdf5_probe_cache() {
  std::lock_guard lock(g_cache_mutex);
  cache().clear();
}

std::chrono::seconds hdf5_probe_time_limit(std::uintmax_t file_bytes) {
  std::int64_t base_s = 10;
  if (const char* value = std::getenv("SNNCONV_HDF5_PROBE_SECONDS")) {
    const long parsed = std::strtol(value, nullptr, 10);
    if (parsed > 0) base_s = parsed;
  }
  return std::chrono::seconds(base_s + static_cast<std::int64_t>(file_bytes >> 24));
}

std::uint64_t hdf5_probe_memory_limit_bytes(std::uintmax_t file_bytes) {
  return (std::uint64_t{2} << 30) + 8 * static_cast<std::uint64_t>(file_bytes);
}

namespace detail {

void probe_hdf5_file(const std::filesystem::path& path, const std::function<void()>& reads) {
  if (g_in_child || disabled()) return;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  const Key key{path.string(), static_cast<std::uintmax_t>(st.st_size),
                static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                static_cast<std::uint64_t>(st.st_ino)};
  std::optional<std::string> verdict;
  {
    std::lock_guard lock(g_cache_mutex);
    auto found = cache().find(key);
    if (found != cache().end()) {
      verdict = found->second;
      if (!verdict) return;
    }
  }
  if (!verdict) {
    const auto time_limit = hdf5_probe_time_limit(key.size);
    const std::uint64_t memory_limit = hdf5_probe_memory_limit_bytes(key.size);
    std::fflush(nullptr);  // nothing buffered is written twice
    const pid_t child = ::fork();
    if (child < 0) return;  // no process to spare: read unprotected rather than not at all
    if (child == 0) run_child(reads, memory_limit);
    verdict = wait_for(child, time_limit, memory_limit);
    std::lock_guard lock(g_cache_mutex);
    cache()[key] = verdict;
    if (!verdict) return;
  }
  throw ParseError(fmt::format("libhdf5 failed on this file ({}): the file is corrupt or not an HDF5 file "
                               "snnconv can read",
                               *verdict),
                   ErrorContext{path.string(), "", "", ""});
}

}  // namespace detail

}  // namespace snnconv::datasets
