#!/usr/bin/env bash
# Model-parallel `snnconv run --engine snn --partition K|chips` under mpirun (docs/scaling.md, "Model-parallel
# SNN"): one spiking network split over the ranks, events exchanged each step.
# - fashion_vit (3 images) and code_gpt (2 windows of 32 bytes), strict and burst, on 2 and 4 ranks (4
#   oversubscribed): --save-outputs byte-identical to the single process's, the --json (metric, steps, spikes,
#   synaptic ops, per-layer spikes, ledger totals) identical, and the whole ledger (every counter of every node
#   and of every step) identical to `--partition 1` on one process but for the link counters;
# - the exchange accounting: per rank, the bytes its communicator sent equal the ledger's link bytes of the nodes
#   it owns; every row's link bytes are its link events x the event's bytes on the link (4 B strict; 4 B plus a
#   1, 2 or 4 B magnitude burst); a cut exists at 2 and 4 ranks; the link energy per inference is the link bytes x
#   loihi's link_energy_per_byte / samples;
# - --partition chips (code_gpt on 2 Loihi chips over 2 ranks) gives the same outputs;
# - refusals with exit 2: a malformed value, a K other than the rank count (with and without mpirun), an engine
#   other than snn.
# Usage: mpi_partition.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
source "$(dirname "$0")/mpi_lib.sh"
# The JSON without wall-clock fields and without the partition report (compared on its own).
strip() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k, None) for k in ("seconds","snn_seconds","samples_per_s","partition")]; print(json.dumps(d, sort_keys=True))' "$1"; }

vit=$src/examples/fashion_vit/fashion_vit_relu.onnx
gpt=$src/examples/code_gpt/code_gpt.onnx

check() {  # name ranks args...: one process without --partition, --partition 1, then K ranks for each K
  local name=$1 ranks=$2; shift 2
  "$bin" run "$@" --threads 1 --quiet --json --save-outputs "$tmp/$name.plain.npz" >"$tmp/$name.plain.json" 2>"$tmp/err" \
    || { fail "$name single process: $(cat "$tmp/err")"; return; }
  "$bin" run "$@" --threads 1 --quiet --json --partition 1 --save-outputs "$tmp/$name.1.npz" >"$tmp/$name.1.json" 2>"$tmp/err" \
    || { fail "$name --partition 1: $(cat "$tmp/err")"; return; }
  cmp -s "$tmp/$name.plain.npz" "$tmp/$name.1.npz" || fail "$name: --partition 1 outputs differ from a plain run"
  for k in $ranks; do
    mpi -n "$k" "$bin" run "$@" --threads 1 --quiet --json --partition "$k" --save-outputs "$tmp/$name.$k.npz" \
      >"$tmp/$name.$k.json" 2>"$tmp/err" || { fail "$name on $k ranks: $(cat "$tmp/err")"; continue; }
    cmp -s "$tmp/$name.plain.npz" "$tmp/$name.$k.npz" && ok "$name: $k ranks write the single process's outputs byte for byte" \
      || fail "$name: outputs of $k ranks differ from one process"
    [[ "$(strip "$tmp/$name.plain.json")" == "$(strip "$tmp/$name.$k.json")" ]] \
      && ok "$name: $k ranks give the single process's metric, steps, spikes and ledger totals" \
      || { fail "$name: --json of $k ranks differs"; diff <(strip "$tmp/$name.plain.json" | tr ',' '\n') <(strip "$tmp/$name.$k.json" | tr ',' '\n') | head; }
    /usr/bin/python3 - "$tmp/$name.1.json" "$tmp/$name.$k.json" "$k" <<'PY' && ok "$name: $k ranks: whole ledger equal, exchanged bytes = ledger link bytes" || fail "$name: $k ranks ledger or exchange"
import json, sys
one = json.load(open(sys.argv[1]))["partition"]
part = json.load(open(sys.argv[2]))["partition"]
k = int(sys.argv[3])
LINK = ("link_events", "link_bytes", "rank")
def strip(rows):
    return [{f: v for f, v in r.items() if f not in LINK} for r in rows]
assert one["bytes_sent"] == 0 and one["ledger_link_events"] == 0, "one rank exchanges nothing"
assert strip(one["ledger"]) == strip(part["ledger"]), "per-node counters differ"
assert strip(one["ledger_by_step"]) == strip(part["ledger_by_step"]), "per-step counters differ"
assert part["ranks"] == k and len(part["bytes_sent_per_rank"]) == k
assert sum(part["units_per_rank"]) == sum(one["units_per_rank"])
assert part["ledger_link_events"] > 0 and part["cut_populations"], "no cut at %d ranks" % k
# What each rank's communicator sent is what the ledger counts on the rows it owns.
by_rank = [0] * k
for r in part["ledger"]:
    by_rank[r["rank"]] += r["link_bytes"]
    e, b = r["link_events"], r["link_bytes"]
    if e:
        assert b % e == 0 and b // e in (4, 5, 6, 8), (r["name"], e, b)
assert by_rank == part["bytes_sent_per_rank"], (by_rank, part["bytes_sent_per_rank"])
assert sum(by_rank) == part["bytes_sent"] == part["ledger_link_bytes"]
assert sum(part["link_bytes_by_step"]) == part["ledger_link_bytes"]
run = json.load(open(sys.argv[2]))
strict = run["mode"] == "strict"
# Priced as chip-to-chip traffic on the default profile (loihi: 162.5 pJ per byte), per inference.
assert part["link_profile"] == "loihi"
want = 162.5 * part["ledger_link_bytes"] / run["samples"]
assert abs(part["link_energy_pj_per_inference"] - want) <= 1e-9 * want, (part["link_energy_pj_per_inference"], want)
if strict:
    assert part["ledger_link_bytes"] == 4 * part["ledger_link_events"]
print("exchange", part["ledger_link_events"], "events", part["ledger_link_bytes"], "B", "per rank", part["bytes_sent_per_rank"])
PY
  done
}

