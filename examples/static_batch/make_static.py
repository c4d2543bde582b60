#!/usr/bin/python3
"""Static-batch re-exports of three bundled models, exported the way torch exports by default (no dynamic_axes,
no snnconv metadata), and .npz data files with one sample per row, to test "bring your own model" paths.

    /usr/bin/python3 examples/static_batch/make_static.py [--out DIR]

For each model the trained torch module is rebuilt from the committed ONNX export's weights (checked against the
committed torch reference outputs, <model>.ref.h5) and exported with torch.onnx.export(model, dummy, path,
input_names, output_names, opset_version=17), the dummy's batch 1 and 2:
  fashion_vit_b{1,2}.onnx      examples/fashion_vit/fashion_vit_relu.onnx   input f32[B,1,28,28] -> logits [B,10]
  medical_tab_b{1,2}.onnx      examples/medical_tab/medical_tab.onnx        input f32[B,30] -> logits [B,2]
  code_gpt_draft_b{1,2}.onnx   examples/code_gpt/code_gpt_draft.onnx        tokens i64[B,64] -> logits [B,64,256]
Data (one sample per row, whatever the export's batch; `labels` where the task has them):
  fashion_test.npz      np.savez_compressed: input [64,1,28,28] = x/255 of the first 64 test rows of
                        examples/data/fashion_mnist_small.h5, labels [64]
  medical_test.npz      np.savez: input [114,30] (the whole bundled test split, standardised), labels [114]
  medical_calib.npz     np.savez: input [64,30], the first 64 rows of the train split (no labels)
  code_rows.npz         np.savez: tokens [16,64], 16 consecutive 64-byte windows of the bundled python-code test split
  *_ref.npz             torch's outputs on those rows (code: the first 4 rows), for `run --save-outputs` checks
Deterministic: no randomness (weights and data come from committed files). torch 1.13, numpy 1.24 (Debian 12).
"""
import argparse
import importlib.util
import os
import sys

import h5py
import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
EX = os.path.dirname(HERE)
DATA = os.path.join(EX, "data")
SEQ = 64


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(mod)
    return mod


def onnx_weights(path):
    """Initializers by name, plus Linear weights (exported transposed under generated names) by module path."""
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    linear = {}
    for n in m.graph.node:
        if n.op_type in ("MatMul", "Gemm") and n.name.endswith("/" + n.op_type):
            w = [x for x in n.input if x in inits and inits[x].ndim == 2]
            if len(w) == 1:
                mod = n.name[1:-len("/" + n.op_type)].replace("/", ".")
                linear[mod] = inits[w[0]].T if n.op_type == "MatMul" else inits[w[0]]
    return inits, linear


def load_weights(model, path):
    inits, linear = onnx_weights(path)
    state = model.state_dict()
    for name in state:
        mod = name.rsplit(".", 1)[0]
        if name in inits:
            src = inits[name]
        elif name.endswith(".weight") and mod in linear:
            src = linear[mod]
        elif state[name].dtype == torch.bool:  # a mask buffer: not a weight
            continue
        else:
            raise SystemExit(f"{path}: no initializer for {name}")
        if tuple(src.shape) != tuple(state[name].shape):
            raise SystemExit(f"{path}: {name} has shape {src.shape}, the module wants {tuple(state[name].shape)}")
        state[name] = torch.from_numpy(np.array(src, copy=True))
    model.load_state_dict(state)
    model.eval()
    return model


def check_ref(model, ref, inp, out):
    with h5py.File(ref, "r") as f:
        x = f["inputs/" + inp][()]
        want = f["outputs/" + out][()]
    with torch.no_grad():
        got = model(torch.as_tensor(x)).numpy()
    err = float(np.abs(got - want).max())
    if err > 1e-4:
        raise SystemExit(f"rebuilt module differs from {ref} by {err:g}: the weight mapping is wrong")
    print(f"{os.path.basename(ref)}: rebuilt torch module reproduces the reference (max |diff| {err:.2g})")


