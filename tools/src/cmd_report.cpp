// `snnconv MODEL.onnx` (= `snnconv report MODEL.onnx`) and `snnconv compare A.onnx B.onnx ...`: run the
// pipeline (cascade::run_pipeline) and write the report folder (tools/src/report).
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "snnconv/datasets/nir_file.hpp"
#include "report/content.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "report/report.hpp"
#include "options.hpp"
#include "progress.hpp"
#include "snnconv/cascade/cascade.hpp"
#include "snnconv/cascade/front_door.hpp"
#include "snnconv/cascade/report_experiments.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::cli {

namespace {

struct ReportCliOptions {
  cascade::PipelineOptions pipeline;
  std::vector<std::string> models;  // compare: several
  std::string out;
  std::string profiles;
  bool no_plots = false;
  bool no_sensitivity = false;
  bool quiet = false;
  std::string cascade_self_test = "temporal";
  std::string cascade_stages;  // `snnconv cascade` stage list
  cascade::SpeculativeExperimentOptions speculative;  // --draft and its settings
  double cascade_tolerance_points = 0.5;
  NirCliOptions nir;
  Communicator* comm = nullptr;  // mpirun's ranks (report only; mpi_world.hpp); null: one process
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    if (!item.empty())
      out.push_back(item);
    else if (!s.empty())
      throw UsageError("--profile has an empty entry in '" + s + "'");
    pos = comma + 1;
  }
  return out;
}

// A terminal display on stderr: one line per stage, rewritten in place while it runs.
std::function<void(const cascade::PipelineProgress&)> terminal_progress(bool quiet, std::string prefix) {
  if (!progress_wanted(quiet)) return {};
  return [prefix](const cascade::PipelineProgress& p) {
    std::string line = fmt::format("{}[{}/{}] {:<12}", prefix, p.index, p.count, p.stage);
    if (p.finished)
      line += fmt::format(" {} ({:.1f} s)", p.status == "not_available" ? "not available" : p.status, p.seconds);
    else if (p.total > 0)
      line += " " + progress_text(p.done, p.total, p.seconds, "samples");
    else
      line += " ...";
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), p.finished ? "\n" : "");
    std::fflush(stderr);
  };
}

void say(bool quiet, const std::string& s) {
  if (progress_wanted(quiet)) std::fprintf(stderr, "%s\n", s.c_str());
}

cascade::PipelineOptions pipeline_options(const ReportCliOptions& o, const std::string& model,
                                          const std::string& prefix) {
  cascade::PipelineOptions p = o.pipeline;
  p.model = model;
  p.profiles = split_list(o.profiles);
  p.early_read.self_test = cascade::parse_self_test(o.cascade_self_test);
  if (!(o.cascade_tolerance_points >= 0.0 && o.cascade_tolerance_points <= 100.0))
    throw UsageError(fmt::format("--cascade-tolerance {} is outside [0, 100] points", o.cascade_tolerance_points));
  p.early_read.tolerance = o.cascade_tolerance_points / 100.0;
  // A bad --cascade-steps or self-test is bad usage before anything runs.
  if (p.cascade) cascade::check_early_read_options(p.early_read);
  if (o.no_sensitivity) p.sensitivity_factors.clear();
  p.progress = terminal_progress(o.quiet, prefix);
  return p;
}

// The finding as report.md's first paragraph states it (the same lines), then the flagged constants that could
// change it and the reason of every stage that did not run (the notes of report.json).
void print_finding(const nlohmann::json& j, const std::string& indent = "") {
  for (const std::string& line : report::headline_lines(j)) fmt::print("{}{}\n", indent, line);
  const std::vector<std::string> flagged = report::assumption_lines(j);
  if (!flagged.empty()) {
    fmt::print("{}Flagged constants that move a comparison by more than {:.0f}% when halved or doubled:\n", indent,
               100.0 * j["findings"].value("threshold", 0.25));
    for (const std::string& line : flagged) fmt::print("{}  {}\n", indent, line);
  }
  for (const auto& st : j["stages"])
    if (st.value("status", "") != "done")
      fmt::print("{}stage {} {}: {}\n", indent, st.value("name", ""), st.value("status", ""), st.value("note", ""));
}

