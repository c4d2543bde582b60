// open_model (model_source.hpp): the task inferred from the graph, --task, the static batch and the window, on
// real torch exports (examples/fixtures, examples/static_batch); synthetic rows; rows of an .npz grouped B at a
// time with the last group padded.
#include <doctest/doctest.h>

#include <filesystem>

#include "snnconv/core/error.hpp"
#include "snnconv/pipeline/model_data.hpp"
#include "snnconv/pipeline/model_source.hpp"

using namespace snnconv;
using namespace snnconv::pipeline;

namespace {
const std::filesystem::path kRoot = SNNCONV_SOURCE_DIR;

ModelSource open(const std::string& rel, const std::string& task = "", const std::string& data = "") {
  SourceOptions o;
  o.model = (kRoot / rel).string();
  o.task = task;
  o.data = data.empty() ? "" : (kRoot / data).string();
  return open_model(o);
}
}  // namespace

TEST_CASE("task inference on stock torch exports" * doctest::test_suite("unit")) {
  const ModelSource vit = open("examples/fixtures/vit_op17_static.onnx");
  CHECK(vit.task == "classification");  // float [2, 10] output
  CHECK(vit.task_origin == "inferred");
  CHECK(vit.static_batch == 2);
  CHECK(vit.batch_symbol.empty());

  const ModelSource gpt = open("examples/fixtures/gpt_op17_dynamic.onnx");
  CHECK(gpt.task == "language_model");  // int tokens [batch, seq] -> [batch, seq, V], V = the embedding's rows
  CHECK(gpt.static_batch == 0);
  CHECK_FALSE(gpt.batch_symbol.empty());
  CHECK_FALSE(gpt.seq_symbol.empty());
  CHECK(gpt.token_input() == 0);

  // BERT: input_ids and attention_mask in, hidden states [B, T, 32] out (32 is not the vocabulary of 100).
  const ModelSource bert = open("examples/fixtures/bert_op17_static.onnx");
  CHECK(bert.task.empty());
  CHECK(bert.task_origin.empty());
  REQUIRE(bert.token_input() >= 0);
  CHECK(bert.unbound.value(bert.unbound.inputs()[static_cast<std::size_t>(bert.token_input())]).name == "input_ids");

  const ModelSource lm = open("examples/static_batch/code_gpt_draft_b2.onnx");
  CHECK(lm.task == "language_model");
  CHECK(lm.static_batch == 2);
  CHECK(lm.window == 64);  // fixed by the export
  CHECK(lm.run_rows(64) == 2);
}

TEST_CASE("--task overrides and is refused when the model cannot have it" * doctest::test_suite("unit")) {
  CHECK(open("examples/fixtures/gpt_op17_static.onnx", "classification").task == "classification");
  CHECK(open("examples/fixtures/gpt_op17_static.onnx", "classification").task_origin == "--task");
  CHECK_THROWS_AS(open("examples/fixtures/vit_op17_static.onnx", "language_model"), UsageError);
  CHECK_THROWS_AS(open("examples/fixtures/vit_op17_static.onnx", "regression"), UsageError);
  // An HDF5 dataset's task wins over inference when no --task is given.
  CHECK(open("examples/static_batch/medical_tab_b1.onnx", "", "examples/data/breast_cancer.h5").task_origin == "dataset");
}

TEST_CASE("rows of an .npz: one sample per row, grouped by the export's static batch, the last group padded" *
          doctest::test_suite("unit")) {
  const ModelSource src = open("examples/static_batch/medical_tab_b2.onnx");
  const RowSet rows = load_rows(src, (kRoot / "examples/static_batch/medical_test.npz").string(), RowRequest{"test", 5, 0});
  CHECK(rows.kind == "npz");
  CHECK(rows.rows == 5);
  REQUIRE(rows.inputs.size() == 1);
  CHECK(rows.inputs[0].shape() == Shape{5, 30});
  CHECK(rows.labels.size() == 5);
  const std::vector<Tensor> last = take_rows(rows, 4, 1, 2);  // one real row, padded to the batch of 2
  REQUIRE(last.size() == 1);
  CHECK(last[0].shape() == Shape{2, 30});
  for (std::int64_t j = 0; j < 30; ++j) {
    CHECK(last[0].data<float>()[j] == rows.inputs[0].data<float>()[4 * 30 + j]);
    CHECK(last[0].data<float>()[30 + j] == rows.inputs[0].data<float>()[4 * 30 + j]);  // the repeated last row
  }
}

TEST_CASE("synthetic rows are seeded and fit the model's inputs" * doctest::test_suite("unit")) {
  const ModelSource gpt = open("examples/static_batch/code_gpt_draft_b1.onnx");
  const RowSet a = synthetic_rows(gpt, 3), b = synthetic_rows(gpt, 3), c = synthetic_rows(gpt, 3, 2);
  REQUIRE(a.inputs.size() == 1);
  CHECK(a.inputs[0].shape() == Shape{3, 64});
  CHECK(a.inputs[0].identical(b.inputs[0]));
  CHECK_FALSE(a.inputs[0].identical(c.inputs[0]));
  for (std::int64_t id : a.inputs[0].to_i64()) {
    CHECK(id >= 0);
    CHECK(id < 256);  // uniform over the embedding's rows
  }
  CHECK_FALSE(a.scored());
  CHECK(a.kind == "synthetic");
}
