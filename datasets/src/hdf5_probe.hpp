// Private: runs a reader's HDF5 reads in a forked child first (public side: snnconv/datasets/hdf5_probe.hpp).
#pragma once

#include <filesystem>
#include <functional>

namespace snnconv::datasets::detail {

// Runs `reads` (which opens `path` with libhdf5 and does every read the caller will do) in a forked child
// under the probe's time and address-space limits. Returns when the child finished its reads (or failed
// with a non-snnconv exception, which the caller then meets itself); throws the child's snnconv error
// (same class, message and context) when `reads` threw one, so that the caller never hands a file libhdf5
// rejects to libhdf5 again (its error paths leak); throws ParseError naming the file when libhdf5
// crashed, hung or ran out of memory in the child. A no-op inside a probe child, with
// SNNCONV_HDF5_PROBE=0, for a file that cannot be stat'ed (the real open reports it) and for a verdict
// already cached. `reads` must not use TBB or threads (after fork only the calling thread exists).
void probe_hdf5_file(const std::filesystem::path& path, const std::function<void()>& reads);

}  // namespace snnconv::datasets::detail
