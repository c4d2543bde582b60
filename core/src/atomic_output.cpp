#include "snnconv/core/atomic_output.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "snnconv/core/error.hpp"

namespace snnconv {

namespace fs = std::filesystem;

namespace {

std::string os_error(int err) { return std::strerror(err); }

fs::path folder_of(const fs::path& target) { return target.has_parent_path() ? target.parent_path() : fs::path("."); }

// Makes a rename durable: the folder's entry reaches the disk. Some file systems refuse fsync on a
// folder (EINVAL); that is no error of ours.
void sync_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// Writes all of `bytes` to fd; returns 0 or the errno of the failing write.
int write_all(int fd, std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: never loop on it
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

// Blocks SIGINT/SIGTERM for the life of the object (a rename group finishes as a whole).
class SignalBlock {
public:
  SignalBlock() {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old_);
  }
  ~SignalBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalBlock(const SignalBlock&) = delete;
  SignalBlock& operator=(const SignalBlock&) = delete;

private:
  sigset_t old_;
};

bool proc_fd_available() { return ::access("/proc/self/fd", X_OK) == 0; }

}  // namespace

fs::path temporary_name_for(const fs::path& target) {
  return folder_of(target) / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
}

int remove_stale_temporaries(const fs::path& target) {
  const std::string prefix = "." + target.filename().string() + ".tmp-";
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(folder_of(target), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // still running (or not ours to know): keep
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}

void AtomicOutput::commit() {
  finish();
  SignalBlock block;
  publish();
}

void commit_together(const std::vector<AtomicOutput*>& outputs) {
  for (AtomicOutput* o : outputs) o->finish();
  SignalBlock block;
  for (AtomicOutput* o : outputs) o->publish();
}

void commit_together(std::initializer_list<AtomicOutput*> outputs) {
  commit_together(std::vector<AtomicOutput*>(outputs));
}

// ---- AtomicFile ---------------------------------------------------------------------------------------------

AtomicFile::AtomicFile(fs::path target, std::string what) : target_(std::move(target)), what_(std::move(what)) {
  const fs::path dir = folder_of(target_);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IoError("cannot write the " + what_ + ": the folder '" + dir.string() + "' does not exist",
                  {target_.string(), "", "", ""});
  if (fs::is_directory(target_, ec))
    throw IoError("cannot write the " + what_ + ": a folder of that name exists", {target_.string(), "", "", ""});
  remove_stale_temporaries(target_);
  temp_ = temporary_name_for(target_);
  if (proc_fd_available()) fd_ = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  if (fd_ < 0) {  // no O_TMPFILE here (or no /proc to link it by): a named temporary, guarded
    guard_ = std::make_unique<TempFileGuard>(temp_.string());
    ::unlink(temp_.c_str());  // a leftover of an earlier process with our PID
    fd_ = ::open(temp_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (fd_ < 0) fail("create", errno);
    named_ = true;
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && named_) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const std::string& doing, int err) const {
  throw IoError("cannot " + doing + " the " + what_ + ": " + os_error(err), {target_.string(), "", "", ""});
}

void AtomicFile::write(std::string_view bytes) {
  if (finished_ || fd_ < 0) throw Error("AtomicFile: write after finish", {target_.string(), "", "", ""});
  if (const int err = write_all(fd_, bytes)) fail("write", err);
  written_ += bytes.size();
}

void AtomicFile::finish() {
  if (finished_) return;
  if (::fsync(fd_) != 0) fail("write", errno);  // delayed allocation reports a full disk here
  struct stat st {};
  if (::fstat(fd_, &st) != 0) fail("check", errno);
  if (static_cast<std::uint64_t>(st.st_size) != written_)
    throw IoError("the " + what_ + " holds " + std::to_string(st.st_size) + " bytes on disk, " +
                      std::to_string(written_) + " were written",
                  {target_.string(), "", "", ""});
  finished_ = true;
}

void AtomicFile::publish() {
  if (!finished_) finish();
  if (committed_) return;
  if (!named_) {  // give the unnamed file its hidden name, then rename that into place
    guard_ = std::make_unique<TempFileGuard>(temp_.string());
    const std::string self = "/proc/self/fd/" + std::to_string(fd_);
    ::unlink(temp_.c_str());
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp_.c_str(), AT_SYMLINK_FOLLOW) != 0) fail("name", errno);
    named_ = true;
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("write", errno);  // NFS reports write errors at close
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("rename into place", errno);
  committed_ = true;
  guard_.reset();
  sync_folder(folder_of(target_));
}

void write_file_atomically(const fs::path& target, std::string_view bytes, const std::string& what) {
  AtomicFile f(target, what);
  f.write(bytes);
  f.commit();
}

// ---- AtomicFolder -------------------------------------------------------------------------------------------

void write_checked(const fs::path& path, std::string_view bytes, const std::string& what, const fs::path& name) {
  auto fail = [&](const std::string& doing, int err) {
    throw IoError("cannot " + doing + " the " + what + ": " + os_error(err), {name.string(), "", "", ""});
  };
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0) fail("create", errno);
  int err = write_all(fd, bytes);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  struct stat st {};
  if (err == 0 && ::fstat(fd, &st) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) fail("write", err);
  if (static_cast<std::uint64_t>(st.st_size) != bytes.size())
    throw IoError("the " + what + " holds " + std::to_string(st.st_size) + " bytes on disk, " +
                      std::to_string(bytes.size()) + " were written",
                  {name.string(), "", "", ""});
}

AtomicFolder::AtomicFolder(fs::path target, std::string what) : target_(std::move(target)), what_(std::move(what)) {
  if (target_.filename().empty()) target_ = target_.parent_path();  // "out/" names "out"
  std::error_code ec;
  const fs::path parent = folder_of(target_);
  fs::create_directories(parent, ec);
  if (ec || !fs::is_directory(parent))
    throw IoError("cannot create the " + what_ + ": " + (ec ? ec.message() : "its parent is not a folder"),
                  {target_.string(), "", "", ""});
  if (fs::exists(target_, ec) && !fs::is_directory(target_, ec))
    throw IoError("cannot write the " + what_ + ": a file of that name exists", {target_.string(), "", "", ""});
  remove_stale_temporaries(target_);
  staging_ = temporary_name_for(target_);
  guard_ = std::make_unique<TempFileGuard>(staging_.string());
  fs::remove_all(staging_, ec);  // a leftover of an earlier process with our PID
  if (::mkdir(staging_.c_str(), 0777) != 0)
    throw IoError("cannot create the " + what_ + ": " + os_error(errno), {target_.string(), "", "", ""});
}

AtomicFolder::~AtomicFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

fs::path AtomicFolder::path(const std::string& relative) {
  const fs::path p = staging_ / relative;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec)
    throw IoError("cannot create the " + what_ + ": " + ec.message(), {(target_ / relative).parent_path().string(), "", "", ""});
  return p;
}

