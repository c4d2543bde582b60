#!/usr/bin/python3
"""A time-stepped PyTorch simulation of an snnconv SNN model file: the peer baseline of issue 16.

It reads the spiking graph of `snnconv convert MODEL --act-bits B --out X.snn.h5` with h5py (snn_model_h5.py) and
simulates it the way SpikingJelly simulates converted networks: every layer processes multi-step tensors
[T, B, ...] for a fixed number of steps T, one layer after the other (a layer's step t depends on its inputs'
steps <= t only, which is the engine's in-step topological propagation, docs/spiking.md section 3):

- synapse layers (SynapseLinear) and event products (SpikeMatMul, the product rule on accumulated operands) are
  one matmul over all T*B rows of spike tensors;
- neuron populations (SpikeNeuron, ST-BIF in the integer domain) are a loop over T of elementwise tensor ops on
  the whole layer: count_t = count_{t-1} + clamp(target_t - count_{t-1}, -1, 1) in strict mode;
- differential units (LayerNorm, RMSNorm, rotary, softmax with causal or padding masks) and residual sums are
  their per-step forms on the [T, ...] tensors of accumulated counts;
- data movement (Reshape, Transpose, Gather, Slice, Expand, ...) and Concat move the spike tensors.

Every floating-point step mirrors the engine's definition (ann_baseline/src/qann.cpp: linear_value,
product_value, sum_value, quantize_level, whole_vector_row), one correctly rounded float32 operation at a time;
every sum the engine does in integers is exact here too (float32 matmuls of integer spikes and integer weights
whose partial sums stay below 2^24, checked per layer, float64 otherwise), so the outputs are meant to equal the
engine's bit for bit. Nothing of snnconv is called to compute anything.

Usage (docs/benchmarks.md, "PyTorch time-stepped baseline"):
    torch_timestepped.py X.snn.h5 --limit 64 --batch 64 [--mode strict|burst] [--steps T]
        [--engine-outputs E.npz] [--engine-json E.json] [--save-outputs O.npz] [--reps R] [--json]

Without --steps, T is found by simulation: the batch is simulated for T = 8, 16, 32, ... steps until every
sample is quiescent (no neuron's count differs from its target) at its last step, and each sample's
quiescence step is reported (it must equal the engine's `steps`). Exit codes: 0 done (and equal, when compared),
1 an unreadable or malformed file or a mismatch against the engine, 2 usage (arguments, or data that do not fit
the model: missing array, wrong shape, NaN/Inf), 3 a model this simulation does not cover.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline_data import DataError, Unsupported, compare, load_inputs  # noqa: E402
from snn_model_h5 import ModelFileError, read_graph  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the ctest reports SKIPPED on this exit code
    print("torch_timestepped: PyTorch is not installed (apt-get install python3-torch)", file=sys.stderr)
    sys.exit(77)

def keep_freed_memory():
    """glibc returns every freed block above ~32 MiB (and the heap top) to the kernel, so each fresh [T, B, ...]
    tensor page-faults its memory in again; that churn cost this simulation ~40% of its CPU time. Blocks are
    kept for reuse instead (mallopt M_MMAP_MAX = 0, M_TRIM_THRESHOLD = 1 GiB): a tuning that only helps the
    baseline. Done before torch allocates anything; a no-op without glibc."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)        # M_MMAP_MAX
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


