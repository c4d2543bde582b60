#!/usr/bin/env python3
"""An independent float32 NIR simulator (numpy, written from NIR's node definitions, not from snnconv's C++) for the
node types `snnconv export --format nir` writes (Input, Output, Affine, Linear, Scale, Integrator with dt = 1,
Threshold), with recurrent edges found by a depth-first walk from the Input (they read the previous step).
Used by tests/tools/nir_cli.sh to check that the exported spiking MLP means the same thing outside snnconv.

Usage: nir_f32_sim.py F.nir INPUT.npz ENGINE_OUTPUTS.npz   (input [B, T, F]; engine outputs 'logits' [B, N])
Exit 0 when every prediction equals the engine's and every logit is within 1e-6 relative of it."""
import sys

import h5py
import numpy as np
f = h5py.File(sys.argv[1], "r")
nodes = {n: {k: (v[()] if k != "type" else v[()].decode()) for k, v in f["node/nodes"][n].items()} for n in f["node/nodes"]}
edges = [(a.decode(), b.decode()) for a, b in f["node/edges"][()]]
succ = {n: [] for n in nodes}
for a, b in edges: succ[a].append(b)
inp = [n for n, d in nodes.items() if d["type"] == "Input"][0]
out = [n for n, d in nodes.items() if d["type"] == "Output"][0]
# back edges: DFS from the input
back, state = set(), {}
def dfs(v):
    state[v] = 1
    for w in succ[v]:
        if state.get(w) == 1: back.add((v, w))
        elif w not in state: dfs(w)
    state[v] = 2
sys.setrecursionlimit(10000)
dfs(inp)
fwd = [(a, b) for a, b in edges if (a, b) not in back]
indeg = {n: 0 for n in nodes}
for a, b in fwd: indeg[b] += 1
order, ready = [], [n for n in nodes if indeg[n] == 0]
while ready:
    v = ready.pop(0); order.append(v)
    for a, b in fwd:
        if a == v:
            indeg[b] -= 1
            if indeg[b] == 0: ready.append(b)
x = np.load(sys.argv[2])["input"].astype(np.float32)  # [B, T, F]
B, T = x.shape[:2]
ys = []
for b in range(B):
    outv = {n: None for n in nodes}; state_v = {}
    prev = {}
    for t in range(T):
        prev = {n: v for n, v in outv.items()}
        for n in order:
            d = nodes[n]; ty = d["type"]
            if ty == "Input": outv[n] = x[b, t]; continue
            srcs = [a for a, c in fwd if c == n]; bsrcs = [a for a, c in back if c == n]
            i = None
            for s in srcs:
                i = outv[s].copy() if i is None else i + outv[s]
            for s in bsrcs:
                p = prev[s] if prev[s] is not None else np.zeros_like(i)
                i = p.copy() if i is None else i + p
            if ty == "Affine": outv[n] = (d["weight"] @ i + d["bias"]).astype(np.float32)
            elif ty == "Linear": outv[n] = (d["weight"] @ i).astype(np.float32)
            elif ty == "Scale": outv[n] = (i * d["scale"]).astype(np.float32)
            elif ty == "Threshold": outv[n] = (i > d["threshold"]).astype(np.float32)
            elif ty == "Integrator":
                state_v[n] = state_v.get(n, np.zeros_like(i)) + d["r"] * i
                outv[n] = state_v[n]
            elif ty == "Output": outv[n] = i
            else: raise SystemExit("unexpected " + ty)
    ys.append(outv[out])
y = np.stack(ys)
snn = np.load(sys.argv[3])["logits"].reshape(y.shape)
print(f"float32 numpy NIR simulator: {int((y == snn).sum())} of {y.size} logits bit-equal to the engine, "
      f"max |diff| {np.abs(y - snn).max():.3g}, predictions equal: {(y.argmax(1) == snn.argmax(1)).all()}")
ok = (y.argmax(1) == snn.argmax(1)).all() and np.abs(y - snn).max() <= 1e-6 * np.abs(snn).max()
sys.exit(0 if ok else 1)
