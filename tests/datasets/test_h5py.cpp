// Interop with h5py (docs/datasets.md promises files "readable by h5py as naturally as by our reader"):
// h5py reads what we write, and we validate what h5py writes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>

#include "snnconv/datasets/reader.hpp"
#include "snnconv/datasets/reference.hpp"
#include "snnconv/datasets/writer.hpp"
#include "temp_dir.hpp"

using namespace snnconv;
using namespace snnconv::datasets;
using snnconv::test::TempDir;

namespace {

// The pyenv python3 first on PATH cannot see Debian's python3-h5py: use /usr/bin/python3.
bool have_h5py() {
  static const bool available = std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0;
  return available;
}

int run_python(const TempDir& dir, const std::string& script) {
  auto path = dir / "check.py";
  snnconv::test::write_bytes(path, script);
  return std::system(("/usr/bin/python3 '" + path.string() + "'").c_str());
}

}  // namespace

TEST_CASE("h5py reads the files we write" * doctest::test_suite("unit")) {
  REQUIRE_MESSAGE(have_h5py(), "/usr/bin/python3 imports h5py (python3-h5py, scripts/install-deps.sh)");
  TempDir dir;
  std::vector<std::uint8_t> pixels(5 * 28 * 28);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i % 251);
  DatasetWriter writer(dir / "cls.h5");
  DatasetInfo info;
  info.name = "tiny";
  info.task = Task::classification;
  info.source = "test";
  info.class_names = {"T-shirt/top", "Ankle boot"};
  writer.write_info(info);
  writer.write_tensor("train", "inputs", Tensor::from_vector<std::uint8_t>({5, 28, 28}, pixels));
  writer.set_input_transform("train", "inputs", {1.0 / 255.0, 0.0});
  writer.write_tensor("train", "labels", Tensor::from_vector<std::int64_t>({5}, {0, 1, 1, 0, 1}));
  writer.commit();

  ReferenceData reference;
  reference.outputs["blocks.0/out"] = Tensor::from_vector<float>({2, 2}, {1.5f, -2.0f, 0.0f, 3.25f});
  reference.inputs["ids"] = Tensor::from_vector<std::int32_t>({3}, {1, 2, 3});
  write_reference_file(dir / "ref.h5", reference);

  std::string script = R"(
import h5py, numpy as np, sys
with h5py.File(sys.argv[0].replace('check.py', 'cls.h5'), 'r') as f:
    assert f.attrs['format'] == 'snnconv-dataset', f.attrs['format']
    assert int(f.attrs['format_version']) == 1
    assert f.attrs['task'] == 'classification'
    assert [s.decode() if isinstance(s, bytes) else s for s in f['class_names'][()]] == ['T-shirt/top', 'Ankle boot']
    x = f['train/inputs']
    assert x.shape == (5, 28, 28) and x.dtype == np.uint8, (x.shape, x.dtype)
    assert abs(x.attrs['scale'] - 1 / 255) < 1e-15 and x.attrs['offset'] == 0
    assert x[4, 27, 27] == (5 * 784 - 1) % 251
    y = f['train/labels']
    assert y.shape == (5,) and y.dtype == np.int64 and list(y[:]) == [0, 1, 1, 0, 1]
    assert int(f['train'].attrs['count']) == 5
with h5py.File(sys.argv[0].replace('check.py', 'ref.h5'), 'r') as f:
    assert f['outputs/blocks.0/out'].dtype == np.float32
    assert f['outputs/blocks.0/out'][1, 1] == 3.25
    assert list(f['inputs/ids'][:]) == [1, 2, 3] and f['inputs/ids'].dtype == np.int32
)";
  CHECK(run_python(dir, script) == 0);
}

TEST_CASE("we read and validate what h5py writes" * doctest::test_suite("unit")) {
  REQUIRE_MESSAGE(have_h5py(), "/usr/bin/python3 imports h5py (python3-h5py, scripts/install-deps.sh)");
  TempDir dir;
  // h5py's natural types: str attributes, Python ints, float64 scale, numpy arrays; one bad file whose
  // labels lack a row.
  std::string script = R"(
import h5py, numpy as np, sys, os
folder = os.path.dirname(sys.argv[0])
def make(name, label_rows):
    with h5py.File(os.path.join(folder, name), 'w') as f:
        f.attrs.update(format='snnconv-dataset', format_version=1, name='py', task='classification',
                       source='h5py', license='CC0', preprocessing='none')
        f['class_names'] = np.array(['a', 'b'], dtype=h5py.string_dtype())
        g = f.create_group('test')
        g.attrs['count'] = 10
        x = g.create_dataset('inputs', data=np.arange(40, dtype=np.float32).reshape(10, 4))
        x.attrs['scale'] = 0.5
        x.attrs['offset'] = 1.0
        g['labels'] = np.arange(label_rows, dtype=np.int64) % 2
    with h5py.File(os.path.join(folder, 'ref_' + name), 'w') as f:
        f['inputs/x'] = np.ones((2, 3))            # float64: read as f32
        f['outputs/y'] = np.arange(4, dtype=np.int64)
make('good.h5', 10)
make('bad.h5', 9)
)";
  REQUIRE(run_python(dir, script) == 0);
  DatasetReader good(dir / "good.h5");
  CHECK(good.info().class_names == std::vector<std::string>{"a", "b"});
  ClassificationBatch batch = read_classification_batch(good, "test", 2, 3);
  CHECK(batch.inputs.data<float>()[0] == 8 * 0.5f + 1.0f);
  CHECK(batch.labels.data<std::int64_t>()[1] == 1);
  try {
    DatasetReader bad(dir / "bad.h5");
    FAIL("accepted labels with 9 rows in a split of 10");
  } catch (const ParseError& e) {
    CHECK(e.context().file == (dir / "bad.h5").string());
    CHECK(e.context().value == "/test/labels");
    MESSAGE(std::string(e.what()));
  }
  ReferenceData reference = read_reference_file(dir / "ref_good.h5");
  CHECK(reference.inputs.at("x").dtype() == DType::f32);
  CHECK(reference.inputs.at("x").shape() == Shape{2, 3});
  CHECK(reference.outputs.at("y").to_i64() == std::vector<std::int64_t>{0, 1, 2, 3});
}
