// The report writers: report.json (every figure, docs/report-schema.md), report.md and report.html (the
// same figures for people, built from the JSON so that they can never disagree with it), the PNG plots
// (tools/plot_report.py, from the JSON) and the output folder discipline (temporary names, one rename
// step at the end). Formatting only: every number comes from cascade::PipelineResult.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "snnconv/cascade/front_door.hpp"
#include "snnconv/core/si_format.hpp"
#include "snnconv/core/temp_files.hpp"

namespace snnconv::report {

inline constexpr int kSchemaVersion = 2;

// report.json of one pipeline run.
nlohmann::json report_json(const cascade::PipelineResult& r);
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

// Output files of one run: each written to `.NAME.tmp-PID` in the folder and registered for removal on
// SIGINT/SIGTERM; commit() renames them all with those signals blocked, so an interrupted run leaves
// nothing and a finished one leaves every file. Uncommitted temporaries are removed on destruction.
class OutputFiles {
 public:
  explicit OutputFiles(std::filesystem::path dir);
  ~OutputFiles();
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;

  // Reserves NAME: returns its temporary path (registered), for a writer that is not us (the plot script).
  std::filesystem::path reserve(const std::string& name);
  // Writes NAME's content to its temporary path.
  void write(const std::string& name, const std::string& content);
  // Drops a reserved name whose file was not made (removes any partial temporary).
  void drop(const std::string& name);
  bool exists(const std::string& name) const;  // the temporary of a reserved name exists
  void commit();
  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Entry {
    std::string name;
    std::filesystem::path temp;
    std::unique_ptr<TempFileGuard> guard;
  };
  std::filesystem::path dir_;
  std::vector<Entry> entries_;
  bool committed_ = false;
};

// Runs tools/plot_report.py (found next to the sources, or $SNNCONV_PLOT_SCRIPT; Python from
// $SNNCONV_PYTHON or /usr/bin/python3) on the JSON at `json_path`, writing each plot to a reserved
// temporary of `out`. Never throws for a missing or failing script: the status says what happened.
Plots make_plots(const std::filesystem::path& json_path, OutputFiles& out);

// Numbers are formatted by core/si_format.hpp (format_energy_pj, format_bytes, format_count, ...), the one style
// the CLI, the report and the cascade writers share.
std::string html_escape(const std::string& s);

}  // namespace snnconv::report
