// Post-training quantization: a canonical (fused) ANN becomes a quantized ANN (Stage::quantized) with the
// quantization points of DESIGN.md section 4, calibrated on real samples (docs/compression.md).
//
// Structure (build_qann_skeleton): a FakeQuant is inserted on every input of a Linear, LayerNorm and Softmax,
// on both operands of a residual Add and of an activation x activation product, and once per value (all
// consumers share it). A fused Attention is expanded into its integer form: MatMul(Q, K^T) -> FakeQuant ->
// Softmax (causal when the Attention was) -> FakeQuant -> MatMul(P, V); its scale is folded into the weights
// and bias of the Linear that produces Q. Everything that depends only on the graph inputs (patch or token
// embeddings, position tables) is left as a real-valued prologue. A nonlinearity fused into a Linear
// (LinearAttrs.activation) is applied by the FakeQuant that follows it.
//
// Steps: per tensor, from the calibration statistics of the value each FakeQuant reads (in the float
// model), by min/max, a percentile of |x|, or the clip that minimises the quantization MSE. A tensor whose
// calibration values are all >= 0 gets unsigned levels [0, 2^b - 1]; the others [-2^(b-1), 2^(b-1) - 1].
// Weights: symmetric per output channel, levels [-(2^(b-1) - 1), 2^(b-1) - 1], stored as exact integers
// in f32 with QuantParams (axis 1 of the [K, N] weight); or grouped (weight_group G, K % G == 0): one step
// per group of G consecutive input rows and output channel, from that block's max |w| (QuantParams axis 0,
// group_size G, scale [K/G][N]; qann.hpp has the integer semantics). G = K is per channel.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv {

enum class ClipMethod : std::uint8_t { minmax, percentile, mse };
std::string_view clip_method_name(ClipMethod m);
ClipMethod parse_clip_method(std::string_view name);  // UsageError listing the choices

struct QuantizeOptions {
  int weight_bits = 8;  // 2..8
  int act_bits = 8;     // 2..16
  ClipMethod clip = ClipMethod::mse;
  double percentile = 99.99;        // ClipMethod::percentile, in (0, 100]
  std::int64_t max_values = 1 << 18;  // values kept per quantization point for percentile/MSE search
  // Mixed precision: per Linear node name, weight bits; per quantization point (FakeQuant output value
  // name), activation bits. Unknown names are a UsageError.
  std::map<std::string, int> weight_bits_of;
  std::map<std::string, int> act_bits_of;
  // Grouped weights: rows (inputs) per weight step; 0 = per output channel. Per Linear node name override
  // (0 there: per channel). A G that does not divide a Linear's K is a UsageError naming it.
  std::int64_t weight_group = 0;
  std::map<std::string, std::int64_t> weight_group_of;
  // Calibration's float passes in parallel over blocks of samples (0: every core). The statistics are merged
  // in sample order, so the result is identical for any count.
  int threads = 1;
};

// Symmetric integer levels of a constant [K, N] weight at `bits` (stored as exact integers in f32) and
// their QuantParams: per output channel when group is 0 or K, else per group of `group` rows. `what` names
// the Linear in the UsageError for a group that does not divide K.
struct WeightLevels {
  std::vector<float> levels;  // [K][N]
  QuantParams quant;
};
WeightLevels quantize_weight(const Tensor& weight, int bits, std::int64_t group, const std::string& what);
// Bytes of a quantized weight's steps as stored (f32 each): N per channel, (K/G)*N grouped.
std::int64_t weight_step_bytes(const QuantParams& weight_quant);

// One quantization point of a skeleton.
struct QuantPoint {
  std::string name;        // the FakeQuant's output value
  std::string node;        // the FakeQuant node
  bool probabilities = false;  // a softmax output: unsigned, range [0, 1]
  int tie = -1;                // >= 0: points of one Concat share one step (chosen on their joint values)
};

// The QANN structure with float weights and FakeQuants still uncalibrated (stage quantized, but not runnable
// by run_qann until quantize_skeleton fills the steps). Throws UnsupportedError naming the node for what it
// cannot express (an Attention with an explicit mask, a scale it cannot fold).
struct QannSkeleton {
  Graph graph;
  std::vector<QuantPoint> points;
  std::vector<std::string> linears;  // Linear node names (weight-bearing units), in topological order
};
QannSkeleton build_qann_skeleton(const Graph& canonical);

// Calibration statistics of every point: the float values its FakeQuant reads, subsampled.
struct PointStats {
  float min = 0.0f, max = 0.0f;
  std::vector<float> values;  // deterministic subsample (every k-th value)
  std::int64_t seen = 0;
};
struct Calibration {
  std::map<std::string, PointStats> points;  // by point name
  std::int64_t samples = 0;
};

