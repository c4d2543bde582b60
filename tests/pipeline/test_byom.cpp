// Bring-your-own-model fixtures (examples/byom, made by make_byom.py from stock torch 1.13 modules):
//  - the dense engine on the fused graph equals torch's stored outputs within 1e-4, with every attention fused;
//  - the QANN (calibrated on the fixture's own inputs) converted to an SNN equals the QANN bit for bit at
//    activation bits 2, 4 and 8, strict and burst (3 samples per fixture; SNNCONV_BYOM_BITS=2,3,4,6,8 and the
//    SNNCONV_BYOM_FIXTURES=name,... filter for longer runs).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "snnconv/ann_baseline/engine.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/quantize.hpp"
#include "snnconv/converter/spike.hpp"
#include "snnconv/datasets/reference.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv {
namespace {

std::filesystem::path byom_dir() { return std::filesystem::path(SNNCONV_SOURCE_DIR) / "examples" / "byom"; }

struct Fixture {
  const char* name;
  std::int64_t seq;  // 0: no sequence dim
};
// The float fixtures; the QAT ones (qat4, qat8) have their own cases.
constexpr Fixture kFixtures[] = {
    {"encoder_mean", 0}, {"encoder_cls", 0}, {"vit_tv_op17", 0}, {"vit_tv_op14", 0}, {"lm_encoder_causal", 32},
    {"nanogpt", 32},     {"bert_padding", 16}, {"llama", 32},     {"llava", 0},
};

bool selected(const std::string& name) {
  const char* env = std::getenv("SNNCONV_BYOM_FIXTURES");
  if (env == nullptr || *env == 0) return true;
  std::stringstream ss(env);
  for (std::string item; std::getline(ss, item, ',');)
    if (item == name) return true;
  return false;
}

std::vector<int> act_bits() {
  std::vector<int> bits{2, 4, 8};
  if (const char* env = std::getenv("SNNCONV_BYOM_BITS"); env != nullptr && *env != 0) {
    bits.clear();
    std::stringstream ss(env);
    for (std::string item; std::getline(ss, item, ',');) bits.push_back(std::stoi(item));
  }
  return bits;
}

Graph import_at(const std::string& name, std::int64_t batch, std::int64_t seq) {
  onnx_import::ImportOptions io;
  io.dims["batch"] = batch;
  if (seq > 0) io.dims["seq"] = seq;
  return onnx_import::import_onnx((byom_dir() / (name + ".onnx")).string(), io);
}

int count_kind(const Graph& g, OpKind k) {
  int n = 0;
  for (std::uint32_t i = 0; i < g.num_nodes(); ++i) n += g.node(NodeId(i)).kind == k;
  return n;
}

// Row i of every reference input, as a batch-1 sample.
std::vector<std::vector<Tensor>> samples_of(const Graph& g, const datasets::ReferenceData& ref) {
  std::vector<std::vector<Tensor>> out;
  const Tensor& first = ref.inputs.at(g.value(g.inputs()[0]).name);
  for (std::int64_t i = 0; i < first.dim(0); ++i) {
    std::vector<Tensor> s;
    for (ValueId v : g.inputs()) {
      const Tensor& t = ref.inputs.at(g.value(v).name);
      Shape shape = t.shape();
      shape[0] = 1;
      const std::int64_t per = t.numel() / t.dim(0);
      Tensor row(t.dtype(), shape);
      std::memcpy(row.raw(), t.raw() + i * per * static_cast<std::int64_t>(dtype_size(t.dtype())),
                  static_cast<std::size_t>(per) * dtype_size(t.dtype()));
      s.push_back(std::move(row));
    }
    out.push_back(std::move(s));
  }
  return out;
}

TEST_CASE("byom fixtures: the fused dense engine equals torch within 1e-4, every attention fused" *
          doctest::test_suite("golden")) {
  std::vector<Fixture> all(std::begin(kFixtures), std::end(kFixtures));
  all.push_back({"qat4", 0});  // the QAT files too: their score/probability steps go inside the Attention
  all.push_back({"qat8", 0});
  for (const Fixture& f : all) {
    if (!selected(f.name)) continue;
    const std::string fname = f.name;
    CAPTURE(fname);
    const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / (std::string(f.name) + ".ref.h5"));
    Graph g = import_at(f.name, 3, f.seq);
    const FuseStats st = fuse_graph(g);
    CHECK(st.per_pattern.at("attention") > 0);
    CHECK(count_kind(g, OpKind::Softmax) == 0);  // no attention left unfused
    if (fname.rfind("qat", 0) == 0) {
      CHECK(count_kind(g, OpKind::Attention) == 2);  // one per block
      for (const Node& n : g.nodes())
        if (n.kind == OpKind::Attention) {
          const auto& at = std::get<AttentionAttrs>(n.attrs);
          REQUIRE(at.scores_quant);
          REQUIRE(at.probs_quant);
          CHECK(at.probs_quant->n_min == 0);  // the probabilities' unsigned levels, as the file wrote them
          CHECK(at.probs_quant->n_max == (fname == "qat4" ? 15 : 255));
          CHECK(at.scores_quant->n_min == (fname == "qat4" ? -8 : -128));
        }
    }
    std::vector<Tensor> inputs;
    for (ValueId v : g.inputs()) inputs.push_back(ref.inputs.at(g.value(v).name));
    ann::Engine e(g, {.threads = 2});
    const auto out = e.run(inputs);
    const Tensor& want = ref.outputs.at("logits");
    REQUIRE(out[0].shape() == want.shape());
    const auto a = out[0].to_f32(), b = want.to_f32();
    float worst = 0.0f;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / (1.0f + std::fabs(b[i])));
    MESSAGE(fname << ": max |dense - torch| / (1 + |torch|) = " << worst);
    CHECK(worst <= 1e-4f);
  }
}

