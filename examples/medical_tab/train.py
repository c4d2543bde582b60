#!/usr/bin/python3
"""Train the bundled FT-Transformer-style classifier on breast cancer (sklearn load_breast_cancer).

Usage: /usr/bin/python3 examples/medical_tab/train.py [--seed 0] [--out DIR] [--epochs N]

Data: examples/data/breast_cancer.h5 (written by examples/data/make_sklearn_datasets.py): stratified
60/20/20 train/val/test split, features already standardised with train statistics. Every one of the
30 features becomes a token x_f * W[f] + b[f]; a CLS token is prepended; pre-LN transformer blocks with
explicit attention; the head reads the CLS token. Input `input` float32 [batch, 30], output `logits`
[batch, 2] (class 0 = malignant, 1 = benign, sklearn's coding).
"""
import argparse
import collections
import hashlib
import json
import math
import os
import random
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "breast_cancer.h5"))
ALLOWED_OPS = set("Add Sub Mul Div Pow Sqrt Erf Tanh Relu Sigmoid MatMul Gemm Conv Softmax LayerNormalization "
                  "ReduceMean Transpose Reshape Flatten Concat Split Slice Gather Unsqueeze Squeeze Expand Where "
                  "Equal Not Trilu Cast Constant ConstantOfShape Shape Range Identity".split())


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        return self.proj(torch.matmul(att, v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(mlp, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.norm1(x)))
        x = x + self.drop(self.fc2(self.act(self.fc1(self.norm2(x)))))
        return x


class FTTransformer(nn.Module):
    def __init__(self, features=30, dim=32, depth=3, heads=4, mlp=64, classes=2, dropout=0.1):
        super().__init__()
        self.feat_weight = nn.Parameter(torch.randn(features, dim) / math.sqrt(dim))
        self.feat_bias = nn.Parameter(torch.randn(features, dim) / math.sqrt(dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) / math.sqrt(dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):                                            # x: [B, 30]
        tok = x.unsqueeze(-1) * self.feat_weight + self.feat_bias    # [B, 30, dim]
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        h = torch.cat([cls, tok], dim=1)
        for blk in self.blocks:
            h = blk(h)
        return self.head(torch.relu(self.norm(h[:, 0])))


def export_onnx(model, dummy, path, opset, meta):
    import onnx
    torch.onnx.export(model, dummy, path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=opset, do_constant_folding=True)
    m = onnx.load(path)
    onnx.helper.set_model_props(m, meta)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    hist = collections.Counter(n.op_type for n in m.graph.node)
    print(f"{os.path.basename(path)} opset {opset} ops: {dict(sorted(hist.items()))}")
    bad = set(hist) - ALLOWED_OPS
    if bad:
        raise SystemExit(f"export uses ops outside the allowed list: {sorted(bad)}")
    return dict(sorted(hist.items()))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def weights_digest(model):
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def predict(model, x):
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x)), dim=-1).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--wd", type=float, default=0.05, help="AdamW weight decay")
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args()
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    name = "medical_tab"

    d = {}
    with h5py.File(args.data, "r") as f:
        for s in ("train", "val", "test"):
            x = f[s]["inputs"]
            d[s] = (x[:].astype(np.float32) * np.float32(x.attrs["scale"]) + np.float32(x.attrs["offset"]),
                    f[s]["labels"][:])
    xtr, ytr = torch.from_numpy(d["train"][0]), torch.from_numpy(d["train"][1])

    model = FTTransformer(dropout=args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {n_params} parameters, train {len(xtr)} val {len(d['val'][0])} test {len(d['test'][0])}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    gen = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    total = steps_per_epoch * args.epochs
    log = []
    t0 = time.time()
    c0 = time.process_time()
    step = 0
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            for g in opt.param_groups:
                g["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            step += 1
        pv = predict(model, d["val"][0])
        rec = {"epoch": ep + 1, "train_loss": tot / len(xtr),
               "val_acc": float((pv.argmax(1) == d["val"][1]).mean()),
               "val_auc": float(roc_auc_score(d["val"][1], pv[:, 1])),
               "val_nll": float(-np.log(pv[np.arange(len(pv)), d["val"][1]] + 1e-12).mean())}
        log.append(rec)
        if (ep + 1) % 10 == 0 or ep == 0:
            print(json.dumps(rec), flush=True)
    train_time = time.time() - t0
    train_cpu = time.process_time() - c0

    res = {}
    for s in ("train", "val", "test"):
        p = predict(model, d[s][0])
        res[s] = {"accuracy": float((p.argmax(1) == d[s][1]).mean()),
                  "roc_auc": float(roc_auc_score(d[s][1], p[:, 1])), "n": int(len(p))}
    print(f"{name}: {json.dumps(res)} train time {train_time:.1f}s")

    model.eval()
    meta = {"snnconv.task": "classification", "snnconv.data": "../data/breast_cancer.h5"}
    ref_in = torch.from_numpy(d["test"][0][:8].copy())
    with torch.no_grad():
        ref_out = model(ref_in)
    paths = {17: os.path.join(args.out, f"{name}.onnx"), 13: os.path.join(args.out, f"{name}.op13.onnx")}
    hists = {opset: export_onnx(model, ref_in, p, opset, meta) for opset, p in paths.items()}
    ref_path = os.path.join(args.out, f"{name}.ref.h5")
    with h5py.File(ref_path + ".tmp", "w") as f:
        f.create_dataset("inputs/input", data=ref_in.numpy())
        f.create_dataset("outputs/logits", data=ref_out.numpy())
    os.replace(ref_path + ".tmp", ref_path)

    metrics = {
        "model": name, "command": " ".join([sys.executable] + sys.argv),
        "seed": args.seed, "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
        "weight_decay": args.wd, "dropout": args.dropout,
        "threads": args.threads, "torch": torch.__version__, "parameters": n_params,
        "train_time_s": round(train_time, 1), "train_cpu_s": round(train_cpu, 1), "results": res, "epoch_log": log,
        "weights_sha256": weights_digest(model),
        "files": {os.path.basename(p): {"bytes": os.path.getsize(p), "sha256": sha256(p)}
                  for p in list(paths.values()) + [ref_path]},
        "op_histogram": {str(k): v for k, v in hists.items()},
    }
    with open(os.path.join(args.out, f"{name}.metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    print(json.dumps({k: v for k, v in metrics.items() if k not in ("epoch_log", "op_histogram")}, indent=1))


if __name__ == "__main__":
    main()
