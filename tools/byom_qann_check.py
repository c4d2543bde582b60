#!/usr/bin/python3
"""W8A8 QANN against the float model on a fixture's data: top-1 agreement (classifiers: per sample; language
models: per next-byte prediction) and, for language models, bits per byte of both.

    /usr/bin/python3 tools/byom_qann_check.py --snnconv build/tools/snnconv examples/byom/encoder_mean.onnx ...
        [--limit N] [--calib N] [--act-bits 8] [--weight-bits 8]

Per model: `snnconv convert MODEL` (calibrated on the dataset's train split, else val), then `snnconv export
--samples` of the float ONNX (the dense engine's outputs) and of the converted file (the QANN's outputs) on the
same test samples; for language models also `snnconv run --engine ann|qann` for bits per byte. Prints one line
per model (the figures docs/compression.md records).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def run(cmd, may_fail=False):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 and may_fail:
        sys.stderr.write(f"skipped ({p.returncode}): {' '.join(cmd)}: {p.stderr.strip()[:200]}\n")
        return None
    if p.returncode != 0:
        sys.stderr.write(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
        sys.exit(1)
    return p.stdout


def outputs(folder):
    man = json.load(open(os.path.join(folder, "engine", "manifest.json")))
    e = man["outputs"][0]
    a = np.fromfile(os.path.join(folder, "engine", e["file"]), dtype=np.dtype(e["dtype"]))
    return a.reshape(-1, e["shape"][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snnconv", required=True)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--limit", type=int, default=-1)
    ap.add_argument("--calib", type=int, default=64)
    ap.add_argument("--act-bits", type=int, default=8)
    ap.add_argument("--weight-bits", type=int, default=8)
    args = ap.parse_args()
    for model in args.models:
        work = tempfile.mkdtemp(prefix="byom-qann-")
        snn = os.path.join(work, "m.snn.h5")
        run([args.snnconv, "convert", model, "--act-bits", str(args.act_bits), "--weight-bits", str(args.weight_bits),
             "--calib", str(args.calib), "--out", snn])
        lim = ["--limit", str(args.limit)] if args.limit >= 0 else []
        # The float export writes the canonical fused graph; ops without an ONNX form (RMSNorm, Rotary) make it
        # fail: then only the language-model figures are given.
        ok = run([args.snnconv, "export", model, "--out", os.path.join(work, "f.onnx"), "--samples",
                  os.path.join(work, "f")] + lim, may_fail=True) is not None
        line = f"{os.path.basename(model)} W{args.weight_bits}A{args.act_bits}:"
        lm = False
        if ok:
            run([args.snnconv, "export", snn, "--out", os.path.join(work, "q.onnx"), "--samples", os.path.join(work, "q")] + lim)
            f, q = outputs(os.path.join(work, "f")), outputs(os.path.join(work, "q"))
            agree = float((f.argmax(1) == q.argmax(1)).mean())
            line += f" top-1 agreement QANN vs float {agree:.4f} ({int((f.argmax(1) == q.argmax(1)).sum())}/{len(f)})"
            lm = f.shape[0] > len(np.fromfile(os.path.join(work, "f", "labels.bin"), dtype=np.int64)) or f.shape[1] == 256
        else:
            lm = True
        if lm:
            bpb = {}
            for eng in ("ann", "qann"):
                r = json.loads(run([args.snnconv, "run", model, "--engine", eng, "--json", "--calib", str(args.calib),
                                    "--act-bits", str(args.act_bits), "--weight-bits", str(args.weight_bits)] + lim))
                bpb[eng] = r["metric"]["value"]
                metric = r["metric"]["name"]
            line += f" {metric} float {bpb['ann']:.4f}, QANN {bpb['qann']:.4f} (diff {bpb['qann'] - bpb['ann']:+.4f})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
