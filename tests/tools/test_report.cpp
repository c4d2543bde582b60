// The SNN seam of the report, end to end on a real spiking run: a hand-built QANN is converted and run on the
// SNN engine, an SnnSection is filled exactly as run_snn_stage will fill it, price_pipeline prices both
// ledgers, and report.json (with its `snn` object) validates against tools/report.schema.json, its totals
// recompute from the counts, and the Markdown/HTML show the SNN tables. Also: the output folder discipline.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "qann_graphs.hpp"
#include "report/report.hpp"
#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/cascade/early_read.hpp"
#include "snnconv/cascade/front_door.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("snnconv_report_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::int64_t argmax(const Tensor& t) {
  const auto v = t.span<float>();
  return std::max_element(v.begin(), v.end()) - v.begin();
}

// What run_snn_stage will do for a real model, here on make_qann_mlp: the QANN is the "ANN" subject and its
// spiking conversion the SNN subject, on the same samples.
cascade::PipelineResult spiking_result(int samples) {
  std::vector<Tensor> xs;
  const Graph qann = test::make_qann_mlp(7, 4, &xs, samples);
  cascade::PipelineResult r;
  r.generator = "snnconv test";
  r.model.file = "qann_mlp";
  r.model.name = "qann_mlp";
  r.model.task = "classification";
  r.stages.push_back({"import", "done", 0.0, "hand-built"});

  cascade::AnnSection& a = r.ann;
  a.evaluated = true;
  a.metric = "accuracy";
  a.task = "classification";
  a.split = "test";
  a.samples = samples;
  a.batch = 1;
  a.graph = qann;
  a.ledger = Ledger::for_graph(qann);
  ann::Engine engine(qann, ann::EngineOptions{.threads = 1});
  for (const Tensor& x : xs) engine.run(std::span<const Tensor>(&x, 1), &a.ledger);
  a.ledger.samples = static_cast<std::uint64_t>(samples);  // one [3, 12] tensor is one inference here

  cascade::SnnSection s;
  s.mode = "strict";
  s.metric = "accuracy";
  s.data = "hand-made rows";
  s.calibration_source = "hdf5";
  s.calibration_description = "the hand-made rows";
  s.calibration_samples = samples;
  s.samples = samples;
  s.activation_bits = 4;
  s.max_steps = 256;
  s.graph = convert_to_spiking(qann);
  s.ledger = Ledger::for_graph(s.graph);
  snn::Engine snn_engine(s.graph, {snn::FireMode::strict, s.max_steps, 1});
  // The early-read cascade, fed as run_spiking feeds it (the sample's own ledger at each read step).
  cascade::EarlyReadOptions eo;
  eo.steps = {2};
  eo.tolerance = 0.0;
  cascade::EarlyReadRecorder early(s.graph, eo, {hw::find_profile("loihi"), hw::find_profile("systolic_int8")});
  std::vector<std::int64_t> labels;
  int agree = 0, qann_agree = 0, steps_total = 0;
  for (const Tensor& x : xs) {
    const std::span<const Tensor> in(&x, 1);
    const ann::QannResult q = ann::run_qann(qann, in);
    const auto index = static_cast<std::int64_t>(labels.size());
    Ledger own = Ledger::for_graph(s.graph);
    snn::StepObserver obs = [&](int t, const std::vector<Tensor>& outs) {
      if (std::binary_search(early.read_steps().begin(), early.read_steps().end(), t)) early.on_read(index, t, false, outs[0], own);
    };
    const snn::RunResult run = snn_engine.run(in, &own, &obs);
    early.on_read(index, run.steps, true, run.outputs[0], own);
    s.ledger.merge(own);
    labels.push_back(argmax(q.outputs[0]));
    agree += argmax(run.outputs[0]) == argmax(q.outputs[0]);
    qann_agree += 1;
    steps_total += run.steps;
    s.max_steps_used = std::max(s.max_steps_used, run.steps);
    s.not_quiescent += run.quiescent ? 0 : 1;
  }
  s.qann_value = static_cast<double>(qann_agree) / samples;  // "accuracy" against the QANN's own argmax
  s.snn_value = static_cast<double>(agree) / samples;
  s.mean_steps = static_cast<double>(steps_total) / samples;
  cascade::StageSpec base;
  base.model = "qann_mlp";
  s.cascade = early.finish(labels, base, "test");
  for (int t = 1; t <= s.max_steps_used; ++t) s.metric_vs_step.push_back({t, t == s.max_steps_used ? s.snn_value : 0.0});
  for (std::size_t i = 0; i < s.graph.num_nodes(); ++i) {
    const Node& n = s.graph.nodes()[i];
    if (n.kind != OpKind::SpikeNeuron) continue;
    const Counters& c = s.ledger.per_node[i];
    cascade::SnnLayerStats l;
    l.name = n.name;
    l.neurons = checked_numel(s.graph.value(n.outputs[0]).type.static_shape());
    l.spikes = c.spikes();
    l.spikes_per_inference = static_cast<double>(l.spikes) / samples;
    l.firing_rate = c.timesteps > 0 ? static_cast<double>(l.spikes) / (static_cast<double>(l.neurons) * c.timesteps) : 0;
    s.layers.push_back(l);
  }
  r.snn = std::move(s);
  return r;
}

