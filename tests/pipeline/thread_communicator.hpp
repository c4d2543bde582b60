// An in-process Communicator for tests: K threads of one test are the K ranks of a job, exchanging bytes
// through shared mailboxes and a barrier, so the code that runs between processes under mpirun also runs in
// doctest and in the sanitizer pass.
#pragma once

#include <condition_variable>
#include <cstring>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "snnconv/core/communicator.hpp"

namespace snnconv {

// What the threads of one job share: mailboxes keyed (from, to, tag) and a reusable barrier with one slot per rank.
struct Hub {
  explicit Hub(int n) : size(n), slots(static_cast<std::size_t>(n)) {}
  int size;
  std::mutex m;
  std::condition_variable cv;
  std::map<std::tuple<int, int, int>, std::deque<std::string>> mail;
  std::vector<std::string> slots;
  int arrived = 0;
  std::uint64_t generation = 0;
  void barrier() {
    std::unique_lock<std::mutex> lock(m);
    const std::uint64_t gen = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      cv.notify_all();
    } else {
      cv.wait(lock, [&] { return generation != gen; });
    }
  }
};

class ThreadCommunicator final : public Communicator {
 public:
  static constexpr int kExchangeTag = -1;  // apart from send/receive's tags
  ThreadCommunicator(Hub& hub, int rank) : hub_(hub), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return hub_.size; }
  void broadcast(std::string& bytes, int root) override {
    put(bytes);
    hub_.barrier();
    const std::string mine = hub_.slots[static_cast<std::size_t>(root)];
    hub_.barrier();
    bytes = mine;
  }
  std::vector<std::string> gather(const std::string& bytes, int root) override {
    put(bytes);
    hub_.barrier();
    std::vector<std::string> all;
    if (rank_ == root) all = hub_.slots;
    hub_.barrier();
    return all;
  }
  void send(int to, int tag, const std::string& bytes) override {
    {
      std::lock_guard<std::mutex> lock(hub_.m);
      hub_.mail[{rank_, to, tag}].push_back(bytes);
    }
    hub_.cv.notify_all();
    sent_ += bytes.size();
  }
  std::string receive(int from, int tag) override {
    std::unique_lock<std::mutex> lock(hub_.m);
    auto& box = hub_.mail[{from, rank_, tag}];
    hub_.cv.wait(lock, [&] { return !box.empty(); });
    std::string bytes = std::move(box.front());
    box.pop_front();
    return bytes;
  }
  void exchange(const std::vector<SendBlock>& sends, const std::vector<ReceiveBlock>& receives) override {
    {
      std::lock_guard<std::mutex> lock(hub_.m);
      for (const SendBlock& b : sends)
        hub_.mail[{rank_, b.rank, kExchangeTag}].emplace_back(static_cast<const char*>(b.data), b.bytes);
    }
    hub_.cv.notify_all();
    for (const ReceiveBlock& b : receives) {
      const std::string bytes = receive(b.rank, kExchangeTag);
      if (bytes.size() != b.bytes)
        throw Error("exchange: rank " + std::to_string(b.rank) + " sent " + std::to_string(bytes.size()) +
                    " bytes where " + std::to_string(b.bytes) + " were expected");
      if (b.bytes > 0) std::memcpy(b.data, bytes.data(), b.bytes);
    }
  }
  void all_or(std::vector<std::uint8_t>& flags) override {
    put(std::string(flags.begin(), flags.end()));
    hub_.barrier();
    std::vector<std::uint8_t> out(flags.size(), 0);
    for (const std::string& s : hub_.slots)
      for (std::size_t i = 0; i < out.size() && i < s.size(); ++i) out[i] |= static_cast<std::uint8_t>(s[i]);
    hub_.barrier();
    flags = out;
  }
  std::uint64_t bytes_sent() const override { return sent_; }

 private:
  void put(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(hub_.m);
    hub_.slots[static_cast<std::size_t>(rank_)] = bytes;
  }
  Hub& hub_;
  int rank_;
  std::uint64_t sent_ = 0;
};

}  // namespace snnconv
