// report.html / compare.html: one self-contained page (inline CSS, tables with every number) showing each PNG
// plot of tools/plot_report.py once, when it was made. No script.
#include <fmt/format.h>

#include "report/content.hpp"

namespace snnconv::report {

namespace {

// A paragraph whose lines are separate statements ("\n"): one <br> per line break.
std::string paragraph(const std::string& text) {
  std::string out = "<p>";
  std::size_t start = 0;
  while (true) {
    const std::size_t nl = text.find('\n', start);
    out += html_escape(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    out += "<br>\n";
    start = nl + 1;
  }
  return out + "</p>\n";
}

void html_table(std::string& out, const Table& t) {
  out += fmt::format("<table id=\"{}\">\n", html_escape(t.id));
  if (!t.title.empty()) out += "<caption>" + html_escape(t.title) + "</caption>\n";
  out += "<thead><tr>";
  for (std::size_t i = 0; i < t.header.size(); ++i)
    out += fmt::format("<th{}>{}</th>", i < t.numeric.size() && t.numeric[i] ? " class=\"num\"" : "",
                       html_escape(t.header[i]));
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (std::size_t i = 0; i < t.header.size(); ++i)
      out += fmt::format("<td{}>{}</td>", i < t.numeric.size() && t.numeric[i] ? " class=\"num\"" : "",
                         html_escape(i < row.size() ? row[i] : ""));
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
  if (!t.note.empty()) out += "<p class=\"note\">" + html_escape(t.note) + "</p>\n";
}

constexpr const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; vertical-align: top; }
th { background: #f3f3f3; } td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
p.note { color: #555; font-size: .85em; margin-top: -.6em; }
figure { margin: 1em 0; } figcaption { font-weight: 600; font-size: .9em; } figure img { max-width: 100%; border: 1px solid #eee; }
nav ul { columns: 2; } details { margin: .5em 0; }
)";

}  // namespace

std::string render_html(const std::string& title, const std::vector<Section>& sections, const std::string& lead) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  out += "<h1>" + html_escape(title) + "</h1>\n";
  if (!lead.empty()) out += paragraph(lead);
  out += "<nav><ul>\n";
  for (const auto& s : sections)
    out += fmt::format("<li><a href=\"#{}\">{}</a></li>\n", html_escape(s.id), html_escape(s.title));
  out += "</ul></nav>\n";
  for (const auto& s : sections) {
    out += fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n", html_escape(s.id), html_escape(s.title));
    for (const auto& p : s.paragraphs) out += paragraph(p);
    for (const auto& p : s.plots)
      out += fmt::format(
          "<figure><img src=\"{}\" alt=\"{}\"><figcaption>{} (PNG, tools/plot_report.py)</figcaption>"
          "</figure>\n",
          html_escape(plot_file(p)), html_escape(plot_title(p)), html_escape(plot_title(p)));
    const bool fold = s.id == "profiles";
    if (fold) out += "<details><summary>Show every constant with its source</summary>\n";
    for (const auto& t : s.tables) html_table(out, t);
    if (fold) out += "</details>\n";
    if (!s.bullets.empty()) {
      out += "<ul>\n";
      for (const auto& b : s.bullets) out += "<li>" + html_escape(b) + "</li>\n";
      out += "</ul>\n";
    }
    out += "</section>\n";
  }
  out += "</body>\n</html>\n";
  return out;
}

std::string report_html(const nlohmann::json& report, const Plots& plots) {
  return render_html(report_title(report), report_sections(report, plots), lead_paragraph(report));
}

std::string compare_html(const nlohmann::json& compare) {
  return render_html("snnconv comparison", compare_sections(compare));
}

}  // namespace snnconv::report
