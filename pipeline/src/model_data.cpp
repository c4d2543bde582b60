// load_rows for .npz files, synthetic rows, and row slicing (model_data.hpp). HDF5 datasets: model_data_h5.cpp.
#include "snnconv/pipeline/model_data.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "model_data_detail.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/npz.hpp"

namespace snnconv::pipeline {

namespace detail {

std::string input_list(const Graph& g) {
  std::string out;
  for (ValueId v : g.inputs())
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", g.value(v).name, type_to_string(g.value(v).type));
  return out;
}

std::int64_t embedding_rows(const Graph& g, ValueId input) { return vocabulary_of(g, input); }

void check_tokens(const Tensor& ids, std::int64_t vocab, const std::string& file, const std::string& array) {
  if (vocab <= 0) return;
  const std::vector<std::int64_t> v = ids.to_i64();
  const std::int64_t per = ids.rank() >= 2 ? ids.numel() / std::max<std::int64_t>(ids.dim(0), 1) : 1;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || v[i] >= vocab)
      throw UsageError(fmt::format("array '{}' sample {} position {}: token {} is outside the embedding's {} rows", array,
                                   static_cast<std::int64_t>(i) / per, static_cast<std::int64_t>(i) % per, v[i], vocab),
                       {file, "", "", array});
}

void check_finite(const Tensor& t, const std::string& file, const std::string& array) {
  if (!is_float(t.dtype())) return;
  const std::vector<float> v = t.to_f32();
  const std::int64_t per = t.rank() >= 1 && t.dim(0) > 0 ? t.numel() / t.dim(0) : 1;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw UsageError(fmt::format("array '{}' holds {} at sample {}, element {} (flat index {}): the data must be finite",
                                   array, std::isnan(v[i]) ? "NaN" : v[i] > 0 ? "+Inf" : "-Inf",
                                   static_cast<std::int64_t>(i) / per, static_cast<std::int64_t>(i) % per, i),
                       {file, "", "", array});
}

Tensor to_input_dtype(const Tensor& a, const TensorType& t, const std::string& file, const std::string& array,
                      const std::string& input) {
  const ErrorContext ctx{file, "", "", array};
  if (a.dtype() == t.dtype) return a;
  if (is_float(a.dtype()) && !is_float(t.dtype))
    throw UsageError(fmt::format("array '{}' holds floats ({}), the input '{}' takes {}: save integers", array,
                                 dtype_name(a.dtype()), input, dtype_name(t.dtype)),
                     ctx);
  if (t.dtype == DType::boolean) {
    for (std::int64_t v : a.to_i64())
      if (v != 0 && v != 1)
        throw UsageError(fmt::format("array '{}' holds {}, the bool input '{}' takes 0 and 1 only", array, v, input), ctx);
  } else if (is_integer(t.dtype) && t.dtype != DType::i64) {
    const std::int64_t lo = t.dtype == DType::i8 ? -128 : t.dtype == DType::u8 ? 0 : INT32_MIN;
    const std::int64_t hi = t.dtype == DType::i8 ? 127 : t.dtype == DType::u8 ? 255 : INT32_MAX;
    for (std::int64_t v : a.to_i64())
      if (v < lo || v > hi)
        throw UsageError(fmt::format("array '{}' holds {}, outside the range of the input '{}' ({})", array, v, input,
                                     dtype_name(t.dtype)),
                         ctx);
  }
  return a.cast(t.dtype);
}

std::map<std::string, std::int64_t> fit_sample_shape(const Shape& data, const TensorType& t, const std::string& file,
                                                     const std::string& array, const std::string& input,
                                                     std::map<std::string, std::int64_t> dims) {
  const Shape per(data.begin() + (data.empty() ? 0 : 1), data.end());
  std::string model_per = "[";
  for (std::size_t k = 1; k < t.dims.size(); ++k)
    model_per += (k > 1 ? "," : "") + (t.dims[k].is_known() ? std::to_string(t.dims[k].value) : t.dims[k].symbol);
  model_per += "]";
  auto misfit = [&] {
    return UsageError(fmt::format("input '{}': the data's samples of shape {} (array '{}' is {}) do not fit the model "
                                  "input: it takes {} per sample ({}); the first axis counts samples, one per row",
                                  input, shape_to_string(per), array, shape_to_string(data), model_per,
                                  type_to_string(t)),
                      {file, "", "", array});
  };
  if (data.empty() || per.size() + 1 != t.dims.size()) throw misfit();
  for (std::size_t k = 1; k < t.dims.size(); ++k) {
    const std::int64_t have = per[k - 1];
    if (t.dims[k].is_known()) {
      if (have != t.dims[k].value) throw misfit();
      continue;
    }
    const auto [it, fresh] = dims.emplace(t.dims[k].symbol, have);
    if (!fresh && it->second != have)
      throw UsageError(fmt::format("input '{}': dim '{}' is {} here but {} in another array", input, t.dims[k].symbol,
                                   have, it->second),
                       {file, "", "", array});
  }
  return dims;
}

std::vector<std::int64_t> check_labels(const Tensor& labels, std::int64_t rows, const Graph& g, const std::string& file) {
  const ErrorContext ctx{file, "", "", "labels"};
  if (!is_integer(labels.dtype()))
    throw UsageError(fmt::format("array 'labels' holds {}, not integers (class indices)", dtype_name(labels.dtype())), ctx);
  if (labels.rank() != 1 || labels.dim(0) != rows)
    throw UsageError(fmt::format("array 'labels' has shape {}, expected [{}] (one class index per sample)",
                                 shape_to_string(labels.shape()), rows),
                     ctx);
  std::int64_t classes = 0;
  if (!g.outputs().empty()) {
    const TensorType& out = g.value(g.outputs()[0]).type;
    if (out.rank() == 2 && out.dims[1].is_known()) classes = out.dims[1].value;
  }
  std::vector<std::int64_t> v = labels.to_i64();
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || (classes > 0 && v[i] >= classes))
      throw UsageError(fmt::format("labels[{}] = {} is not a class of the model's {} outputs", i, v[i], classes), ctx);
  return v;
}

