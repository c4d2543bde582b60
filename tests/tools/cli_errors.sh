#!/usr/bin/env bash
# The snnconv executable on bad input: documented exit codes, a message naming the fault, no crash.
# Usage: cli_errors.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect CODE PATTERN -- ARGS...: runs snnconv, checks the exit code and that stderr+stdout match PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]]; then
    echo "FAIL: snnconv $* -> exit $rc, expected $code"; echo "$out" | head -5; fails=$((fails + 1)); return
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: snnconv $* -> output lacks /$pattern/"; echo "$out" | head -5; fails=$((fails + 1)); return
  fi
  echo "ok: snnconv $* -> $rc"
}

: > "$tmp/empty.onnx"
head -c 4096 /dev/urandom > "$tmp/random.onnx"
head -c 20000 "$src/examples/fixtures/vit_op17_static.onnx" > "$tmp/truncated.onnx"

expect 0 "Usage" -- --help
expect 0 "parameters" -- inspect "$src/examples/fixtures/vit_op17_static.onnx"
expect 2 "unknown|extra|not expected|following arguments" -- inspect "$src/examples/fixtures/vit_op17_static.onnx" --bogus
expect 2 "requires|required" -- inspect
expect 1 "empty.onnx" -- inspect "$tmp/empty.onnx"
expect 1 "random.onnx" -- inspect "$tmp/random.onnx"
expect 1 "truncated.onnx" -- inspect "$tmp/truncated.onnx"
expect 1 "no-such-file.onnx" -- inspect "$tmp/no-such-file.onnx"
expect 3 "NonZero \(nodes nonzero_a, nonzero_b\).*Unique \(node unique0\)" -- inspect "$src/tests/data/unsupported_ops.onnx"
expect 3 "Split sizes 'sizes' are computed at run time.*node 'split_runtime'" -- inspect "$src/tests/data/split_runtime_sizes.onnx"
expect 1 "NaN.*node 'mm_nan'.*value 'w'" -- inspect "$src/tests/data/nan_weights.onnx"
expect 2 "'nodim'" -- inspect "$src/examples/fixtures/gpt_op17_dynamic.onnx" --dims nodim=3
expect 2 "not NAME=SIZE" -- inspect "$src/examples/fixtures/gpt_op17_dynamic.onnx" --dims batch
# Limits checked before allocation (tests/data/make_bad_models.py): each tiny file claims an absurd tensor.
expect 1 "w_huge.*(more than|limit)" -- inspect "$src/tests/data/limit_huge_initializer.onnx"
expect 1 "w_negative.*negative dim" -- inspect "$src/tests/data/limit_negative_dim.onnx"
expect 1 "w_overflow.*(exceeds|limit)" -- inspect "$src/tests/data/limit_overflow_dims.onnx"
# --max-memory: a plan above it is refused with its sizes; a bad value is a usage error.
tab="$src/examples/medical_tab/medical_tab.onnx"
expect 1 "weights .* activations .* above the memory limit of 1.0 KiB" -- run "$tab" --limit 4 --max-memory 1K
expect 0 "accuracy" -- run "$tab" --limit 4 --max-memory 1G
expect 2 "^--max-memory: .*unit not recognized" -- run "$tab" --max-memory 12X
expect 2 "^--max-memory: not a positive byte count" -- run "$tab" --max-memory 0
expect 1 "above the memory limit of 2.0 KiB" -- generate "$src/examples/code_gpt/code_gpt_draft.onnx" --prompt "def " \
  --max-tokens 2 --max-memory 2K
# The front door (issue 17): a stage that did not run says why, in report.json's words (not "not available yet"
# for every case); the SNN line counts its samples; the finding names which side is cheaper on each profile.
expect 0 "^SNN +not run: --no-snn$" -- "$tab" --out "$tmp/fd1" --no-snn --no-plots --no-sensitivity --samples 20 --quiet
expect 0 "^stage snn skipped: --no-snn$" -- "$tab" --out "$tmp/fd1" --no-snn --no-plots --no-sensitivity --samples 20 --quiet
expect 0 "^SNN +accuracy [0-9.]+% on 10 samples" -- "$tab" --out "$tmp/fd2" --no-plots --no-sensitivity --samples 20 \
  --snn-samples 10 --calib 16 --quiet
expect 0 "^On loihi the (ANN|SNN) is cheaper: " -- "$tab" --out "$tmp/fd2" --no-plots --no-sensitivity --samples 20 \
  --snn-samples 10 --calib 16 --quiet
