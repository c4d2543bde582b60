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

#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "snnconv/core/error.hpp"

// Present in sanitizer builds only (weak: null otherwise). libFuzzer registers a death callback that
// writes the current input as a crash artifact; a probe child must die quietly instead.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace snnconv::datasets {

namespace {

// Child exit codes. Anything else (a sanitizer's exit code 1, a signal) is a libhdf5 failure.
constexpr int kChildOk = 0;
constexpr int kChildSnnconvError = 42;  // the error follows through the pipe
constexpr int kChildOutOfMemory = 43;
constexpr int kChildOtherException = 44;  // the parent reads for real and meets it itself

// An snnconv error crossing from the child: its class, message and context, '\0'-separated.
enum class Kind : char { error = 'E', parse = 'P', graph = 'G', shape = 'S', unsupported = 'U', usage = 'A',
                         limit = 'L', numeric = 'N', io = 'I' };

Kind kind_of(const Error& e) {
  if (dynamic_cast<const ParseError*>(&e)) return Kind::parse;
  if (dynamic_cast<const GraphError*>(&e)) return Kind::graph;
  if (dynamic_cast<const ShapeError*>(&e)) return Kind::shape;
  if (dynamic_cast<const UnsupportedError*>(&e)) return Kind::unsupported;
  if (dynamic_cast<const UsageError*>(&e)) return Kind::usage;
  if (dynamic_cast<const LimitError*>(&e)) return Kind::limit;
  if (dynamic_cast<const NumericError*>(&e)) return Kind::numeric;
  if (dynamic_cast<const IoError*>(&e)) return Kind::io;
  return Kind::error;
}

std::string encode(const Error& e) {
  constexpr std::size_t kMaxField = 8192;  // the whole message stays below the pipe's buffer
  std::string out(1, static_cast<char>(kind_of(e)));
  for (const std::string* field : {&e.message(), &e.context().file, &e.context().node, &e.context().op,
                                   &e.context().value})
    out += '\0' + field->substr(0, kMaxField);
  return out;
}

// Throws the error `payload` describes (encode's output); returns when it is malformed.
void rethrow(const std::string& payload) {
  if (payload.size() < 2) return;
  std::vector<std::string> f;
  std::size_t begin = 2;  // past the kind and the first separator
  for (;;) {
    const std::size_t end = payload.find('\0', begin);
    f.push_back(payload.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  if (f.size() != 5) return;
  const ErrorContext context{f[1], f[2], f[3], f[4]};
  switch (static_cast<Kind>(payload[0])) {
    case Kind::parse: throw ParseError(f[0], context);
    case Kind::graph: throw GraphError(f[0], context);
    case Kind::shape: throw ShapeError(f[0], context);
    case Kind::unsupported: throw UnsupportedError(f[0], context);
    case Kind::usage: throw UsageError(f[0], context);
    case Kind::limit: throw LimitError(f[0], context);
    case Kind::numeric: throw NumericError(f[0], context);
    case Kind::io: throw IoError(f[0], context);
    case Kind::error: throw Error(f[0], context);
  }
}

bool g_in_child = false;

struct Key {
  std::string path;
  std::uintmax_t size;
  std::int64_t mtime_ns;
  std::uint64_t inode;
  auto tie() const { return std::tie(path, size, mtime_ns, inode); }
  bool operator<(const Key& other) const { return tie() < other.tie(); }
};

// What a probe found out about one file.
struct Verdict {
  enum class What { safe, snnconv_error, libhdf5_failure } what = What::safe;
  std::string detail;  // the encoded error, or how libhdf5 failed
};

std::mutex g_cache_mutex;
std::map<Key, Verdict>& cache() {
  static std::map<Key, Verdict> verdicts;
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

[[noreturn]] void run_child(const std::function<void()>& reads, std::uint64_t memory_limit, int pipe_out) {
  g_in_child = true;
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  // Default actions: no fuzzer or sanitizer handler reports a crash of the child as the process's own,
  // and the CLI's SIGINT handler (it removes the process's temporaries) stays with the parent.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM, SIGINT, SIGTERM, SIGUSR1, SIGUSR2})
    ::signal(sig, SIG_DFL);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) ::_exit(kChildOk);  // the parent is already gone
  // Silent: the parent's ParseError is the report (a sanitizer's report of libhdf5's fault would read
  // like a fault of the process; SNNCONV_HDF5_PROBE=0 shows it).
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, STDOUT_FILENO);
    ::dup2(devnull, STDERR_FILENO);
  }
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
  } catch (const Error& e) {
    code = kChildSnnconvError;
    const std::string payload = encode(e);
    if (::write(pipe_out, payload.data(), payload.size()) != static_cast<ssize_t>(payload.size()))
      code = kChildOtherException;
  } catch (...) {
    code = kChildOtherException;
  }
  ::_exit(code);  // no atexit handlers, no stdio flush, no leak check: the parent owns all of that
}

std::string read_all(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      return out;
    }
  }
}