struct Exactness {
  long outputs = 0, mismatches = 0, not_quiescent = 0, steps = 0;
};

Exactness snn_vs_qann(const Graph& qann, const std::vector<std::vector<Tensor>>& samples, snn::FireMode mode) {
  const Graph sg = convert_to_spiking(qann);
  snn::Engine e(sg, {mode, 4096, 2});
  Exactness x;
  for (const auto& s : samples) {
    const ann::QannResult q = ann::run_qann(qann, s);
    const snn::RunResult r = e.run(s);
    x.not_quiescent += !r.quiescent;
    x.steps += r.steps;
    REQUIRE(r.outputs.size() == q.outputs.size());
    for (std::size_t o = 0; o < q.outputs.size(); ++o) {
      REQUIRE(r.outputs[o].shape() == q.outputs[o].shape());
      const float* a = q.outputs[o].data<float>();
      const float* b = r.outputs[o].data<float>();
      for (std::int64_t i = 0; i < q.outputs[o].numel(); ++i) {
        ++x.outputs;
        x.mismatches += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
      }
    }
  }
  return x;
}

TEST_CASE("byom fixtures: SNN == QANN bit for bit at activation bits 2, 4, 8, strict and burst" *
          doctest::test_suite("golden")) {
  for (const Fixture& f : kFixtures) {
    if (!selected(f.name)) continue;
    const std::string fname = f.name;
    CAPTURE(fname);
    const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / (std::string(f.name) + ".ref.h5"));
    Graph g = import_at(f.name, 1, f.seq);
    fuse_graph(g);
    const auto samples = samples_of(g, ref);
    const QannSkeleton sk = build_qann_skeleton(g);
    for (int bits : act_bits()) {
      CAPTURE(bits);
      QuantizeOptions qo;
      qo.act_bits = bits;
      const Calibration cal = calibrate(sk, samples, qo);
      const Graph qann = quantize_skeleton(sk, cal, qo);
      for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
        const Exactness x = snn_vs_qann(qann, samples, mode);
        MESSAGE(fname << " A" << bits << (mode == snn::FireMode::strict ? std::string(" strict") : std::string(" burst")) << ": "
                       << x.mismatches << " of " << x.outputs << " outputs differ, mean steps "
                       << static_cast<double>(x.steps) / static_cast<double>(samples.size()));
        CHECK(x.not_quiescent == 0);
        CHECK(x.outputs > 0);
        CHECK(x.mismatches == 0);
      }
    }
  }
}

// Bits per byte of next-byte predictions: logits [T, V] at positions first..T-2 predicting tokens[t + 1 - offset].
double bits_per_byte(const float* logits, std::int64_t t_len, std::int64_t vocab, const std::int64_t* tokens,
                     std::int64_t offset) {
  double bits = 0.0;
  std::int64_t n = 0;
  for (std::int64_t t = offset; t + 1 < t_len; ++t) {
    const float* row = logits + t * vocab;
    const float top = *std::max_element(row, row + vocab);
    double z = 0.0;
    for (std::int64_t c = 0; c < vocab; ++c) z += std::exp(static_cast<double>(row[c] - top));
    const std::int64_t target = tokens[t + 1 - offset];
    bits += (std::log(z) - static_cast<double>(row[target] - top)) / std::log(2.0);
    ++n;
  }
  return bits / static_cast<double>(n);
}

