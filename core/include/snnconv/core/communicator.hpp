// The ranks of a distributed run as the libraries see them: a rank number, a rank count, the two collectives
// the data-parallel paths need (root's bytes to everyone; everyone's bytes to root in rank order), and what the
// model-parallel SNN needs each step (bytes from one rank to another in order; an OR of flags over all ranks).
// The libraries never see MPI: the CLI implements this over MPI_COMM_WORLD (tools/src/mpi_world.cpp, the
// one file that includes <mpi.h>) and passes it down; a null Communicator* means one process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "snnconv/core/error.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv {

// One block of memory a rank sends to another rank, and the block the other rank receives it into (exchange).
struct SendBlock {
  int rank = 0;  // the receiver
  const void* data = nullptr;
  std::size_t bytes = 0;
};
struct ReceiveBlock {
  int rank = 0;  // the sender
  void* data = nullptr;
  std::size_t bytes = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Replaces `bytes` on every rank but root with root's bytes.
  virtual void broadcast(std::string& bytes, int root) = 0;
  // Root receives every rank's bytes in rank order (its own included); the others receive nothing.
  virtual std::vector<std::string> gather(const std::string& bytes, int root) = 0;
  // Point to point: `bytes` to rank `to`, received by receive(from, tag) there. Messages between two ranks
  // with one tag arrive in the order they were sent. send returns once `bytes` may be reused.
  virtual void send(int to, int tag, const std::string& bytes) = 0;
  virtual std::string receive(int from, int tag) = 0;
  // Every rank posts all its sends and receives at once and returns when all are done: data moves from the
  // sender's memory into the receiver's with no packing (the calibration values, megabytes per rank, go straight
  // into their merged place). The blocks between two ranks pair in list order, and each receive must be as large
  // as its send (both sides know the sizes beforehand; Error otherwise). A rank may list blocks to itself (copied).
  // Not counted in bytes_sent(); not to be mixed with send/receive messages in flight.
  virtual void exchange(const std::vector<SendBlock>& sends, const std::vector<ReceiveBlock>& receives) = 0;
  // Every rank's `flags` (the same length everywhere) become their element-wise OR over all ranks.
  virtual void all_or(std::vector<std::uint8_t>& flags) = 0;
  // Bytes this rank passed to send() so far (the model-parallel exchange volume, checked against the ledger).
  virtual std::uint64_t bytes_sent() const = 0;
};

// True when `comm` spans more than one process.
inline bool distributed(const Communicator* comm) { return comm != nullptr && comm->size() > 1; }

// Every rank's `v` becomes rank 0's (no-op for one process): the decisions that gate a later collective (whether a
// stage ran, how many samples it scored) are taken on rank 0's merged results and followed by every rank.
template <typename T> void agree_with_root(Communicator* comm, T& v);

// The static contiguous shard of `count` items that rank `rank` of `ranks` owns: [lo, hi), lo = rank * count /
// ranks (the split the SNN engine uses for its thread shards), so every K covers every item exactly once.
struct ShardRange {
  std::size_t lo = 0, hi = 0;
};
inline ShardRange shard_of(std::size_t count, int rank, int ranks) {
  const auto r = static_cast<std::size_t>(rank), k = static_cast<std::size_t>(ranks);
  return {r * count / k, (r + 1) * count / k};
}

// What ranks send each other: trivially copyable values and tensors packed back to back. Readers check every
// length against what is left, so a short message is an Error, never a read past the end.
class BytesOut {
 public:
  template <typename T> void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_bytes(const void* data, std::size_t n);
  void put_string(const std::string& s) { put_bytes(s.data(), s.size()); }
  template <typename T> void put_vector(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    put_bytes(v.data(), v.size() * sizeof(T));
  }
  void put_tensor(const Tensor& t);
  void reserve(std::size_t n) { bytes_.reserve(n); }  // a large message built without regrowing
  std::string& str() { return bytes_; }

 private:
  std::string bytes_;
};

class BytesIn {
 public:
  explicit BytesIn(const std::string& bytes) : bytes_(bytes) {}
  template <typename T> T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  const char* take(std::size_t n);
  std::string get_string();  // what put_string wrote
  template <typename T> std::vector<T> get_vector() {  // what put_vector wrote
    static_assert(std::is_trivially_copyable_v<T>);
    const auto n = static_cast<std::size_t>(get<std::uint64_t>());
    const char* p = take(n);  // checks the length before anything is allocated
    if (n % sizeof(T) != 0) throw Error("message from another rank holds a cut vector");
    std::vector<T> v(n / sizeof(T));
    if (n > 0) std::memcpy(v.data(), p, n);
    return v;
  }
  Tensor get_tensor();
  bool done() const { return at_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  std::size_t at_ = 0;
};

// A ledger's counters (per node, per step, samples, tokens) packed for rank 0, and added there to `into`
// (Ledger::merge; Error when the node count differs: another graph, or the message is malformed).
void put_ledger(BytesOut& out, const Ledger& ledger);
void merge_ledger_from(BytesIn& in, Ledger& into);

template <typename T> void agree_with_root(Communicator* comm, T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (!distributed(comm)) return;
  std::string bytes(reinterpret_cast<const char*>(&v), sizeof v);
  comm->broadcast(bytes, 0);
  if (bytes.size() != sizeof v) throw std::runtime_error("rank 0 sent a value of another size");
  std::memcpy(&v, bytes.data(), sizeof v);
}

}  // namespace snnconv
