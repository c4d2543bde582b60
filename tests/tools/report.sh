#!/usr/bin/env bash
# The energy report end to end (docs/report-schema.md, docs/energy-model.md).
# Usage: report.sh PATH/TO/snnconv MODE
#   front_door  `snnconv MODEL.onnx --out DIR`: the three report files and the plots, report.json valid against
#               tools/report.schema.json, every priced total recomputed from the counts and the profile files,
#               the HTML rendered by headless Chromium with the expected tables and no script error
#   fit         a chip too small for the model is reported as not fitting with the shortfall (JSON, Markdown,
#               HTML, terminal); bad profiles are refused naming the key; an unknown profile name is bad usage
#   compare     `snnconv compare A B`: one comparison report, each embedded report valid
#   speculative `--draft` on code_gpt: the speculative section, identical greedy output, figures consistent
set -uo pipefail
bin=$1
mode=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
model=$src/examples/fashion_vit/fashion_vit_relu.onnx

case $mode in
front_door)
  out=$tmp/rep
  start=$(date +%s)
  # With a user cascade (--cascade-stages) of the W8A4 QANN then the ANN on the dense accelerator; the early-read
  # cascade then uses the same max_prob self-test (its default, temporal, is covered by test_report.cpp).
  "$bin" "$model" --out "$out" --samples 200 --snn-samples 40 --cascade-self-test max_prob \
    --cascade-stages "$model:engine=qann:act=4:hw=systolic_int8,$model:hw=systolic_int8" >"$tmp/stdout" 2>"$tmp/stderr" || { fail "exit $?"; cat "$tmp/stderr"; exit 1; }
  ok "snnconv MODEL.onnx --out DIR in $(($(date +%s) - start)) s"
  for f in report.json report.md report.html energy_breakdown.png energy_per_layer.png sensitivity.png cascade_front.png \
    break_even.png firing_rates.png; do
    [[ -s $out/$f ]] && ok "$f written" || fail "$f missing"
  done
  left=$(find "$out" -name '.*tmp-*')
  [[ -z $left ]] && ok "no temporary left" || fail "temporaries left: $left"
  grep -q "plots skipped\|plots failed" "$tmp/stderr" && fail "plot warning: $(cat "$tmp/stderr")"
  $py "$src/tools/validate_json.py" "$src/tools/report.schema.json" "$out/report.json" && ok "schema" || fail "schema"
  $py "$src/tools/validate_json.py" "$src/tools/report.schema.json" "$out/report.json" --builtin >/dev/null \
    && ok "schema (builtin validator)" || fail "schema (builtin validator)"
  # The validator catches a broken report (it is not vacuous).
  $py -c "import json,sys; r=json.load(open(sys.argv[1])); r['pricing']['ann'][0]['total_pj'].pop('dram'); r['stages'][0]['status']='maybe'; json.dump(r, open(sys.argv[2],'w'))" \
    "$out/report.json" "$tmp/broken.json"
  if $py "$src/tools/validate_json.py" "$src/tools/report.schema.json" "$tmp/broken.json" >"$tmp/broken.txt"; then
    fail "a broken report validates"
  else
    grep -q "dram" "$tmp/broken.txt" && grep -q "maybe" "$tmp/broken.txt" && ok "a broken report is refused" \
      || fail "broken report errors: $(cat "$tmp/broken.txt")"
  fi
  $py "$src/tests/tools/recompute_energy.py" "$out/report.json" "$src/neuromorphic_hw/profiles" && ok "energies recomputed" \
    || fail "recomputed energies differ"
  $py "$src/tests/tools/check_cascade_section.py" "$out/report.json" "$out/report.md" && ok "cascade section consistent" \
    || fail "cascade section"
  # The finding: report.md's first paragraph has a line per profile (which side is cheaper, by how much, at what
  # accuracy, the two largest causes) with report.json's figures, and the terminal printed the same lines.
  $py "$src/tests/tools/check_finding.py" "$out" "$tmp/stdout" && ok "finding in report.md and on the terminal" \
    || fail "finding"
  # One number style: no exponent anywhere a person reads a figure.
  if grep -nE '[0-9]e\+[0-9]' "$out/report.md" "$tmp/stdout"; then fail "an exponent in report.md or on the terminal"; \
    else ok "SI prefixes, no exponent (report.md, terminal)"; fi
  # The firing-rate plot: one bar per population, every label unique and whole.
  $py "$src/tests/tools/check_plots.py" "$out/report.json" && ok "firing-rate plot: one bar per population" \
    || fail "firing-rate plot"
  # The plot script alone, from the JSON only.
  cp "$out/report.json" "$tmp/alone.json"
  $py "$src/tools/plot_report.py" "$tmp/alone.json" >/dev/null && [[ -s $tmp/energy_breakdown.png ]] \
    && ok "plot_report.py standalone" || fail "plot_report.py standalone"
  chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
  if [[ -z $chrome ]]; then
    fail "chromium is not installed (scripts/install-deps.sh installs it): the HTML rendering check cannot run"
  else
    timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/chrome-profile" --enable-logging=stderr --v=0 \
      --dump-dom "file://$out/report.html" >"$tmp/dom.html" 2>"$tmp/chrome.txt"
    rc=$?
    [[ $rc -eq 0 && -s $tmp/dom.html ]] && ok "chromium rendered report.html" || fail "chromium exit $rc"
    if grep -E "CONSOLE|Uncaught" "$tmp/chrome.txt"; then fail "script or console errors"; else ok "no console errors"; fi
    $py - "$tmp/dom.html" "$out" <<'EOF' && ok "DOM has the expected tables and each chart once" || fail "DOM check"
