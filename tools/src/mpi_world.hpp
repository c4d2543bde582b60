// The process's place in an mpirun job (docs/scaling.md). This file pair is the only code that knows MPI:
// the libraries see the abstract snnconv::Communicator (core/communicator.hpp).
#pragma once

#include <memory>
#include <string>

#include "snnconv/core/communicator.hpp"

namespace snnconv::cli {

// Whether this binary was built with MPI (CMake SNNCONV_MPI, FindMPI).
bool mpi_built();
// One line for --help: how data-parallel runs are started, or that this build cannot.
std::string mpi_help_note();

// MPI_COMM_WORLD for the lifetime of the object: MPI_Init when the process was started by mpirun / mpiexec
// (Open MPI's OMPI_COMM_WORLD_SIZE or a PMIx rank in the environment), MPI_Finalize on destruction. comm() is
// null for a process started on its own (no MPI_Init: a plain `snnconv run` never touches MPI). A job of
// more than one rank in a build without MPI is refused (UsageError): every rank would run the whole job.
class MpiWorld {
 public:
  MpiWorld(int& argc, char**& argv);
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;
  Communicator* comm() { return comm_.get(); }
  // A failing rank: its message goes to stderr naming the rank, then every rank of the job ends with `code`
  // (MPI_Abort; mpirun exits non-zero). Rank 0 writes outputs only after every shard is back, and atomically,
  // so an abort leaves none.
  [[noreturn]] void abort(const std::string& message, int code);

 private:
  std::unique_ptr<Communicator> comm_;
};

}  // namespace snnconv::cli
