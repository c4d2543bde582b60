#!/usr/bin/env python3
"""Side-by-side latency of our dense engine and ONNX Runtime on the example models, in one run.

    /usr/bin/python3 tools/bench/ann_vs_ort.py [--runs 30] [--warmup 5] [--block 10] [--threads 1,2] [--cases vit,gpt,vqa]
                                               [--bench build/tools/bench/snnconv_bench] [--json OUT.json]
                                               [--profile] [--keep-inputs DIR]

Both sides get the same ONNX file and the same input bytes (written once to a temporary folder from the
bundled datasets) and run as two servers: ours is `snnconv_bench serve` (import with the input shapes bound,
fusion, Engine), ORT is tools/bench/ort_server.js (onnxruntime-node, CPU EP, intraOpNumThreads = threads,
interOpNumThreads 1, graph optimisation level `all`). Each side times its own run call only. After W
untimed warm-up runs per side, the R timed runs alternate ours/ORT in blocks of B runs (--block, default 10;
the side that goes first flips every round), so load changes on the shared machine hit both sides alike.
Each block starts with a pause (--settle-ms, default 100) and one untimed run. Why: with 2 threads a
runtime's workers keep spinning after its run returns (ORT's intra-op pool for about 25 ms on the 2-core AMD
EPYC, TBB's workers briefly), and a run that starts then shares the cores with the other runtime's spinning
threads. Alternating one run at a time made both sides' 2-thread figures measure that contention
(fashion_vit_relu b64, ours: 5.3 ms one by one, 2.7 ms alone; ORT: 5.1 vs 4.5 ms). A block measures what a
user who runs one runtime many times in a row gets.
The table gives medians and the
ratio ours/ORT of the medians (< 1: we are faster), the ratio of the fastest runs (min/min, less sensitive to
load spikes), the ratio of the median process CPU times (with 1 thread the steadiest figure on a loaded
machine: time the scheduler gives to other processes is not counted; with 2 threads it also counts each
runtime's spinning workers, so read it only for 1 thread), and the largest |ours - ORT| over the outputs of the
last run.
--profile re-runs our side with per-node timing and prints where the time goes; --keep-inputs DIR keeps the
input folders (DIR/<case>) for `snnconv_bench profile MODEL DIR/<case>`.
Needs: the built bench target (cmake --build build --target snnconv_bench) and tools/ort's npm install.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ex(*p):
    return os.path.join(ROOT, "examples", *p)


# ---- inputs -------------------------------------------------------------------------------------------------

def images(batch):
    with h5py.File(ex("data", "fashion_mnist_small.h5"), "r") as f:
        x = f["test/inputs"][:batch]
    return (x.astype(np.float32) * np.float32(1.0 / 255.0)).reshape(batch, 1, 28, 28)


def code_windows(batch, seq):
    with h5py.File(ex("data", "python_code_small.h5"), "r") as f:
        t = f["test/tokens"][: batch * seq]
    return t.astype(np.int64).reshape(batch, seq)


def vqa_rows(batch):
    """Image and prompt+answer tokens of the first `batch` bundled test rows, right-padded with 0 (causal
    attention: the padding after an answer changes no earlier position)."""
    with h5py.File(ex("data", "fashion_vqa_small.h5"), "r") as f:
        img = f["test/images"][:batch]
        pt, pl = f["test/prompt_tokens"][:batch], f["test/prompt_lengths"][:batch]
        at, al = f["test/answer_tokens"][:batch], f["test/answer_lengths"][:batch]
    rows = [np.concatenate([pt[i, : pl[i]], at[i, : al[i]]]) for i in range(batch)]
    seq = max(len(r) for r in rows)
    tokens = np.zeros((batch, seq), np.int64)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = r
    return (img.astype(np.float32) * np.float32(1.0 / 255.0)).reshape(batch, 1, 28, 28), tokens


def random_images(batch, size=224):
    return np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)


def random_tokens(batch, seq, vocab):
    return np.random.default_rng(0).integers(0, vocab, (batch, seq), dtype=np.int64)


def large_cases(selected, folder):
    """The 100M-class exports of tools/bench/make_100m_exports.py in `folder` (not committed)."""
    out = []
    def need(name):
        path = os.path.join(folder, name + ".onnx")
        if not os.path.exists(path):
            sys.exit(f"{path} missing: /usr/bin/python3 tools/bench/make_100m_exports.py {folder}")
        return path
    if "vit_b16" in selected:
        for b in (1, 8):
            out.append((f"vit_b16 b{b}", need("vit_b16"), lambda b=b: {"input": random_images(b)}))
    if "bert_base" in selected:
        for b in (1, 8):
            out.append((f"bert_base s128 b{b}", need("bert_base"), lambda b=b: {"tokens": random_tokens(b, 128, 30522)}))
    if "gpt2_small" in selected:
        for b in (1, 4):
            out.append((f"gpt2_small s128 b{b}", need("gpt2_small"),
                        lambda b=b: {"tokens": random_tokens(b, 128, 50257)}))
    return out


def w8a8_files(folder, snnconv, batch):
    """fashion_vit_relu quantized W8A8 by `snnconv convert` (64 calibration images of the train split, clip mse:
    the defaults) at a static batch, written by `snnconv export` in the integer form (the QANN op for op; ONNX
    Runtime and our engine both compute the QANN's outputs bit for bit) and in the standard qdq form (ORT's own
    int8 QDQ kernels run it; close to the QANN, not exact). Made once per folder."""
    import onnx
    base = os.path.join(folder, f"vit_relu_w8a8_b{batch}")
    files = {form: f"{base}.{form}.onnx" for form in ("integer", "qdq")}
    if all(os.path.exists(f) for f in files.values()):
        return files
    os.makedirs(folder, exist_ok=True)
    m = onnx.load(ex("fashion_vit", "fashion_vit_relu.onnx"))
    for v in list(m.graph.input) + list(m.graph.output):  # the QANN and its export have static shapes
        d = v.type.tensor_type.shape.dim[0]
        d.ClearField("dim_param")
        d.dim_value = batch
    onnx.save(m, base + ".float.onnx")
    run = lambda *a: subprocess.run([snnconv, *a, "--quiet"], check=True)
    run("convert", base + ".float.onnx", "--data", ex("data", "fashion_mnist_small.h5"), "--weight-bits", "8",
        "--act-bits", "8", "--out", base + ".snn.h5")
    for form, f in files.items():
        run("export", base + ".snn.h5", "--form", form, "--out", f)
    return files


def cases(selected, large_dir=None, snnconv=None, w8a8_dir=None):
    out = []
    for form, key in (("integer", "vit_w8a8"), ("qdq", "vit_w8a8_qdq")):
        if key in selected:
            for b in (1, 64):
                out.append((f"fashion_vit_relu W8A8 {form} b{b}", w8a8_files(w8a8_dir, snnconv, b)[form],
                            lambda b=b: {"input": images(b)}))
    if "vit" in selected:
        for variant in ("relu", "gelu"):
            for b in (1, 64):
                out.append((f"fashion_vit_{variant} b{b}", ex("fashion_vit", f"fashion_vit_{variant}.onnx"),
                            lambda b=b: {"input": images(b)}))
    if "gpt" in selected:
        for b in (1, 32):
            out.append((f"code_gpt prefill 128 b{b}", ex("code_gpt", "code_gpt.onnx"),
                        lambda b=b: {"tokens": code_windows(b, 128)}))
    if "vqa" in selected:
        for b in (1, 32):
            def make(b=b):
                img, tok = vqa_rows(b)
                return {"image": img, "tokens": tok}
            out.append((f"fashion_vqa b{b}", ex("fashion_vqa", "fashion_vqa.onnx"), make))
    large = [c for c in selected if c in ("vit_b16", "bert_base", "gpt2_small")]
    if large:
        if not large_dir:
            sys.exit("cases vit_b16 / bert_base / gpt2_small need --large-dir (tools/bench/make_100m_exports.py)")
        out += large_cases(large, large_dir)
    return out


def write_inputs(tensors, folder):
    os.makedirs(folder, exist_ok=True)
    man = {"inputs": []}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        f = name + ".bin"
        a.tofile(os.path.join(folder, f))
        man["inputs"].append({"name": name, "dtype": str(a.dtype), "shape": list(a.shape), "file": f})
    with open(os.path.join(folder, "manifest.json"), "w") as fh:
        json.dump(man, fh)
    return "x".join(str(d) for d in next(iter(tensors.values())).shape[:1]) + " / " + ", ".join(
        f"{n}{list(a.shape)}" for n, a in tensors.items())


def read_outputs(folder):
    with open(os.path.join(folder, "manifest.json")) as fh:
        man = json.load(fh)
    return [np.fromfile(os.path.join(folder, o["file"]), dtype=o["dtype"]).reshape(o["shape"]) for o in man["outputs"]]


# ---- servers ------------------------------------------------------------------------------------------------

class Server:
    def __init__(self, argv, name):
        self.name = name
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def call(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            sys.exit(f"{self.name} server died (request {req})")
        reply = json.loads(line)
        if not reply.get("ok"):
            sys.exit(f"{self.name}: {reply.get('error')} (request {req})")
        return reply

    def close(self):
        try:
            self.p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=30)


def peak_rss_mib(server):
    with open(f"/proc/{server.p.pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def timed_block(server, n, settle_ms):
    """n timed runs of the loaded model after the other runtime's idle workers have stopped spinning (a pause
    of settle_ms) and one untimed run that wakes this runtime's own workers."""
    time.sleep(settle_ms / 1e3)
    server.call(cmd="run", id="m", n=1)
    return server.call(cmd="run", id="m", n=n)