check vit_strict "2 4" "$vit" --engine snn --limit 3 --calib 16
check vit_burst "2" "$vit" --engine snn --limit 3 --calib 16 --mode burst
check gpt_strict "2 4" "$gpt" --engine snn --limit 2 --seq 32 --calib 4
check gpt_burst "2" "$gpt" --engine snn --limit 2 --seq 32 --calib 4 --mode burst

# The neuromorphic mapping's chips: code_gpt at 32 bytes needs 152 Loihi cores, 2 chips of 128 (chip c on rank
# c mod 2): the same outputs as one process, units on both ranks, bytes sent = the ledger's link bytes.
mpi -n 2 "$bin" run "$gpt" --engine snn --limit 2 --seq 32 --calib 4 --threads 1 --quiet --json --partition chips \
  --profile loihi --save-outputs "$tmp/chips.npz" >"$tmp/chips.json" 2>"$tmp/err" || fail "chips: $(cat "$tmp/err")"
cmp -s "$tmp/gpt_strict.plain.npz" "$tmp/chips.npz" && ok "--partition chips (loihi, 2 chips on 2 ranks): the single process's outputs" \
  || fail "--partition chips outputs differ"
/usr/bin/python3 - "$tmp/chips.json" <<'PY' && ok "--partition chips: both ranks hold units, bytes sent = ledger link bytes" || fail "--partition chips placement"
import json, sys
p = json.load(open(sys.argv[1]))["partition"]
assert p["method"] == "chips" and min(p["units_per_rank"]) > 0, p["units_per_rank"]
assert p["bytes_sent"] == p["ledger_link_bytes"] > 0
PY

refused() {  # description, then the command: exit 2 and a message naming --partition
  local what=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [[ $rc == 2 ]] && grep -q -- "--partition" "$tmp/err" && ok "refused with exit 2: $what" \
    || fail "$what: exit $rc, $(cat "$tmp/err")"
}
refused "--partition 0" "$bin" run "$vit" --engine snn --limit 1 --partition 0
refused "--partition two" "$bin" run "$vit" --engine snn --limit 1 --partition two
refused "--partition 2x" "$bin" run "$vit" --engine snn --limit 1 --partition 2x
refused "--partition 2 without mpirun" "$bin" run "$vit" --engine snn --limit 1 --partition 2
refused "--partition 3 on 2 ranks" mpi -n 2 "$bin" run "$vit" --engine snn --limit 1 --partition 3
refused "--partition with --engine qann" "$bin" run "$vit" --engine qann --limit 1 --partition 1

summary
