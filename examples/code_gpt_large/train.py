#!/usr/bin/python3
"""code_gpt_large: a 13.1 M-parameter byte-level code model, the speculative-decoding target whose weights do not
fit the caches (52 MB of f32 against a 32 MB L3), made from code_gpt by function-preserving widening and then
trained further on the python-code train split.

    /usr/bin/python3 examples/data/make_python_code.py /tmp/snnconv_python_code.h5      # full dataset, once
    /usr/bin/python3 examples/code_gpt_large/train.py [--steps 40] [--eval-bytes 32768] [--threads 2] [--seed 0]

Why widening: training a 13 M-parameter model from scratch to code_gpt's quality takes hours of this 2-core
CPU; widening (Net2Net, Chen, Goodfellow & Shlens, ICLR 2016) starts the big model at the small one's function,
so a short training run improves a model that is already useful. The defaults (40 steps, the first 32 KiB of
each bundled split scored) fit a loaded shared 2-core machine; more steps and whole splits (--eval-bytes 0) are
the same script.

1. code_gpt's weights are read from examples/code_gpt/code_gpt.onnx (initializers mapped back to the gpt.GPT
   parameters by node name; the loaded model must reproduce code_gpt.ref.h5 within 1e-4).
2. Widening x4 (d 128 -> 512, 4 -> 16 heads of 32, MLP 512 -> 2048, 4 layers): the residual stream becomes four
   copies [r, r, r, r] (LayerNorm statistics unchanged, gamma / beta tiled); every Linear's weight becomes a 4 x 4
   grid of W / 4 blocks (bias tiled), so each output block equals the original output; embeddings are tiled
   along d; the head reads the four copies with W / 4. Same function up to float rounding (checked: the
   widened model's logits on the reference tokens within 1e-4 of code_gpt's).
3. Symmetry breaking: every widened matrix gets N(0, (noise * std(W))^2) noise (seeded), so the copies can
   learn different features.
4. Training as examples/code_gpt/train.py (random 257-byte windows of the train split, AdamW, warm-up then
   cosine decay), --steps steps, --threads threads, torch.use_deterministic_algorithms.
5. Evaluation on the bundled val / test splits (bits per byte, non-overlapping 256-byte windows), export to
   ONNX opset 17 (the file is ~52 MB: not committed; this script regenerates it deterministically for a given
   seed, thread count and torch build), code_gpt_large.ref.h5 and code_gpt_large.metrics.json (committed).
"""
import argparse
import json
import math
import os
import sys
import time

import h5py
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
CODE_GPT = os.path.join(HERE, "..", "code_gpt")
sys.path.insert(0, CODE_GPT)
import gpt  # noqa: E402
import train as base  # noqa: E402  (eval_bpb, load_split, BUNDLED)

LINEARS = ("q", "k", "v", "proj", "fc1", "fc2")