int run(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("the SNN section drops into the report: priced, compared, valid against the schema, recomputable") {
  cascade::PipelineResult r = spiking_result(6);
  REQUIRE(r.snn.has_value());
  REQUIRE(r.snn->ledger.total().total_acs() > 0);
  REQUIRE(r.snn->not_quiescent == 0);
  cascade::PipelineOptions o;
  o.profiles = {"loihi", "systolic_int8"};
  cascade::price_pipeline(r, o);

  // compute-only + 2 profiles for each subject; ratios: 3 same-profile + (systolic ANN vs loihi SNN).
  REQUIRE(r.ann_prices.size() == 3);
  REQUIRE(r.snn_prices.size() == 3);
  REQUIRE(r.comparisons.size() == 4);
  for (const auto& c : r.comparisons) {
    CHECK(c.fits);
    CHECK(c.ratio == doctest::Approx(c.ann_energy_per_inference_pj / c.snn_energy_per_inference_pj));
  }
  CHECK(r.comparisons[3].ann_profile == "systolic_int8");
  CHECK(r.comparisons[3].snn_profile == "loihi");
  // The SNN on Loihi: synaptic ops at 23.6 pJ, updates at 81 pJ.
  const Counters t = r.snn->ledger.total();
  CHECK(r.snn_prices[1].result.total.compute_pj >=
        doctest::Approx(23.6 * static_cast<double>(t.total_acs()) + 81.0 * static_cast<double>(t.neuron_updates)));
  CHECK(r.snn_prices[1].result.spikes == t.spikes());
  CHECK(r.snn_prices[1].result.energy_per_spike_pj() > 0);
  // Sensitivity rows carry both subjects.
  REQUIRE_FALSE(r.sensitivity.empty());
  CHECK(r.sensitivity[0].base_energy_per_inference_pj.size() == 2);

  // The findings: per profile the comparison with the ANN section (no other baseline here), break-even points.
  r.findings = cascade::find(r, o);
  REQUIRE(r.findings.profiles.size() == 3);
  for (const cascade::Finding& f : r.findings.profiles) {
    INFO(f.snn_profile);
    CHECK(f.compared);
    CHECK(f.baseline == "ann");
    CHECK(f.ratio == doctest::Approx(f.snn_pj / f.ann_pj));
    CHECK(f.causes.size() == 8);
    REQUIRE(f.activity.has_value());
    CHECK(f.activity->energy_pj(f.activity->rate, f.activity->steps) == doctest::Approx(f.snn_pj));
    REQUIRE(f.break_even.size() == 1);
  }
  REQUIRE(r.findings.across.has_value());
  CHECK(r.findings.across->snn_profile == "loihi");
  CHECK(r.findings.across->ann_profile == "systolic_int8");

  const nlohmann::json j = report::report_json(r);
  CHECK(j["findings"]["profiles"].size() == 3);
  CHECK(j["snn"]["mode"] == "strict");
  CHECK(j["snn"]["layers"].size() == r.snn->layers.size());
  CHECK(j["comparisons"].size() == 4);
  CHECK(j["sensitivity"]["subjects"].size() == 2);
  CHECK(j["sensitivity"]["rows"][0]["points"][0].contains("snn"));

  TempDir tmp;
  const auto file = tmp.path / "report.json";
  std::ofstream(file) << j.dump(2);
  const std::string py = "/usr/bin/python3 ";
  CHECK(run(py + (kRoot / "tools/validate_json.py").string() + " " + (kRoot / "tools/report.schema.json").string() +
            " " + file.string()) == 0);
  CHECK(run(py + (kRoot / "tools/validate_json.py").string() + " " + (kRoot / "tools/report.schema.json").string() +
            " " + file.string() + " --builtin") == 0);
  CHECK(run(py + (kRoot / "tests/tools/recompute_energy.py").string() + " " + file.string() + " " +
            (kRoot / "neuromorphic_hw/profiles").string()) == 0);
  REQUIRE(j["cascade"].is_object());
  CHECK(j["cascade"]["calibration_profile"] == "loihi");
  CHECK(j["cascade"]["result"]["stages"].size() == 2);
  CHECK(j["cascade"]["profiles"].size() == 2);
  const double saving = j["cascade"]["result"]["saving"].get<double>();
  CHECK(saving == doctest::Approx(1.0 - j["cascade"]["result"]["chosen"]["evaluation"]["cost_pj"].get<double>() /
                                            j["cascade"]["result"]["largest"]["cost_pj"].get<double>()));

  const report::Plots none{{}, "plots skipped (test)", false};
  const std::string html = report::report_html(j, none);
  for (const char* id : {"id=\"energy-snn\"", "id=\"comparisons\"", "id=\"snn-steps\"", "id=\"snn-layers\"",
                         "id=\"layers-snn-loihi\"", "id=\"break-even-loihi\"", "id=\"ops\""})
    CHECK_MESSAGE(html.find(id) != std::string::npos, id);
  const std::string md = report::report_markdown(j, none);
  CHECK(md.find("On loihi the ") != std::string::npos);
  CHECK(md.find(" is cheaper: ") != std::string::npos);
  CHECK(html.find("<svg") == std::string::npos);  // each chart once: the plot script's PNGs only
  CHECK(md.find("Spikes per population") != std::string::npos);
  for (const char* id : {"id=\"cascade-stages\"", "id=\"cascade-profiles\"", "id=\"cascade-front\""})
    CHECK_MESSAGE(html.find(id) != std::string::npos, id);
  std::ofstream(tmp.path / "report.md") << md;
  CHECK(run(py + (kRoot / "tests/tools/check_cascade_section.py").string() + " " + file.string() + " " +
            (tmp.path / "report.md").string()) == 0);
  // With the SNN, the plot script draws the SNN plots too.
  report::OutputFiles out(tmp.path / "plots");
  const report::Plots plots = report::make_plots(file, out);
  CHECK_MESSAGE(plots.ok, plots.status);
  for (const char* name : {"ann_vs_snn", "accuracy_vs_step", "firing_rates", "cascade_front", "break_even"})
    CHECK(std::count(plots.names.begin(), plots.names.end(), name) == 1);
}

TEST_CASE("output files appear only at commit and an abandoned run leaves nothing") {
  TempDir tmp;
  const auto dir = tmp.path / "out";
  {
    report::OutputFiles out(dir);
    out.write("a.txt", "alpha");
    out.write("b.txt", "beta");
    CHECK(std::filesystem::exists(out.reserve("a.txt")));
    CHECK_FALSE(std::filesystem::exists(dir / "a.txt"));
  }  // abandoned: the staging folder is removed and no output folder is left, empty or not
  CHECK_FALSE(std::filesystem::exists(dir));
  CHECK(std::filesystem::is_empty(tmp.path));
  {
    report::OutputFiles out(dir);
    out.write("a.txt", "alpha");
    out.reserve("c.png");  // a plot that was never made
    out.drop("c.png");
    out.commit();
  }
  CHECK(std::filesystem::exists(dir / "a.txt"));
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
  CHECK(std::distance(std::filesystem::directory_iterator(tmp.path), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("html escaping") {
  CHECK(report::html_escape("<a href=\"x\">&</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
}
}

}  // namespace snnconv
