#!/usr/bin/env bash
# A failing rank ends a data-parallel run (docs/scaling.md, "Failures"): non-zero exit, the failing rank's
# message, no output file and no temporary left.
#   - a truncated data file on rank 1 only (mpirun's MPMD form gives rank 1 its own --data);
#   - kill -9 of rank 1 in the middle of the simulation.
# Usage: mpi_failure.sh PATH/TO/snnconv
set -uo pipefail
bin=$1
source "$(dirname "$0")/mpi_lib.sh"
vit=$src/examples/fashion_vit/fashion_vit_relu.onnx
data=$src/examples/data/fashion_mnist_small.h5
head -c 40000 "$data" >"$tmp/bad.h5"
args=(run "$vit" --engine snn --limit 6 --calib 16 --threads 1 --quiet --save-outputs "$tmp/out/o.npz")
mkdir -p "$tmp/out"

mpi -n 1 "$bin" "${args[@]}" --data "$data" : -n 1 "$bin" "${args[@]}" --data "$tmp/bad.h5" >"$tmp/stdout" 2>"$tmp/err"
rc=$?
[[ $rc != 0 ]] && ok "bad data on rank 1: exit $rc" || fail "bad data on rank 1: exit 0"
grep -q "error (rank 1 of 2):.*bad.h5" "$tmp/err" && ok "rank 1's message names the rank and the file" \
  || fail "no message from rank 1: $(cat "$tmp/err")"
[[ -z $(ls -A "$tmp/out") ]] && ok "no output, no temporary" || fail "left: $(ls -A "$tmp/out")"

# kill -9 of rank 1 while it simulates (1,000 images: about 5 s of simulation per rank on an idle core).
# mpirun itself in the background (no function, so $! is its pid): the ranks are its children, and only those
# are candidates (other tests may run snnconv under mpirun at the same time; the HDF5 probe children a rank
# forks carry its environment too).
mpirun --oversubscribe --allow-run-as-root --mca btl self,vader -n 2 "$bin" run "$vit" --engine snn --limit 1000 \
  --calib 16 --threads 1 --quiet --save-outputs "$tmp/out/o.npz" >"$tmp/stdout" 2>"$tmp/err" &
job=$!
victim=""
for _ in $(seq 1 600); do  # up to 60 s: mpirun starts slowly on a loaded machine
  for p in $(pgrep -P "$job" 2>/dev/null); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$p; fi
  done
  [[ -n $victim ]] && break
  sleep 0.1
done
if [[ -z $victim ]]; then
  fail "rank 1 not found"
else
  # Rank 1 is waiting for the broadcast or simulating; either way the job is under way. Soon, so that a faster
  # engine cannot finish the 1,000 images first.
  sleep 0.5
  kill -9 "$victim"
  wait "$job"
  rc=$?
  [[ $rc != 0 ]] && ok "kill -9 of rank 1: job ended, exit $rc" || fail "kill -9 of rank 1: exit 0"
  grep -qi "signal 9\|killed" "$tmp/err" && ok "mpirun names the killed rank" || fail "no message: $(cat "$tmp/err")"
  [[ -z $(ls -A "$tmp/out") ]] && ok "no output, no temporary" || fail "left: $(ls -A "$tmp/out")"
fi
summary