def export(model, dummy, path, inputs, outputs):
    torch.onnx.export(model, dummy, path, input_names=inputs, output_names=outputs, opset_version=17)
    onnx.checker.check_model(onnx.load(path))
    print(f"{os.path.basename(path)}: {os.path.getsize(path)} bytes, input {tuple(dummy.shape)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    out = ap.parse_args().out
    p = lambda n: os.path.join(out, n)
    torch.set_num_threads(2)

    # fashion_vit (ReLU): a ViT on 28x28 Fashion-MNIST
    fv = load_module(os.path.join(EX, "fashion_vit", "train.py"), "fashion_vit_train")
    vit = load_weights(fv.ViT("relu"), os.path.join(EX, "fashion_vit", "fashion_vit_relu.onnx"))
    check_ref(vit, os.path.join(EX, "fashion_vit", "fashion_vit_relu.ref.h5"), "input", "logits")
    with h5py.File(os.path.join(DATA, "fashion_mnist_small.h5"), "r") as f:
        images = (f["test/inputs"][:64].astype(np.float32) / np.float32(255.0))[:, None]
        labels = f["test/labels"][:64].astype(np.int64)
    for b in (1, 2):
        export(vit, torch.zeros(b, 1, 28, 28), p(f"fashion_vit_b{b}.onnx"), ["input"], ["logits"])
    np.savez_compressed(p("fashion_test.npz"), input=images, labels=labels)
    with torch.no_grad():
        logits = vit(torch.from_numpy(images)).numpy()
    np.savez_compressed(p("fashion_ref.npz"), logits=logits)
    print(f"fashion_test.npz: {len(images)} rows, torch accuracy {float((logits.argmax(1) == labels).mean()):.4f}")

    # medical_tab: an FT-Transformer on sklearn's breast cancer features
    mt = load_module(os.path.join(EX, "medical_tab", "train.py"), "medical_tab_train")
    tab = load_weights(mt.FTTransformer(dropout=0.0), os.path.join(EX, "medical_tab", "medical_tab.onnx"))
    check_ref(tab, os.path.join(EX, "medical_tab", "medical_tab.ref.h5"), "input", "logits")
    with h5py.File(os.path.join(DATA, "breast_cancer.h5"), "r") as f:
        x = f["test/inputs"][()].astype(np.float32)
        y = f["test/labels"][()].astype(np.int64)
        calib = f["train/inputs"][:64].astype(np.float32)
    for b in (1, 2):
        export(tab, torch.zeros(b, 30), p(f"medical_tab_b{b}.onnx"), ["input"], ["logits"])
    np.savez(p("medical_test.npz"), input=x, labels=y)
    np.savez(p("medical_calib.npz"), input=calib)
    with torch.no_grad():
        logits = tab(torch.from_numpy(x)).numpy()
    np.savez(p("medical_ref.npz"), logits=logits)
    print(f"medical_test.npz: {len(x)} rows, torch accuracy {float((logits.argmax(1) == y).mean()):.4f}")

    # code_gpt_draft: a byte-level causal decoder, exported at a fixed window of 64 bytes
    rr = load_module(os.path.join(EX, "code_gpt", "remake_ref.py"), "code_gpt_remake_ref")
    gpt = rr.load_module(os.path.join(EX, "code_gpt", "code_gpt_draft.onnx"))
    check_ref(gpt, os.path.join(EX, "code_gpt", "code_gpt_draft.ref.h5"), "tokens", "logits")
    with h5py.File(os.path.join(DATA, "python_code_small.h5"), "r") as f:
        stream = f["test/tokens"][: 16 * SEQ].astype(np.int64)
    rows = stream.reshape(16, SEQ)
    for b in (1, 2):
        export(gpt, torch.zeros(b, SEQ, dtype=torch.int64), p(f"code_gpt_draft_b{b}.onnx"), ["tokens"], ["logits"])
    np.savez(p("code_rows.npz"), tokens=rows)
    with torch.no_grad():
        logits = gpt(torch.from_numpy(rows)).double()
    lp = torch.log_softmax(logits, dim=-1)
    nats = -lp[:, :-1, :].gather(2, torch.from_numpy(rows[:, 1:]).unsqueeze(-1)).sum().item()
    print(f"code_rows.npz: {rows.shape[0]} rows of {SEQ}, torch bits per byte {nats / np.log(2) / (16 * (SEQ - 1)):.4f}")
    np.savez_compressed(p("code_ref.npz"), logits=logits[:4].float().numpy())


if __name__ == "__main__":
    main()