# A NaN in a dataset sample is named with the split's inputs and the sample index.
/usr/bin/python3 - "$src/examples/data/breast_cancer.h5" "$tmp/nan.h5" <<'PY'
import shutil, sys
import h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f["test/inputs"][5, 3] = float("nan")
PY
expect 1 "/test/inputs: sample 5 element 3 is nan" -- run "$tab" --data "$tmp/nan.h5" --limit 8
expect 2 "unknown dataset|fashion-mnist" -- datasets import no-such-set --out "$tmp/x.h5"
gpt="$src/examples/fixtures/gpt_op17_dynamic.onnx"
code="$src/examples/code_gpt/code_gpt.onnx"
code_draft="$src/examples/code_gpt/code_gpt_draft.onnx"
# Committed files: a missing one is a failure, never a silent skip of the checks below.
for f in "$gpt" "$code" "$code_draft" "$src/examples/fashion_vit/fashion_vit_relu.onnx"; do
  [[ -e $f ]] || { echo "FAIL: $f is committed but missing"; fails=$((fails + 1)); }
done
expect 2 "gamma must be >= 1" -- generate "$gpt" --draft "$gpt" --prompt ab --gamma 0
expect 2 "positive integer or 'auto'" -- generate "$gpt" --draft "$gpt" --prompt ab --gamma fast
if [[ -e "$code" && -e "$code_draft" ]]; then
  expect 2 "target has 256 tokens, the draft 64" -- generate "$code" --draft "$gpt" --prompt ab --max-tokens 4
  expect 0 "tokens per target pass" -- generate "$code" --draft "$code_draft" --prompt "def f(x):" --max-tokens 16 --gamma auto
  expect 0 '"alpha"' -- generate "$code" --draft "$code_draft" --prompt "import os" --max-tokens 8 --json
  expect 2 "^--engine: tpu not in \{ann,qann,snn\}" -- generate "$code" --prompt ab --engine tpu
  expect 2 "dense engine only" -- generate "$code" --draft "$code_draft" --prompt ab --engine snn
  expect 2 "draft-steps needs --engine snn" -- generate "$code" --prompt ab --engine qann --draft-steps 4
  expect 2 "greedy only" -- generate "$code" --prompt ab --engine snn --draft-steps 4 --temperature 0.8
  expect 0 "accepted" -- generate "$code" --prompt "def " --max-tokens 6 --engine snn --draft-steps 8 --gamma 2 \
    --calib 4
  expect 2 "^--mode: fast not in \{strict,burst\}" -- generate "$code" --prompt ab --engine snn --mode fast
  expect 2 "^--max-steps: 0 is below the minimum 1" -- generate "$code" --prompt ab --engine snn --max-steps 0
  expect 2 "need --engine snn" -- generate "$code" --prompt ab --engine qann --check-exact
  expect 0 "exactness: 0 next-token logits differ" -- generate "$code" --prompt "def " --max-tokens 4 --engine snn \
    --mode burst --act-bits 4 --calib 4 --check-exact
  expect 0 "exactness: 0 next-token logits differ" -- generate "$code" --prompt "def f(x):" --max-tokens 8 --engine snn \
    --weight-bits 4 --weight-group 32 --act-bits 4 --calib 4 --check-exact
fi
vit="$src/examples/fashion_vit/fashion_vit_relu.onnx"
if [[ -e "$vit" ]]; then  # mixed precision: impossible budgets and unfitting data (exit 2, naming the value)
  expect 2 "budget-wbits 1.5" -- compress "$vit" --out "$tmp/c.snn.h5" --budget-wbits 1.5 --calib 2
  expect 2 "weight group 48 does not divide its K = 64" -- convert "$vit" --out "$tmp/g.snn.h5" --weight-group 48 --calib 2
  expect 2 "^--weight-group: -4 is below the minimum 0" -- compress "$vit" --out "$tmp/g.snn.h5" --weight-group -4 --calib 2
  [[ -e "$tmp/g.snn.h5" ]] && { echo "FAIL: a refused weight group left a model file"; fails=$((fails + 1)); }
  expect 2 "budget-bytes 1000 is below.*32928 bytes" -- compress "$vit" --out "$tmp/c.snn.h5" --budget-bytes 1000 --calib 2 --sensitivity-samples 1
  expect 2 "one weight budget" -- compress "$vit" --out "$tmp/c.snn.h5" --budget-bytes 50000 --budget-wbits 4 --calib 2
  expect 2 "cost file" -- compress "$vit" --out "$tmp/c.snn.h5" --cost-file "$tmp/no-such-costs.json" --calib 2
  expect 2 "do not fit the model input" -- compress "$vit" --data "$src/examples/data/digits.h5" --out "$tmp/c.snn.h5" --budget-wbits 4 --calib 2
  [[ -e "$tmp/c.snn.h5" ]] && { echo "FAIL: compress left a model file"; fails=$((fails + 1)); }
  # Same seed and data: byte-identical compression report (the allocation and every sensitivity).
  for run in 1 2; do
    expect 0 "weight bytes" -- compress "$vit" --out "$tmp/r$run.snn.h5" --report "$tmp/r$run" --budget-wbits 4.5 \
      --budget-act-bits 7 --candidate-act-bits 6,8 --calib 2 --sensitivity-samples 1
  done
  cmp -s "$tmp/r1/compression.json" "$tmp/r2/compression.json" || { echo "FAIL: compression.json differs"; fails=$((fails + 1)); }
  cmp -s "$tmp/r1.snn.h5" "$tmp/r2.snn.h5" || { echo "FAIL: the two compressed model files differ"; fails=$((fails + 1)); }
