// Hierarchy-aware mixed precision (docs/compression.md, "Mixed precision"): sensitivity of each unit of the
// model's hierarchy to quantization, and the exact bit allocation that minimises total sensitivity under a
// budget.
//
// Hierarchy (derived from node names; hierarchy_units): a Linear's name is split at '/' with empty parts
// dropped, e.g. "/blocks.0/attn/q/MatMul" -> blocks.0, attn, q, MatMul.
//   - tensor:   the Linear itself (its full node name);
//   - sublayer: inside a block, "<block>/attn" when a part below the block is attn, attention, self_attn or
//               the projection is q, k, v, qkv, proj, o_proj, out_proj; "<block>/mlp" when a part is mlp,
//               ffn, fc1, fc2, up, down, gate (or up_proj, down_proj, gate_proj); else "<block>/<first part
//               below the block>". Outside any block: the first part (head, patch_embed, ...);
//   - block:    the path up to the first part of the form <word>.<integer> (blocks.3); Linears outside
//               every block have no block-level unit (their sub-layer is their coarsest unit below the model);
//   - model:    every Linear.
// Embedding tables and the patch embedding stay real-valued in the QANN (the input prologue, quantize.hpp),
// so they are not weight units. Activation units are the quantization points, at tensor level only.
//
// Sensitivity of a unit at b bits: KL(p_float || p_unit@b) of the model's output distribution (softmax of
// the last axis of the first graph output, so per position for a decoder), in nats, averaged over the
// output rows of every calibration sample, where only the unit is quantized (weights: its Linears' weights
// symmetric at b bits, per output channel or grouped as SensitivityOptions says, everything else float; activations: only that point's FakeQuant,
// with the step the calibration picks at b bits, every other point float).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "snnconv/converter/quantize.hpp"
#include "snnconv/core/graph.hpp"
#include "snnconv/core/tensor.hpp"

namespace snnconv {

enum class UnitLevel : std::uint8_t { model, block, sublayer, tensor };
std::string_view unit_level_name(UnitLevel level);

struct PrecisionUnit {
  std::string name;                  // "model", "blocks.0", "blocks.0/attn", or the Linear / point name
  UnitLevel level = UnitLevel::tensor;
  std::vector<std::string> members;  // Linear node names (weights) or quantization point names (activations)
  std::int64_t params = 0;           // weight elements of the members (activations: elements of the point)
};

// Units of the weight hierarchy of a canonical graph, coarse to fine (model, blocks, sub-layers, tensors),
// each level in the Linears' topological order. `linears` as QannSkeleton::linears.
std::vector<PrecisionUnit> hierarchy_units(const Graph& canonical, const std::vector<std::string>& linears);

// Per output channel (group 0) or grouped (steps per `group` input rows, quantize.hpp) symmetric
// quantization of a [K, N] weight to `bits`, returned dequantized (f32): the same levels and steps
// quantize_skeleton stores.
Tensor fake_quantize_weight(const Tensor& weight, int bits, std::int64_t group = 0);

struct SensitivityOptions {
  std::vector<int> bits{2, 3, 4, 6, 8};
  int threads = 1;
  // Activations only: > 0 measures each point at b bits with every other point at context_bits (the
  // operating point of the budget) instead of float.
  int context_bits = 0;
  // Weights: grouped steps as QuantizeOptions::weight_group / weight_group_of (0: per output channel).
  std::int64_t weight_group = 0;
  std::map<std::string, std::int64_t> weight_group_of;
  std::int64_t group_of(const std::string& linear) const {
    const auto it = weight_group_of.find(linear);
    return it != weight_group_of.end() ? it->second : weight_group;
  }
};

// Sensitivity table: per unit (index into the units given), bits -> KL.
using SensitivityTable = std::vector<std::map<int, double>>;

// Weight sensitivities of `units` on the canonical (float) graph. Units with the same member set are
// measured once. ShapeError naming the input when a sample does not fit the model.
SensitivityTable weight_sensitivity(const Graph& canonical, const std::vector<PrecisionUnit>& units,
                                    std::span<const std::vector<Tensor>> samples, const SensitivityOptions& options);

// KL of the model with every Linear named in `bits_of` quantized at its bits at once (the joint effect of an
// allocation, against which the summed tensor sensitivities are an additive estimate).
double allocation_kl(const Graph& canonical, const std::map<std::string, int>& bits_of,
                     std::span<const std::vector<Tensor>> samples, const SensitivityOptions& options);

// Activation sensitivities of every quantization point of the skeleton (one tensor-level unit per point, in
// skeleton order; returned in `units`), steps from `calibration` with `quant`'s clip method. With
// options.context_bits > 0 the other points are quantized at that width instead of left float.
SensitivityTable activation_sensitivity(const QannSkeleton& skeleton, const Calibration& calibration,
                                        std::span<const std::vector<Tensor>> samples, const QuantizeOptions& quant,
                                        const SensitivityOptions& options, std::vector<PrecisionUnit>& units);

// Quantization points grouped by block (the weights' block rule applied to point names; a point outside every
// block is its own unit), and the sensitivity of units of points (every member at b bits at once).
std::vector<PrecisionUnit> activation_blocks(const QannSkeleton& skeleton);
SensitivityTable activation_unit_sensitivity(const QannSkeleton& skeleton, const Calibration& calibration,
                                             std::span<const std::vector<Tensor>> samples,
                                             const QuantizeOptions& quant, const SensitivityOptions& options,
                                             const std::vector<PrecisionUnit>& units);

// KL(softmax(p) || softmax(q)) over the last axis, averaged over rows, in nats (exposed for tests).
double mean_row_kl(const Tensor& p_logits, const Tensor& q_logits);

// ---- allocation: multiple-choice knapsack ----------------------------------------------------------------

// One item (a tensor or a quantization point) with its options (bits): cost and value (sensitivity) each.
struct KnapsackItem {
  std::vector<double> cost;
  std::vector<double> value;
};

struct KnapsackSolution {
  std::vector<int> choice;  // per item, index of the chosen option
  double cost = 0.0, value = 0.0;
  bool exact = true;        // false: costs were rounded up to a grid (feasible, optimal on the grid)
  std::int64_t grid_cells = 0;
};

// Minimises the summed value subject to summed cost <= budget, one option per item. Exact dynamic program
// when every cost is an integer and budget / gcd(costs) <= max_cells; otherwise costs are rounded up to
// a grid of max_cells cells over the budget (the result always meets the budget; exact = false). Ties go
// to the smaller cost, then to the lower option index. UsageError (naming `what`, the budget and the
// smallest possible cost) when even the cheapest options exceed the budget.
KnapsackSolution solve_knapsack(const std::vector<KnapsackItem>& items, double budget, const std::string& what,
                                std::int64_t max_cells = 1 << 21);

// Per-Linear costs of a cost file (docs/compression.md, "Cost file"):
//   {"budget": 1.5e6, "costs": {"<Linear name>": 2.0, "<other>": {"2": 10, "3": 14, "4": 18, ...}}}
// A number is a cost per weight bit (cost = number * params * bits); an object gives the cost of each
// candidate bits. Linears not listed cost params * bits. UsageError naming the file, entry and value for a
// missing budget, an unknown Linear name, a missing candidate bits or a negative cost.
struct CostTable {
  double budget = 0.0;
  std::map<std::string, std::map<int, double>> cost;  // Linear -> bits -> cost (every Linear, every bits)
};
CostTable read_cost_file(const std::string& path, const std::vector<PrecisionUnit>& tensors, const std::vector<int>& bits);

}  // namespace snnconv
