// Structural pruning of a fused float graph (Stage::canonical, static shapes) and bias correction without
// gradients (docs/compression.md, "Pruning").
//
// Units found in the graph's structure, not by name:
// - attention: Linear q/k/v -> Reshape [.., H, D] -> Transpose (heads to axis 1) -> Attention ->
//   Transpose (heads back to axis 2) -> Reshape [.., H*D] -> Linear proj. Head h owns columns h*D..h*D+D-1
//   of the q/k/v weights [K, H*D] and biases, and rows h*D..h*D+D-1 of the proj weight [H*D, N].
// - MLP: a Linear with an activation (up) whose only consumer is a Linear (down). Channel c owns column c
//   of up's weight and bias, and row c of down's weight.
// - block: the residual span around one attention unit: x -> Add(x, proj(..)) = x1 -> Add(x1, down(..)) = y
//   (the MLP Add is optional). Removing it makes y's uses read x; its nodes become dead and are erased.
// Pruning really shrinks the matrices: new constants with fewer rows/columns, the Reshape shape constants
// rewritten with the new head count, shapes re-inferred and the graph verified at Stage::canonical.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"

namespace snnconv::prune {

struct AttentionUnit {
  NodeId attention, q, k, v, proj;                          // Linear nodes q, k, v, proj
  NodeId q_reshape, k_reshape, v_reshape, out_reshape;      // the Reshapes whose shape constants hold H
  std::int64_t heads = 0, head_dim = 0;
};
struct MlpUnit {
  NodeId up, down;  // Linear nodes
  std::int64_t channels = 0;
};
struct BlockUnit {
  ValueId input, output;  // x and y of the residual span
  int attention = -1;     // index into Structure::attention
  int mlp = -1;           // index into Structure::mlp, -1 when the block has no MLP
};
struct Structure {
  std::vector<AttentionUnit> attention;  // topological order
  std::vector<MlpUnit> mlp;
  std::vector<BlockUnit> blocks;
};
// The units of `g` (ids valid for `g` as it is). Attention chains that do not have the shape above are left
// out (not prunable), as are MLP pairs whose hidden value has other consumers.
Structure find_structure(const Graph& g);

// Importance of each unit on calibration data. Heads and channels: the squared L2 change of their block's
// residual-branch output (the proj / down Linear output, which the residual Add adds to the stream) when
// only that unit is masked, summed over samples and positions; it is exact, computed from one forward
// pass: |ctx_h . W_proj[rows of h]|^2 and sum_t h_c(t)^2 * |W_down[c, :]|^2. Without samples (magnitude
// fallback): the squared Frobenius norm of the unit's rows of proj / down. Blocks: the mean over samples and
// positions of cos(x_t, y_t) between block input and output (high: the block changes little).
struct Importance {
  std::vector<std::vector<double>> heads;     // [attention unit][head]
  std::vector<std::vector<double>> channels;  // [mlp unit][channel]
  // The same with the unit's mean contribution removed: sum over rows of |c_t - mean c|^2 (the change when
  // the unit is replaced by its mean, which bias correction then restores). Measured only.
  std::vector<std::vector<double>> heads_fluctuation, channels_fluctuation;
  std::vector<double> block_cosine;           // [block]; empty without samples
  bool measured = false;                      // false: magnitude fallback
};
// `samples`: one vector of graph inputs per sample, in g.inputs() order.
Importance measure_importance(const Graph& g, const Structure& s, std::span<const std::vector<Tensor>> samples);

struct PruneOptions {
  double heads = 0.0;  // fraction of heads removed in every attention unit, [0, 1)
  double mlp = 0.0;    // fraction of hidden channels removed in every MLP, [0, 1)
  int blocks = 0;      // whole blocks removed (fewer than the model has)
  // Rank heads and channels by fluctuation instead of the second moment: right when bias correction
  // follows, since it restores each removed unit's mean contribution.
  bool rank_by_fluctuation = false;
};
// Units removed per layer: floor(fraction * n + 1e-9), at most n - 1 (one head / channel always stays).
std::int64_t units_removed(double fraction, std::int64_t n);

struct PruneResult {
  std::vector<std::string> pruned;  // one line per pruned unit set ("<node>: heads 2 removed of 4", ...)
  // For each Linear whose output columns were removed: the kept column indices of the original weight.
  std::map<std::string, std::vector<std::int64_t>> kept_columns;
  // For each Linear whose input rows were removed: the kept row indices of the original weight.
  std::map<std::string, std::vector<std::int64_t>> kept_rows;
  std::vector<std::string> removed_blocks;  // "block i (x -> y)"
};
// Prunes `g` in place: ranks by `importance` (lowest removed first; ties: lower index first), removes heads
// and channels in every unit, then the `blocks` blocks with the highest cosine (ties: earlier block first);
// heads and channels of removed blocks are not reported. UsageError for fractions outside [0, 1) or
// blocks < 0 or >= the number of blocks; UnsupportedError when something is asked of a model without
// that kind of unit.
PruneResult prune_graph(Graph& g, const Structure& s, const Importance& importance, const PruneOptions& options);

// The primitives (tests use them directly). Indices are sorted and unique, fewer than the unit has.
void remove_heads(Graph& g, const AttentionUnit& a, const std::vector<std::int64_t>& heads);
void remove_channels(Graph& g, const MlpUnit& m, const std::vector<std::int64_t>& channels);
void remove_block(Graph& g, const BlockUnit& b);  // erases nodes: ids of `g` change
// Masking without shrinking: zeroes the rows of proj / down the units own (the pruned model's reference).
void mask_heads(Graph& g, const AttentionUnit& a, const std::vector<std::int64_t>& heads);
void mask_channels(Graph& g, const MlpUnit& m, const std::vector<std::int64_t>& channels);

// Parameters: elements of the graph's f32 constants (weights, biases, norms, tables).
std::int64_t count_params(const Graph& g);

// Bias correction without gradients. For every Linear of `g` that `reference` has under the same node name,
// processed in waves of Linear depth (a Linear's correction is computed after every Linear upstream of it
// was corrected): sets its bias so that, for each kept output channel, the mean over all calibration
// samples and positions of its pre-activation output x . W + b equals the reference model's mean of the
// same channel (kept_columns maps channels; absent: identity). Means are accumulated in double.
// Returns the mean |bias change| per corrected Linear, by name.
std::map<std::string, double> correct_biases(Graph& g, const Graph& reference, const PruneResult& mapping,
                                             std::span<const std::vector<Tensor>> samples);

// Weight quantization as quantize_skeleton does it, in float: each Linear's weight [K, N] becomes
// round(W / s_n) * s_n with s_n = max_k |W[k, n]| / (2^(b-1) - 1) (symmetric per output channel, half away
// from zero); b = bits_of[node name] when present, else `bits`. The quantizer re-quantizes such weights to
// the same integers, so running correct_biases on the result before quantize_prepared corrects the mean
// output shift weight quantization causes (bias correction "after quantization").
// With `group` > 0 (or a group_of entry for the node; QuantizeOptions::weight_group), steps per group of
// that many input rows and output channel instead, as the grouped quantizer computes them.
void fake_quantize_weights(Graph& g, int bits, const std::map<std::string, int>& bits_of = {}, std::int64_t group = 0,
                           const std::map<std::string, std::int64_t>& group_of = {});

}  // namespace snnconv::prune