fi
vit="$src/examples/fashion_vit/fashion_vit_relu.onnx"
expect 2 "prune-heads 1 is outside \[0, 1\)" -- compress "$vit" --prune-heads 1 --out "$tmp/p.snn.h5"
expect 2 "prune-mlp -0.5 is outside" -- compress "$vit" --prune-mlp -0.5 --out "$tmp/p.snn.h5"
expect 2 "prune-blocks 4: the model has 4 prunable blocks" -- compress "$vit" --prune-blocks 4 --calib 2 --out "$tmp/p.snn.h5"
expect 0 "105930 parameters \(139018 before\)" -- compress "$vit" --prune-heads 0.25 --prune-mlp 0.25 --calib 2 --out "$tmp/p.snn.h5"
expect 0 "parameters  105,930" -- inspect "$tmp/p.snn.h5"
rm -f "$tmp/p.snn.h5"
# export: activations above 8 bits have no QuantizeLinear type at opset 17 (every node named, no file left).
expect 2 "out.*required|required.*out" -- export "$tab"
if "$bin" convert "$tab" --act-bits 16 --calib 4 --out "$tmp/a16.snn.h5" >/dev/null 2>&1; then
  expect 3 "cannot be exported:.*\(FakeQuant\).*16 bits" -- export "$tmp/a16.snn.h5" --out "$tmp/a16.onnx"
  [[ -e "$tmp/a16.onnx" ]] && { echo "FAIL: export left a16.onnx behind"; fails=$((fails + 1)); }
  expect 2 "^--form: int4 not in \{integer,qdq\}" -- export "$tmp/a16.snn.h5" --out "$tmp/a16.onnx" --form int4
else
  echo "FAIL: snnconv convert --act-bits 16 failed"; fails=$((fails + 1))
fi
# Issue 17, "a CLI that tells the truth": each problem the issue lists has a case here that failed before the fix.
# Labels come from the model file, not from the flags: a W8A6 file run without (or with other) bit flags says W8A6.
if "$bin" convert "$tab" --act-bits 6 --calib 8 --out "$tmp/a6.snn.h5" >/dev/null 2>&1; then
  expect 0 "^quantized +W8A6 .*as the model file records" -- run "$tmp/a6.snn.h5" --engine snn --limit 2
  expect 0 "^quantized +W8A6 " -- run "$tmp/a6.snn.h5" --engine qann --limit 2 --act-bits 3
  expect 0 '"act_bits": 6' -- run "$tmp/a6.snn.h5" --engine qann --limit 2 --json
  # An ONNX-only command given a model file says so (it used to say "protobuf parsing failed").
  expect 2 "a6.snn.h5' is an SNN model file \(.snn.h5\), not an ONNX model: .snnconv convert" -- convert "$tmp/a6.snn.h5" --out "$tmp/b.snn.h5"
  expect 2 "is an SNN model file \(.snn.h5\), not an ONNX model: .snnconv compress" -- compress "$tmp/a6.snn.h5" --out "$tmp/b.snn.h5"
  [[ -e "$tmp/b.snn.h5" ]] && { echo "FAIL: a refused convert left a model file"; fails=$((fails + 1)); }
else
  echo "FAIL: snnconv convert --act-bits 6 failed"; fails=$((fails + 1))
fi
# One --act-bits default (4) in every command that quantizes, with its range shown in --help.
for cmd in run convert compress generate report compare; do
  expect 0 "--act-bits INT:INT in \[2 - 16\]=4( |$)" -- $cmd --help
