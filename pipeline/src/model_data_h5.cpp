// load_rows for the project's HDF5 dataset layout (docs/datasets.md): classification inputs/labels, a language
// model's token stream, vqa images with prompt + answer bytes.
#include <fmt/format.h>

#include "model_data_detail.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/reader.hpp"

namespace snnconv::pipeline::detail {

namespace {

// The product of the input's dims after the batch; 0 when one is symbolic.
std::int64_t per_sample_numel(const TensorType& t) {
  std::int64_t n = 1;
  for (std::size_t k = 1; k < t.dims.size(); ++k) {
    if (!t.dims[k].is_known()) return 0;
    n *= t.dims[k].value;
  }
  return n;
}

Shape per_sample_shape(const TensorType& t) {
  Shape s;
  for (std::size_t k = 1; k < t.dims.size(); ++k) s.push_back(t.dims[k].value);
  return s;
}

void one_input(const Graph& g, const std::string& file, const std::string& task) {
  if (g.inputs().size() != 1)
    throw UsageError(fmt::format("an HDF5 {} dataset feeds a model with one input; this one has {} ({}): give the "
                                 "data as an .npz with one array per input",
                                 task, g.inputs().size(), input_list(g)),
                     {file, "", "", ""});
}

RowSet classification_rows(const ModelSource& src, const datasets::DatasetReader& reader, const std::string& split,
                           std::int64_t limit) {
  const Graph& g = src.unbound;
  const std::string file = reader.path().string();
  one_input(g, file, "classification");
  const TensorType& t = g.value(g.inputs()[0]).type;
  std::int64_t rows = reader.count(split);
  if (limit >= 0) rows = std::min(rows, limit);
  RowSet rs;
  rs.file = file;
  rs.kind = "hdf5";
  rs.description = fmt::format("split '{}' of {}", split, file);
  rs.rows = rows;
  const Shape per = per_sample_shape(t);
  if (rows == 0) {
    Shape s{0};
    s.insert(s.end(), per.begin(), per.end());
    rs.inputs.emplace_back(t.dtype, s);
    return rs;
  }
  const datasets::ClassificationBatch b = datasets::read_classification_batch(reader, split, 0, rows);
  // The stored rows may be laid out differently ([N,28,28] for an input [B,1,28,28]): equal sizes fit.
  const std::int64_t have = b.inputs.numel() / rows;
  if (per_sample_numel(t) != have) {
    const Shape stored(b.inputs.shape().begin() + 1, b.inputs.shape().end());
    throw UsageError(fmt::format("input '{}': the dataset's samples of shape {} ({} values) do not fit the model "
                                 "input: it takes {} per sample ({})",
                                 g.value(g.inputs()[0]).name, shape_to_string(stored), have, shape_to_string(per),
                                 type_to_string(t)),
                     {file, "", "", "/" + split + "/inputs"});
  }
  Shape s{rows};
  s.insert(s.end(), per.begin(), per.end());
  rs.inputs.push_back(to_input_dtype(b.inputs.reshaped(s), t, file, "/" + split + "/inputs", g.value(g.inputs()[0]).name));
  rs.labels = b.labels.to_i64();
  return rs;
}

RowSet stream_rows(const ModelSource& src, const datasets::DatasetReader& reader, const std::string& split,
                   const RowRequest& req) {
  const Graph& g = src.unbound;
  const std::string file = reader.path().string();
  one_input(g, file, "language_model");
  if (src.token_input() != 0)
    throw UsageError("a language-model dataset feeds an integer token input [batch, seq]; the model has " + input_list(g),
                     {file, "", "", ""});
  const std::int64_t seq = req.seq > 0 ? req.seq : src.window;
  if (seq < 1) throw UsageError("language model evaluation needs a window: give --seq (>= 1)", {src.model, "", "", ""});
  const std::int64_t total = reader.doc_offsets(split).back();
  const std::int64_t needed = req.limit >= 0 ? std::min(total, req.limit * seq + 1) : total;
  const std::vector<std::int64_t> tokens = reader.read_range(split, "tokens", 0, needed).to_i64();
  RowSet rs;
  rs.file = file;
  rs.kind = "hdf5";
  rs.description = fmt::format("split '{}' of {} (windows of {} bytes)", split, file, seq);
  stream_windows(rs, tokens, seq, req.limit, g.value(g.inputs()[0]).type);
  if (!src.seq_symbol.empty()) rs.dims[src.seq_symbol] = seq;
  return rs;
}

// Images / 255 and prompt + answer bytes zero-padded to the window; the logits at position p predict byte p + 1.
RowSet vqa_rows(const ModelSource& src, const datasets::DatasetReader& reader, const std::string& split,
                std::int64_t limit) {
  const Graph& g = src.unbound;
  const std::string file = reader.path().string();
  int image = -1, tokens = src.token_input();
  for (std::size_t i = 0; i < g.inputs().size(); ++i) {
    const TensorType& t = g.value(g.inputs()[i]).type;
    if (t.rank() == 4 && is_float(t.dtype)) image = static_cast<int>(i);
  }
  if (g.inputs().size() != 2 || image < 0 || tokens < 0)
    throw UnsupportedError("a vqa model needs exactly two inputs: an image [B,C,H,W] and tokens [B,seq]",
                           {src.model, "", "", ""});
  const std::int64_t seq = src.window;
  if (seq < 1) throw UsageError("a vqa model needs a window: give --seq", {src.model, "", "", ""});
  std::int64_t rows = reader.count(split);
  if (limit >= 0) rows = std::min(rows, limit);
  const TensorType& it = g.value(g.inputs()[static_cast<std::size_t>(image)]).type;
  const Tensor images = reader.read_rows(split, "images", 0, rows).cast(DType::f32);
  const std::vector<std::int64_t> pt = reader.read_rows(split, "prompt_tokens", 0, rows).to_i64();
  const std::vector<std::int64_t> pl = reader.read_rows(split, "prompt_lengths", 0, rows).to_i64();
  const std::vector<std::int64_t> at = reader.read_rows(split, "answer_tokens", 0, rows).to_i64();
  const std::vector<std::int64_t> al = reader.read_rows(split, "answer_lengths", 0, rows).to_i64();
  const std::int64_t n = std::max<std::int64_t>(rows, 1);
  const std::int64_t pw = static_cast<std::int64_t>(pt.size()) / n, aw = static_cast<std::int64_t>(at.size()) / n;
  const std::int64_t per = images.numel() / n;
  if (per != per_sample_numel(it))
    throw UsageError("vqa images do not fit the model's image input " + type_to_string(it), {src.model, "", "", ""});
  RowSet rs;
  rs.file = file;
  rs.kind = "hdf5";
  rs.description = fmt::format("split '{}' of {}", split, file);
  rs.rows = rows;
  rs.seq = seq;
  std::vector<float> img(static_cast<std::size_t>(rows * per));
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = images.data<float>()[i] / 255.0f;
  std::vector<std::int64_t> tok(static_cast<std::size_t>(rows * seq), 0);
  rs.next.assign(static_cast<std::size_t>(rows * seq), -1);
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    if (pl[ui] + al[ui] > seq || pl[ui] < 1 || al[ui] < 1)
      throw UsageError(fmt::format("vqa row {}: prompt+answer of {} bytes do not fit the window {}", i, pl[ui] + al[ui], seq),
                       {file, "", "", ""});
    for (std::int64_t j = 0; j < pl[ui]; ++j) tok[static_cast<std::size_t>(i * seq + j)] = pt[static_cast<std::size_t>(i * pw + j)];
    for (std::int64_t j = 0; j < al[ui]; ++j) {
      const std::int64_t b = at[static_cast<std::size_t>(i * aw + j)];
      tok[static_cast<std::size_t>(i * seq + pl[ui] + j)] = b;
      rs.next[static_cast<std::size_t>(i * seq + pl[ui] + j - 1)] = b;
    }
    rs.lengths.push_back(pl[ui] + al[ui]);
  }
  Shape is{rows};
  const Shape ps = per_sample_shape(it);
  is.insert(is.end(), ps.begin(), ps.end());
  rs.inputs.resize(2);
  rs.inputs[static_cast<std::size_t>(image)] = Tensor::from_vector<float>(is, img).cast(it.dtype);
  rs.inputs[static_cast<std::size_t>(tokens)] =
      Tensor::from_vector<std::int64_t>({rows, seq}, tok).cast(g.value(g.inputs()[static_cast<std::size_t>(tokens)]).type.dtype);
  if (!src.seq_symbol.empty()) rs.dims[src.seq_symbol] = seq;
  return rs;
}

}  // namespace

RowSet h5_rows(const ModelSource& src, const std::string& file, const RowRequest& req) {
  const datasets::DatasetReader reader(file);
  if (!reader.has_split(req.split)) throw UsageError(fmt::format("dataset has no split '{}'", req.split), {file, "", "", ""});
  const std::string task(datasets::task_name(reader.info().task));
  if (src.task_origin == "--task" && src.task != task)
    throw UsageError(fmt::format("the dataset's task is {}, the model's {} ({})", task, src.task, src.task_origin),
                     {file, "", "", ""});
  switch (reader.info().task) {
    case datasets::Task::classification: return classification_rows(src, reader, req.split, req.limit);
    case datasets::Task::language_model: return stream_rows(src, reader, req.split, req);
    case datasets::Task::vqa: return vqa_rows(src, reader, req.split, req.limit);
    case datasets::Task::program_synthesis: break;
  }
  throw UnsupportedError("scoring program_synthesis datasets in `snnconv run` is not implemented; `snnconv cascade` "
                         "scores pass@1 of program synthesis (docs/cascades.md)",
                         {file, "", "", ""});
}

}  // namespace snnconv::pipeline::detail
