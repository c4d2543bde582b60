#!/usr/bin/python3
"""Bring-your-own-model fixtures: stock torch 1.13 modules exported the way users export them.

    /usr/bin/python3 examples/byom/make_byom.py [--only NAME[,NAME...]] [--out DIR]

Every model is small (widths 32, 2 blocks); the classifiers and language models are trained briefly on the
bundled data (digits, Fashion-MNIST, the Python standard library text), the others keep a seeded random
init. For each fixture NAME the script writes
    NAME.onnx      torch.onnx.export with dynamic batch (and seq for token inputs), metadata snnconv.*
    NAME.ref.h5    /inputs/<input> and /outputs/<output>: torch's outputs on 3 fixture samples
    NAME.npz       the same inputs, one sample per row, named after the model inputs (+ labels)
and one line per file in PROVENANCE.md. Deterministic for a seed (one torch thread for the references).
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
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
SEED = 1234
SEQ = 32  # language-model window


# ---------------------------------------------------------------------------------------------- data

def digits(split):
    with h5py.File(os.path.join(DATA, "digits.h5"), "r") as f:
        x = f[split]["inputs"][:].astype(np.float32) * f[split]["inputs"].attrs["scale"]
        return x, f[split]["labels"][:]


def fashion_train(n):
    import gzip
    root = "/usr/share/datasets/fashion-mnist"
    with gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return x.astype(np.float32)[:, None] / 255.0, y.astype(np.int64)


def fashion_test(n):
    with h5py.File(os.path.join(DATA, "fashion_mnist_small.h5"), "r") as f:
        x = f["test"]["inputs"][:n].astype(np.float32) / 255.0
        return x[:, None], f["test"]["labels"][:n]


def code_bytes(split):
    with h5py.File(os.path.join(DATA, "python_code_small.h5"), "r") as f:
        return f[split]["tokens"][:].astype(np.int64)


def code_windows(split, n, seq=SEQ):
    t = code_bytes(split)
    return np.stack([t[i * seq:(i + 1) * seq] for i in range(n)])


# ---------------------------------------------------------------------------------------------- models

class EncoderClassifier(nn.Module):
    """Digits rows as 8 tokens of 8 features -> nn.TransformerEncoder -> mean or CLS pooling -> head."""

    def __init__(self, pooling, batch_first, activation):
        super().__init__()
        self.pooling, self.batch_first = pooling, batch_first
        d = 32
        self.embed = nn.Linear(8, d)
        n = 8 + (pooling == "cls")
        self.pos = nn.Parameter(torch.randn(1, n, d) * 0.02)
        if pooling == "cls":
            self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, activation=activation, batch_first=batch_first,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.head = nn.Linear(d, 10)

    def forward(self, x):  # [B, 8, 8]
        h = self.embed(x)
        if self.pooling == "cls":
            h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1)
        h = h + self.pos
        if not self.batch_first:
            h = h.transpose(0, 1)
        h = self.encoder(h)
        if not self.batch_first:
            h = h.transpose(0, 1)
        h = h.mean(dim=1) if self.pooling == "mean" else h[:, 0]
        return self.head(h)


def tv_vit():
    from torchvision.models import VisionTransformer
    m = VisionTransformer(image_size=28, patch_size=7, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64,
                          num_classes=10)
    m.conv_proj = nn.Conv2d(1, 32, kernel_size=7, stride=7)  # grayscale input, as users adapt it
    return m


class CausalEncoderLM(nn.Module):
    """A causal LM from nn.TransformerEncoderLayer (sequence first) with an additive -inf mask."""

    def __init__(self):
        super().__init__()
        d = 32
        self.tok = nn.Embedding(256, d)
        self.pos = nn.Embedding(SEQ, d)
        layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, activation="gelu", norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 256)

    def forward(self, tokens):  # [B, T]
        t = tokens.shape[1]
        h = self.tok(tokens) + self.pos(torch.arange(t))
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        h = self.blocks(h.transpose(0, 1), mask=mask).transpose(0, 1)
        return self.head(self.norm(h))


class NanoBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.register_buffer("bias", torch.tril(torch.ones(SEQ, SEQ)).view(1, 1, SEQ, SEQ))

    def attn(self, x):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        k = k.view(b, t, self.h, c // self.h).transpose(1, 2)
        q = q.view(b, t, self.h, c // self.h).transpose(1, 2)
        v = v.view(b, t, self.h, c // self.h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    def __init__(self):
        super().__init__()
        d = 32
        self.wte, self.wpe = nn.Embedding(256, d), nn.Embedding(SEQ, d)
        self.blocks = nn.ModuleList([NanoBlock(d, 4) for _ in range(2)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, 256, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as nanoGPT does

    def forward(self, idx):
        t = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(0, t, dtype=torch.long))
        for b in self.blocks:
            x = b(x)
        return self.lm_head(self.ln_f(x))


class BertStyle(nn.Module):
    """BERT-style post-LN encoder with a padding-mask input; the classifier reads the [CLS] position."""

    def __init__(self):
        super().__init__()
        d, self.h = 32, 4
        self.word, self.position = nn.Embedding(100, d), nn.Embedding(16, d)
        self.emb_ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList()
        for _ in range(2):
            self.layers.append(nn.ModuleDict(dict(
                query=nn.Linear(d, d), key=nn.Linear(d, d), value=nn.Linear(d, d), out=nn.Linear(d, d),
                ln1=nn.LayerNorm(d, eps=1e-12), inter=nn.Linear(d, 64), output=nn.Linear(64, d),
                ln2=nn.LayerNorm(d, eps=1e-12))))
        self.pooler = nn.Linear(d, d)
        self.classifier = nn.Linear(d, 2)

    def heads(self, x):
        b, t, c = x.shape
        return x.view(b, t, self.h, c // self.h).permute(0, 2, 1, 3)

    def forward(self, input_ids, attention_mask):
        b, t = input_ids.shape
        x = self.emb_ln(self.word(input_ids) + self.position(torch.arange(t)))
        ext = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        for L in self.layers:
            q, k, v = self.heads(L["query"](x)), self.heads(L["key"](x)), self.heads(L["value"](x))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1]) + ext
            p = torch.softmax(s, dim=-1)
            ctx = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(b, t, -1)
            x = L["ln1"](x + L["out"](ctx))
            x = L["ln2"](x + L["output"](F.gelu(L["inter"](x))))
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaBlock(nn.Module):
    def __init__(self, d, heads, kv_heads, hidden):
        super().__init__()
        self.h, self.kv, self.hd = heads, kv_heads, d // heads
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(d), RMSNorm(d)
        self.q_proj = nn.Linear(d, heads * self.hd, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o_proj = nn.Linear(heads * self.hd, d, bias=False)
        self.gate_proj, self.up_proj = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d, bias=False)

    def repeat_kv(self, x):
        b, h, t, hd = x.shape
        n = self.h // self.kv
        return x[:, :, None, :, :].expand(b, h, n, t, hd).reshape(b, h * n, t, hd)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = self.repeat_kv(k), self.repeat_kv(v)
        s = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
        p = torch.softmax(s, dim=-1)
        o = torch.matmul(p, v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class LlamaLM(nn.Module):
    """Llama-style decoder: RMSNorm, SwiGLU, RoPE (rotate_half), GQA (repeat_kv), tied embeddings."""

    def __init__(self, vocab=256, d=32, max_len=SEQ, layers=2):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([LlamaBlock(d, 4, 2, 64) for _ in range(layers)])
        self.norm = RMSNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.embed_tokens.weight
        hd = d // 4
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        f = torch.outer(torch.arange(max_len).float(), inv)
        emb = torch.cat((f, f), dim=-1)
        self.register_buffer("cos_cached", emb.cos())
        self.register_buffer("sin_cached", emb.sin())

    def decode(self, h):
        t = h.shape[1]
        cos, sin = self.cos_cached[:t], self.sin_cached[:t]
        mask = torch.full((t, t), float("-inf")).triu(1)
        for L in self.layers:
            h = L(h, cos, sin, mask)
        return self.lm_head(self.norm(h))

    def forward(self, input_ids):
        return self.decode(self.embed_tokens(input_ids))


class LlavaStyle(nn.Module):
    """ViT encoder (16 patch tokens) + 2-layer GELU projector + Llama-style decoder over [image; text]."""

    def __init__(self):
        super().__init__()
        dv, d = 32, 32
        self.patch = nn.Conv2d(1, dv, 7, 7)
        self.vpos = nn.Parameter(torch.randn(1, 16, dv) * 0.02)
        layer = nn.TransformerEncoderLayer(dv, 4, 64, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.vision = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.projector = nn.Sequential(nn.Linear(dv, d), nn.GELU(), nn.Linear(d, d))
        self.lm = LlamaLM(d=d, max_len=16 + 16, layers=1)

    def forward(self, image, input_ids):
        v = self.patch(image).flatten(2).transpose(1, 2) + self.vpos
        v = self.projector(self.vision(v))
        return self.lm.decode(torch.cat([v, self.lm.embed_tokens(input_ids)], dim=1))


# ---------------------------------------------------------------------------------------------- QAT

class FakeQuantQCDQ(torch.autograd.Function):
    """b-bit fake quantization (straight-through) that exports as QuantizeLinear -> Clip -> DequantizeLinear,
    the form 2-7 bit QAT tools write (torch 1.13's own fake_quantize exports only 8-bit ranges)."""

    @staticmethod
    def forward(ctx, x, scale, zero, qmin, qmax):
        s = scale if scale.dim() == 0 else scale.view(-1, *([1] * (x.dim() - 1)))  # per channel: axis 0
        return torch.clamp(torch.round(x / s), qmin, qmax) * s

    @staticmethod
    def backward(ctx, g):
        return g, None, None, None, None

    @staticmethod
    def symbolic(g, x, scale, zero, qmin, qmax):
        axis = {} if scale.type().dim() == 0 else {"axis_i": 0}
        q = g.op("QuantizeLinear", x, scale, zero, **axis)
        lo = g.op("Constant", value_t=torch.tensor(int(qmin), dtype=torch.int8))
        hi = g.op("Constant", value_t=torch.tensor(int(qmax), dtype=torch.int8))
        return g.op("DequantizeLinear", g.op("Clip", q, lo, hi), scale, zero, **axis)


class ActQ(nn.Module):
    """Per-tensor activation quantizer: step from the running abs-max, frozen for export."""

    def __init__(self, bits, unsigned=False):
        super().__init__()
        self.bits, self.unsigned = bits, unsigned
        self.register_buffer("amax", torch.tensor(0.0))
        self.observe = True

    def range(self):
        if self.unsigned:
            return 0, 2 ** self.bits - 1
        return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1

    def forward(self, x):
        qmin, qmax = self.range()
        if self.observe:
            self.amax = torch.maximum(self.amax, x.detach().abs().max())
            return x
        scale = float(self.amax) / qmax
        if self.bits == 8:  # torch's own export: QuantizeLinear -> DequantizeLinear (int8 / uint8)
            return torch.fake_quantize_per_tensor_affine(x, scale, 0, qmin, qmax)
        return FakeQuantQCDQ.apply(x, torch.tensor(scale), torch.tensor(0, dtype=torch.int8), qmin, qmax)


def weight_q(w, bits, scale=None):
    """Symmetric per-output-channel weight fake quantization; `scale` (frozen for export) or the abs-max."""
    qmax = 2 ** (bits - 1) - 1
    if scale is None:
        scale = (w.detach().abs().amax(dim=1) / qmax).clamp(min=1e-8)
        return w + (torch.clamp(torch.round(w / scale[:, None]), -qmax, qmax) * scale[:, None] - w).detach()
    if bits == 8:  # torch's per-channel op: QuantizeLinear/DequantizeLinear with axis 0
        return torch.fake_quantize_per_channel_affine(w, scale, torch.zeros(w.shape[0], dtype=torch.int32), 0, -128, 127)
    return FakeQuantQCDQ.apply(w, scale, torch.zeros(w.shape[0], dtype=torch.int8), -qmax, qmax)


class QLinear(nn.Linear):
    bits = 8

    def freeze(self):
        qmax = 2 ** (self.bits - 1) - 1
        self.register_buffer("w_scale", (self.weight.detach().abs().amax(dim=1) / qmax).clamp(min=1e-8))

    def forward(self, x):
        return F.linear(x, weight_q(self.weight, self.bits, getattr(self, "w_scale", None)), self.bias)


class QATClassifier(nn.Module):
    """A pre-LN transformer classifier on digits with fake quantization at every point the QANN needs."""

    def __init__(self, bits):
        super().__init__()
        d, self.h = 32, 4
        QLinear.bits = bits
        self.bits = bits
        self.embed = nn.Linear(8, d)
        self.pos = nn.Parameter(torch.randn(1, 8, d) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(2):
            blk = nn.ModuleDict(dict(ln1=nn.LayerNorm(d), qkv=QLinear(d, 3 * d), proj=QLinear(d, d), ln2=nn.LayerNorm(d),
                                     fc1=QLinear(d, 64), fc2=QLinear(64, d)))
            # One point per value the QANN quantizes: the residual stream (x_in, ln2_in: LayerNorm input and
            # residual operand alike), every Linear input, Q, K, V, the scores, the probabilities, the residual
            # branches.
            for name in ("x_in", "a_in", "q", "k", "v", "s", "p", "o", "r1", "ln2_in", "m_in", "h", "r2"):
                blk[name] = ActQ(bits, unsigned=name in ("p", "h"))
            self.blocks.append(blk)
        self.ln_in, self.norm, self.pool_in, self.head_in = ActQ(bits), nn.LayerNorm(d), ActQ(bits), ActQ(bits)
        self.head = QLinear(d, 10)

    def forward(self, x):
        b, t, _ = x.shape
        x = self.embed(x) + self.pos
        for B in self.blocks:
            x = B["x_in"](x)
            qkv = B["qkv"](B["a_in"](B["ln1"](x)))
            q, k, v = qkv.split(32, dim=2)
            q = B["q"]((q / math.sqrt(8)).view(b, t, self.h, 8).transpose(1, 2))
            k = B["k"](k.view(b, t, self.h, 8).transpose(1, 2))
            v = B["v"](v.view(b, t, self.h, 8).transpose(1, 2))
            p = B["p"](torch.softmax(B["s"](q @ k.transpose(-2, -1)), dim=-1))
            o = B["o"]((p @ v).transpose(1, 2).reshape(b, t, 32))
            x = x + B["r1"](B["proj"](o))
            x = B["ln2_in"](x)
            x = x + B["r2"](B["fc2"](B["h"](F.relu(B["fc1"](B["m_in"](B["ln2"](x)))))))
        x = self.ln_in(x)
        return self.head(self.head_in(self.pool_in(self.norm(x)).mean(dim=1)))


# ---------------------------------------------------------------------------------------------- training

def train_classifier(model, x, y, steps, lr=3e-3, batch=64):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(SEED)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(xt), (batch,), generator=g)
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss)


