#!/usr/bin/env python3
"""PNG plots of an snnconv report, drawn from report.json alone (docs/report-schema.md).

Usage:
  plot_report.py REPORT.json [--plot NAME=PATH ...]

Without --plot, every plot is written next to REPORT.json as NAME.png. Plots whose data is absent (the SNN
ones when the report has no `snn` section) are skipped. Names: energy_breakdown, energy_per_layer,
ann_vs_snn, accuracy_vs_step, firing_rates, sensitivity. Run with /usr/bin/python3 (matplotlib from Debian).
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COMPONENTS = ["compute", "sram", "dram", "noc", "static"]
COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"]
TOP_LAYERS = 10


def fitting(prices):
    return [p for p in prices if p.get("fits") and p.get("per_inference_pj")]


def save(fig, path):
    # The caller gives temporary names without a .png suffix: say the format.
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def energy_breakdown(r, path):
    groups = [("ANN", fitting(r["pricing"]["ann"]))]
    if r.get("snn"):
        groups.append(("SNN", fitting(r["pricing"]["snn"])))
    labels, rows = [], []
    for name, prices in groups:
        for p in prices:
            labels.append(f"{name} {p['profile']}")
            rows.append([p["per_inference_pj"][c] or 0.0 for c in COMPONENTS])
    if not rows:
        return False
    # Left: totals on a log axis (profiles differ by orders of magnitude); right: each component's share on a
    # linear axis (stacked segments on a log axis would misstate the shares).
    fig, (ax_total, ax_share) = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.8), sharey=True)
    totals = [sum(row) * 1e-6 for row in rows]
    ax_total.barh(labels, totals, color=COLOURS[0])
    ax_total.set_xscale("log")
    for y, t in enumerate(totals):
        ax_total.text(t, y, f" {t:,.1f}", va="center", fontsize=8)
    ax_total.set_xlabel("energy per inference (µJ, log scale)")
    ax_total.invert_yaxis()
    left = [0.0] * len(rows)
    for i, c in enumerate(COMPONENTS):
        shares = [100.0 * row[i] / sum(row) if sum(row) > 0 else 0.0 for row in rows]
        ax_share.barh(labels, shares, left=left, color=COLOURS[i], label=c)
        left = [a + b for a, b in zip(left, shares)]
    ax_share.set_xlim(0, 100)
    ax_share.set_xlabel("share of the energy (%)")
    ax_share.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32 if len(rows) < 6 else -0.15), ncol=5, fontsize=8)
    fig.suptitle(f"{r['model']['name']}: energy per inference by profile and component")
    save(fig, path)
    return True


def energy_per_layer(r, path):
    prices = [p for p in fitting(r["pricing"]["ann"])]
    if not prices:
        return False
    fig, axes = plt.subplots(len(prices), 1, figsize=(9, 2.6 * len(prices) + 0.5), squeeze=False)
    for ax, p in zip(axes[:, 0], prices):
        per = max(p["samples"], 1)
        layers = sorted(
            (lay for lay in p["layers"] if (lay["energy_pj"]["total"] or 0) > 0),
            key=lambda lay: -lay["energy_pj"]["total"],
        )[:TOP_LAYERS]
        names = [lay["name"][-36:] for lay in layers]
        left = [0.0] * len(layers)
        for i, c in enumerate(COMPONENTS[:4]):
            vals = [(lay["energy_pj"][c] or 0.0) / per * 1e-6 for lay in layers]
            ax.barh(names, vals, left=left, color=COLOURS[i], label=c)
            left = [a + b for a, b in zip(left, vals)]
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"ANN on {p['profile']}: top {len(layers)} layers (µJ per inference)", fontsize=9)
    axes[0, 0].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    save(fig, path)
    return True


def ann_vs_snn(r, path):
    comps = [c for c in r.get("comparisons", []) if c.get("ratio")]
    if not r.get("snn") or not comps:
        return False
    labels = [f"ANN {c['ann_profile']} / SNN {c['snn_profile']}" for c in comps]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(comps) + 1.5))
    ax.barh(labels, [c["ratio"] for c in comps], color=COLOURS[0])
    ax.axvline(1.0, color="#888", linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("ANN energy / SNN energy per inference (> 1: the SNN saves energy)")
    ax.invert_yaxis()
    save(fig, path)
    return True


def accuracy_vs_step(r, path):
    snn = r.get("snn")
    if not snn or not snn.get("metric_vs_step"):
        return False
    steps = [p["step"] for p in snn["metric_vs_step"]]
    vals = [p["value"] for p in snn["metric_vs_step"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, vals, marker="o", label="SNN read-out")
    q = snn["metric"].get("qann_value")
    if q is not None:
        ax.axhline(q, color="#888", linestyle="--", label="QANN")
    a = r["ann"].get("metric")
    if a:
        ax.axhline(a["value"], color=COLOURS[2], linestyle=":", label="ANN")
    ax.set_xlabel("timestep")
    ax.set_ylabel(snn["metric"]["name"])
    ax.legend()
    save(fig, path)
    return True


def cascade_front(r, path):
    """The early-read cascade: each stage alone, the Pareto front of the plans tried and the chosen plan,
    accuracy on the evaluation samples against energy per inference on the calibration profile."""
    c = r.get("cascade")
    if not c:
        return False
    res = c["result"]
    fig, ax = plt.subplots(figsize=(7, 4))
    fx = [f["evaluation"]["cost_pj"] * 1e-6 for f in res["front"]]
    fy = [100 * f["evaluation"]["accuracy"] for f in res["front"]]
    ax.plot(fx, fy, marker="o", linestyle="-", color=COLOURS[0], label="Pareto front (calibration), on evaluation")
    row = next((p for p in c["profiles"] if p["profile"] == c["calibration_profile"]), None)
    for k, st in enumerate(res["stages"]):
        name = f"step {st['steps']}" if st.get("steps") else "quiescence"
        x = (row["stage_energy_per_inference_pj"][k] if row else st["cost_pj"]) * 1e-6  # evaluation samples
        ax.scatter([x], [100 * st["evaluation_accuracy"]], color=COLOURS[1], zorder=3)
        ax.annotate(name, (x, 100 * st["evaluation_accuracy"]), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ev = res["chosen"]["evaluation"]
    ax.scatter([ev["cost_pj"] * 1e-6], [100 * ev["accuracy"]], marker="*", s=160, color=COLOURS[2], zorder=4,
               label=f"chosen (saving {100 * res['saving']:.1f}%)")
    ax.set_xlabel(f"energy per inference on {c['calibration_profile']} (µJ)")
    ax.set_ylabel("accuracy, evaluation samples (%)")
    ax.legend(fontsize=8)
    save(fig, path)
    return True


def firing_rates(r, path):
    snn = r.get("snn")
    if not snn or not snn.get("layers"):
        return False
    layers = snn["layers"]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(layers) + 1.5))
    ax.barh([lay["name"][-36:] for lay in layers], [lay["firing_rate"] or 0.0 for lay in layers], color=COLOURS[4])
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("firing rate (spikes per neuron per timestep)")
    save(fig, path)
    return True


def sensitivity(r, path):
    sens = r.get("sensitivity") or {}
    rows = sens.get("rows") or []
    factors = sens.get("factors") or []
    ratio = len(sens.get("subjects", [])) > 1
    scored = []
    for row in rows:
        base = row["base"]["ratio"] if ratio else row["base"]["ann"]["energy_per_inference_pj"]
        changes = []
        for p in row["points"]:
            v = p.get("ratio") if ratio else p["ann"]["energy_per_inference_pj"]
            ok = p["valid"] and v is not None and base and (ratio or p["ann"]["fits"])
            changes.append(100.0 * (v / base - 1.0) if ok else 0.0)
        impact = max((abs(c) for c in changes), default=0.0)
        if impact > 0:
            scored.append((impact, f"{row['profile']}: {row['constant']}", changes))
    if not scored:
        return False
    scored.sort(key=lambda s: -s[0])
    scored = scored[:15]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(scored) + 1.5))
    height = 0.8 / max(len(factors), 1)
    for i, f in enumerate(factors):
        ys = [k + i * height for k in range(len(scored))]
        ax.barh(ys, [s[2][i] for s in scored], height=height, color=COLOURS[i], label=f"x{f:g}")
    ax.set_yticks([k + 0.4 - height / 2 for k in range(len(scored))])
    ax.set_yticklabels([s[1] for s in scored], fontsize=7)
    ax.axvline(0, color="#888")
    ax.invert_yaxis()
    ax.set_xlabel(("ANN/SNN ratio" if ratio else "ANN energy per inference") + ": change in %")
    ax.legend(fontsize=8)
    save(fig, path)
    return True


PLOTS = {
    "energy_breakdown": energy_breakdown,
    "energy_per_layer": energy_per_layer,
    "ann_vs_snn": ann_vs_snn,
    "accuracy_vs_step": accuracy_vs_step,
    "firing_rates": firing_rates,
    "cascade_front": cascade_front,
    "sensitivity": sensitivity,
}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("--plot", action="append", default=[], metavar="NAME=PATH")
    args = ap.parse_args(argv)
    with open(args.report, encoding="utf-8") as f:
        r = json.load(f)
    if r.get("schema") != "snnconv-report":
        sys.exit(f"{args.report}: not an snnconv report (schema {r.get('schema')!r})")
    targets = {}
    for item in args.plot:
        name, _, path = item.partition("=")
        if name not in PLOTS or not path:
            sys.exit(f"--plot {item}: expected NAME=PATH with NAME in {', '.join(PLOTS)}")
        targets[name] = path
    if not targets:
        folder = os.path.dirname(os.path.abspath(args.report))
        targets = {n: os.path.join(folder, n + ".png") for n in PLOTS}
    made = [n for n, path in targets.items() if PLOTS[n](r, path)]
    print(f"made {len(made)} plots: {', '.join(made) if made else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
