"""The Python module against the CLI (issue 19, acceptance 1): the same outputs bit for bit, the same ledgers and
summaries, and bad input raising the documented exception class with the CLI's message."""
import json
import os

import numpy as np
import pytest

import snnconv
from conftest import load_npz, run_json


def assert_same_arrays(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        # Bit-identical: compare the bytes, so that -0.0 vs 0.0 or two NaN payloads would differ too.
        assert a[k].tobytes() == b[k].tobytes(), k


def without_times(d):
    """A run's dict without wall-clock figures and the data's description (a file for the CLI, arrays here)."""
    return {k: v for k, v in d.items() if k not in ("seconds", "snn_seconds", "samples_per_s", "data", "split",
                                                    "calibration", "calibration_split", "ledger")}


def test_inspect_equals_cli(cli, medical):
    m = snnconv.load(medical["model"])
    assert m.input_names == ["input"]
    assert m.task == "classification"
    assert not m.quantized
    assert m.inspect() == run_json(cli, "inspect", medical["model"])
    assert m.inspect(fused=True) == run_json(cli, "inspect", medical["model"], "--fused")


@pytest.mark.parametrize("engine", ["ann", "qann", "snn"])
def test_run_equals_cli(cli, medical, engine):
    out_npz = str(medical["dir"] / f"cli_{engine}.npz")
    j = run_json(cli, "run", medical["model"], "--data", medical["npz"], "--engine", engine, "--save-outputs", out_npz,
                 "--batch", "16")
    m = snnconv.load(medical["model"])
    outputs, result = m.run({"input": medical["x"], "labels": medical["y"]}, engine=engine, batch=16)
    assert_same_arrays(outputs, load_npz(out_npz))
    assert outputs["logits"].shape == (40, 2)
    assert without_times(result) == without_times(j)
    assert result["samples"] == 40
    assert result["metric"]["name"] == "accuracy" and result["metric"]["value"] > 0.8
    if engine != "qann":
        assert result["total"]["macs_by_width"] or result["total"]["dense_ops"] > 0


def test_run_single_array_and_threads(medical):
    """One array for a one-input model; no labels (not scored); 1 vs 2 threads give the same bits."""
    m = snnconv.load(medical["model"])
    a, r = m.run(medical["x"], engine="snn", threads=1)
    b, _ = m.run(medical["x"], engine="snn", threads=2)
    assert r["metric"] is None
    assert_same_arrays(a, b)


def test_quantize_to_snn_save_load(cli, medical):
    m = snnconv.load(medical["model"])
    q = m.quantize(calib=medical["x"], act_bits=4)
    assert q.quantized and q.bits == "W8A4"
    s = q.to_snn()
    path = str(medical["dir"] / "py.snn.h5")
    s.save(path)
    # The CLI's model file from the same calibration rows: the same QANN and SNN, so the same outputs.
    cli_path = str(medical["dir"] / "cli.snn.h5")
    rc, _, err = cli("convert", medical["model"], "--calib-data", medical["npz"], "--act-bits", "4", "--out", cli_path,
                     "--quiet")
    assert rc == 0, err
    for engine, models in (("qann", (q, snnconv.load(cli_path))), ("snn", (s, snnconv.load(path), snnconv.load(cli_path)))):
        out_npz = str(medical["dir"] / f"file_{engine}.npz")
        j = run_json(cli, "run", cli_path, "--data", medical["npz"], "--engine", engine, "--save-outputs", out_npz)
        ref = load_npz(out_npz)
        for model in models:
            outputs, result = model.run({"input": medical["x"], "labels": medical["y"]}, engine=engine)
            assert_same_arrays(outputs, ref)
            keep = ("samples", "metric", "total", "layers", "steps", "spikes_per_inference", "act_bits", "weight_bits")
            assert {k: result.get(k) for k in keep} == {k: j.get(k) for k in keep}
    loaded = snnconv.load(path)
    assert loaded.quantized and loaded.bits == "W8A4"
    assert loaded.inspect() == dict(run_json(cli, "inspect", path), model_file=path) or \
        loaded.inspect()["layers"] == run_json(cli, "inspect", path)["layers"]
    # The default engine of a spiking model is snn; of a QANN, qann.
    assert s.run(medical["x"])[1]["engine"] == "snn"
    assert q.run(medical["x"])[1]["engine"] == "qann"


def error_of(cli_args, cli):
    rc, _, err = cli(*cli_args)
    assert err.startswith("snnconv: error: "), err
    return rc, err[len("snnconv: error: "):].strip()


def test_errors_carry_cli_message_and_class(cli, medical, tmp_path):
    missing = str(tmp_path / "nope.onnx")
    rc, msg = error_of(["inspect", missing], cli)
    with pytest.raises(snnconv.RuntimeFailure) as e:
        snnconv.load(missing).inspect()
    assert e.value.exit_code == rc == 1
    assert str(e.value) == msg

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07this is not a protobuf" * 10)
    rc, msg = error_of(["inspect", str(garbage)], cli)
    with pytest.raises(snnconv.Error) as e:
        snnconv.load(str(garbage)).inspect()
    assert e.value.exit_code == rc and str(e.value) == msg

    m = snnconv.load(medical["model"])
    bad = tmp_path / "bad.npz"
    np.savez(bad, wrong_name=medical["x"])
    rc, msg = error_of(["run", medical["model"], "--data", str(bad), "--quiet"], cli)
    with pytest.raises(snnconv.UsageError) as e:
        m.run({"wrong_name": medical["x"]})
    assert e.value.exit_code == rc == 2
    assert "array 'wrong_name' matches no input" in str(e.value) and "array 'wrong_name' matches no input" in msg

    x = medical["x"].copy()
    x[3, 5] = np.nan
    with pytest.raises(snnconv.UsageError, match="NaN"):
        m.run(x)
    with pytest.raises(snnconv.UsageError, match="per-sample shape|shape"):
        m.run(medical["x"][:, :29])
    with pytest.raises(snnconv.UnsupportedError):
        m.run(medical["x"].astype(np.complex64))
    with pytest.raises(snnconv.RuntimeFailure, match="outside float32's range"):  # as the .npz reader refuses it
        m.run(np.full((2, 30), 1e300))
    with pytest.raises(snnconv.UsageError, match="not a class"):
        m.run({"input": medical["x"][:2], "labels": np.array([5, 0])})
    with pytest.raises(snnconv.UsageError, match="engine"):
        m.run(medical["x"], engine="gpu")
    with pytest.raises(snnconv.UsageError, match="act_bits"):
        m.quantize(calib=medical["x"], act_bits=1)
    with pytest.raises(snnconv.UsageError):
        m.save(str(tmp_path / "x.snn.h5"))
    with pytest.raises(snnconv.RuntimeFailure, match="graph.nir"):  # a missing NIR file, as `run F.nir` says
        snnconv.load(str(tmp_path / "graph.nir"))
    with pytest.raises(snnconv.UnsupportedError):  # a node type NIR has but snnconv does not simulate
        snnconv.load(os.path.join(os.path.dirname(medical["model"]), "../../tests/data/nir/bad_unknown_type.nir"))
    with pytest.raises(snnconv.UsageError, match="method"):
        snnconv.load(os.path.join(os.path.dirname(medical["model"]), "../../tests/data/nir/lif_norse.nir"), method="rk4")
    assert issubclass(snnconv.UsageError, snnconv.Error) and snnconv.UsageError.exit_code == 2
    assert snnconv.UnsupportedError.exit_code == 3 and snnconv.RuntimeFailure.exit_code == 1


def strip_times(v):
    """report.json without wall-clock figures and paths (which differ between two runs)."""
    if isinstance(v, dict):
        return {k: strip_times(x) for k, x in v.items()
                if "seconds" not in k and k not in ("out", "generated", "created", "date", "throughput", "samples_per_s")}
    if isinstance(v, list):
        return [strip_times(x) for x in v]
    return v


def test_report_equals_cli(cli, medical, tmp_path):
    args = dict(samples=24, snn_samples=16, profiles=["loihi", "systolic_int8"], sensitivity=False, plots=False)
    j = snnconv.report(medical["model"], out=str(tmp_path / "py_report"), **args)
    rc, _, err = cli(medical["model"], "--out", str(tmp_path / "cli_report"), "--samples", "24", "--snn-samples", "16",
                     "--profile", "loihi,systolic_int8", "--no-sensitivity", "--no-plots", "--quiet")
    assert rc == 0, err
    with open(tmp_path / "cli_report" / "report.json") as f:
        ref = json.load(f)
    with open(tmp_path / "py_report" / "report.json") as f:
        assert json.load(f) == j
    assert sorted(os.listdir(tmp_path / "py_report")) == sorted(os.listdir(tmp_path / "cli_report"))
    assert strip_times(j) == strip_times(ref)

    # price(): the SNN the report built (W8A4 calibrated on the first 64 train rows, run on the first 16 test rows)
    # rebuilt here and priced on the same profiles gives the report's prices.
    import h5py
    with h5py.File(os.path.join(os.path.dirname(medical["model"]), "../data/breast_cancer.h5")) as f:
        train, test = f["train/inputs"][:64], f["test/inputs"][:16]
    s = snnconv.load(medical["model"]).quantize(calib=train, act_bits=4).to_snn()
    _, res = s.run(test)
    assert isinstance(res["ledger"], snnconv.Ledger) and res["ledger"].samples == 16
    assert res["ledger"].total() == res["total"]
    for profile in ("loihi", "systolic_int8"):
        mine = snnconv.price(res["ledger"], profile=profile)
        theirs = [p for p in j["pricing"]["snn"] if p["profile"] == profile]
        assert len(theirs) == 1 and strip_times(mine) == strip_times(theirs[0]), profile
        assert mine["per_inference_pj"]["total"] > 0
    # The compute-only convention of an ANN ledger: 4.6 pJ per MAC, whatever its width.
    _, ann = snnconv.load(medical["model"]).run(test)
    macs = sum(ann["total"]["macs_by_width"].values())
    conv = snnconv.price(ann["ledger"], profile="compute-only")
    assert conv["total_pj"]["compute"] == pytest.approx(4.6 * macs, rel=1e-12)
    with pytest.raises(snnconv.Error, match="no_such_profile"):
        snnconv.price(ann["ledger"], profile="no_such_profile")
    with pytest.raises(snnconv.UsageError):
        snnconv.report(medical["model"], out=str(tmp_path / "r2"), act_bits=40)
    with pytest.raises(snnconv.Error):
        snnconv.report(medical["model"], out=str(tmp_path / "r3"), profiles=["no_such_profile"])
    assert not (tmp_path / "r3").exists()


def test_record_equals_cli_recording(cli, medical):
    import h5py
    rec_path = str(medical["dir"] / "rec.h5")
    rc, _, err = cli("run", medical["model"], "--data", medical["npz"], "--engine", "snn", "--record", rec_path,
                     "--record-samples", "5", "--quiet")
    assert rc == 0, err
    m = snnconv.load(medical["model"])
    _, res = m.run({"input": medical["x"], "labels": medical["y"]}, engine="snn", record=True, record_samples=5)
    rec = res["recording"]
    assert len(rec["samples"]) == 5
    with h5py.File(rec_path) as f:
        assert [p.decode() if isinstance(p, bytes) else p for p in f["populations"][:]] == rec["populations"]
        assert np.array_equal(f["neurons"][:], rec["neurons"])
        keys = sorted(f["samples"].keys(), key=int)
        assert len(keys) == 5
        for k, s in zip(keys, rec["samples"]):
            g = f["samples"][k]
            assert int(g.attrs["steps"]) == s["steps"] and int(g.attrs["index"]) == s["index"]
            assert np.array_equal(g["spikes_pos"][:], s["spikes_pos"])
            assert np.array_equal(g["spikes_neg"][:], s["spikes_neg"])
            assert s["spikes_pos"].shape == (s["steps"], len(rec["populations"]))
    assert sum(int(s["spikes_pos"].sum() + s["spikes_neg"].sum()) for s in rec["samples"]) > 0
    with pytest.raises(snnconv.UsageError, match="record"):
        m.run(medical["x"], engine="qann", record=True)


@pytest.mark.parametrize("engine", ["ann", "snn"])
def test_vit_run_equals_cli(cli, root, tmp_path, engine):
    """A transformer (examples/fashion_small: patch embedding, attention, LayerNorm, GELU) on 8 images."""
    import h5py
    with h5py.File(os.path.join(root, "examples/data/fashion_mnist_small.h5")) as f:
        x = (f["test/inputs"][:8].astype(np.float32) / 255.0).reshape(8, 1, 28, 28)
        y = f["test/labels"][:8]
    model = os.path.join(root, "examples/fashion_small/fashion_vit_tiny.onnx")
    npz, out_npz = str(tmp_path / "x.npz"), str(tmp_path / "out.npz")
    np.savez(npz, input=x, labels=y)
    j = run_json(cli, "run", model, "--data", npz, "--engine", engine, "--save-outputs", out_npz)
    outputs, result = snnconv.load(model).run({"input": x, "labels": y}, engine=engine)
    assert_same_arrays(outputs, load_npz(out_npz))
    assert without_times(result) == without_times(j)


def test_gil_released_during_run(medical):
    """With a switch interval of 100 s the interpreter never takes the GIL from a thread: the main thread runs while
    run() works only if run() releases it. The conversion of the arrays releases it for a moment too, which lets the
    main thread tick once or twice; the simulation (about a second here) lets it tick hundreds of times."""
    import sys
    import threading
    import time
    m = snnconv.load(medical["model"])
    q = m.quantize(calib=medical["x"])
    x = medical["x"]
    started, done = threading.Event(), [False]

    def work():
        started.set()
        q.run(x, engine="snn", threads=1)
        done[0] = True

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        t = threading.Thread(target=work)
        t.start()
        started.wait()
        ticks = 0
        while not done[0]:
            ticks += 1
            time.sleep(0.001)
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert ticks >= 10, ticks


def test_nir_equals_cli(cli, root, tmp_path):
    """A NIR graph (snnTorch's recurrent Braille SNN): outputs, counters and prices equal the CLI's."""
    path = os.path.join(root, "tests/data/nir/braille_noDelay_bias_zero.nir")
    n = snnconv.load(path)
    assert isinstance(n, snnconv.NirModel)
    assert n.parameter_count == 2519  # the float datasets of the file, as h5py counts them
    spikes = n.random_spikes(3, 50, rate=0.2, seed=7)
    assert spikes.shape == (3, 50, *n.input_shape)
    out, result = n.run(spikes)
    npz = str(tmp_path / "spikes.npz")
    np.savez(npz, input=spikes)
    saved = str(tmp_path / "out.npz")
    ran = run_json(cli, "run", path, "--data", npz, "--save-outputs", saved)
    assert_same_arrays({"output": out}, load_npz(saved))
    assert result["total"] == ran["total"]
    assert result["total"]["samples"] == 3
    compute = snnconv.price(result["ledger"], profile="compute-only")
    loihi = snnconv.price(result["ledger"], profile="loihi")
    rc, _, err = cli("report", path, "--data", npz, "--profile", "loihi", "--out", str(tmp_path / "rep"), "--quiet")
    assert rc == 0, err
    with open(tmp_path / "rep" / "report.json") as f:
        prices = json.load(f)["prices"]
    assert compute == prices[0] and loihi == prices[1]


def test_save_nir_equals_cli(cli, root, tmp_path):
    """A converted spiking MLP saved as NIR (save_nir) runs like `snnconv export --format nir`'s file and gives the
    engine's predictions; a transformer is refused with UnsupportedError (exit code 3) naming what NIR lacks."""
    snn = str(tmp_path / "mlp.snn.h5")
    rc, _, err = cli("convert", os.path.join(root, "examples/fixtures/spiking_mlp.onnx"), "--act-bits", "4", "--out", snn,
                     "--quiet")
    assert rc == 0, err
    s = snnconv.load(snn)
    s.save_nir(str(tmp_path / "py.nir"))
    rc, _, err = cli("export", snn, "--format", "nir", "--out", str(tmp_path / "cli.nir"), "--quiet")
    assert rc == 0, err
    import h5py
    with h5py.File(os.path.join(root, "examples/data/breast_cancer.h5"), "r") as f:
        x = f["test/inputs"][:20]
    engine, _ = s.run(x, engine="snn")
    spikes = np.repeat(x[:, None, :], 30, axis=1)
    a, _ = snnconv.load(str(tmp_path / "py.nir"), dt=1.0).run(spikes)
    b, _ = snnconv.load(str(tmp_path / "cli.nir"), dt=1.0).run(spikes)
    assert a.tobytes() == b.tobytes()
    assert (a[:, -1, :].argmax(1) == engine["logits"].argmax(1)).all()
    assert np.abs(a[:, -1, :] - engine["logits"]).max() <= 1e-5 * np.abs(engine["logits"]).max()
    vit = str(tmp_path / "vit.snn.h5")
    rc, _, err = cli("convert", os.path.join(root, "examples/fashion_vit/fashion_vit_relu.onnx"), "--act-bits", "4",
                     "--calib", "4", "--out", vit, "--quiet")
    assert rc == 0, err
    with pytest.raises(snnconv.UnsupportedError, match="SpikeMatMul: product of two spiking operands"):
        snnconv.load(vit).save_nir(str(tmp_path / "vit.nir"))
    assert not os.path.exists(tmp_path / "vit.nir")