def train_lm(model, steps, batch=32, lr=3e-3, forward=None):
    forward = forward or (lambda t: model(t))
    toks = torch.from_numpy(code_bytes("val"))  # the bundled set has val/test only: train on val, score on test
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(SEED)
    model.train()
    for step in range(steps):
        i = torch.randint(0, len(toks) - SEQ - 1, (batch,), generator=g)
        w = torch.stack([toks[j:j + SEQ + 1] for j in i.tolist()])
        logits = forward(w[:, :-1])
        loss = F.cross_entropy(logits[:, -SEQ:].reshape(-1, 256), w[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss)


def bits_per_byte(model, windows):
    with torch.no_grad():
        logits = model(torch.from_numpy(windows))
        nll = F.cross_entropy(logits[:, :-1].reshape(-1, 256), torch.from_numpy(windows[:, 1:]).reshape(-1))
    return float(nll) / math.log(2)


# ---------------------------------------------------------------------------------------------- export

OUT = [HERE]  # --out


def export(model, name, inputs, input_names, meta, opset=17, dynamic=None, ref_inputs=None, labels=None):
    outdir = OUT[0]
    path = os.path.join(outdir, name + ".onnx")
    if dynamic is None:
        dynamic = {n: {0: "batch"} for n in input_names}
        for n, x in zip(input_names, inputs):
            if x.dtype == torch.int64 and x.dim() == 2:
                dynamic[n] = {0: "batch", 1: "seq"}
        dynamic["logits"] = {0: "batch"}
    torch.onnx.export(model, tuple(inputs), path, opset_version=opset, input_names=input_names,
                      output_names=["logits"], dynamic_axes=dynamic, do_constant_folding=True)
    m = onnx.load(path)
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.checker.check_model(m)
    onnx.save(m, path)
    ref_inputs = ref_inputs if ref_inputs is not None else inputs
    with torch.no_grad():
        out = model(*ref_inputs)
    with h5py.File(os.path.join(outdir, name + ".ref.h5"), "w") as f:
        for n, x in zip(input_names, ref_inputs):
            f.create_dataset(f"inputs/{n}", data=x.numpy())
        f.create_dataset("outputs/logits", data=out.numpy())
    arrays = {n: x.numpy() for n, x in zip(input_names, ref_inputs)}
    if labels is not None:
        arrays["labels"] = labels
    np.savez(os.path.join(outdir, name + ".npz"), **arrays)
    ops = sorted({n.op_type for n in m.graph.node})
    return dict(file=name + ".onnx", opset=opset, bytes=os.path.getsize(path), ops=ops)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    OUT[0] = args.out
    only = set(filter(None, args.only.split(",")))
    want = lambda n: not only or n in only  # noqa: E731
    torch.set_num_threads(int(os.environ.get("SNNCONV_TORCH_THREADS", "2")))  # 1 on a loaded machine
    prov = {}
    prov_path = os.path.join(args.out, "provenance.json")
    if os.path.exists(prov_path):
        prov = json.load(open(prov_path))

    dx, dy = digits("train")
    tx, ty = digits("test")
    tx3, ty3 = torch.from_numpy(tx[:3]), ty[:3]
    cls_meta = {"snnconv.task": "classification", "snnconv.data": "../data/digits.h5"}

    def digits_acc(model):
        with torch.no_grad():
            return float((model(torch.from_numpy(tx)).argmax(-1).numpy() == ty).mean())

    for name, pooling, bf, act in (("encoder_mean", "mean", True, "relu"), ("encoder_cls", "cls", False, "gelu")):
        if not want(name):
            continue
        torch.manual_seed(SEED)
        t0 = time.time()
        m = EncoderClassifier(pooling, bf, act)
        loss = train_classifier(m, dx, dy, 600)
        info = export(m, name, [tx3], ["input"], cls_meta, ref_inputs=[tx3], labels=ty3)
        info.update(what=f"nn.TransformerEncoder (norm_first, batch_first={bf}, {act}) {pooling} pooling, digits rows as tokens",
                    train=f"600 AdamW steps of 64 digits train rows, seed {SEED}, {time.time() - t0:.0f} s",
                    test_accuracy=digits_acc(m), data="../data/digits.h5")
        prov[name] = info

    if want("vit_tv_op17") or want("vit_tv_op14"):
        torch.manual_seed(SEED)
        t0 = time.time()
        m = tv_vit()
        fx, fy = fashion_train(20000)
        train_classifier(m, fx, fy, 800, lr=2e-3)
        vx, vy = fashion_test(1000)
        with torch.no_grad():
            acc = float((m(torch.from_numpy(vx)).argmax(-1).numpy() == vy).mean())
        x3 = torch.from_numpy(vx[:3])
        for opset in (17, 14):
            name = f"vit_tv_op{opset}"
            info = export(m, name, [x3], ["input"],
                          {"snnconv.task": "classification", "snnconv.data": "../data/fashion_mnist_small.h5"},
                          opset=opset, labels=vy[:3])
            info.update(what="torchvision.models.VisionTransformer(image_size=28, patch_size=7, num_layers=2, "
                             "num_heads=4, hidden_dim=32, mlp_dim=64), conv_proj for 1 channel",
                        train=f"800 AdamW steps of 64 images from the first 20000 Fashion-MNIST train images, seed {SEED}, "
                              f"{time.time() - t0:.0f} s", test_accuracy=acc, data="../data/fashion_mnist_small.h5")
            prov[name] = info

    lm_meta = {"snnconv.task": "language_model", "snnconv.data": "../data/python_code_small.h5",
               "snnconv.tokenizer": "byte", "snnconv.max_seq": str(SEQ)}
    test_w = code_windows("test", 64)
    w3 = torch.from_numpy(test_w[:3])
    for name, ctor, what in (
            ("lm_encoder_causal", CausalEncoderLM, "nn.TransformerEncoderLayer x2 (seq first, norm_first, gelu) with "
                                                   "generate_square_subsequent_mask (additive -inf), learned positions"),
            ("nanogpt", NanoGPT, "nanoGPT block: fused c_attn + .split, tril buffer masked_fill(-inf), tied lm_head"),
            ("llama", LlamaLM, "Llama-style: RMSNorm, SwiGLU, RoPE (rotate_half, cos/sin buffers), GQA 4q/2kv heads "
                               "(repeat_kv), additive -inf causal mask, tied embeddings")):
        if not want(name):
            continue
        torch.manual_seed(SEED)
        t0 = time.time()
        m = ctor()
        loss = train_lm(m, 400)
        info = export(m, name, [w3], ["input_ids"], lm_meta)
        info.update(what=what, train=f"400 AdamW steps of 32 windows of {SEQ} bytes from the val split, seed {SEED}, "
                                     f"{time.time() - t0:.0f} s",
                    test_bits_per_byte_64_windows=bits_per_byte(m, test_w), data="../data/python_code_small.h5")
        prov[name] = info

    if want("bert_padding"):
        torch.manual_seed(SEED)
        m = BertStyle().eval()
        g = torch.Generator().manual_seed(SEED)
        ids = torch.randint(3, 100, (3, 16), generator=g)
        mask = torch.ones(3, 16, dtype=torch.int64)
        mask[1, 11:] = 0
        mask[2, 5:] = 0
        ids[mask == 0] = 0
        info = export(m, "bert_padding", [ids, mask], ["input_ids", "attention_mask"], {"snnconv.task": "classification"},
                      dynamic={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                               "logits": {0: "batch"}})
        info.update(what="BERT-style post-LN encoder, additive padding mask (1 - mask) * -10000 from an int64 input, "
                         "tanh pooler on [CLS], 2 classes", train=f"none: seeded random init (seed {SEED})")
        prov["bert_padding"] = info

    if want("llava"):
        torch.manual_seed(SEED)
        m = LlavaStyle().eval()
        vx, _ = fashion_test(3)
        ids = torch.from_numpy(code_windows("test", 3, 16))
        info = export(m, "llava", [torch.from_numpy(vx), ids], ["image", "input_ids"], {"snnconv.task": "multimodal"},
                      dynamic={"image": {0: "batch"}, "input_ids": {0: "batch"}, "logits": {0: "batch"}})
        info.update(what="LLaVA-style: 1-block ViT on 16 patches, Linear-GELU-Linear projector, 1-block Llama-style "
                         "decoder over [16 image tokens; 16 text tokens]", train=f"none: seeded random init (seed {SEED})")
        prov["llava"] = info

    for bits in (4, 8):
        name = f"qat{bits}"
        if not want(name):
            continue
        torch.manual_seed(SEED)
        t0 = time.time()
        m = QATClassifier(bits)
        train_classifier(m, dx, dy, 600)  # float (observers pass through)
        m.train()
        with torch.no_grad():  # observe activation ranges on 256 train rows
            m(torch.from_numpy(dx[:256]))
        for mod in m.modules():
            if isinstance(mod, ActQ):
                mod.observe = False
        train_classifier(m, dx, dy, 200, lr=5e-4)  # QAT: straight-through fine-tuning
        for mod in m.modules():  # export with frozen weight steps, as a QAT checkpoint holds them
            if isinstance(mod, QLinear):
                mod.bits = bits
                mod.freeze()
        info = export(m, name, [tx3], ["input"], cls_meta, opset=13, labels=ty3)
        info.update(what=f"{bits}-bit QAT transformer classifier on digits: per-tensor activation fake quant at every "
                         f"point (abs-max steps, frozen), per-channel symmetric weights; "
                         + ("torch's QuantizeLinear/DequantizeLinear" if bits == 8 else "QuantizeLinear -> Clip -> DequantizeLinear"),
                    train=f"600 float + 200 QAT AdamW steps on digits train, seed {SEED}, {time.time() - t0:.0f} s",
                    test_accuracy=digits_acc(m), data="../data/digits.h5")
        prov[name] = info

    with open(prov_path, "w") as f:
        json.dump(prov, f, indent=1, sort_keys=True)
    for k in sorted(prov):
        print(k, {a: b for a, b in prov[k].items() if a not in ("ops",)})


if __name__ == "__main__":
    main()