TEST_CASE("byom fixtures: W8A8 QANN against float (top-1 of classifiers, bits per byte of LMs within 0.05)" *
          doctest::test_suite("golden")) {
  for (const Fixture& f : kFixtures) {
    if (!selected(f.name)) continue;
    const std::string fname = f.name;
    CAPTURE(fname);
    const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / (std::string(f.name) + ".ref.h5"));
    Graph g = import_at(f.name, 1, f.seq);
    fuse_graph(g);
    const auto samples = samples_of(g, ref);
    const QannSkeleton sk = build_qann_skeleton(g);
    QuantizeOptions qo;  // W8A8, calibrated on the fixture's own samples
    const Graph qann = quantize_skeleton(sk, calibrate(sk, samples, qo), qo);
    const Tensor& want = ref.outputs.at("logits");  // torch's float outputs
    const std::int64_t per = want.numel() / want.dim(0);
    if (want.rank() == 2) {  // a classifier: the same top-1 on every sample
      int agree = 0;
      for (std::size_t i = 0; i < samples.size(); ++i) {
        const ann::QannResult q = ann::run_qann(qann, samples[i]);
        const float* a = q.outputs[0].data<float>();
        const float* b = want.data<float>() + static_cast<std::int64_t>(i) * per;
        agree += std::max_element(a, a + per) - a == std::max_element(b, b + per) - b;
      }
      MESSAGE(fname << " W8A8: top-1 agreement with float " << agree << "/" << samples.size());
      CHECK(agree == static_cast<int>(samples.size()));
    } else {  // a language model: bits per byte of the text positions
      const std::int64_t t_len = want.dim(1), vocab = want.dim(2);
      const auto ids_at = [&](const std::vector<Tensor>& s) -> const Tensor& {
        for (std::size_t k = 0; k < g.inputs().size(); ++k)
          if (g.value(g.inputs()[k]).name == "input_ids") return s[k];
        FAIL("no input_ids");
        return s[0];
      };
      const std::int64_t offset = t_len - ids_at(samples[0]).dim(1);  // image tokens before the text (LLaVA)
      double bq = 0.0, bf = 0.0;
      for (std::size_t i = 0; i < samples.size(); ++i) {
        const ann::QannResult q = ann::run_qann(qann, samples[i]);
        const std::int64_t* ids = ids_at(samples[i]).data<std::int64_t>();
        bq += bits_per_byte(q.outputs[0].data<float>(), t_len, vocab, ids, offset);
        bf += bits_per_byte(want.data<float>() + static_cast<std::int64_t>(i) * per, t_len, vocab, ids, offset);
      }
      bq /= static_cast<double>(samples.size());
      bf /= static_cast<double>(samples.size());
      MESSAGE(fname << " W8A8: bits per byte float " << bf << ", QANN " << bq << " (diff " << bq - bf << ")");
      CHECK(std::fabs(bq - bf) <= 0.05);
    }
  }
}

