"""Reads one graph of an snnconv model file (`snnconv convert ... --out X.snn.h5`) with h5py alone.

The layout (datasets/src/model_file.cpp, docs/spiking.md "Model file") is a flat, index-based table per graph
group (`/qann`, `/snn`): values (names, dtypes, ranks, dims), constants and quantization parameters by value
index, nodes as parallel arrays (op names, input/output value indices, attribute words). h5py reads it without
trouble; the only part that needs this module is the attribute encoding (core/src/attrs_codec.cpp: one
std::variant alternative per op family, its fields in declaration order, floats as their bit patterns).

Used by tools/bench/torch_timestepped.py; no snnconv code is called.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

# core/include/snnconv/core/dtype.hpp, enum DType
DTYPES = ["f32", "f16", "i8", "u8", "i32", "i64", "bool"]
NUMPY_DTYPES = {"f32": np.float32, "f16": np.float16, "i8": np.int8, "u8": np.uint8, "i32": np.int32,
                "i64": np.int64, "bool": np.bool_}
ACTIVATIONS = ["none", "relu", "gelu", "gelu_tanh", "tanh", "silu"]
DIFF_FNS = ["layer_norm", "softmax", "rms_norm", "rotary"]

# The Attrs variant of core/include/snnconv/core/attrs.hpp in order: (name, fields). Field codes: i = int64,
# b = bool, f = float (32-bit pattern), d = double (64-bit pattern), L = length-prefixed int64 list,
# a = Activation, n = DiffUnit Fn, t = DType, e = another enum (kept as an int).
ATTR_KINDS = [
    ("NoAttrs", []),
    ("AxisAttrs", [("axis", "i")]),
    ("GemmAttrs", [("alpha", "f"), ("beta", "f"), ("trans_a", "b"), ("trans_b", "b")]),
    ("ConvAttrs", [("kernel_shape", "L"), ("strides", "L"), ("pads", "L"), ("dilations", "L"), ("group", "i")]),
    ("TransposeAttrs", [("perm", "L")]),
    ("ReduceAttrs", [("axes", "L"), ("keepdims", "b"), ("noop_with_empty_axes", "b")]),
    ("CumSumAttrs", [("exclusive", "b"), ("reverse", "b")]),
    ("ReshapeAttrs", [("allowzero", "b")]),
    ("CastAttrs", [("to", "t")]),
    ("LayerNormAttrs", [("axis", "i"), ("epsilon", "f")]),
    ("TriluAttrs", [("upper", "b")]),
    ("ConstantOfShapeAttrs", [("dtype", "t"), ("value", "d")]),
    ("GeluAttrs", [("tanh_approximation", "b")]),
    ("LinearAttrs", [("activation", "a")]),
    ("AttentionAttrs", [("scale", "f"), ("causal", "b")]),
    ("NeuronAttrs", [("target", "a")]),
    ("DiffUnitAttrs", [("fn", "n"), ("axis", "i"), ("epsilon", "f"), ("causal", "b")]),
    ("SoftmaxAttrs", [("axis", "i"), ("causal", "b")]),
    ("ScalarParamsAttrs", [("alpha", "f"), ("beta", "f")]),
    ("ArgReduceAttrs", [("axis", "i"), ("keepdims", "b"), ("select_last_index", "b")]),
    ("TopKAttrs", [("axis", "i"), ("largest", "b"), ("sorted", "b")]),
    ("PoolAttrs", [("kernel_shape", "L"), ("strides", "L"), ("pads", "L"), ("dilations", "L"), ("auto_pad", "e"),
                   ("ceil_mode", "b"), ("count_include_pad", "b"), ("column_major_indices", "b")]),
    ("LossAttrs", [("reduction", "e"), ("has_ignore_index", "b"), ("ignore_index", "i")]),
    ("EpsilonAttrs", [("epsilon", "f")]),
    ("PadAttrs", [("mode", "e")]),
    ("BlockAttrs", [("blocksize", "i"), ("crd", "b")]),
    ("SplitAttrs", [("axis", "i"), ("ceil_parts", "b")]),
]


class ModelFileError(Exception):
    """A model file this reader cannot make sense of (names the object at fault)."""


@dataclass
class Quant:
    bits: int
    n_min: int
    n_max: int
    axis: int
    group_size: int
    scale: np.ndarray       # float32 [1] per tensor, [N] per channel
    zero_point: np.ndarray  # int32, same length (or empty)


@dataclass
class Value:
    index: int
    name: str
    dtype: str
    shape: tuple
    constant: np.ndarray | None = None
    quant: Quant | None = None


@dataclass
class Node:
    index: int
    kind: str
    name: str
    inputs: list   # value indices, -1 for an absent optional input
    outputs: list
    attr_kind: str
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    stage: str
    values: list
    nodes: list
    inputs: list   # value indices
    outputs: list
    file_attrs: dict

    def topological_order(self) -> list:
        """Node indices so that every node comes after the producers of its inputs (ties by file order)."""
        producer = {}
        for n in self.nodes:
            for o in n.outputs:
                producer[o] = n.index
        order, state = [], [0] * len(self.nodes)  # 0 new, 1 on the stack, 2 done
        for root in range(len(self.nodes)):
            stack = [(root, 0)]
            while stack:
                k, i = stack.pop()
                if i == 0:
                    if state[k] == 2:
                        continue
                    if state[k] == 1:
                        raise ModelFileError(f"graph has a cycle through node '{self.nodes[k].name}'")
                    state[k] = 1
                deps = [producer[v] for v in self.nodes[k].inputs if v >= 0 and v in producer]
                if i < len(deps):
                    stack.append((k, i + 1))
                    if state[deps[i]] != 2:
                        stack.append((deps[i], 0))
                else:
                    state[k] = 2
                    order.append(k)
        return order


def _strings(ds) -> list:
    return [s.decode() if isinstance(s, bytes) else str(s) for s in ds[()]]


def _decode_attrs(kind_index: int, words: np.ndarray, where: str) -> tuple:
    if not 0 <= kind_index < len(ATTR_KINDS):
        raise ModelFileError(f"{where}: unknown attribute kind {kind_index}")
    name, fields = ATTR_KINDS[kind_index]
    out: dict[str, Any] = {}
    at = 0

    def word() -> int:
        nonlocal at
        if at >= len(words):
            raise ModelFileError(f"{where}: attribute encoding is truncated")
        at += 1
        return int(words[at - 1])

    for fname, code in fields:
        if code == "L":
            n = word()
            if n < 0 or at + n > len(words):
                raise ModelFileError(f"{where}: attribute list length {n} does not fit the encoding")
            out[fname] = [int(x) for x in words[at:at + n]]
            at += n
        elif code == "f":
            out[fname] = np.frombuffer(struct.pack("<i", word()), dtype=np.float32)[0]
        elif code == "d":
            out[fname] = struct.unpack("<d", struct.pack("<q", word()))[0]
        elif code == "b":
            out[fname] = word() != 0
        elif code == "a":
            out[fname] = ACTIVATIONS[word()]
        elif code == "n":
            out[fname] = DIFF_FNS[word()]
        elif code == "t":
            out[fname] = DTYPES[word()]
        else:
            out[fname] = word()
    if at != len(words):
        raise ModelFileError(f"{where}: {len(words) - at} stray attribute words")
    return name, out


def read_graph(path: str, group: str = "snn") -> Graph:
    """The graph group `group` of model file `path`."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ModelFileError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        if f.attrs.get("format") not in ("snnconv-model", b"snnconv-model"):
            raise ModelFileError(f"{path}: not an snnconv model file (root attribute format)")
        if group not in f:
            raise ModelFileError(f"{path}: no graph group /{group}")
        g = f[group]
        try:
            names = _strings(g["value_names"])
            dtypes = g["value_dtypes"][()]
            ranks = g["value_ranks"][()]
            dims = g["value_dims"][()]
            values, at = [], 0
            for i, name in enumerate(names):
                shape = tuple(int(d) for d in dims[at:at + ranks[i]])
                at += int(ranks[i])
                v = Value(i, name, DTYPES[int(dtypes[i])], shape)
                key = str(i)
                if key in g["constants"]:
                    c = g["constants"][key][()]
                    v.constant = c.astype(np.bool_) if v.dtype == "bool" else c
                if key in g["quant"]:
                    q = g["quant"][key]
                    v.quant = Quant(int(q.attrs["bits"]), int(q.attrs["n_min"]), int(q.attrs["n_max"]),
                                    int(q.attrs["axis"]), int(q.attrs.get("group_size", 0)),
                                    np.asarray(q["scale"][()], dtype=np.float32),
                                    np.asarray(q["zero_point"][()], dtype=np.int32))
                values.append(v)
            kinds, node_names = _strings(g["node_kinds"]), _strings(g["node_names"])
            cols = {k: g[k][()] for k in ("node_attr_kinds", "node_input_counts", "node_output_counts",
                                          "node_attr_counts", "node_inputs", "node_outputs", "node_attrs")}
            nodes, ii, oi, ai = [], 0, 0, 0
            for k, kind in enumerate(kinds):
                ni, no, na = (int(cols[c][k]) for c in ("node_input_counts", "node_output_counts", "node_attr_counts"))
                where = f"{path}: /{group} node {k} '{node_names[k]}' ({kind})"
                aname, attrs = _decode_attrs(int(cols["node_attr_kinds"][k]), cols["node_attrs"][ai:ai + na], where)
                nodes.append(Node(k, kind, node_names[k], [int(x) for x in cols["node_inputs"][ii:ii + ni]],
                                  [int(x) for x in cols["node_outputs"][oi:oi + no]], aname, attrs))
                ii, oi, ai = ii + ni, oi + no, ai + na
            file_attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            return Graph(str(g.attrs.get("name", "")), str(g.attrs.get("stage", "")), values, nodes,
                         [int(x) for x in g["inputs"][()]], [int(x) for x in g["outputs"][()]], file_attrs)
        except (KeyError, IndexError, ValueError) as e:
            raise ModelFileError(f"{path}: /{group} is incomplete or inconsistent ({e})") from None
