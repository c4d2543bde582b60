#!/usr/bin/python3
"""Accuracy of the SNN read at step t (1 .. quiescence) from `snnconv run --engine snn --curve --json` files.

usage: tools/plot_spiking_curve.py OUT.png RUN_A3.json RUN_A4.json ...
Prints a Markdown table (selected steps) and writes the plot (matplotlib, Agg).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    out, runs = sys.argv[1], [json.load(open(p)) for p in sys.argv[2:]]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    longest = max(len(r["metric_by_step"]) for r in runs)
    marks = sorted({1, 2, 4, 8, 12, 16, 24, 32, 48, 64, longest} & set(range(1, longest + 1)))
    print("| read-out step | " + " | ".join(f"A{r['act_bits']} {r['mode']}" for r in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for t in marks:
        cells = []
        for r in runs:
            c = r["metric_by_step"]
            cells.append(f"{100 * (c[t - 1] if t <= len(c) else c[-1]):.1f}%")
        print(f"| {t} | " + " | ".join(cells) + " |")
    for r in runs:
        c = r["metric_by_step"]
        label = (f"A{r['act_bits']} (W{r['weight_bits']}), mean {r['steps']['mean']:.1f} steps to quiescence, "
                 f"final {100 * r['metric']['value']:.1f}%")
        ax.plot(range(1, len(c) + 1), [100 * v for v in c], label=label)
    ax.set_xlabel("read-out step")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{runs[0]['model'].split('/')[-1]}: SNN accuracy vs timesteps ({runs[0]['samples']} test images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
