// gather_shards (spiking_shards.hpp).
#include "spiking_shards.hpp"

#include "snnconv/core/error.hpp"

#include <algorithm>
#include <map>

namespace snnconv::pipeline::detail {

namespace {

std::string pack(const ShardRange& sh, const std::vector<snn::RunResult>& results,
                 const std::vector<std::vector<SampleScore>>& curves, const Ledger& ledger) {
  BytesOut out;
  out.put<std::uint64_t>(sh.lo);
  out.put<std::uint64_t>(sh.hi);
  for (std::size_t i = sh.lo; i < sh.hi; ++i) {
    const snn::RunResult& r = results[i];
    out.put<std::int32_t>(r.steps);
    out.put<std::int32_t>(r.last_event_step);
    out.put<std::uint8_t>(r.quiescent ? 1 : 0);
    out.put<std::uint32_t>(static_cast<std::uint32_t>(r.outputs.size()));
    for (const Tensor& t : r.outputs) out.put_tensor(t);
    out.put<std::uint64_t>(curves[i].size());
    for (const SampleScore& s : curves[i]) out.put(s);
  }
  put_ledger(out, ledger);
  return std::move(out.str());
}

void unpack(const std::string& bytes, int from, std::vector<snn::RunResult>& results,
            std::vector<std::vector<SampleScore>>& curves, Ledger& ledger) {
  BytesIn in(bytes);
  const auto lo = in.get<std::uint64_t>(), hi = in.get<std::uint64_t>();
  if (lo > hi || hi > results.size())
    throw Error("rank " + std::to_string(from) + " sent a shard outside the run's samples");
  for (std::size_t i = lo; i < hi; ++i) {
    snn::RunResult& r = results[i];
    r.steps = in.get<std::int32_t>();
    r.last_event_step = in.get<std::int32_t>();
    r.quiescent = in.get<std::uint8_t>() != 0;
    const auto n = in.get<std::uint32_t>();
    r.outputs.clear();
    for (std::uint32_t k = 0; k < n; ++k) r.outputs.push_back(in.get_tensor());
    const auto steps = in.get<std::uint64_t>();
    if (steps > bytes.size()) throw Error("rank " + std::to_string(from) + " sent a malformed curve");
    curves[i].resize(steps);
    for (SampleScore& s : curves[i]) s = in.get<SampleScore>();
  }
  merge_ledger_from(in, ledger);
  if (!in.done()) throw Error("rank " + std::to_string(from) + " sent trailing bytes");
}

}  // namespace

bool gather_shards(Communicator& comm, std::vector<snn::RunResult>& results,
                   std::vector<std::vector<SampleScore>>& curves, Ledger& ledger) {
  const ShardRange sh = shard_of(results.size(), comm.rank(), comm.size());
  const std::vector<std::string> all = comm.gather(pack(sh, results, curves, ledger), 0);
  if (comm.rank() != 0) return false;
  for (std::size_t k = 1; k < all.size(); ++k) unpack(all[k], static_cast<int>(k), results, curves, ledger);
  return true;
}

}  // namespace snnconv::pipeline::detail

