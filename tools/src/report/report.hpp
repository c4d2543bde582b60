// The report writers: report.json (every figure, docs/report-schema.md), report.md and report.html (the
// same figures for people, built from the JSON so that they can never disagree with it), the PNG plots
// (tools/plot_report.py, from the JSON) and the output folder discipline (temporary names, one rename
// step at the end). Formatting only: every number comes from cascade::PipelineResult.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "snnconv/cascade/front_door.hpp"
#include "snnconv/core/atomic_output.hpp"
#include "snnconv/core/si_format.hpp"

namespace snnconv::report {

inline constexpr int kSchemaVersion = 2;

// report.json of one pipeline run.
nlohmann::json report_json(const cascade::PipelineResult& r);
// One subject priced on one profile, as report.json's price objects (docs/report-schema.md) hold it.
nlohmann::json price_json(const hw::ProfilePrice& p);

// compare.json: several reports side by side (each a complete report object).
nlohmann::json compare_json(const std::vector<nlohmann::json>& reports);

// The PNG plots the report refers to, by plot name ("energy_breakdown", ...) -> file name in the folder.
struct Plots {
  std::vector<std::string> names;  // made, in display order
  std::string status;              // "made N plots", or why none were made
  bool ok = false;
};

std::string report_markdown(const nlohmann::json& report, const Plots& plots);
std::string report_html(const nlohmann::json& report, const Plots& plots);
std::string compare_markdown(const nlohmann::json& compare);
std::string compare_html(const nlohmann::json& compare);

// Every plot plot_report.py can draw, in display order; a plot whose data is absent (the SNN ones without
// an SNN) is skipped by the script.
const std::vector<std::string>& plot_names();
std::string plot_file(const std::string& name);  // "energy_breakdown.png"
std::string plot_title(const std::string& name);

// Output files of one run, in a staging folder beside the target (`.DIR.tmp-PID`, core/atomic_output.hpp)
// removed on SIGINT/SIGTERM or on destruction; commit() renames it into place (or, when DIR already holds
// files, renames the files in), so an interrupted or failed run leaves no file and no empty folder, and a
// finished one leaves every file.
class OutputFiles {
 public:
  explicit OutputFiles(std::filesystem::path dir);
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;

  // Reserves NAME: returns its path in the staging folder, for a writer that is not us (the plot script).
  std::filesystem::path reserve(const std::string& name);
  // Writes NAME's content (flushed and size-checked; IoError with the OS's words).
  void write(const std::string& name, const std::string& content);
  // Drops a reserved name whose file was not made (removes any partial file).
  void drop(const std::string& name);
  bool exists(const std::string& name) const;  // the staged file of a reserved name exists
  void commit();
  const std::filesystem::path& dir() const { return dir_; }
  AtomicFolder& folder() { return folder_; }  // to commit with other outputs (commit_together)

 private:
  std::filesystem::path dir_;
  AtomicFolder folder_;
};

// Runs tools/plot_report.py ($SNNCONV_PLOT_SCRIPT, else PREFIX/share/snnconv/plot_report.py when installed, else
// the source tree's; Python from
// $SNNCONV_PYTHON or /usr/bin/python3) on the JSON at `json_path`, writing each plot to a reserved
// temporary of `out`. Never throws for a missing or failing script: the status says what happened.
Plots make_plots(const std::filesystem::path& json_path, OutputFiles& out);

// The report folder of one pipeline run: report.json, the plots (unless `plots` is false: the status says so;
// `on_status` hears "plotting ..." before the script runs and the script's failure), report.md and report.html,
// staged and renamed into `dir` together. Returns report.json's content and the plots made. What
// `snnconv MODEL.onnx --out DIR` and the Python module's report() write.
struct WrittenReport {
  nlohmann::json json;
  Plots plots;
};
WrittenReport write_report_folder(const cascade::PipelineResult& r, const std::filesystem::path& dir, bool plots,
                                  const std::function<void(const std::string&)>& on_status = {});

// Numbers are formatted by core/si_format.hpp (format_energy_pj, format_bytes, format_count, ...), the one style
// the CLI, the report and the cascade writers share.
std::string html_escape(const std::string& s);

}  // namespace snnconv::report
