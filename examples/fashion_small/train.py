#!/usr/bin/python3
"""Train fashion_vit_tiny: a one-block, narrow ViT for Fashion-MNIST, the small stage of a small -> large
cascade whose large stage is examples/fashion_vit/fashion_vit_relu.onnx.

Usage (from anywhere; paths default to this folder):
    /usr/bin/python3 examples/fashion_small/train.py                 # seed 0, the defaults below

The architecture, data, augmentation, optimiser, schedule, export and metadata are those of
examples/fashion_vit/train.py (imported from there); only the size and the number of epochs differ:
patch 7, dim 32, 1 block, 2 heads, MLP 64, ReLU. Training uses training rows 0..54,999, rows 55,000..59,999
are validation (reported only), the metric is measured on all 10,000 test images.
Input: image / 255 as float32 [batch, 1, 28, 28] named `input`; output `logits` [batch, 10].
"""
import argparse
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
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "fashion_vit")))
import train as vit  # noqa: E402  (examples/fashion_vit/train.py: data, model classes, export helpers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--name", default="fashion_vit_tiny")
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--mlp", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(vit.DATA_DIR, "fashion_mnist_small.h5"),
                    help="bundled dataset (reference batch = its first 8 test images)")
    args = ap.parse_args()

    import h5py
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    name = args.name

    xtr_all, ytr_all, xte, yte = vit.load_fashion_mnist()
    xtr, ytr = xtr_all[:55000], ytr_all[:55000]
    xva, yva = xtr_all[55000:], ytr_all[55000:]
    xtr_t = torch.from_numpy(xtr).float().div_(255.0).unsqueeze(1)
    ytr_t = torch.from_numpy(ytr)

    model = vit.ViT("relu", patch=7, dim=args.dim, depth=args.depth, heads=args.heads, mlp=args.mlp)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {n_params} parameters")

    def decays(n, p):
        return p.ndim >= 2 and "embed" not in n and "token" not in n
    opt = torch.optim.AdamW([{"params": [p for n, p in model.named_parameters() if decays(n, p)], "weight_decay": 0.05},
                             {"params": [p for n, p in model.named_parameters() if not decays(n, p)],
                              "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))
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
            xb = torch.where(flips[idx][:, None, None, None], xb.flip(-1), xb)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(model(xb), ytr_t[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            run_loss += loss.item()
            step += 1
        rec = {"epoch": ep + 1, "train_loss": run_loss / steps_per_epoch, "val_acc": vit.evaluate(model, xva, yva),
               "elapsed_s": round(time.time() - t0, 1), "cpu_s": round(time.process_time() - c0, 1)}
        log.append(rec)
        print(json.dumps(rec), flush=True)
    train_time = time.time() - t0
    train_cpu = time.process_time() - c0

    test_acc = vit.evaluate(model, xte, yte)
    val_acc = vit.evaluate(model, xva, yva)
    print(f"{name}: test accuracy {test_acc:.4f} (10,000 images), val accuracy {val_acc:.4f}, "
          f"train time {train_time:.1f}s")

    # ---- export: opset 17 only, with the metadata of the fashion_vit exports
    model.eval()
    meta = {"snnconv.task": "classification", "snnconv.data": "../data/fashion_mnist_small.h5"}
    with h5py.File(args.data, "r") as f:
        ref_u8 = f["test/inputs"][:8]
        scale = float(f["test/inputs"].attrs["scale"])
        bundled_x = f["test/inputs"][:]
        bundled_y = f["test/labels"][:]
    ref_in = torch.from_numpy(ref_u8.astype(np.float32) * np.float32(scale)).unsqueeze(1).contiguous()
    with torch.no_grad():
        ref_out = model(ref_in)
    onnx_path = os.path.join(args.out, f"{name}.onnx")
    hist = vit.export_onnx(model, ref_in, onnx_path, 17, meta)
    ref_path = os.path.join(args.out, f"{name}.ref.h5")
    with h5py.File(ref_path + ".tmp", "w") as f:
        f.create_dataset("inputs/input", data=ref_in.numpy())
        f.create_dataset("outputs/logits", data=ref_out.numpy())
    os.replace(ref_path + ".tmp", ref_path)
    bundled_acc = vit.evaluate(model, bundled_x, bundled_y)

    metrics = {
        "model": name, "command": " ".join([sys.executable] + sys.argv),
        "seed": args.seed, "dim": args.dim, "depth": args.depth, "heads": args.heads, "mlp": args.mlp,
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
        "threads": args.threads, "torch": torch.__version__,
        "parameters": n_params, "train_time_s": round(train_time, 1), "train_cpu_s": round(train_cpu, 1),
        "test_accuracy": test_acc, "val_accuracy": val_acc, "bundled_test_accuracy_1000": bundled_acc,
        "epoch_log": log, "weights_sha256": vit.weights_digest(model),
        "files": {os.path.basename(p): {"bytes": os.path.getsize(p), "sha256": vit.sha256(p)}
                  for p in (onnx_path, ref_path)},
        "op_histogram": {"17": hist},
    }
    tmp = os.path.join(args.out, f"{name}.metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(tmp, os.path.join(args.out, f"{name}.metrics.json"))
    print(json.dumps({k: v for k, v in metrics.items() if k not in ("epoch_log", "op_histogram")}, indent=1))


if __name__ == "__main__":
    main()