int run_report(const ReportCliOptions& o) {
  const std::string model = o.models.at(0);
  const bool dist = distributed(o.comm);
  if (is_nir_path(model)) {
    if (dist) throw UsageError("a NIR report runs in one process: its samples are not sharded over mpirun's ranks yet");
    return report_nir_file(model, o.pipeline.data, o.nir.samples, o.out,
                           split_list(o.profiles), o.nir);
  }
  const std::string out = o.out.empty() ? std::filesystem::path(model).stem().string() + "_report" : o.out;
  std::vector<cascade::StageSpec> user_stages;
  if (!o.cascade_stages.empty()) user_stages = cascade::parse_stage_list(o.cascade_stages);  // bad usage first
  cascade::PipelineOptions po = pipeline_options(o, model, "");
  po.comm = o.comm;
  if (dist && o.comm->rank() != 0) po.progress = nullptr;  // rank 0 speaks for the job
  cascade::PipelineResult r = cascade::run_pipeline(po);
  if (!r.root) return 0;  // the sharded stages are done; rank 0 runs the rest and writes the report
  // From here on rank 0 alone: a user cascade and the speculative measurement run in its process, unsharded.
  if (!user_stages.empty()) {
    cascade::UserCascadeOptions co;
    co.stages = user_stages;
    co.self_test = cascade::parse_self_test(o.cascade_self_test);
    co.tolerance = o.cascade_tolerance_points / 100.0;
    co.calib_samples = o.pipeline.calib_samples;
    co.threads = o.pipeline.threads;
    co.split = o.pipeline.split;
    say(o.quiet, fmt::format("cascade     {} stages on {} rows ({}), priced on {}", user_stages.size(),
                             cascade::user_cascade_rows(r), co.split, cascade::user_cascade_profile(r)));
    r.user_cascade = cascade::run_user_cascade(r, co);
  }
  if (!o.speculative.draft.empty()) {
    say(o.quiet, fmt::format("speculative {} prompts x {} tokens, draft {}", o.speculative.prompts,
                             o.speculative.max_tokens, o.speculative.draft));
    r.speculative = cascade::measure_speculative(model, r.ann.data, o.pipeline.split, o.pipeline.threads, o.speculative);
  }
  const report::WrittenReport written =
      report::write_report_folder(r, out, !o.no_plots, [&](const std::string& s) { say(o.quiet, s); });
  const nlohmann::json& j = written.json;
  const report::Plots& plots = written.plots;
  if (!o.no_plots && !plots.ok) std::fprintf(stderr, "snnconv: warning: %s\n", plots.status.c_str());
  fmt::print("report      {}/report.html (report.md, report.json, {} plots)\n", out, plots.names.size());
  if (r.ann.evaluated)
    fmt::print("ANN         {} {} on {} samples (fp32, as exported)\n", r.ann.metric,
               report::metric_text(r.ann.metric, r.ann.value), r.ann.samples);
  else
    fmt::print("ANN         not scored ({}); priced on one static inference\n", r.ann.not_evaluated_reason);
  if (r.snn && !r.snn->metric.empty()) {
    fmt::print("SNN         {} {} on {} samples ({} mode, mean {} steps to quiescence)\n", r.snn->metric,
               report::metric_text(r.snn->metric, r.snn->snn_value), r.snn->samples, r.snn->mode,
               format_count(r.snn->mean_steps));
    std::string scores;
    for (const cascade::AnnBaseline& b : r.baselines)
      scores += fmt::format("{}{} {}", scores.empty() ? "" : ", ", b.label, report::metric_text(r.snn->metric, b.value));
    if (!scores.empty()) fmt::print("baselines   on the SNN's {} samples: {}\n", r.snn->samples, scores);
  } else if (r.snn) {  // without labels (synthetic inputs, an .npz without 'labels') there is no metric to print
    fmt::print("SNN         not scored ({} samples without labels; calibrated on {})\n", r.snn->samples,
               r.snn->calibration_description);
  } else {
    std::string why = !o.pipeline.snn ? std::string("skipped (--no-snn)") : std::string("the SNN stage did not run");
    for (const cascade::StageRecord& st : r.stages)
      if ((st.name == "compress" || st.name == "snn") && st.status != "done") {
        why = st.note;
        break;
      }
    fmt::print("SNN         not run: {}\n", why);
  }
  print_finding(j);
  // Stages that failed are in the report (stages[].status not_available, with the reason); say so here too.
  for (const cascade::StageRecord& st : r.stages)
    if (st.status == "not_available" && st.note.rfind("failed: ", 0) == 0)
      std::fprintf(stderr, "snnconv: warning: stage '%s' failed, the report lists it as not available: %s\n",
                   st.name.c_str(), st.note.substr(8).c_str());
  return 0;
}