// Runs the skeleton in float (FakeQuant = identity, reference kernels) on each sample (one vector of graph
// inputs per sample, in graph.inputs() order) and gathers statistics, on options.threads threads. Throws
// ShapeError naming the input when a sample does not match the model, NumericError when a calibration value
// is NaN or infinite (the error of the first such sample, whatever the thread count).
Calibration calibrate(const QannSkeleton& skeleton, std::span<const std::vector<Tensor>> samples,
                      const QuantizeOptions& options);

// The same statistics in parts: calibrate_part gathers samples [first, first + samples.size()) of a run of
// `total` samples (the subsampling follows the whole run's positions), and merging the parts of consecutive
// ranges in order gives exactly calibrate's result. What calibrate's threads and data-parallel ranks run.
Calibration calibrate_part(const QannSkeleton& skeleton, std::span<const std::vector<Tensor>> samples,
                           std::int64_t first, std::int64_t total, const QuantizeOptions& options);
// Appends `next` (the part right after `into`'s samples) to `into`.
void merge_calibration(Calibration& into, Calibration&& next);
// calibrate on the samples [begin, end) of the run `run` only (one rank's shard of a data-parallel calibration),
// on options.threads: calibrate_part's statistics for that range, whatever the thread count. An empty range
// gives every point empty statistics.
Calibration calibrate_range(const QannSkeleton& skeleton, std::span<const std::vector<Tensor>> run, std::int64_t begin,
                            std::int64_t end, const QuantizeOptions& options);

// Fills steps and level bounds of every point and quantizes the weights: a graph run_qann and
// convert_to_spiking accept. UsageError for bits out of range or unknown names in the per-unit maps.
Graph quantize_skeleton(const QannSkeleton& skeleton, const Calibration& calibration, const QuantizeOptions& options);

// quantize_skeleton in two halves, so that the steps can be chosen where the statistics are (rank 0 of a
// data-parallel run) and applied everywhere: choose_activation_steps gives every point's QuantParams by point
// name (tied points from their joint statistics; the points in parallel on options.threads, each chosen alone,
// so the result is the same for any count); quantize_skeleton with those steps sets them and quantizes the
// weights. Both check the per-unit maps as quantize_skeleton does.
using ActivationSteps = std::map<std::string, QuantParams>;
// `only` (one flag per skeleton point): choose those points' steps alone, from their statistics alone (the points
// a rank owns in a data-parallel search; a tie group must be selected whole).
ActivationSteps choose_activation_steps(const QannSkeleton& skeleton, const Calibration& calibration,
                                        const QuantizeOptions& options, const std::vector<bool>* only = nullptr);
Graph quantize_skeleton(const QannSkeleton& skeleton, const ActivationSteps& steps, const QuantizeOptions& options);

// The sum of squared errors of quantizing `values` at step s to levels n_min..n_max (round half up, clamp,
// accumulated in double in the order of `values`): the reference for the MSE clip search.
double quant_mse(const std::vector<float>& values, float s, std::int32_t n_min, std::int32_t n_max);
// quant_mse at kMseLanes steps in one pass, each sum bit-identical to quant_mse's (the lanes break its chain of
// dependent adds); what choose_step's MSE search runs.
inline constexpr int kMseLanes = 8;
void quant_mse_lanes(const std::vector<float>& values, const float (&steps)[kMseLanes], std::int32_t n_min,
                     std::int32_t n_max, double (&errors)[kMseLanes]);
// The same at 16 steps per pass in AVX-512: call only when active_isa() >= Isa::avx512 (cpu_features.hpp).
inline constexpr int kMseLanesWide = 16;
void quant_mse_lanes16(const std::vector<float>& values, const float (&steps)[kMseLanesWide], std::int32_t n_min,
                       std::int32_t n_max, double (&errors)[kMseLanesWide]);
// The step a clip method picks for `stats` at `levels` (n_min..n_max), exposed for tests.
float choose_step(const PointStats& stats, std::int32_t n_min, std::int32_t n_max, const QuantizeOptions& options);
// The QuantParams of activation point `p` at `bits` from the statistics `stats` it is calibrated on: unsigned
// levels [0, 2^b - 1] for probabilities and values never below 0, else [-2^(b-1), 2^(b-1) - 1]; per tensor,
// step by choose_step.
QuantParams activation_params(const QuantPoint& p, const PointStats& stats, int bits, const QuantizeOptions& options);

}  // namespace snnconv
