#!/usr/bin/python3
"""Train the bundled Fashion-MNIST ViT classifiers (ReLU and GELU variants) and export them to ONNX.

Usage (from anywhere; paths default to this folder):
    /usr/bin/python3 examples/fashion_vit/train.py --variant relu
    /usr/bin/python3 examples/fashion_vit/train.py --variant gelu
    /usr/bin/python3 examples/fashion_vit/train.py --write-data   # writes examples/data/fashion_mnist_small.h5

Data: Fashion-MNIST idx files of the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist/). Training uses the first 55,000 training images, the last
5,000 are held out as validation (reported only), the metric is measured on all 10,000 test images.
Model input is image / 255 as float32 [batch, 1, 28, 28] named `input`; output `logits` [batch, 10].
"""
import argparse
import collections
import gzip
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.normpath(os.path.join(HERE, "..", "data"))
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
ALLOWED_OPS = set("Add Sub Mul Div Pow Sqrt Erf Tanh Relu Sigmoid MatMul Gemm Conv Softmax LayerNormalization "
                  "ReduceMean Transpose Reshape Flatten Concat Split Slice Gather Unsqueeze Squeeze Expand Where "
                  "Equal Not Trilu Cast Constant ConstantOfShape Shape Range Identity".split())


# ----------------------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load_fashion_mnist():
    xtr = read_idx(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = read_idx(os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(FMNIST_DIR, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    return xtr, ytr, xte, yte


def write_bundled_data(path):
    """First 1,000 test images as split `test`, first 500 training images as split `train`."""
    import h5py
    xtr, ytr, xte, yte = load_fashion_mnist()
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "snnconv-dataset"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["name"] = "fashion-mnist"
        f.attrs["task"] = "classification"
        f.attrs["source"] = ("Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz); "
                             "original: https://github.com/zalandoresearch/fashion-mnist")
        f.attrs["license"] = "MIT (Zalando SE)"
        f.attrs["preprocessing"] = ("none (original uint8 bytes); split test = rows 0..999 of t10k, "
                                    "split train = rows 0..499 of train (for calibration)")
        f.create_dataset("class_names", data=np.array(CLASS_NAMES, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        for split, x, y in (("train", xtr[:500], ytr[:500]), ("test", xte[:1000], yte[:1000])):
            g = f.create_group(split)
            g.attrs["count"] = np.int64(len(x))
            d = g.create_dataset("inputs", data=x.astype(np.uint8))
            d.attrs["scale"] = np.float32(1.0 / 255.0)
            d.attrs["offset"] = np.float32(0.0)
            g.create_dataset("labels", data=y.astype(np.int64))
    os.replace(tmp, path)
    print("wrote", path)


# ----------------------------------------------------------------------------- model
class Attention(nn.Module):
    """Multi-head self-attention written out: Linear q/k/v, matmul, softmax, matmul, Linear."""

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
        att = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, n, c)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, act):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.act = nn.ReLU() if act == "relu" else nn.GELU(approximate="none")
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return x


class ViT(nn.Module):
    def __init__(self, act, patch=7, dim=64, depth=4, heads=4, mlp=128, classes=10):
        super().__init__()
        n = (28 // patch) ** 2
        self.patch_embed = nn.Conv2d(1, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp, act) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)          # [B, n, dim]
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x[:, 0])


# ----------------------------------------------------------------------------- helpers
def evaluate(model, x_u8, y, bs=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x_u8), bs):
            xb = torch.from_numpy(x_u8[i:i + bs]).float().div_(255.0).unsqueeze(1)
            correct += (model(xb).argmax(1).numpy() == y[i:i + bs]).sum()
    return float(correct) / len(x_u8)


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


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=["relu", "gelu"], default="relu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--epochs", type=int, default=13)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(DATA_DIR, "fashion_mnist_small.h5"),
                    help="bundled dataset (reference batch = its first 8 test images)")
    ap.add_argument("--write-data", action="store_true", help="only write the bundled dataset and exit")
    args = ap.parse_args()

    if args.write_data:
        write_bundled_data(args.data)
        return

    import h5py
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    name = f"fashion_vit_{args.variant}"

    xtr_all, ytr_all, xte, yte = load_fashion_mnist()
    xtr, ytr = xtr_all[:55000], ytr_all[:55000]
    xva, yva = xtr_all[55000:], ytr_all[55000:]
    xtr_t = torch.from_numpy(xtr).float().div_(255.0).unsqueeze(1)
    ytr_t = torch.from_numpy(ytr)

    model = ViT(args.variant)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {n_params} parameters")
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n and "token" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n and "token" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))
    steps_per_epoch = len(xtr) // args.batch
    total = steps_per_epoch * args.epochs
    warm = min(steps_per_epoch, total // 10 + 1)

    def lr_at(s):
        if s < warm:
            return args.lr * (s + 1) / warm
        return args.lr * 0.5 * (1.0 + math.cos(math.pi * (s - warm) / max(1, total - warm)))

    gen = torch.Generator().manual_seed(args.seed)
    log = []
    t0 = time.time()
    c0 = time.process_time()
    step = 0
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        flips = torch.rand(len(xtr), generator=gen) < 0.5     # random horizontal flip
        run_loss = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            xb = xtr_t[idx]
            fb = flips[idx]
            xb = torch.where(fb[:, None, None, None], xb.flip(-1), xb)
            yb = ytr_t[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            run_loss += loss.item()
            step += 1
        va = evaluate(model, xva, yva)
        rec = {"epoch": ep + 1, "train_loss": run_loss / steps_per_epoch, "val_acc": va,
               "elapsed_s": round(time.time() - t0, 1)}
        log.append(rec)
        print(json.dumps(rec), flush=True)
    train_time = time.time() - t0
    train_cpu = time.process_time() - c0

    test_acc = evaluate(model, xte, yte)
    val_acc = evaluate(model, xva, yva)
    print(f"{name}: test accuracy {test_acc:.4f} (10,000 images), val accuracy {val_acc:.4f}, "
          f"train time {train_time:.1f}s")

    # ---- export
    model.eval()
    meta = {"snnconv.task": "classification", "snnconv.data": "../data/fashion_mnist_small.h5"}
    with h5py.File(args.data, "r") as f:
        ref_u8 = f["test/inputs"][:8]
        scale = float(f["test/inputs"].attrs["scale"])
    ref_in = torch.from_numpy(ref_u8.astype(np.float32) * np.float32(scale)).unsqueeze(1).contiguous()
    with torch.no_grad():
        ref_out = model(ref_in)
    paths = {17: os.path.join(args.out, f"{name}.onnx"), 13: os.path.join(args.out, f"{name}.op13.onnx")}
    hists = {}
    for opset, p in paths.items():
        hists[opset] = export_onnx(model, ref_in, p, opset, meta)
    ref_path = os.path.join(args.out, f"{name}.ref.h5")
    with h5py.File(ref_path + ".tmp", "w") as f:
        f.create_dataset("inputs/input", data=ref_in.numpy())
        f.create_dataset("outputs/logits", data=ref_out.numpy())
    os.replace(ref_path + ".tmp", ref_path)

    metrics = {
        "model": name, "command": " ".join([sys.executable] + sys.argv),
        "seed": args.seed, "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
        "threads": args.threads, "torch": torch.__version__,
        "parameters": n_params, "train_time_s": round(train_time, 1), "train_cpu_s": round(train_cpu, 1),
        "test_accuracy": test_acc, "val_accuracy": val_acc, "epoch_log": log,
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
