#!/usr/bin/env python3
"""Recomputes every priced energy of an snnconv report.json from its per-layer ledger counts and the hardware
profile files (read from disk, not from the report), with the formulas of docs/energy-model.md written out
again here, and compares them with the report's figures.

Usage: recompute_energy.py REPORT.json PROFILES_DIR     (exit 0: every figure agrees to 1e-9 relative)
"""
import json
import math
import os
import sys

REL = 1e-9


def close(a, b):
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-6)


def constants(path):
    with open(path, encoding="utf-8") as f:
        p = json.load(f)
    return {k: c["value"] for k, c in p["constants"].items()}


def packets(c):
    return c["burst_events"] if c["burst_events"] > 0 else c["spikes_pos"] + c["spikes_neg"]


def compute_only(c, k):
    return k["convention_mac_energy"] * c["macs"] + k["convention_ac_energy"] * c["acs"]


def neuromorphic(c, k):
    return (k["synaptic_op_energy"] * c["acs"] + k["mac_energy"] * c["macs"] + k["neuron_update_energy"] * c["neuron_updates"]
            + k["dense_op_energy"] * c["dense_ops"] + k["nonlinear_op_energy"] * c["nonlinear_ops"])


def dense(c, k):
    mac = 0.0
    for w, n in c["macs_by_width"].items():
        w = int(w)
        mac += n * (k["mac_int8_energy"] if w <= 8 else k["mac_fp16_energy"] if w <= 16 else k["mac_fp32_energy"])
    return (mac + k["ac_energy"] * c["acs"] + k["dense_op_energy"] * (c["dense_ops"] + c["neuron_updates"])
            + k["nonlinear_op_energy"] * c["nonlinear_ops"])


def check_price(price, ledger, k, fails, label):
    if not price["fits"]:
        if price["total_pj"]["total"] != 0:
            fails.append(f"{label}: does not fit but has energy")
        return 0
    kind = price["kind"]
    layers = ledger["layers"]
    sums = {"compute": 0.0, "sram": 0.0, "dram": 0.0, "noc": 0.0}
    for i, row in enumerate(price["layers"]):
        e = row["energy_pj"]
        if i < len(layers):
            c = layers[i]
            if row["name"] != c["name"]:
                fails.append(f"{label}: layer {i} is {row['name']!r} in pricing and {c['name']!r} in the ledger")
            want = {"compute-only": compute_only, "neuromorphic": neuromorphic, "dense": dense}[kind](c, k)
        else:
            want = 0.0  # an appended spill row: DRAM only
        got = {"compute": want, "sram": 0.0, "dram": 0.0, "noc": 0.0}
        if kind == "neuromorphic":
            spikes = packets(layers[i]) if i < len(layers) else 0
            link = layers[i].get("link_bytes", 0) if i < len(layers) else 0  # model-parallel runs only
            got["noc"] = (k["spike_energy"] * spikes + k["hop_energy_x"] * row["hops_x"] + k["hop_energy_y"] * row["hops_y"]
                          + k["link_energy_per_byte"] * link)
            got["dram"] = k["dram_energy_per_byte"] * row["dram_bytes"]
        elif kind == "dense":
            got["sram"] = k["sram_energy_per_byte"] * row["sram_bytes"]
            got["dram"] = k["dram_energy_per_byte"] * row["dram_bytes"]
        for comp, v in got.items():
            if not close(v, e[comp]):
                fails.append(f"{label}: layer {row['name']} {comp}: recomputed {v!r}, report {e[comp]!r}")
            sums[comp] += v
    static = 0.0 if kind == "compute-only" else k["static_power"] * price["latency_s"] * 1e12
    total = sum(sums.values()) + static
    t = price["total_pj"]
    for comp, v in list(sums.items()) + [("static", static), ("total", total)]:
        if not close(v, t[comp]):
            fails.append(f"{label}: total {comp}: recomputed {v!r}, report {t[comp]!r}")
    if price["samples"] > 0 and not close(total / price["samples"], price["per_inference_pj"]["total"]):
        fails.append(f"{label}: per inference: recomputed {total / price['samples']!r}, "
                     f"report {price['per_inference_pj']['total']!r}")
    return 1


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    with open(argv[0], encoding="utf-8") as f:
        r = json.load(f)
    profiles_dir = argv[1]
    convention = constants(os.path.join(profiles_dir, "generic45.json"))
    fails, checked = [], 0
    ledgers = {"ann": r["ann"]["ledger"], "snn": (r["snn"] or {}).get("ledger")}
    for b in r.get("baselines") or []:  # the quantized dense baselines carry their own ledgers
        if b["ledger"] is not None:
            ledgers[b["subject"]] = b["ledger"]
    for subject, prices in r["pricing"].items():
        ledger = ledgers.get(subject)
        if prices and ledger is None:
            fails.append(f"{subject}: priced without a ledger in the report")
            continue
        for price in prices:
            if price["kind"] == "compute-only":
                k = convention
            else:
                files = [p["file"] for p in r["profiles"] if p["name"] == price["profile"]]
                k = constants(files[0])
            checked += check_price(price, ledger, k, fails, f"{subject} on {price['profile']}")
            if price["fits"]:
                print(f"{subject:<8} on {price['profile']:<14} {price['total_pj']['total'] / max(price['samples'], 1):.6g} pJ "
                      f"per inference: recomputed")
    if fails:
        print(f"{len(fails)} disagreements:")
        for f in fails[:40]:
            print("  " + f)
        return 1
    if checked == 0:
        print("nothing was priced")
        return 1
    print(f"all {checked} priced totals agree with the formulas to {REL} relative")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
