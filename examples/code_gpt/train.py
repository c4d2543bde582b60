#!/usr/bin/python3
"""Train, evaluate and export the byte-level code models `code_gpt` (target) and `code_gpt_draft`.

    /usr/bin/python3 examples/data/make_python_code.py /tmp/snnconv_python_code.h5   # full dataset, once
    /usr/bin/python3 examples/code_gpt/train.py --model code_gpt
    /usr/bin/python3 examples/code_gpt/train.py --model code_gpt_draft

Training: random windows (uniform start offsets, seeded) of the concatenated train split, --seq bytes
each. Optionally (--long-frac < 1) the last steps use --long-seq bytes with the batch scaled to keep the
bytes per step. The positional table has --max-pos (512) rows; only rows [0, trained context) are trained
(the rest keep their N(0, 0.02) init), and snnconv.max_seq is the trained context.
AdamW, linear warm-up + cosine decay to 10%.
Evaluation: bits per byte over the full val and test splits (and the bundled subset), non-overlapping
windows of the trained context (W bytes) over each split's concatenated stream: window k feeds bytes
[kW, kW+W) and scores bytes [kW+1, kW+W+1), so every byte but the first of the stream is scored once.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gpt  # noqa: E402

CONFIGS = {
    "code_gpt": dict(d=128, n_layers=4, n_heads=4, steps=3000, lr=3e-3, batch=8),
    "code_gpt_draft": dict(d=56, n_layers=2, n_heads=4, steps=4800, lr=3e-3, batch=8),
}
BUNDLED = os.path.join(HERE, "..", "data", "python_code_small.h5")


def load_split(path, split):
    with h5py.File(path, "r") as f:
        return f[split]["tokens"][()]


@torch.no_grad()
def eval_bpb(model, stream, window, batch=16):
    model.eval()
    n = len(stream) - 1  # scored bytes
    starts = list(range(0, n, window))
    total_bits, total = 0.0, 0
    full = [s for s in starts if s + window <= n]
    rest = [s for s in starts if s + window > n]
    for i in range(0, len(full), batch):
        idx = full[i:i + batch]
        x = torch.from_numpy(np.stack([stream[s:s + window] for s in idx]).astype(np.int64))
        y = torch.from_numpy(np.stack([stream[s + 1:s + window + 1] for s in idx]).astype(np.int64))
        total_bits += F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1), reduction="sum").item()
        total += y.numel()
    for s in rest:
        x = torch.from_numpy(stream[s:n].astype(np.int64))[None]
        y = torch.from_numpy(stream[s + 1:n + 1].astype(np.int64))[None]
        total_bits += F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1), reduction="sum").item()
        total += y.numel()
    model.train()
    return total_bits / math.log(2) / total, total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(CONFIGS), default="code_gpt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE, help="output folder")
    ap.add_argument("--data", default="/tmp/snnconv_python_code.h5",
                    help="full python-code dataset (built with examples/data/make_python_code.py if missing)")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default per model)")
    ap.add_argument("--batch", type=int, default=None, help="sequences per step in the --seq phase")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--max-pos", type=int, default=512, help="rows of the positional table")
    ap.add_argument("--long-seq", type=int, default=512)
    ap.add_argument("--long-frac", type=float, default=1.0,
                    help="fraction of steps at --seq; the rest use --long-seq (default 1.0: none)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-eval", action="store_true", help="skip the full val/test evaluation")
    a = ap.parse_args()
    cfg = dict(CONFIGS[a.model])
    steps = a.steps or cfg["steps"]
    batch = a.batch or cfg["batch"]
    lr = a.lr or cfg["lr"]
    os.makedirs(a.out, exist_ok=True)

    if not os.path.exists(a.data):
        subprocess.check_call([sys.executable, os.path.join(HERE, "..", "data", "make_python_code.py"),
                               a.data, "--small", ""])
    gpt.set_determinism(a.seed, a.threads)
    train = load_split(a.data, "train")
    print(f"train stream: {len(train)} bytes", flush=True)

    model = gpt.GPT(d=cfg["d"], n_layers=cfg["n_layers"], n_heads=cfg["n_heads"], max_seq=a.max_pos)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.98), eps=1e-8)
    rng = np.random.default_rng(a.seed + 1)
    n_short = int(round(a.long_frac * steps))
    ctx = a.seq if n_short >= steps else a.long_seq  # longest trained context: eval window and max_seq
    t0, c0 = time.time(), time.process_time()
    model.train()
    seen = 0
    for step in range(steps):
        T, B = (a.seq, batch) if step < n_short else (a.long_seq, max(1, batch * a.seq // a.long_seq))
        cur = lr * min(1.0, (step + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = cur
        starts = rng.integers(0, len(train) - T - 1, size=B)
        xy = torch.from_numpy(np.stack([train[s:s + T + 1] for s in starts]).astype(np.int64))
        loss = F.cross_entropy(model(xy[:, :-1]).reshape(-1, 256), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += B * T
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:5d} T={T} lr={cur:.2e} train_bpb={loss.item() / math.log(2):.3f} "
                  f"{time.time() - t0:.0f}s wall {time.process_time() - c0:.0f}s cpu", flush=True)
    train_time, train_cpu = time.time() - t0, time.process_time() - c0
    print(f"training done: {steps} steps, {seen} bytes seen, {train_time:.1f}s", flush=True)

    res = dict(model=a.model, seed=a.seed, steps=steps, batch=batch, seq=a.seq, long_seq=a.long_seq,
               long_frac=a.long_frac, lr=lr, trained_context=ctx, bytes_seen=seen, train_seconds=round(train_time, 1), train_cpu_seconds=round(train_cpu, 1),
               params=model.n_params(), weight_macs_per_token=model.weight_macs_per_token(),
               config=model.cfg, state_sha256=gpt.state_sha256(model), threads=a.threads)
    if not a.no_eval:
        t1 = time.time()
        for split in ("val", "test"):
            bpb, n = eval_bpb(model, load_split(a.data, split), ctx)
            res[f"{split}_bpb"], res[f"{split}_bytes_scored"] = round(bpb, 4), n
            print(f"{split}: {bpb:.4f} bits/byte over {n} bytes", flush=True)
        for split in ("val", "test"):
            bpb, n = eval_bpb(model, load_split(BUNDLED, split), ctx)
            res[f"bundled_{split}_bpb"] = round(bpb, 4)
            print(f"bundled {split}: {bpb:.4f} bits/byte over {n} bytes", flush=True)
        res["eval_seconds"] = round(time.time() - t1, 1)

    meta = {"snnconv.task": "language_model", "snnconv.data": "../data/python_code_small.h5",
            "snnconv.tokenizer": "byte", "snnconv.max_seq": str(ctx)}
    res["files"] = {}
    for opset, suffix in ((17, ".onnx"), (13, ".op13.onnx")):
        path = os.path.join(a.out, a.model + suffix)
        hist = gpt.export_onnx(model, path, opset, meta)
        res["files"][os.path.basename(path)] = dict(bytes=os.path.getsize(path), sha256=gpt.file_sha256(path),
                                                    ops=hist)
        print(f"{path}: {os.path.getsize(path)} bytes, ops {hist}", flush=True)
    with h5py.File(BUNDLED, "r") as f:
        toks, offs = f["test"]["tokens"][()], f["test"]["doc_offsets"][()]
    ref_tokens = np.stack([toks[offs[i]:offs[i] + 64] for i in range(4)]).astype(np.int64)
    ref = os.path.join(a.out, a.model + ".ref.h5")
    gpt.write_ref(model, ref, ref_tokens)
    res["files"][os.path.basename(ref)] = dict(bytes=os.path.getsize(ref), sha256=gpt.file_sha256(ref))
    with open(os.path.join(a.out, a.model + ".metrics.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
