// Progress on stderr for long runs: one line rewritten in place, only on a terminal and never with --quiet,
// so that piped output and logs stay clean (docs/cli.md, "Progress").
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace snnconv::cli {

// "37/200 samples, 3.1 s, ETA 13.6 s": the remaining time assumes the samples still to run take as long as
// the mean of those done.
std::string progress_text(std::int64_t done, std::int64_t total, double seconds, const std::string& unit);

// A per-sample callback (done, total) for an SNN or QANN run: draws nothing for the first second (short runs
// stay silent), then the line above with `label` in front; ends the line after the last sample. Empty when
// progress is not wanted (--quiet, or stderr is not a terminal).
std::function<void(std::int64_t, std::int64_t)> sample_progress(bool quiet, const std::string& label,
                                                                const std::string& unit = "samples");

}  // namespace snnconv::cli