import os, sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.ids = set(); self.imgs = []; self.tables = 0; self.rows = {}; self.cur = None; self.scripts = 0
        self.figures = 0; self.svgs = 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a: self.ids.add(a["id"])
        if tag == "table": self.tables += 1; self.cur = a.get("id"); self.rows[self.cur] = 0
        if tag == "tr" and self.cur: self.rows[self.cur] += 1
        if tag == "img": self.imgs.append(a.get("src"))
        if tag == "script": self.scripts += 1
        if tag == "figure": self.figures += 1
        if tag == "svg": self.svgs += 1
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read())
want = ["summary-table", "stages", "energy-ann", "mapping", "bytes", "ledger-bytes", "sensitivity",
        "layers-ann-loihi", "layers-ann-systolic_int8", "profile-loihi", "baselines", "ops", "break-even",
        "break-even-loihi", "break-even-systolic_int8", "blocks", "energy-ann_w8a8", "energy-ann_qann", "energy-snn",
        "summary", "energy", "ann-vs-snn", "snn", "cascade", "cascade-stages", "cascade-profiles", "cascade-front",
        "user-cascade", "user-cascade-stages", "user-cascade-front"]
missing = [w for w in want if w not in p.ids]
bad = missing or p.scripts or not p.imgs or any(not os.path.isfile(os.path.join(sys.argv[2], s)) for s in p.imgs)
# summary table: a header row + compute-only + 4 profiles; baselines: header + fp32, W8A8, W8A4, SNN
bad = bad or p.rows.get("summary-table", 0) != 6 or p.rows.get("baselines", 0) != 5
# Each chart once: one figure per PNG made, no image twice, no chart drawn a second way (inline SVG).
pngs = sorted(f for f in os.listdir(sys.argv[2]) if f.endswith(".png"))
once = p.figures == len(pngs) == len(set(p.imgs)) == len(p.imgs) and sorted(p.imgs) == pngs and p.svgs == 0
bad = bad or not once
print(f"tables {p.tables}, figures {p.figures}, images {p.imgs}, PNG files {len(pngs)}, inline svg {p.svgs}, "
      f"missing ids {missing}, summary rows {p.rows.get('summary-table')}")
sys.exit(1 if bad else 0)
EOF
  fi
  ;;
fit)
  # A Loihi cut down to 2 cores cannot hold the model's neurons.
  $py - "$src/neuromorphic_hw/profiles/loihi.json" "$tmp/tiny.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["name"] = "tiny_loihi"
for k, v in {"cores": 2, "mesh_x": 1, "mesh_y": 1, "cores_per_tile": 2}.items():
    p["constants"][k]["value"] = v
