// The extension `snnconv._snnconv` (docs/python.md): a thin binding over the library functions the CLI calls
// (pipeline::open_model / evaluate / quantize_model / run_spiking / save and load of the model file, and the JSON
// builders of tools/src/json). It converts numpy arrays to tensors and back, maps errors to one exception class per
// exit code and releases the GIL while the library works. No pipeline logic lives here.
// One translation unit on purpose: pybind11's headers are heavy (CI time, docs/python.md "Building").
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "json/inspect_json.hpp"
#include "json/nir_json.hpp"
#include "json/run_json.hpp"
#include "option_values.hpp"
#include "report/report.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/nir_export.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/core/error.hpp"
#include "snnconv/datasets/model_file.hpp"
#include "snnconv/datasets/nir_file.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"
#include "snnconv/pipeline/evaluate.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/pipeline/model_source.hpp"
#include "snnconv/pipeline/nir_model.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace py = pybind11;
using namespace snnconv;

namespace {

// ---- numpy <-> Tensor ------------------------------------------------------------------------------------------

// The tensor dtype of a numpy array, with the same widening the .npz reader applies (npz.hpp): float64 is rounded to
// float32, int16/uint16 widen to int32, uint32/uint64 to int64. Anything else is refused naming the array.
Tensor tensor_from_numpy(const py::array& a, const std::string& name) {
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  Shape shape(a.shape(), a.shape() + a.ndim());
  auto copy_as = [&](DType to, const py::dtype& np_to) {
    const py::array c = py::array::ensure(a.attr("astype")(np_to), py::array::c_style);
    Tensor t(to, shape);
    if (t.nbytes() != static_cast<std::size_t>(c.nbytes()))
      throw UsageError("array '" + name + "': size mismatch after conversion");
    if (t.nbytes() > 0) std::memcpy(t.raw(), c.data(), t.nbytes());
    return t;
  };
  if (kind == 'f' && size == 4) return copy_as(DType::f32, py::dtype::of<float>());
  if (kind == 'f' && size == 8) {  // as the .npy reader: a finite value float32 cannot hold is refused, not made Inf
    const py::array_t<double, py::array::c_style | py::array::forcecast> d(a);
    const double* p = d.data();
    for (py::ssize_t i = 0; i < d.size(); ++i)
      if (std::isfinite(p[i]) && std::fabs(p[i]) > static_cast<double>(std::numeric_limits<float>::max()))
        throw NumericError("element " + std::to_string(i) + " (" + std::to_string(p[i]) +
                               ") is outside float32's range",
                           {"", "", "", name});
    return copy_as(DType::f32, py::dtype::of<float>());
  }
  if (kind == 'f' && size == 2) return copy_as(DType::f16, py::dtype("float16"));
  if (kind == 'i' && size == 1) return copy_as(DType::i8, py::dtype::of<std::int8_t>());
  if (kind == 'u' && size == 1) return copy_as(DType::u8, py::dtype::of<std::uint8_t>());
  if ((kind == 'i' && (size == 2 || size == 4)) || (kind == 'u' && size == 2))
    return copy_as(DType::i32, py::dtype::of<std::int32_t>());
  if ((kind == 'i' && size == 8) || (kind == 'u' && size == 4)) return copy_as(DType::i64, py::dtype::of<std::int64_t>());
  if (kind == 'u' && size == 8) {
    if (a.size() > 0 && py::cast<std::uint64_t>(a.attr("max")()) > static_cast<std::uint64_t>(INT64_MAX))
      throw UnsupportedError("array '" + name + "' holds uint64 values above int64's range");
    return copy_as(DType::i64, py::dtype::of<std::int64_t>());
  }
  if (kind == 'b') return copy_as(DType::boolean, py::dtype::of<bool>());
  throw UnsupportedError("array '" + name + "' has numpy dtype " + dt.attr("name").cast<std::string>() +
                         ": give float, integer or bool arrays");
}

py::array numpy_from_tensor(const Tensor& t) {
  py::dtype dt;
  switch (t.dtype()) {
    case DType::f32: dt = py::dtype::of<float>(); break;
    case DType::f16: dt = py::dtype("float16"); break;
    case DType::i8: dt = py::dtype::of<std::int8_t>(); break;
    case DType::u8: dt = py::dtype::of<std::uint8_t>(); break;
    case DType::i32: dt = py::dtype::of<std::int32_t>(); break;
    case DType::i64: dt = py::dtype::of<std::int64_t>(); break;
    case DType::boolean: dt = py::dtype::of<bool>(); break;
  }
  py::array out(dt, std::vector<py::ssize_t>(t.shape().begin(), t.shape().end()));
  if (t.nbytes() > 0) std::memcpy(out.mutable_data(), t.raw(), t.nbytes());
  return out;
}

// {name: array} (or one array for a single-input model) as the named arrays an .npz would hold.
std::vector<std::pair<std::string, Tensor>> named_arrays(const py::object& inputs, const Graph& g, const char* what) {
  std::vector<std::pair<std::string, Tensor>> out;
  if (py::isinstance<py::dict>(inputs)) {
    for (const auto& [k, v] : inputs.cast<py::dict>()) {
      const std::string name = py::str(k);
      const py::array a = py::array::ensure(v);
      if (!a) throw UsageError(std::string(what) + ": the value of '" + name + "' is not an array");
      out.emplace_back(name, tensor_from_numpy(a, name));
    }
    return out;
  }
  if (g.inputs().size() != 1)
    throw UsageError(std::string(what) + ": the model has " + std::to_string(g.inputs().size()) +
                     " inputs: give a dict {input name: array}");
  const py::array a = py::array::ensure(inputs);
  if (!a) throw UsageError(std::string(what) + ": give a numpy array or a dict {input name: array}");
  const std::string name = g.value(g.inputs()[0]).name;
  out.emplace_back(name, tensor_from_numpy(a, name));
  return out;
}

py::object json_to_python(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

py::dict outputs_dict(const std::vector<std::string>& names, const std::vector<Tensor>& outputs) {
  py::dict d;
  for (std::size_t k = 0; k < outputs.size() && k < names.size(); ++k) d[py::str(names[k])] = numpy_from_tensor(outputs[k]);
  return d;
}

// ---- ledgers and pricing ----------------------------------------------------------------------------------------

// result["ledger"] of an ann or snn run: the run's ledger with the graph whose nodes are its rows, which is what
// pricing needs (hw::make_pricing_subject). Opaque in Python: snnconv.price(result["ledger"], profile=...).
struct PyLedger {
  std::string subject;                 // "ann", "snn" or "nir"
  std::shared_ptr<const Graph> graph;  // ann: the graph as run; snn: the model's SNN graph
  std::shared_ptr<const pipeline::QuantizedModel> keep;  // snn: owns `graph`
  Ledger ledger;
  std::shared_ptr<const pipeline::NirModel> nir;  // nir: the network the rows are the nodes of
};

// price(ledger, profile): `profile` a bundled name (loihi, truenorth, spinnaker2, systolic_int8, generic45 ...), a
// .json path, or "compute-only" (the E_MAC x MACs + E_AC x ACs convention). The dict report.json holds per price.
py::object price(const PyLedger& l, const std::string& profile) {
  nlohmann::json j;
  {
    py::gil_scoped_release release;
    if (l.nir) {  // pipeline::price_nir: the compute-only convention first, then the profile asked for
      const std::vector<hw::ProfilePrice> prices =
          pipeline::price_nir(*l.nir, l.ledger, profile == "compute-only" ? std::vector<std::string>{}
                                                                         : std::vector<std::string>{profile});
      j = cli::nir_price_json(profile == "compute-only" ? prices.front() : prices.back());
    } else {
      const hw::PricingSubject subject = hw::make_pricing_subject(l.subject, *l.graph, l.ledger);
      j = report::price_json(profile == "compute-only" ? hw::price_compute_only(subject)
                                                       : hw::price_on_profile(subject, hw::find_profile(profile)));
    }
  }
  return json_to_python(j);
}

// ---- NIR graphs (docs/nir.md): load, run on spike arrays, price ---------------------------------------------------

struct PyNir {
  std::shared_ptr<const pipeline::NirModel> model;
};

PyNir load_nir_model(const std::string& path, double dt, const std::string& method) {
  snn::NirOptions o;
  o.dt_s = dt;
  if (method == "euler") o.method = snn::NirMethod::euler;
  else if (method == "exact") o.method = snn::NirMethod::exact;
  else throw UsageError("method: '" + method + "' is not one of euler, exact");
  py::gil_scoped_release release;
  return PyNir{std::make_shared<const pipeline::NirModel>(pipeline::load_nir(path, o))};
}

// run(spikes [B, T, *input_shape] or [T, *input_shape]) -> (outputs [B, T, *output_shape], result dict): the
// result holds the summed counters ("total", as `snnconv run F.nir --json`) and the ledger for price().
py::tuple run_nir_model(const PyNir& n, const py::array& spikes) {
  const Tensor x = tensor_from_numpy(spikes, "spikes");
  PyLedger ledger;
  ledger.subject = "nir";
  ledger.nir = n.model;
  Tensor out;
  {
    py::gil_scoped_release release;
    pipeline::NirRun r = pipeline::run_nir(*n.model, x);
    out = std::move(r.outputs);
    ledger.ledger = std::move(r.ledger);
  }
  py::dict result;
  result["total"] = json_to_python(cli::nir_totals_json(ledger.ledger));
  result["ledger"] = py::cast(std::move(ledger));
  return py::make_tuple(numpy_from_tensor(out), result);
}

// ---- option checks: the CLI's ranges and choices (option_values.hpp), refused with the CLI's exit class -------

void check_range(const char* name, int v, int lo, int hi) {
  if (v < lo || v > hi)
    throw UsageError(std::string(name) + ": " + std::to_string(v) + " not in range [" + std::to_string(lo) + " - " +
                     std::to_string(hi) + "]");
}

void check_choice(const char* name, const std::string& v, std::initializer_list<const char*> choices) {
  std::string list;
  for (const char* c : choices) {
    if (v == c) return;
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  throw UsageError(std::string(name) + ": '" + v + "' is not one of " + list);
}

struct QuantArgs {
  int act_bits = cli::kDefaultActBits;
  int weight_bits = 8;
  int weight_group = 0;
  std::string clip = cli::kDefaultClip;
  std::int64_t calib_samples = 64;
};

pipeline::QuantizeModelOptions quantize_options(const std::string& model, const std::string& data,
                                                const std::string& task, std::int64_t seq, const QuantArgs& q) {
  check_range("act_bits", q.act_bits, cli::kMinActBits, cli::kMaxActBits);
  check_range("weight_bits", q.weight_bits, cli::kMinWeightBits, cli::kMaxWeightBits);
  if (q.weight_group < 0) throw UsageError("weight_group: must be >= 0");
  if (q.calib_samples < 1) throw UsageError("calib_samples: must be >= 1");
  pipeline::QuantizeModelOptions o;
  o.model = model;
  o.data = data;
  o.task = task;
  o.seq = seq;
  o.calib_samples = q.calib_samples;
  o.quant.act_bits = q.act_bits;
  o.quant.weight_bits = q.weight_bits;
  o.quant.weight_group = q.weight_group;
  o.quant.clip = parse_clip_method(q.clip);
  o.quant.threads = 0;  // calibration on every core (the model does not depend on it)
  return o;
}

// ---- the model object ------------------------------------------------------------------------------------------

// One Python `Model`: an ONNX model read once (source), or a quantized one (quantize(), to_snn(), an .snn.h5).
struct PyModel {
  std::string path;
  std::map<std::string, std::int64_t> dims;
  std::optional<pipeline::ModelSource> source;  // ONNX
  std::shared_ptr<const pipeline::QuantizedModel> quantized;
  pipeline::QuantizeModelOptions quant_options;  // what quantized was made with (save() records it)
  std::string default_engine = "ann";

  bool is_quantized() const { return quantized != nullptr; }
};

PyModel load_model(const std::string& path, const std::map<std::string, std::int64_t>& dims, const std::string& task,
                   std::int64_t seq, const std::string& data) {
  PyModel m;
  m.path = path;
  m.dims = dims;
  py::gil_scoped_release release;
  if (datasets::is_model_file(path)) {
    m.quantized = std::make_shared<const pipeline::QuantizedModel>(pipeline::load_quantized_model(path, data));
    m.default_engine = "snn";
    return m;
  }
  pipeline::SourceOptions so;
  so.model = path;
  so.task = task;
  so.data = data;
  so.seq = seq;
  m.source = pipeline::open_model(so);
  return m;
}

py::object inspect(const PyModel& m, bool fused) {
  nlohmann::json j;
  {
    py::gil_scoped_release release;
    if (m.is_quantized()) {
      j = cli::inspect_model_file_json(m.path, *m.quantized);
    } else {
      // `snnconv inspect`: the file imported with the dims given (unbound ones: the importer's defaults).
      onnx_import::ImportOptions io;
      io.dims = m.dims;
      Graph g = onnx_import::import_onnx(m.path, io);
      nlohmann::json fusions;
      if (fused) fusions = fuse_graph(g).per_pattern;
      j = cli::inspect_graph_json(m.path, g, fusions);
    }
  }
  return json_to_python(j);
}

std::shared_ptr<const pipeline::RowSet> rows_of(const PyModel& m, const py::object& arrays, const char* what) {
  std::vector<std::pair<std::string, Tensor>> named = named_arrays(arrays, m.is_quantized() ? m.quantized->qann : m.source->unbound, what);
  py::gil_scoped_release release;
  const pipeline::ModelSource src = m.is_quantized() ? pipeline::source_of(*m.quantized) : *m.source;
  return std::make_shared<const pipeline::RowSet>(
      pipeline::rows_from_arrays(src, std::move(named), std::string("the arrays given to ") + what, {}));
}

PyModel quantize(const PyModel& m, const py::object& calib, const QuantArgs& q) {
  if (m.is_quantized()) throw UsageError("this model is already quantized ('" + m.path + "')");
  if (calib.is_none()) throw UsageError("quantize: give calibration arrays (calib=array or {input name: array})");
  pipeline::QuantizeModelOptions o = quantize_options(m.path, m.source->data, m.source->task, m.source->window, q);
  o.calib_rows = rows_of(m, calib, "quantize()");
  PyModel out;
  out.path = m.path;
  out.dims = m.dims;
  out.quant_options = o;
  out.default_engine = "qann";
  py::gil_scoped_release release;
  // quantize_model without its file read: the source is the one load() opened (pipeline::prepare_model).
  pipeline::ModelSource src = *m.source;
  if (!src.seq_symbol.empty() && src.window == 0)
    throw UsageError("the model's sequence length is symbolic: give the window with load(..., seq=N)", {m.path, "", "", ""});
  Graph canonical = src.bind(1);
  fuse_graph(canonical);
  pipeline::QuantizedModel qm = pipeline::prepare_model(src, std::move(canonical), o);
  pipeline::quantize_prepared(qm, o);
  out.quantized = std::make_shared<const pipeline::QuantizedModel>(std::move(qm));
  out.quant_options.calib_rows.reset();  // the arrays are not kept alive by the model
  return out;
}

struct RunArgs {
  std::string engine;  // "": the model's default
  std::int64_t batch = 64;
  int threads = 0;
  bool reference = false;
  bool fuse = true;
  std::string mode = "strict";
  int max_steps = cli::kDefaultMaxSteps;
  bool check_exact = false;
  bool curve = false;
  bool record = false;
  std::int64_t record_samples = -1;  // < 0: every sample
  std::vector<std::string> raster;
};

// run(record=True): the recording `--record FILE.h5` writes (datasets/recording_file.hpp), as numpy arrays.
py::dict recording_dict(const datasets::RecordingFile& rec) {
  py::dict d;
  d["populations"] = rec.populations;
  d["neurons"] = py::array_t<std::int64_t>(static_cast<py::ssize_t>(rec.neurons.size()), rec.neurons.data());
  d["raster_names"] = rec.raster_names;
  py::list samples;
  for (const auto& s : rec.samples) {
    const auto T = static_cast<py::ssize_t>(s.spikes_pos.size());
    const auto L = static_cast<py::ssize_t>(rec.populations.size());
    py::array_t<std::uint64_t> pos({T, L}), neg({T, L});
    for (py::ssize_t t = 0; t < T; ++t)
      for (py::ssize_t l = 0; l < L; ++l) {
        pos.mutable_at(t, l) = s.spikes_pos[static_cast<std::size_t>(t)][static_cast<std::size_t>(l)];
        neg.mutable_at(t, l) = s.spikes_neg[static_cast<std::size_t>(t)][static_cast<std::size_t>(l)];
      }
    py::dict one;
    one["index"] = s.index;
    one["steps"] = s.steps;
    one["spikes_pos"] = pos;
    one["spikes_neg"] = neg;
    py::dict raster;
    for (std::size_t r = 0; r < s.raster.size() && r < rec.raster_names.size(); ++r) {
      const auto E = static_cast<py::ssize_t>(s.raster[r].size() / 3);
      py::array_t<std::int32_t> ev({E, py::ssize_t{3}});
      if (E > 0) std::memcpy(ev.mutable_data(), s.raster[r].data(), s.raster[r].size() * sizeof(std::int32_t));
      raster[py::str(rec.raster_names[r])] = ev;
    }
    one["raster"] = raster;
    samples.append(one);
  }
  d["samples"] = samples;
  return d;
}

py::tuple run(const PyModel& m, const py::object& inputs, const RunArgs& a, const py::object& calib, const QuantArgs& q) {
  const std::string engine = a.engine.empty() ? m.default_engine : a.engine;
  check_choice("engine", engine, {"ann", "qann", "snn"});
  check_choice("mode", a.mode, {"strict", "burst"});
  if (a.batch < 1) throw UsageError("batch: must be >= 1");
  if (a.threads < 0) throw UsageError("threads: must be >= 0");
  if (a.max_steps < 1) throw UsageError("max_steps: must be >= 1");
  if (a.record && engine != "snn") throw UsageError("record=True needs engine='snn'");
  if (!a.raster.empty() && !a.record) throw UsageError("raster needs record=True");
  if (m.is_quantized() && engine == "ann")
    throw UsageError("'" + m.path + "' is an SNN model file: run it with --engine snn or --engine qann");
  const std::shared_ptr<const pipeline::RowSet> rows = rows_of(m, inputs, "run()");
  if (engine == "ann") {
    pipeline::EvalOptions eo;
    eo.model = m.path;
    eo.batch = a.batch;
    eo.threads = a.threads;
    eo.reference_only = a.reference;
    eo.fuse = a.fuse;
    eo.dims = m.dims;
    eo.keep_outputs = true;
    eo.keep_graph = true;
    pipeline::EvalResult r;
    {
      py::gil_scoped_release release;
      r = pipeline::evaluate(*m.source, *rows, eo);
    }
    py::object result = json_to_python(cli::ann_run_json(r, ""));
    result["ledger"] = PyLedger{"ann", std::make_shared<const Graph>(std::move(r.graph)), nullptr, std::move(r.ledger)};
    return py::make_tuple(outputs_dict(r.output_names, r.outputs), result);
  }
  // qann / snn: an ONNX model is quantized first, on `calib` (default: the run's own arrays, as `snnconv run
  // --engine snn` calibrates on --data when no --calib-data is given).
  PyModel qm;
  const PyModel* use = &m;
  if (!m.is_quantized()) {
    qm = quantize(m, calib.is_none() ? inputs : calib, q);
    use = &qm;
  }
  pipeline::SpikingRunOptions so;
  so.engine = engine == "qann" ? pipeline::SpikingEngine::qann : pipeline::SpikingEngine::snn;
  so.mode = a.mode == "burst" ? snn::FireMode::burst : snn::FireMode::strict;
  so.max_steps = a.max_steps;
  so.threads = a.threads;
  so.batch = static_cast<int>(std::clamp<std::int64_t>(a.batch, 1, 1 << 20));
  so.curve = a.curve;
  so.check_exact = a.check_exact;
  so.keep_outputs = true;
  so.keep_recording = a.record;
  so.raster = a.raster;
  so.record_samples = a.record_samples < 0 ? std::numeric_limits<std::int64_t>::max() : a.record_samples;
  pipeline::SpikingRunResult r;
  {
    py::gil_scoped_release release;
    r = pipeline::run_spiking(*use->quantized, pipeline::group_samples(*use->quantized, *rows), so);
  }
  const nlohmann::json j = cli::spiking_run_json(*use->quantized, r, {"", engine, a.mode, a.max_steps, a.check_exact, a.curve});
  py::object result = json_to_python(j);
  if (a.record) result["recording"] = recording_dict(r.recording);
  if (engine == "snn")
    result["ledger"] = PyLedger{"snn", std::shared_ptr<const Graph>(use->quantized, &use->quantized->snn), use->quantized,
                                std::move(r.ledger)};
  return py::make_tuple(outputs_dict(r.output_names, r.outputs), result);
}

void save(const PyModel& m, const std::string& path) {
  if (!m.is_quantized())
    throw UsageError("save() writes an SNN model file (.snn.h5): quantize the model first (m.quantize(calib=...))");
  py::gil_scoped_release release;
  pipeline::save_quantized_model(*m.quantized, m.quant_options, path);
}

// `snnconv export FILE --format nir --out path`: the SNN as one NIR graph (docs/nir.md, "Export").
void save_nir(const PyModel& m, const std::string& path) {
  if (!m.is_quantized())
    throw UsageError("save_nir() writes the SNN as NIR: quantize the model first (m.quantize(calib=...)) or load an .snn.h5");
  py::gil_scoped_release release;
  datasets::write_nir_file(path, nir_export::to_nir(m.quantized->snn, m.path).graph);
}

// `snnconv MODEL.onnx --out DIR`: the whole pipeline (cascade::run_pipeline) and the report folder, as the CLI writes
// it (report::write_report_folder). Returns report.json's content.
struct ReportArgs {
  std::string out, data, calib_data, task, split = "test";
  std::int64_t seq = 0, samples = 1000, snn_samples = 200;
  std::vector<std::string> profiles;
  int act_bits = cli::kDefaultActBits, weight_bits = 8, threads = 0;
  bool snn = true, plots = true, sensitivity = true;
};

py::object write_report(const std::string& model, const ReportArgs& a) {
  if (a.out.empty()) throw UsageError("report: give the output folder (out=DIR)");
  check_range("act_bits", a.act_bits, cli::kMinActBits, cli::kMaxActBits);
  check_range("weight_bits", a.weight_bits, cli::kMinWeightBits, cli::kMaxWeightBits);
  cascade::PipelineOptions p;
  p.model = model;
  p.data = a.data;
  p.calib_data = a.calib_data;
  p.task = a.task;
  p.seq = a.seq;
  p.split = a.split;
  p.samples = a.samples;
  p.snn_samples = a.snn_samples;
  p.profiles = a.profiles;
  p.act_bits = a.act_bits;
  p.weight_bits = a.weight_bits;
  p.threads = a.threads;
  p.snn = a.snn;
  if (!a.sensitivity) p.sensitivity_factors.clear();
  nlohmann::json j;
  {
    py::gil_scoped_release release;
    const cascade::PipelineResult r = cascade::run_pipeline(p);
    j = report::write_report_folder(r, a.out, a.plots).json;
  }
  return json_to_python(j);
}

// ---- errors ----------------------------------------------------------------------------------------------------

// Exception classes live as long as the interpreter; pybind11's translators need them from a plain function.
struct ExceptionClasses {
  PyObject* runtime = nullptr;
  PyObject* usage = nullptr;
  PyObject* unsupported = nullptr;
};
ExceptionClasses g_exceptions;  // set once at import (the module's own state, not shared with the library)

PyObject* make_exception(py::module_& m, const char* name, PyObject* base, int exit_code, const char* doc) {
  PyObject* cls = PyErr_NewExceptionWithDoc((std::string("snnconv.") + name).c_str(), doc, base, nullptr);
  if (cls == nullptr) throw py::error_already_set();
  PyObject_SetAttrString(cls, "exit_code", py::int_(exit_code).ptr());
  m.add_object(name, py::handle(cls));
  return cls;
}

}  // namespace

PYBIND11_MODULE(_snnconv, mod) {
  mod.doc() = "snnconv's C++ library (docs/python.md); use the package `snnconv`.";
  mod.attr("__version__") = "0.1.0";
  PyObject* base = make_exception(mod, "Error", PyExc_Exception, 1,
                                  "Base of snnconv's errors; exit_code is the CLI's exit code for this class.");
  g_exceptions.runtime = make_exception(mod, "RuntimeFailure", base, 1,
                                        "A runtime failure or malformed input (the CLI's exit code 1).");
  g_exceptions.usage = make_exception(mod, "UsageError", base, 2, "Bad usage or data that does not fit (exit code 2).");
  g_exceptions.unsupported =
      make_exception(mod, "UnsupportedError", base, 3, "A valid but unsupported model (exit code 3).");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyObject* cls = e.exit_code() == ExitCode::bad_usage           ? g_exceptions.usage
                      : e.exit_code() == ExitCode::unsupported_model ? g_exceptions.unsupported
                                                                     : g_exceptions.runtime;
      PyErr_SetString(cls, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(g_exceptions.runtime, "out of memory");
    }
  });

