// Output folder discipline (a staging folder renamed into place: core/atomic_output.hpp), the plot script
// runner and HTML escaping.
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "report/report.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/core/install_paths.hpp"

#ifndef SNNCONV_PLOT_SCRIPT
#define SNNCONV_PLOT_SCRIPT "tools/plot_report.py"
#endif

namespace snnconv::report {

// ---- OutputFiles -----------------------------------------------------------------------------------------

OutputFiles::OutputFiles(std::filesystem::path dir) : dir_(std::move(dir)), folder_(dir_, "report folder") {}

std::filesystem::path OutputFiles::reserve(const std::string& name) { return folder_.path(name); }

void OutputFiles::write(const std::string& name, const std::string& content) { folder_.write(name, content); }

void OutputFiles::drop(const std::string& name) { folder_.remove(name); }

bool OutputFiles::exists(const std::string& name) const { return folder_.exists(name); }

void OutputFiles::commit() { folder_.commit(); }

// ---- plots -------------------------------------------------------------------------------------------------

const std::vector<std::string>& plot_names() {
  static const std::vector<std::string> names{"energy_breakdown", "energy_per_layer", "ann_vs_snn",
                                              "break_even",       "accuracy_vs_step", "firing_rates",
                                              "cascade_front",    "sensitivity"};
  return names;
}

std::string plot_file(const std::string& name) {
  return name + ".png";
}

std::string plot_title(const std::string& name) {
  if (name == "energy_breakdown") return "Energy per inference by profile and component";
  if (name == "energy_per_layer") return "Energy per layer, the most expensive ones (fp32 ANN and SNN)";
  if (name == "ann_vs_snn") return "Energy per inference of each ANN baseline and the SNN, per profile";
  if (name == "break_even") return "Break-even: firing rate and steps at which the SNN costs what each ANN does";
  if (name == "accuracy_vs_step") return "SNN accuracy vs read-out step";
  if (name == "firing_rates") return "SNN firing rate per population";
  if (name == "cascade_front") return "Early-read cascade: accuracy vs energy (stages, Pareto front, chosen plan)";
  if (name == "sensitivity") return "Sensitivity of the SNN/ANN energy ratio to each constant (x0.5, x2)";
  return name;
}

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// Runs argv with stdout+stderr captured; returns the exit status (-1: could not start).
int run_captured(const std::vector<std::string>& argv, std::string& output) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    // The child dies with us: an interrupted run must not leave a plot appearing after cleanup.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    ::setenv("MPLBACKEND", "Agg", 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) output.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

Plots make_plots(const std::filesystem::path& json_path, OutputFiles& out) {
  Plots p;
  const std::string python = env_or("SNNCONV_PYTHON", "/usr/bin/python3");
  const std::filesystem::path installed = installed_data_path("plot_report.py");
  const std::string script = env_or("SNNCONV_PLOT_SCRIPT", installed.empty() ? std::string(SNNCONV_PLOT_SCRIPT) : installed.string());
  if (::access(python.c_str(), X_OK) != 0) {
    p.status = "plots skipped: no Python at " + python;
    return p;
  }
  if (!std::filesystem::is_regular_file(script)) {
    p.status = "plots skipped: plot script not found at " + script;
    return p;
  }
  std::vector<std::string> argv{python, script, json_path.string()};
  for (const auto& name : plot_names()) {
    argv.push_back("--plot");
    argv.push_back(name + "=" + out.reserve(plot_file(name)).string());
  }
  std::string output;
  const int rc = run_captured(argv, output);
  for (const auto& name : plot_names()) {
    if (rc == 0 && out.exists(plot_file(name)))
      p.names.push_back(name);
    else
      out.drop(plot_file(name));
  }
  if (rc != 0) {
    std::string last = output;
    while (!last.empty() && (last.back() == '\n' || last.back() == ' ')) last.pop_back();
    if (const auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
    p.status = fmt::format("plots failed: {} exited with {}{}{}", script, rc, last.empty() ? "" : ": ", last);
    return p;
  }
  p.ok = true;
  p.status = fmt::format("made {} plots with {}", p.names.size(), script);
  return p;
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

WrittenReport write_report_folder(const cascade::PipelineResult& r, const std::filesystem::path& dir, bool plots,
                                  const std::function<void(const std::string&)>& on_status) {
  WrittenReport w;
  w.json = report_json(r);
  OutputFiles files(dir);
  files.write("report.json", w.json.dump(2) + "\n");
  if (!plots) {
    w.plots.status = "plots skipped (--no-plots)";
  } else {
    if (on_status) on_status("plotting ...");
    w.plots = make_plots(files.reserve("report.json"), files);
  }
  files.write("report.md", report_markdown(w.json, w.plots));
  files.write("report.html", report_html(w.json, w.plots));
  files.commit();
  return w;
}

}  // namespace snnconv::report
