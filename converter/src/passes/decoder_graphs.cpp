#include "snnconv/converter/decoder.hpp"

#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"

namespace snnconv {

DecoderGraphCache::DecoderGraphCache(std::string onnx_path, std::int64_t batch)
    : path_(std::move(onnx_path)), batch_(batch) {
  const Graph raw = onnx_import::read_onnx(path_);
  for (ValueId v : raw.inputs()) {
    const TensorType& t = raw.value(v).type;
    if (!is_integer(t.dtype) || t.rank() != 2) continue;
    if (!t.dims[0].is_known()) batch_symbol_ = t.dims[0].symbol;
    if (!t.dims[1].is_known()) seq_symbol_ = t.dims[1].symbol;
    break;
  }
  if (seq_symbol_.empty())
    throw UnsupportedError("KV-cache decoding needs a token input [batch, seq] with a symbolic seq dim "
                           "(export with dynamic axes)",
                           {path_, {}, {}, {}});
}

const Graph& DecoderGraphCache::get(std::int64_t new_tokens) {
  auto it = graphs_.find(new_tokens);
  if (it != graphs_.end()) return *it->second;
  onnx_import::ImportOptions options;
  options.dims[seq_symbol_] = new_tokens;
  if (!batch_symbol_.empty()) options.dims[batch_symbol_] = batch_;
  auto g = std::make_unique<Graph>(onnx_import::import_onnx(path_, options));
  fuse_graph(*g);
  prepare_decoder(*g);
  return *graphs_.emplace(new_tokens, std::move(g)).first->second;
}

}  // namespace snnconv
