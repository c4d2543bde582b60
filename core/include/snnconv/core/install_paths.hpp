// Where an installed snnconv finds its data files (hardware profiles, the plot script): beside the binary or the
// Python module that holds this code, never in the source tree (docs/python.md, "Installing").
//
// `cmake --install build --prefix P` lays out P/bin/snnconv, P/share/snnconv/{profiles,plot_report.py} and the
// Python package under P/lib/python3/dist-packages/snnconv. The code is linked into both the binary and the module,
// so it asks the dynamic loader which file it was loaded from and walks up from there.
#pragma once

#include <filesystem>
#include <string_view>

namespace snnconv {

// P/share/snnconv/<relative> for the first parent P of the loaded image (the executable or the Python extension,
// up to five folders up) where that path exists; empty when none has it (a build tree: callers then use the
// source path compiled in, so the build tree keeps working without installing).
std::filesystem::path installed_data_path(std::string_view relative);

}  // namespace snnconv