// The child's CPU time so far (user + system), or nullopt when the kernel does not say.
std::optional<std::chrono::nanoseconds> child_cpu_time(pid_t child) {
  clockid_t clock{};
  timespec t{};
  if (::clock_getcpuclockid(child, &clock) != 0 || ::clock_gettime(clock, &t) != 0) return std::nullopt;
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// Waits for the child (killing it at the time limit); nullopt when the parent should read unprotected.
// The limit is on the child's CPU time: libhdf5's hangs on corrupt files are loops that burn CPU, while a
// large file read on a loaded machine takes long in wall time but not in CPU time (an 823 MB model file
// under load 10 took more than a minute of wall time). A wall-clock backstop of 10 times the limit catches
// a child that blocks without computing.
std::optional<Verdict> wait_for(pid_t child, int pipe_in, std::chrono::seconds time_limit,
                                std::uint64_t memory_limit) {
  // Without a readable CPU clock the wall clock alone, at the limit itself.
  const bool cpu_clock = child_cpu_time(child).has_value();
  const std::chrono::seconds wall_limit = (cpu_clock ? 10 : 1) * time_limit;
  const auto deadline = std::chrono::steady_clock::now() + wall_limit;
  // The child holds the pipe's only write end, so the pipe reports a hang-up the moment the child ends: the
  // wait is a poll on it, woken by the child's end or, every 10 ms, to check the limits. What the child writes
  // (its error) is read as it comes, so a full pipe never blocks it.
  std::string written;
  bool pipe_open = true;  // false after the hang-up (or an error on the pipe): then short sleeps until it ends
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return std::nullopt;  // lost track of the child
    const auto cpu = cpu_clock ? child_cpu_time(child) : std::nullopt;
    const bool over_cpu = cpu && *cpu >= time_limit;
    if (over_cpu || std::chrono::steady_clock::now() >= deadline) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      return Verdict{Verdict::What::libhdf5_failure,
                     over_cpu ? fmt::format("used more than {} s of CPU time", time_limit.count())
                              : fmt::format("took more than {} s", wall_limit.count())};
    }
    if (!pipe_open) {  // the child is ending (it closed its end): it is reaped within microseconds
      timespec pause{0, 100'000};
      ::nanosleep(&pause, nullptr);
      continue;
    }
    pollfd watch{pipe_in, POLLIN, 0};
    if (::poll(&watch, 1, 10) > 0) {
      char buffer[4096];
      const ssize_t n = ::read(pipe_in, buffer, sizeof buffer);
      if (n > 0) written.append(buffer, static_cast<std::size_t>(n));
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) pipe_open = false;
    }
  }
  using What = Verdict::What;
  if (WIFSIGNALED(status)) return Verdict{What::libhdf5_failure, fmt::format("crashed with signal {}", WTERMSIG(status))};
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  switch (code) {
    case kChildOk:
    case kChildOtherException:
      return Verdict{};
    case kChildSnnconvError:
      return Verdict{What::snnconv_error, written + read_all(pipe_in)};
    case kChildOutOfMemory:
      return Verdict{What::libhdf5_failure, fmt::format("needed more than {} bytes", memory_limit)};
    default:  // a sanitizer's report (fuzz and sanitizer builds) precedes it on stderr
      return Verdict{What::libhdf5_failure, fmt::format("crashed with exit code {}", code)};
  }
}

// Runs the probe in a child; nullopt when no child could be started.
std::optional<Verdict> probe(const std::function<void()>& reads, std::uintmax_t file_bytes) {
  const auto time_limit = hdf5_probe_time_limit(file_bytes);
  const std::uint64_t memory_limit = hdf5_probe_memory_limit_bytes(file_bytes);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    run_child(reads, memory_limit, fds[1]);
  }
  ::close(fds[1]);
  std::optional<Verdict> verdict;
  if (child > 0) verdict = wait_for(child, fds[0], time_limit, memory_limit);
  ::close(fds[0]);
  return verdict;
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
  std::optional<Verdict> verdict;
  {
    std::lock_guard lock(g_cache_mutex);
    auto found = cache().find(key);
    if (found != cache().end()) verdict = found->second;
  }
  if (!verdict) {
    verdict = probe(reads, key.size);
    if (!verdict) return;  // no process to spare: read unprotected rather than not at all
    std::lock_guard lock(g_cache_mutex);
    cache()[key] = *verdict;
  }
  switch (verdict->what) {
    case Verdict::What::safe:
      return;
    case Verdict::What::snnconv_error:  // the reader's own error: the parent need not touch the file
      rethrow(verdict->detail);
      return;
    case Verdict::What::libhdf5_failure:
      throw ParseError(fmt::format("libhdf5 failed on this file ({}): the file is corrupt or not an HDF5 file "
                                   "snnconv can read",
                                   verdict->detail),
                       ErrorContext{path.string(), "", "", ""});
  }
}

}  // namespace detail

}  // namespace snnconv::datasets
