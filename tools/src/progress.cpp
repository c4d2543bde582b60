// Progress lines (progress.hpp).
#include "progress.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
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
  // A run shorter than this draws nothing: 1 s, or $SNNCONV_PROGRESS_AFTER seconds (0: from the first sample,
  // which lets a test see the line whatever the machine's speed).
  double after_s = 1.0;
  if (const char* v = std::getenv("SNNCONV_PROGRESS_AFTER")) {
    char* end = nullptr;
    const double parsed = std::strtod(v, &end);
    if (end != v && parsed >= 0.0 && std::isfinite(parsed)) after_s = parsed;
  }
  return [state, label, unit, after_s](std::int64_t done, std::int64_t total) {
    const double seconds = std::chrono::duration<double>(Clock::now() - state->t0).count();
    if (!state->drawn && seconds < after_s) return;
    state->drawn = true;
    const std::string line = label + progress_text(done, total, seconds, unit);
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), done >= total ? "\n" : "");
    std::fflush(stderr);
  };
}

}  // namespace snnconv::cli
