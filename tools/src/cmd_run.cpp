// `snnconv run MODEL [--data FILE.h5|FILE.npz] [--split test] [--limit N] [--batch N] [--seq N] [--task T]
//  [--threads N] [--engine ann|qann|snn] [--calib-data FILE] [--save-outputs FILE.npz] [--reference] [--dims ...]
//  [--max-memory BYTES] [--json]`
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "json/run_json.hpp"
#include "options.hpp"
#include "mpi_world.hpp"
#include "progress.hpp"
#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/datasets/model_file.hpp"
#include "snnconv/datasets/nir_file.hpp"
#include "snnconv/datasets/npz.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::cli {

namespace {
struct RunOptions {
  pipeline::EvalOptions eval;
  std::string engine = "ann";
  std::string dims;
  std::uint64_t max_memory = 0;  // 0: physical memory
  std::string save_outputs;  // .npz of the raw outputs, one row per sample
  bool json = false;
  bool quiet = false;
  // qann / snn
  pipeline::QuantizeModelOptions quant;
  std::string clip = kDefaultClip;
  std::string mode = "strict";
  int max_steps = kDefaultMaxSteps;
  bool curve = false;
  bool check_exact = false;
  std::string record;
  std::vector<std::string> raster;
  std::int64_t record_samples = 16;
  Communicator* comm = nullptr;  // mpirun's ranks (mpi_world.hpp); null: one process
  std::string partition;         // snn model parallel: "K" or "chips"; empty: none
  std::string profile = "loihi"; // --partition: whose link energy (and chips) 
  NirCliOptions nir;
};

// --partition K|chips: the rank count K (chips: the job's), checked before anything is computed. A process
// started without mpirun is one rank: --partition 1 runs there (the placement and a zero exchange reported),
// anything more is refused, as is a K that differs from mpirun's rank count.
int partition_ranks(const RunOptions& o) {
  if (o.partition.empty()) return 0;
  const int job = o.comm ? o.comm->size() : 1;
  if (o.engine != "snn") throw UsageError("--partition splits the spiking network: it needs --engine snn");
  if (o.partition == "chips") return job;
  int k = 0;
  std::size_t used = 0;
  try {
    k = std::stoi(o.partition, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used != o.partition.size() || k < 1)
    throw UsageError("--partition must be a rank count >= 1 or 'chips', got '" + o.partition + "'");
  if (k != job)
    throw UsageError("--partition " + std::to_string(k) + " needs " + std::to_string(k) + " ranks, this job has " +
                     std::to_string(job) +
                     (o.comm ? "" : " (not started by mpirun" + std::string(mpi_built() ? ")" : "; this build has no MPI)")) +
                     ": run `mpirun -n " + std::to_string(k) + " snnconv run ... --partition " + std::to_string(k) + "`");
  return k;
}

// --max-memory: evaluate() binds the batch dim (and a language model's sequence dim) to what it runs and builds
// its engine itself; the CLI builds the same plan with the largest batch first and refuses it before any data
// is read.
void check_run_memory(const RunOptions& o, std::uint64_t max_bytes) {
  if (max_bytes == 0) return;
  pipeline::SourceOptions so;
  so.model = o.eval.model;
  so.task = o.eval.task;
  so.seq = o.eval.seq;
  so.data = o.eval.data;
  const pipeline::ModelSource src = pipeline::open_model(so);
  Graph g = src.bind(o.eval.batch, 0, o.eval.dims);
  if (o.eval.fuse) fuse_graph(g);
  check_plan_memory(g, max_bytes);
}

// --save-outputs: the raw outputs, one row per sample (padding dropped), named after the graph outputs; `lengths`
// holds the valid positions per row when a language model's last window is shorter.
void save_outputs(const std::string& path, const std::vector<std::string>& names, const std::vector<Tensor>& outputs,
                  const std::vector<std::int64_t>& lengths) {
  std::vector<std::pair<std::string, Tensor>> arrays;
  for (std::size_t k = 0; k < outputs.size() && k < names.size(); ++k) arrays.emplace_back(names[k], outputs[k]);
  if (!lengths.empty())
    arrays.emplace_back("lengths", Tensor::from_vector<std::int64_t>({static_cast<std::int64_t>(lengths.size())}, lengths));
  datasets::write_npz(path, arrays);
  fmt::print(stderr, "outputs     {} ({} arrays, {} rows)\n", path, arrays.size(),
             outputs.empty() || outputs[0].rank() == 0 ? 0 : outputs[0].dim(0));
}

void print_partition(const pipeline::PartitionReport& p, const Ledger& ledger, const pipeline::ChipGroups& chips,
                     const std::string& profile) {
  const snn::Placement& pl = p.placement;
  if (pl.method == "chips")
    fmt::print("partition   chips of {}: {} cores on {} chip{} of {} cores, chip c on rank c mod {}\n", profile,
               chips.cores, chips.chips, chips.chips == 1 ? "" : "s", chips.cores_per_chip, pl.ranks);
  else
    fmt::print("partition   {} rank{} balanced by synaptic work\n", pl.ranks, pl.ranks == 1 ? "" : "s");
  for (int r = 0; r < pl.ranks; ++r) {
    const auto k = static_cast<std::size_t>(r);
    fmt::print("  rank {}    {} units, work {:.3g}, state {:.1f} KiB per sample (one rank: {:.1f} KiB), sent {} B\n", r,
               pl.units[k], static_cast<double>(pl.work[k]), static_cast<double>(pl.state_bytes_per_sample[k]) / 1024.0,
               static_cast<double>(pl.whole_state_bytes_per_sample) / 1024.0, k < p.bytes_sent.size() ? p.bytes_sent[k] : 0);
  }
  const Counters t = ledger.total();
  fmt::print("exchange    {} events, {} B over {} sample-steps ({:.1f} B per sample-step); cut: {}\n", t.link_events,
             t.link_bytes, p.sample_steps,
             p.sample_steps > 0 ? static_cast<double>(t.link_bytes) / static_cast<double>(p.sample_steps) : 0.0,
             pl.cut_values.empty() ? std::string("none") : fmt::format("{}", fmt::join(pl.cut_values, ", ")));
}

int run_quantized(RunOptions& o) {
  o.quant.model = o.eval.model;
  o.quant.data = o.eval.data;
  o.quant.seq = o.eval.seq;
  o.quant.task = o.eval.task;
  o.quant.quant.clip = parse_clip_method(o.clip);
  o.quant.quant.threads = o.eval.threads;  // calibration's float passes too
  const int partition = partition_ranks(o);  // before calibration: a bad value costs nothing
  // --profile: a neuromorphic profile (UsageError otherwise), read before anything runs.
  const double link_pj_per_byte = partition > 0 ? hw::neuromorphic_chip(hw::find_profile(o.profile)).link_energy_per_byte_pj : 0.0;
  const bool from_file = datasets::is_model_file(o.eval.model);
  // Data parallel: the ranks calibrate their shards of the calibration samples, rank 0 chooses the steps and every
  // rank converts; then every rank reads its samples from its own --data and runs its shard.
  const pipeline::QuantizedModel m =
      from_file ? pipeline::load_quantized_model(o.eval.model, o.eval.data)
                : pipeline::quantize_jointly(o.comm, o.quant, [&] { return pipeline::prepare_model(o.quant); });
  const std::vector<pipeline::Sample> samples = pipeline::load_samples(m, o.eval.split, o.eval.limit);
  pipeline::SpikingRunOptions so;
  so.engine = o.engine == "qann" ? pipeline::SpikingEngine::qann : pipeline::SpikingEngine::snn;
  so.mode = o.mode == "burst" ? snn::FireMode::burst : snn::FireMode::strict;
  so.max_steps = o.max_steps;
  so.threads = o.eval.threads;  // 0: every core
  so.batch = static_cast<int>(std::clamp<std::int64_t>(o.eval.batch, 1, 1 << 20));
  so.max_memory_bytes = max_memory_or_physical(o.max_memory);
  so.curve = o.curve;
  so.check_exact = o.check_exact;
  so.record_path = o.record;
  so.raster = o.raster;
  so.record_samples = o.record_samples;
  so.keep_outputs = !o.save_outputs.empty();
  so.on_sample = sample_progress(o.quiet, o.engine + " ", m.task == "language_model" ? "windows" : "samples");
  if (!o.record.empty() && so.engine != pipeline::SpikingEngine::snn) throw UsageError("--record needs --engine snn");
  so.comm = o.comm;
  so.partition_ranks = partition;
  pipeline::ChipGroups chips;
  if (o.partition == "chips") {
    chips = pipeline::chip_groups(m.snn, hw::find_profile(o.profile));
    so.partition_groups = chips.node_chip;
  }
  const pipeline::SpikingRunResult r = pipeline::run_spiking(m, samples, so);
  if (!r.root) return 0;  // rank 0 reports for the job
  const bool snn = so.engine == pipeline::SpikingEngine::snn;
  if (!o.save_outputs.empty()) save_outputs(o.save_outputs, r.output_names, r.outputs, {});
  const std::string metric_line =
      r.metric.empty() ? fmt::format("{:<11} {} {} run (the data has no labels)", "not scored", r.samples,
                                     m.task == "language_model" ? "windows" : "samples")
                       : fmt::format("{:<11} {:.4f} on {} {}", r.metric, r.value, r.samples,
                                     m.task == "language_model" ? "windows" : "samples");
  // The exchanged bytes priced as chip-to-chip traffic on --profile (docs/energy-model.md, B_link x E_link).
  const double link_pj = link_pj_per_byte * static_cast<double>(r.ledger.total().link_bytes) /
                         static_cast<double>(std::max<std::uint64_t>(r.ledger.samples, 1));
  if (o.json) {
    nlohmann::json j = spiking_run_json(m, r, {o.eval.split, o.engine, o.mode, o.max_steps, o.check_exact, o.curve});
    if (r.partition) {
      j["partition"]["link_profile"] = o.profile;
      j["partition"]["link_energy_pj_per_inference"] = link_pj;
    }
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model       {}\n", m.model);
  fmt::print("data        {} (split {}, task {})\n", m.data, o.eval.split, m.task);
  fmt::print("quantized   {} (calibrated on {}, clip {}){}\n", m.bits_label(),
             m.calibration_description.empty() ? fmt::format("{} samples of '{}'", m.calibration_samples, m.calibration_split)
                                               : m.calibration_description,
             m.clip, from_file ? ", as the model file records" : "");
  fmt::print("engine      {}{}\n", o.engine, snn ? " (" + o.mode + ")" : "");
  fmt::print("{}\n", metric_line);
  if (snn) {
    fmt::print("steps       mean {:.1f}, max {} to quiescence ({} not quiescent by --max-steps {})\n", r.mean_steps,
               r.max_steps, r.not_quiescent, o.max_steps);
    fmt::print("per sample  {:.0f} spikes, {:.0f} synaptic ops\n", r.spikes_per_inference,
               r.synaptic_ops_per_inference);
    if (o.check_exact) fmt::print("exactness   {} output values differ from the QANN\n", r.output_mismatches);
    if (r.partition) {
      print_partition(*r.partition, r.ledger, chips, o.profile);
      fmt::print("link energy {:.4g} nJ per inference on {} (the exchanged bytes as chip-to-chip traffic)\n", link_pj / 1000.0,
                 o.profile);
    }
    if (o.curve) {
      fmt::print("{} by read-out step:", r.metric);
      for (std::size_t t = 0; t < r.curve.size(); ++t) fmt::print(" {}:{:.4f}", t + 1, r.curve[t]);
      fmt::print("\n");
    }
  }
  if (snn)
    fmt::print("time        {:.2f} s ({:.2f} s simulating on {} thread{})\n", r.seconds, r.snn_seconds, r.threads,
               r.threads == 1 ? "" : "s");
  else
    fmt::print("time        {:.2f} s\n", r.seconds);
  return 0;
}

int run_run(RunOptions& o) {
  if (is_nir_path(o.eval.model)) {
    if (distributed(o.comm))
      throw UsageError("a NIR file runs in one process: its samples are not sharded over mpirun's ranks yet");
    return run_nir_file(o.eval.model, o.eval.data, o.save_outputs, o.json, o.nir);
  }
  if (datasets::is_model_file(o.eval.model) && o.engine == "ann")
    throw UsageError("'" + o.eval.model + "' is an SNN model file: run it with --engine snn or --engine qann");
  if (o.engine == "qann" || o.engine == "snn") return run_quantized(o);
  o.eval.dims = parse_dims(o.dims);
  check_run_memory(o, max_memory_or_physical(o.max_memory));
  o.eval.keep_outputs = !o.save_outputs.empty();
  o.eval.progress = sample_progress(o.quiet, "ann ");
  o.eval.comm = o.comm;
  const pipeline::EvalResult r = pipeline::evaluate(o.eval);
  if (!r.root) return 0;  // rank 0 reports for the job
  if (!o.save_outputs.empty()) save_outputs(o.save_outputs, r.output_names, r.outputs, r.lengths);
  const Counters total = r.ledger.total();
  if (o.json) {
    const nlohmann::json j = ann_run_json(r, o.eval.split);
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model       {}\n", r.model);
  fmt::print("data        {} (task {})\n", r.data_description, r.task.empty() ? "unknown" : r.task);
  if (r.metric.empty())
    fmt::print("{:<11} {} {} run (the data has no labels)\n", "not scored", r.samples,
               r.task == "language_model" ? "windows" : "samples");
  else
    fmt::print("{:<11} {:.4f} on {} {}\n", r.metric, r.value, r.samples, r.task == "language_model" ? "windows" : "samples");
  for (const auto& [name, value] : r.extra) fmt::print("{:<11} {:.6g}\n", name, value);
  fmt::print("throughput  {:.1f} {}/s ({:.3f} s in the engine)\n", r.samples_per_s,
             r.task == "language_model" ? "windows" : "samples", r.seconds);
  const double per = r.ledger.samples > 0 ? static_cast<double>(r.ledger.samples) : 1.0;
  fmt::print("per sample  {:.0f} MACs, {:.0f} dense ops, {:.0f} nonlinear ops\n",
             static_cast<double>(total.total_macs()) / per, static_cast<double>(total.dense_ops) / per,
             static_cast<double>(total.nonlinear_ops) / per);
  return 0;
}
}  // namespace

void add_run(CLI::App& app, Action& action, Communicator* comm) {
  auto opts = std::make_shared<RunOptions>();
  opts->comm = comm;
  auto* cmd = app.add_subcommand("run", "Run a model on a dataset split: metric, throughput and (with --json) the "
                                        "per-layer ledger, on the dense engine (ann), the quantized integer "
                                        "reference (qann) or the spiking engine (snn). Scores classification "
                                        "(accuracy; ROC AUC with two classes), language_model (bits per byte) "
                                        "and vqa (exact match); program_synthesis not yet. Under mpirun (a build with MPI), every engine "
                                        "shards the samples over the ranks with results identical to one process "
                                        "(docs/scaling.md)");
  cmd->add_option("model", opts->eval.model,
                  "ONNX model file, or an SNN model file from `snnconv convert` (engines qann and snn; the "
                  "quantization options are then those stored in the file), or a NIR file (.nir: simulated with its "
                  "own neurons on --data's spikes, docs/nir.md)")
      ->required();
  cmd->add_option("--data", opts->eval.data,
                  "Data: an .npz with one array per model input named after it (first axis = samples, one per row "
                  "whatever the export's static batch; optional int 'labels'; a language model's token rows [N, T] or "
                  "one 1-D token stream) or an HDF5 dataset (.h5); default: the model's snnconv.data metadata "
                  "(docs/datasets.md, \"Your own data\")");
  cmd->add_option("--split", opts->eval.split, "HDF5 dataset split (an .npz has none)")->capture_default_str();
  cmd->add_option("--task", opts->eval.task,
                  "classification, language_model or vqa: override the model's snnconv.task metadata (without it the "
                  "task is inferred: float [B, C] output = classifier; int tokens in and [B, T, V] out = language model)");
  cmd->add_option("--save-outputs", opts->save_outputs,
                  "Write the raw outputs of the engine run (ann, qann or snn) to this .npz: one array per graph output "
                  "named after it, one row per sample, to compare with torch");
  add_limit_option(cmd, opts->eval.limit, "Score at most N samples (language models: windows), N >= 1; default: all");
  add_batch_option(cmd, opts->eval.batch, "Samples per forward pass (snn: at most this many per layer-synchronous pass and thread, fewer when a "
                  "pass's state would outgrow 4 MiB of cache)");
  cmd->add_option("--seq", opts->eval.seq, "Language models: window length (default: snnconv.max_seq)");
  add_threads_option(cmd, opts->eval.threads);
  add_engine_option(cmd, opts->engine,
                    "Engine: ann (dense, fp32 or the model's own QDQ), qann (post-training quantized, integer "
                    "reference) or snn (the QANN converted to spiking, event-driven). qann/snn: classification "
                    "and language-model data; snn: --batch samples per pass, --threads shards");
  add_quant_options(cmd,
                    {&opts->quant.quant.weight_bits, &opts->quant.quant.weight_group, &opts->quant.quant.act_bits,
                     &opts->clip, &opts->quant.calib_samples, &opts->quant.calib_split},
                    "qann/snn (ignored for a model file, which keeps its own): ");
  cmd->add_option("--calib-data", opts->quant.calib_data, "qann/snn: data to calibrate on (.npz or .h5); default: --data");
  add_snn_options(cmd, opts->mode, opts->max_steps, "snn: ");
  cmd->add_flag("--curve", opts->curve, "snn: the metric read at every step (accuracy vs timesteps)");
  cmd->add_flag("--check-exact", opts->check_exact, "snn: also run the QANN and count output bits that differ");
  cmd->add_option("--record", opts->record,
                  "snn: write per-step spike counts of every population to this HDF5 file (docs/spiking.md, "
                  "\"Recordings\")");
  cmd->add_option("--raster", opts->raster, "snn: populations (value names) whose every event is recorded too")
      ->delimiter(',');
  cmd->add_option("--record-samples", opts->record_samples, "snn: samples recorded (the first N)")
      ->capture_default_str();
  cmd->add_flag("--reference", opts->eval.reference_only, "Run every node with its reference kernel");
  cmd->add_flag_callback("--no-fuse", [opts] { opts->eval.fuse = false; },
                         "Run the imported graph as is, without operator fusion");
  cmd->add_option("--dims", opts->dims, "Sizes of other symbolic input dims, e.g. lang=3");
  add_max_memory_option(cmd, opts->max_memory,
                        "Refuse a model whose engine plan (weights + activations of one batch; snn: parameters + state "
                        "of the samples of a pass) needs more than BYTES (default: physical memory). snn: passes shrink "
                        "to what fits; one sample that does not fit is refused before allocation");
  cmd->add_flag("--json", opts->json, "Print the result with the per-layer ledger as JSON");
  add_quiet_flag(cmd, opts->quiet);
  cmd->add_option("--partition", opts->partition,
                  "snn, model parallel: split ONE spiking network over mpirun's K ranks as over neuromorphic chips, "
                  "exchanging the spike events that cross ranks each step (results identical to one process; "
                  "docs/scaling.md). K (= the rank count): units balanced by synaptic work; chips: the chips of "
                  "--profile's mapping, chip c on rank c mod K. Without mpirun only 1 runs. Not with --record, "
                  "nor in report or cascade." +
                      std::string(mpi_built() ? "" : " This build has no MPI: only --partition 1"));
  cmd->add_option("--profile", opts->profile,
                  "--partition: the neuromorphic profile whose chip-to-chip link energy prices the exchanged bytes "
                  "(and, with chips, whose chips place the units)")
      ->capture_default_str();
  add_nir_options(cmd, opts->nir);
  cmd->callback([opts, &action] { action = [opts] { return run_run(*opts); }; });
}

}  // namespace snnconv::cli
