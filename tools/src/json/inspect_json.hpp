// The JSON of `snnconv inspect --json` (and the dict of the Python module's inspect()): one builder each for an
// ONNX model and an SNN model file, so the CLI and the module can never disagree on a field.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace snnconv {
class Graph;
}

namespace snnconv::pipeline {
struct QuantizedModel;
}

namespace snnconv::cli {

// An imported ONNX graph (bound as the caller bound it; `fusions`: the per-pattern counts when it was fused, else
// null): opset, inputs, outputs, parameters, MACs, op histogram, metadata, per-layer rows.
nlohmann::json inspect_graph_json(const std::string& model, const Graph& g, const nlohmann::json& fusions);

// An SNN model file (.snn.h5) already loaded: its QANN's parameters per weight-bearing node (with the weight bits,
// group and step count of quantized weights).
nlohmann::json inspect_model_file_json(const std::string& path, const pipeline::QuantizedModel& m);

}  // namespace snnconv::cli
