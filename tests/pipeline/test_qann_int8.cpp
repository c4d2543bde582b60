// The QANN reference with its Linears on the W8A8 GEMM (QannOptions::int8_kernels, what `snnconv run --engine qann`
// uses) gives the plain int64 loops' outputs and levels bit for bit on real models: fashion_vit_relu at W8A8 (u8 and
// s8 points, 25 Linears) and W8A4, and the code model at W8A8.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include "snnconv/ann_baseline/qann.hpp"
#include "snnconv/pipeline/spiking.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

std::int64_t differing(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::int64_t d = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) d += std::memcmp(a.data<float>() + i, b.data<float>() + i, 4) != 0;
  return d;
}

void check_model(const std::string& model, int act_bits, std::size_t samples) {
  pipeline::QuantizeModelOptions o;
  o.model = (kRoot / model).string();
  o.calib_samples = 8;
  o.quant.weight_bits = 8;
  o.quant.act_bits = act_bits;
  const pipeline::QuantizedModel m = pipeline::quantize_model(o);
  const auto ss = pipeline::load_samples(m, "test", samples);
  REQUIRE(ss.size() == samples);
  ann::QannCache cache;  // weights packed on the first sample, reused on the others
  for (const auto& s : ss) {
    const ann::QannResult plain = ann::run_qann(m.qann, s.inputs);
    const ann::QannResult fast = ann::run_qann(m.qann, s.inputs, {.int8_kernels = true, .cache = &cache});
    REQUIRE(plain.outputs.size() == fast.outputs.size());
    for (std::size_t i = 0; i < plain.outputs.size(); ++i) CHECK(differing(plain.outputs[i], fast.outputs[i]) == 0);
    REQUIRE(plain.levels.size() == fast.levels.size());
    for (const auto& [name, lv] : plain.levels) CHECK(fast.levels.at(name).q == lv.q);
  }
  std::size_t packed = 0;
  for (const auto& [node, w] : cache.int8_weights) packed += w != nullptr;
  CHECK(packed >= 1);  // the Linears did take the int8 path
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("QANN on the W8A8 GEMM equals the int64 reference bit for bit (fashion_vit W8A8, W8A4, code_gpt W8A8)") {
    check_model("examples/fashion_vit/fashion_vit_relu.onnx", 8, 3);
    check_model("examples/fashion_vit/fashion_vit_relu.onnx", 4, 2);
    check_model("examples/code_gpt/code_gpt.onnx", 8, 1);
  }
}

}  // namespace snnconv