void stream_windows(RowSet& rs, const std::vector<std::int64_t>& tokens, std::int64_t seq, std::int64_t limit,
                    const TensorType& input) {
  const std::int64_t n = std::max<std::int64_t>(static_cast<std::int64_t>(tokens.size()) - 1, 0);
  const std::int64_t full = n / seq, tail = n - full * seq;
  std::int64_t windows = full + (tail > 0 ? 1 : 0);
  if (limit >= 0) windows = std::min(windows, limit);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(windows * seq), 0);
  rs.next.assign(static_cast<std::size_t>(windows * seq), -1);
  rs.lengths.assign(static_cast<std::size_t>(windows), seq);
  for (std::int64_t w = 0; w < windows; ++w) {
    const std::int64_t len = w < full ? seq : tail;
    rs.lengths[static_cast<std::size_t>(w)] = len;
    for (std::int64_t t = 0; t < len; ++t) {
      const auto at = static_cast<std::size_t>(w * seq + t);
      ids[at] = tokens[static_cast<std::size_t>(w * seq + t)];
      rs.next[at] = tokens[static_cast<std::size_t>(w * seq + t + 1)];
    }
  }
  rs.rows = windows;
  rs.seq = seq;
  rs.inputs.push_back(Tensor::from_vector<std::int64_t>({windows, seq}, ids).cast(input.dtype));
}

}  // namespace detail

namespace {

using namespace detail;

RowSet npz_rows(const ModelSource& src, const std::string& file, const RowRequest& req) {
  std::vector<std::pair<std::string, Tensor>> named;
  for (datasets::NpyArray& a : datasets::read_npz(file)) named.emplace_back(a.name, std::move(a.values));
  RowSet rs = rows_from_arrays(src, std::move(named), file, req);
  rs.kind = "npz";
  return rs;
}

}  // namespace

