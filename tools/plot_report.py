#!/usr/bin/env python3
"""PNG plots of an snnconv report, drawn from report.json alone (docs/report-schema.md).

Usage:
  plot_report.py REPORT.json [--plot NAME=PATH ...]

Without --plot, every plot is written next to REPORT.json as NAME.png. Plots whose data is absent (the SNN
ones when the report has no `snn` section) are skipped. Names: energy_breakdown, energy_per_layer,
ann_vs_snn, break_even, accuracy_vs_step, firing_rates, cascade_front, sensitivity. Each is one figure; the
HTML report shows each once. Labels are the full node and population names (never cut). Run with
/usr/bin/python3 (matplotlib from Debian).
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


def subjects(r):
    """(subject, label) of every priced model: the ANN baselines in order, then the SNN."""
    out = [(b["subject"], b["label"] + " ANN") for b in r.get("baselines") or []]
    if not out:
        out = [("ann", "ANN")]
    if r.get("snn"):
        out.append(("snn", "SNN"))
    return [(s, label) for s, label in out if s in r["pricing"]]


def block_of(name):
    """The block of a node path: "/blocks.0/attn/q" -> "blocks.0"; other names -> "(other)"."""
    parts = name.split("/")
    return parts[1] if len(parts) > 2 and name.startswith("/") else "(other)"


def si_energy(pj):
    """Energy with an SI prefix and 3 significant digits, as the report writes it (core/si_format.hpp)."""
    if pj is None or not math.isfinite(pj):
        return "n/a"
    if pj == 0:
        return "0"
    joules = pj * 1e-12
    prefixes = ["a", "f", "p", "n", "µ", "m", "", "k"]
    e3 = min(max(int(math.floor(math.log10(abs(joules)) / 3)) + 6, 0), len(prefixes) - 1)
    m = joules / 1000.0 ** (e3 - 6)
    decimals = max(0, 2 - int(math.floor(math.log10(abs(m)))))
    m = round(m, decimals)
    if abs(m) >= 1000 and e3 < len(prefixes) - 1:  # 999.7 rounds to 1000: one prefix up
        e3 += 1
        m /= 1000.0
        decimals = max(0, 2 - int(math.floor(math.log10(abs(m)))))
    return f"{m:.{decimals}f} {prefixes[e3]}J"


def population_label(name):
    return name[1:] if name.startswith("/") else name


def save(fig, path):
    # The caller gives temporary names without a .png suffix: say the format.
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def energy_breakdown(r, path):
    groups = [(label, fitting(r["pricing"][subject])) for subject, label in subjects(r)]
    labels, rows = [], []
    for name, prices in groups:
        for p in prices:
            labels.append(f"{name} {p['profile']}")
            rows.append([p["per_inference_pj"][c] or 0.0 for c in COMPONENTS])
    if not rows:
        return False
    # Left: totals on a log axis (profiles differ by orders of magnitude); right: each component's share on a
    # linear axis (stacked segments on a log axis would misstate the shares).
    fig, (ax_total, ax_share) = plt.subplots(1, 2, figsize=(12, 0.35 * len(rows) + 1.8), sharey=True)
    totals = [sum(row) * 1e-6 for row in rows]
    ax_total.barh(labels, totals, color=COLOURS[0])
    ax_total.set_xscale("log")
    for y, t in enumerate(totals):
        ax_total.text(t, y, f" {t:,.1f}", va="center", fontsize=7)
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
    panels = [("fp32 ANN", p) for p in fitting(r["pricing"]["ann"]) if p["kind"] != "compute-only"]
    if r.get("snn"):
        panels += [("SNN", p) for p in fitting(r["pricing"]["snn"]) if p["kind"] != "compute-only"]
    if not panels:
        return False
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.7 * len(panels) + 0.5), squeeze=False)
    for ax, (who, p) in zip(axes[:, 0], panels):
        per = max(p["samples"], 1)
        layers = sorted(
            (lay for lay in p["layers"] if (lay["energy_pj"]["total"] or 0) > 0),
            key=lambda lay: -lay["energy_pj"]["total"],
        )[:TOP_LAYERS]
        names = [population_label(lay["name"]) for lay in layers]
        ys = list(range(len(layers)))
        left = [0.0] * len(layers)
        for i, c in enumerate(COMPONENTS[:4]):
            vals = [(lay["energy_pj"][c] or 0.0) / per * 1e-6 for lay in layers]
            ax.barh(ys, vals, left=left, color=COLOURS[i], label=c)
            left = [a + b for a, b in zip(left, vals)]
        ax.set_yticks(ys)
        ax.set_yticklabels(names)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"{who} on {p['profile']}: top {len(layers)} layers (µJ per inference)", fontsize=9)
    axes[0, 0].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    save(fig, path)
    return True


def ann_vs_snn(r, path):
    """Energy per inference of every ANN baseline and the SNN, grouped by profile (log scale)."""
    subs = subjects(r)
    if not r.get("snn") or len(subs) < 2:
        return False
    profiles = [p["profile"] for p in r["pricing"]["ann"]]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(profiles) * len(subs) + 1.8))
    height = 0.8 / len(subs)
    for k, (subject, label) in enumerate(subs):
        vals = []
        for p in r["pricing"][subject]:
            e = p["per_inference_pj"]["total"] if p.get("fits") and p.get("per_inference_pj") else None
            vals.append(e * 1e-6 if e else 0.0)
        ys = [i + k * height for i in range(len(profiles))]
        ax.barh(ys, vals, height=height, color=COLOURS[k % len(COLOURS)], label=label)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(profiles))])
    ax.set_yticklabels(profiles)
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (µJ, log scale; a missing bar: does not fit)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    save(fig, path)
    return True


def break_even(r, path):
    """Per profile: the (firing rate, steps) plane with the line where the SNN costs what each ANN baseline does
    (the linear model of docs/energy-model.md) and the run's measured point; below a line the SNN is cheaper."""
    findings = [f for f in (r.get("findings") or {}).get("profiles", []) if f.get("break_even")]
    if not findings:
        return False
    labels = dict(subjects(r))
    cols = min(3, len(findings))
    rows = (len(findings) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat[len(findings):]:
        ax.axis("off")
    for ax, f in zip(axes.flat, findings):
        be = f["break_even"]
        r0, t0 = be["rate"], be["steps"]
        a, b, e0 = be["per_rate_pj"], be["per_step_pj"], be["fixed_pj"]
        xs_max, ys_max = 2.2 * r0, 2.2 * t0
        for row in be["baselines"]:
            if row.get("formula_rate") is not None:
                xs_max = max(xs_max, 1.15 * row["formula_rate"])
        for k, row in enumerate(be["baselines"]):
            colour = COLOURS[k % len(COLOURS)]
            e_ann = row["ann_pj"]
            label = f"{labels.get(row['baseline'], row['baseline'])} ({si_energy(e_ann)})"
            if b > 0 and a > 0:
                # T = (E_ANN - E_fixed - a r) / b, from r = 0 to where T reaches 0
                x_end = max((e_ann - e0) / a, 0.0)
                ax.plot([0, x_end], [(e_ann - e0) / b, 0], color=colour, label=label)
            elif a > 0:  # steps cost nothing: a vertical line at r*
                x = (e_ann - e0) / a
                if x > 0:
                    ax.axvline(x, color=colour, label=label)
                else:
                    ax.plot([], [], color=colour, label=label + ": never")
            else:
                ax.plot([], [], color=colour, label=label)
        ax.scatter([r0], [t0], marker="*", s=140, color="black", zorder=5,
                   label=f"measured: {r0:.2f} spikes/neuron, {t0:.1f} steps")
        ax.set_xlim(0, xs_max)
        ax.set_ylim(0, ys_max)
        ax.set_xlabel("firing rate (spikes per neuron per inference)", fontsize=8)
        ax.set_ylabel("timesteps", fontsize=8)
        ax.set_title(f"{f['snn_profile']}: the SNN is cheaper below a line", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6.5, loc="upper right")
    fig.tight_layout()
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
    """One bar per spiking population with its full name, coloured by block; returns the axes' bar count and
    labels through the figure so tests can check them (firing_rates_figure)."""
    fig = firing_rates_figure(r)
    if fig is None:
        return False
    save(fig, path)
    return True


def firing_rates_figure(r):
    snn = r.get("snn")
    if not snn or not snn.get("layers"):
        return None
    layers = snn["layers"]
    names = [population_label(lay["name"]) for lay in layers]
    blocks = []
    for lay in layers:
        b = block_of(lay["name"])
        if b not in blocks:
            blocks.append(b)
    colour = {b: COLOURS[i % len(COLOURS)] for i, b in enumerate(blocks)}
    ys = list(range(len(layers)))
    fig, ax = plt.subplots(figsize=(10, 0.2 * len(layers) + 1.5))
    for b in blocks:
        idx = [i for i, lay in enumerate(layers) if block_of(lay["name"]) == b]
        ax.barh([ys[i] for i in idx], [layers[i]["firing_rate"] or 0.0 for i in idx], color=colour[b], label=b)
    ax.set_yticks(ys)
    ax.set_yticklabels(names)
    ax.set_ylim(len(layers) - 0.5, -0.5)
    ax.tick_params(axis="y", labelsize=6.5)
    ax.set_xlabel("firing rate (spikes per neuron per timestep)")
    ax.legend(fontsize=7, title="block", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def sensitivity(r, path):
    sens = r.get("sensitivity") or {}
    rows = sens.get("rows") or []
    factors = sens.get("factors") or []
    ratio = "snn" in sens.get("subjects", [])

    def figure(at):
        """SNN / fp32 ANN energy at a point (with an SNN), else the ANN's energy; None when not priceable."""
        a = at["ann"]
        if not a["fits"] or not a["energy_per_inference_pj"]:
            return None
        if not ratio:
            return a["energy_per_inference_pj"]
        n = at["snn"]
        return n["energy_per_inference_pj"] / a["energy_per_inference_pj"] if n["fits"] else None

    scored = []
    for row in rows:
        base = figure(row["base"])
        changes = []
        for p in row["points"]:
            v = figure(p) if p["valid"] else None
            changes.append(100.0 * (v / base - 1.0) if v is not None and base else 0.0)
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
    ax.set_xlabel(("SNN/fp32 ANN energy ratio" if ratio else "ANN energy per inference") + ": change in %")
    ax.legend(fontsize=8)
    save(fig, path)
    return True


PLOTS = {
    "energy_breakdown": energy_breakdown,
    "energy_per_layer": energy_per_layer,
    "ann_vs_snn": ann_vs_snn,
    "break_even": break_even,
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
