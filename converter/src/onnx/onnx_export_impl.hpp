// The ONNX exporter behind export_onnx (snnconv/converter/onnx_export.hpp). Private to converter/src/onnx:
// protobuf and ONNX types stay out of the public header. Its members are defined in two files:
//   onnx_export.cpp          the entry point, names/nodes/initializers, the canonical and float (qdq) emitters
//   onnx_export_integer.cpp  the integer form (ExportOptions::form integer): levels, exact Linear/MatMul on
//                            levels, the exact FakeQuant level, LayerNorm and Softmax on integer levels
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "snnconv/converter/onnx_export.hpp"

namespace snnconv::onnx_export::detail {

// One export: build() walks the graph in topological order and emits each node (onnx_export.cpp).
class Exporter {
 public:
  Exporter(const Graph& g, const ExportOptions& o) : g_(g), o_(o), names_(g.num_values()) {}

  onnx::ModelProto build(ExportStats& stats);

 private:
  // ---- names, nodes, constants (onnx_export.cpp) ----------------------------------------------------
  std::string unique(const std::string& base);
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name);
  static void attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v);
  static void attr_float(onnx::NodeProto* n, const std::string& name, float v);
  static void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v);
  std::string initializer(const std::string& base, const Tensor& t);
  std::string scalar_f32(const std::string& base, float v);
  std::string use(ValueId v);
  std::string out_name(NodeId id, std::size_t k = 0) const;
  [[noreturn]] void unsupported(NodeId id, const std::string& msg) const;

  // ---- what cannot be exported (onnx_export.cpp) ----------------------------------------------------
  std::string problem(NodeId id) const;
  void check_supported() const;

  // ---- emitters: canonical and qdq forms (onnx_export.cpp) ------------------------------------------
  void emit(NodeId id);
  void activation(Activation a, const std::string& x, const std::string& y, const std::string& base);
  void gelu(const std::string& x, const std::string& y, bool tanh_approx, const std::string& base);
  void linear_tail(NodeId id, const std::string& cur);
  // onnx_export_integer.cpp: the QANN's GELU (ann::qann_gelu) as Div/Max/Min/Mul/Add chains, and whether a
  // value depends on a quantization point (a GELU there is folded into the next point, not the prologue).
  void gelu_qann(const std::string& x, const std::string& y, const std::string& base);
  bool after_point(ValueId v);
  std::string weight(NodeId id, ValueId w);
  void linear(NodeId id);
  std::string causal_mask(const std::string& base, std::int64_t m, std::int64_t nk);
  void attention(NodeId id);
  std::string apply_mask(ValueId mask, const std::string& scores, const std::string& base);
  void softmax(NodeId id);
  void rms_norm(NodeId id);
  void rotary(NodeId id);
  void fake_quant(NodeId id);
  void quantize_linear(NodeId id, std::string x, const std::string& scale, const std::string& zero,
                       const std::string& q);
  void quantize_linear(const QuantParams& qp, const std::string& base, std::string x, const std::string& scale,
                       const std::string& zero, const std::string& q);
  // A step inside an Attention (AttentionAttrs::scores_quant / probs_quant) as QuantizeLinear -> DequantizeLinear.
  std::string attention_step(const QuantParams& qp, const std::string& x, const std::string& base);
  void generic(NodeId id);
  // An op's ONNX attributes (generic, and levels_of's copies of data movement ops).
  void attrs(onnx::NodeProto*, OpKind, const NoAttrs&);
  void attrs(onnx::NodeProto* p, OpKind, const AxisAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const GemmAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const ConvAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const TransposeAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind kind, const ReduceAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const CumSumAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const ReshapeAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const CastAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const LayerNormAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const TriluAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const ConstantOfShapeAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const SoftmaxAttrs& a);
  void attrs(onnx::NodeProto*, OpKind, const GeluAttrs&);
  void attrs(onnx::NodeProto*, OpKind, const LinearAttrs&);
  void attrs(onnx::NodeProto*, OpKind, const AttentionAttrs&);
  void attrs(onnx::NodeProto*, OpKind, const NeuronAttrs&);
  void attrs(onnx::NodeProto*, OpKind, const DiffUnitAttrs&);
  // onnx_export_attrs.cpp: the attribute structs of the ops added for broader ONNX coverage.
  void attrs(onnx::NodeProto* p, OpKind kind, const ScalarParamsAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const ArgReduceAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const TopKAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind kind, const PoolAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const LossAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const EpsilonAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const PadAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind kind, const BlockAttrs& a);
  void attrs(onnx::NodeProto* p, OpKind, const SplitAttrs& a);
  static void attr_string(onnx::NodeProto* n, const std::string& name, const std::string& v);

  // ---- the integer form (onnx_export_integer.cpp) ---------------------------------------------------
  void quantize_exact(NodeId id, const std::string& x, const std::string& scale, const std::string& zero,
                      const std::string& q);
  std::string levels_of(ValueId v);
  double max_level(ValueId v) const;
  static bool exact_in_f32(std::int64_t k, double max_a, double max_b);
  bool linear_integer(NodeId id);
  bool linear_grouped(NodeId id);
  bool product_integer(NodeId id);
  const QuantParams* level_params(ValueId v) const;
  std::string i64_levels(ValueId v, const std::string& base);
  std::string op(const std::string& type, const std::vector<std::string>& ins, const std::string& base);
  std::string cast(const std::string& x, int to, const std::string& base);
  std::string scalar_i64(const std::string& base, std::int64_t v);
  std::string last_axis();
  std::string row_sum(const std::string& x, const std::string& base);
  bool layer_norm_integer(NodeId id);
  bool softmax_integer(NodeId id);
  bool rms_norm_integer(NodeId id);
  std::string row_norm_levels(NodeId id, const QuantParams*& qp, std::int64_t& cols);

  const Graph& g_;
  const ExportOptions& o_;
  onnx::ModelProto model_;
  onnx::GraphProto* gp_ = nullptr;
  std::vector<std::string> names_;
  std::set<std::string> used_;
  std::set<std::uint32_t> written_;
  std::map<std::uint32_t, std::string> dq_weight_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::string> causal_;
  std::map<std::uint32_t, std::pair<std::string, std::string>> quantized_;  // FakeQuant output -> (q, zero point)
  std::map<std::uint32_t, std::string> levels_, weight_levels_;
  std::vector<bool> after_point_;  // ann::after_quantization, computed on first use
  std::string last_axis_;
  bool integer_ = false;
  ExportStats stats_;
};

}  // namespace snnconv::onnx_export::detail
