// evaluate(): a model on its rows (model_data.hpp) through the dense engine, scored by its task.
#include "snnconv/pipeline/evaluate.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/core/finite.hpp"
#include "snnconv/pipeline/metrics.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "spiking_shards.hpp"

namespace snnconv::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

// One engine per binding (rows per run, sequence length).
struct Runner {
  Graph graph;
  std::unique_ptr<ann::Engine> engine;
  Ledger ledger;
};

// Adds a runner's ledger to the main one; graphs bound to other sizes normally have the same nodes, and when
// folding made them differ only the sample count is kept.
void merge_ledger(Ledger& into, const Ledger& from) {
  if (from.node_names == into.node_names) into.merge(from);
  else into.samples += from.samples;
}

// What a non-finite output message suggests checking: the sample's inputs are finite (the data reader refuses
// others), so the model overflowed on them or its weights did.
std::string overflow_hint(const Tensor& inputs, std::int64_t row) {
  if (inputs.dtype() != DType::f32 || inputs.rank() == 0) return {};
  const std::int64_t per = inputs.numel() / std::max<std::int64_t>(inputs.dim(0), 1);
  float largest = 0.0f;
  for (std::int64_t j = 0; j < per; ++j) largest = std::max(largest, std::fabs(inputs.data<float>()[row * per + j]));
  return fmt::format("its largest input magnitude is {:.3g}: the model overflows on inputs far outside the range it "
                     "was trained on", largest);
}

// -log p(next) in nats, summed over the scored positions [0, len) of one row of logits [len, V].
double row_nats(const float* logits, std::int64_t vocab, std::int64_t len, const std::int64_t* next,
                std::int64_t& scored) {
  for (std::int64_t t = 0; t < len; ++t) scored += next[t] >= 0;
  return cross_entropy_nats(std::span<const float>(logits, static_cast<std::size_t>(len * vocab)), vocab,
                            std::span<const std::int64_t>(next, static_cast<std::size_t>(len)));
}

// Inputs of a group cut to `len` positions along the sequence dim (inputs whose dim 1 is the source's seq symbol).
std::vector<Tensor> cut_to(const ModelSource& src, std::vector<Tensor> in, std::int64_t len) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    const TensorType& t = src.unbound.value(src.unbound.inputs()[i]).type;
    if (t.rank() < 2 || t.dims[1].is_known() || t.dims[1].symbol != src.seq_symbol || in[i].dim(1) == len) continue;
    Shape s = in[i].shape();
    const std::int64_t full = s[1];
    s[1] = len;
    Tensor cut(in[i].dtype(), s);
    const std::size_t inner = in[i].nbytes() / static_cast<std::size_t>(in[i].dim(0) * full);
    for (std::int64_t r = 0; r < s[0]; ++r)
      std::memcpy(cut.raw() + static_cast<std::size_t>(r * len) * inner,
                  in[i].raw() + static_cast<std::size_t>(r * full) * inner, static_cast<std::size_t>(len) * inner);
    in[i] = std::move(cut);
  }
  return in;
}

// Rows [0, count) of an output [rows, ...], zero-padded along dim 1 to `full` when it is shorter.
Tensor output_rows(const Tensor& out, std::int64_t count, std::int64_t full) {
  Shape s = out.shape();
  if (s.empty()) return out;
  const std::size_t row_bytes = out.nbytes() / static_cast<std::size_t>(std::max<std::int64_t>(s[0], 1));
  s[0] = count;
  const bool widen = s.size() >= 2 && full > s[1];
  const std::int64_t have = s.size() >= 2 ? s[1] : 0;
  if (widen) s[1] = full;
  Tensor r(out.dtype(), s);
  if (!widen) {
    std::memcpy(r.raw(), out.raw(), static_cast<std::size_t>(count) * row_bytes);
    return r;
  }
  const std::size_t inner = row_bytes / static_cast<std::size_t>(have);
  for (std::int64_t i = 0; i < count; ++i)
    std::memcpy(r.raw() + static_cast<std::size_t>(i * full) * inner, out.raw() + static_cast<std::size_t>(i) * row_bytes,
                row_bytes);
  return r;
}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  Shape s = parts.front().shape();
  s[0] = 0;
  for (const Tensor& p : parts) s[0] += p.dim(0);
  Tensor out(parts.front().dtype(), s);
  std::size_t at = 0;
  for (const Tensor& p : parts) {
    std::memcpy(out.raw() + at, p.raw(), p.nbytes());
    at += p.nbytes();
  }
  return out;
}

}  // namespace