  py::class_<PyLedger>(mod, "Ledger", "The counts of a run with the graph they belong to (result['ledger'] of run()).")
      .def_property_readonly("subject", [](const PyLedger& l) { return l.subject; })
      .def_property_readonly("samples", [](const PyLedger& l) { return l.ledger.samples; })
      .def("total", [](const PyLedger& l) { return json_to_python(cli::counters_json(l.ledger.total())); },
           "The summed counters, as result['total'].");

  py::class_<PyModel>(mod, "Model", "A model: ONNX (load), quantized (quantize), spiking (to_snn, or an .snn.h5).")
      .def_property_readonly("path", [](const PyModel& m) { return m.path; })
      .def_property_readonly("quantized", &PyModel::is_quantized)
      .def_property_readonly("task", [](const PyModel& m) { return m.is_quantized() ? m.quantized->task : m.source->task; })
      .def_property_readonly("bits", [](const PyModel& m) -> py::object {
        if (!m.is_quantized()) return py::none();
        return py::str(m.quantized->bits_label());
      })
      .def_property_readonly("input_names", [](const PyModel& m) {
        std::vector<std::string> names;
        const Graph& g = m.is_quantized() ? m.quantized->qann : m.source->unbound;
        for (ValueId v : g.inputs()) names.push_back(g.value(v).name);
        return names;
      })
      .def("inspect", &inspect, py::arg("fused") = false,
           "The summary `snnconv inspect --json` prints, as a dict.")
      .def(
          "run",
          [](const PyModel& m, const py::object& inputs, const std::string& engine, std::int64_t batch, int threads,
             bool reference, bool fuse, const std::string& mode, int max_steps, bool check_exact, bool curve,
             bool record, std::int64_t record_samples, const std::vector<std::string>& raster, const py::object& calib, int act_bits, int weight_bits, int weight_group, const std::string& clip,
             std::int64_t calib_samples) {
            check_choice("clip", clip, {"minmax", "percentile", "mse"});
            if (record_samples == 0 || record_samples < -1) throw UsageError("record_samples: must be >= 1");
            return run(m, inputs,
                       {engine, batch, threads, reference, fuse, mode, max_steps, check_exact, curve, record,
                        record_samples, raster},
                       calib,
                       {act_bits, weight_bits, weight_group, clip, calib_samples});
          },
          py::arg("inputs"), py::kw_only(), py::arg("engine") = "", py::arg("batch") = 64, py::arg("threads") = 0,
          py::arg("reference") = false, py::arg("fuse") = true, py::arg("mode") = "strict",
          py::arg("max_steps") = cli::kDefaultMaxSteps, py::arg("check_exact") = false, py::arg("curve") = false,
          py::arg("record") = false, py::arg("record_samples") = -1, py::arg("raster") = std::vector<std::string>{},
          py::arg("calib") = py::none(), py::arg("act_bits") = cli::kDefaultActBits, py::arg("weight_bits") = 8,
          py::arg("weight_group") = 0, py::arg("clip") = cli::kDefaultClip, py::arg("calib_samples") = 64,
          "Runs the model on numpy inputs (one array, or {input name: array}; optional 'labels' to score). "
          "Returns (outputs: {output name: array}, result: the dict `snnconv run --json` prints; with record=True "
          "(snn) also result['recording']: per recorded sample its steps and spikes_pos/spikes_neg [steps, "
          "populations], as `--record FILE.h5` writes them).")
      .def(
          "quantize",
          [](const PyModel& m, const py::object& calib, int act_bits, int weight_bits, int weight_group,
             const std::string& clip, std::int64_t calib_samples) {
            check_choice("clip", clip, {"minmax", "percentile", "mse"});
            return quantize(m, calib, {act_bits, weight_bits, weight_group, clip, calib_samples});
          },
          py::arg("calib"), py::kw_only(), py::arg("act_bits") = cli::kDefaultActBits, py::arg("weight_bits") = 8,
          py::arg("weight_group") = 0, py::arg("clip") = cli::kDefaultClip, py::arg("calib_samples") = 64,
          "The QANN of this ONNX model, calibrated on the first calib_samples rows of `calib`.")
      .def(
          "to_snn",
          [](const PyModel& m) {
            if (!m.is_quantized()) throw UsageError("to_snn() needs a quantized model: m.quantize(calib=...).to_snn()");
            PyModel s = m;
            s.default_engine = "snn";
            return s;
          },
          "The spiking model of this QANN (runs on engine='snn' by default).")
      .def("save", &save, py::arg("path"), "Writes the SNN model file (.snn.h5) `snnconv convert --out` writes.")
      .def("save_nir", &save_nir, py::arg("path"),
           "Writes the SNN as NIR, as `snnconv export FILE --format nir` (docs/nir.md): run it with dt=1 and the "
           "features at every step; UnsupportedError listing the nodes NIR cannot express.");

