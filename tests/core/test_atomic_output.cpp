// Atomic outputs: nothing under the final name before commit, everything after, nothing at all after a
// failure; stale temporaries of dead processes removed; several outputs committed together.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "snnconv/core/atomic_output.hpp"
#include "snnconv/core/error.hpp"

using namespace snnconv;
namespace fs = std::filesystem;

namespace {

struct Scratch {
  Scratch() {
    std::string pattern = (fs::temp_directory_path() / "snnconv-atomic-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::vector<std::string> entries(const fs::path& dir) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<std::string> entries() const { return entries(path); }
  fs::path path;
};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A PID that no process has: a child that already exited and was reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

struct FailingOutput : AtomicOutput {
  void finish() override { throw IoError("cannot write the thing: No space left on device"); }
  void publish() override { published = true; }
  bool published = false;
};

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("AtomicFile: invisible until commit, whole after, nothing when abandoned") {
  Scratch s;
  const fs::path target = s.path / "model.snn.h5";
  {
    AtomicFile f(target, "model file");
    f.write("hello ");
    f.write("world");
    CHECK(s.entries().empty());  // an unnamed O_TMPFILE (or a hidden temporary where there is none)
    f.commit();
    CHECK(f.bytes() == 11);
  }
  CHECK(read(target) == "hello world");
  CHECK(s.entries() == std::vector<std::string>{"model.snn.h5"});
  {
    AtomicFile f(target, "model file");
    f.write("half a new file");
  }  // abandoned: the old file stands, nothing else appears
  CHECK(read(target) == "hello world");
  CHECK(s.entries() == std::vector<std::string>{"model.snn.h5"});
  write_file_atomically(target, "replaced", "model file");
  CHECK(read(target) == "replaced");
}

TEST_CASE("AtomicFile: a missing folder or a folder under the target's name is refused, named") {
  Scratch s;
  try {
    AtomicFile f(s.path / "no-such-folder" / "x.onnx", "ONNX file");
    FAIL("accepted a missing folder");
  } catch (const IoError& e) {
    CHECK(std::string(e.what()).find("cannot write the ONNX file: the folder") != std::string::npos);
    CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
  }
  fs::create_directory(s.path / "taken");
  CHECK_THROWS_AS(AtomicFile(s.path / "taken", "ONNX file"), IoError);
}

TEST_CASE("stale temporaries of dead processes are removed, live ones kept") {
  Scratch s;
  const fs::path target = s.path / "rep";
  const fs::path dead = s.path / (".rep.tmp-" + std::to_string(dead_pid()));
  const fs::path live = s.path / (".rep.tmp-" + std::to_string(::getppid()));  // our parent runs
  const fs::path other = s.path / (".report.tmp-" + std::to_string(dead_pid()));  // another target's
  fs::create_directories(dead / "sub");
  std::ofstream(dead / "sub" / "report.json") << "{";
  fs::create_directory(live);
  fs::create_directory(other);
  CHECK(remove_stale_temporaries(target) == 1);
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));
}

TEST_CASE("AtomicFolder: a new folder appears whole, into an existing one files are merged, abandoned leaves nothing") {
  Scratch s;
  const fs::path target = s.path / "deep" / "rep";
  {
    AtomicFolder f(target, "report folder");
    f.write("report.json", "{}");
    f.write("sub/a.bin", "a");
    CHECK_FALSE(fs::exists(target));
    CHECK(f.exists("report.json"));
  }
  CHECK(s.entries(s.path / "deep").empty());  // no output folder, no staging folder
  {
    AtomicFolder f(target, "report folder");
    f.write("report.json", "{}");
    f.write("sub/a.bin", "a");
    std::ofstream(f.path("plot.png")) << "png";  // a writer that is not us
    f.remove("plot.png");
    f.commit();
  }
  CHECK(s.entries(target) == std::vector<std::string>{"report.json", "sub"});
  std::ofstream(target / "mine.txt") << "the user's own file";
  {
    AtomicFolder f(target, "report folder");
    f.write("report.json", "{\"run\": 2}");
    f.write("sub/b.bin", "b");
    f.commit();
  }
  CHECK(read(target / "report.json") == "{\"run\": 2}");
  CHECK(read(target / "mine.txt") == "the user's own file");
  CHECK(s.entries(target / "sub") == std::vector<std::string>{"a.bin", "b.bin"});
  CHECK(s.entries(s.path / "deep") == std::vector<std::string>{"rep"});
}

TEST_CASE("commit_together publishes nothing when one output fails to finish") {
  Scratch s;
  {
    AtomicFile model(s.path / "m.snn.h5", "model file");
    model.write("model");
    AtomicFolder report(s.path / "rep", "report folder");
    report.write("report.json", "{}");
    FailingOutput failing;
    CHECK_THROWS_AS(commit_together({&model, &report, &failing}), IoError);
    CHECK_FALSE(failing.published);
  }
  CHECK(s.entries().empty());
}
}
