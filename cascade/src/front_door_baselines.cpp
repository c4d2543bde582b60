// The like-for-like dense baselines of the front door's SNN (front_door.hpp, run_baselines): the ANN as exported
// (fp32), W8A8, and the QANN at the SNN's own bits, each scored on the SNN's samples. Their prices come from
// price_pipeline; the comparison from find().
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "snnconv/ann_baseline/node_counts.hpp"
#include "snnconv/cascade/front_door.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace snnconv::cascade {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Counters repeated(const Counters& c, std::uint64_t n) {
  Counters out = c;
  for (std::size_t w = 0; w < kWidthSlots; ++w) {
    out.macs[w] *= n;
    out.acs[w] *= n;
  }
  for (std::uint64_t* v : {&out.neuron_updates, &out.spikes_pos, &out.spikes_neg, &out.burst_events, &out.dense_ops,
                           &out.nonlinear_ops, &out.timesteps, &out.link_events, &out.link_bytes})
    *v *= n;
  for (std::size_t m = 0; m < kMemClassCount; ++m) {
    out.bytes_read[m] *= n;
    out.bytes_written[m] *= n;
  }
  return out;
}

// What the dense engine counts for `samples` passes of a batch-1 graph (its counts depend on shapes only).
Ledger dense_counts(const Graph& g, std::uint64_t samples, const std::string& task) {
  Ledger l = Ledger::for_graph(g);
  for (std::uint32_t i = 0; i < g.num_nodes(); ++i) l.per_node[i] = repeated(ann::node_counts(g, NodeId(i)), samples);
  l.samples = samples;
  if (task == "language_model" && !g.inputs().empty()) {  // every window position is a token
    const TensorType& t = g.value(g.inputs()[0]).type;
    if (t.dims.size() >= 2 && t.dims[1].is_known()) l.tokens = samples * static_cast<std::uint64_t>(t.dims[1].value);
  }
  return l;
}

std::string bits_label(int weight_bits, int act_bits) {
  return act_bits > 0 ? fmt::format("W{}A{}", weight_bits, act_bits) : fmt::format("W{} mixed A", weight_bits);
}

}  // namespace

void run_baselines(const PipelineOptions& o, const pipeline::ModelSource& src, PipelineResult& r) {
  const auto t0 = Clock::now();
  r.baselines.clear();
  if (!r.snn) {
    r.stages.push_back(StageRecord{"baselines", "skipped", 0.0, "no SNN to compare with"});
    return;
  }
  const SnnSection& s = *r.snn;
  const auto n = static_cast<std::uint64_t>(std::max<std::int64_t>(s.samples, 0));
  const std::string task = r.model.task.empty() ? r.ann.task : r.model.task;

  AnnBaseline fp32;
  fp32.subject = "ann";
  fp32.label = "fp32";
  fp32.samples = s.samples;
  fp32.value = kNaN;
  if (r.ann.evaluated) {  // the ANN section scored more samples: score the SNN's alone
    pipeline::EvalOptions eo;
    eo.model = o.model;
    eo.data = o.data;
    eo.split = o.split;
    eo.limit = s.samples;
    eo.batch = o.batch;
    eo.threads = o.threads;
    eo.comm = o.comm;
    fp32.value = pipeline::evaluate(src, eo).value;  // bound from the one read of the file
  }
  r.baselines.push_back(std::move(fp32));

  std::string note;
  if (!(s.weight_bits == 8 && s.activation_bits == 8)) try {
    pipeline::QuantizeModelOptions qo;
    qo.model = o.model;
    qo.data = o.data;
    qo.calib_samples = o.calib_samples;
    qo.quant.weight_bits = 8;
    qo.quant.act_bits = 8;
    qo.quant.threads = o.threads;
    qo.synthetic_calibration = true;  // as the SNN stage: without data, synthetic calibration inputs
    // The fused graph: no second import; calibrated jointly by the ranks of a data-parallel run.
    pipeline::QuantizedModel m =
        pipeline::quantize_jointly(o.comm, qo, [&] { return pipeline::prepare_model(src, r.ann.graph, qo); });
    pipeline::SpikingRunOptions run;
    run.engine = pipeline::SpikingEngine::qann;
    run.comm = o.comm;
    AnnBaseline w8;
    w8.subject = "ann_w8a8";
    w8.label = "W8A8";
    w8.weight_bits = w8.act_bits = 8;
    w8.samples = s.samples;
    w8.value = pipeline::run_spiking(m, pipeline::load_samples(m, o.split, s.samples), run).value;
    w8.graph = m.qann;
    w8.ledger = dense_counts(w8.graph, n, task);
    note = fmt::format("W8A8 calibrated on {} samples of '{}'; ", m.calibration_samples, m.calibration_split);
    r.baselines.push_back(std::move(w8));
  } catch (const Error& e) {  // the SNN's bits quantized, these did not: compare with the others, say why
    if (!dynamic_cast<const UnsupportedError*>(&e) && !dynamic_cast<const UsageError*>(&e)) throw;
    note = std::string("no W8A8 baseline: ") + e.what() + "; ";
  }

  AnnBaseline q;
  q.subject = "ann_qann";
  q.label = bits_label(s.weight_bits, s.activation_bits);
  q.weight_bits = s.weight_bits;
  q.act_bits = s.activation_bits;
  q.snn_bits = true;
  q.samples = s.samples;
  q.value = s.qann_value;
  q.graph = s.qann;
  q.ledger = dense_counts(q.graph, n, task);
  r.baselines.push_back(std::move(q));

  std::string scores;
  for (const AnnBaseline& b : r.baselines)
    scores += fmt::format("{}{} {}", scores.empty() ? "" : ", ", b.label,
                          std::isnan(b.value) ? std::string("not scored") : fmt::format("{:.4f}", b.value));
  r.stages.push_back(StageRecord{"baselines", "done", std::chrono::duration<double>(Clock::now() - t0).count(),
                                 fmt::format("{}{} on the SNN's {} samples", note, scores, s.samples)});
}

}  // namespace snnconv::cascade