  mod.def("price", &price, py::arg("ledger"), py::arg("profile") = "loihi",
          "Prices a run's ledger (result['ledger']) on a hardware profile (a bundled name, a .json path or "
          "'compute-only'): the price object report.json holds (energy per inference split into compute, SRAM, DRAM, "
          "NoC and static; per layer; the mapping of a neuromorphic profile).");

  mod.def(
      "report",
      [](const std::string& model, const std::string& out, const std::string& data, const std::string& calib_data,
         const std::string& task, std::int64_t seq, const std::string& split, std::int64_t samples,
         std::int64_t snn_samples, const std::vector<std::string>& profiles, int act_bits, int weight_bits, int threads,
         bool snn, bool plots, bool sensitivity) {
        return write_report(model, {out, data, calib_data, task, split, seq, samples, snn_samples, profiles, act_bits,
                              weight_bits, threads, snn, plots, sensitivity});
      },
      py::arg("model"), py::kw_only(), py::arg("out"), py::arg("data") = "", py::arg("calib_data") = "",
      py::arg("task") = "", py::arg("seq") = 0, py::arg("split") = "test", py::arg("samples") = 1000,
      py::arg("snn_samples") = 200, py::arg("profiles") = std::vector<std::string>{},
      py::arg("act_bits") = cli::kDefaultActBits, py::arg("weight_bits") = 8, py::arg("threads") = 0,
      py::arg("snn") = true, py::arg("plots") = true, py::arg("sensitivity") = true,
      "`snnconv MODEL.onnx --out DIR`: the whole pipeline and the report folder; returns report.json as a dict.");

