// The exchange of a data-parallel spiking run (spiking.hpp, SpikingRunOptions::comm): each rank's shard of
// per-sample results goes to rank 0, which then scores every sample exactly as one process would.
#pragma once

#include <vector>

#include "snnconv/core/communicator.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/pipeline/spiking.hpp"
#include "snnconv/snn_core/engine.hpp"

namespace snnconv::pipeline::detail {

// `results` and `curves` hold one slot per sample of the whole run; this rank filled those of its shard
// (shard_of(results.size(), rank, size)): outputs, steps, quiescent and the per-step readings. On rank 0 the
// call fills every slot from the other ranks' shards and merges their ledgers into `ledger` in rank order (its
// own first: integer counters, so the sum is the one-process sum); it returns true there and false elsewhere.

bool gather_shards(Communicator& comm, std::vector<snn::RunResult>& results,
                   std::vector<std::vector<SampleScore>>& curves, Ledger& ledger);

// quantize_prepared's stages (spiking.cpp), which quantize_jointly spreads over the ranks: the QANN skeleton of
// m.canonical (and m.file_points); then, with `calibrated` samples and the chosen steps, the QANN, the SNN and
// the fields that describe them.
QannSkeleton quantization_skeleton(QuantizedModel& m);
// The calibration samples the skeleton needs: none when it has no point to calibrate (a QDQ file that brings
// every step), else calibration_inputs (UsageError when there are none).
std::vector<std::vector<Tensor>> skeleton_calibration_inputs(const QuantizedModel& m, const QannSkeleton& sk,
                                                              const QuantizeModelOptions& o);
void finish_quantized(QuantizedModel& m, QannSkeleton&& sk, std::int64_t calibrated, const ActivationSteps& steps,
                      const QuantizeModelOptions& o);

}  // namespace snnconv::pipeline::detail
