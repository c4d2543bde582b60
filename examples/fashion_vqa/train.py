#!/usr/bin/python3
"""Train the bundled LLaVA-style visual question answering model on Fashion-MNIST and export it to ONNX.

Usage (paths default to this folder):
    /usr/bin/python3 examples/fashion_vqa/train.py                # train, evaluate, export
    /usr/bin/python3 examples/fashion_vqa/train.py --write-data   # only write examples/data/fashion_vqa_small.h5

Model: a small ViT encoder (patch 7 -> 16 patch tokens, bidirectional attention) whose outputs are
projected by one Linear layer into 16 prefix tokens of a small causal byte-level decoder (learned
positions, explicit causal attention over [prefix; text]). Inputs `image` float32 [batch, 1, 28, 28]
(= pixels / 255) and `tokens` int64 [batch, seq]; output `logits` [batch, seq, 256] for the text
positions only.

Data: question/answer pairs generated from Fashion-MNIST labels with the tables ATTRIBUTES and QUESTIONS
below. Text: prompt bytes "Q: <question>\\nA: ", answer bytes "<answer>\\n" (end byte 10). Training
uses the first 55,000 training images (one random question per image and epoch, drawn with
--question-weights: "what is this?" 40%, the others 15% each), the last 5,000
training images are validation; the metric is exact-match answer accuracy on all 50,000 QA pairs of
the 10,000 test images (5 questions each).
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

# ----------------------------------------------------------------------------- QA attribute table
#                 label: (name,          group,      footwear, upper body, clothing)
ATTRIBUTES = {0: ("t-shirt/top", "top", "no", "yes", "yes"),
              1: ("trouser", "bottom", "no", "no", "yes"),
              2: ("pullover", "top", "no", "yes", "yes"),
              3: ("dress", "dress", "no", "yes", "yes"),
              4: ("coat", "top", "no", "yes", "yes"),
              5: ("sandal", "footwear", "yes", "no", "no"),
              6: ("shirt", "top", "no", "yes", "yes"),
              7: ("sneaker", "footwear", "yes", "no", "no"),
              8: ("bag", "bag", "no", "no", "no"),
              9: ("ankle boot", "footwear", "yes", "no", "no")}
QUESTIONS = ["what is this?", "what group is it?", "is it footwear?", "is it for the upper body?",
             "is it clothing?"]
END = 10
MAX_ANSWER = 16


def prompt_bytes(q):
    return f"Q: {QUESTIONS[q]}\nA: ".encode("ascii")


def answer_bytes(q, label):
    return (ATTRIBUTES[int(label)][q] + "\n").encode("ascii")


# ----------------------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = int.from_bytes(data[0:4], "big") & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load_fashion_mnist():
    xtr = read_idx(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = read_idx(os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(FMNIST_DIR, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    return xtr, ytr, xte, yte


def qa_rows(images, labels):
    """Image-major: image i gives rows 5*i .. 5*i+4 (questions 0..4)."""
    rows = []
    for i in range(len(images)):
        for q in range(len(QUESTIONS)):
            rows.append((images[i], prompt_bytes(q), answer_bytes(q, labels[i])))
    return rows


def write_bundled_data(path):
    import h5py
    xtr, ytr, xte, yte = load_fashion_mnist()
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "snnconv-dataset"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["name"] = "fashion-vqa"
        f.attrs["task"] = "vqa"
        f.attrs["source"] = ("Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz), "
                             "original https://github.com/zalandoresearch/fashion-mnist; questions/answers "
                             "generated from the labels by examples/fashion_vqa/train.py (attribute table in "
                             "docs/models.md)")
        f.attrs["license"] = "MIT (Zalando SE)"
        f.attrs["preprocessing"] = ("split test = t10k images 0..199 x 5 questions (1,000 rows), split train = "
                                    "train images 0..99 x 5 questions (500 rows, for calibration); row 5*i+q = "
                                    "image i, question q; prompt 'Q: <question>\\nA: ', answer '<answer>\\n'")
        f.attrs["questions"] = np.array(QUESTIONS, dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("class_names", data=np.array(CLASS_NAMES, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        for split, x, y in (("train", xtr[:100], ytr[:100]), ("test", xte[:200], yte[:200])):
            rows = qa_rows(x, y)
            n = len(rows)
            lp = max(len(r[1]) for r in rows)
            la = max(len(r[2]) for r in rows)
            pt = np.zeros((n, lp), np.uint8)
            at = np.zeros((n, la), np.uint8)
            for i, (_, p, a) in enumerate(rows):
                pt[i, :len(p)] = np.frombuffer(p, np.uint8)
                at[i, :len(a)] = np.frombuffer(a, np.uint8)
            g = f.create_group(split)
            g.attrs["count"] = np.int64(n)
            g.create_dataset("images", data=np.stack([r[0] for r in rows]).astype(np.uint8))
            g.create_dataset("prompt_tokens", data=pt)
            g.create_dataset("prompt_lengths", data=np.array([len(r[1]) for r in rows], np.int32))
            g.create_dataset("answer_tokens", data=at)
            g.create_dataset("answer_lengths", data=np.array([len(r[2]) for r in rows], np.int32))
    os.replace(tmp, path)
    print("wrote", path)


# ----------------------------------------------------------------------------- model
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

    def forward(self, x, mask=None):
        """mask: float [L, L], 1 = may attend, 0 = blocked (None = full attention)."""
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        if mask is not None:
            att = att.masked_fill(mask == 0, -1e9)
        att = torch.softmax(att, dim=-1)
        return self.proj(torch.matmul(att, v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.act = nn.GELU(approximate="none")
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x, mask=None):
        x = x + self.attn(self.norm1(x), mask)
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return x


class FashionVQA(nn.Module):
    def __init__(self, patch=7, enc_dim=64, enc_depth=3, enc_heads=4, enc_mlp=128,
                 dim=96, depth=2, heads=4, mlp=192, max_seq=64):
        super().__init__()
        self.n_prefix = (28 // patch) ** 2
        self.max_seq = max_seq
        # vision encoder (ViT without CLS token)
        self.patch_embed = nn.Conv2d(1, enc_dim, kernel_size=patch, stride=patch)
        self.enc_pos = nn.Parameter(torch.randn(1, self.n_prefix, enc_dim) * 0.02)
        self.enc_blocks = nn.ModuleList([Block(enc_dim, enc_heads, enc_mlp) for _ in range(enc_depth)])
        self.enc_norm = nn.LayerNorm(enc_dim)
        # projector into the decoder's token space
        self.projector = nn.Linear(enc_dim, dim)
        # causal byte-level decoder
        self.tok_embed = nn.Embedding(256, dim)
        self.pos_embed = nn.Parameter(torch.randn(1, self.n_prefix + max_seq, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, 256)
        total = self.n_prefix + max_seq
        # used only when mask_mode == "buffer" (opset 13 export: Trilu needs opset 14)
        self.register_buffer("causal_mask", torch.tril(torch.ones(total, total)), persistent=False)
        self.mask_mode = "tril"
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, image, tokens):
        x = self.patch_embed(image).flatten(2).transpose(1, 2) + self.enc_pos      # [B, P, enc_dim]
        for blk in self.enc_blocks:
            x = blk(x)
        prefix = self.projector(self.enc_norm(x))                                   # [B, P, dim]
        h = torch.cat([prefix, self.tok_embed(tokens)], dim=1)                      # [B, P + T, dim]
        length = h.shape[1]
        h = h + self.pos_embed[:, :length]
        if self.mask_mode == "tril":
            mask = torch.tril(torch.ones(length, length, dtype=h.dtype, device=h.device))
        else:
            mask = self.causal_mask[:length, :length]
        for blk in self.blocks:
            h = blk(h, mask)
        h = self.norm(h[:, self.n_prefix:])
        return self.lm_head(h)


# ----------------------------------------------------------------------------- batches / metrics
class QATable:
    """All (question, label) -> full byte sequence prompt+answer, padded with 0."""

    def __init__(self):
        nq, nc = len(QUESTIONS), len(ATTRIBUTES)
        seqs = [[prompt_bytes(q) + answer_bytes(q, c) for c in range(nc)] for q in range(nq)]
        self.lmax = max(len(s) for r in seqs for s in r)
        self.seq = torch.zeros(nq, nc, self.lmax, dtype=torch.long)
        self.total = torch.zeros(nq, nc, dtype=torch.long)
        self.plen = torch.zeros(nq, nc, dtype=torch.long)
        for q in range(nq):
            for c in range(nc):
                s = seqs[q][c]
                self.seq[q, c, :len(s)] = torch.tensor(list(s))
                self.total[q, c] = len(s)
                self.plen[q, c] = len(prompt_bytes(q))

    def batch(self, q, y):
        """Returns input tokens [B, L-1], targets [B, L-1], answer mask [B, L-1] (bool)."""
        total = self.total[q, y]
        lb = int(total.max())
        seq = self.seq[q, y, :lb]
        pos = torch.arange(1, lb)[None, :]                      # index of the predicted byte
        mask = (pos >= self.plen[q, y][:, None]) & (pos < total[:, None])
        return seq[:, :-1], seq[:, 1:], mask


def exact_match(model, table, images_u8, labels, bs=500):
    """Exact-match accuracy of greedy decoding, per question, on all (image, question) pairs.

    Greedy decoding reproduces the reference answer iff at every answer position the argmax under
    teacher forcing equals the reference byte (induction over positions: while greedy agrees with the
    reference its input is the teacher-forced input); so one teacher-forced pass per pair gives the
    exact greedy result (answers, including the end byte, are at most 12 <= 16 bytes)."""
    model.eval()
    nq = len(QUESTIONS)
    correct = np.zeros(nq)
    with torch.no_grad():
        for q in range(nq):
            for i in range(0, len(images_u8), bs):
                img = torch.from_numpy(images_u8[i:i + bs]).float().div_(255.0).unsqueeze(1)
                y = torch.from_numpy(labels[i:i + bs])
                qq = torch.full_like(y, q)
                inp, tgt, m = table.batch(qq, y)
                pred = model(img, inp).argmax(-1)
                ok = ((pred == tgt) | ~m).all(dim=1)
                correct[q] += ok.sum().item()
    per_q = correct / len(images_u8)
    return float(correct.sum() / (nq * len(images_u8))), [float(a) for a in per_q]


def greedy_decode(model, images_f, prompts):
    """Real greedy decoding (until byte 10 or MAX_ANSWER bytes); prompts: list of bytes (same length)."""
    model.eval()
    toks = torch.tensor([list(p) for p in prompts], dtype=torch.long)
    out = [bytearray() for _ in prompts]
    done = [False] * len(prompts)
    with torch.no_grad():
        for _ in range(MAX_ANSWER):
            nxt = model(images_f, toks)[:, -1].argmax(-1)
            for j, b in enumerate(nxt.tolist()):
                if not done[j]:
                    out[j].append(b)
                    done[j] = b == END
            if all(done):
                break
            toks = torch.cat([toks, nxt[:, None]], dim=1)
    return [bytes(o) for o in out]


# ----------------------------------------------------------------------------- export helpers
def export_onnx(model, dummy, path, opset, meta):
    import onnx
    model.mask_mode = "tril" if opset >= 14 else "buffer"
    torch.onnx.export(model, dummy, path, input_names=["image", "tokens"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "tokens": {0: "batch", 1: "seq"},
                                    "logits": {0: "batch", 1: "seq"}},
                      opset_version=opset, do_constant_folding=True)
    model.mask_mode = "tril"
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
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--question-weights", default="0.4,0.15,0.15,0.15,0.15",
                    help="sampling probabilities of the 5 question types during training")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(DATA_DIR, "fashion_vqa_small.h5"),
                    help="bundled dataset (reference batch = its first 8 test rows)")
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
    name = "fashion_vqa"

    xtr_all, ytr_all, xte, yte = load_fashion_mnist()
    xtr, ytr = xtr_all[:55000], ytr_all[:55000]
    xva, yva = xtr_all[55000:], ytr_all[55000:]
    xtr_t = torch.from_numpy(xtr).float().div_(255.0).unsqueeze(1)
    ytr_t = torch.from_numpy(ytr)
    table = QATable()

    model = FashionVQA()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {n_params} parameters")
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))
    steps_per_epoch = len(xtr) // args.batch
    total = steps_per_epoch * args.epochs
    warm = min(steps_per_epoch, total // 10 + 1)

    def lr_at(s):
        if s < warm:
            return args.lr * (s + 1) / warm
        return args.lr * 0.5 * (1.0 + math.cos(math.pi * (s - warm) / max(1, total - warm)))

    qw = torch.tensor([float(w) for w in args.question_weights.split(",")], dtype=torch.float64)
    assert len(qw) == len(QUESTIONS)
    gen = torch.Generator().manual_seed(args.seed)
    log = []
    t0 = time.time()
    c0 = time.process_time()
    step = 0
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        flips = torch.rand(len(xtr), generator=gen) < 0.5
        qs = torch.multinomial(qw, len(xtr), replacement=True, generator=gen)
        run_loss = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch:(i + 1) * args.batch]
            img = xtr_t[idx]
            img = torch.where(flips[idx][:, None, None, None], img.flip(-1), img)
            inp, tgt, m = table.batch(qs[idx], ytr_t[idx])
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(img, inp)
            loss = F.cross_entropy(logits[m], tgt[m])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            run_loss += loss.item()
            step += 1
        va, va_q = exact_match(model, table, xva[:1000], yva[:1000])      # quick: first 1,000 val images
        rec = {"epoch": ep + 1, "train_loss": run_loss / steps_per_epoch, "val1k_exact_match": va,
               "val1k_per_question": va_q, "elapsed_s": round(time.time() - t0, 1),
               "cpu_s": round(time.process_time() - c0, 1)}
        log.append(rec)
        print(json.dumps(rec), flush=True)
    train_time = time.time() - t0
    train_cpu = time.process_time() - c0

    test_em, test_q = exact_match(model, table, xte, yte)
    val_em, val_q = exact_match(model, table, xva, yva)
    print(f"{name}: test exact match {test_em:.4f} per question {test_q}; val {val_em:.4f}; "
          f"train {train_time:.1f}s wall, {train_cpu:.1f}s cpu")

    # real greedy decoding on the bundled test rows (must agree with the teacher-forced count)
    with h5py.File(args.data, "r") as f:
        g = f["test"]
        b_img = g["images"][:]
        b_pt, b_pl = g["prompt_tokens"][:], g["prompt_lengths"][:]
        b_at, b_al = g["answer_tokens"][:], g["answer_lengths"][:]
    greedy_ok = 0
    by_len = collections.defaultdict(list)
    for r in range(len(b_img)):
        by_len[int(b_pl[r])].append(r)
    for plen, rows in sorted(by_len.items()):
        imgs = torch.from_numpy(b_img[rows]).float().div_(255.0).unsqueeze(1)
        outs = greedy_decode(model, imgs, [bytes(b_pt[r, :plen]) for r in rows])
        greedy_ok += sum(o == bytes(b_at[r, :b_al[r]]) for o, r in zip(outs, rows))
    greedy_em = greedy_ok / len(b_img)
    # the same 1,000 rows through the teacher-forced metric
    tf_em, _ = exact_match(model, table, xte[:200], yte[:200])
    print(f"bundled 1,000 test rows: greedy decoding exact match {greedy_em:.4f}, teacher-forced {tf_em:.4f}")

    # ---- export
    model.eval()
    meta = {"snnconv.task": "vqa", "snnconv.data": "../data/fashion_vqa_small.h5", "snnconv.tokenizer": "byte",
            "snnconv.max_seq": str(model.max_seq), "snnconv.end_token": str(END)}
    rows = list(range(8))
    lens = [int(b_pl[r] + b_al[r]) for r in rows]
    ref_tok = np.zeros((8, max(lens)), np.int64)
    for j, r in enumerate(rows):
        ref_tok[j, :b_pl[r]] = b_pt[r, :b_pl[r]]
        ref_tok[j, b_pl[r]:lens[j]] = b_at[r, :b_al[r]]
    ref_img = torch.from_numpy(b_img[rows].astype(np.float32) / np.float32(255.0)).unsqueeze(1).contiguous()
    ref_tok = torch.from_numpy(ref_tok)
    with torch.no_grad():
        ref_out = model(ref_img, ref_tok)
        model.mask_mode = "buffer"
        assert torch.equal(model(ref_img, ref_tok), ref_out)
        model.mask_mode = "tril"
    paths = {17: os.path.join(args.out, f"{name}.onnx"), 13: os.path.join(args.out, f"{name}.op13.onnx")}
    hists = {opset: export_onnx(model, (ref_img, ref_tok), p, opset, meta) for opset, p in paths.items()}
    ref_path = os.path.join(args.out, f"{name}.ref.h5")
    with h5py.File(ref_path + ".tmp", "w") as f:
        f.create_dataset("inputs/image", data=ref_img.numpy())
        f.create_dataset("inputs/tokens", data=ref_tok.numpy())
        f.create_dataset("outputs/logits", data=ref_out.numpy())
    os.replace(ref_path + ".tmp", ref_path)

    metrics = {
        "model": name, "command": " ".join([sys.executable] + sys.argv),
        "seed": args.seed, "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
        "threads": args.threads, "question_weights": args.question_weights,
        "torch": torch.__version__, "parameters": n_params,
        "train_time_s": round(train_time, 1), "train_cpu_s": round(train_cpu, 1),
        "test_exact_match": test_em, "test_per_question": dict(zip(QUESTIONS, test_q)),
        "val_exact_match": val_em, "val_per_question": dict(zip(QUESTIONS, val_q)),
        "bundled_test_greedy_exact_match": greedy_em, "bundled_test_teacher_forced_exact_match": tf_em,
        "epoch_log": log, "weights_sha256": weights_digest(model),
        "files": {os.path.basename(p): {"bytes": os.path.getsize(p), "sha256": sha256(p)}
                  for p in list(paths.values()) + [ref_path]},
        "op_histogram": {str(k): v for k, v in hists.items()},
    }
    with open(os.path.join(args.out, f"{name}.metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    print(json.dumps({k: v for k, v in metrics.items() if k not in ("epoch_log", "op_histogram")}, indent=1))


if __name__ == "__main__":
    main()