TEST_CASE("byom QAT fixtures: the file's own steps, no calibration, QANN ~ torch, SNN == QANN" *
          doctest::test_suite("golden")) {
  for (const char* name : {"qat4", "qat8"}) {
    const std::string fname = name;
    if (!selected(fname)) continue;
    CAPTURE(fname);
    const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / (fname + ".ref.h5"));
    Graph g = import_at(fname, 1, 0);
    const FuseStats st = fuse_graph(g);
    CHECK(st.per_pattern.at("qdq") > 0);
    // The file's points: FakeQuant nodes, and the score / probability steps inside each fused Attention.
    int file_points = count_kind(g, OpKind::FakeQuant);
    for (const Node& n : g.nodes())
      if (n.kind == OpKind::Attention) {
        const auto& at = std::get<AttentionAttrs>(n.attrs);
        file_points += at.scores_quant.has_value() + at.probs_quant.has_value();
      }
    CHECK(file_points >= 29);  // 14 per block + the pooling and head inputs
    {  // the dense engine runs the file's fake quantization as torch does (attention fused, steps inside)
      const Graph g3 = [&] {
        Graph x = import_at(fname, 3, 0);
        fuse_graph(x);
        return x;
      }();
      ann::Engine e(g3, {.threads = 2});
      const auto out = e.run(std::vector<Tensor>{ref.inputs.at("input")});
      const auto a = out[0].to_f32(), b = ref.outputs.at("logits").to_f32();
      REQUIRE(a.size() == b.size());
      float worst = 0.0f;
      for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / (1.0f + std::fabs(b[i])));
      MESSAGE(fname << ": max |dense - torch| / (1 + |torch|) = " << worst);
      CHECK(worst <= 1e-4f);
    }
    const QannSkeleton sk = build_qann_skeleton(g);
    CHECK(sk.points.empty());  // every point the QANN needs comes from the file
    const auto samples = samples_of(g, ref);
    const Calibration cal = calibrate(sk, {}, QuantizeOptions{});
    const Graph qann = quantize_skeleton(sk, cal, QuantizeOptions{});
    // Against torch's fake-quantized forward: the same steps; differences come from rounding ties and the
    // integer-form LayerNorm / softmax.
    const Tensor& want = ref.outputs.at("logits");
    const std::int64_t classes = want.dim(1);
    float worst = 0.0f;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const ann::QannResult q = ann::run_qann(qann, samples[i]);
      const float* a = q.outputs[0].data<float>();
      const float* b = want.data<float>() + static_cast<std::int64_t>(i) * classes;
      std::int64_t ta = 0, tb = 0;
      for (std::int64_t c = 0; c < classes; ++c) {
        worst = std::max(worst, std::fabs(a[c] - b[c]));
        if (a[c] > a[ta]) ta = c;
        if (b[c] > b[tb]) tb = c;
      }
      CHECK(ta == tb);
    }
    MESSAGE(fname << ": " << file_points << " file points; max |QANN - torch| = " << worst);
    for (snn::FireMode mode : {snn::FireMode::strict, snn::FireMode::burst}) {
      const Exactness x = snn_vs_qann(qann, samples, mode);
      CHECK(x.not_quiescent == 0);
      CHECK(x.mismatches == 0);
    }
  }
}

TEST_CASE("byom QAT: an Attention with steps and a scale: the QANN keeps the scale as a Mul, the SNN refuses it" *
          doctest::test_suite("golden")) {
  // qat4's fused graph with its Attentions' scale set to 0.5 (a QAT export that scales after q.k^T, as the QDQ
  // ViT does): the QANN cannot fold that scale into Q (Q is a file point), so it multiplies the scores before the
  // file's scores step; still no point of its own.
  const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / "qat4.ref.h5");
  Graph g = import_at("qat4", 1, 0);
  fuse_graph(g);
  for (std::uint32_t i = 0; i < g.num_nodes(); ++i)
    if (Node& n = g.node(NodeId(i)); n.kind == OpKind::Attention) std::get<AttentionAttrs>(n.attrs).scale = 0.5f;
  const QannSkeleton sk = build_qann_skeleton(g);
  CHECK(sk.points.empty());
  int scaled = 0;
  for (const Node& n : sk.graph.nodes()) scaled += n.kind == OpKind::Mul;
  CHECK(scaled == 2);
  const Graph qann = quantize_skeleton(sk, calibrate(sk, {}, QuantizeOptions{}), QuantizeOptions{});
  const auto samples = samples_of(g, ref);
  ann::Engine dense(g, {.threads = 2});
  for (const auto& s : samples) {  // the QANN follows the scaled dense graph (top-1)
    const Tensor d = dense.run(s).at(0);
    const Tensor q = ann::run_qann(qann, s).outputs.at(0);
    std::int64_t td = 0, tq = 0;
    for (std::int64_t c = 0; c < d.numel(); ++c) {
      if (d.data<float>()[c] > d.data<float>()[td]) td = c;
      if (q.data<float>()[c] > q.data<float>()[tq]) tq = c;
    }
    CHECK(td == tq);
  }
  // The spiking conversion has no unit for a scale between the score product and its point (nor had it for the
  // same chain unfused): it refuses, naming the node, instead of dropping the scale.
  try {
    (void)convert_to_spiking(qann);
    FAIL("no error");
  } catch (const UnsupportedError& e) {
    CHECK(std::string(e.what()).find("scores_scaled") != std::string::npos);
  }
}