RowSet rows_from_arrays(const ModelSource& src, std::vector<std::pair<std::string, Tensor>> named,
                        const std::string& file, const RowRequest& req) {
  using namespace detail;
  const Graph& g = src.unbound;
  std::map<std::string, Tensor> arrays;
  std::vector<std::string> order;
  for (auto& [name, values] : named) {
    if (arrays.count(name)) throw UsageError(fmt::format("two arrays are named '{}'", name), {file, "", "", name});
    order.push_back(name);
    arrays.emplace(name, std::move(values));
  }
  std::vector<std::string> missing, extra;
  std::set<std::string> names;
  for (ValueId v : g.inputs()) {
    names.insert(g.value(v).name);
    if (!arrays.count(g.value(v).name)) missing.push_back(g.value(v).name);
  }
  for (const std::string& k : order)
    if (!names.count(k) && k != "labels") extra.push_back(k);
  if (!missing.empty() || !extra.empty()) {
    std::string what, keys;
    for (const auto& m : missing) what += fmt::format("{}no array for input '{}'", what.empty() ? "" : "; ", m);
    for (const auto& e : extra) what += fmt::format("{}array '{}' matches no input", what.empty() ? "" : "; ", e);
    for (const auto& k : order)
      keys += fmt::format("{}{} {}{}", keys.empty() ? "" : ", ", k, dtype_name(arrays.at(k).dtype()),
                          shape_to_string(arrays.at(k).shape()));
    throw UsageError(fmt::format("the arrays do not match the model's inputs: {}. The model's inputs: {}; the file's "
                                 "arrays: {}. Name each array after its input (np.savez(FILE, {}=..., labels=...))",
                                 what, input_list(g), keys.empty() ? "none" : keys, g.value(g.inputs()[0]).name),
                     {file, "", "", ""});
  }
  RowSet rs;
  rs.file = file;
  rs.kind = "arrays";
  rs.description = file;
  const int tok = src.token_input();
  // A language model's text as one token stream: a 1-D token array, cut into windows as an HDF5 split is.
  if (src.task == "language_model" && tok >= 0 && arrays.at(g.value(g.inputs()[tok]).name).rank() == 1) {
    const ValueId in = g.inputs()[static_cast<std::size_t>(tok)];
    const std::string name = g.value(in).name;
    if (g.inputs().size() != 1)
      throw UsageError(fmt::format("a 1-D token stream '{}' can feed a model with one input; this one has {} ({}): give "
                                   "one row per sample instead",
                                   name, g.inputs().size(), input_list(g)),
                       {file, "", "", name});
    const Tensor& a = arrays.at(name);
    if (!is_integer(a.dtype()))
      throw UsageError(fmt::format("array '{}' holds {}, not token ids", name, dtype_name(a.dtype())), {file, "", "", name});
    check_tokens(a, embedding_rows(g, in), file, name);
    const std::int64_t seq = req.seq > 0 ? req.seq : src.window;
    if (seq < 1) throw UsageError("a token stream needs a window: give --seq", {file, "", "", name});
    stream_windows(rs, a.to_i64(), seq, req.limit, g.value(in).type);
    if (!src.seq_symbol.empty()) rs.dims[src.seq_symbol] = seq;
    rs.description = fmt::format("{} (token stream of {} tokens, windows of {})", file, a.numel(), seq);
    return rs;
  }
  std::int64_t rows = -1;
  std::string first;
  for (ValueId v : g.inputs()) {
    const std::string& name = g.value(v).name;
    const Tensor& a = arrays.at(name);
    rs.dims = fit_sample_shape(a.shape(), g.value(v).type, file, name, name, rs.dims);
    if (rows >= 0 && a.dim(0) != rows)
      throw UsageError(fmt::format("array '{}' has {} samples, array '{}' {}: every array needs one row per sample",
                                   name, a.dim(0), first, rows),
                       {file, "", "", name});
    if (rows < 0) {
      rows = a.dim(0);
      first = name;
    }
  }
  if (!src.batch_symbol.empty()) rs.dims.erase(src.batch_symbol);
  const std::int64_t keep = req.limit >= 0 ? std::min(rows, req.limit) : rows;
  for (ValueId v : g.inputs()) {
    const std::string& name = g.value(v).name;
    const Tensor& a = arrays.at(name);
    check_finite(a, file, name);
    Tensor x = to_input_dtype(a, g.value(v).type, file, name, name);
    if (static_cast<int>(rs.inputs.size()) == tok) check_tokens(x, embedding_rows(g, v), file, name);
    rs.inputs.push_back(std::move(x));
  }
  rs.rows = rows;
  if (arrays.count("labels")) rs.labels = check_labels(arrays.at("labels"), rows, g, file);
  if (src.task == "language_model" && tok >= 0) {  // each row one sequence: position t predicts t + 1
    const Tensor& ids = rs.inputs[static_cast<std::size_t>(tok)];
    const std::int64_t T = ids.dim(1);
    const std::vector<std::int64_t> v = ids.to_i64();
    rs.seq = T;
    rs.next.assign(v.size(), -1);
    rs.lengths.assign(static_cast<std::size_t>(rows), T);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t t = 0; t + 1 < T; ++t)
        rs.next[static_cast<std::size_t>(r * T + t)] = v[static_cast<std::size_t>(r * T + t + 1)];
    if (!rs.labels.empty())
      throw UsageError("a language model's .npz holds token rows (position t is scored on token t + 1); 'labels' "
                       "has no meaning here",
                       {file, "", "", "labels"});
  }
  return head(rs, keep);
}

