// Containment of libhdf5's own failures (docs/reliability.md, "The HDF5 probe"). Debian 12's libhdf5
// 1.10.8 crashes, spins or allocates gigabytes on some crafted files, inside H5Fopen/H5Aread, before
// snnconv sees any data. So DatasetReader and read_model_file first do the same reads in a forked child
// with a time limit and an address-space limit; only when the child survives does the process read the
// file itself (libhdf5 is deterministic on the same bytes). An snnconv error in the child (a file that is
// not HDF5, a broken layout) is thrown again in the process, same class, message and context, without the
// process opening the file. A child killed by a signal, a timeout or memory exhaustion becomes a
// ParseError naming the file:
//   "libhdf5 failed on this file (crashed with signal 11): the file is corrupt or not an HDF5 file
//    snnconv can read".
// Verdicts (errors included) are cached per (path, size, mtime, inode) for the life of the process.
// SNNCONV_HDF5_PROBE=0 in the environment turns the probe off (debugging libhdf5 under gdb only).
// Cost: one fork and a second pass over the file's data (a few ms for the bundled files).
#pragma once

#include <chrono>
#include <cstdint>

namespace snnconv::datasets {

// Forgets every cached verdict. For callers that rewrite one path again and again within the coarse
// mtime granularity (the fuzz harnesses).
void clear_hdf5_probe_cache();

// The limits of one probe of a file of `file_bytes` bytes: 10 s + 1 s per 16 MiB (the 10 s base is
// SNNCONV_HDF5_PROBE_SECONDS when set: the regression test of a hanging file uses 2), and 2 GiB + 8x the
// file size of address space on top of what the process already maps.
std::chrono::seconds hdf5_probe_time_limit(std::uintmax_t file_bytes);
std::uint64_t hdf5_probe_memory_limit_bytes(std::uintmax_t file_bytes);

}  // namespace snnconv::datasets