TEST_CASE("byom: an attention mask with an additive bias (not 0 or <= -1000) is refused naming the value" *
          doctest::test_suite("unit")) {
  const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / "bert_padding.ref.h5");
  Graph g = import_at("bert_padding", 1, 16);
  fuse_graph(g);
  auto samples = samples_of(g, ref);
  const QannSkeleton sk = build_qann_skeleton(g);
  QuantizeOptions qo;
  const Graph qann = quantize_skeleton(sk, calibrate(sk, samples, qo), qo);
  // attention_mask = 2 gives (1 - 2) * -10000 = +10000: a bias inside the softmax, which has no integer form.
  std::vector<Tensor> bad = samples[0];
  for (std::size_t k = 0; k < g.inputs().size(); ++k)
    if (g.value(g.inputs()[k]).name == "attention_mask") bad[k].data<std::int64_t>()[3] = 2;
  try {
    (void)ann::run_qann(qann, bad);
    FAIL("no error");
  } catch (const NumericError& e) {
    CHECK(std::string(e.what()).find("attention mask value 10000") != std::string::npos);
    CHECK(!e.context().value.empty());
  }
}

TEST_CASE("byom: a -inf mask that would reach a quantization point is refused naming the value" *
          doctest::test_suite("unit")) {
  // x -> LayerNorm -> + mask(-inf) -> Linear: the Linear's input point would read -inf.
  Graph g;
  g.opset = 17;
  Value in;
  in.name = "x";
  in.type = TensorType::of(DType::f32, {1, 4});
  const ValueId x = g.add_value(in);
  g.set_inputs({x});
  const float inf = std::numeric_limits<float>::infinity();
  const ValueId gamma = g.add_constant("gamma", Tensor::from_vector<float>({4}, {1, 1, 1, 1}));
  const ValueId beta = g.add_constant("beta", Tensor::from_vector<float>({4}, {0, 0, 0, 0}));
  const ValueId mask = g.add_constant("mask", Tensor::from_vector<float>({1, 4}, {0, 0, -inf, 0}));
  const ValueId w = g.add_constant("w", Tensor::from_vector<float>({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}));
  auto add = [&](OpKind k, std::vector<ValueId> ins, Attrs attrs, const std::string& nm, Shape shape) {
    Value v;
    v.name = nm;
    v.type = TensorType::of(DType::f32, shape);
    const ValueId o = g.add_value(v);
    Node n;
    n.kind = k;
    n.name = nm;
    n.attrs = std::move(attrs);
    n.inputs = std::move(ins);
    n.outputs = {o};
    g.add_node(std::move(n));
    return o;
  };
  const ValueId y = add(OpKind::LayerNorm, {x, gamma, beta}, LayerNormAttrs{}, "ln", {1, 4});
  const ValueId z = add(OpKind::Add, {y, mask}, NoAttrs{}, "masked", {1, 4});
  const ValueId o = add(OpKind::Linear, {z, w}, LinearAttrs{}, "head", {1, 2});
  g.set_outputs({o});
  fuse_graph(g);
  const QannSkeleton sk = build_qann_skeleton(g);
  std::vector<std::vector<Tensor>> samples{{Tensor::from_vector<float>({1, 4}, {0.5f, -1.0f, 2.0f, 0.25f})}};
  try {
    (void)calibrate(sk, samples, QuantizeOptions{});
    FAIL("no error");
  } catch (const NumericError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("non-finite value") != std::string::npos);
    CHECK(msg.find("'masked'") != std::string::npos);  // the value that carries the -inf
    CHECK(msg.find("only feed a softmax") != std::string::npos);
  }
}

TEST_CASE("byom: a QDQ step of zero or below is refused naming the node (exit 3)" * doctest::test_suite("unit")) {
 for (const float step : {0.0f, -0.5f}) {
  CAPTURE(step);
  Graph g;
  g.opset = 13;
  Value in;
  in.name = "x";
  in.type = TensorType::of(DType::f32, {1, 4});
  const ValueId x = g.add_value(in);
  g.set_inputs({x});
  const ValueId s = g.add_constant("s", Tensor::from_vector<float>({}, {step}));
  const ValueId z = g.add_constant("z", Tensor::from_vector<std::int8_t>({}, {0}));
  auto add = [&](OpKind k, std::vector<ValueId> ins, DType t, const std::string& nm) {
    Value v;
    v.name = nm;
    v.type = TensorType::of(t, {1, 4});
    const ValueId o = g.add_value(v);
    Node n;
    n.kind = k;
    n.name = nm;
    n.attrs = AxisAttrs{1};
    n.inputs = std::move(ins);
    n.outputs = {o};
    g.add_node(std::move(n));
    return o;
  };
  const ValueId q = add(OpKind::QuantizeLinear, {x, s, z}, DType::i8, "q");
  const ValueId y = add(OpKind::DequantizeLinear, {q, s, z}, DType::f32, "dq");
  g.set_outputs({y});
  try {
    fuse_graph(g);
    FAIL("no error");
  } catch (const UnsupportedError& e) {
    CHECK(std::string(e.what()).find("quantization step " + std::to_string(step)) != std::string::npos);
    CHECK(std::string(e.what()).find("not a positive finite number") != std::string::npos);
    CHECK(e.context().node == "dq");
  }
 }
}

