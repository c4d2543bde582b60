#!/usr/bin/env python3
"""Projected per-step exchange of a model-parallel SNN run, from a measured spike recording.

Reads the per-step spike counts of every population that `snnconv run --engine snn --record FILE.h5` wrote
and projects what K ranks would exchange if the transformer were cut into K contiguous groups of blocks (cuts
after blocks round(j * blocks / K)): in a pre-norm transformer the only population that a later block reads
from an earlier one is the residual stream (the last population of a block), so each cut carries that
population's events. Bytes at BYTES_PER_EVENT (a 32-bit neuron index with the sign of a strict-mode +-1 event
in its top bit). This is a projection from measured event counts, not a measured exchange: the model-parallel
engine is not built (docs/scaling.md).

Usage: exchange_volume.py RECORDING.h5 K [K ...]
"""
import re
import sys

import h5py
import numpy as np

BYTES_PER_EVENT = 4


def main():
    path, ks = sys.argv[1], [int(k) for k in sys.argv[2:]]
    f = h5py.File(path, "r")
    pops = [p.decode() if isinstance(p, bytes) else str(p) for p in f["populations"][:]]
    events = np.zeros(len(pops))
    peak = np.zeros(len(pops))
    steps = 0
    samples = f["samples"]
    for key in samples:
        s = samples[key]
        ev = s["spikes_pos"][:] + s["spikes_neg"][:]
        events += ev.sum(axis=0)
        peak = np.maximum(peak, ev.max(axis=0))
        steps += ev.shape[0]
    n = len(samples)
    last_of_block = {}
    for i, p in enumerate(pops):
        m = re.match(r"/blocks\.(\d+)/", p)
        if m:
            last_of_block[int(m.group(1))] = i
    blocks = len(last_of_block)
    print(f"{path}: {n} samples, {steps / n:.1f} steps per sample, {blocks} blocks, "
          f"{events.sum() / steps:.0f} events per step in all populations")
    for k in ks:
        cuts = sorted({round(j * blocks / k) - 1 for j in range(1, k)})
        total = 0.0
        for c in cuts:
            i = last_of_block[c]
            per_step = events[i] / steps
            total += per_step
            print(f"  K={k}: cut after block {c} carries {pops[i]}: {per_step:.0f} events/step "
                  f"(peak {peak[i]:.0f}), {per_step * BYTES_PER_EVENT:.0f} B/step")
        print(f"  K={k}: {total:.0f} events/step over {len(cuts)} cut(s), {total * BYTES_PER_EVENT:.0f} B/step, "
              f"{total * steps / n * BYTES_PER_EVENT / 1024:.1f} KiB per sample")


if __name__ == "__main__":
    main()
