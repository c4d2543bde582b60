// ONNX export (onnx_export.hpp): exported files re-import in our importer and compute what the graph did.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "graph_runner.hpp"
#include "qann_graphs.hpp"
#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/converter/fuse.hpp"
#include "snnconv/converter/onnx_export.hpp"
#include "snnconv/converter/onnx_import.hpp"
#include "snnconv/converter/spike.hpp"

namespace snnconv {
namespace {

namespace fs = std::filesystem;

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "snnconv-export-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

Graph import_fused(const std::string& path) {
  Graph g = onnx_import::import_onnx(path);
  fuse_graph(g);
  return g;
}

// Random inputs: floats N(0, 1); integer inputs (token ids) in [0, 8).
std::map<std::string, Tensor> random_inputs(const Graph& g, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::map<std::string, Tensor> in;
  for (ValueId v : g.inputs()) {
    const Value& val = g.value(v);
    const Shape s = val.type.static_shape();
    Tensor f(DType::f32, s);
    for (float& x : f.span<float>()) x = normal(rng);
    if (val.type.dtype == DType::f32) {
      in[val.name] = f;
    } else {
      for (float& x : f.span<float>()) x = std::floor(std::abs(x) * 3.0f);
      for (float& x : f.span<float>()) x = std::min(x, 7.0f);
      in[val.name] = f.cast(val.type.dtype);
    }
  }
  return in;
}

int count_ops(const Graph& g, OpKind k) {
  int c = 0;
  for (const Node& n : g.nodes()) c += n.kind == k ? 1 : 0;
  return c;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("onnx export: canonical float graphs round-trip through our importer within 1e-5") {
    ScratchDir dir;
    for (const char* name : {"vit_op17_static", "gpt_op17_static", "bert_op17_static"}) {
      CAPTURE(name);
      const Graph g = import_fused(std::string(SNNCONV_SOURCE_DIR) + "/examples/fixtures/" + name + ".onnx");
      const std::string out = (dir.path / (std::string(name) + ".onnx")).string();
      const onnx_export::ExportStats st = onnx_export::export_onnx(g, out);
      CHECK(st.qdq_pairs == 0);
      CHECK(st.bytes == static_cast<std::int64_t>(fs::file_size(out)));
      const Graph back = import_fused(out);
      // The fused ops come back: fusion recognises the exported chains.
      CHECK(count_ops(back, OpKind::Linear) == count_ops(g, OpKind::Linear));
      CHECK(count_ops(back, OpKind::LayerNorm) == count_ops(g, OpKind::LayerNorm));
      const auto in = random_inputs(g, 7);
      const std::vector<Tensor> a = test::run_graph(g, in), b = test::run_graph(back, in);
      REQUIRE(a.size() == b.size());
      for (std::size_t k = 0; k < a.size(); ++k) CHECK(test::max_rel_diff(b[k], a[k]) <= 1e-5);
    }
  }

  TEST_CASE("onnx export: an Attention with steps inside writes them as Q -> DQ and fuses back with the same steps") {
    // The fused causal GPT fixture with 8-bit score and probability steps put on its Attentions (what a QAT
    // export's fused attention carries): exported, re-imported and fused, the steps come back unchanged.
    ScratchDir dir;
    Graph g = import_fused(std::string(SNNCONV_SOURCE_DIR) + "/examples/fixtures/gpt_op17_static.onnx");
    QuantParams sq;
    sq.n_min = -128, sq.n_max = 127, sq.scale = {0.0625f}, sq.zero_point = {0};
    QuantParams pq;
    pq.n_min = 0, pq.n_max = 255, pq.scale = {1.0f / 255.0f}, pq.zero_point = {0};
    int with_steps = 0;
    for (std::uint32_t i = 0; i < g.num_nodes(); ++i)
      if (Node& n = g.node(NodeId(i)); n.kind == OpKind::Attention) {
        auto& at = std::get<AttentionAttrs>(n.attrs);
        at.scores_quant = sq;
        at.probs_quant = pq;
        ++with_steps;
      }
    REQUIRE(with_steps == 2);
    const std::string out = (dir.path / "gpt_steps.onnx").string();
    const onnx_export::ExportStats st = onnx_export::export_onnx(g, out);
    CHECK(st.qdq_pairs == 2 * with_steps);
    const Graph back = import_fused(out);
    CHECK(count_ops(back, OpKind::Attention) == with_steps);
    CHECK(count_ops(back, OpKind::Softmax) == 0);
    for (const Node& n : back.nodes())
      if (n.kind == OpKind::Attention) {
        const auto& at = std::get<AttentionAttrs>(n.attrs);
        CHECK(at.causal);
        REQUIRE(at.scores_quant);
        REQUIRE(at.probs_quant);
        CHECK(at.scores_quant->scale == sq.scale);
        CHECK(at.scores_quant->n_min == sq.n_min);
        CHECK(at.scores_quant->n_max == sq.n_max);
        CHECK(at.probs_quant->scale == pq.scale);
        CHECK(at.probs_quant->n_min == pq.n_min);
        CHECK(at.probs_quant->n_max == pq.n_max);
      }
    const auto in = random_inputs(g, 3);
    const std::vector<Tensor> a = test::run_graph(g, in), b = test::run_graph(back, in);
    REQUIRE(a.size() == b.size());
    for (std::size_t k = 0; k < a.size(); ++k) CHECK(test::max_rel_diff(b[k], a[k]) <= 1e-5);
  }

  TEST_CASE("onnx export: a QANN becomes QDQ (int8 weights, Q/DQ pairs) and its float evaluation tracks run_qann") {
    ScratchDir dir;
    for (int bits : {8, 4}) {
      CAPTURE(bits);
      std::vector<Tensor> samples;
      const Graph q = test::make_qann_block(11, bits, &samples, 8);
      const std::string out = (dir.path / ("block" + std::to_string(bits) + ".onnx")).string();
      onnx_export::ExportOptions eo;
      eo.form = onnx_export::QdqForm::qdq;
      const onnx_export::ExportStats st = onnx_export::export_onnx(q, out, eo);
      CHECK(st.qdq_pairs == count_ops(q, OpKind::FakeQuant));
      CHECK(st.int8_weights == count_ops(q, OpKind::Linear));
      // A4: every point has fewer levels than int8/uint8 and gets a Clip; A8 none.
      CHECK(st.clips == (bits == 8 ? 0 : st.qdq_pairs));
      const Graph back = onnx_import::import_onnx(out);
      CHECK(count_ops(back, OpKind::QuantizeLinear) == st.qdq_pairs);
      CHECK(count_ops(back, OpKind::DequantizeLinear) == st.qdq_pairs + st.int8_weights);
      // The QDQ file evaluated in float vs the exact integer QANN: equal up to float rounding that can move a
      // value across a rounding boundary, i.e. by at most a few output steps.
      const float out_step = q.value(q.outputs()[0]).quant ? q.value(q.outputs()[0]).quant->scale[0] : 1.0f;
      double worst_steps = 0.0;
      for (const Tensor& x : samples) {
        const Tensor ours = ann::run_qann(q, std::span<const Tensor>(&x, 1)).outputs.at(0);
        const Tensor theirs = test::run_graph(back, {{back.value(back.inputs()[0]).name, x}}).at(0);
        REQUIRE(theirs.shape() == ours.shape());
        const auto a = ours.to_f32(), b = theirs.to_f32();
        for (std::size_t i = 0; i < a.size(); ++i) worst_steps = std::max(worst_steps, std::abs(a[i] - b[i]) / double(out_step));
      }
      MESSAGE("W" << bits << "A" << bits << " block: max |QDQ - QANN| = " << worst_steps << " output steps");
      CHECK(worst_steps <= 2.0);
    }
  }

  TEST_CASE("onnx export: the integer form computes the QANN's Linears and products on exact levels") {
    ScratchDir dir;
    for (int bits : {8, 4}) {
      CAPTURE(bits);
      std::vector<Tensor> samples;
      const Graph q = test::make_qann_block(5, bits, &samples, 8);
      const std::string out = (dir.path / ("int" + std::to_string(bits) + ".onnx")).string();
      const onnx_export::ExportStats st = onnx_export::export_onnx(q, out);  // the integer form is the default
      // Every Linear and both attention products; every LayerNorm and Softmax on levels.
      CHECK(st.integer_matmuls == count_ops(q, OpKind::Linear) + 2);
      CHECK(st.integer_units == count_ops(q, OpKind::LayerNorm) + count_ops(q, OpKind::Softmax));
      CHECK(st.integer_units >= 2);
      CHECK(st.qdq_pairs == count_ops(q, OpKind::FakeQuant));
      const Graph back = onnx_import::import_onnx(out);
      double worst = 0.0;
      for (const Tensor& x : samples) {
        const Tensor ours = ann::run_qann(q, std::span<const Tensor>(&x, 1)).outputs.at(0);
        const Tensor theirs = test::run_graph(back, {{back.value(back.inputs()[0]).name, x}}).at(0);
        const auto a = ours.to_f32(), b = theirs.to_f32();
        for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
      }
      // Bit-identical at both widths: the levels are floor(x/s + 1/2) as the QANN computes them (at W4A4 a
      // product lands exactly on the tie x/s = -3.5, which QuantizeLinear alone would round to even), and
      // LayerNorm / Softmax run on the levels with the QANN's own sequence of operations.
      MESSAGE("integer form W" << bits << "A" << bits << ": max |ONNX - QANN| = " << worst);
      CHECK(worst == 0.0);
    }
  }

  TEST_CASE("onnx export: grouped weights in the integer form equal run_qann bit for bit at W8A8 and qdq refuses them") {
    ScratchDir dir;
    std::vector<Tensor> samples;
    Graph q = test::make_qann_block(6, 8, &samples, 8);
    REQUIRE(test::group_weights(q, 4, 9) == 6);
    const std::string out = (dir.path / "grouped.onnx").string();
    const onnx_export::ExportStats st = onnx_export::export_onnx(q, out);
    CHECK(st.integer_matmuls == count_ops(q, OpKind::Linear) + 2);
    const Graph back = onnx_import::import_onnx(out);
    // One Slice + MatMul per group: q, k, v, o, fc1 have 2 groups of 4 rows (K 8), fc2 4 (K 16).
    CHECK(count_ops(back, OpKind::Slice) == 5 * 2 + 4);
    int worst_bits = 0;
    for (const Tensor& x : samples) {
      const Tensor ours = ann::run_qann(q, std::span<const Tensor>(&x, 1)).outputs.at(0);
      const Tensor theirs = test::run_graph(back, {{back.value(back.inputs()[0]).name, x}}).at(0);
      REQUIRE(ours.shape() == theirs.shape());
      const auto a = ours.to_f32(), b = theirs.to_f32();
      for (std::size_t i = 0; i < a.size(); ++i) worst_bits += a[i] != b[i];
    }
    CHECK(worst_bits == 0);
    onnx_export::ExportOptions qdq;
    qdq.form = onnx_export::QdqForm::qdq;
    CHECK_THROWS_AS(onnx_export::export_onnx(q, (dir.path / "grouped_qdq.onnx").string(), qdq), UnsupportedError);
    CHECK_FALSE(fs::exists(dir.path / "grouped_qdq.onnx"));
  }

  TEST_CASE("onnx export refuses what opset 17 QDQ cannot express, naming the node, and leaves no file") {
    ScratchDir dir;
    Graph q = test::make_qann_mlp(3, 8);
    // 16-bit activations: no int16 QuantizeLinear before opset 21.
    for (const Node& n : q.nodes())
      if (n.kind == OpKind::FakeQuant && n.name == "h_q") {
        QuantParams& qp = *q.value(n.outputs[0]).quant;
        qp.bits = 16;
        qp.n_min = 0;
        qp.n_max = 65535;
      }
    const std::string out = (dir.path / "a16.onnx").string();
    try {
      onnx_export::export_onnx(q, out);
      FAIL("expected UnsupportedError");
    } catch (const UnsupportedError& e) {
      CHECK(std::string(e.what()).find("h_q") != std::string::npos);
      CHECK(std::string(e.what()).find("16 bits") != std::string::npos);
    }
    CHECK(fs::is_empty(dir.path));
    // The SNN stage has no ONNX form.
    const Graph snn = convert_to_spiking(test::make_qann_mlp(3, 8));
    CHECK_THROWS_AS(onnx_export::export_onnx(snn, out), UnsupportedError);
    CHECK(fs::is_empty(dir.path));
    // A folder that does not exist: IoError naming the file.
    CHECK_THROWS_AS(onnx_export::export_onnx(test::make_qann_mlp(3, 8), (dir.path / "no" / "x.onnx").string()), IoError);
  }
}

}  // namespace snnconv