EXACT_F32 = 1 << 24   # integers below this are exact in float32, and so are sums that stay below it
EXACT_F64 = 1 << 53
SOFTMAX_FRAC_BITS = 23  # ann::kSoftmaxFracBits
QANN_ERF_CLAMP = 4.0
QANN_ERF_P = [1.12837899, 0.196247816, 0.0534673147, 0.00400359044, 0.000288039126, 1.974827e-06]
QANN_ERF_Q = [1.0, 0.507251263, 0.11647594, 0.015444316, 0.00121634419, 3.74807059e-05]
SQRT2 = 1.41421356237309504880
MOVEMENT = {"Reshape", "Transpose", "Gather", "Slice", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Identity"}


def f32(x) -> torch.Tensor:
    """A float32 scalar tensor: arithmetic with it rounds in float32, like the engine's float operands."""
    return torch.tensor(np.float32(x), dtype=torch.float32)


# ---- the model as the simulation sees it ------------------------------------------------------------------

class Model:
    """The spiking graph with each node's unit kind, decided as the engine's plan does (snn_core/src/plan.cpp)."""

    def __init__(self, path: str):
        self.g = read_graph(path, "snn")
        if self.g.stage != "spiking":
            raise ModelFileError(f"{path}: /snn is at stage '{self.g.stage}', not 'spiking'")
        self.order = self.g.topological_order()
        self.fixed = set(self.g.inputs)  # values known at step 1 (graph inputs, prologue outputs)
        self.kind = {}
        for k in self.order:
            n = self.g.nodes[k]
            self.kind[k] = self._kind_of(n)
            if self.kind[k] == "prologue":
                self.fixed.update(n.outputs)
        self.uses = {}  # value -> number of nodes reading it (to free simulated tensors early)
        for k in self.order:
            for v in self.g.nodes[k].inputs:
                if v >= 0:
                    self.uses[v] = self.uses.get(v, 0) + 1
        for v in self.g.outputs:
            self.uses[v] = self.uses.get(v, 0) + 1

    def value(self, v):
        return self.g.values[v]

    def _kind_of(self, n) -> str:
        known = all(v < 0 or self.g.values[v].constant is not None or v in self.fixed for v in n.inputs)
        if n.kind != "SpikeNeuron" and known:
            return "prologue"
        simple = {"SpikeNeuron": "neuron", "SynapseLinear": "synapse", "SpikeMatMul": "product", "DiffUnit": "diff",
                  "Add": "add", "Concat": "concat"}
        if n.kind in simple:
            return simple[n.kind]
        if n.kind in MOVEMENT:
            return "movement"
        raise Unsupported(f"node '{n.name}' ({n.kind}): not a unit the SNN engine runs")


# ---- float32 definitions shared with the engine (ann_baseline/src/qann.cpp) ----------------------------------

def qann_gelu(x: torch.Tensor) -> torch.Tensor:
    """ann::qann_gelu: a = 1 + qann_erf(x / sqrt2), then (x * a) * 0.5, one rounding per operation."""
    u = x / f32(SQRT2)
    t = torch.where(u < -QANN_ERF_CLAMP, f32(-QANN_ERF_CLAMP), u)       # std::max(u, lo): NaN stays
    t = torch.where(f32(QANN_ERF_CLAMP) < t, f32(QANN_ERF_CLAMP), t)    # std::min(t, hi)
    z = t * t
    p, q = f32(QANN_ERF_P[5]).expand_as(z), f32(QANN_ERF_Q[5]).expand_as(z)
    for k in range(4, -1, -1):
        p = p * z
        p = p + f32(QANN_ERF_P[k])
        q = q * z
        q = q + f32(QANN_ERF_Q[k])
    erf = (t * p) / q
    a = f32(1.0) + erf
    return (x * a) * f32(0.5)


_LIBM = None


def libm_f32(name: str, x: torch.Tensor) -> torch.Tensor:
    """libm's float function `name` (expf, tanhf) elementwise: the engine calls std::exp/std::tanh on floats,
    which torch's vectorised exp/tanh do not reproduce in the last bit. One C call per distinct value (a
    simulation's currents repeat a lot), so it is exact but slow: a model with such a target is checked, not timed."""
    global _LIBM
    import ctypes
    if _LIBM is None:
        _LIBM = ctypes.CDLL("libm.so.6")
        for fn in ("expf", "tanhf"):
            getattr(_LIBM, fn).restype, getattr(_LIBM, fn).argtypes = ctypes.c_float, [ctypes.c_float]
    f = getattr(_LIBM, name)
    uniq, inverse = torch.unique(x, return_inverse=True)
    vals = torch.tensor([f(float(v)) for v in uniq.tolist()], dtype=torch.float32)
    return vals[inverse]


def apply_target(act: str, x: torch.Tensor) -> torch.Tensor:
    """ann::apply_target (and the reference kernels' activations): one rounding per operation."""
    if act == "none":
        return x
    if act == "relu":
        return torch.where(x < 0, f32(0.0), x)
    if act == "gelu":
        return qann_gelu(x)
    if act == "tanh":
        return libm_f32("tanhf", x)
    if act == "silu":  # x / (1 + exp(-x))
        return x / (f32(1.0) + libm_f32("expf", -x))
    if act == "gelu_tanh":  # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x))), left to right
        inner = ((f32(0.044715) * x) * x) * x
        t = libm_f32("tanhf", f32(0.79788456080286535588) * (x + inner))
        return (f32(0.5) * x) * (f32(1.0) + t)
    raise Unsupported(f"folded activation '{act}'")


def quantize_level(x: torch.Tensor, act: str, s, n_min: int, n_max: int) -> torch.Tensor:
    """ann::quantize_level as float32 levels: clamp(floor(f(x)/s + 0.5), n_min, n_max), NaN -> n_min."""
    q = torch.div(apply_target(act, x), f32(s))  # a new tensor: the operations below work in place
    q.add_(f32(0.5)).floor_()
    # NaN -> n_min; +-inf become +-FLT_MAX here and then the bounds, as std::clamp makes them.
    return q.nan_to_num_(nan=float(n_min)).clamp_(float(n_min), float(n_max))


def softmax_table(s, span: int) -> torch.Tensor:
    """ann::softmax_weight for k = 0..span: round(2^23 * exp(-s*k)) with exp in double (libm, as the engine)."""
    sd = float(np.float32(s))
    return torch.tensor([math.floor(math.ldexp(math.exp(-sd * float(k)), SOFTMAX_FRAC_BITS) + 0.5)
                         for k in range(span + 1)], dtype=torch.int64)


# ---- the simulation -------------------------------------------------------------------------------------------

class Simulation:
    """One batch through the whole network for T steps, layer by layer.

    Per value it holds: `fixed[v]` [B, *shape] (graph inputs and the dense prologue), `spikes[v]` [T, B, *shape]
    (a population's signed events per step, float32), `counts[v]` (their running sum, computed when a unit reads
    them) and `current[v]` [T, B, *shape] float32 (what a neuron population integrates)."""

    def __init__(self, model: Model, inputs: dict, steps: int, mode: str, track_quiescence: bool = True):
        self.m, self.T, self.mode = model, steps, mode
        self.B = next(iter(inputs.values())).shape[0]
        self.fixed = dict(inputs)
        self.spikes, self.counts, self.current = {}, {}, {}
        # per step and sample: some neuron's count differs from its target (off: a fixed-T run, as SpikingJelly's)
        self.pending = torch.zeros(steps, self.B, dtype=torch.bool) if track_quiescence else None
        self.left = dict(model.uses)
        self.seconds = {}  # unit kind -> CPU seconds of this thread spent in it

    # tensors of one value
    def shape(self, v) -> tuple:
        return self.m.value(v).shape

    def get_counts(self, v) -> torch.Tensor:
        if v not in self.counts:
            self.counts[v] = running_sum(self.spikes[v].clone())
        return self.counts[v]

    def get_current(self, v) -> torch.Tensor:
        """[T, B, *shape] or [B, *shape] (a prologue current, the same at every step)."""
        return self.current[v] if v in self.current else self.fixed[v]

    def release(self, node):
        for v in node.inputs:
            if v < 0:
                continue
            self.left[v] -= 1
            if self.left[v] == 0:
                for d in (self.spikes, self.counts, self.current):
                    d.pop(v, None)

    def run(self) -> dict:
        units = {"prologue": unit_prologue, "neuron": unit_neuron, "synapse": unit_synapse, "product": unit_product,
                 "diff": unit_diff, "add": unit_add, "movement": unit_movement, "concat": unit_concat}
        for k in self.m.order:
            node = self.m.g.nodes[k]
            t0 = time.thread_time()
            units[self.m.kind[k]](self, node)
            self.release(node)
            kind = self.m.kind[k] if self.m.kind[k] != "diff" else "diff " + node.attrs["fn"]
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.thread_time() - t0
        out = {}
        for v in self.m.g.outputs:
            val = self.m.value(v)
            if v in self.spikes:  # a population: s * count (ann::dequantize)
                out[val.name] = (f32(val.quant.scale[0]) * self.get_counts(v)[-1]).numpy()
            elif v in self.current:
                out[val.name] = self.current[v][-1].numpy()
            else:
                raise Unsupported(f"graph output '{val.name}' is neither a population nor a synaptic read-out")
        return out

    def quiescence_steps(self) -> np.ndarray:
        """Per sample: the first step at whose end no neuron is pending (1-based), or 0 if none within T."""
        if self.pending is None:
            return np.zeros(self.B, dtype=np.int64)
        quiet = ~self.pending.numpy()
        first = np.argmax(quiet, axis=0) + 1
        return np.where(quiet.any(axis=0), first, 0)


# ---- unit kinds -------------------------------------------------------------------------------------------------

def unit_neuron(sim: Simulation, node):
    """ST-BIF population: target_t = quantize_level(current_t); the count steps toward it, +-1 per step (strict)
    or the whole difference as one multi-bit event (burst). The membrane s/2 + X - count*s is never formed: its
    firing conditions are exactly `target != count` (docs/spiking.md section 3)."""
    q = sim.m.value(node.outputs[0]).quant
    cur = sim.get_current(node.inputs[0])
    target = quantize_level(cur, sim.m.g.nodes[node.index].attrs["target"], q.scale[0], q.n_min, q.n_max)
    T = sim.T
    if target.dim() == len(sim.shape(node.outputs[0])) + 1:  # a constant current: the same target every step
        target = target.unsqueeze(0).expand(T, *target.shape)
    if sim.mode == "burst":
        counts = target.contiguous()
        spikes = torch.diff(counts, dim=0, prepend=torch.zeros_like(counts[:1]))
    else:
        spikes = torch.empty(target.shape, dtype=torch.float32)
        counts = torch.empty(target.shape, dtype=torch.float32)
        torch.clamp(target[0], -1.0, 1.0, out=spikes[0])
        counts[0].copy_(spikes[0])
        for t in range(1, T):
            torch.sub(target[t], counts[t - 1], out=spikes[t])
            spikes[t].clamp_(-1.0, 1.0)
            torch.add(counts[t - 1], spikes[t], out=counts[t])
    if sim.pending is not None:
        sim.pending |= (counts != target).flatten(2).any(2)
    out = node.outputs[0]
    sim.spikes[out], sim.counts[out] = spikes, counts


def _exact_matmul(a: torch.Tensor, b: torch.Tensor, bound: int) -> torch.Tensor:
    """a @ b of integer-valued tensors, exact: float32 when every partial sum stays below 2^24, else float64."""
    if bound < EXACT_F32:
        return torch.matmul(a, b)
    if bound >= EXACT_F64:
        raise Unsupported("an integer sum that exceeds 2^53")
    return torch.matmul(a.double(), b.double())


def running_sum(x: torch.Tensor) -> torch.Tensor:
    """In place over the step axis: x[t] += x[t-1] (an accumulator's per-step update; exact for the integer
    values it is used on, and several times faster than torch.cumsum along dim 0)."""
    for t in range(1, x.shape[0]):
        x[t].add_(x[t - 1])
    return x


def _integer_to_f32(x: torch.Tensor) -> torch.Tensor:
    """static_cast<float> of an exact integer held in float32 or float64 (rounded once, to nearest)."""
    return x if x.dtype == torch.float32 else x.float()


def _max_abs_count(q) -> int:
    return max(abs(q.n_min), abs(q.n_max))


def unit_synapse(sim: Simulation, node):
    """Synaptic layer: the step's spikes times the integer weight levels, one matmul over T*B rows; the integer
    input accumulates over T (the exact accumulator), and the current is ann::linear_value of it:
    (s_in * s_w[n]) * float(acc) + b[n]."""
    x, wv = node.inputs[0], sim.m.value(node.inputs[1])
    wq, xq = wv.quant, sim.m.value(x).quant
    if wq.group_size > 0 and not len(wq.scale) in (1, wv.shape[1]):
        raise Unsupported(f"node '{node.name}': grouped weights (--weight-group) are not simulated here")
    if np.any(wq.zero_point != 0):
        raise Unsupported(f"node '{node.name}': weights with a zero point")
    w = wv.constant.astype(np.float32)
    if not np.array_equal(w, np.round(w)):
        raise ModelFileError(f"node '{node.name}': weight '{wv.name}' holds non-integer levels")
    n = w.shape[1]
    step = np.broadcast_to(wq.scale, (n,)).astype(np.float32)
    in_step = torch.from_numpy(np.float32(xq.scale[0]) * step)  # float32 products, as p.in_step
    bias = torch.zeros(n) if len(node.inputs) < 3 or node.inputs[2] < 0 else \
        torch.from_numpy(sim.m.value(node.inputs[2]).constant.astype(np.float32).reshape(n))
    bound = int(np.abs(w).sum(axis=0).max()) * _max_abs_count(xq)  # |acc| and every partial sum stay below it
    if bound >= EXACT_F64:
        raise Unsupported(f"node '{node.name}': an integer sum that may exceed 2^53")
    # nn.Linear's layout and call ([N, K] weights; 4-7x faster than spikes @ W[K, N] with OpenBLAS at N = 64).
    wt = torch.from_numpy(np.ascontiguousarray(w.T))
    spikes = sim.spikes[x]
    delta = F.linear(spikes, wt) if bound < EXACT_F32 else F.linear(spikes.double(), wt.double())
    acc = running_sum(delta)
    sim.current[node.outputs[0]] = _integer_to_f32(acc).mul_(in_step).add_(bias)


def unit_product(sim: Simulation, node):
    """Product of two populations (Q.K^T, P.V): the per-step product rule on the accumulated operands,
    delta_t = a_t B_{t-1} + A_t b_t (= A_t B_t - A_{t-1} B_{t-1}), two batched matmuls over T*B; the integer
    product accumulates over T and the current is ann::product_value: (s_a * s_b) * float(acc)."""
    a, b = node.inputs[0], node.inputs[1]
    qa, qb = sim.m.value(a).quant, sim.m.value(b).quant
    sa, sb = sim.spikes[a], sim.spikes[b]
    ca, cb = sim.get_counts(a), sim.get_counts(b)
    k = sim.shape(a)[-1]
    bound = k * _max_abs_count(qa) * _max_abs_count(qb) * 2
    delta = _exact_matmul(sa.contiguous(), cb - sb, bound) + _exact_matmul(ca.contiguous(), sb.contiguous(), bound)
    acc = running_sum(delta)
    sim.current[node.outputs[0]] = _integer_to_f32(acc).mul_(f32(np.float32(qa.scale[0]) * np.float32(qb.scale[0])))


def unit_add(sim: Simulation, node):
    """Residual sum of two populations: ann::sum_value of the current counts, s_a*q_a + s_b*q_b in float32."""
    a, b = node.inputs
    for v in (a, b):
        if v not in sim.spikes:
            raise Unsupported(f"node '{node.name}': an Add whose operand '{sim.m.value(v).name}' is not a population")
    sa, sb = sim.m.value(a).quant.scale[0], sim.m.value(b).quant.scale[0]
    sim.current[node.outputs[0]] = f32(sa) * sim.get_counts(a) + f32(sb) * sim.get_counts(b)


def diff_layer_norm(q: torch.Tensor, s, eps, gamma, beta) -> torch.Tensor:
    """ann::whole_vector_row, layer_norm, on rows of integer counts (float64 holds the exact int64 sums):
    V = N*S2 - S1^2, y = float(N*q - S1) / sqrt(float(V) + N^2*eps/s^2), then *gamma, then +beta."""
    n = q.shape[-1]
    qd = q.double()
    s1 = qd.sum(-1, keepdim=True)
    s2 = (qd * qd).sum(-1, keepdim=True)
    eps_term = np.float32(float(n) * float(n) * float(np.float32(eps)) / (float(np.float32(s)) * float(np.float32(s))))
    denom = torch.sqrt((n * s2 - s1 * s1).float() + f32(eps_term))
    y = (n * qd - s1).float() / denom
    y = y * gamma
    return y + beta if beta is not None else y


def diff_rms_norm(q: torch.Tensor, s, eps, gamma) -> torch.Tensor:
    """ann::whole_vector_row, rms_norm: r = sqrt((float(S2) + N*eps/s^2) / N), y = float(q) / r * gamma."""
    n = q.shape[-1]
    qd = q.double()
    s2 = (qd * qd).sum(-1, keepdim=True)
    eps_term = np.float32(float(n) * float(np.float32(eps)) / (float(np.float32(s)) * float(np.float32(s))))
    r = torch.sqrt((s2.float() + f32(eps_term)) / f32(n))
    return (q / r) * gamma


def diff_softmax(q: torch.Tensor, s, span: int, keep: torch.Tensor | None) -> torch.Tensor:
    """ann::whole_vector_row, softmax: weights E = round(2^23 exp(-s (max q - q))) from a table (int64), y =
    float(E) / float(sum E) over the kept entries (causal or masked rows), the others 0."""
    if keep is not None:
        low = torch.finfo(torch.float32).min
        top = torch.where(keep, q, torch.tensor(low)).amax(-1, keepdim=True)
    else:
        top = q.amax(-1, keepdim=True)
    k = (top - q).clamp_(0, span).long()
    e = softmax_table(s, span)[k]
    if keep is not None:
        e = torch.where(keep, e, torch.zeros((), dtype=torch.int64))
    total = e.sum(-1, keepdim=True)
    y = e.float() / total.clamp(min=1).float()
    return y if keep is None else torch.where(keep, y, f32(0.0))


def diff_rotary(q: torch.Tensor, s, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """ann::rotary_row on rows of [..., P, cols] at position p: (s*q_j)*cos_j + (s*r_j)*sin_j, r = [-q[h:], q[:h]]."""
    cols = q.shape[-1]
    h = cols // 2
    cos, sin = cos.reshape(-1, cols), sin.reshape(-1, cols)  # [P, cols]
    r = torch.cat([-q[..., h:], q[..., :h]], dim=-1)
    return (f32(s) * q) * cos + (f32(s) * r) * sin


def attention_keep(sim: Simulation, node, mv: int, scores: tuple) -> torch.Tensor:
    """ann::attention_keep: a mask broadcast to the scores (numpy rules); 0 (or a bool true) attends, <= -1000
    is masked, any other value has no integer form (an error naming it). [B, *scores] for a per-sample mask
    (a graph input or prologue value), [1, *scores] for a constant."""
    val = sim.m.value(mv)
    m = torch.from_numpy(np.ascontiguousarray(val.constant)).unsqueeze(0) if val.constant is not None else sim.fixed[mv]
    if m.dtype == torch.bool:
        keep = m
    else:
        m = m.float()
        bad = ~((m == 0) | (m <= -1000.0))
        if bad.any():
            raise ModelFileError(f"node '{node.name}': attention mask '{val.name}' holds {m[bad][0].item()}, neither "
                                 f"0 (attend) nor <= -1000 (masked)")
        keep = m == 0
    pad = len(scores) - len(val.shape)
    keep = keep.reshape(keep.shape[0], *([1] * pad), *val.shape)
    return keep.expand(keep.shape[0], *scores)


def unit_diff(sim: Simulation, node):
    """Differential unit: f of the accumulated integer input at every step, with the row functions above; the
    downstream population reads f(X_t) itself (never a float sum of increments)."""
    at = node.attrs
    x = node.inputs[0]
    rank = len(sim.shape(x))
    if at["axis"] not in (-1, rank - 1):
        raise Unsupported(f"node '{node.name}': a differential unit over an axis other than the last")
    q = sim.m.value(x).quant
    s = q.scale[0]
    counts = sim.get_counts(x)
    const = lambda k: None if len(node.inputs) <= k or node.inputs[k] < 0 else \
        torch.from_numpy(sim.m.value(node.inputs[k]).constant.astype(np.float32).reshape(-1))
    fn = at["fn"]
    if fn == "layer_norm":
        y = diff_layer_norm(counts, s, at["epsilon"], const(1), const(2))
    elif fn == "rms_norm":
        y = diff_rms_norm(counts, s, at["epsilon"], const(1))
    elif fn == "rotary":
        y = diff_rotary(counts, s, const(1), const(2))
    elif fn == "softmax":
        rows, cols = sim.shape(x)[-2] if rank >= 2 else 1, sim.shape(x)[-1]
        keep = None
        if at["causal"]:
            i = torch.arange(rows).unsqueeze(1)
            keep = torch.arange(cols).unsqueeze(0) < i + 1 + (cols - rows)  # ann::causal_valid_cols
        if len(node.inputs) > 1 and node.inputs[1] >= 0:
            mask = attention_keep(sim, node, node.inputs[1], sim.shape(x))  # [B or 1, *scores]
            keep = mask if keep is None else mask & keep
        y = diff_softmax(counts, s, q.n_max - q.n_min, keep)
    else:
        raise Unsupported(f"node '{node.name}': differential unit '{fn}'")
    sim.current[node.outputs[0]] = y


def movement_map(node, m: Model) -> np.ndarray | None:
    """Output element -> input element of a data-movement node (per sample, flat), from its constant inputs;
    None for a pure reshape (the flat order does not change)."""
    n, shape_in = node.kind, m.value(node.inputs[0]).shape
    if n in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"):
        return None
    idx = np.arange(int(np.prod(shape_in)), dtype=np.int64).reshape(shape_in)
    const = lambda k: None if len(node.inputs) <= k or node.inputs[k] < 0 else m.value(node.inputs[k]).constant
    if n == "Transpose":
        perm = node.attrs["perm"] or list(range(len(shape_in)))[::-1]
        out = np.transpose(idx, perm)
    elif n == "Gather":
        ind = const(1).astype(np.int64)
        axis = node.attrs["axis"] % len(shape_in)
        out = np.take(idx, np.where(ind < 0, ind + shape_in[axis], ind), axis=axis)
    elif n == "Slice":
        starts, ends = const(1).astype(np.int64), const(2).astype(np.int64)
        axes = const(3).astype(np.int64) if const(3) is not None else np.arange(len(starts))
        steps = const(4).astype(np.int64) if const(4) is not None else np.ones(len(starts), np.int64)
        sl = [slice(None)] * len(shape_in)
        for s0, e0, ax, st in zip(starts, ends, axes, steps):
            big = np.iinfo(np.int64).max
            sl[int(ax) % len(shape_in)] = slice(None if abs(s0) >= big // 2 else int(s0),
                                                None if abs(e0) >= big // 2 else int(e0), int(st))
        out = idx[tuple(sl)]
    elif n == "Expand":
        out = idx * np.ones(m.value(node.outputs[0]).shape, dtype=np.int64)
    else:
        raise Unsupported(f"node '{node.name}': data movement '{n}'")
    if tuple(out.shape) != tuple(m.value(node.outputs[0]).shape):
        raise ModelFileError(f"node '{node.name}': {n} gives shape {out.shape}, the file says "
                             f"{m.value(node.outputs[0]).shape}")
    return out.reshape(-1)


def unit_movement(sim: Simulation, node):
    """Data movement of a population: its spike tensor reshaped, permuted or gathered (T and B axes kept)."""
    x, out = node.inputs[0], node.outputs[0]
    s = sim.spikes[x]
    shape_out = sim.shape(out)
    lead = (sim.T, sim.B)
    if node.kind == "Transpose":
        perm = node.attrs["perm"] or list(range(len(sim.shape(x))))[::-1]
        moved = s.permute(0, 1, *[p + 2 for p in perm])
    else:
        mp = movement_map(node, sim.m)
        flat = s.reshape(*lead, -1)
        moved = flat if mp is None else flat[:, :, torch.from_numpy(mp)]
    sim.spikes[out] = moved.reshape(*lead, *shape_out)


def unit_concat(sim: Simulation, node):
    """Concat of populations: their spike tensors joined along the axis (the shared step travels along)."""
    axis = node.attrs["axis"] % len(sim.shape(node.outputs[0]))
    parts = []
    for v in node.inputs:
        if v not in sim.spikes:
            raise Unsupported(f"node '{node.name}': a Concat mixing populations with currents")
        parts.append(sim.spikes[v])
    sim.spikes[node.outputs[0]] = torch.cat(parts, dim=axis + 2)


# ---- the dense prologue (graph inputs to the first population), once, as the reference kernels -----------------

def prologue_conv(x: torch.Tensor, w: np.ndarray, bias, at) -> torch.Tensor:
    """The reference Conv (ann_baseline/src/reference_contraction.cpp) in its summation order: per output,
    acc = 0, then acc += x * w over input channels, then kernel positions (row-major), positions outside the
    padded input skipped; then + bias. [B, C, H, W] with group 1 only."""
    if x.dim() != 4 or at["group"] != 1:
        raise Unsupported("prologue Conv: only 2-D convolutions with group 1 are simulated")
    kh, kw = w.shape[2], w.shape[3]
    strides = at["strides"] or [1, 1]
    dil = at["dilations"] or [1, 1]
    pads = at["pads"] or [0, 0, 0, 0]
    xp = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
    inside = F.pad(torch.ones_like(x), (pads[1], pads[3], pads[0], pads[2]))
    cols = F.unfold(xp, (kh, kw), dilation=dil, stride=strides)          # [B, C*kh*kw, L], order (c, kh, kw)
    ok = F.unfold(inside, (kh, kw), dilation=dil, stride=strides) > 0
    wm = torch.from_numpy(w.astype(np.float32).reshape(w.shape[0], -1))  # [M, C*kh*kw]
    acc = torch.zeros(x.shape[0], w.shape[0], cols.shape[2])
    for r in range(cols.shape[1]):
        term = cols[:, r:r + 1, :] * wm[:, r].view(1, -1, 1)
        acc = torch.where(ok[:, r:r + 1, :], acc + term, acc)
    if bias is not None:
        acc = acc + torch.from_numpy(bias.astype(np.float32)).view(1, -1, 1)
    ho = (xp.shape[2] - dil[0] * (kh - 1) - 1) // strides[0] + 1
    wo = (xp.shape[3] - dil[1] * (kw - 1) - 1) // strides[1] + 1
    return acc.reshape(x.shape[0], w.shape[0], ho, wo)


def prologue_linear(x: torch.Tensor, w: np.ndarray, bias, act: str) -> torch.Tensor:
    """The reference Linear (eval_linear): y = 0, then y += x[..., p] * w[p, :] for p = 0, 1, ..., then + bias, then
    the activation."""
    wt = torch.from_numpy(w.astype(np.float32))
    y = torch.zeros(*x.shape[:-1], w.shape[1])
    for p in range(w.shape[0]):
        y = y + x[..., p:p + 1] * wt[p]
    if bias is not None:
        y = y + torch.from_numpy(bias.astype(np.float32).reshape(-1))
    if act == "gelu":  # the reference kernel's exact GELU (libm erff), not the QANN's rational erf
        raise Unsupported("a prologue Linear with a GELU activation")
    return apply_target(act, y)


def unit_prologue(sim: Simulation, node):
    """Nodes on the graph inputs alone (patch embedding, class token, position embedding, token lookup) run
    once, densely, in float32 with one rounding per operation, as the engine's reference kernels at step 1."""
    m, B = sim.m, sim.B

    def arg(k):  # batched [B, *shape] for inputs and prologue outputs; constants as they are
        v = node.inputs[k]
        if v < 0:
            return None
        val = m.value(v)
        return torch.from_numpy(np.ascontiguousarray(val.constant)) if val.constant is not None else sim.fixed[v]

    def batched(k):
        v = node.inputs[k]
        t = arg(k)
        return t if m.value(v).constant is None else t.unsqueeze(0).expand(B, *t.shape)

    shape_out = (B, *m.value(node.outputs[0]).shape)
    kind = node.kind
    if kind == "Conv":
        bias = m.value(node.inputs[2]).constant if len(node.inputs) > 2 and node.inputs[2] >= 0 else None
        y = prologue_conv(batched(0).reshape(B, *m.value(node.inputs[0]).shape[1:]), m.value(node.inputs[1]).constant,
                          bias, node.attrs).reshape(shape_out)
    elif kind in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"):
        y = batched(0).reshape(shape_out)
    elif kind == "Transpose":
        perm = node.attrs["perm"] or list(range(len(m.value(node.inputs[0]).shape)))[::-1]
        y = batched(0).permute(0, *[p + 1 for p in perm])
    elif kind == "Expand":
        y = batched(0).expand(shape_out)
    elif kind == "Concat":
        axis = node.attrs["axis"] % (len(shape_out) - 1)
        y = torch.cat([batched(k) for k in range(len(node.inputs))], dim=axis + 1)
    elif kind in ("Add", "Sub", "Mul", "Div"):
        def aligned(k):  # numpy broadcasting on the value shapes, the batch axis kept apart
            t, shape = arg(k), m.value(node.inputs[k]).shape
            pad = [1] * (len(shape_out) - 1 - len(shape))
            return t.reshape(1, *pad, *shape) if m.value(node.inputs[k]).constant is not None else t.reshape(B, *pad, *shape)
        y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[kind](aligned(0), aligned(1))
        y = y.expand(shape_out)
    elif kind == "Gather":
        data, ind = arg(0), arg(1)
        axis = node.attrs["axis"]
        if m.value(node.inputs[0]).constant is not None and m.value(node.inputs[1]).constant is None and axis == 0:
            ind = ind.long()
            y = data[torch.where(ind < 0, ind + data.shape[0], ind)]  # a token or position lookup
        elif m.value(node.inputs[1]).constant is not None:
            mp = movement_map(node, m)
            y = batched(0).reshape(B, -1)[:, torch.from_numpy(mp)]
        else:
            raise Unsupported(f"prologue node '{node.name}': Gather of this form")
        y = y.reshape(shape_out)
    elif kind == "Slice" and all(m.value(v).constant is not None for v in node.inputs[1:] if v >= 0):
        y = batched(0).reshape(B, -1)[:, torch.from_numpy(movement_map(node, m))].reshape(shape_out)
    elif kind == "Linear":
        y = prologue_linear(batched(0), m.value(node.inputs[1]).constant,
                            m.value(node.inputs[2]).constant if len(node.inputs) > 2 and node.inputs[2] >= 0 else None,
                            node.attrs["activation"]).reshape(shape_out)
    elif kind == "Cast":
        y = batched(0).to({"f32": torch.float32, "i64": torch.int64, "i32": torch.int32}[node.attrs["to"]])
    else:
        raise Unsupported(f"prologue node '{node.name}': op {kind} is not simulated here")
    sim.fixed[node.outputs[0]] = y.contiguous()


# ---- inputs, comparison, timing ------------------------------------------------------------------------------

def simulate(model: Model, inputs: dict, batch: int, steps: int | None, mode: str, max_steps: int = 4096,
             track_quiescence: bool = True):
    """All samples in batches; returns (outputs {name: [N, ...]}, quiescence step per sample (0: not within T,
    or not tracked), T used)."""
    n = next(iter(inputs.values())).shape[0]
    outs, quiet = {}, []
    t_used = steps or (1 if mode == "burst" else 8)  # burst settles in one step
    lo = 0
    while lo < n:
        hi = min(n, lo + batch)
        feed = {v: torch.from_numpy(inputs[model.value(v).name][lo:hi].reshape(hi - lo, *model.value(v).shape))
                for v in model.g.inputs}
        while True:
            sim = Simulation(model, feed, t_used, mode, track_quiescence or steps is None)
            res = sim.run()
            q = sim.quiescence_steps()
            if steps is not None or q.min() > 0 or t_used >= max_steps:
                break
            t_used = min(2 * t_used, max_steps)
        for k, a in res.items():
            outs.setdefault(k, []).append(a)
        quiet.append(q)
        lo = hi
    return {k: np.concatenate(v) for k, v in outs.items()}, np.concatenate(quiet), t_used


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("model", help="SNN model file (.snn.h5) from snnconv convert")
    ap.add_argument("--data", help="dataset (.h5 classification split, or .npz one array per input); default: "
                                   "the model file's data attribute")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=64, help="first N samples (default 64)")
    ap.add_argument("--batch", type=int, default=64, help="samples per simulated batch (default 64)")
    ap.add_argument("--mode", choices=["strict", "burst"], default="strict")
    ap.add_argument("--steps", type=int, help="fixed T; default: doubled from 8 until every sample is quiescent")
    ap.add_argument("--max-steps", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--reps", type=int, default=0,
                    help="time R further runs of the whole simulation at the T found (without quiescence tracking)")
    ap.add_argument("--engine-outputs", help="the engine's `snnconv run --engine snn --save-outputs` file: compare")
    ap.add_argument("--engine-json", help="the engine's `snnconv run --engine snn --json` output: compare steps")
    ap.add_argument("--save-outputs", help="write the outputs here (.npz, one array per graph output)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    if a.limit < 1 or a.batch < 1 or a.threads < 1 or (a.steps is not None and a.steps < 1) or a.max_steps < 1:
        ap.error("--limit, --batch, --threads, --steps and --max-steps must be >= 1")
    torch.set_num_threads(a.threads)
    keep_freed_memory()
    try:
        model = Model(a.model)
        inputs = load_inputs(model, a.data, a.split, a.limit)
        with torch.no_grad():
            t0, c0 = time.perf_counter(), time.process_time()
            outs, quiet, steps = simulate(model, inputs, a.batch, a.steps, a.mode, a.max_steps)
            first = (time.perf_counter() - t0, time.process_time() - c0)
            times = []
            for _ in range(a.reps):
                t0, c0 = time.perf_counter(), time.process_time()
                simulate(model, inputs, a.batch, steps, a.mode, a.max_steps, track_quiescence=False)
                times.append((time.perf_counter() - t0, time.process_time() - c0))
    except Unsupported as e:
        print(f"torch_timestepped: unsupported: {e}", file=sys.stderr)
        return 3
    except DataError as e:
        print(f"torch_timestepped: error: {e}", file=sys.stderr)
        return 2
    except (ModelFileError, OSError, KeyError) as e:
        print(f"torch_timestepped: error: {e}", file=sys.stderr)
        return 1
    n = len(quiet)
    res = {"model": a.model, "mode": a.mode, "samples": n, "batch": a.batch, "threads": a.threads, "steps": steps,
           "steps_given": a.steps is not None,
           "quiescence": {"max": int(quiet.max()), "mean": float(quiet[quiet > 0].mean()) if (quiet > 0).any() else 0.0,
                          "not_quiescent": int((quiet == 0).sum())},
           "first_run": {"wall_s": first[0], "cpu_s": first[1]}}
    if times:
        res["reps"] = [{"wall_s": w, "cpu_s": c} for w, c in times]
        res["ms_per_sample"] = {"wall_min": 1e3 * min(w for w, _ in times) / n,
                                "cpu_min": 1e3 * min(c for _, c in times) / n}
    ok = True
    if a.engine_outputs:
        res["vs_engine"] = compare(outs, a.engine_outputs)
        ok = all(r["values_differing"] == 0 for r in res["vs_engine"].values())
    if a.engine_json:
        with open(a.engine_json) as f:
            ej = json.load(f)
        st = ej.get("steps", {})
        same = st.get("max") == res["quiescence"]["max"] and st.get("not_quiescent") == res["quiescence"]["not_quiescent"] \
            and abs(st.get("mean", -1) - res["quiescence"]["mean"]) < 1e-9
        res["vs_engine_steps"] = {"engine": st, "equal": bool(same)}
        ok = ok and same
    if a.save_outputs:
        np.savez(a.save_outputs, **outs)
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        q = res["quiescence"]
        print(f"{n} samples, {a.mode}, T = {steps}: quiescent after max {q['max']}, mean {q['mean']:.3f} steps, "
              f"{q['not_quiescent']} not quiescent; first run {first[0]:.3f} s")
        if times:
            print(f"torch, {a.threads} thread(s): {res['ms_per_sample']['wall_min']:.3f} ms/sample wall, "
                  f"{res['ms_per_sample']['cpu_min']:.3f} ms/sample CPU (best of {len(times)})")
        for name, r in res.get("vs_engine", {}).items():
            print(f"vs engine, output '{name}': {r['values_differing']} of {r['values']} values differ in samples "
                  f"{r['samples_differing']} of {n}, max |diff| {r['max_abs_diff']:.3g}")
        if "vs_engine_steps" in res:
            print(f"vs engine, steps: {'equal' if res['vs_engine_steps']['equal'] else 'DIFFERENT'} "
                  f"(engine {res['vs_engine_steps']['engine']})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
