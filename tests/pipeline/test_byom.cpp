// Bring-your-own-model fixtures (examples/byom, made by make_byom.py from stock torch 1.13 modules):
//  - the dense engine on the fused graph equals torch's stored outputs within 1e-4, with every attention fused;
//  - the QANN (calibrated on the fixture's own inputs) converted to an SNN equals the QANN bit for bit at
//    activation bits 2, 4 and 8, strict and burst (3 samples per fixture; SNNCONV_BYOM_BITS=2,3,4,6,8 and the
//    SNNCONV_BYOM_FIXTURES=name,... filter for longer runs).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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
  for (const Fixture& f : kFixtures) {
    if (!selected(f.name)) continue;
    const std::string fname = f.name;
    CAPTURE(fname);
    const datasets::ReferenceData ref = datasets::read_reference_file(byom_dir() / (std::string(f.name) + ".ref.h5"));
    Graph g = import_at(f.name, 3, f.seq);
    const FuseStats st = fuse_graph(g);
    CHECK(st.per_pattern.at("attention") > 0);
    CHECK(count_kind(g, OpKind::Softmax) == 0);  // no attention left unfused
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

}  // namespace
}  // namespace snnconv
