// The content of a report for people, independent of the format: sections of paragraphs, tables, charts
// and plot references, built from report.json. report_md.cpp and report_html.cpp only render it, so the
// Markdown and the HTML show the same figures.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/report.hpp"

namespace snnconv::report {

struct Table {
  std::string id;  // HTML id (tests look for these)
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> numeric;  // per column: right-aligned
  std::string note;           // a line under the table
};

// Horizontal bars, one per category; `stacked`: the series add up along one bar (components of a total),
// else one bar per series side by side (values may be negative: a change in percent).
struct Chart {
  std::string id;
  std::string title;
  std::string unit;  // shown on the axis; "pJ" values are formatted with SI prefixes
  bool stacked = true;
  std::vector<std::string> categories;
  std::vector<std::string> series;
  std::vector<std::vector<double>> values;  // [category][series]
};

struct Section {
  std::string id;
  std::string title;
  std::vector<std::string> paragraphs;  // plain text (escaped by the renderer)
  std::vector<Table> tables;
  std::vector<Chart> charts;       // HTML only (Markdown points to the PNGs)
  std::vector<std::string> plots;  // plot names whose PNG exists
  std::vector<std::string> bullets;
};

// The cascade sections (content_cascade.cpp): the SNN early-read cascade; the user's (--cascade-stages), only
// when report["user_cascade"] is an object.
Section cascade_section(const nlohmann::json& report, const Plots& plots);
Section user_cascade_section(const nlohmann::json& report);
Section speculative_section(const nlohmann::json& report);  // only when report["speculative"] is an object
std::vector<Section> report_sections(const nlohmann::json& report, const Plots& plots);
std::vector<Section> compare_sections(const nlohmann::json& compare);
std::string report_title(const nlohmann::json& report);

std::string render_markdown(const std::string& title, const std::vector<Section>& sections);
std::string render_html(const std::string& title, const std::vector<Section>& sections);

}  // namespace snnconv::report