def load_code_gpt(path):
    """gpt.GPT with code_gpt's weights from its ONNX export (MatMul initializers hold W^T)."""
    m = onnx.load(path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    meta = {p.key: p.value for p in m.metadata_props}
    weights = {}
    for n in m.graph.node:
        if n.op_type == "MatMul" and n.input[1] in init:
            module = n.name.strip("/").rsplit("/", 1)[0].replace("/", ".")  # "/blocks.0/q/MatMul" -> blocks.0.q
            weights[module + ".weight"] = init[n.input[1]].T
    model = gpt.GPT(d=128, n_layers=4, n_heads=4, max_seq=512)
    state = model.state_dict()
    for name in state:
        src = weights.get(name, init.get(name))
        if src is None:
            raise RuntimeError(f"{path}: no initializer for {name}")
        if tuple(src.shape) != tuple(state[name].shape):
            raise RuntimeError(f"{path}: {name} is {src.shape}, expected {tuple(state[name].shape)}")
        state[name] = torch.from_numpy(np.ascontiguousarray(src))
    model.load_state_dict(state)
    return model, meta


def widen(small, factor):
    """The function-preserving widening of the module docstring (step 2)."""
    c = small.cfg
    big = gpt.GPT(d=c["d"] * factor, n_layers=c["n_layers"], n_heads=c["n_heads"] * factor, max_seq=c["max_seq"],
                  vocab=c["vocab"], mlp_ratio=c["mlp_ratio"])
    s, b = small.state_dict(), big.state_dict()
    out = {}
    for name, t in s.items():
        if name in ("tok_emb.weight", "pos_emb"):
            out[name] = t.repeat(1, factor)
        elif name.endswith(("ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias")) or name.startswith("ln_f."):
            out[name] = t.repeat(factor)
        elif name == "head.weight":  # [256, d] -> [256, factor d]
            out[name] = t.repeat(1, factor) / factor
        elif name == "head.bias":
            out[name] = t.clone()
        elif name.endswith(".weight"):  # a block Linear [out, in] -> factor x factor grid of W / factor
            out[name] = t.repeat(factor, factor) / factor
        elif name.endswith(".bias"):
            out[name] = t.repeat(factor)
        else:
            raise RuntimeError(f"widen: unexpected parameter {name}")
        if tuple(out[name].shape) != tuple(b[name].shape):
            raise RuntimeError(f"widen: {name} became {tuple(out[name].shape)}, expected {tuple(b[name].shape)}")
    big.load_state_dict(out)
    return big


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--noise", type=float, default=0.02, help="symmetry-breaking noise, relative to std(W)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-bytes", type=int, default=32768,
                    help="score only the first N bytes of each bundled split (0: all); code_gpt is scored on the same")
    ap.add_argument("--data", default="/tmp/snnconv_python_code.h5")
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    if not os.path.exists(a.data):
        sys.exit(f"{a.data} missing: /usr/bin/python3 examples/data/make_python_code.py {a.data}")
    gpt.set_determinism(a.seed, a.threads)
    t_start = time.time()

    small, meta = load_code_gpt(os.path.join(CODE_GPT, "code_gpt.onnx"))
    small.eval()
    with h5py.File(os.path.join(CODE_GPT, "code_gpt.ref.h5"), "r") as f:
        ref_tokens, ref_logits = f["inputs/tokens"][()], f["outputs/logits"][()]
    with torch.no_grad():
        got = small(torch.from_numpy(ref_tokens)).numpy()
    load_err = float(np.abs(got - ref_logits).max())
    print(f"code_gpt loaded from ONNX: max |logits - ref| = {load_err:.2e}", flush=True)
    if load_err > 1e-4:
        sys.exit("the weights read from code_gpt.onnx do not reproduce code_gpt.ref.h5")

    model = widen(small, a.factor)
    model.eval()
    with torch.no_grad():
        wide = model(torch.from_numpy(ref_tokens)).numpy()
    widen_err = float(np.abs(wide - got).max())
    print(f"widened x{a.factor}: {model.n_params():,} parameters, max |logits - code_gpt| = {widen_err:.2e}", flush=True)
    if widen_err > 1e-4:
        sys.exit("widening changed the function")
    g = torch.Generator().manual_seed(a.seed + 2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.add_(torch.randn(p.shape, generator=g) * (a.noise * p.std()))

    train = base.load_split(a.data, "train")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-8)
    rng = np.random.default_rng(a.seed + 1)
    def bundled(split):
        stream = base.load_split(base.BUNDLED, split)
        return stream[: a.eval_bytes + 1] if a.eval_bytes > 0 else stream

    bpb0 = base.eval_bpb(model, bundled("val"), a.seq)[0]
    print(f"after widening and noise: bundled val {bpb0:.4f} bits/byte", flush=True)
    model.train()
    t0, c0 = time.time(), time.process_time()
    for step in range(a.steps):
        cur = a.lr * min(1.0, (step + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for group in opt.param_groups:
            group["lr"] = cur
        starts = rng.integers(0, len(train) - a.seq - 1, size=a.batch)
        xy = torch.from_numpy(np.stack([train[s:s + a.seq + 1] for s in starts]).astype(np.int64))
        loss = F.cross_entropy(model(xy[:, :-1]).reshape(-1, 256), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0 or step == a.steps - 1:
            print(f"step {step:4d} lr={cur:.2e} train_bpb={loss.item() / math.log(2):.3f} "
                  f"{time.time() - t0:.0f}s wall {time.process_time() - c0:.0f}s cpu", flush=True)
    train_wall, train_cpu = time.time() - t0, time.process_time() - c0

    res = dict(model="code_gpt_large", base="examples/code_gpt/code_gpt.onnx", widen_factor=a.factor,
               noise=a.noise, seed=a.seed, steps=a.steps, batch=a.batch, seq=a.seq, lr=a.lr, warmup=a.warmup,
               threads=a.threads, bytes_seen=a.steps * a.batch * a.seq, params=model.n_params(),
               weight_macs_per_token=model.weight_macs_per_token(), config=model.cfg,
               load_max_abs_error=load_err, widen_max_abs_error=widen_err,
               bundled_val_bpb_after_widening=round(bpb0, 4), train_seconds=round(train_wall, 1),
               train_cpu_seconds=round(train_cpu, 1), torch=str(torch.__version__), state_sha256=gpt.state_sha256(model))
    res["eval_bytes"] = a.eval_bytes
    for split in ("val", "test"):
        bpb, n = base.eval_bpb(model, bundled(split), a.seq)
        small_bpb = base.eval_bpb(small, bundled(split), a.seq)[0]
        res[f"bundled_{split}_bpb"], res[f"bundled_{split}_bytes_scored"] = round(bpb, 4), n
        res[f"code_gpt_bundled_{split}_bpb_same_bytes"] = round(small_bpb, 4)
        print(f"bundled {split}: {bpb:.4f} bits/byte over {n} bytes (code_gpt: {small_bpb:.4f})", flush=True)
    meta = {"snnconv.task": "language_model", "snnconv.data": "../data/python_code_small.h5",
            "snnconv.tokenizer": "byte", "snnconv.max_seq": str(a.seq)}
    path = os.path.join(a.out, "code_gpt_large.onnx")
    hist = gpt.export_onnx(model, path, 17, meta)
    res["files"] = {"code_gpt_large.onnx": dict(bytes=os.path.getsize(path), sha256=gpt.file_sha256(path), ops=hist)}
    ref = os.path.join(a.out, "code_gpt_large.ref.h5")
    gpt.write_ref(model, ref, ref_tokens)
    res["files"]["code_gpt_large.ref.h5"] = dict(bytes=os.path.getsize(ref), sha256=gpt.file_sha256(ref))
    res["total_seconds"] = round(time.time() - t_start, 1)
    with open(os.path.join(a.out, "code_gpt_large.metrics.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
