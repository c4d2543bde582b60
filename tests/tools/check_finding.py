#!/usr/bin/env python3
"""Checks the finding of an snnconv report (issue 17, acceptance 1): report.md's first paragraph has one line per
priced profile that says which side is cheaper, by how much, at what accuracy and names the two largest causes,
with the figures of report.json's `findings`; the terminal (the captured stdout of the run) printed the same lines.

Usage: check_finding.py REPORT_DIR STDOUT_FILE     (exit 0: all checks pass; prints what failed)
"""
import json
import math
import os
import re
import sys


def ratio_text(r):
    """core/si_format.cpp format_ratio."""
    a = abs(r)
    if a >= 100:
        return f"{r:.0f}x"
    if a >= 10:
        return f"{r:.1f}x"
    if a >= 1:
        return f"{r:.2f}x"
    return f"{r:.{max(2, 2 - math.floor(math.log10(a)))}f}x"


def metric_text(metric, v):
    return f"{100 * v:.2f}%" if metric in ("accuracy", "exact_match") else f"{v:.4f}"


def main(folder, stdout_path):
    with open(os.path.join(folder, "report.json"), encoding="utf-8") as f:
        r = json.load(f)
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    terminal = open(stdout_path, encoding="utf-8").read().splitlines()
    fails = []
    # The first paragraph: after the title, up to the first blank line; lines end with a hard break "\".
    body = md.split("\n\n")
    if not body[0].startswith("# ") or len(body) < 2:
        print("report.md does not start with a title and a paragraph")
        return 1
    lines = [line.rstrip("\\") for line in body[1].split("\n")]
    findings = r["findings"]
    metric = findings["metric"]
    expected = [p for p in findings["profiles"]]
    if findings.get("across"):
        expected.append(findings["across"])
    if r["snn"] is None:
        expected_lines = len(expected) + 1  # the reason, once
    else:
        expected_lines = len(expected)
    if len(lines) != expected_lines:
        fails.append(f"first paragraph has {len(lines)} lines for {expected_lines} expected")
    profiles = {p["profile"] for p in r["pricing"]["ann"]}
    for p in profiles:
        lead = "Under the compute-only convention" if p == "compute-only" else f"On {p} "
        if not any(line.startswith(lead) for line in lines):
            fails.append(f"no line for profile {p}")
    for f in expected:
        kind = f["kind"]
        lead = ("Under the compute-only convention" if kind == "compute-only"
                else "Across hardware" if kind == "across" else f"On {f['snn_profile']} ")
        line = next((x for x in lines if x.startswith(lead)), None)
        if line is None:
            fails.append(f"no line for {lead!r}")
            continue
        if line not in terminal:
            fails.append(f"the terminal did not print: {line}")
        if not f["compared"]:
            continue
        ratio = f["ratio"]
        if ratio > 1.005:
            want = f"the ANN is cheaper: the SNN uses {ratio_text(ratio)} the energy"
        elif ratio < 0.995:
            want = f"the SNN is cheaper: the "
            if f"uses {ratio_text(1 / ratio)} the energy of the SNN" not in line:
                fails.append(f"{lead}: the ratio {ratio_text(1 / ratio)} is not in: {line}")
        else:
            want = "cost the same"
        if want not in line:
            fails.append(f"{lead}: expected {want!r} in: {line}")
        for v in (f["snn_value"], f["ann_value"]):
            if v is not None and metric and metric_text(metric, v) not in line:
                fails.append(f"{lead}: accuracy {metric_text(metric, v)} missing in: {line}")
        m = re.search(r"Largest causes?: (.*)\.$", line)
        sign = 1 if ratio >= 1 else -1
        moving = [c for c in f["causes"] if sign * (c["snn_pj"] - c["ann_pj"]) > 0]
        want_causes = min(2, len(moving))
        got = len(m.group(1).split("; ")) if m else 0
        if got != want_causes:
            fails.append(f"{lead}: {got} causes named, {want_causes} expected: {line}")
    # The flagged constants that move a comparison by more than the threshold: listed in the summary and on the
    # terminal, one line each ("loihi mac_energy = 23.6 pJ (assumption): ...").
    summary = md.split('<a id="summary"></a>', 1)[-1].split("<a id=", 1)[0]
    for f in findings["profiles"]:
        for a in f["assumptions"]:
            head = f"{a['profile']} {a['constant']} = "
            if not any(x.startswith(head) and f"({a['status']})" in x for x in summary.split("\n")):
                fails.append(f"report.md's summary does not list {head}...")
            if not any(x.strip().startswith(head) for x in terminal):
                fails.append(f"the terminal does not list {head}...")
    # Per-inference figures only: no raw total (an integer of 7 digits or more) in the notes.
    notes = md.split('<a id="notes"></a>', 1)[-1]
    for x in notes.split("\n"):
        if x.startswith("- ") and re.search(r"(?<![.\d])\d{7,}(?![.\d])", x):
            fails.append(f"a raw total in the notes: {x}")
    for fail in fails:
        print("FAIL:", fail)
    print(f"{len(lines)} finding lines checked against report.json and the terminal")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
