// The main of every doctest executable. ctest runs each test case alone (doctest_discover_tests passes its name
// as --test-case=NAME); a name the filter cannot match (a ';' in it splits the ctest entry in two) used to run
// nothing and pass. Here a --test-case filter that starts no test case is a failure, so a test can never be
// counted as passed without running. A case marked doctest::skip() that the filter names exactly counts as
// matched: it is skipped by design (run with --no-skip).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int started = 0;               // test cases that began
bool skipped_by_name = false;  // a skip()-marked case named exactly by the filter
std::string exact_filter;      // the --test-case value with its escaped commas restored

struct CountStarted : doctest::IReporter {
  explicit CountStarted(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData& tc) override {
    if (tc.m_skip && exact_filter == tc.m_name) skipped_by_name = true;
  }
};
DOCTEST_REGISTER_LISTENER("count_started", 1, CountStarted);

// The value of --test-case=... / -tc=..., or null.
const char* test_case_filter(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    for (const char* flag : {"--test-case=", "-tc=", "--dt-test-case=", "--dt-tc="})
      if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) return argv[i] + std::strlen(flag);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const char* filter = test_case_filter(argc, argv);
  if (filter != nullptr)
    for (const char* c = filter; *c != '\0'; ++c) {
      if (c[0] == '\\' && c[1] == ',') ++c;
      exact_filter += *c;
    }
  const int rc = context.run();
  if (context.shouldExit()) return rc;  // --list-test-cases, --help and the like
  if (rc == 0 && filter != nullptr && started == 0 && !skipped_by_name) {
    std::fprintf(stderr, "no test case matched --test-case=%s: nothing ran (a name holding ';' is split by ctest)\n",
                 filter);
    return 1;
  }
  return rc;
}
