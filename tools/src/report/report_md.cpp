// report.md / compare.md: the sections as GitHub-flavoured Markdown (pipe tables, PNG links).
#include <fmt/format.h>

#include "report/content.hpp"

namespace snnconv::report {

namespace {

std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

void table(std::string& out, const Table& t) {
  if (!t.title.empty()) out += fmt::format("**{}**\n\n", t.title);
  if (t.header.empty()) return;
  out += "|";
  for (const auto& h : t.header) out += " " + cell(h) + " |";
  out += "\n|";
  for (std::size_t i = 0; i < t.header.size(); ++i) out += i < t.numeric.size() && t.numeric[i] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    for (std::size_t i = 0; i < t.header.size(); ++i) out += " " + cell(i < row.size() ? row[i] : "") + " |";
    out += "\n";
  }
  if (!t.note.empty()) out += "\n" + t.note + "\n";
  out += "\n";
}

}  // namespace

// A line break inside a paragraph is a hard break (CommonMark: a backslash at the end of the line).
static std::string md_paragraph(const std::string& p) {
  std::string text = p;
  for (std::size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 2)) text.replace(at, 1, "\\\n");
  return text + "\n\n";
}

std::string render_markdown(const std::string& title, const std::vector<Section>& sections, const std::string& lead) {
  std::string out = "# " + title + "\n\n";
  if (!lead.empty()) out += md_paragraph(lead);
  for (const auto& s : sections) out += fmt::format("- [{}](#{})\n", s.title, s.id);
  out += "\n";
  for (const auto& s : sections) {
    out += fmt::format("<a id=\"{}\"></a>\n\n## {}\n\n", s.id, s.title);
    for (const auto& p : s.paragraphs) out += md_paragraph(p);
    for (const auto& t : s.tables) table(out, t);
    for (const auto& p : s.plots) out += fmt::format("![{}]({})\n\n", plot_title(p), plot_file(p));
    for (const auto& b : s.bullets) out += "- " + b + "\n";
    if (!s.bullets.empty()) out += "\n";
  }
  return out;
}

std::string report_markdown(const nlohmann::json& report, const Plots& plots) {
  return render_markdown(report_title(report), report_sections(report, plots), lead_paragraph(report));
}

std::string compare_markdown(const nlohmann::json& compare) {
  return render_markdown("snnconv comparison", compare_sections(compare));
}

}  // namespace snnconv::report
