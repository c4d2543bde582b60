// What the report concludes (docs/report-schema.md, `baselines` and `findings`): the like-for-like dense
// baselines the SNN is measured against, and per profile which side is cheaper, by how much, at what accuracy,
// why (the energy terms that differ most), which flagged constants could change that, at what activity the two
// would break even, and which blocks of the model win or lose. Computed once here; the report, the terminal and
// report.json show these figures, never their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/break_even.hpp"
#include "snnconv/neuromorphic_hw/price_profile.hpp"

namespace snnconv::cascade {

// A dense ANN the SNN is compared with: the model as exported (fp32), W8A8, and the QANN the SNN was converted
// from (the SNN's own bits: equal bits, and the same accuracy by construction).
struct AnnBaseline {
  std::string subject;  // pricing subject: "ann" (fp32, the ANN section's ledger), "ann_w8a8", "ann_qann"
  std::string label;    // "fp32", "W8A8", "W8A4"
  int weight_bits = 32, act_bits = 32;  // 32: float
  bool snn_bits = false;                // the QANN the SNN was converted from
  double value = 0;                     // the metric on the SNN's samples (NaN: not scored)
  std::int64_t samples = 0;             // samples the value was measured on (the SNN's)
  Graph graph;                          // quantized baselines: the QANN graph at batch 1 (fp32: empty)
  Ledger ledger;                        // quantized baselines: the dense engine's counts x samples (fp32: empty)
  std::vector<hw::ProfilePrice> prices;  // [0] compute-only, then one per profile (filled by price_pipeline)
};

// One energy term of a comparison, per inference. Terms: "weight_ops" (MACs and synaptic ops), "neuron_updates",
// "dense_ops", "nonlinear_ops", "noc" (spike packets and hops), "sram", "dram", "static".
struct Cause {
  std::string term;
  double snn_pj = 0, ann_pj = 0;
  // What the term counts, per inference: ops (weight_ops: SNN synaptic ops + MACs, ANN MACs + synaptic ops),
  // updates, packets, bytes, seconds of latency (static).
  double snn_count = 0, ann_count = 0;
  double delta_pj() const { return snn_pj - ann_pj; }
};

// A flagged constant (an assumption or an unverified figure) whose halving or doubling moves the compared
// ratio (SNN / baseline) by more than Findings::threshold.
struct AssumptionImpact {
  std::string profile, constant, unit;
  double value = 0;
  bool assumption = false;                // else: cited but not verified against the primary source
  std::vector<double> factors, changes;   // relative change of the ratio per factor (NaN: not priceable)
};

struct BreakEvenRow {
  std::string baseline;  // subject
  hw::BreakEven point;
};

// The energy of one block of the model (the first component of its node paths: "blocks.0", "head"; nodes
// without a path form "(other)"), per inference, dynamic energy only (static is a whole-run term).
struct BlockEnergy {
  std::string block;
  double snn_pj = 0, ann_pj = 0;
};

struct Finding {
  std::string snn_profile, ann_profile;  // equal for a per-profile finding
  std::string kind;                      // the profile's kind ("compute-only", "neuromorphic", "dense"; across: "across")
  bool compared = false;                 // false: why_not says why (no SNN, does not fit, ...)
  std::string why_not;
  std::string baseline;  // subject of the ANN compared with
  // "equal_accuracy": the cheapest baseline at least as accurate as the SNN; "most_accurate": none is, the most
  // accurate one; "equal_bits": no accuracy known, the QANN at the SNN's bits; "not_scored": no accuracy known
  // and no QANN baseline, the ANN as exported.
  std::string basis;
  double snn_pj = 0, ann_pj = 0;  // per inference
  double ratio = 0;               // snn_pj / ann_pj (> 1: the ANN is cheaper)
  double snn_value = 0, ann_value = 0;  // the metric on the same samples (NaN: not scored)
  double equal_bits_ann_pj = 0;         // the QANN at the SNN's bits on the same profile (NaN: none)
  double steps = 0;                     // the SNN's mean timesteps
  std::vector<Cause> causes;  // every term, the largest contribution in the direction of the result first
  std::vector<AssumptionImpact> assumptions;
  std::optional<hw::ActivityModel> activity;  // break-even model (per-profile findings with an SNN that fits)
  std::vector<BreakEvenRow> break_even;       // one per baseline that fits
  std::vector<BlockEnergy> blocks;            // against `baseline`, in model order
};

struct Findings {
  std::string metric;            // "accuracy", "bits_per_byte", "exact_match" or "" (not scored)
  bool higher_is_better = true;  // false for bits_per_byte
  double threshold = 0.25;       // an assumption matters when a 2x change moves the ratio by more than this
  std::vector<Finding> profiles;  // compute-only, then one per priced profile
  std::optional<Finding> across;  // the cheapest SNN on a neuromorphic chip against the baseline on a dense one
};

}  // namespace snnconv::cascade
