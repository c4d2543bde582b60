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

struct Section {
  std::string id;
  std::string title;
  std::vector<std::string> paragraphs;  // plain text (escaped by the renderer)
  std::vector<Table> tables;
  std::vector<std::string> plots;  // plot names whose PNG exists: each chart is drawn once, by plot_report.py
  std::vector<std::string> bullets;
};

// The cascade sections (content_cascade.cpp): the SNN early-read cascade; the user's (--cascade-stages), only
// when report["user_cascade"] is an object.
Section cascade_section(const nlohmann::json& report, const Plots& plots);
Section user_cascade_section(const nlohmann::json& report);
Section speculative_section(const nlohmann::json& report);  // only when report["speculative"] is an object
// The conclusion (content_findings.cpp): one sentence per comparison (report.md's first paragraph, printed
// verbatim by the terminal), the flagged constants that move one by more than the threshold, the like-for-like
// table, the ops table and the break-even section.
std::vector<std::string> headline_lines(const nlohmann::json& report);
std::vector<std::string> assumption_lines(const nlohmann::json& report);
Table baselines_table(const nlohmann::json& report);
Table ops_table(const nlohmann::json& report);
Section break_even_section(const nlohmann::json& report, const Plots& plots);
std::string subject_label(const nlohmann::json& report, const std::string& subject);  // "W8A8 ANN", "SNN"
std::string metric_text(const std::string& metric, double value);                     // "89.50%", "1.2345"

std::vector<Section> report_sections(const nlohmann::json& report, const Plots& plots);
std::vector<Section> compare_sections(const nlohmann::json& compare);
std::string report_title(const nlohmann::json& report);

// `lead`: a paragraph right under the title, before the contents (the report's finding); "\n" separates its
// lines.
std::string render_markdown(const std::string& title, const std::vector<Section>& sections, const std::string& lead = {});
std::string render_html(const std::string& title, const std::vector<Section>& sections, const std::string& lead = {});
// The report's lead paragraph: headline_lines() joined by "\n".
std::string lead_paragraph(const nlohmann::json& report);

}  // namespace snnconv::report
