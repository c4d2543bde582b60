// Mixed precision in compress_model (compress_mixed.hpp): the budget is met, runs repeat exactly, and
// impossible budgets and unfitting calibration data are clear errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include "snnconv/pipeline/compress.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv {
namespace {

const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

pipeline::CompressOptions vit_options() {
  pipeline::CompressOptions o;
  o.quant.model = (kRoot / "examples/fashion_vit/fashion_vit_relu.onnx").string();
  o.quant.calib_samples = 4;
  o.sensitivity_samples = 2;
  return o;
}

template <typename F> std::string usage_message(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no UsageError";
}

}  // namespace

TEST_SUITE("unit") {
TEST_CASE("compress with --budget-wbits 4 on fashion_vit: within the uniform 4-bit bytes and repeatable") {
  REQUIRE_MESSAGE(std::filesystem::exists(kRoot / "examples/fashion_vit/fashion_vit_relu.onnx"), "fashion_vit_relu is committed");
  pipeline::CompressOptions o = vit_options();
  o.budget_wbits = 4.0;
  o.budget_act_bits = 6.0;
  o.candidate_bits = {2, 4, 8};
  o.candidate_act_bits = {4, 8};
  const pipeline::CompressResult a = pipeline::compress_model(o);
  const pipeline::CompressResult b = pipeline::compress_model(o);
  std::int64_t params = 0;
  std::map<int, int> widths;
  for (const pipeline::UnitReport& u : a.units) {
    params += u.params;
    ++widths[u.weight_bits];
    CHECK(u.sensitivity.size() == 3);
  }
  CHECK(a.weight_bytes <= static_cast<double>(params) * 4.0 / 8.0);
  CHECK(widths.size() >= 2);  // really mixed
  REQUIRE(a.units.size() == b.units.size());
  for (std::size_t i = 0; i < a.units.size(); ++i) {
    CHECK(a.units[i].weight_bits == b.units[i].weight_bits);
    CHECK(a.units[i].sensitivity == b.units[i].sensitivity);
  }
  CHECK(a.act_bits == b.act_bits);
  double act_sum = 0.0;
  for (const auto& [name, bits] : a.act_bits) act_sum += bits;
  CHECK(act_sum <= 6.0 * static_cast<double>(a.act_bits.size()));
  CHECK(a.mixed.weight_exact);
  // Every level of the hierarchy is reported.
  std::set<std::string> levels;
  for (const pipeline::HierarchyReport& h : a.mixed.weight_units) levels.insert(h.level);
  CHECK(levels == std::set<std::string>{"model", "block", "sublayer", "tensor"});
  // The quantized graphs are identical too.
  REQUIRE(a.model.qann.num_values() == b.model.qann.num_values());
  for (std::size_t v = 0; v < a.model.qann.num_values(); ++v) {
    const Value& x = a.model.qann.values()[v];
    const Value& y = b.model.qann.values()[v];
    CHECK(x.quant == y.quant);
    if (x.constant) CHECK(x.constant->to_f32() == y.constant->to_f32());
  }
}

TEST_CASE("compress with grouped weights: step bytes and a bytes budget that counts the grouped steps") {
  REQUIRE_MESSAGE(std::filesystem::exists(kRoot / "examples/fashion_vit/fashion_vit_relu.onnx"), "fashion_vit_relu is committed");
  pipeline::CompressOptions o = vit_options();
  o.quant.quant.weight_bits = 4;
  const pipeline::CompressResult ch = pipeline::compress_model(o);
  CHECK(ch.weight_bytes == 65856.0);  // 131712 weights at 4 bits
  CHECK(ch.step_bytes == 7208);       // 1802 output channels, f32
  o.quant.quant.weight_group = 32;
  const pipeline::CompressResult g = pipeline::compress_model(o);
  CHECK(g.weight_bytes == 65856.0);
  CHECK(g.step_bytes == 16464);  // 131712 / 32 steps
  CHECK(g.weight_group == 32);
  // Every weight at 2 bits (32928 bytes) plus the grouped steps beyond per channel (16464 - 7208 = 9256).
  o.budget_bytes = 40000;
  const std::string m = usage_message([&] { pipeline::compress_model(o); });
  CHECK(m.find("--budget-bytes 40000") != std::string::npos);
  CHECK(m.find("42184") != std::string::npos);
  o.budget_bytes = 60000;
  const pipeline::CompressResult b = pipeline::compress_model(o);
  CHECK(b.weight_bytes + static_cast<double>(b.step_bytes - 7208) <= 60000.0);
  CHECK(b.weight_bytes > 40000.0);
}

TEST_CASE("compress: impossible budgets are UsageErrors naming the value") {
  REQUIRE_MESSAGE(std::filesystem::exists(kRoot / "examples/fashion_vit/fashion_vit_relu.onnx"), "fashion_vit_relu is committed");
  pipeline::CompressOptions o = vit_options();
  o.budget_wbits = 1.5;
  CHECK(usage_message([&] { pipeline::compress_model(o); }).find("--budget-wbits 1.5") != std::string::npos);
  o.budget_wbits = 0.0;
  o.budget_bytes = 30000;  // 131712 weights at 2 bits take 32928 bytes
  const std::string m = usage_message([&] { pipeline::compress_model(o); });
  CHECK(m.find("--budget-bytes 30000") != std::string::npos);
  CHECK(m.find("32928") != std::string::npos);
  o.budget_bytes = 40000;
  o.budget_wbits = 4.0;
  CHECK(usage_message([&] { pipeline::compress_model(o); }).find("one weight budget") != std::string::npos);
  o.budget_bytes = 0;
  o.budget_wbits = 0.0;
  o.budget_act_bits = 2.5;  // candidates 3..8
  CHECK(usage_message([&] { pipeline::compress_model(o); }).find("--budget-act-bits 2.5") != std::string::npos);
}

TEST_CASE("compress: calibration data that do not fit the model is an error naming the shapes") {
  REQUIRE_MESSAGE(std::filesystem::exists(kRoot / "examples/data/digits.h5"), "digits.h5 is committed");
  pipeline::CompressOptions o = vit_options();
  o.quant.data = (kRoot / "examples/data/digits.h5").string();  // 8x8 digits for a 28x28 model
  o.budget_wbits = 4.0;
  const std::string m = usage_message([&] { pipeline::compress_model(o); });
  CHECK(m.find("do not fit the model input") != std::string::npos);
  CHECK(m.find("input") != std::string::npos);
}
}

}  // namespace snnconv
