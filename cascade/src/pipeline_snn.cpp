// The SNN stage of the pipeline: the seam where compression (QANN), spiking conversion and the SNN run plug
// in. It appends its StageRecords (compress, convert, snn) and returns the SnnSection; price_pipeline and
// the report writers take it from there (docs/report-schema.md, the `snn` object).
#include "snnconv/cascade/pipeline.hpp"

namespace snnconv::cascade {

std::optional<SnnSection> run_snn_stage(const PipelineOptions& options, const Graph& fused_ann,
                                        std::vector<StageRecord>& stages) {
  (void)options;
  (void)fused_ann;
  // To fill (see pipeline.hpp): quantize `fused_ann` with default bits (QANN), convert_to_spiking, bind
  // batch 1, run snn::Engine on the same samples as the ANN (options.samples of options.split), and fill
  // SnnSection: qann/snn metric, steps to quiescence, metric_vs_step, per-population spikes and firing
  // rates, the spiking graph and its ledger.
  const std::string why = "the quantizer that makes real models spikable (QANN) is not available yet";
  stages.push_back(StageRecord{"compress", "not_available", 0.0, why});
  stages.push_back(StageRecord{"convert", "not_available", 0.0, "needs the QANN"});
  stages.push_back(StageRecord{"snn", "not_available", 0.0, "needs the spiking graph"});
  return std::nullopt;
}

}  // namespace snnconv::cascade