done
# --limit >= 1 (0 scored nothing with exit 0, -5 ran everything); --batch 0 names --batch (it blamed --dims).
expect 2 "^--limit: 0 is below the minimum 1" -- run "$tab" --limit 0
expect 2 "^--limit: -5 is below the minimum 1" -- run "$tab" --limit -5
expect 2 "^--limit: 0 is below the minimum 1" -- export "$tab" --out "$tmp/l.onnx" --samples "$tmp/ls" --limit 0
expect 2 "^--batch: 0 is below the minimum 1" -- run "$tab" --batch 0
expect 2 "^--batch: 0 is below the minimum 1" -- "$tab" --batch 0 --no-snn
expect 2 "^--calib: 0 is below the minimum 1" -- convert "$tab" --calib 0 --out "$tmp/c0.snn.h5"
expect 2 "^--act-bits: Value 1 not in range 2 to 16" -- "$tab" --act-bits 1
expect 2 "^--snn-samples: 0 would run no SNN sample" -- "$tab" --snn-samples 0
# Choices appear in --help (they were in prose only), and negated flags show no "{false}".
expect 0 "--engine TEXT:\{ann,qann,snn\}=ann" -- run --help
expect 0 "--mode TEXT:\{strict,burst\}=strict" -- run --help
expect 0 "--clip TEXT:\{minmax,percentile,mse\}=mse" -- convert --help
expect 0 "--cascade-self-test TEXT:\{temporal,max_prob,margin,entropy\}" -- report --help
for cmd in run report compare; do
  if "$bin" $cmd --help | grep -q '{false}'; then echo "FAIL: snnconv $cmd --help shows {false}"; fails=$((fails + 1)); else echo "ok: $cmd --help has no {false}"; fi
done
# --quiet on every command.
for cmd in inspect "datasets import" generate run convert compress report compare cascade export; do
  if "$bin" $cmd --help | grep -q -- '--quiet'; then echo "ok: $cmd --quiet"; else echo "FAIL: snnconv $cmd has no --quiet"; fails=$((fails + 1)); fi
done
# Progress with an ETA on stderr for an SNN run longer than a second, on a terminal only (script(1) gives a pty).
if [[ -e "$tmp/a6.snn.h5" ]] && command -v script >/dev/null; then
  # SNNCONV_PROGRESS_AFTER=0: the line from the first sample (the run is shorter than the default second on a
  # quiet machine, and the test passed only when the machine was slow).
  tty_out=$(SNNCONV_PROGRESS_AFTER=0 script -qec "'$bin' run '$tmp/a6.snn.h5' --engine snn --limit 40" /dev/null |
    tr '\r' '\n')
  if grep -qaE "^snn [0-9]+/40 samples, .*ETA" <<<"$tty_out"; then echo "ok: SNN progress with ETA on a tty"; else
    echo "FAIL: no SNN progress with ETA on a tty"; fails=$((fails + 1)); fi
  piped=$("$bin" run "$tmp/a6.snn.h5" --engine snn --limit 40 2>&1 >/dev/null)
  [[ -z "$piped" ]] && echo "ok: no progress when stderr is not a tty" || { echo "FAIL: progress on a pipe: $piped"; fails=$((fails + 1)); }
  quiet=$(script -qec "'$bin' run '$tmp/a6.snn.h5' --engine snn --limit 40 --quiet" /dev/null | tr '\r' '\n')
  grep -qa "ETA" <<<"$quiet" && { echo "FAIL: --quiet drew progress"; fails=$((fails + 1)); } || echo "ok: --quiet draws no progress"
fi
# generate: the text alone on stdout, the statistics (with tokens/s) on stderr; --draft prints the measured
# speedup against target-only decoding; --quiet leaves only the text.
if [[ -e "$code" && -e "$code_draft" ]]; then
  gen_out=$("$bin" generate "$code" --prompt "def f(x):" --max-tokens 8 2>"$tmp/gen.err")
  if grep -q "^--" <<<"$gen_out"; then echo "FAIL: generate statistics on stdout"; fails=$((fails + 1)); else echo "ok: generate stdout is the text"; fi
  grep -qE "^-- target only: 8 tokens in .* s, [0-9.]+ tokens/s" "$tmp/gen.err" && echo "ok: generate tokens/s on stderr" ||
    { echo "FAIL: no tokens/s on stderr"; cat "$tmp/gen.err"; fails=$((fails + 1)); }
  "$bin" generate "$code" --draft "$code_draft" --prompt "def f(x):" --max-tokens 16 >/dev/null 2>"$tmp/spec.err"
  grep -qE "^-- speculative: 16 tokens in .* tokens/s: [0-9.]+x the target alone" "$tmp/spec.err" &&
    echo "ok: --draft speedup against target-only" || { echo "FAIL: no measured speedup"; cat "$tmp/spec.err"; fails=$((fails + 1)); }
  expect 0 '"speedup_vs_target_only"' -- generate "$code" --draft "$code_draft" --prompt "def " --max-tokens 4 --json
  quiet_err=$("$bin" generate "$code" --prompt "def " --max-tokens 4 --quiet 2>&1 >/dev/null)
  [[ -z "$quiet_err" ]] && echo "ok: generate --quiet" || { echo "FAIL: generate --quiet wrote: $quiet_err"; fails=$((fails + 1)); }
fi
[[ -e "$tmp/x.h5" ]] && { echo "FAIL: a file was left behind"; fails=$((fails + 1)); }

if [[ $fails -ne 0 ]]; then echo "$fails failed"; exit 1; fi
echo "all CLI error cases passed"
