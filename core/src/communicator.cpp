// Packing of what ranks exchange (communicator.hpp).
#include "snnconv/core/communicator.hpp"

#include "snnconv/core/error.hpp"

namespace snnconv {

void BytesOut::put_bytes(const void* data, std::size_t n) {
  put<std::uint64_t>(n);
  bytes_.append(static_cast<const char*>(data), n);
}

void BytesOut::put_tensor(const Tensor& t) {
  put<std::uint8_t>(static_cast<std::uint8_t>(t.dtype()));
  put<std::uint32_t>(static_cast<std::uint32_t>(t.rank()));
  for (std::int64_t d : t.shape()) put<std::int64_t>(d);
  put_bytes(t.raw(), t.nbytes());
}

const char* BytesIn::take(std::size_t n) {
  if (n > bytes_.size() - at_) throw Error("message from another rank is truncated");
  const char* p = bytes_.data() + at_;
  at_ += n;
  return p;
}

std::string BytesIn::get_string() {
  const auto n = get<std::uint64_t>();
  const char* p = take(n);
  return std::string(p, n);
}

Tensor BytesIn::get_tensor() {
  const auto code = get<std::uint8_t>();
  if (code > static_cast<std::uint8_t>(DType::boolean)) throw Error("message from another rank holds an unknown dtype");
  const auto dtype = static_cast<DType>(code);
  const auto rank = get<std::uint32_t>();
  if (rank > 8) throw Error("message from another rank holds a tensor of rank above 8");
  Shape shape;
  for (std::uint32_t i = 0; i < rank; ++i) shape.push_back(get<std::int64_t>());
  Tensor t(dtype, shape);
  const auto n = get<std::uint64_t>();
  if (n != t.nbytes()) throw Error("message from another rank holds a tensor whose size does not match its shape");
  std::memcpy(t.raw(), take(n), n);
  return t;
}

void put_ledger(BytesOut& out, const Ledger& ledger) {
  out.put<std::uint64_t>(ledger.per_node.size());
  for (const Counters& c : ledger.per_node) out.put(c);
  out.put<std::uint64_t>(ledger.per_step.size());
  for (const Counters& c : ledger.per_step) out.put(c);
  out.put<std::uint64_t>(ledger.samples);
  out.put<std::uint64_t>(ledger.tokens);
}

void merge_ledger_from(BytesIn& in, Ledger& into) {
  Ledger other;
  const auto nodes = in.get<std::uint64_t>();
  if (nodes != into.per_node.size()) throw Error("another rank sent a ledger of another graph");
  other.per_node.resize(nodes);
  for (Counters& c : other.per_node) c = in.get<Counters>();
  const auto steps = in.get<std::uint64_t>();
  if (steps > (std::uint64_t{1} << 24)) throw Error("another rank sent a ledger of more than 2^24 steps");
  other.per_step.resize(steps);
  for (Counters& c : other.per_step) c = in.get<Counters>();
  other.samples = in.get<std::uint64_t>();
  other.tokens = in.get<std::uint64_t>();
  into.merge(other);
}

}  // namespace snnconv
