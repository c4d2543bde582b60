// Progress lines (progress.hpp).
#include "progress.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "options.hpp"
#include "snnconv/core/si_format.hpp"

namespace snnconv::cli {

std::string progress_text(std::int64_t done, std::int64_t total, double seconds, const std::string& unit) {
  std::string s = fmt::format("{}/{} {}, {}", done, total, unit, format_seconds(seconds));
  if (done > 0 && total > done)
    s += ", ETA " + format_seconds(seconds / static_cast<double>(done) * static_cast<double>(total - done));
  return s;
}

std::function<void(std::int64_t, std::int64_t)> sample_progress(bool quiet, const std::string& label,
                                                                const std::string& unit) {
  if (!progress_wanted(quiet)) return {};
  using Clock = std::chrono::steady_clock;
  struct State {
    Clock::time_point t0 = Clock::now();
    bool drawn = false;
  };
  auto state = std::make_shared<State>();
  return [state, label, unit](std::int64_t done, std::int64_t total) {
    const double seconds = std::chrono::duration<double>(Clock::now() - state->t0).count();
    if (!state->drawn && seconds < 1.0) return;  // a run shorter than a second draws nothing
    state->drawn = true;
    const std::string line = label + progress_text(done, total, seconds, unit);
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), done >= total ? "\n" : "");
    std::fflush(stderr);
  };
}

}  // namespace snnconv::cli
