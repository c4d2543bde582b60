// gather_shards (spiking_shards.hpp).
#include "spiking_shards.hpp"

#include "snnconv/core/error.hpp"

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

QuantizedModel quantize_on_root(Communicator* comm, const QuantizeModelOptions& options,
                                const std::function<QuantizedModel()>& make) {
  if (!distributed(comm)) return make();
  BytesOut out;
  QuantizedModel m;
  if (comm->rank() == 0) {
    try {
      m = make();
      out.put(ErrorKind::none);
      out.put_string(quantized_model_image(m, options, options.model));
    } catch (const Error& e) {
      out.put(kind_of(e));
      for (const std::string* f : {&e.message(), &e.context().file, &e.context().node, &e.context().op, &e.context().value})
        out.put_string(*f);
    }
  }
  comm->broadcast(out.str(), 0);
  BytesIn in(out.str());
  const auto kind = in.get<ErrorKind>();
  if (kind != ErrorKind::none) {
    const std::string message = in.get_string();
    ErrorContext c;
    for (std::string* f : {&c.file, &c.node, &c.op, &c.value}) *f = in.get_string();
    throw_as(kind, message, c);
  }
  if (comm->rank() == 0) return m;
  return quantized_model_from_image(in.get_string(), options.model + " (as quantized on rank 0)");
}

}  // namespace snnconv::pipeline
