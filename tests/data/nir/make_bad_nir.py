"""Writes the malformed NIR files the CLI tests refuse (tests/tools/nir_cli.sh), from lif_norse.nir with h5py.

Run: /usr/bin/python3 tests/data/nir/make_bad_nir.py (deterministic; no randomness)."""
import os
import shutil

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(here, "lif_norse.nir")


def variant(name, edit):
    dst = os.path.join(here, name)
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)


def missing_node(f):
    del f["node/nodes/1"]  # the LIF: the edges 0 -> 1 and 1 -> output now name a missing node


def unknown_type(f):
    del f["node/nodes/1/type"]
    f["node/nodes/1/type"] = "Izhikevich"


def shape_mismatch(f):
    del f["node/nodes/0/weight"]
    f["node/nodes/0/weight"] = np.ones((1, 3), dtype=np.float32)  # expects 3 inputs, the Input gives 1


def nan_tau(f):
    f["node/nodes/1/tau"][0] = np.nan


variant("bad_missing_node.nir", missing_node)
variant("bad_nan_tau.nir", nan_tau)
variant("bad_unknown_type.nir", unknown_type)
variant("bad_shape_mismatch.nir", shape_mismatch)
with open(src, "rb") as f:
    data = f.read()
with open(os.path.join(here, "bad_truncated.nir"), "wb") as f:
    f.write(data[: len(data) // 2])
