#!/usr/bin/env bash
# Replays every artifact a fuzz run left (build-fuzz/artifacts/NAME/, or the files given) through the
# instrumented harness and prints, per input, the sanitizer's summary and the first stack frame that is
# not an interceptor: "libhdf5" findings are upstream bugs, "snnconv::" ones are ours to fix.
# Usage: tools/fuzz/triage.sh NAME [FILE...]
set -uo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: tools/fuzz/triage.sh NAME [FILE...]}
shift
build=${BUILD_DIR:-build-fuzz}
files=("$@")
((${#files[@]})) || files=("$build/artifacts/$name"/*)
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  out=$(timeout 120 "$build/tools/fuzz/fuzz_$name" -timeout=30 -rss_limit_mb=4096 "$f" 2>&1)
  summary=$(grep -m1 -E 'SUMMARY:|ERROR: libFuzzer|runtime error:' <<<"$out" | sed 's/(BuildId[^)]*)//g' | cut -c1-150)
  frame=$(grep -E '^ +#[0-9]+ ' <<<"$out" | grep -v -E 'interceptor|__asan|__sanitizer|libc\.so|fuzzer::|sanitizer_common| in (malloc|calloc|realloc|operator new)' |
          head -1 | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ in //; s/\(BuildId[^)]*\)//' | cut -c1-110)
  where=ours
  grep -qE 'libhdf5' <<<"$frame" && where=libhdf5
  [[ -z "$summary" ]] && where="does not reproduce"
  printf '%s\t%s bytes\t%s\n\t%s\n\t%s\n' "$(basename "$f")" "$(stat -c %s "$f")" "$where" "$summary" "$frame"
done