json.dump(p, open(sys.argv[2], "w"), indent=1)
EOF
  out=$tmp/fit
  "$bin" "$model" --out "$out" --samples 20 --snn-samples 5 --calib 16 --profile "loihi,$tmp/tiny.json" --no-plots --quiet >"$tmp/stdout" 2>&1 \
    || { fail "exit $?"; cat "$tmp/stdout"; }
  grep -q "tiny_loihi .*does not fit.*short by" "$tmp/stdout" && ok "terminal says it does not fit" \
    || fail "terminal: $(cat "$tmp/stdout")"
  $py - "$out/report.json" <<'EOF' && ok "report.json: fits false with the shortfall, no energy" || fail "report.json fit"
import json, sys
r = json.load(open(sys.argv[1]))
p = [p for p in r["pricing"]["ann"] if p["profile"] == "tiny_loihi"][0]
m = p["mapping"]
print(p["shortfall"])
ok = (not p["fits"] and "short by" in p["shortfall"] and m["shortfall_cores"] > 0 and m["shortfall_neurons"] > 0
      and p["total_pj"]["total"] == 0 and [q for q in r["pricing"]["ann"] if q["profile"] == "loihi"][0]["fits"])
sys.exit(0 if ok else 1)
EOF
  grep -q "does not fit" "$out/report.md" && grep -q "tiny_loihi" "$out/report.md" && ok "report.md shows it" || fail "report.md"
  grep -q "NO</td>" "$out/report.html" && ok "report.html mapping table says NO" || fail "report.html"
  $py "$src/tools/validate_json.py" "$src/tools/report.schema.json" "$out/report.json" >/dev/null && ok "schema" || fail "schema"
  # A bad profile is refused with the key named, before anything is written.
  $py -c "import json,sys; p=json.load(open(sys.argv[1])); p['constants']['spike_energy']['value']=-1.7; json.dump(p, open(sys.argv[2],'w'))" \
    "$src/neuromorphic_hw/profiles/loihi.json" "$tmp/negative.json"
  "$bin" "$model" --out "$tmp/neg" --samples 5 --calib 8 --profile "$tmp/negative.json" --quiet >"$tmp/neg.txt" 2>&1
  rc=$?
  [[ $rc -eq 1 ]] && grep -q "constant 'spike_energy': negative" "$tmp/neg.txt" && ok "negative energy refused (exit 1)" \
    || fail "negative: exit $rc: $(cat "$tmp/neg.txt")"
  [[ -e $tmp/neg ]] && fail "an output folder was created for a refused run"
  $py -c "import json,sys; p=json.load(open(sys.argv[1])); p['constants'].pop('hop_energy_y'); json.dump(p, open(sys.argv[2],'w'))" \
    "$src/neuromorphic_hw/profiles/loihi.json" "$tmp/missing.json"
  "$bin" "$model" --out "$tmp/miss" --samples 5 --calib 8 --profile "$tmp/missing.json" --quiet >"$tmp/miss.txt" 2>&1
  rc=$?
  [[ $rc -eq 1 ]] && grep -q "missing required constant 'hop_energy_y'" "$tmp/miss.txt" && ok "missing constant refused" \
    || fail "missing: exit $rc: $(cat "$tmp/miss.txt")"
  $py -c "import json,sys; p=json.load(open(sys.argv[1])); p['constants']['flux']={'value':1,'unit':'pJ','source':'x'}; json.dump(p, open(sys.argv[2],'w'))" \
    "$src/neuromorphic_hw/profiles/loihi.json" "$tmp/unknown.json"
  "$bin" "$model" --out "$tmp/unk" --samples 5 --calib 8 --profile "$tmp/unknown.json" --quiet >"$tmp/unk.txt" 2>&1
  rc=$?
  [[ $rc -eq 1 ]] && grep -q "unknown key 'flux'" "$tmp/unk.txt" && ok "unknown key refused" \
    || fail "unknown key: exit $rc: $(cat "$tmp/unk.txt")"
  "$bin" "$model" --out "$tmp/x" --profile loihi3 --quiet >"$tmp/name.txt" 2>&1
  rc=$?
  [[ $rc -eq 2 ]] && grep -q "unknown hardware profile 'loihi3'" "$tmp/name.txt" && ok "unknown profile name is bad usage" \
    || fail "profile name: exit $rc: $(cat "$tmp/name.txt")"
  ;;
