#!/usr/bin/python3
"""Writes the .npz / .npy files the C++ reader is tested on (tests/datasets/test_npz.cpp), with real numpy.

    /usr/bin/python3 tests/data/npz/make_npz.py [--out DIR]

Deterministic (no randomness): every value is a formula the C++ test recomputes. numpy 1.24 (Debian 12).
  dtypes.npz             np.savez (stored): one array per supported dtype, both byte orders, a scalar, an empty array
  dtypes_compressed.npz  np.savez_compressed (deflate): the same arrays
  versions.npz           members written with .npy format versions 1.0, 2.0 and 3.0 (zipfile + np.lib.format)
  positional.npz         np.savez(f, a, b): the keys arr_0, arr_1
  fortran.npz, object.npz, structured.npz, strings.npz, complex.npz, datetime.npz, u64_big.npz, f64_overflow.npz,
  bad_bool.npz           refused, each with its own message
  single.npy             np.save: not an .npz (refused with a hint)
"""
import argparse
import io
import os
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def dtype_arrays():
    x = (np.arange(12, dtype=np.float32).reshape(3, 2, 2) * 0.5 - 1.0)
    return {
        "f32": x,
        "f64": np.arange(6, dtype=np.float64).reshape(2, 3) / 3.0,        # rounds to float32 on reading
        "f16": np.array([0.5, -2.0, 65504.0, 2.0 ** -24], dtype=np.float16),
        "i8": np.array([-128, -1, 0, 127], dtype=np.int8),
        "u8": np.array([0, 1, 200, 255], dtype=np.uint8),
        "i16": np.array([-32768, -1, 32767], dtype=np.int16),
        "u16": np.array([0, 65535], dtype=np.uint16),
        "i32": np.array([-2 ** 31, 7, 2 ** 31 - 1], dtype=np.int32),
        "u32": np.array([0, 2 ** 32 - 1], dtype=np.uint32),
        "i64": np.array([-2 ** 63, 42, 2 ** 63 - 1], dtype=np.int64),
        "u64": np.array([0, 2 ** 63 - 1], dtype=np.uint64),
        "bool": np.array([True, False, True]),
        "be_f32": np.arange(4, dtype=">f4") * 1.5,
        "be_i64": np.array([-3, 1 << 40], dtype=">i8"),
        "be_f64": np.array([0.25, -8.0], dtype=">f8"),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "labels": np.array([2, 0, 1], dtype=np.int64),
    }


def write_member(zf, name, array, version):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version)
    zf.writestr(name + ".npy", buf.getvalue())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    out = ap.parse_args().out
    p = lambda n: os.path.join(out, n)
    arrays = dtype_arrays()
    np.savez(p("dtypes.npz"), **arrays)
    np.savez_compressed(p("dtypes_compressed.npz"), **arrays)
    with zipfile.ZipFile(p("versions.npz"), "w") as zf:
        for v in [(1, 0), (2, 0), (3, 0)]:
            write_member(zf, "v%d" % v[0], np.arange(5, dtype=np.int32) * v[0], v)
    np.savez(p("positional.npz"), np.arange(3, dtype=np.float32), np.arange(2, dtype=np.int64))
    np.savez(p("fortran.npz"), x=np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    np.savez(p("object.npz"), x=np.array([{"a": 1}, None], dtype=object))
    np.savez(p("structured.npz"), x=np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
    np.savez(p("strings.npz"), x=np.array(["ab", "c"]))
    np.savez(p("complex.npz"), x=np.array([1 + 2j], dtype=np.complex64))
    np.savez(p("datetime.npz"), x=np.array(["2024-01-01"], dtype="datetime64[D]"))
    np.savez(p("u64_big.npz"), x=np.array([1, 2 ** 64 - 1], dtype=np.uint64))
    np.savez(p("f64_overflow.npz"), x=np.array([1.0, 1e300]))
    # bool bytes other than 0/1: numpy writes whatever bytes the array holds
    np.savez(p("bad_bool.npz"), x=np.array([0, 1, 2], dtype=np.uint8).view(np.bool_))
    np.save(p("single.npy"), np.arange(3, dtype=np.float32))


if __name__ == "__main__":
    main()