int run_compare(const ReportCliOptions& o) {
  if (o.models.size() < 2) throw UsageError("compare needs at least two models");
  // A malformed or unsupported model is refused before the first pipeline runs, not after.
  for (const std::string& m : o.models) (void)onnx_import::read_onnx(m);
  const std::string out = o.out.empty() ? std::string("compare_report") : o.out;
  std::vector<nlohmann::json> reports;
  for (std::size_t i = 0; i < o.models.size(); ++i) {
    const std::string prefix = fmt::format("{} ", std::filesystem::path(o.models[i]).stem().string());
    reports.push_back(report::report_json(cascade::run_pipeline(pipeline_options(o, o.models[i], prefix))));
  }
  const nlohmann::json j = report::compare_json(reports);
  report::OutputFiles files(out);
  files.write("compare.json", j.dump(2) + "\n");
  files.write("compare.md", report::compare_markdown(j));
  files.write("compare.html", report::compare_html(j));
  files.commit();
  fmt::print("comparison  {}/compare.html (compare.md, compare.json) of {} models\n", out, reports.size());
  for (const auto& rep : reports) {
    fmt::print("{}\n", rep["model"]["file"].get<std::string>());
    print_finding(rep, "  ");
  }
  return 0;
}

void add_pipeline_options(CLI::App* cmd, ReportCliOptions& o) {
  cmd->add_option("--data", o.pipeline.data,
                  "Data: an .npz with one array per model input named after it (first axis = samples; optional int "
                  "'labels'; a language model's token rows or 1-D token stream) or an HDF5 dataset (.h5); default: the "
                  "model's snnconv.data. Without any, the report is made on synthetic inputs and says so");
  cmd->add_option("--calib-data", o.pipeline.calib_data,
                  "SNN: data to calibrate on (.npz or .h5); default: --data (an .npz: its first --calib samples)");
  cmd->add_option("--task", o.pipeline.task,
                  "classification, language_model or vqa: override snnconv.task (without it the task is inferred from "
                  "the model's inputs and outputs)");
  cmd->add_option("--seq", o.pipeline.seq,
                  "Sequence window of a language model (default: snnconv.max_seq, else the export's, else the data's)");
  cmd->add_option("--profile", o.profiles,
                  "Hardware profiles, comma-separated names or .json paths (default: every bundled neuromorphic "
                  "and dense profile)");
  cmd->add_option("--samples", o.pipeline.samples, "Test samples to run (language models: windows); < 0: all")
      ->capture_default_str();
  cmd->add_option("--split", o.pipeline.split, "Dataset split")->capture_default_str();
  add_batch_option(cmd, o.pipeline.batch, "Samples per forward pass of the ANN run");
  add_threads_option(cmd, o.pipeline.threads);
  cmd->add_flag("--no-sensitivity", o.no_sensitivity, "Skip the table of energies with each constant x0.5 and x2");
  cmd->add_flag_callback("--no-snn", [&o] { o.pipeline.snn = false; },
                         "Skip quantization, conversion and the SNN run (ANN only)");
  add_quant_options(cmd, {&o.pipeline.weight_bits, nullptr, &o.pipeline.act_bits, nullptr, &o.pipeline.calib_samples, nullptr},
                    "SNN: ");
  cmd->add_option("--snn-samples", o.pipeline.snn_samples,
                  "SNN: test samples the QANN and SNN run on (the first ones; at most --samples; negative: as many "
                  "as --samples)")
      ->check(CLI::Validator(
          [](std::string& v) { return v == "0" ? std::string("0 would run no SNN sample: give N >= 1") : std::string(); },
          "N!=0"))
      ->capture_default_str();
  add_snn_options(cmd, o.pipeline.snn_mode, o.pipeline.max_steps, "SNN: ");
  cmd->add_flag_callback("--no-cascade", [&o] { o.pipeline.cascade = false; },
                         "Skip the SNN early-read cascade (classifiers: the SNN run read at --cascade-steps, then at "
                         "quiescence)");
  cmd->add_option("--cascade-steps", o.pipeline.early_read.steps,
                  "Cascade: the early read steps, ascending, each >= 2 (1 to 4 of them)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--cascade-self-test", o.cascade_self_test, "Cascade: the self-test of the early read")
      ->check(CLI::IsMember({"temporal", "max_prob", "margin", "entropy"}))
      ->capture_default_str();
  cmd->add_option("--cascade-tolerance", o.cascade_tolerance_points,
                  "Cascade: accuracy points the calibrated plan may lose against quiescence")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--cascade-stages", o.cascade_stages,
                  "Also run a cascade of these stages (the syntax of `snnconv cascade --stages`) on the SNN samples "
                  "(first half calibrates, second half evaluates), priced on the first neuromorphic profile");
  cmd->add_option("--draft", o.speculative.draft,
                  "Decoders: also measure greedy speculative decoding with this draft model (docs/speculative.md)");
  const auto positive = CLI::Range(1, 1 << 20);
  cmd->add_option("--gamma", o.speculative.gamma, "Speculative: proposals per round")->check(positive)->capture_default_str();
  cmd->add_option("--spec-prompts", o.speculative.prompts, "Speculative: prompts (slices of the split's token stream)")
      ->check(positive)
      ->capture_default_str();
  cmd->add_option("--spec-tokens", o.speculative.max_tokens, "Speculative: tokens generated per prompt")
      ->check(positive)
      ->capture_default_str();
  add_quiet_flag(cmd, o.quiet);
}

}  // namespace