void AtomicFolder::write(const std::string& relative, std::string_view bytes) {
  write_checked(path(relative), bytes, what_, target_ / relative);
}

void AtomicFolder::remove(const std::string& relative) {
  std::error_code ec;
  fs::remove(staging_ / relative, ec);
}

bool AtomicFolder::exists(const std::string& relative) const {
  std::error_code ec;
  return fs::is_regular_file(staging_ / relative, ec);
}

void AtomicFolder::finish() {
  // Files we wrote were flushed one by one; a writer that is not us (the plot script) closed its files
  // when it exited. What is left: the staging folder's own entries.
  sync_folder(staging_);
}

namespace {

// Moves every entry of `from` into the existing folder `to`, merging sub-folders that exist on both sides.
void merge_into(const fs::path& from, const fs::path& to, const std::string& what) {
  std::error_code ec;
  for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path dest = to / it->path().filename();
    std::error_code dec;
    if (it->is_directory() && fs::is_directory(dest, dec)) {
      merge_into(it->path(), dest, what);
      continue;
    }
    if (::rename(it->path().c_str(), dest.c_str()) != 0)
      throw IoError("cannot rename the " + what + " into place: " + os_error(errno), {dest.string(), "", "", ""});
  }
  if (ec) throw IoError("cannot read the staging folder of the " + what + ": " + ec.message(), {from.string(), "", "", ""});
  sync_folder(to);
}

}  // namespace

void AtomicFolder::publish() {
  if (committed_) return;
  std::error_code ec;
  const bool merge = fs::is_directory(target_, ec) && !fs::is_empty(target_, ec);
  if (!merge) {
    // rename(2) replaces a missing or empty folder in one step.
    if (::rename(staging_.c_str(), target_.c_str()) != 0)
      throw IoError("cannot rename the " + what_ + " into place: " + os_error(errno), {target_.string(), "", "", ""});
  } else {
    merge_into(staging_, target_, what_);
    fs::remove_all(staging_, ec);
  }
  committed_ = true;
  guard_.reset();
  sync_folder(folder_of(target_));
}

}  // namespace snnconv