// Calibration in parts (threads, data-parallel ranks): the same statistics as one pass, bit for bit, and the
// error of the first failing sample whatever the cut.
TEST_CASE("calibration: threads and merged parts give one pass's statistics, the first failing sample's error wins") {
  for (const char* name : {"vit_tv_op17", "llama"}) {
    const Fixture& f = *std::find_if(std::begin(kFixtures), std::end(kFixtures),
                                     [&](const Fixture& x) { return std::string(x.name) == name; });
    CAPTURE(std::string(name));
    const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / (std::string(f.name) + ".ref.h5"));
    Graph g = import_at(f.name, 1, f.seq);
    fuse_graph(g);
    const auto samples = samples_of(g, ref);
    REQUIRE(samples.size() >= 3);
    const QannSkeleton sk = build_qann_skeleton(g);
    QuantizeOptions qo;
    qo.max_values = 100;  // a stride above 1, so that which values are kept depends on their place in the run
    const Calibration one = calibrate(sk, samples, qo);
    // One pass keeps every stride-th value of the whole run: at most max_values per point, however the run is cut.
    std::size_t wrong_count = 0;
    for (const auto& [point, st] : one.points) {
      const std::int64_t stride = std::max<std::int64_t>(1, (st.seen + qo.max_values - 1) / qo.max_values);
      wrong_count += static_cast<std::int64_t>(st.values.size()) != (st.seen + stride - 1) / stride;
    }
    CHECK(wrong_count == 0);
    auto same = [&](const Calibration& c) {
      REQUIRE(c.points.size() == one.points.size());
      CHECK(c.samples == one.samples);
      std::size_t differ = 0;
      for (const auto& [point, st] : one.points) {
        const PointStats& o = c.points.at(point);
        differ += o.min != st.min || o.max != st.max || o.seen != st.seen || o.values != st.values ||
                  std::signbit(o.min) != std::signbit(st.min) || std::signbit(o.max) != std::signbit(st.max);
      }
      CHECK(differ == 0);
    };
    for (int t : {2, 3}) {
      CAPTURE(t);
      qo.threads = t;
      same(calibrate(sk, samples, qo));
    }
    qo.threads = 1;
    const std::span<const std::vector<Tensor>> all(samples);
    const auto n = static_cast<std::int64_t>(samples.size());
    Calibration parts = calibrate_part(sk, all.subspan(0, 1), 0, n, qo);
    merge_calibration(parts, calibrate_part(sk, all.subspan(1, 0), 1, n, qo));  // an empty part (an idle rank)
    merge_calibration(parts, calibrate_part(sk, all.subspan(1), 1, n, qo));
    same(parts);
    CHECK_THROWS_AS(calibrate_part(sk, all.subspan(1), 0, 1, qo), UsageError);  // outside the run
    // A rank's shard on its threads (calibrate_range), then the shards merged in order.
    qo.threads = 2;
    Calibration shards = calibrate_range(sk, all, 0, 1, qo);
    merge_calibration(shards, calibrate_range(sk, all, 1, 1, qo));
    merge_calibration(shards, calibrate_range(sk, all, 1, n, qo));
    same(shards);
    CHECK_THROWS_AS(calibrate_range(sk, all, 2, 1, qo), UsageError);
  }
  // Sample 1 holds a NaN, sample 2 has the wrong shape: sample 1's error, on 1 thread or 3.
  const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / "vit_tv_op17.ref.h5");
  Graph g = import_at("vit_tv_op17", 1, 0);
  fuse_graph(g);
  auto samples = samples_of(g, ref);
  samples[1][0].data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  samples[2][0] = Tensor(DType::f32, {1, 2});
  const QannSkeleton sk = build_qann_skeleton(g);
  for (int t : {1, 3}) {
    CAPTURE(t);
    QuantizeOptions qo;
    qo.threads = t;
    try {
      (void)calibrate(sk, samples, qo);
      FAIL("no error");
    } catch (const NumericError& e) {
      CHECK(std::string(e.what()).find("(sample 1,") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace snnconv
