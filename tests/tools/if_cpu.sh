#!/usr/bin/env bash
# if_cpu.sh FLAG COMMAND...: runs COMMAND when /proc/cpuinfo lists FLAG (e.g. avx512f), else exits 77, which
# ctest reports as "skipped" (SKIP_RETURN_CODE) instead of passing a test that ran nothing.
flag="$1"
shift
if ! grep -qw "$flag" /proc/cpuinfo; then
  echo "skipped: this CPU has no $flag"
  exit 77
fi
exec "$@"
