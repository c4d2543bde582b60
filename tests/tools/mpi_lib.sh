# What the MPI test scripts share (sourced after `set -uo pipefail`, with bin=PATH/TO/snnconv set): the source
# root, a temporary folder removed on exit, the ok/fail tally and its summary, and mpirun as the tests start it
# (oversubscribed, as root, shared-memory transport).
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
mpi() { mpirun --oversubscribe --allow-run-as-root --mca btl self,vader "$@"; }
# The last line of every script: "all ok", or the failure count and exit 1.
summary() { [[ $fails == 0 ]] && echo "all ok" || { echo "$fails failure(s)"; exit 1; }; }
