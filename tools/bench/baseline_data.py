"""Inputs and output comparison of the PyTorch baseline (torch_timestepped.py): numpy and h5py only.

load_inputs reads the samples both sides simulate (an snnconv dataset split or an .npz with one array per graph
input, as `snnconv run --data` takes it); compare checks every output value against the engine's
`snnconv run --save-outputs` file bit for bit.
"""
from __future__ import annotations

import numpy as np

from snn_model_h5 import NUMPY_DTYPES


class Unsupported(Exception):
    """A valid model this simulation does not cover (exit 3)."""


class DataError(Exception):
    """Data that does not fit the model (exit 2, as snnconv's usage errors)."""


def _checked(path: str, name: str, arr: np.ndarray, val) -> np.ndarray:
    """arr as the rows of graph input `val`: one sample per row, the per-sample shape, finite values."""
    per = int(np.prod(val.shape))
    if arr.ndim == 0 or arr.shape[0] == 0 or arr[0].size != per:
        raise DataError(f"{path}: array '{name}' has shape {arr.shape}; input '{val.name}' needs rows of "
                        f"{val.shape} ({per} values each)")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr.reshape(arr.shape[0], -1)))[0]
        raise DataError(f"{path}: array '{name}' sample {bad[0]} element {bad[1]} is "
                        f"{arr.reshape(arr.shape[0], -1)[bad[0], bad[1]]}")
    return arr.astype(NUMPY_DTYPES[val.dtype]).reshape(arr.shape[0], *val.shape)


def load_inputs(model, data: str | None, split: str, limit: int | None) -> dict:
    """Graph input name -> numpy [N, *shape] for `model` (anything with the read graph as `.g`). An snnconv dataset (.h5, classification: inputs * scale + offset as
    datasets/src/reader.cpp computes it, float64 then rounded to float32) or an .npz with one array per input."""
    g = model.g
    path = data or g.file_attrs.get("data")
    if not path:
        raise DataError("no --data, and the model file names no dataset")
    out = {}
    if path.endswith(".npz"):
        z = np.load(path)
        for v in g.inputs:
            val = g.values[v]
            if val.name not in z.files:
                raise DataError(f"{path} has no array '{val.name}' (the model's inputs: "
                                f"{', '.join(g.values[i].name for i in g.inputs)}; the file's: {', '.join(z.files)})")
            out[val.name] = _checked(path, val.name, z[val.name][:limit], val)
        return out
    import h5py
    if len(g.inputs) != 1:
        raise Unsupported("an .h5 dataset for a model with several inputs: give an .npz")
    val = g.values[g.inputs[0]]
    with h5py.File(path, "r") as f:
        if split not in f or "inputs" not in f[split]:
            raise DataError(f"{path}: no dataset /{split}/inputs (a classification split)")
        ds = f[split]["inputs"]
        raw = ds[:limit] if limit else ds[()]
        scale = float(ds.attrs.get("scale", 1.0))
        offset = float(ds.attrs.get("offset", 0.0))
    x = (raw.astype(np.float64) * scale + offset).astype(np.float32)
    out[val.name] = _checked(f"{path}:/{split}/inputs", "inputs", x, val)
    return out


def compare(mine: dict, engine_npz: str) -> dict:
    """Every output value against the engine's --save-outputs file: bit equality, max |diff|, samples differing."""
    z = np.load(engine_npz)
    report = {}
    for name, a in mine.items():
        if name not in z:
            raise DataError(f"{engine_npz} has no array '{name}'")
        b = z[name]
        a2, b2 = a.reshape(a.shape[0], -1).astype(np.float32), b.reshape(b.shape[0], -1).astype(np.float32)
        if a2.shape != b2.shape:
            raise DataError(f"output '{name}' has shape {a2.shape} here, {b2.shape} in {engine_npz}")
        differ = a2.view(np.uint32) != b2.view(np.uint32)
        report[name] = {"values": int(a2.size), "values_differing": int(differ.sum()),
                        "samples_differing": int(differ.any(axis=1).sum()),
                        "max_abs_diff": float(np.nanmax(np.abs(a2.astype(np.float64) - b2.astype(np.float64))))
                        if a2.size else 0.0}
    return report
