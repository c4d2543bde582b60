#!/usr/bin/env python3
"""Exports three 100M-parameter-class transformers from stock PyTorch modules, seeded random weights, for the
dense-engine benchmark against ONNX Runtime (docs/benchmarks.md, "100M-class models").

    /usr/bin/python3 tools/bench/make_100m_exports.py OUT_DIR [--only vit_b16,bert_base,gpt2_small]

Writes OUT_DIR/<name>.onnx (opset 17, dynamic batch; sequence models also a dynamic sequence length) and
OUT_DIR/PROVENANCE.json (seed, torch version, parameter counts, file sizes). The files are 330-650 MB each and
are not committed; the same command with the same torch regenerates them bit for bit (seed 0 per model).

- vit_b16: torchvision.models.vit_b_16(weights=None), input `input` f32 [B, 3, 224, 224] (86.6 M parameters);
  torchvision builds its attention from nn.MultiheadAttention, as every stock ViT export.
- bert_base: a BERT-base-shaped encoder from stock modules: token embedding (30,522 x 768) + learned positions
  (512) + LayerNorm, nn.TransformerEncoder of 12 nn.TransformerEncoderLayer(768, 12 heads, 3072, GELU,
  batch_first, norm_first=False); input `tokens` i64 [B, S] (109.5 M parameters).
- gpt2_small: a GPT-2-small-shaped decoder written as GPT-2 is (fused qkv Linear, split, causal mask from
  torch.tril, tanh GELU, pre-norm blocks, final LayerNorm, untied 50,257-way head); 12 layers, d 768, 12
  heads, 1,024 positions; input `tokens` i64 [B, S] (163.0 M parameters: GPT-2's 124 M plus the untied
  head).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn


class Gpt2Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / (d // heads) ** 0.5  # a constant (from x.shape it would export as a Reciprocal chain)
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q = q.view(b, t, h, d // h).transpose(1, 2)
        k = k.view(b, t, h, d // h).transpose(1, 2)
        v = v.view(b, t, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * self.scale
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool, device=x.device))
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self, vocab=50257, d=768, layers=12, heads=12, ctx=1024):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.h = nn.ModuleList(Gpt2Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, tokens):
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(pos)
        for blk in self.h:
            x = blk(x)
        return self.lm_head(self.ln_f(x))


class BertBase(nn.Module):
    def __init__(self, vocab=30522, d=768, layers=12, heads=12, ff=3072, ctx=512):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.ln = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.1, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, tokens):
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        return self.encoder(self.ln(self.tok(tokens) + self.pos(pos)))


def distinct_weights(model):
    """Every parameter different, as in a trained model: nn.TransformerEncoder deep-copies one layer (12 equal
    layers), and fresh biases (0) and LayerNorm scales (1) are equal everywhere; the exporter stores equal
    initializers once, which would shrink the file and let the weights sit in cache."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.TransformerEncoderLayer):
                m.self_attn._reset_parameters()
                for lin in (m.self_attn.out_proj, m.linear1, m.linear2):
                    lin.reset_parameters()
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.02 * torch.randn_like(p))
            elif not p.any():  # torchvision's ViT head starts at zero: every image would give the bias
                p.normal_(0.0, 0.02)


def export(name, out_dir):
    torch.manual_seed(0)
    if name == "vit_b16":
        import torchvision
        model = torchvision.models.vit_b_16(weights=None)
        example = torch.randn(1, 3, 224, 224)
        inputs, outputs, axes = ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}}
    elif name == "bert_base":
        model = BertBase()
        example = torch.randint(0, 30522, (1, 128))
        inputs, outputs = ["tokens"], ["hidden"]
        axes = {"tokens": {0: "batch", 1: "seq"}, "hidden": {0: "batch", 1: "seq"}}
    elif name == "gpt2_small":
        model = Gpt2()
        example = torch.randint(0, 50257, (1, 128))
        inputs, outputs = ["tokens"], ["logits"]
        axes = {"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    else:
        sys.exit(f"unknown model {name}")
    distinct_weights(model)
    model.eval()
    path = os.path.join(out_dir, name + ".onnx")
    # Exported with autograd on, as torch.onnx.export is usually called: under no_grad, nn.MultiheadAttention
    # and nn.TransformerEncoderLayer take their fused fast path (aten::_native_multi_head_attention), which
    # torch 1.13 cannot export.
    torch.onnx.export(model, (example,), path, opset_version=17, input_names=inputs, output_names=outputs,
                      dynamic_axes=axes, do_constant_folding=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params:,} parameters -> {path} ({os.path.getsize(path) / 2**20:.0f} MiB)", flush=True)
    return {"file": name + ".onnx", "parameters": params, "bytes": os.path.getsize(path), "seed": 0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--only", default="vit_b16,bert_base,gpt2_small")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out_dir, exist_ok=True)
    prov_path = os.path.join(args.out_dir, "PROVENANCE.json")
    prov = json.load(open(prov_path)) if os.path.exists(prov_path) else {}
    prov["command"] = "/usr/bin/python3 tools/bench/make_100m_exports.py " + " ".join(sys.argv[1:])
    prov["torch"] = torch.__version__
    prov.setdefault("models", {})
    for name in args.only.split(","):
        prov["models"][name] = export(name, args.out_dir)
    with open(prov_path, "w") as fh:
        json.dump(prov, fh, indent=1)


if __name__ == "__main__":
    main()
