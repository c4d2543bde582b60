"""Byte-level GPT-style causal decoder shared by examples/code_gpt and examples/synth_code.

Architecture (pre-LN): token embedding (256 x d) + learned positional embedding (max_seq x d, sliced to
the input length) -> n_layers x [x + Attn(LN(x)); x + MLP(LN(x))] -> LN -> Linear(d, 256) (untied, bias).
Attention is written out explicitly (Linear q/k/v, MatMul, scale, causal mask, Softmax, MatMul, Linear
out) so that the ONNX export only uses elementary ops. The causal mask is built with torch.tril
(ONNX Trilu, opset >= 14) in mask_mode 'tril' and sliced out of a precomputed boolean buffer in
mask_mode 'buffer' (used for the opset-13 export). Both modes compute the same function.
"""
import collections
import math
import os

import h5py
import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ALLOWED_OPS = set("""Add Sub Mul Div Pow Sqrt Erf Tanh Relu Sigmoid MatMul Gemm Conv Softmax LayerNormalization
ReduceMean Transpose Reshape Flatten Concat Split Slice Gather Unsqueeze Squeeze Expand Where Equal Not Trilu
Cast Constant ConstantOfShape Shape Range Identity""".split())
MASK_VALUE = -1.0e4  # added where attention is masked; exp(-1e4) == 0 in fp32, finite in fp16


class Block(nn.Module):
    def __init__(self, d, n_heads, mlp_ratio=4):
        super().__init__()
        assert d % n_heads == 0
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, mlp_ratio * d)
        self.fc2 = nn.Linear(mlp_ratio * d, d)

    def attn(self, x, mask):
        B, T, D = x.shape
        H = self.n_heads
        hd = D // H
        q = self.q(x).reshape(B, T, H, hd).transpose(1, 2)  # B H T hd
        k = self.k(x).reshape(B, T, H, hd).transpose(1, 2)
        v = self.v(x).reshape(B, T, H, hd).transpose(1, 2)
        att = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(hd))  # B H T T
        att = torch.where(mask, att, torch.full_like(att, MASK_VALUE))
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, T, D)
        return self.proj(y)

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        return x


class GPT(nn.Module):
    def __init__(self, d=128, n_layers=4, n_heads=4, max_seq=512, vocab=256, mlp_ratio=4):
        super().__init__()
        self.cfg = dict(d=d, n_layers=n_layers, n_heads=n_heads, max_seq=max_seq, vocab=vocab,
                        mlp_ratio=mlp_ratio)
        self.tok_emb = nn.Embedding(vocab, d)
        self.pos_emb = nn.Parameter(torch.zeros(max_seq, d))
        self.blocks = nn.ModuleList([Block(d, n_heads, mlp_ratio) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("causal", torch.tril(torch.ones(max_seq, max_seq, dtype=torch.bool)),
                             persistent=False)
        self.mask_mode = "tril"
        self.apply(self._init)
        nn.init.normal_(self.pos_emb, std=0.02)
        for b in self.blocks:  # GPT-2 style scaled init of the residual projections
            nn.init.normal_(b.proj.weight, std=0.02 / math.sqrt(2 * n_layers))
            nn.init.normal_(b.fc2.weight, std=0.02 / math.sqrt(2 * n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb[:T]
        if self.mask_mode == "tril":
            mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=tokens.device))
        else:
            mask = self.causal[:T, :T]
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))

    def n_params(self):
        return sum(p.numel() for p in self.parameters())

    def weight_macs_per_token(self):
        """Multiply-accumulates of the weight matrices per token (q,k,v,out, MLP, head); embeddings are
        lookups (0 MACs); attention score/value products (which grow with context) are not included."""
        d, L, r, V = (self.cfg[k] for k in ("d", "n_layers", "mlp_ratio", "vocab"))
        return L * (4 * d * d + 2 * r * d * d) + d * V

    def attention_macs_per_token(self, ctx):
        """Extra MACs of QK^T and att@V per token at context position ctx (full row, no causal skipping)."""
        return self.cfg["n_layers"] * 2 * ctx * self.cfg["d"]


def set_determinism(seed, threads=1):
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def export_onnx(model, path, opset, metadata, example_len=16):
    """Export with dynamic batch/seq, add metadata_props, check ops; returns the op histogram."""
    model.eval()
    model.mask_mode = "tril" if opset >= 14 else "buffer"
    dummy = torch.randint(0, 256, (2, example_len), dtype=torch.int64,
                          generator=torch.Generator().manual_seed(0))
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, (dummy,), tmp, opset_version=opset, input_names=["tokens"],
                          output_names=["logits"],
                          dynamic_axes={"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
                          do_constant_folding=True)
    model.mask_mode = "tril"
    m = onnx.load(tmp)
    for k, v in metadata.items():
        e = m.metadata_props.add()
        e.key, e.value = k, str(v)
    onnx.checker.check_model(m)
    hist = collections.Counter(n.op_type for n in m.graph.node)
    bad = set(hist) - ALLOWED_OPS
    if bad:
        raise RuntimeError(f"{path}: disallowed ONNX ops {sorted(bad)}")
    onnx.save(m, path)
    os.remove(tmp)
    return dict(sorted(hist.items()))


def write_ref(model, path, tokens):
    """Reference logits computed in float64 from the float32 weights, rounded once to float32 (see
    remake_ref.py: a float32 forward differs from ONNX Runtime's by ~1e-4 on large logits)."""
    import copy
    model.eval()
    with torch.no_grad():
        logits = copy.deepcopy(model).double()(torch.as_tensor(tokens, dtype=torch.int64)).float()
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("inputs/tokens", data=np.asarray(tokens, dtype=np.int64))
        f.create_dataset("outputs/logits", data=logits.numpy().astype(np.float32))
        f.attrs["computed_in"] = "float64 (torch), rounded once to float32"
    os.replace(tmp, path)
    return logits


def check_onnx_matches(path, tokens, logits):
    """Optional: compare with onnxruntime if present (not a Debian package; usually skipped)."""
    try:
        import onnxruntime as ort  # noqa
    except ImportError:
        return None
    s = ort.InferenceSession(path)
    out = s.run(["logits"], {"tokens": np.asarray(tokens, dtype=np.int64)})[0]
    return float(np.abs(out - logits.numpy()).max())


def file_sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def state_sha256(model):
    """sha256 over the raw bytes of every parameter, in state_dict order."""
    import hashlib
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
