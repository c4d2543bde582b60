#!/usr/bin/python3
"""Exported QDQ (or float) ONNX vs our engine: top-1 agreement on a dataset split, run in ONNX Runtime.

    /usr/bin/python3 tools/ort/export_check.py --snnconv build/tools/snnconv --model examples/fashion_vit/fashion_vit_relu.onnx
        [--act-bits 8] [--weight-bits 8] [--weight-group G] [--calib 64] [--split test] [--limit N] [--form integer|qdq]
        [--opt-level basic] [--min-agreement 0.995] [--max-abs-diff X] [--keep DIR] [--float]

Steps: `snnconv convert MODEL` (post-training quantization, W/A bits), `snnconv export FILE.snn.h5 --out X.onnx
--samples DIR` (the QANN as QDQ ONNX, plus the split's inputs and the QANN's outputs on them), then
`tools/ort/ort_run.js` runs X.onnx on every sample in one ONNX Runtime session. Top-1 = argmax over the last
axis of the first output (classifiers: per sample; language models: the next-byte prediction at every
position). With --float the ONNX model itself is exported (its canonical fused float graph, e.g. after
pruning) and compared with our dense engine (no quantization). Prints agreement, both accuracies and the largest |ORT - QANN|; exit status 1 when the agreement
is below --min-agreement or the largest |ORT - ours| above --max-abs-diff (0 = bit-identical outputs), 77 (ctest: skipped) when onnxruntime-node is not installed
(cd tools/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install).

With --original (an externally quantized QDQ model, docs/compression.md "Externally quantized models"): ONNX
Runtime runs the original MODEL itself on the exported samples, so our QANN built from the file's own steps is
compared with ONNX Runtime executing the very same file (`convert` takes no bit options then).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}{p.stderr}")
        sys.exit(1)
    return p.stdout


def load(folder, entry, samples):
    a = np.fromfile(os.path.join(folder, entry["file"]), dtype=np.dtype(entry["dtype"]))
    return a.reshape(samples * int(np.prod(entry["shape"][:-1])), entry["shape"][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snnconv", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--act-bits", type=int, default=8)
    ap.add_argument("--weight-bits", type=int, default=8)
    ap.add_argument("--weight-group", type=int, default=0,
                    help="grouped weights: one step per G input rows and output channel (0: per channel)")
    ap.add_argument("--calib", type=int, default=64)
    ap.add_argument("--compress", default=None,
                    help="make the model file with `snnconv compress MODEL ARGS` (e.g. pruning flags) instead of convert")
    ap.add_argument("--split", default="test")
    ap.add_argument("--data", default=None,
                    help="samples from this .npz (one array per model input) instead of a split of the recorded dataset")
    ap.add_argument("--limit", type=int, default=-1)
    ap.add_argument("--form", default="integer", choices=["integer", "qdq"])
    ap.add_argument("--opt-level", default="basic", choices=["disabled", "basic", "extended", "layout", "all"])
    ap.add_argument("--min-agreement", type=float, default=0.995)
    ap.add_argument("--max-abs-diff", type=float, default=None,
                    help="also fail when any output differs from ours by more than this (0: bit-identical)")
    ap.add_argument("--node", default=shutil.which("node") or "node")
    ap.add_argument("--keep", default=None, help="keep the files in this folder")
    ap.add_argument("--float", action="store_true", help="export the float canonical graph, compare with --engine ann")
    ap.add_argument("--original", action="store_true",
                    help="run ORT on MODEL itself (a QDQ file) and compare with our QANN of its own steps")
    ap.add_argument("--reimport", action="store_true",
                    help="also read the exported file back with snnconv and compare our dense engine on it with the "
                         "reference (round trip through our own importer)")
    args = ap.parse_args()

    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        print("SKIP: onnxruntime-node is not installed (cd tools/ort && ONNXRUNTIME_NODE_INSTALL=skip npm install)")
        return 77
    work = args.keep or tempfile.mkdtemp(prefix="export-check-")
    os.makedirs(work, exist_ok=True)
    try:
        t0 = time.time()
        snn = os.path.join(work, "model.snn.h5")
        onnx_file = os.path.join(work, "model.qdq.onnx")
        source = ["--data", args.data] if args.data else ["--split", args.split]
        samples_dir = os.path.join(work, "samples")
        ort_dir = os.path.join(work, "ort")
        if args.float:
            cmd = [args.snnconv, "export", args.model, "--out", onnx_file, "--samples", samples_dir] + source
        elif args.original:
            print(run([args.snnconv, "convert", args.model, "--calib", str(args.calib), "--out", snn] +
                      (["--data", args.data] if args.data else [])).strip())
            cmd = [args.snnconv, "export", snn, "--out", onnx_file, "--form", args.form, "--samples", samples_dir] + source
        else:
            make = "compress" if args.compress is not None else "convert"
            run([args.snnconv, make, args.model, "--act-bits", str(args.act_bits), "--weight-bits",
                 str(args.weight_bits), "--weight-group", str(args.weight_group), "--calib", str(args.calib), "--out",
                 snn] + (["--data", args.data] if args.data else []) + (args.compress or "").split())
            cmd = [args.snnconv, "export", snn, "--out", onnx_file, "--form", args.form, "--samples", samples_dir] + source
        if args.limit >= 0:
            cmd += ["--limit", str(args.limit)]
        print(run(cmd).strip())
        run([args.node, os.path.join(HERE, "ort_run.js"), args.model if args.original else onnx_file,
             os.path.join(samples_dir, "inputs"), ort_dir, "--opt-level", args.opt_level])
        ours_man = json.load(open(os.path.join(samples_dir, "engine", "manifest.json")))
        ort_man = json.load(open(os.path.join(ort_dir, "manifest.json")))
        n = ours_man["samples"]
        ours = load(os.path.join(samples_dir, "engine"), ours_man["outputs"][0], n)
        theirs = load(ort_dir, ort_man["outputs"][0], n)
        if ours.shape != theirs.shape:
            print(f"FAIL: output shapes differ: ours {ours.shape}, ORT {theirs.shape}")
            return 1
        labels = np.fromfile(os.path.join(samples_dir, "labels.bin"), dtype=np.int64)
        top_ours, top_ort = ours.argmax(1), theirs.argmax(1)
        agree = float((top_ours == top_ort).mean())
        scored = labels >= 0 if labels.size == top_ours.size else np.zeros(top_ours.size, bool)
        acc = lambda t: float((t[scored] == labels[scored]).mean()) if scored.any() else float("nan")
        max_diff = float(np.abs(theirs - ours).max())
        verdict = "PASS" if agree >= args.min_agreement else "FAIL"
        if args.max_abs_diff is not None and not max_diff <= args.max_abs_diff:
            verdict = "FAIL"
        what = "float" if args.float else f"W{args.weight_bits}A{args.act_bits} form {args.form}"
        if args.original:
            what = "its own QDQ steps, ORT on the original file"
        if args.weight_group > 0 and not args.float:
            what += f" weight group {args.weight_group}"
        if args.compress:
            what += f" (compress {args.compress})"
        ref = "ANN" if args.float else "QANN"
        print(f"{verdict}: {os.path.basename(args.model)} {what}, "
              f"ORT {ort_man.get('ort_version')} opt-level {args.opt_level}: top-1 agreement {agree:.4f} "
              f"({int((top_ours == top_ort).sum())}/{top_ours.size} predictions over {n} samples of {args.data or repr(args.split)}), "
              f"accuracy ORT {acc(top_ort):.4f} / {ref} {acc(top_ours):.4f}, max |ORT - {ref}| "
              f"{max_diff:.3g}" + (f" (bound {args.max_abs_diff:g})" if args.max_abs_diff is not None else "") +
              f", {time.time() - t0:.1f} s")
        if args.reimport:
            back_dir = os.path.join(work, "reimport")
            cmd = [args.snnconv, "export", onnx_file, "--out", os.path.join(work, "reimport.onnx"), "--samples", back_dir] + source
            if args.limit >= 0:
                cmd += ["--limit", str(args.limit)]
            run(cmd)
            back_man = json.load(open(os.path.join(back_dir, "engine", "manifest.json")))
            back = load(os.path.join(back_dir, "engine"), back_man["outputs"][0], back_man["samples"])
            ragree = float((back.argmax(1) == top_ours).mean())
            same_file = float((back.argmax(1) == top_ort).mean())
            print(f"round trip: snnconv's dense engine on the exported file vs {ref}: top-1 agreement {ragree:.4f}, "
                  f"max abs diff {float(np.abs(back - ours).max()):.3g}; vs ORT on the same file: top-1 agreement "
                  f"{same_file:.4f}, max abs diff {float(np.abs(back - theirs).max()):.3g}")
            if ragree < args.min_agreement or same_file < 0.995:
                verdict = "FAIL"
        return 0 if verdict == "PASS" else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