compare)
  out=$tmp/cmp
  "$bin" compare "$model" "$src/examples/fashion_vit/fashion_vit_gelu.onnx" --out "$out" --samples 20 --snn-samples 5 --calib 16 --no-sensitivity \
    --profile loihi,systolic_int8 --quiet >"$tmp/stdout" 2>&1 || { fail "exit $?"; cat "$tmp/stdout"; }
  for f in compare.json compare.md compare.html; do [[ -s $out/$f ]] && ok "$f" || fail "$f missing"; done
  $py "$src/tools/validate_json.py" "$src/tools/report.schema.json" "$out/compare.json" && ok "schema" || fail "schema"
  grep -q "fashion_vit_gelu" "$out/compare.md" && grep -q "compare-energy-ann" "$out/compare.html" && ok "side by side" \
    || fail "compare content"
  # The terminal states each model's finding (not only ANN energies).
  [[ $(grep -cE "^  On (loihi|systolic_int8) the (ANN|SNN) is cheaper: " "$tmp/stdout") -eq 4 ]] \
    && ok "terminal: the finding of each model on each profile" || fail "terminal finding: $(cat "$tmp/stdout")"
  if grep -nE '[0-9]e\+[0-9]' "$out/compare.md" "$tmp/stdout"; then fail "an exponent in compare.md or on the terminal"; \
    else ok "SI prefixes, no exponent (compare.md, terminal)"; fi
  ;;
speculative)
  # --draft on a decoder: greedy speculative output identical to target-only, alpha in [0, 1], tokens per pass
  # between 1 and K + 1, the section in the Markdown; a draft on a classifier is bad usage.
  out=$tmp/spec
  gpt=$src/examples/code_gpt
  "$bin" "$gpt/code_gpt.onnx" --out "$out" --samples 10 --no-snn --no-sensitivity --no-plots --quiet \
    --draft "$gpt/code_gpt_draft.onnx" --spec-prompts 3 --spec-tokens 60 --gamma 4 >"$tmp/stdout" 2>&1 \
    || { fail "exit $?"; cat "$tmp/stdout"; exit 1; }
  $py "$src/tools/validate_json.py" "$src/tools/report.schema.json" "$out/report.json" >/dev/null && ok "schema" || fail "schema"
  $py - "$out/report.json" <<'EOF' && ok "speculative figures consistent" || fail "speculative figures"
import json, sys
s = json.load(open(sys.argv[1]))["speculative"]
k = s["gamma"]
checks = [s["identical"], 0 <= s["alpha"] <= 1, 1 <= s["tokens_per_target_pass"] <= k + 1,
          abs(s["tokens_per_target_pass"] - s["emitted"] / s["target_passes"]) < 1e-9,
          1 <= s["expected_tokens_per_pass"] <= k + 1, s["emitted"] == s["prompts"] * s["max_tokens"],
          abs(s["speedup"] - s["target_only_seconds"] / s["speculative_seconds"]) < 1e-9]
print("speculative:", {key: s[key] for key in ("alpha", "tokens_per_target_pass", "expected_tokens_per_pass", "speedup")})
sys.exit(0 if all(checks) else 1)
EOF
  grep -q "## Speculative decoding" "$out/report.md" && ok "Markdown section" || fail "no Markdown section"
  "$bin" "$model" --out "$tmp/bad" --no-snn --quiet --draft "$gpt/code_gpt_draft.onnx" >"$tmp/bad.txt" 2>&1
  rc=$?
  [[ $rc -eq 2 ]] && ok "a draft on a classifier is bad usage" || fail "draft on a classifier: exit $rc"
  ;;
*)
  echo "unknown mode $mode"; exit 2 ;;
esac

if [[ $fails -ne 0 ]]; then echo "$fails failed"; exit 1; fi
echo "all report checks ($mode) passed"
