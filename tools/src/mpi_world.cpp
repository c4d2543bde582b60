// MpiWorld over Open MPI (mpi_world.hpp). Compiled with SNNCONV_HAVE_MPI when CMake found MPI; without it the
// class only detects an mpirun launch and refuses it.
#include "mpi_world.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <thread>

#include "snnconv/core/error.hpp"

#ifdef SNNCONV_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: the deprecated C++ bindings need libmpi_cxx
#include <mpi.h>
#endif

namespace snnconv::cli {
namespace {

// The rank count mpirun announced, 0 when not started by mpirun.
int launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return std::getenv("PMIX_RANK") != nullptr ? 1 : 0;
}

#ifdef SNNCONV_HAVE_MPI
void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw IoError(std::string(what) + " failed: " + std::string(text, static_cast<std::size_t>(len)));
}

// Waits for a non-blocking collective without spinning: Open MPI's blocking collectives poll a core at 100%,
// and a rank that waits (the others while rank 0 calibrates; rank 0 while the others finish their shards) would
// take that core from the ranks still computing on a shared or oversubscribed machine. A 1 ms poll costs
// nothing against shards that run for seconds.
void wait_idle(MPI_Request& request, const char* what) {
  for (;;) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int count_of(std::size_t n, const char* what) {
  if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw LimitError(std::string(what) + ": a message above 2 GiB between ranks is not supported");
  return static_cast<int>(n);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    // exchange()'s blocks travel on a communicator of their own, so they never match send/receive's tags.
    check(MPI_Comm_dup(MPI_COMM_WORLD, &blocks_), "MPI_Comm_dup");
  }
  ~MpiCommunicator() override { MPI_Comm_free(&blocks_); }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void broadcast(std::string& bytes, int root) override {
    unsigned long long n = bytes.size();
    MPI_Request request;
    check(MPI_Ibcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD, &request), "MPI_Ibcast");
    wait_idle(request, "MPI_Ibcast");
    bytes.resize(static_cast<std::size_t>(n));
    check(MPI_Ibcast(bytes.data(), count_of(bytes.size(), "broadcast"), MPI_BYTE, root, MPI_COMM_WORLD, &request),
          "MPI_Ibcast");
    wait_short(request, "MPI_Ibcast");  // the root is here (it sent the size): see gather
  }
  std::vector<std::string> gather(const std::string& bytes, int root) override {
    const int mine = count_of(bytes.size(), "gather");
    std::vector<int> sizes(rank_ == root ? static_cast<std::size_t>(size_) : 0);
    MPI_Request request;
    check(MPI_Igather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, MPI_COMM_WORLD, &request), "MPI_Igather");
    wait_idle(request, "MPI_Igather");
    std::vector<int> offsets(sizes.size());
    std::size_t total = 0;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      offsets[k] = count_of(total, "gather");
      total += static_cast<std::size_t>(sizes[k]);
    }
    std::string all(total, '\0');
    count_of(total, "gather");
    check(MPI_Igatherv(bytes.data(), mine, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, root,
                       MPI_COMM_WORLD, &request),
          "MPI_Igatherv");
    // The data phase polls closely: a large message moves a fragment per MPI_Test, so 1 ms sleeps held a 10 MB
    // gather (the calibration shards) to about 50 MB/s. The size phase above took the wait for late ranks.
    wait_short(request, "MPI_Igatherv");
    std::vector<std::string> out;
    for (std::size_t k = 0; k < sizes.size(); ++k)
      out.emplace_back(all, static_cast<std::size_t>(offsets[k]), static_cast<std::size_t>(sizes[k]));
    return out;
  }
  // The model-parallel exchange runs many small messages per step: a rank waiting for its input spins on
  // MPI_Test for a moment (most messages are already there) and then yields its core in 50 us sleeps rather than
  // the 1 ms of wait_idle, which would add a millisecond per exchange.
  void send(int to, int tag, const std::string& bytes) override {
    MPI_Request request;
    check(MPI_Isend(bytes.data(), count_of(bytes.size(), "send"), MPI_BYTE, to, tag, MPI_COMM_WORLD, &request), "MPI_Isend");
    wait_short(request, "MPI_Isend");
    sent_ += bytes.size();
  }
  std::string receive(int from, int tag) override {
    MPI_Status status;
    int arrived = 0;
    for (int spin = 0; !arrived; ++spin) {
      check(MPI_Iprobe(from, tag, MPI_COMM_WORLD, &arrived, &status), "MPI_Iprobe");
      if (!arrived) pause(spin);
    }
    int n = 0;
    check(MPI_Get_count(&status, MPI_BYTE, &n), "MPI_Get_count");
    std::string bytes(static_cast<std::size_t>(n), '\0');
    check(MPI_Recv(bytes.data(), n, MPI_BYTE, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    return bytes;
  }
  // Every receive is posted before any send, then all complete together: with shared memory and CMA a large
  // block is one copy from the sender's pages into the receiver's.
  void exchange(const std::vector<SendBlock>& sends, const std::vector<ReceiveBlock>& receives) override {
    std::vector<MPI_Request> requests;
    requests.reserve(sends.size() + receives.size());
    for (const ReceiveBlock& b : receives) {
      requests.emplace_back();
      check(MPI_Irecv(b.data, count_of(b.bytes, "exchange"), MPI_BYTE, b.rank, 0, blocks_, &requests.back()), "MPI_Irecv");
    }
    for (const SendBlock& b : sends) {
      requests.emplace_back();
      check(MPI_Isend(b.data, count_of(b.bytes, "exchange"), MPI_BYTE, b.rank, 0, blocks_, &requests.back()),
            "MPI_Isend");
    }
    std::vector<MPI_Status> status(requests.size());
    wait_short(requests.data(), status.data(), static_cast<int>(requests.size()), "exchange");
    for (std::size_t k = 0; k < receives.size(); ++k) {
      int n = 0;
      check(MPI_Get_count(&status[k], MPI_BYTE, &n), "MPI_Get_count");
      if (static_cast<std::size_t>(n) != receives[k].bytes)
        throw Error("exchange: rank " + std::to_string(receives[k].rank) + " sent " + std::to_string(n) +
                    " bytes where " + std::to_string(receives[k].bytes) + " were expected");
    }
  }
  void all_or(std::vector<std::uint8_t>& flags) override {
    MPI_Request request;
    check(MPI_Iallreduce(MPI_IN_PLACE, flags.data(), count_of(flags.size(), "all_or"), MPI_UNSIGNED_CHAR, MPI_BOR,
                         MPI_COMM_WORLD, &request),
          "MPI_Iallreduce");
    wait_short(request, "MPI_Iallreduce");
  }
  std::uint64_t bytes_sent() const override { return sent_; }

 private:
  static void pause(int spin) {
    if (spin < 64)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  // Until all `n` requests are done (their statuses in `status`, or MPI_STATUSES_IGNORE).
  static void wait_short(MPI_Request* requests, MPI_Status* status, int n, const char* what) {
    for (int spin = 0;; ++spin) {
      int done = 0;
      check(MPI_Testall(n, requests, &done, status), what);
      if (done) return;
      pause(spin);
    }
  }
  static void wait_short(MPI_Request& request, const char* what) { wait_short(&request, MPI_STATUSES_IGNORE, 1, what); }
  int rank_ = 0, size_ = 1;
  MPI_Comm blocks_ = MPI_COMM_NULL;
  std::uint64_t sent_ = 0;
};
#endif

}  // namespace

bool mpi_built() {
#ifdef SNNCONV_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::string mpi_help_note() {
  return mpi_built() ? "Data parallel: `mpirun -n K snnconv run ...`, `mpirun -n K snnconv MODEL.onnx` (report) and `mpirun "
                       "-n K snnconv cascade ...` shard the samples over K ranks, results identical to one process; "
                       "`mpirun -n K snnconv run ... --engine snn --partition K` splits one spiking network over the "
                       "ranks (docs/scaling.md)"
                     : "This build has no MPI (CMake found none, or SNNCONV_MPI=OFF): runs use one process (and "
                       "`run --partition` only 1)";
}

MpiWorld::MpiWorld(int& argc, char**& argv) {
  const int ranks = launched_ranks();
  if (ranks == 0) return;
#ifdef SNNCONV_HAVE_MPI
  check(MPI_Init(&argc, &argv), "MPI_Init");
  comm_ = std::make_unique<MpiCommunicator>();
  // Rank 0 speaks for the job: the others' standard output (results, tables, --help) is dropped; their
  // standard error stays for their own failures.
  if (comm_->rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr)
    throw IoError("cannot silence the standard output of rank " + std::to_string(comm_->rank()));
#else
  if (ranks > 1)
    throw UsageError("started by mpirun with " + std::to_string(ranks) +
                     " ranks, but this snnconv was built without MPI (every rank would run the whole job): "
                     "rebuild with libopenmpi-dev installed (CMake SNNCONV_MPI=AUTO or ON)");
#endif
}

MpiWorld::~MpiWorld() {
#ifdef SNNCONV_HAVE_MPI
  if (comm_) {
    comm_.reset();  // its communicator is freed before MPI ends
    MPI_Finalize();
  }
#endif
}

void MpiWorld::abort(const std::string& message, int code) {
  if (comm_ && comm_->size() > 1)
    std::fprintf(stderr, "snnconv: error (rank %d of %d): %s\n", comm_->rank(), comm_->size(), message.c_str());
  else
    std::fprintf(stderr, "snnconv: error: %s\n", message.c_str());
  std::fflush(stderr);
#ifdef SNNCONV_HAVE_MPI
  if (comm_ && comm_->size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace snnconv::cli