namespace snnconv::pipeline {

namespace {

// The Error classes a model preparation can throw, as sent between ranks.
enum class ErrorKind : std::uint8_t { none, error, parse, graph, shape, unsupported, usage, limit, numeric, io };

ErrorKind kind_of(const Error& e) {
  if (dynamic_cast<const ParseError*>(&e)) return ErrorKind::parse;
  if (dynamic_cast<const GraphError*>(&e)) return ErrorKind::graph;
  if (dynamic_cast<const ShapeError*>(&e)) return ErrorKind::shape;
  if (dynamic_cast<const UnsupportedError*>(&e)) return ErrorKind::unsupported;
  if (dynamic_cast<const UsageError*>(&e)) return ErrorKind::usage;
  if (dynamic_cast<const LimitError*>(&e)) return ErrorKind::limit;
  if (dynamic_cast<const NumericError*>(&e)) return ErrorKind::numeric;
  if (dynamic_cast<const IoError*>(&e)) return ErrorKind::io;
  return ErrorKind::error;
}

[[noreturn]] void throw_as(ErrorKind k, const std::string& message, const ErrorContext& c) {
  switch (k) {
    case ErrorKind::parse: throw ParseError(message, c);
    case ErrorKind::graph: throw GraphError(message, c);
    case ErrorKind::shape: throw ShapeError(message, c);
    case ErrorKind::unsupported: throw UnsupportedError(message, c);
    case ErrorKind::usage: throw UsageError(message, c);
    case ErrorKind::limit: throw LimitError(message, c);
    case ErrorKind::numeric: throw NumericError(message, c);
    case ErrorKind::io: throw IoError(message, c);
    default: throw Error(message, c);
  }
}

}  // namespace

namespace {

void put_error(BytesOut& out, const Error& e) {
  out.put(kind_of(e));
  for (const std::string* f : {&e.message(), &e.context().file, &e.context().node, &e.context().op, &e.context().value})
    out.put_string(*f);
}

// Throws what put_error packed, when `in` starts with an error; reads the kind either way.
void rethrow_packed(BytesIn& in) {
  const auto kind = in.get<ErrorKind>();
  if (kind == ErrorKind::none) return;
  const std::string message = in.get_string();
  ErrorContext c;
  for (std::string* f : {&c.file, &c.node, &c.op, &c.value}) *f = in.get_string();
  throw_as(kind, message, c);
}

// What a rank's shard holds per quantization point, in skeleton order, and the shard's sample count: the sizes
// every owner needs before the values move.
struct ShardHeads {
  std::int64_t samples = 0;
  std::vector<PointStats> points;  // min, max, seen; values empty, their count in kept
  std::vector<std::uint64_t> kept;
};

void put_heads(BytesOut& out, const QannSkeleton& sk, const Calibration& part) {
  out.put(ErrorKind::none);
  out.put<std::int64_t>(part.samples);
  out.put<std::uint64_t>(sk.points.size());
  for (const QuantPoint& p : sk.points) {
    const PointStats& st = part.points.at(p.name);
    out.put(st.min);
    out.put(st.max);
    out.put<std::int64_t>(st.seen);
    out.put<std::uint64_t>(st.values.size());
  }
}

ShardHeads get_heads(BytesIn& in, std::size_t points, int from) {
  ShardHeads h;
  h.samples = in.get<std::int64_t>();
  if (in.get<std::uint64_t>() != points) throw Error("rank " + std::to_string(from) + " calibrated another skeleton");
  h.points.resize(points);
  h.kept.resize(points);
  for (std::size_t i = 0; i < points; ++i) {
    h.points[i].min = in.get<float>();
    h.points[i].max = in.get<float>();
    h.points[i].seen = in.get<std::int64_t>();
    h.kept[i] = in.get<std::uint64_t>();
  }
  return h;
}

void put_steps(BytesOut& out, const ActivationSteps& steps) {
  out.put<std::uint64_t>(steps.size());
  for (const auto& [name, q] : steps) {
    out.put_string(name);
    out.put<std::int32_t>(q.bits);
    out.put(q.n_min);
    out.put(q.n_max);
    out.put<std::int32_t>(q.axis);
    out.put<std::int32_t>(q.group_size);
    out.put_vector(q.scale);
    out.put_vector(q.zero_point);
  }
}

ActivationSteps get_steps(BytesIn& in) {
  ActivationSteps steps;
  const auto n = in.get<std::uint64_t>();
  for (std::uint64_t k = 0; k < n; ++k) {
    QuantParams& q = steps[in.get_string()];
    q.bits = in.get<std::int32_t>();
    q.n_min = in.get<std::int32_t>();
    q.n_max = in.get<std::int32_t>();
    q.axis = in.get<std::int32_t>();
    q.group_size = in.get<std::int32_t>();
    q.scale = in.get_vector<float>();
    q.zero_point = in.get_vector<std::int32_t>();
  }
  return steps;
}

// Which rank searches the steps of each point: contiguous runs of the skeleton's points of about equal search
// work (the values a point keeps, numel x samples up to max_values), a tie group with its first point. The same
// on every rank: it depends only on the skeleton, the sample count and the options.
std::vector<int> point_owners(const QannSkeleton& sk, std::int64_t samples, std::int64_t max_values, int ranks) {
  std::vector<std::int64_t> work(sk.points.size());
  std::int64_t all = 0;
  for (std::size_t i = 0; i < sk.points.size(); ++i) {
    std::int64_t n = 1;
    for (const Dim& d : sk.graph.value(sk.graph.find_value(sk.points[i].name)).type.dims) n *= std::max<std::int64_t>(d.value, 1);
    work[i] = std::max<std::int64_t>(1, std::min(n * std::max<std::int64_t>(samples, 1), max_values));
    all += work[i];
  }
  std::vector<int> owner(sk.points.size());
  std::map<int, int> tie_owner;
  std::int64_t before = 0;
  for (std::size_t i = 0; i < sk.points.size(); ++i) {
    owner[i] = static_cast<int>(std::min<std::int64_t>(ranks - 1, (2 * before + work[i]) * ranks / (2 * all)));
    before += work[i];
    if (sk.points[i].tie >= 0) owner[i] = tie_owner.try_emplace(sk.points[i].tie, owner[i]).first->second;
  }
  return owner;
}

}  // namespace

QuantizedModel quantize_jointly(Communicator* comm, const QuantizeModelOptions& options,
                                const std::function<QuantizedModel()>& prepare) {
  if (!distributed(comm)) {
    QuantizedModel m = prepare();
    quantize_prepared(m, options);
    return m;
  }
  // 1. Every rank: the model, its skeleton and the statistics of its contiguous shard of the calibration samples
  //    (calibrate_range: the whole run's subsampling positions), or its error.
  const int ranks = comm->size(), me = comm->rank();
  QuantizedModel m;
  QannSkeleton sk;
  Calibration part;
  std::vector<int> owner;
  std::string failed;  // this rank's error, packed
  try {
    m = prepare();
    sk = detail::quantization_skeleton(m);
    const std::vector<std::vector<Tensor>> inputs = detail::skeleton_calibration_inputs(m, sk, options);
    const ShardRange sh = shard_of(inputs.size(), me, ranks);
    part = calibrate_range(sk, inputs, static_cast<std::int64_t>(sh.lo), static_cast<std::int64_t>(sh.hi), options.quant);
    owner = point_owners(sk, static_cast<std::int64_t>(inputs.size()), options.quant.max_values, ranks);
  } catch (const Error& e) {
    BytesOut b;
    put_error(b, e);
    failed = std::move(b.str());
  }
  // 2. Every rank learns every shard's sizes (or the first failing rank's error, thrown on every rank alike).
  std::vector<ShardHeads> heads(static_cast<std::size_t>(ranks));
  {
    BytesOut out;
    if (failed.empty()) put_heads(out, sk, part);
    else out.str() = failed;
    const std::vector<std::string> all = comm->gather(out.str(), 0);
    BytesOut joined;
    for (const std::string& b : all) joined.put_string(b);
    comm->broadcast(joined.str(), 0);
    BytesIn in(joined.str());
    std::vector<std::string> each(static_cast<std::size_t>(ranks));
    for (std::string& b : each) b = in.get_string();
    if (!in.done()) throw Error("rank 0 sent trailing calibration bytes");
    std::vector<BytesIn> read(each.begin(), each.end());
    for (BytesIn& one : read) rethrow_packed(one);  // the first failing rank's error before any shard is read
    for (int k = 0; k < ranks; ++k) {
      BytesIn& one = read[static_cast<std::size_t>(k)];
      heads[static_cast<std::size_t>(k)] = get_heads(one, sk.points.size(), k);
      if (!one.done()) throw Error("rank " + std::to_string(k) + " sent trailing calibration bytes");
    }
  }
  // 3. The kept values of each point move once, straight into their place in the owner's merged statistics: the
  //    shards in rank order (= sample order: one process's statistics bit for bit, merge_calibration's folds).
  //    The owners then choose their points' steps, so the search divides over the ranks.
  Calibration cal;
  {
    std::vector<SendBlock> sends;
    std::vector<ReceiveBlock> receives;
    for (std::size_t i = 0; i < sk.points.size(); ++i) {
      std::vector<float>& mine_values = part.points.at(sk.points[i].name).values;
      if (owner[i] != me) {
        if (!mine_values.empty()) sends.push_back({owner[i], mine_values.data(), mine_values.size() * sizeof(float)});
        continue;
      }
      PointStats& st = cal.points[sk.points[i].name];
      std::uint64_t total = 0;
      for (int k = 0; k < ranks; ++k) {
        const ShardHeads& h = heads[static_cast<std::size_t>(k)];
        const PointStats& hk = h.points[i];
        st.min = k == 0 ? hk.min : std::min(st.min, hk.min);
        st.max = k == 0 ? hk.max : std::max(st.max, hk.max);
        st.seen += hk.seen;
        total += h.kept[i];
      }
      st.values.resize(total);
      std::size_t at = 0;
      for (int k = 0; k < ranks; ++k) {
        const std::uint64_t n = heads[static_cast<std::size_t>(k)].kept[i];
        if (k == me) std::copy(mine_values.begin(), mine_values.end(), st.values.begin() + static_cast<std::ptrdiff_t>(at));
        else if (n > 0) receives.push_back({k, st.values.data() + at, n * sizeof(float)});
        at += n;
      }
    }
    for (const ShardHeads& h : heads) cal.samples += h.samples;
    comm->exchange(sends, receives);
  }
  part = Calibration{};
  BytesOut reply;
  try {
    std::vector<bool> only(sk.points.size());
    for (std::size_t i = 0; i < sk.points.size(); ++i) only[i] = owner[i] == me;
    const ActivationSteps steps = choose_activation_steps(sk, cal, options.quant, &only);
    reply.put(ErrorKind::none);
    reply.put<std::int64_t>(cal.samples);
    put_steps(reply, steps);
  } catch (const Error& e) {
    reply = BytesOut();
    put_error(reply, e);
  }
  // 4. Rank 0 puts the steps together (the first error in rank order, the same on every owner) and sends them.
  const std::vector<std::string> replies = comm->gather(reply.str(), 0);
  BytesOut decision;
  if (me == 0) {
    try {
      ActivationSteps all;
      std::int64_t calibrated = 0;
      for (std::size_t k = 0; k < replies.size(); ++k) {
        BytesIn in(replies[k]);
        rethrow_packed(in);
        calibrated = in.get<std::int64_t>();  // every owner merged every rank's sample count
        ActivationSteps some = get_steps(in);
        if (!in.done()) throw Error("rank " + std::to_string(k) + " sent trailing step bytes");
        all.merge(some);
      }
      decision.put(ErrorKind::none);
      decision.put<std::int64_t>(calibrated);
      put_steps(decision, all);
    } catch (const Error& e) {
      decision = BytesOut();
      put_error(decision, e);
    }
  }
  // 5. Every rank applies the steps, quantizes the weights and converts: the same code on the same inputs, so the
  //    same graphs on every rank, with no model image to send or parse.
  comm->broadcast(decision.str(), 0);
  BytesIn in(decision.str());
  rethrow_packed(in);
  const auto calibrated = in.get<std::int64_t>();
  const ActivationSteps steps = get_steps(in);
  if (!in.done()) throw Error("rank 0 sent trailing step bytes");
  detail::finish_quantized(m, std::move(sk), calibrated, steps, options);
  return m;
}

}  // namespace snnconv::pipeline
