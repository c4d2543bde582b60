#!/usr/bin/python3
"""Times the PyTorch time-stepped baseline (torch_timestepped.py) beside our SNN engine on the same samples.

    PYTHONPATH=build/python /usr/bin/python3 tools/bench/torch_baseline_bench.py X.snn.h5 --samples 64 --reps 3

1. The engine runs the samples once per mode (strict, burst) through `snnconv run --engine snn --json
   --save-outputs`: its outputs, and T = the largest number of steps a sample needed to quiesce (steps.max).
2. The torch simulation runs the same samples for that T with quiescence tracking on: its outputs must equal the
   engine's bit for bit and its per-sample quiescence steps the engine's (max and mean); a difference is exit 1.
3. Timing, 1 thread each, the same batch for both, alternating in one process: torch strict, engine strict,
   engine burst, torch burst, repeated --reps times after one warm-up round. Torch runs for the fixed T without
   quiescence tracking (as SpikingJelly runs a converted network); the engine stops each sample at its own
   quiescence. The engine is timed in-process through the Python module (`snnconv.load(...).run`) when it can be
   imported, else as a `snnconv run` child process (CPU time from the child's rusage, which then includes loading
   the model file). Reported per configuration: the best wall and the best CPU time per sample, their ratios,
   and the load average before and after (the machine is shared: quote CPU-time ratios when it is loaded).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_timestepped as tt  # noqa: E402  (exits 77 without torch)
import torch  # noqa: E402


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        flags = sorted({w for w in text.split() if w.startswith("avx512")})
    except OSError:
        flags = []
    return {"cpu": model, "avx512": flags, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__}


class Engine:
    """Our engine on the same samples: in-process through the Python module if it imports, else the CLI."""

    def __init__(self, model: str, snnconv: str, data: str | None, limit: int, batch: int, inputs: dict):
        self.model, self.snnconv, self.data, self.limit, self.batch = model, snnconv, data, limit, batch
        self.inputs = inputs
        try:
            import snnconv as module
            self.module = module.load(model)
        except ImportError:
            self.module = None

    def reference(self, mode: str, tmp: str) -> tuple:
        """(outputs .npz path, --json dict) of one CLI run."""
        out = os.path.join(tmp, f"engine_{mode}.npz")
        cmd = [self.snnconv, "run", self.model, "--engine", "snn", "--mode", mode, "--limit", str(self.limit),
               "--batch", str(self.batch), "--threads", "1", "--json", "--quiet", "--save-outputs", out]
        if self.data:
            cmd += ["--data", self.data]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return out, json.loads(res.stdout)

    def time(self, mode: str) -> tuple:
        """(wall s, CPU s) of one run of every sample."""
        if self.module is not None:
            x = {k: v.reshape(v.shape[0], *v.shape[2:]) for k, v in self.inputs.items()}  # rows of one sample
            t0, c0 = time.perf_counter(), time.process_time()
            self.module.run(x, engine="snn", mode=mode, threads=1, batch=self.batch)
            return time.perf_counter() - t0, time.process_time() - c0
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cmd = [self.snnconv, "run", self.model, "--engine", "snn", "--mode", mode, "--limit", str(self.limit),
               "--batch", str(self.batch), "--threads", "1", "--json", "--quiet"] + (["--data", self.data] if self.data else [])
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return res["snn_seconds"], cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="SNN model file (.snn.h5)")
    ap.add_argument("--snnconv", default="build/tools/snnconv", help="the snnconv binary (reference runs)")
    ap.add_argument("--data", help="dataset (.h5 or .npz) for both sides; default: the model file's")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args()
    torch.set_num_threads(1)
    tt.keep_freed_memory()
    load_before = os.getloadavg()
    model = tt.Model(a.model)
    inputs = tt.load_inputs(model, a.data, "test", a.samples)
    n = next(iter(inputs.values())).shape[0]
    engine = Engine(a.model, a.snnconv, a.data, a.samples, a.batch, inputs)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "model": a.model, "samples": n, "batch": a.batch, "threads": 1,
              "engine_timed": "python module (in-process)" if engine.module is not None else "snnconv run (child)",
              "modes": {}}
    ok = True
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        steps = {}
        for mode in ("strict", "burst"):
            out_npz, ej = engine.reference(mode, tmp)
            steps[mode] = ej["steps"]["max"]
            outs, quiet, _ = tt.simulate(model, inputs, a.batch, steps[mode], mode)
            cmp = tt.compare(outs, out_npz)
            q = {"max": int(quiet.max()), "mean": float(quiet[quiet > 0].mean()), "not_quiescent": int((quiet == 0).sum())}
            same_steps = q["max"] == ej["steps"]["max"] and abs(q["mean"] - ej["steps"]["mean"]) < 1e-9 \
                and q["not_quiescent"] == ej["steps"]["not_quiescent"]
            ok = ok and same_steps and all(r["values_differing"] == 0 for r in cmp.values())
            result["modes"][mode] = {"T": steps[mode], "engine_steps": ej["steps"], "torch_steps": q,
                                     "steps_equal": same_steps, "outputs_vs_engine": cmp}
        order = [("torch", "strict"), ("engine", "strict"), ("engine", "burst"), ("torch", "burst")]
        times = {k: [] for k in order}
        for rep in range(a.reps + 1):  # round 0 warms caches and the allocator
            for who, mode in order:
                if who == "torch":
                    t0, c0 = time.perf_counter(), time.process_time()
                    tt.simulate(model, inputs, a.batch, steps[mode], mode, track_quiescence=False)
                    w, c = time.perf_counter() - t0, time.process_time() - c0
                else:
                    w, c = engine.time(mode)
                if rep > 0:
                    times[(who, mode)].append((w, c))
    result["load_average"] = {"before": list(load_before), "after": list(os.getloadavg())}
    rows = {}
    for (who, mode), ts in times.items():
        rows[f"{who} {mode}"] = {"wall_ms_per_sample": 1e3 * min(w for w, _ in ts) / n,
                                 "cpu_ms_per_sample": 1e3 * min(c for _, c in ts) / n,
                                 "reps": [{"wall_s": w, "cpu_s": c} for w, c in ts]}
    result["timing"] = rows
    ratio = lambda x, y, k: rows[x][k] / rows[y][k]
    result["ratios"] = {
        "torch strict / engine strict (CPU)": ratio("torch strict", "engine strict", "cpu_ms_per_sample"),
        "torch strict / engine strict (wall)": ratio("torch strict", "engine strict", "wall_ms_per_sample"),
        "torch strict / engine burst (CPU)": ratio("torch strict", "engine burst", "cpu_ms_per_sample"),
        "torch burst / engine burst (CPU)": ratio("torch burst", "engine burst", "cpu_ms_per_sample"),
    }
    result["acceptance_4_strict_at_least_4x"] = result["ratios"]["torch strict / engine strict (CPU)"] >= 4.0
    result["outputs_and_steps_equal"] = ok
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    m = result["machine"]
    print(f"{result['date']}  {m['cpu']}, {m['cores']} cores, {' '.join(m['avx512'])}")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after "
          f"{result['load_average']['after'][0]:.2f} {result['load_average']['after'][1]:.2f}")
    print(f"{a.model}: {n} samples, batch {a.batch}, 1 thread, engine timed via {result['engine_timed']}")
    for mode, r in result["modes"].items():
        diff = sum(c["values_differing"] for c in r["outputs_vs_engine"].values())
        print(f"  {mode}: T = {r['T']}; outputs differing from the engine's: {diff}; quiescence steps "
              f"{'equal' if r['steps_equal'] else 'DIFFERENT'} (torch max {r['torch_steps']['max']} mean "
              f"{r['torch_steps']['mean']:.4f}, engine max {r['engine_steps']['max']} mean {r['engine_steps']['mean']:.4f})")
    print(f"  {'configuration':16s} {'wall ms/sample':>15s} {'CPU ms/sample':>14s}   (best of {a.reps})")
    for k, r in rows.items():
        print(f"  {k:16s} {r['wall_ms_per_sample']:15.3f} {r['cpu_ms_per_sample']:14.3f}")
    for k, v in result["ratios"].items():
        print(f"  {k}: {v:.2f}x")
    print(f"  acceptance 4 (our strict >= 4x faster than torch strict, CPU): "
          f"{'held' if result['acceptance_4_strict_at_least_4x'] else 'NOT held'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
