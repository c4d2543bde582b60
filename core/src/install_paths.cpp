// installed_data_path (install_paths.hpp): dladdr names the file this function was loaded from, which is the
// snnconv executable or the Python extension module, whichever the process runs.
#include "snnconv/core/install_paths.hpp"

#include <dlfcn.h>

#include <system_error>

namespace snnconv {

std::filesystem::path installed_data_path(std::string_view relative) {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<const void*>(&installed_data_path), &info) == 0 || info.dli_fname == nullptr)
    return {};
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::weakly_canonical(info.dli_fname, ec).parent_path();
  if (ec) return {};
  // bin/ (the executable) is one level below the prefix; lib/python3/dist-packages/snnconv/ (the module) four.
  for (int up = 0; up <= 5 && !dir.empty(); ++up) {
    const std::filesystem::path candidate = dir / "share" / "snnconv" / relative;
    if (std::filesystem::exists(candidate, ec)) return candidate;
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return {};
}

}  // namespace snnconv
