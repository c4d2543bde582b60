#!/usr/bin/env python3
"""Writes the small malformed or unsupported ONNX files the CLI tests feed to snnconv.

Usage: /usr/bin/python3 tests/data/make_bad_models.py   (deterministic; writes into tests/data/)
"""
import os

import onnx
from onnx import TensorProto, helper

here = os.path.dirname(os.path.abspath(__file__))

# Two unsupported ops (NonZero twice, Unique once) among supported ones, opset 17.
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
nodes = [
    helper.make_node("Relu", ["x"], ["r"], name="relu0"),
    helper.make_node("NonZero", ["r"], ["v1"], name="nonzero_a"),
    helper.make_node("Unique", ["v1"], ["h"], name="unique0"),
    helper.make_node("NonZero", ["h"], ["v2"], name="nonzero_b"),
]
y = helper.make_tensor_value_info("v2", TensorProto.INT64, [1, None])
g = helper.make_graph(nodes, "unsupported", [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="snnconv-tests")
onnx.save(m, os.path.join(here, "unsupported_ops.onnx"))

# A valid model the IR cannot express: Split sizes fed at run time (the output shapes depend on data).
sizes = helper.make_tensor_value_info("sizes", TensorProto.INT64, [2])
g = helper.make_graph([helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split_runtime", axis=1)],
                      "split_runtime_sizes", [x, sizes],
                      [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, None]) for n in ("a", "b")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="snnconv-tests")
onnx.checker.check_model(m)
onnx.save(m, os.path.join(here, "split_runtime_sizes.onnx"))

# A valid model whose weights contain a NaN.
w = helper.make_tensor("w", TensorProto.FLOAT, [8, 2], [0.1] * 7 + [float("nan")] + [0.2] * 8)
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm_nan")], "nan_weights", [x],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=[w])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="snnconv-tests"),
          os.path.join(here, "nan_weights.onnx"))

# Limits checked before allocation (docs/reliability.md): tiny files whose initializer claims too much.
def claims(name, dims, file_name, raw=b"\0\0\0\0"):
    t = onnx.TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.raw_data = raw
    g = helper.make_graph([helper.make_node("MatMul", ["x", name], ["y"], name="mm_" + name)], "limits", [x],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[t])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="snnconv-tests"),
              os.path.join(here, file_name))


claims("w_huge", [1 << 20, 1 << 20], "limit_huge_initializer.onnx")  # 2^40 elements claimed, 4 bytes held
claims("w_negative", [8, -2], "limit_negative_dim.onnx")
claims("w_overflow", [1 << 32, 1 << 32, 1 << 32], "limit_overflow_dims.onnx")  # product 2^96 overflows int64


# Valid models that snnconv does not support (exit 3): an opset below 11, an op of a custom domain, a float64
# tensor type.
def save_one(nodes, name, opsets, inputs=None, outputs=None, initializer=()):
    g = helper.make_graph(nodes, name, inputs or [x], outputs or [helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, 8])],
                          initializer=list(initializer))
    onnx.save(helper.make_model(g, opset_imports=opsets, producer_name="snnconv-tests"), os.path.join(here, name + ".onnx"))


save_one([helper.make_node("Relu", ["x"], ["r"], name="relu0")], "unsupported_opset", [helper.make_opsetid("", 9)])
save_one([helper.make_node("Relu", ["x"], ["t"], name="relu0"),
          helper.make_node("Swish", ["t"], ["r"], name="swish0", domain="com.example")], "unsupported_domain",
         [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
x64 = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 8])
save_one([helper.make_node("Relu", ["x"], ["r"], name="relu0")], "unsupported_dtype", [helper.make_opsetid("", 17)],
         inputs=[x64], outputs=[helper.make_tensor_value_info("r", TensorProto.DOUBLE, [1, 8])])


# Bundled example models with an Inf in an embedding table (refused at load; docs/reliability.md, "Non-finite
# values"): medical_tab's per-feature embedding (feat_weight, read by Mul) and the GPT fixture's token embedding
# (read by Gather). The dataset metadata is re-pointed from tests/data so that `snnconv run FILE` finds it.
def with_inf(src, out, pick):
    import numpy as np
    from onnx import numpy_helper
    m = onnx.load(os.path.join(here, "..", "..", "examples", src))
    name = pick(m)
    for i, t in enumerate(m.graph.initializer):
        if t.name == name:
            a = numpy_helper.to_array(t).copy()
            a.reshape(-1)[a.size // 2] = np.inf
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(a, name))
    for p in m.metadata_props:
        if p.key == "snnconv.data":
            p.value = os.path.relpath(os.path.join(here, "..", "..", "examples", os.path.dirname(src), p.value), here)
    onnx.save(m, os.path.join(here, out))


with_inf("medical_tab/medical_tab.onnx", "medical_tab_inf_embedding.onnx", lambda m: "feat_weight")
with_inf("fixtures/gpt_op17_dynamic.onnx", "gpt_inf_embedding.onnx",
         lambda m: next(n.input[0] for n in m.graph.node if n.op_type == "Gather"
                        and any(t.name == n.input[0] for t in m.graph.initializer)))
print("written")
