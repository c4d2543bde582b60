#!/usr/bin/env python3
"""The report's cascade section is present and consistent (tests/tools/report.sh front_door).

Usage: check_cascade_section.py report.json report.md
Checks: saving = 1 - cascade / quiescence energy (recomputed, every profile that fits and the calibration one);
reached/escalated/answered fractions in [0, 1], answered summing to 1 and each stage's escalations feeding the
next stage of the plan; stage energies ascending; the quiescence stage's accuracy over both parts equal to the
SNN's accuracy; the Pareto front ordered by cost with the chosen plan on it; the Markdown shows the section; the same
for `user_cascade` (--cascade-stages) when present.
"""
import json
import sys


def close(a, b, rel=1e-9):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def main(argv):
    r = json.load(open(argv[1]))
    md = open(argv[2], encoding="utf-8").read()
    fails = []
    c = r.get("cascade")
    if not isinstance(c, dict):
        print("FAIL: no cascade object")
        return 1
    res = c["result"]
    ev = res["chosen"]["evaluation"]
    stages = res["stages"]
    largest = res["largest"]
    if not close(res["saving"], 1 - ev["cost_pj"] / largest["cost_pj"]):
        fails.append(f"saving {res['saving']} != 1 - {ev['cost_pj']} / {largest['cost_pj']}")
    for key in ("reached", "escalated", "answered"):
        if len(ev[key]) != len(stages) or any(not 0 <= x <= 1 for x in ev[key]):
            fails.append(f"{key} {ev[key]} not in [0, 1] per stage")
    if not close(sum(ev["answered"]), 1.0):
        fails.append(f"answered sums to {sum(ev['answered'])}")
    plan = [k - 1 for k in res["chosen"]["plan"]["stages"]]
    for a, b in zip(plan, plan[1:]):
        if not close(ev["reached"][a] * ev["escalated"][a], ev["reached"][b]):
            fails.append(f"stage {b + 1} reached {ev['reached'][b]} != escalations of stage {a + 1}")
    costs = [s["cost_pj"] for s in stages]
    if costs != sorted(costs):
        fails.append(f"stage energies not ascending: {costs}")
    n_cal, n_ev = res["calibration_samples"], res["evaluation_samples"]
    q = stages[-1]
    snn_acc = (q["calibration_accuracy"] * n_cal + q["evaluation_accuracy"] * n_ev) / (n_cal + n_ev)
    if n_cal + n_ev != r["snn"]["samples"] or not close(snn_acc, r["snn"]["metric"]["snn_value"]):
        fails.append(f"quiescence accuracy {snn_acc} over {n_cal}+{n_ev} != SNN {r['snn']['metric']}")
    if not close(largest["accuracy"], q["evaluation_accuracy"]):
        fails.append("largest accuracy is not the quiescence stage's on the evaluation samples")
    front = [f["calibration"]["cost_pj"] for f in res["front"]]
    if front != sorted(front) or res["chosen"]["plan"] not in [f["plan"] for f in res["front"]]:
        fails.append("front not ordered by cost or without the chosen plan")
    found_cal = False
    for p in c["profiles"]:
        if not p["fits"]:
            continue
        if not close(p["saving"], 1 - p["cascade_energy_per_inference_pj"] / p["quiescence_energy_per_inference_pj"]):
            fails.append(f"{p['profile']}: saving {p['saving']} not recomputed")
        if p["cascade_energy_per_inference_pj"] > p["quiescence_energy_per_inference_pj"] * (1 + 1e-12):
            fails.append(f"{p['profile']}: the cascade costs more than quiescence")
        if p["profile"] == c["calibration_profile"]:
            found_cal = True
            if not close(p["cascade_energy_per_inference_pj"], ev["cost_pj"]) or not close(p["saving"], res["saving"]):
                fails.append("the calibration profile's row differs from the result")
    if not found_cal:
        fails.append("no row for the calibration profile")
    if "## Cascade" not in md or "Saving" not in md:
        fails.append("report.md has no cascade section")
    u = r.get("user_cascade")
    if isinstance(u, dict):  # --cascade-stages
        uev = u["chosen"]["evaluation"]
        if not close(u["saving"], 1 - uev["cost_pj"] / u["largest"]["cost_pj"]):
            fails.append("user cascade: saving not recomputed")
        for key in ("reached", "escalated", "answered"):
            if len(uev[key]) != len(u["stages"]) or any(not 0 <= x <= 1 for x in uev[key]):
                fails.append(f"user cascade: {key} {uev[key]} not in [0, 1] per stage")
        if not close(sum(uev["answered"]), 1.0):
            fails.append("user cascade: answered does not sum to 1")
        if "## Cascade of the given stages" not in md:
            fails.append("report.md has no user cascade section")
        print(f"user cascade: saving {100 * u['saving']:.2f}%, {u['metric']} {100 * uev['accuracy']:.2f}% vs "
              f"{100 * u['largest']['accuracy']:.2f}%")
    for f in fails:
        print("FAIL:", f)
    if not fails:
        print(f"cascade: saving {100 * res['saving']:.2f}% on {c['calibration_profile']}, accuracy "
              f"{100 * ev['accuracy']:.2f}% vs {100 * largest['accuracy']:.2f}%, escalated {ev['escalated']}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
