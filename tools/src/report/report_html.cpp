// report.html / compare.html: one self-contained page (inline CSS, inline SVG charts drawn here, tables with
// every number) that also shows the PNG plots when they were made. No script.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report/content.hpp"

namespace snnconv::report {

namespace {

const char* const kColours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"};

std::string colour(std::size_t i) {
  return kColours[i % std::size(kColours)];
}

std::string short_label(const std::string& s, std::size_t max = 34) {
  return s.size() <= max ? s : "..." + s.substr(s.size() - (max - 3));
}

std::string value_text(const Chart& c, double v) {
  if (c.unit == "pJ") return format_energy_pj(v);
  if (c.unit == "%") return fmt::format("{:+.1f}%", v);
  return fmt::format("{:.3g} {}", v, c.unit);
}

double finite(double v) {
  return std::isfinite(v) ? v : 0.0;
}

// Horizontal bars: a legend row, then one row per category.
std::string svg_chart(const Chart& c) {
  const double label_w = 250, bar_w = 420, value_w = 90, row_h = c.stacked ? 22 : 10.0 * c.series.size() + 8;
  const double legend_h = 24, top = legend_h + 6;
  const double width = label_w + bar_w + value_w;
  const double height = top + row_h * static_cast<double>(c.categories.size()) + 8;
  double lo = 0, hi = 0;
  for (const auto& vals : c.values) {
    double sum = 0;
    for (double v : vals) {
      if (c.stacked)
        sum += std::max(0.0, finite(v));
      else {
        lo = std::min(lo, finite(v));
        hi = std::max(hi, finite(v));
      }
    }
    if (c.stacked) hi = std::max(hi, sum);
  }
  if (hi - lo <= 0) hi = lo + 1;
  auto x_of = [&](double v) { return label_w + (v - lo) / (hi - lo) * bar_w; };
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{}\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "viewBox=\"0 0 {:.0f} {:.0f}\" role=\"img\" aria-label=\"{}\">\n",
      html_escape(c.id), width, height, width, height, html_escape(c.title));
  double lx = label_w;
  for (std::size_t i = 0; i < c.series.size(); ++i) {
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"16\" class=\"legend\">{}</text>\n",
        lx, colour(i), lx + 16, html_escape(c.series[i]));
    lx += 24 + 7.0 * static_cast<double>(c.series[i].size());
  }
  if (!c.stacked) {
    const double x0 = x_of(0);
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#888\"/>\n", x0, top - 2,
                     x0, height - 4);
  }
  for (std::size_t k = 0; k < c.categories.size(); ++k) {
    const double y = top + row_h * static_cast<double>(k);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"label\" text-anchor=\"end\"><title>{}</title>{}</text>\n",
                     label_w - 6, y + row_h / 2 + 4, html_escape(c.categories[k]),
                     html_escape(short_label(c.categories[k])));
    const auto& vals = c.values[k];
    if (c.stacked) {
      double at = 0;
      for (std::size_t i = 0; i < vals.size(); ++i) {
        const double v = std::max(0.0, finite(vals[i]));
        if (v <= 0) continue;
        s += fmt::format(
            "<rect x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}: {}"
            "</title></rect>\n",
            x_of(at), y + 3, std::max(0.5, x_of(at + v) - x_of(at)), row_h - 6, colour(i),
            html_escape(i < c.series.size() ? c.series[i] : ""), html_escape(value_text(c, v)));
        at += v;
      }
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"value\">{}</text>\n", x_of(at) + 4, y + row_h / 2 + 4,
                       html_escape(value_text(c, at)));
    } else {
      for (std::size_t i = 0; i < vals.size(); ++i) {
        const double v = finite(vals[i]);
        const double a = x_of(std::min(0.0, v)), b = x_of(std::max(0.0, v));
        const double by = y + 4 + 10.0 * static_cast<double>(i);
        s += fmt::format(
            "<rect x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"8\" fill=\"{}\"><title>{}: {}"
            "</title></rect>\n",
            a, by, std::max(0.5, b - a), colour(i), html_escape(i < c.series.size() ? c.series[i] : ""),
            html_escape(value_text(c, v)));
        s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"value small\">{}</text>\n", std::max(a, b) + 3,
                         by + 8, html_escape(value_text(c, v)));
      }
    }
  }
  s += "</svg>\n";
  return s;
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
svg.chart { display: block; margin: 1em 0; font-size: 12px; }
svg.chart text.label, svg.chart text.legend { fill: #333; } svg.chart text.value { fill: #333; }
svg.chart text.small { font-size: 10px; }
figure { margin: 1em 0; } figcaption { font-weight: 600; font-size: .9em; } figure img { max-width: 100%; border: 1px solid #eee; }
nav ul { columns: 2; } details { margin: .5em 0; }
)";

}  // namespace

std::string render_html(const std::string& title, const std::vector<Section>& sections) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  out += "<h1>" + html_escape(title) + "</h1>\n<nav><ul>\n";
  for (const auto& s : sections)
    out += fmt::format("<li><a href=\"#{}\">{}</a></li>\n", html_escape(s.id), html_escape(s.title));
  out += "</ul></nav>\n";
  for (const auto& s : sections) {
    out += fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n", html_escape(s.id), html_escape(s.title));
    for (const auto& p : s.paragraphs) out += "<p>" + html_escape(p) + "</p>\n";
    for (const auto& c : s.charts)
      if (!c.categories.empty())
        out += "<figure>\n<figcaption>" + html_escape(c.title) + "</figcaption>\n" + svg_chart(c) + "</figure>\n";
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
  return render_html(report_title(report), report_sections(report, plots));
}

std::string compare_html(const nlohmann::json& compare) {
  return render_html("snnconv comparison", compare_sections(compare));
}

}  // namespace snnconv::report
