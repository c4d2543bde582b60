#!/usr/bin/env bash
# Every exit code docs/cli.md documents, for every subcommand: 0 success, 1 a runtime failure (a malformed or
# truncated file: ONNX, dataset, model file, profile; I/O; NaN), 2 bad usage, 3 a valid model snnconv does
# not support (ops, opset, domain, dtype, a task or engine not implemented). Each case checks the code and
# that the message names the fault. The deeper cases of each command live in cli_errors.sh; this is the
# table that nothing is missing from (docs/reliability.md, "Exit codes").
# Usage: exit_codes.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
cases=0
declare -A seen  # "command code" pairs checked

tab="$src/examples/medical_tab/medical_tab.onnx"
data="$src/examples/data/breast_cancer.h5"
synth="$src/examples/synth_code/synth_code_small.onnx"
synth_large="$src/examples/synth_code/synth_code_large.onnx"
ops="$src/tests/data/unsupported_ops.onnx"
for f in "$tab" "$data" "$synth" "$synth_large" "$ops" "$src/tests/data/unsupported_opset.onnx" \
  "$src/tests/data/unsupported_domain.onnx" "$src/tests/data/unsupported_dtype.onnx"; do
  [[ -f $f ]] || { echo "FAIL: $f is committed but missing"; exit 1; }
done
head -c 3000 /dev/urandom >"$tmp/random.onnx"
head -c 3000 /dev/urandom >"$tmp/random.h5"
head -c 20000 "$tab" >"$tmp/truncated.onnx"
"$bin" convert "$tab" --act-bits 4 --calib 4 --out "$tmp/m.snn.h5" >/dev/null 2>&1 || { echo "FAIL: convert"; exit 1; }
head -c 20000 "$tmp/m.snn.h5" >"$tmp/truncated.snn.h5"
echo '{"name": "half", "kind": "neuromorphic"}' >"$tmp/bad_profile.json"

# expect COMMAND CODE PATTERN -- ARGS...: COMMAND names the row of the table (the subcommand under test).
expect() {
  local command=$1 code=$2 pattern=$3
  shift 4
  local out rc t0
  t0=$(date +%s%N)
  out=$("$bin" "$@" 2>&1)
  rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000))
  cases=$((cases + 1))
  seen["$command $code"]=1
  if [[ $rc -ne $code ]]; then
    echo "FAIL: snnconv $* -> exit $rc, expected $code"; head -3 <<<"$out" | sed 's/^/    /'; fails=$((fails + 1)); return
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: snnconv $* -> output lacks /$pattern/"; head -3 <<<"$out" | sed 's/^/    /'; fails=$((fails + 1)); return
  fi
  echo "ok: $command -> $code (${ms} ms): snnconv $*" | cut -c1-170
}

# snnconv itself
expect snnconv 0 "Usage" -- --help
expect snnconv 0 "snnconv 0" -- --version
expect snnconv 2 "required|subcommand" --
expect snnconv 2 "neither a subcommand nor a model file" -- bogus
expect snnconv 2 "unknown|not expected|following arguments|subcommand is required" -- --bogus
# the front door (`snnconv MODEL.onnx`, `snnconv report`)
expect report 0 "report.html" -- "$tab" --samples 8 --no-snn --no-plots --no-sensitivity --quiet --out "$tmp/rep"
expect report 1 "not a valid ONNX model.*random.onnx" -- "$tmp/random.onnx" --out "$tmp/r1"
expect report 1 "missing required key 'constants'.*bad_profile.json" -- "$tab" --profile "$tmp/bad_profile.json" \
  --samples 4 --no-snn --no-plots --quiet --out "$tmp/r2"
