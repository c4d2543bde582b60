#!/usr/bin/env python3
"""Large ONNX exports with seeded random weights for the benchmarks (docs/benchmarks.md). Not committed (100+ MB):
this script regenerates them byte for byte (torch 1.13 from Debian, CPU, seed 0).

Usage: /usr/bin/python3 tools/bench/make_large_export.py [--model M] OUT.onnx [--data OUT.h5]

  gpt25m        (default) a 25.7M-parameter GPT-style decoder, 8 layers x 512 (the ONNX import benchmark)
  vit_b_16      ViT-B/16 at 224 x 224 (12 layers, 768 wide, 12 heads, MLP 3072, 197 tokens, 1000 classes,
                86.6M parameters) written out in the form the converter supports (examples/fashion_vit: Linear
                q/k/v, MatMul, Softmax, MatMul, Linear; Conv patch embedding; class token; learned positions;
                exact GELU; pre-LN), the architecture of torchvision's vit_b_16
  vit_b_16_stock  torchvision.models.vit_b_16 itself (nn.MultiheadAttention with a packed in_proj), as users
                export it; the converter does not take it yet (docs/benchmarks.md names the gap)
  gpt2_small    a GPT-2-small-shaped decoder (12 layers, 768 wide, 12 heads, MLP 3072, 1024 positions, vocabulary
                50257, untied head: 163M parameters; 124M with the head tied to the embedding as GPT-2 ties it) in
                examples/code_gpt's written-out form (gpt.py); metadata
                points at the bundled byte-level python code data (token ids < 256 are used)

--data OUT.h5 (vit_b_16, vit_b_16_stock): a classification dataset for snnconv run: the first 16 Fashion-MNIST
test images (and 8 training images for calibration) resized to 224 x 224 (bilinear) and repeated over 3
channels, uint8, scale 1/255 (labels are the Fashion-MNIST classes; the random model's 1000 outputs are not
meant to classify them). The model's snnconv.data metadata points at this file by name.
"""
import argparse
import gzip
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gpt25m():
    class Block(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads = heads
            self.ln1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.up = nn.Linear(d, 4 * d)
            self.down = nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) / (d // self.heads) ** 0.5
            mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = x + self.proj(y)
            return x + self.down(torch.nn.functional.gelu(self.up(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self, d=512, layers=8, heads=8, ctx=512):
            super().__init__()
            self.tok = nn.Embedding(256, d)
            self.pos = nn.Parameter(torch.randn(ctx, d) * 0.02)
            self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
            self.ln = nn.LayerNorm(d)
            self.head = nn.Linear(d, 256)

        def forward(self, tokens):
            x = self.tok(tokens) + self.pos[: tokens.shape[1]]
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln(x))

    return GPT().eval()


# ---- ViT-B/16 written out (the form of examples/fashion_vit/train.py) --------------------------------------
class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        att = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        return self.proj(torch.matmul(att, v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2, self.fc1, self.fc2 = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, mlp), nn.Linear(mlp, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """torchvision's vit_b_16 hyper-parameters: patch 16, 224 x 224, 12 x 768, 12 heads, MLP 3072, LayerNorm
    eps 1e-6, class token, learned positions (197), exact GELU, 1000 classes read from the class token."""

    def __init__(self, image=224, patch=16, dim=768, depth=12, heads=12, mlp=3072, classes=1000):
        super().__init__()
        n = (image // patch) ** 2
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_image_data(path):
    """Fashion-MNIST test rows 0..15 (split test) and training rows 0..7 (split train), 224 x 224 x 3 uint8."""
    import h5py
    base = "/usr/share/datasets/fashion-mnist"
    splits = {"test": (read_idx(f"{base}/t10k-images-idx3-ubyte.gz")[:16], read_idx(f"{base}/t10k-labels-idx1-ubyte.gz")[:16]),
              "train": (read_idx(f"{base}/train-images-idx3-ubyte.gz")[:8], read_idx(f"{base}/train-labels-idx1-ubyte.gz")[:8])}
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "snnconv-dataset"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["name"] = "fashion-mnist-224"
        f.attrs["task"] = "classification"
        f.attrs["source"] = "Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz)"
        f.attrs["license"] = "MIT (Zalando SE)"
        f.attrs["preprocessing"] = ("rows 0..15 of t10k (test) and 0..7 of train (train), bilinear resize 28 -> 224 "
                                    "(torch.nn.functional.interpolate, align_corners=False), repeated over 3 channels")
        names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        f.create_dataset("class_names", data=np.array(names, dtype=object), dtype=h5py.string_dtype("utf-8"))
        for split, (x, y) in splits.items():
            t = torch.from_numpy(x.astype(np.float32)).unsqueeze(1)
            big = nn.functional.interpolate(t, size=(224, 224), mode="bilinear", align_corners=False)
            big = big.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1).numpy()
            g = f.create_group(split)
            g.attrs["count"] = np.int64(len(big))
            d = g.create_dataset("inputs", data=big)
            d.attrs["scale"] = np.float32(1.0 / 255.0)
            d.attrs["offset"] = np.float32(0.0)
            g.create_dataset("labels", data=y.astype(np.int64))
    os.replace(tmp, path)
    print("wrote", path)


def export(model, dummy, path, input_name, dynamic, meta, training=torch.onnx.TrainingMode.EVAL):
    import onnx
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, dummy, tmp, opset_version=17, input_names=[input_name], output_names=["logits"],
                          dynamic_axes=dynamic, do_constant_folding=True, training=training)
    m = onnx.load(tmp)
    for k, v in meta.items():
        e = m.metadata_props.add()
        e.key, e.value = k, str(v)
    onnx.save(m, tmp)
    os.replace(tmp, path)
    print("params", sum(p.numel() for p in model.parameters()), "->", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--model", default="gpt25m", choices=["gpt25m", "vit_b_16", "vit_b_16_stock", "gpt2_small"])
    ap.add_argument("--data", help="vit models: also write the 224 x 224 dataset here")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    if a.model == "gpt25m":
        export(gpt25m(), torch.zeros(1, 64, dtype=torch.long), a.out, "tokens",
               {"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}, {})
        return
    if a.model in ("vit_b_16", "vit_b_16_stock"):
        training = torch.onnx.TrainingMode.EVAL
        if a.model == "vit_b_16":
            model = ViT().eval()
        else:
            # torch 1.13 runs nn.MultiheadAttention in eval mode through its fused fast path, which has no ONNX
            # export; users export it in training mode, which torchvision's ViT (dropout 0) computes identically.
            import torchvision
            model = torchvision.models.vit_b_16(weights=None).train()
            training = torch.onnx.TrainingMode.PRESERVE
        meta = {"snnconv.task": "classification"}
        if a.data:
            write_image_data(a.data)
            meta["snnconv.data"] = os.path.relpath(os.path.abspath(a.data), os.path.dirname(os.path.abspath(a.out)))
        export(model, torch.zeros(1, 3, 224, 224), a.out, "input", {"input": {0: "batch"}, "logits": {0: "batch"}}, meta,
               training)
        return
    sys.path.insert(0, os.path.join(ROOT, "examples", "code_gpt"))
    from gpt import GPT
    model = GPT(d=768, n_layers=12, n_heads=12, max_seq=1024, vocab=50257, mlp_ratio=4).eval()
    model.mask_mode = "tril"
    data = os.path.relpath(os.path.join(ROOT, "examples", "data", "python_code_small.h5"),
                           os.path.dirname(os.path.abspath(a.out)))
    export(model, torch.zeros(1, 16, dtype=torch.long), a.out, "tokens",
           {"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
           {"snnconv.task": "language_model", "snnconv.data": data, "snnconv.tokenizer": "byte",
            "snnconv.max_seq": "1024", "snnconv.heads": "12"})


if __name__ == "__main__":
    main()