EvalResult evaluate(const ModelSource& src, const EvalOptions& o) {
  if (o.batch < 1) throw UsageError(fmt::format("batch must be >= 1, got {}", o.batch));
  const std::string data = !o.data.empty() ? o.data : src.data;
  if (data.empty())
    throw UsageError("the model records no dataset (metadata snnconv.data): give one with --data (.npz or .h5)",
                     {o.model.empty() ? src.model : o.model, "", "", ""});
  return evaluate(src, load_rows(src, data, RowRequest{o.split, o.limit, o.seq}), o);
}

EvalResult evaluate(const ModelSource& src, const RowSet& rs, const EvalOptions& o) {
  if (o.batch < 1) throw UsageError(fmt::format("batch must be >= 1, got {}", o.batch));
  const std::string data = rs.file.empty() ? rs.description : rs.file;
  EvalResult res;
  res.model = src.model;
  res.data = data;
  res.data_description = rs.description;
  res.task = src.task;
  const bool lm = src.task == "language_model";
  const bool vqa = src.task == "vqa" && !rs.next.empty();
  const std::int64_t T = rs.seq;

  // One runner per (rows per run, length); the first one made is the main one (its kernels and ledger rows).
  std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<Runner>> runners;
  Runner* main = nullptr;
  auto runner_for = [&](std::int64_t rows, std::int64_t len) -> Runner& {
    auto& r = runners[{rows, len}];
    if (!r) {
      r = std::make_unique<Runner>();
      auto dims = rs.dims;
      for (const auto& [k, v] : o.dims) dims[k] = v;
      if (!src.seq_symbol.empty() && len > 0) dims[src.seq_symbol] = len;
      r->graph = src.bind(rows, len, dims);
      if (o.fuse) fuse_graph(r->graph);
      r->engine = std::make_unique<ann::Engine>(
          r->graph, ann::EngineOptions{.threads = o.threads, .reference_only = o.reference_only});
      r->ledger = Ledger::for_graph(r->graph);
      if (!main) main = r.get();
    }
    return *r;
  };

  const std::int64_t want = std::max<std::int64_t>(1, std::min(o.batch, std::max<std::int64_t>(rs.rows, 1)));
  const std::int64_t per_run = src.run_rows(want);
  const bool seq_symbolic = !src.seq_symbol.empty();
  auto length = [&](std::int64_t r) { return rs.lengths.empty() ? T : rs.lengths[static_cast<std::size_t>(r)]; };
  double seconds = 0.0;
  // The groups (forward passes): up to per_run rows; language models keep windows of one length together. A
  // symbolic batch gives a short group its own binding; a static batch is padded.
  struct Group {
    std::int64_t begin = 0, count = 0, len = 0, rows_run = 0;
  };
  std::vector<Group> groups;
  for (std::int64_t begin = 0; begin < rs.rows;) {
    std::int64_t count = std::min(per_run, rs.rows - begin);
    if (lm && !rs.lengths.empty())
      for (std::int64_t k = 1; k < count; ++k)
        if (length(begin + k) != length(begin)) {
          count = k;
          break;
        }
    std::int64_t len = T;
    if (seq_symbolic && T > 0) {
      len = 0;
      for (std::int64_t k = 0; k < count; ++k) len = std::max(len, length(begin + k));
    }
    const std::int64_t rows_run = src.static_batch > 0 ? src.static_batch : count;
    groups.push_back({begin, count, len, rows_run == per_run ? per_run : rows_run});
    begin += count;
  }
  // What a group contributes to the metrics, per row in row order, so that the sums are formed in one order
  // whether the groups ran here or on other ranks.
  struct GroupResult {
    std::int64_t correct = 0, exact = 0, scored = 0;
    std::vector<double> nats;             // language models: per row
    std::vector<float> positive_prob;     // two classes: per row
    std::vector<std::int64_t> auc_labels;
    std::vector<Tensor> kept;             // keep_outputs: per output, the group's real rows
  };
  auto run_group = [&](const Group& g) {
    GroupResult gr;
    Runner& r = runner_for(g.rows_run, g.len);
    std::vector<Tensor> in = take_rows(rs, g.begin, g.count, g.rows_run);
    if (seq_symbolic && T > 0) in = cut_to(src, std::move(in), g.len);
    const auto t0 = Clock::now();
    const std::vector<Tensor> out = r.engine->run(in, &r.ledger);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const Tensor logits = out.at(0).cast(DType::f32);
    const std::int64_t inner = logits.numel() / std::max<std::int64_t>(logits.dim(0), 1);
    {  // a metric of a non-finite output is undefined: refused naming the output, the sample and the element
      const Shape row_shape(logits.shape().begin() + 1, logits.shape().end());
      const std::string name = r.graph.outputs().empty() ? "" : r.graph.value(r.graph.outputs()[0]).name;
      for (std::int64_t k = 0; k < g.count; ++k)
        require_finite_output(std::span<const float>(logits.data<float>() + k * inner, static_cast<std::size_t>(inner)),
                              row_shape,
                              OutputSite{name,
                                         fmt::format("{} {} of {}", lm ? "window" : "sample", g.begin + k,
                                                     rs.kind == "hdf5" ? fmt::format("split '{}'", o.split) : rs.file),
                                         in.empty() ? "" : overflow_hint(in[0], k)},
                              {o.model.empty() ? src.model : o.model, "", "", name});
    }
    for (std::int64_t k = 0; k < g.count; ++k) {
      const std::int64_t row = g.begin + k;
      const float* p = logits.data<float>() + k * inner;
      if (!rs.labels.empty()) {
        const std::int64_t label = rs.labels[static_cast<std::size_t>(row)];
        if (label < 0 || label >= inner)
          throw UsageError(fmt::format("labels[{}] = {} is not a class of the model's {} outputs", row, label, inner),
                           {data, "", "", "labels"});
        gr.correct += argmax_row(std::span<const float>(p, static_cast<std::size_t>(inner))) == label;
        if (inner == 2) {
          gr.positive_prob.push_back(two_class_probability(p[0], p[1]));
          gr.auc_labels.push_back(label);
        }
      } else if (!rs.next.empty()) {
        const std::int64_t vocab = logits.shape().back();
        const std::int64_t positions = inner / vocab;
        const std::int64_t* next = rs.next.data() + row * T;
        if (vqa) {
          bool ok = true;
          bool any = false;
          for (std::int64_t t = 0; t < positions && ok; ++t)
            if (next[t] >= 0) {
              any = true;
              ok = argmax_row(std::span<const float>(p + t * vocab, static_cast<std::size_t>(vocab))) == next[t];
            }
          gr.exact += ok && any;
        } else {
          gr.nats.push_back(row_nats(p, vocab, std::min(positions, length(row)), next, gr.scored));
        }
      }
    }
    if (o.keep_outputs)
      for (const Tensor& x : out) gr.kept.push_back(output_rows(x, g.count, seq_symbolic ? T : 0));
    return gr;
  };
  std::int64_t correct = 0, exact = 0, scored_bytes = 0;
  double nats = 0.0;
  std::vector<float> positive_prob;  // two classes: softmax probability of class 1, for the ROC AUC
  std::vector<std::int64_t> auc_labels;
  std::vector<std::vector<Tensor>> kept;  // per group, per output
  auto add_group = [&](const Group& g, GroupResult gr) {
    correct += gr.correct;
    exact += gr.exact;
    scored_bytes += gr.scored;
    for (double v : gr.nats) nats += v;
    positive_prob.insert(positive_prob.end(), gr.positive_prob.begin(), gr.positive_prob.end());
    auc_labels.insert(auc_labels.end(), gr.auc_labels.begin(), gr.auc_labels.end());
    if (o.keep_outputs) kept.push_back(std::move(gr.kept));
    if (o.progress) o.progress(g.begin + g.count, rs.rows);
  };
  if (!distributed(o.comm)) {
    for (const Group& g : groups) add_group(g, run_group(g));
  } else {
    // Data parallel: a contiguous shard of the groups per rank (each group runs on the same binding as in one
    // process, so its outputs are the same bits); rank 0 adds every group's contributions in group order.
    if (!groups.empty()) (void)runner_for(groups[0].rows_run, groups[0].len);  // the main runner, as in one process
    const ShardRange sh = shard_of(groups.size(), o.comm->rank(), o.comm->size());
    BytesOut mine;
    for (std::size_t i = sh.lo; i < sh.hi; ++i) {
      const GroupResult gr = run_group(groups[i]);
      mine.put(gr.correct);
      mine.put(gr.exact);
      mine.put(gr.scored);
      mine.put<std::uint64_t>(gr.nats.size());
      for (double v : gr.nats) mine.put(v);
      mine.put<std::uint64_t>(gr.positive_prob.size());
      for (std::size_t k = 0; k < gr.positive_prob.size(); ++k) {
        mine.put(gr.positive_prob[k]);
        mine.put(gr.auc_labels[k]);
      }
      mine.put<std::uint32_t>(static_cast<std::uint32_t>(gr.kept.size()));
      for (const Tensor& t : gr.kept) mine.put_tensor(t);
    }
    for (auto& [key, r] : runners)  // the other bindings' ledgers, as the single process merges them below
      if (r.get() != main) {
        merge_ledger(main->ledger, r->ledger);
        r->ledger = Ledger::for_graph(r->graph);
      }
    put_ledger(mine, main ? main->ledger : Ledger{});
    const std::vector<std::string> all = o.comm->gather(mine.str(), 0);
    if (o.comm->rank() != 0) {
      EvalResult other;
      other.root = false;
      return other;
    }
    for (std::size_t k = 0; k < all.size(); ++k) {
      BytesIn in(all[k]);
      const ShardRange theirs = shard_of(groups.size(), static_cast<int>(k), o.comm->size());
      for (std::size_t i = theirs.lo; i < theirs.hi; ++i) {
        GroupResult gr;
        gr.correct = in.get<std::int64_t>();
        gr.exact = in.get<std::int64_t>();
        gr.scored = in.get<std::int64_t>();
        gr.nats.resize(static_cast<std::size_t>(std::min<std::uint64_t>(in.get<std::uint64_t>(), all[k].size())));
        for (double& v : gr.nats) v = in.get<double>();
        const auto n = std::min<std::uint64_t>(in.get<std::uint64_t>(), all[k].size());
        for (std::uint64_t j = 0; j < n; ++j) {
          gr.positive_prob.push_back(in.get<float>());
          gr.auc_labels.push_back(in.get<std::int64_t>());
        }
        const auto outs = in.get<std::uint32_t>();
        for (std::uint32_t j = 0; j < outs; ++j) gr.kept.push_back(in.get_tensor());
        add_group(groups[i], std::move(gr));
      }
      if (k > 0 && main) merge_ledger_from(in, main->ledger);
    }
  }
  res.samples = rs.rows;
  if (!rs.labels.empty()) {
    res.metric = "accuracy";
    res.value = rs.rows > 0 ? static_cast<double>(correct) / static_cast<double>(rs.rows) : 0.0;
    if (!positive_prob.empty()) {
      const double auc = roc_auc(positive_prob, auc_labels);
      if (!std::isnan(auc)) res.extra["roc_auc"] = auc;
    }
  } else if (vqa) {
    res.metric = "exact_match";
    res.value = rs.rows > 0 ? static_cast<double>(exact) / static_cast<double>(rs.rows) : 0.0;
  } else if (!rs.next.empty()) {
    res.metric = "bits_per_byte";
    res.value = scored_bytes > 0 ? nats / std::log(2.0) / static_cast<double>(scored_bytes) : 0.0;
    res.extra["bytes_scored"] = static_cast<double>(scored_bytes);
  }
  res.seconds = seconds;
  res.samples_per_s = seconds > 0 ? static_cast<double>(res.samples) / seconds : 0.0;
  if (main) {
    for (auto& [key, r] : runners)
      if (r.get() != main) merge_ledger(main->ledger, r->ledger);
    res.kernels = main->engine->kernel_names();
    for (ValueId v : main->graph.outputs()) res.output_names.push_back(main->graph.value(v).name);
    res.ledger = std::move(main->ledger);
    if (o.keep_graph) res.graph = main->graph;
  }
  if (o.keep_outputs && !kept.empty()) {
    for (std::size_t k = 0; k < kept.front().size(); ++k) {
      std::vector<Tensor> parts;
      for (const auto& g : kept) parts.push_back(g[k]);
      res.outputs.push_back(concat_rows(parts));
    }
    if (!rs.lengths.empty() && seq_symbolic) res.lengths = rs.lengths;
  }
  return res;
}

EvalResult evaluate(const EvalOptions& o) {
  if (o.batch < 1) throw UsageError(fmt::format("batch must be >= 1, got {}", o.batch));
  SourceOptions so;
  so.model = o.model;
  so.task = o.task;
  so.data = o.data;
  so.seq = o.seq;
  return evaluate(open_model(so), o);
}

}  // namespace snnconv::pipeline