expect report 1 "not an HDF5 file.*random.h5" -- "$tab" --data "$tmp/random.h5" --no-plots --quiet --out "$tmp/r3"
expect report 2 "unknown hardware profile 'nochip'" -- "$tab" --profile nochip --out "$tmp/r4"
expect report 2 "samples must be >= 1" -- "$tab" --samples 0 --out "$tmp/r5"
expect report 3 "Unique \(node unique0\)" -- "$ops" --no-plots --quiet --out "$tmp/r6"
for d in r1 r2 r3 r4 r5 r6; do [[ -e $tmp/$d ]] && { echo "FAIL: a failed report left $d"; fails=$((fails + 1)); }; done
# compare
expect compare 2 "at least two models" -- compare "$tab"
expect compare 1 "not a valid ONNX model" -- compare "$tab" "$tmp/random.onnx" --out "$tmp/c1"
expect compare 3 "unsupported op types" -- compare "$tab" "$ops" --out "$tmp/c2"
# inspect
expect inspect 0 "parameters" -- inspect "$tab"
expect inspect 1 "truncated.onnx" -- inspect "$tmp/truncated.onnx"
expect inspect 1 "truncated.snn.h5" -- inspect "$tmp/truncated.snn.h5"
expect inspect 2 "'nodim'" -- inspect "$tab" --dims nodim=3
expect inspect 3 "opset 9 of the default domain is not supported" -- inspect "$src/tests/data/unsupported_opset.onnx"
expect inspect 3 "domain 'com.example'.*swish0" -- inspect "$src/tests/data/unsupported_domain.onnx"
expect inspect 3 "element type DOUBLE is not supported" -- inspect "$src/tests/data/unsupported_dtype.onnx"
# generate
expect generate 1 "not a valid ONNX model" -- generate "$tmp/random.onnx" --prompt ab
expect generate 2 "gamma must be >= 1" -- generate "$synth" --draft "$synth" --prompt ab --gamma 0
expect generate 3 "KV-cache decoding needs a token input" -- generate "$tab" --prompt ab
# run
expect run 0 "accuracy" -- run "$tab" --limit 8
expect run 1 "not an HDF5 file" -- run "$tab" --data "$tmp/random.h5"
expect run 1 "truncated.snn.h5" -- run "$tmp/truncated.snn.h5" --engine snn
expect run 2 "--engine: tpu not in \{ann,qann,snn\}" -- run "$tab" --engine tpu
expect run 3 "program_synthesis datasets in .snnconv run. is not implemented" -- run "$synth"
expect run 3 "unsupported op types" -- run "$ops" --data "$data"
# convert
expect convert 1 "not a valid ONNX model" -- convert "$tmp/random.onnx" --act-bits 4 --out "$tmp/v.snn.h5"
expect convert 2 "out.*required|required.*out" -- convert "$tab" --act-bits 4
expect convert 3 "unsupported op types" -- convert "$ops" --data "$data" --act-bits 4 --out "$tmp/v.snn.h5"
[[ -e $tmp/v.snn.h5 ]] && { echo "FAIL: a failed convert left v.snn.h5"; fails=$((fails + 1)); }
# compress
expect compress 1 "not a valid ONNX model" -- compress "$tmp/random.onnx" --out "$tmp/k.snn.h5"
expect compress 2 "prune-heads 1 is outside" -- compress "$tab" --prune-heads 1 --out "$tmp/k.snn.h5"
expect compress 3 "unsupported op types" -- compress "$ops" --data "$data" --out "$tmp/k.snn.h5"
# export
expect export 0 "ONNX opset 17" -- export "$tmp/m.snn.h5" --out "$tmp/e.onnx"
expect export 1 "truncated.snn.h5" -- export "$tmp/truncated.snn.h5" --out "$tmp/e1.onnx"
expect export 2 "--dims applies to ONNX models" -- export "$tmp/m.snn.h5" --out "$tmp/e2.onnx" --dims batch=2
expect export 3 "unsupported op types" -- export "$ops" --out "$tmp/e3.onnx"
for f in e1 e2 e3; do [[ -e $tmp/$f.onnx ]] && { echo "FAIL: a failed export left $f.onnx"; fails=$((fails + 1)); }; done
# cascade
expect cascade 1 "not a valid ONNX model" -- cascade --stages "$tmp/random.onnx,$tab"
expect cascade 2 "at least two stages" -- cascade --stages "$tab"
expect cascade 2 "engine must be ann, qann or snn, got 'xx'" -- cascade --stages "$tab:engine=xx,$tab"
expect cascade 3 "generation runs on the dense engine only" -- cascade --stages "$synth:engine=qann,$synth_large" \
  --self-test execution
# datasets import
expect datasets 1 "the folder does not exist" -- datasets import python-code --out "$tmp/no-such-folder/x.h5"
expect datasets 2 "unknown dataset|fashion-mnist" -- datasets import no-such-set --out "$tmp/x.h5"
expect datasets 2 "out.*required|required.*out" -- datasets import python-code

# The table is complete: every subcommand meets each code it documents.
for row in "snnconv 0" "snnconv 2" "report 0" "report 1" "report 2" "report 3" "compare 1" "compare 2" "compare 3" \
  "inspect 0" "inspect 1" "inspect 2" "inspect 3" "generate 1" "generate 2" "generate 3" "run 0" "run 1" "run 2" \
  "run 3" "convert 1" "convert 2" "convert 3" "compress 1" "compress 2" "compress 3" "export 0" "export 1" \
  "export 2" "export 3" "cascade 1" "cascade 2" "cascade 3" "datasets 1" "datasets 2"; do
  [[ -n ${seen[$row]:-} ]] || { echo "FAIL: no case for '$row'"; fails=$((fails + 1)); }
done
echo "$cases exit-code cases, $fails failures"
exit $((fails > 0 ? 1 : 0))