void add_report(CLI::App& app, Action& action, Communicator* comm) {
  auto opts = std::make_shared<ReportCliOptions>();
  opts->models.resize(1);
  opts->comm = comm;
  auto* cmd = app.add_subcommand(
      "report",
      "The whole pipeline on one model and an energy report folder (what `snnconv MODEL.onnx` runs): import, "
      "fuse, run the ANN on test data, price on hardware profiles, write report.json/.md/.html and PNG plots. "
      "Partial: the SNN stage uses uniform post-training quantization (mixed precision and pruning are in "
      "`snnconv compress`, not in the report yet) and runs classification, language-model and vqa data");
  cmd->add_option("model", opts->models[0],
                  "ONNX model file, or a NIR file (.nir: a reduced report, the NIR network run on --data's spikes or "
                  "seeded random spikes and priced on the profiles, report.json only; docs/nir.md)")
      ->required();
  cmd->add_option("--out", opts->out, "Output folder (default: MODEL_report); files appear only when complete");
  add_nir_options(cmd, opts->nir);
  cmd->add_flag("--no-plots", opts->no_plots, "Do not run tools/plot_report.py (the HTML keeps its SVG charts)");
  add_pipeline_options(cmd, *opts);
  cmd->callback([opts, cmd, &action] {
    // A NIR report runs random spike samples through the simulator: 16 unless --samples says otherwise.
    if (cmd->count("--samples") > 0) opts->nir.samples = opts->pipeline.samples;
    action = [opts] { return run_report(*opts); };
  });
}

void add_compare(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ReportCliOptions>();
  auto* cmd = app.add_subcommand(
      "compare", "Run the pipeline on several models and put them side by side in one report (compare.json/.md/.html)");
  cmd->add_option("models", opts->models, "ONNX model files (two or more)")->required();
  cmd->add_option("--out", opts->out, "Output folder (default: compare_report)");
  add_pipeline_options(cmd, *opts);
  cmd->callback([opts, &action] { action = [opts] { return run_compare(*opts); }; });
}

}  // namespace snnconv::cli
