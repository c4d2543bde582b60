// `snnconv cascade --stages S1,S2,... --self-test TEST [--data FILE.h5] [--calib-split ROWS]
//  [--eval-split ROWS] [--tolerance POINTS] [--thresholds T1,...] [--profile NAME] [--out DIR] [--json]`
#include <fmt/core.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "options.hpp"
#include "report/cascade_report.hpp"
#include "report/report.hpp"
#include "snnconv/cascade/cascade.hpp"
#include "snnconv/core/communicator.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv::cli {

namespace {
struct CascadeCliOptions {
  std::string stages;
  std::string self_test = "max_prob";
  std::string thresholds;
  double tolerance_points = 0.5;
  std::string out = "cascade_report";
  bool json = false;
  bool quiet = false;
  cascade::CascadeOptions run;
};

std::vector<double> parse_thresholds(const std::string& text) {
  std::vector<double> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t c = text.find(',', start);
    const std::string one = text.substr(start, c == std::string::npos ? std::string::npos : c - start);
    char* end = nullptr;
    const double v = std::strtod(one.c_str(), &end);
    if (one.empty() || end != one.c_str() + one.size())
      throw UsageError(fmt::format("--thresholds: '{}' is not a number", one));
    out.push_back(v);
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}

int run_cascade_cmd(CascadeCliOptions& o) {
  o.run.stages = cascade::parse_stage_list(o.stages);
  o.run.self_test = cascade::parse_self_test(o.self_test);
  o.run.thresholds = parse_thresholds(o.thresholds);
  if (!(o.tolerance_points >= 0.0 && o.tolerance_points <= 100.0))
    throw UsageError(fmt::format("--tolerance {} is outside [0, 100] points", o.tolerance_points));
  o.run.tolerance = o.tolerance_points / 100.0;
  const bool other_rank = distributed(o.run.comm) && o.run.comm->rank() != 0;
  if (!o.quiet && !other_rank) o.run.progress = [](const std::string& line) { std::cerr << line << '\n'; };
  const cascade::CascadeResult r = cascade::run_cascade(o.run);
  if (!r.root) return 0;  // rank 0 writes the cascade report
  const nlohmann::json j = report::cascade_json(r);
  report::OutputFiles files(o.out);
  files.write("cascade.json", j.dump(1) + "\n");
  files.write("cascade.md", report::cascade_markdown(j));
  files.commit();
  if (o.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("cascade: {} on {} evaluation samples: {} {:.2f}% at {} per sample; largest stage alone {:.2f}% "
             "at {}; saving {:.1f}%\n",
             r.metric, r.eval_samples, r.metric, 100.0 * r.eval.accuracy, format_energy_pj(r.eval.cost_pj),
             100.0 * r.largest_eval_accuracy, format_energy_pj(r.largest_eval_cost_pj), 100.0 * r.saving);
  fmt::print("wrote {}/cascade.json and cascade.md\n", o.out);
  return 0;
}
}  // namespace

void add_cascade(CLI::App& app, Action& action, Communicator* comm) {
  auto opts = std::make_shared<CascadeCliOptions>();
  opts->run.comm = comm;
  auto* cmd = app.add_subcommand(
      "cascade",
      "Small-to-large cascade: stages ordered by cost answer in turn, a stage's answer is kept when its self-test "
      "passes, else the sample escalates. Thresholds are calibrated on --calib-split to the cheapest plan within "
      "--tolerance of the last stage's accuracy and evaluated on --eval-split; writes cascade.json and cascade.md "
      "(Pareto front, escalation per stage, saving against the last stage alone) to --out (docs/cascades.md)");
  cmd->add_option("--stages", opts->stages,
                  "Comma-separated stages, cheapest first: MODEL[:engine=ann|qann|snn][:w=BITS][:act=BITS][:steps=T]"
                  "[:mode=strict|burst][:hw=PROFILE][:k=N][:temp=T]")
      ->required();
  cmd->add_option("--self-test", opts->self_test,
                  "Classifiers: max_prob, margin, entropy, temporal (SNN stages); code generation: execution, "
                  "token_quantile")
      ->check(CLI::IsMember({"max_prob", "margin", "entropy", "temporal", "execution", "token_quantile"}))
      ->capture_default_str();
  cmd->add_option("--data", opts->run.data, "Data: an HDF5 dataset (.h5), or an .npz of a classifier's rows (one array per input, 'labels'; rows named "
                  "NAME:BEGIN:END with any NAME); default: the first stage's snnconv.data metadata");
  cmd->add_option("--calib-split", opts->run.calib_split,
                  "Rows the thresholds are calibrated on: SPLIT or SPLIT:BEGIN:END (default val)");
  cmd->add_option("--eval-split", opts->run.eval_split,
                  "Held-out rows the chosen plan is evaluated on: SPLIT or SPLIT:BEGIN:END (default test)");
  cmd->add_option("--tolerance", opts->tolerance_points,
                  "Accuracy loss allowed against the last stage on the calibration rows, in points (default 0.5)");
  cmd->add_option("--z", opts->run.z,
                  "Calibration confidence: a plan qualifies when its loss against the last stage plus Z standard "
                  "errors (paired, per sample) is within --tolerance (default 0: the loss itself; 1.645: 95% one-sided)");
  cmd->add_option("--thresholds", opts->thresholds,
                  "Fixed thresholds, one per stage but the last, each in [0, 1]: no calibration");
  cmd->add_option("--quantile", opts->run.quantile, "token_quantile: the quantile of the token probabilities (default 0.1)");
  cmd->add_option("--profile", opts->run.profile, "Hardware profile the stages are priced on (default loihi)");
  cmd->add_option("--calib", opts->run.calib_samples, "qann/snn stages: quantization calibration samples (default 64)");
  cmd->add_option("--max-tokens", opts->run.max_tokens, "Code generation: bytes generated per candidate at most (default 16)");
  add_threads_option(cmd, opts->run.threads, "Dense-engine threads (results do not depend on it)");
  cmd->add_option("--out", opts->out, "Output folder (default cascade_report); files appear only when complete");
  cmd->add_flag("--json", opts->json, "Print cascade.json to stdout");
  add_quiet_flag(cmd, opts->quiet);
  cmd->callback([opts, &action] { action = [opts] { return run_cascade_cmd(*opts); }; });
}

}  // namespace snnconv::cli