namespace {

// Box-Muller on the generator's raw 64-bit output: the same numbers with every standard library.
float normal(std::mt19937_64& rng) {
  const double u1 = (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace

RowSet load_rows(const ModelSource& src, const std::string& file, const RowRequest& request) {
  if (file.empty()) throw UsageError("no data: give --data FILE (.npz or .h5)", {src.model, "", "", ""});
  if (!std::filesystem::exists(file)) throw IoError("the data file does not exist", {file, "", "", ""});
  if (is_npz_path(file)) return npz_rows(src, file, request);
  return detail::h5_rows(src, file, request);
}

RowSet synthetic_rows(const ModelSource& src, std::int64_t rows, std::uint64_t seed) {
  const Graph& g = src.unbound;
  RowSet rs;
  rs.kind = "synthetic";
  rs.rows = rows;
  std::mt19937_64 rng(seed);
  std::string parts;
  for (ValueId v : g.inputs()) {
    const TensorType& t = g.value(v).type;
    Shape shape{rows};
    for (std::size_t k = 1; k < t.dims.size(); ++k) {
      std::int64_t d = t.dims[k].is_known() ? t.dims[k].value : 0;
      if (!t.dims[k].is_known()) {
        d = t.dims[k].symbol == src.seq_symbol && src.window > 0 ? src.window : 1;
        rs.dims[t.dims[k].symbol] = d;
      }
      shape.push_back(d);
    }
    const std::int64_t n = checked_numel(shape, "synthetic input '" + g.value(v).name + "'");
    const std::int64_t vocab = is_integer(t.dtype) ? embedding_rows(g, v) : 0;
    if (is_float(t.dtype)) {
      std::vector<float> x(static_cast<std::size_t>(n));
      for (float& f : x) f = normal(rng);
      rs.inputs.push_back(Tensor::from_vector<float>(shape, x).cast(t.dtype));
      parts += fmt::format("{}{} ~ N(0,1)", parts.empty() ? "" : ", ", g.value(v).name);
    } else if (vocab > 0) {
      std::vector<std::int64_t> x(static_cast<std::size_t>(n));
      for (std::int64_t& id : x) id = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(vocab));
      rs.inputs.push_back(Tensor::from_vector<std::int64_t>(shape, x).cast(t.dtype));
      parts += fmt::format("{}{} uniform over {} token ids", parts.empty() ? "" : ", ", g.value(v).name, vocab);
    } else {
      rs.inputs.push_back(Tensor::from_vector<std::int64_t>(shape, std::vector<std::int64_t>(static_cast<std::size_t>(n), 1))
                              .cast(t.dtype));
      parts += fmt::format("{}{} = 1", parts.empty() ? "" : ", ", g.value(v).name);
    }
  }
  if (!src.batch_symbol.empty()) rs.dims.erase(src.batch_symbol);
  rs.description = fmt::format("{} synthetic samples (seed {}: {})", rows, seed, parts);
  return rs;
}

void settle_window(ModelSource& src) {
  const std::string file = !src.calib_data.empty() ? src.calib_data : src.data;
  if (src.seq_symbol.empty() || src.window > 0 || file.empty() || !is_npz_path(file)) return;
  const RowSet peek = load_rows(src, file, RowRequest{"test", 1, 0});
  if (const auto it = peek.dims.find(src.seq_symbol); it != peek.dims.end()) src.window = it->second;
}

std::vector<Tensor> take_rows(const RowSet& rs, std::int64_t begin, std::int64_t count, std::int64_t padded) {
  if (count < 1 || begin < 0 || begin + count > rs.rows || padded < count)
    throw Error(fmt::format("take_rows: rows [{}, {}) padded to {} of {}", begin, begin + count, padded, rs.rows));
  std::vector<Tensor> out;
  for (const Tensor& x : rs.inputs) {
    Shape s = x.shape();
    const std::size_t row_bytes = x.nbytes() / static_cast<std::size_t>(std::max<std::int64_t>(x.dim(0), 1));
    s[0] = padded;
    Tensor t(x.dtype(), s);
    std::memcpy(t.raw(), x.raw() + static_cast<std::size_t>(begin) * row_bytes, static_cast<std::size_t>(count) * row_bytes);
    for (std::int64_t r = count; r < padded; ++r)  // repeat the last real row: valid data for any model
      std::memcpy(t.raw() + static_cast<std::size_t>(r) * row_bytes,
                  x.raw() + static_cast<std::size_t>(begin + count - 1) * row_bytes, row_bytes);
    out.push_back(std::move(t));
  }
  return out;
}

RowSet head(const RowSet& rs, std::int64_t count) {
  if (count >= rs.rows) return rs;
  RowSet out = rs;
  out.rows = std::max<std::int64_t>(count, 0);
  out.inputs.clear();
  if (out.rows > 0) {
    out.inputs = take_rows(rs, 0, out.rows, out.rows);
  } else {
    for (const Tensor& x : rs.inputs) {
      Shape s = x.shape();
      s[0] = 0;
      out.inputs.emplace_back(x.dtype(), s);
    }
  }
  if (!out.labels.empty()) out.labels.resize(static_cast<std::size_t>(out.rows));
  if (!out.next.empty()) out.next.resize(static_cast<std::size_t>(out.rows * rs.seq));
  if (!out.lengths.empty()) out.lengths.resize(static_cast<std::size_t>(out.rows));
  return out;
}

}  // namespace snnconv::pipeline
