// Outputs that appear complete or not at all (docs/reliability.md, "Atomic outputs").
//
// An AtomicFile is built in an unnamed file in its target folder (O_TMPFILE; where the file system lacks
// it, a hidden `.NAME.tmp-PID`), written with every OS error reported in the OS's words ("No space left on
// device"), flushed to disk and its size checked, then given its name by a rename. An AtomicFolder is built
// in a hidden sibling folder `.NAME.tmp-PID` and renamed into place (or, when the target folder already
// holds files, its files are renamed in one by one). Anything not committed is removed: by the destructor
// on an error, by the SIGINT/SIGTERM handler of temp_files.hpp on an interruption; after a kill -9 an
// unnamed file vanishes with the process and a staging folder is removed by the next run that writes the
// same target (its PID no longer runs).
//
// Several outputs of one command are committed together with commit_together(): each is finished first
// (written, flushed, checked), then all are renamed with SIGINT/SIGTERM blocked, so a failure in any of
// them leaves none behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/temp_files.hpp"

namespace snnconv {

class AtomicOutput {
public:
  virtual ~AtomicOutput() = default;
  // Everything but the rename: flush, check sizes. IoError with the OS's words.
  virtual void finish() = 0;
  // The rename into place (after finish()). IoError with the OS's words.
  virtual void publish() = 0;
  void commit();  // finish() then publish(), with SIGINT/SIGTERM blocked during publish()
};

class AtomicFile : public AtomicOutput {
public:
  // `what` names the file in messages ("model file", "ONNX file"). Opens the temporary in the target's
  // folder (which must exist): IoError naming the target when it cannot be created.
  AtomicFile(std::filesystem::path target, std::string what);
  ~AtomicFile() override;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);  // appends
  void finish() override;
  void publish() override;
  std::uint64_t bytes() const { return written_; }
  const std::filesystem::path& target() const { return target_; }
  // The hidden name the file has between its link and its rename (or all along, without O_TMPFILE).
  const std::filesystem::path& temporary_name() const { return temp_; }

private:
  [[noreturn]] void fail(const std::string& doing, int err) const;
  std::filesystem::path target_, temp_;
  std::string what_;
  int fd_ = -1;
  bool named_ = false;  // the temporary has a name (fallback, or linked by publish)
  bool finished_ = false, committed_ = false;
  std::uint64_t written_ = 0;
  std::unique_ptr<TempFileGuard> guard_;
};

// Writes `bytes` to `target` as an AtomicFile and commits it.
void write_file_atomically(const std::filesystem::path& target, std::string_view bytes, const std::string& what);

class AtomicFolder : public AtomicOutput {
public:
  // Creates the target's parent folders when missing, and the staging folder beside the target.
  AtomicFolder(std::filesystem::path target, std::string what);
  ~AtomicFolder() override;
  AtomicFolder(const AtomicFolder&) = delete;
  AtomicFolder& operator=(const AtomicFolder&) = delete;

  // Writes staging/RELATIVE (sub-folders created), flushed and size-checked; messages name the final path.
  void write(const std::string& relative, std::string_view bytes);
  // staging/RELATIVE for a writer that is not us (a plot script); its sub-folders are created.
  std::filesystem::path path(const std::string& relative);
  void remove(const std::string& relative);  // drops a file that was not made
  bool exists(const std::string& relative) const;
  void finish() override;
  void publish() override;
  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& staging() const { return staging_; }

private:
  std::filesystem::path target_, staging_;
  std::string what_;
  bool committed_ = false;
  std::unique_ptr<TempFileGuard> guard_;  // the whole staging tree
};

// finish() on every output, then publish() on every output with SIGINT/SIGTERM blocked.
void commit_together(std::initializer_list<AtomicOutput*> outputs);
void commit_together(const std::vector<AtomicOutput*>& outputs);

// `.NAME.tmp-PID` beside `target`.
std::filesystem::path temporary_name_for(const std::filesystem::path& target);

// Removes the `.NAME.tmp-PID` siblings of `target` whose process no longer runs (left by a kill -9).
// Returns how many were removed.
int remove_stale_temporaries(const std::filesystem::path& target);

// Writes `bytes` to a new file at `path` with checks (no rename): the building block of AtomicFolder.
void write_checked(const std::filesystem::path& path, std::string_view bytes, const std::string& what,
                   const std::filesystem::path& name_in_messages);

}  // namespace snnconv