def load_report(selected_cases, bench, threads, tmp):
    """Load time and peak memory: per case and side a fresh server process loads the model, runs it once and
    reports its peak resident set (VmHWM: weights, plan, one run's buffers and the runtime itself)."""
    rows = []
    for label, model, make in selected_cases:
        in_dir = os.path.join(tmp, label.replace(" ", "_"))
        write_inputs(make(), in_dir)
        res = {}
        for side, argv in (("ours", [bench, "serve"]), ("ort", ["node", os.path.join(ROOT, "tools", "bench", "ort_server.js")])):
            srv = Server(argv, side)
            base = peak_rss_mib(srv) if side == "ours" else float("nan")
            r = srv.call(cmd="load", id="m", model=model, inputs=in_dir, threads=threads)
            rss_load = peak_rss_mib(srv)
            srv.call(cmd="run", id="m", n=1)
            res[side] = (r["load_ms"], rss_load, peak_rss_mib(srv))
            srv.close()
        size = os.path.getsize(model) / 2**20
        rows.append((label, size, res))
        print(f"{label:<26} file {size:7.1f} MiB  load ours {res['ours'][0]:8.0f} ms ORT {res['ort'][0]:8.0f} ms  "
              f"peak after load+run ours {res['ours'][2]:7.0f} MiB ORT {res['ort'][2]:7.0f} MiB", flush=True)
    print()
    print("| case | file MiB | load ms ours | load ms ORT | ours/ORT | peak RSS MiB ours | peak RSS MiB ORT | ours/ORT | ours/file |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, size, r in rows:
        print(f"| {label} | {size:.0f} | {r['ours'][0]:.0f} | {r['ort'][0]:.0f} | {r['ours'][0] / r['ort'][0]:.2f} | "
              f"{r['ours'][2]:.0f} | {r['ort'][2]:.0f} | {r['ours'][2] / r['ort'][2]:.2f} | {r['ours'][2] / size:.2f} |")


def profile_table(nodes, runs):
    by = {}
    for n in nodes:
        k = f"{n['op']} [{n['kernel']}]"
        s, c = by.get(k, (0.0, 0))
        by[k] = (s + n["s"], c + 1)
    total = sum(s for s, _ in by.values()) or 1.0
    lines = []
    for k, (s, c) in sorted(by.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"    {k:<44} {c:>4} nodes {1e3 * s / runs:>9.3f} ms/run {100 * s / total:>5.1f}%")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--block", type=int, default=10, help="timed runs per side before switching to the other")
    ap.add_argument("--settle-ms", type=float, default=100, help="pause before each block (other side's spinning workers stop)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cases", default="vit,gpt,vqa",
                    help="comma list of vit, gpt, vqa (bundled examples), vit_b16, bert_base, gpt2_small "
                         "(100M-class exports, need --large-dir), vit_w8a8 (fashion_vit_relu W8A8, the integer-form "
                         "QDQ export: our int8 path against ORT on the same file) and vit_w8a8_qdq (the standard "
                         "qdq form: ORT's int8 QDQ kernels)")
    ap.add_argument("--large-dir", help="folder written by tools/bench/make_100m_exports.py")
    ap.add_argument("--snnconv", default=os.path.join(ROOT, "build", "tools", "snnconv"),
                    help="cases vit_w8a8 / vit_w8a8_qdq: the CLI that quantizes and exports the model")
    ap.add_argument("--w8a8-dir", default=os.path.join(tempfile.gettempdir(), "snnconv_w8a8"),
                    help="cases vit_w8a8 / vit_w8a8_qdq: folder for the quantized model files (made once)")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "tools", "bench", "snnconv_bench"))
    ap.add_argument("--json", help="write every timing to this file")
    ap.add_argument("--load-report", action="store_true",
                    help="instead of run times: load time and peak memory per case, fresh processes, first thread count")
    ap.add_argument("--profile", action="store_true", help="also print our per-node profile of each case")
    ap.add_argument("--keep-inputs", metavar="DIR",
                    help="write each case's inputs under DIR/<case> and keep them (for snnconv_bench profile)")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    if not os.path.exists(args.bench):
        sys.exit(f"{args.bench} not built: cmake --build build --target snnconv_bench")

    if args.load_report:
        tmp = tempfile.mkdtemp(prefix="snnconv_bench_")
        try:
            load_report(cases(args.cases.split(","), args.large_dir, args.snnconv, args.w8a8_dir), args.bench,
                        threads[0], tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return

    ours = Server([args.bench, "serve"], "snnconv_bench")
    ort = Server(["node", os.path.join(ROOT, "tools", "bench", "ort_server.js")], "ort_server")
    tmp = args.keep_inputs or tempfile.mkdtemp(prefix="snnconv_bench_")
    isa = ours.call(cmd="info")
    print(f"ours: ISA {isa['isa']} (detected {isa['detected_isa']}), {isa['cpu']}", flush=True)
    rows, record = [], {"date": time.strftime("%Y-%m-%d %H:%M"), "runs": args.runs, "block": args.block, "settle_ms": args.settle_ms, "warmup": args.warmup,
                        "loadavg_start": os.getloadavg(), "cases": [],
                        "isa": isa["isa"], "cpu": isa["cpu"]}
    try:
        for label, model, make in cases(args.cases.split(","), args.large_dir, args.snnconv, args.w8a8_dir):
            in_dir = os.path.join(tmp, label.replace(" ", "_"))
            shapes = write_inputs(make(), in_dir)
            for t in threads:
                ours.call(cmd="load", id="m", model=model, inputs=in_dir, threads=t)
                o = ort.call(cmd="load", id="m", model=model, inputs=in_dir, threads=t)
                record["ort_version"] = o.get("ort_version")
                for _ in range(args.warmup):
                    ours.call(cmd="run", id="m", n=1)
                    ort.call(cmd="run", id="m", n=1)
                a, b, ca, cb = [], [], [], []
                r = 0
                while len(a) < args.runs:
                    n = min(args.block, args.runs - len(a))
                    first, second = (ours, ort) if r % 2 == 0 else (ort, ours)
                    x = timed_block(first, n, args.settle_ms)
                    y = timed_block(second, n, args.settle_ms)
                    xo, xr = (x, y) if first is ours else (y, x)
                    a += xo["ms"]
                    b += xr["ms"]
                    ca += xo["cpu_ms"]
                    cb += xr["cpu_ms"]
                    r += 1
                d_ours, d_ort = os.path.join(tmp, "o_ours"), os.path.join(tmp, "o_ort")
                ours.call(cmd="outputs", id="m", dir=d_ours)
                ort.call(cmd="outputs", id="m", dir=d_ort)
                diff = max(float(np.max(np.abs(p.astype(np.float64) - q))) for p, q in
                           zip(read_outputs(d_ours), read_outputs(d_ort)))
                ma, mb = statistics.median(a), statistics.median(b)
                cpu_ratio = statistics.median(ca) / statistics.median(cb)
                rows.append((label, shapes, t, ma, mb, ma / mb, min(a) / min(b), cpu_ratio, diff))
                record["cases"].append({"case": label, "inputs": shapes, "threads": t, "ours_ms": a, "ort_ms": b,
                                        "ours_cpu_ms": ca, "ort_cpu_ms": cb,
                                        "ours_median_ms": ma, "ort_median_ms": mb, "ratio": ma / mb,
                                        "cpu_ratio": cpu_ratio, "max_abs_diff": diff})
                print(f"{label:<26} {t}T  ours {ma:9.3f} ms  ORT {mb:9.3f} ms  ratio {ma / mb:5.2f}  "
                      f"cpu ratio {cpu_ratio:5.2f}  max|diff| {diff:.2e}", flush=True)
                ours.call(cmd="unload", id="m")
                ort.call(cmd="unload", id="m")
                if args.profile:
                    prof_runs = max(5, args.runs // 2)
                    ours.call(cmd="load", id="p", model=model, inputs=in_dir, threads=t, time_nodes=True)
                    ours.call(cmd="run", id="p", n=args.warmup)
                    base = {n["name"]: n["s"] for n in ours.call(cmd="profile", id="p")["nodes"]}
                    ours.call(cmd="run", id="p", n=prof_runs)
                    nodes = ours.call(cmd="profile", id="p")["nodes"]
                    for n in nodes:
                        n["s"] -= base.get(n["name"], 0.0)
                    print("\n".join(profile_table(nodes, prof_runs)), flush=True)
                    ours.call(cmd="unload", id="p")
    finally:
        ours.close()
        ort.close()
        if not args.keep_inputs:
            shutil.rmtree(tmp, ignore_errors=True)
    record["loadavg_end"] = os.getloadavg()
    print()
    print(f"ISA {record['isa']} ({record['cpu']}), date {record['date']}, ONNX Runtime {record.get('ort_version')}, {args.runs} runs per side in alternating blocks of {args.block} (pause {args.settle_ms:g} ms + 1 untimed run each) after "
          f"{args.warmup} warm-up, load average {record['loadavg_start'][0]:.1f} -> {record['loadavg_end'][0]:.1f}")
    print()
    print("| case | inputs | threads | ours ms | ORT ms | ours/ORT | min/min | CPU time ours/ORT | max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, shapes, t, ma, mb, ratio, best, cpu_ratio, diff in rows:
        print(f"| {label} | {shapes.split(' / ')[1]} | {t} | {ma:.3f} | {mb:.3f} | **{ratio:.2f}** | {best:.2f} | "
              f"{cpu_ratio:.2f} | {diff:.1e} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1)


if __name__ == "__main__":
    main()
