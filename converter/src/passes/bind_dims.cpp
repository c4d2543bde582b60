// The import-time dims binding rule (docs/onnx-import.md): explicit sizes first, `seq` from the model's
// own metadata, everything else 1, so that every model imports to static shapes without arguments.
#include <algorithm>
#include <charconv>

#include "snnconv/converter/passes.hpp"
#include "snnconv/core/shape_inference.hpp"

namespace snnconv {
namespace {

std::optional<std::int64_t> metadata_max_seq(const Graph& g) {
  auto it = g.metadata.find("snnconv.max_seq");
  if (it == g.metadata.end()) return std::nullopt;
  const std::string& text = it->second;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < 1 || v > kMaxDim)
    throw ParseError("metadata snnconv.max_seq='" + text + "' is not a positive dim", {g.source_file, {}, {}, {}});
  return v;
}

}  // namespace

std::vector<std::pair<std::string, std::int64_t>> bind_model_dims(
    Graph& g, const std::map<std::string, std::int64_t>& requested) {
  const ErrorContext ctx{g.source_file, {}, {}, {}};
  const std::vector<std::string> symbols = input_symbols(g);
  for (const auto& [name, size] : requested) {
    if (std::find(symbols.begin(), symbols.end(), name) == symbols.end()) {
      std::string known;
      for (const auto& s : symbols) known += (known.empty() ? "" : ", ") + s;
      throw UsageError("--dims names '" + name + "', but no input of the model has a dim of that name (" +
                           (known.empty() ? std::string("it has no symbolic dims") : "its symbolic dims: " + known) +
                           ")",
                       ctx);
    }
    if (size < 1 || size > kMaxDim)
      throw UsageError(
          "--dims " + name + "=" + std::to_string(size) + ": a dim must lie in [1, " + std::to_string(kMaxDim) + "]",
          ctx);
  }
  const std::optional<std::int64_t> max_seq = metadata_max_seq(g);
  std::vector<std::pair<std::string, std::int64_t>> bound;
  std::map<std::string, std::int64_t> all;
  std::string record;
  for (const auto& s : symbols) {
    std::int64_t size = 1;
    if (auto it = requested.find(s); it != requested.end())
      size = it->second;
    else if (s == "seq" && max_seq)
      size = *max_seq;
    bound.emplace_back(s, size);
    all[s] = size;
    record += (record.empty() ? "" : ",") + s + "=" + std::to_string(size);
  }
  if (!all.empty()) bind_dims(g, all);
  g.metadata["snnconv.bound_dims"] = record;
  return bound;
}

}  // namespace snnconv