  py::class_<PyNir>(mod, "NirModel", "A NIR graph (load('F.nir')): simulated with its own neurons (docs/nir.md).")
      .def_property_readonly("parameter_count", [](const PyNir& n) { return n.model->parameter_count; })
      .def_property_readonly("neurons", [](const PyNir& n) { return n.model->network.neurons(); })
      .def_property_readonly("input_shape", [](const PyNir& n) { return n.model->network.input_shape(); })
      .def_property_readonly("output_shape", [](const PyNir& n) { return n.model->network.output_shape(); })
      .def("run", &run_nir_model, py::arg("spikes"),
           "Runs spike trains [B, T, *input_shape] (or [T, *input_shape]); returns (outputs, result) with result "
           "holding 'total' (as `snnconv run F.nir --json`) and 'ledger' for snnconv.price.")
      .def(
          "random_spikes",
          [](const PyNir& n, std::int64_t batch, std::int64_t steps, double rate, std::uint64_t seed) {
            return numpy_from_tensor(pipeline::random_spikes(n.model->network.input_shape(), batch, steps, rate, seed));
          },
          py::arg("batch"), py::arg("steps"), py::kw_only(), py::arg("rate") = 0.1, py::arg("seed") = 0,
          "Seeded Bernoulli spike trains of this graph's input shape (what `snnconv F.nir` runs without --data).");

  mod.def(
      "load",
      [](const std::string& path, const std::map<std::string, std::int64_t>& dims, const std::string& task,
         std::int64_t seq, const std::string& data, double dt, const std::string& method) -> py::object {
        if (path.ends_with(".nir")) return py::cast(load_nir_model(path, dt, method));
        return py::cast(load_model(path, dims, task, seq, data));
      },
      py::arg("path"), py::kw_only(), py::arg("dims") = std::map<std::string, std::int64_t>{}, py::arg("task") = "",
      py::arg("seq") = 0, py::arg("data") = "", py::arg("dt") = 1e-4, py::arg("method") = "euler",
      "Opens an ONNX model, an SNN model file (.snn.h5) or a NIR graph (.nir: a NirModel, simulated with step dt "
      "in seconds, method euler or exact). dims: sizes of symbolic input dims (inspect).");
}
