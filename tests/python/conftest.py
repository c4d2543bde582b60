"""Fixtures of the Python module's tests (docs/python.md): the CLI built beside the module, the example data as
numpy arrays and a helper that runs the CLI and reads what it wrote. ctest sets SNNCONV_BIN and PYTHONPATH."""
import json
import os
import subprocess

import h5py
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def cli():
    """Runs `snnconv ARGS` and returns (exit code, stdout, stderr)."""
    binary = os.environ.get("SNNCONV_BIN", os.path.join(ROOT, "build", "tools", "snnconv"))

    def run(*args):
        p = subprocess.run([binary, *args], capture_output=True, text=True, cwd=ROOT)
        return p.returncode, p.stdout, p.stderr

    return run


@pytest.fixture(scope="session")
def medical(tmp_path_factory):
    """medical_tab (examples/medical_tab) and its first 40 test rows as arrays and as the .npz the CLI reads."""
    with h5py.File(os.path.join(ROOT, "examples/data/breast_cancer.h5")) as f:
        x = f["test/inputs"][:40]
        y = f["test/labels"][:40]
    d = tmp_path_factory.mktemp("medical")
    npz = str(d / "x.npz")
    np.savez(npz, input=x, labels=y)
    return {"model": os.path.join(ROOT, "examples/medical_tab/medical_tab.onnx"), "x": x, "y": y, "npz": npz,
            "dir": d}


def load_npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def run_json(cli, *args):
    rc, out, err = cli(*args, "--json", "--quiet")
    assert rc == 0, err
    return json.loads(out)
